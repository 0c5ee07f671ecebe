//! A BER stream's description and the legacy vmdesc it stands for.
//!
//! A stream vmstate saves from typed devices in BER describes them as its BER codec
//! sends them: every field entry has its `tag` (and `ber_nested`, the lengths of
//! arrays nested in its elements), a struct its `ber_tag` and `ber_blob_until`, a
//! one-element array is marked as an array (BER sends a
//! SEQUENCE OF), empty arrays are listed (BER sends them, empty), and every
//! element of an array listed one by one has its `index`. QEMU's vmdesc has none of
//! that, and QEMU 10.0's (which describes the configuration first) leaves the last
//! element's `index` out. Converting such a stream to legacy writes the vmdesc the
//! same devices would have written: [`legacy_vmdesc`] takes the BER-only parts out.
//! A QEMU vmdesc (no `tag` members) passes through unchanged.
//!
//! A stream QEMU saved without a trailer (`-machine suppress-vmdesc=on`) is read
//! with a description borrowed from a save of the same VM ([`Borrowed`]), which
//! carries `ber_no_trailer`: written back as legacy, the stream ends at EOF again
//! ([`legacy_trailer`]).

use super::bad;
use crate::error::Result;
use crate::format::Format;
use crate::framing::{self, ber as ber_records, legacy as legacy_records};
use crate::io::{SliceInput, StreamInput};
use crate::json::JsonWriter;
use serde_json::{Map, Value};
use std::borrow::Cow;

/// The member of a borrowed description: the legacy stream had no trailer.
const NO_TRAILER: &str = "ber_no_trailer";

/// The trailer a legacy writer puts after EOF for the description `text`: its
/// legacy vmdesc, or `None` for a description borrowed for a stream without one.
pub(crate) fn legacy_trailer(text: &str) -> Result<Option<Cow<'_, str>>> {
    if text.contains(NO_TRAILER) {
        let v: Value = serde_json::from_str(text).map_err(|e| bad(format!("vmdesc JSON: {e}")))?;
        if v.get(NO_TRAILER) == Some(&Value::Bool(true)) {
            return Ok(None);
        }
    }
    legacy_vmdesc(text).map(Some)
}

/// A description for a stream that has none: the vmdesc of another save of the
/// same VM (its machine type, its devices and their configuration), marked so
/// that the stream converts back without a trailer. QEMU's `-dump-vmstate` cannot
/// serve: it lists each field's size in memory, not the lengths of the variable
/// arrays and buffers a stream holds nor whether a conditional field was sent, so
/// a reader would misread such devices without knowing it.
#[derive(Debug, Clone)]
pub struct Borrowed {
    text: String,
}

impl Borrowed {
    /// The description in `bytes`: a legacy stream's trailer, a BER stream's
    /// description, or a vmdesc JSON text.
    pub fn from_bytes(bytes: &[u8]) -> Result<Borrowed> {
        let text = match framing::detect(bytes) {
            Some(Format::Legacy) => legacy_records::find_trailer(bytes, 0)?.1.to_owned(),
            Some(Format::Ber) => ber_description(bytes)?,
            None => std::str::from_utf8(bytes)
                .map_err(|_| bad("a description is a stream or vmdesc JSON text"))?
                .to_owned(),
        };
        let mut v: Value =
            serde_json::from_str(&text).map_err(|e| bad(format!("vmdesc JSON: {e}")))?;
        let Some(o) = v
            .as_object_mut()
            .filter(|o| o.get("devices").is_some_and(Value::is_array))
        else {
            let what = if v.get("vmschkmachine").is_some() {
                "QEMU's -dump-vmstate output, which cannot describe a stream's bytes (it \
                 gives each field's size in memory, not the lengths of variable arrays and \
                 buffers, nor whether a conditional field was sent); save the same VM \
                 once with its vmdesc (migrate \"exec:cat > described.mig\", without \
                 suppress-vmdesc) and describe with that"
            } else {
                "no vmdesc: it has no \"devices\" list"
            };
            return Err(bad(format!("the description given is {what}")));
        };
        o.insert(NO_TRAILER.into(), Value::Bool(true));
        let mut j = JsonWriter::compact();
        j.value(None, &v);
        Ok(Borrowed { text: j.finish() })
    }

    /// The description's text (with its `ber_no_trailer` mark).
    pub fn text(&self) -> &str {
        &self.text
    }
}

/// The description item of a BER stream.
fn ber_description(bytes: &[u8]) -> Result<String> {
    let mut r = StreamInput::Slice(SliceInput::new(bytes));
    if let Some(text) = ber_records::read_prelude(&mut r)?.description {
        return Ok(text);
    }
    loop {
        match ber_records::read_record(&mut r)? {
            Some(ber_records::Record::Description(text, _)) => return Ok(text),
            Some(_) => {}
            None => return Err(bad("the BER stream given has no description")),
        }
    }
}

/// The legacy vmdesc of a description ([`legacy_trailer`] of one that is not
/// borrowed).
pub(crate) fn legacy_vmdesc(text: &str) -> Result<Cow<'_, str>> {
    // QEMU's vmdesc (most conversions) has no BER-only member: no second parse.
    if !text.contains("\"tag\": ") && !text.contains("\"ber_") {
        return Ok(Cow::Borrowed(text));
    }
    let mut v: Value = serde_json::from_str(text).map_err(|e| bad(format!("vmdesc JSON: {e}")))?;
    // QEMU 10.0 (whose vmdesc describes the configuration first) leaves the index
    // of an uncompressed array's last element out; BER descriptions keep it.
    let last_unindexed = v.get("configuration").is_some();
    let mut changed = false;
    for o in objects(v.get_mut("devices")) {
        changed |= strip_struct(o, last_unindexed);
    }
    if !changed {
        return Ok(Cow::Borrowed(text));
    }
    let mut j = JsonWriter::compact();
    j.value(None, &v);
    Ok(Cow::Owned(j.finish()))
}

/// Takes the BER-only parts out of a struct object; whether there were any.
fn strip_struct(o: &mut Map<String, Value>, last_unindexed: bool) -> bool {
    let mut changed = false;
    for key in ["tag", "ber_tag", "ber_blob_until"] {
        changed |= o.shift_remove(key).is_some();
    }
    if let Some(fields) = o.get_mut("fields").and_then(Value::as_array_mut) {
        changed |= strip_fields(fields, last_unindexed);
    }
    for s in objects(o.get_mut("subsections")) {
        changed |= strip_struct(s, last_unindexed);
    }
    changed
}

/// The objects in a list member, if it is one.
fn objects(list: Option<&mut Value>) -> impl Iterator<Item = &mut Map<String, Value>> {
    list.and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object_mut)
}

/// A `tmp` field as QEMU describes it (`VMSTATE_WITH_TMP`): type `tmp`, the
/// struct's members inline, then the size.
fn inline_tmp(f: &mut Map<String, Value>) {
    let Some(Value::Object(inner)) = f.shift_remove("struct") else {
        return;
    };
    let size = f.shift_remove("size");
    f.insert("type".into(), "tmp".into());
    f.extend(inner);
    if let Some(size) = size {
        f.insert("size".into(), size);
    }
}

/// Takes the BER-only entries and members out of a field list (and, for QEMU
/// 10.0's form, the last index of each array listed element by element).
fn strip_fields(fields: &mut Vec<Value>, last_unindexed: bool) -> bool {
    let tagged = |f: &Value| f.get("tag").is_some();
    let before = fields.len();
    // Empty arrays (of structs too) and buffers: listed only for BER. A struct
    // field that is not an array stays, however small.
    fields.retain(|f| {
        let empty = f.get("size").and_then(Value::as_u64) == Some(0)
            && f.get("index").is_none()
            && match f.get("array_len").and_then(Value::as_u64) {
                Some(n) => n == 0,
                None => f.get("type").and_then(Value::as_str) != Some("struct"),
            };
        !(tagged(f) && empty)
    });
    let mut changed = fields.len() != before;
    for i in 0..fields.len() {
        if !tagged(&fields[i]) {
            continue;
        }
        let name = fields[i].get("name").cloned();
        let same = |j: usize| {
            fields
                .get(j)
                .is_some_and(|f| f.get("name") == name.as_ref())
        };
        // A one-element array is a plain field in legacy (QEMU marks arrays only
        // above one element): `array_len: 1`, or an `index: 0` with no sibling.
        let single = fields[i].get("array_len").and_then(Value::as_u64) == Some(1)
            || (fields[i].get("index").and_then(Value::as_u64) == Some(0)
                && !same(i + 1)
                && (i == 0 || !same(i - 1)));
        let last = fields[i].get("index").is_some() && !same(i + 1);
        let Some(f) = fields[i].as_object_mut() else {
            continue;
        };
        if single || (last && last_unindexed) {
            f.shift_remove("index");
        }
        if single {
            f.shift_remove("array_len");
        }
        f.shift_remove("tag");
        f.shift_remove("ber_nested");
        if let Some(s) = f.get_mut("struct").and_then(Value::as_object_mut) {
            strip_struct(s, last_unindexed);
        }
        if f.shift_remove("ber_tmp").is_some() {
            inline_tmp(f);
        }
        changed = true;
    }
    changed
}
