//! A device's vmdesc object as a decoder sees it: fields grouped (QEMU lists a
//! struct array element by element, with `index`), each with its wire type, size,
//! element count and BER tag; and the legacy body codec that follows it.

use crate::error::{Error, ErrorKind, Result};
use crate::io::{Input, SliceInput, Writer};
use crate::legacy::SUBSECTION;
use serde_json::{Map, Value};

/// One field of a vmdesc object, its elements gathered.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// Field name as vmdesc writes it (`cmos_data`, `timers[1]`).
    pub name: String,
    /// Wire type without QEMU's check suffix (`uint32` for `uint32 equal`).
    pub ty: String,
    /// Bytes of one element (of the first, for structs listed by `index`).
    pub size: usize,
    /// Bytes of each element (struct elements may differ in their subsections).
    pub sizes: Vec<usize>,
    /// Number of elements.
    pub count: usize,
    /// Whether vmdesc presents it as an array (`array_len` or `index`).
    pub is_array: bool,
    /// Whether its elements are listed one entry each, with `index`, and the next
    /// may follow.
    pub indexed: bool,
    /// Nested description of each element, for structs.
    pub structs: Vec<Desc>,
    /// BER context tag: vmdesc's `tag` member (streams vmstate writes from typed
    /// devices), else the field's position.
    pub tag: u32,
    /// Lengths of the arrays nested in each element (`ber_nested`), which BER
    /// sends as SEQUENCE OFs where vmdesc lists their elements flat.
    pub nested: Vec<usize>,
}

/// A struct (device, nested struct or subsection) as vmdesc describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Desc {
    /// `vmsd_name`.
    pub name: String,
    /// The version it was saved at.
    pub version: u32,
    /// Fields in wire order.
    pub groups: Vec<Group>,
    /// Subsections sent, in wire order.
    pub subsections: Vec<Desc>,
    /// BER tag of its entry when it is a subsection (`tag`, else its position).
    pub tag: u32,
    /// `[APPLICATION n]` of its BER value (`ber_tag`; else a SEQUENCE).
    pub ber_tag: Option<u32>,
    /// Sent in BER as a legacy blob up to this version (`ber_blob_until`).
    pub blob_until: Option<u32>,
}

/// The largest `array_len` a description may claim (its elements are allocated
/// before the stream's bytes can refute it).
const MAX_ELEMENTS: u64 = 1 << 20;

/// The most elements one device's description may expand to, nested arrays
/// multiplied out: an array of arrays of structs must not make the decoder build
/// (or loop over) more than this, whatever the stream's size.
const MAX_EXPANDED: u64 = 1 << 22;

fn bad(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::Framing(msg.into()), 0)
}

fn get_u64(o: &Value, key: &str) -> Option<u64> {
    o.get(key).and_then(Value::as_u64)
}

impl Desc {
    /// The tag of its BER value: `[APPLICATION n]` or SEQUENCE.
    pub fn value_tag(&self) -> crate::ber::Tag {
        self.ber_tag
            .map_or(crate::ber::Tag::SEQUENCE, crate::ber::Tag::application)
    }

    /// Bytes of padding (`unused_buffer`) it declares, nested structs included
    /// (saturating): what a BER decoder restores when the padding is left out.
    pub(crate) fn padding_bytes(&self) -> u64 {
        let groups = self.groups.iter().map(|g| {
            let own = if g.is_unused() {
                g.sizes
                    .iter()
                    .map(|&s| s as u64)
                    .fold(0, u64::saturating_add)
            } else {
                0
            };
            g.structs
                .iter()
                .map(Desc::padding_bytes)
                .fold(own, u64::saturating_add)
        });
        let subsections = self.subsections.iter().map(Desc::padding_bytes);
        groups.chain(subsections).fold(0, u64::saturating_add)
    }

    /// Its length on the legacy wire: its fields' sizes and its subsections with
    /// their headers (`None` when that overflows). The one rule for a section's
    /// length; [`decode_legacy`] checks each struct it reads against it.
    pub fn wire_len(&self) -> Option<usize> {
        let fields = self.groups.iter().flat_map(|g| g.sizes.iter().copied());
        let subsections = self
            .subsections
            .iter()
            .map(|s| crate::legacy::subsection_header_size(&s.name).checked_add(s.wire_len()?));
        fields
            .map(Some)
            .chain(subsections)
            .try_fold(0usize, |total, n| total.checked_add(n?))
    }

    /// Whether its BER value at `version` is a legacy blob.
    pub fn is_blob_at(&self, version: u32) -> bool {
        self.blob_until.is_some_and(|until| version <= until)
    }

    /// Parses a vmdesc struct object (`vmsd_name`, `version`, `fields`,
    /// `subsections`). A device QEMU saves with old-style handlers (no
    /// VMStateDescription: `slirp`, say) has no `vmsd_name` and no `version`: its
    /// object is its section name, its size and one `data` buffer field
    /// (`vmstate_save_old_style`).
    pub fn parse(o: &Value, position: usize) -> Result<Desc> {
        let name = o
            .get("vmsd_name")
            .or_else(|| o.get("name").filter(|_| o.get("fields").is_some()))
            .and_then(Value::as_str)
            .ok_or_else(|| bad("vmdesc object without vmsd_name"))?
            .to_owned();
        let version = get_u64(o, "version").unwrap_or(0) as u32;
        let mut groups: Vec<Group> = Vec::new();
        let mut names = std::collections::HashSet::new();
        for f in o
            .get("fields")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let fname = f
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            let full_ty = f.get("type").and_then(Value::as_str).unwrap_or("buffer");
            // QEMU writes every field's size; the legacy walker sums them.
            let size = get_u64(f, "size")
                .and_then(|n| usize::try_from(n).ok())
                .ok_or_else(|| bad(format!("{name}: field {fname} without a size")))?;
            let nested = match f.get("struct") {
                Some(s) => Some(Desc::parse(s, 0)?),
                None => None,
            };
            // An element of the array the previous entry began. QEMU lists the
            // elements of an array it cannot compress one entry each, with `index`;
            // since QEMU 9.1 the last one has no `index` (it is described with the
            // count of elements left, 1), so an entry of the same name without
            // `index` or `array_len` after indexed ones is that last element.
            let index = get_u64(f, "index");
            let continues = groups.last().is_some_and(|g| {
                g.name == fname
                    && g.indexed
                    && match index {
                        Some(i) => i == g.count as u64,
                        None => f.get("array_len").is_none(),
                    }
            });
            if continues {
                if let Some(g) = groups.last_mut() {
                    g.count += 1;
                    g.sizes.push(size);
                    g.structs.extend(nested);
                    // After the last element, a later entry of that name is not
                    // one of them.
                    g.indexed = index.is_some();
                    continue;
                }
            }
            // QEMU names a field once (`[k]` tells repeated names apart), so another
            // entry of the same name is one of its elements or nothing this reader
            // knows: QEMU 10.0 splits an array of pointers with NULLs into runs of
            // structs and `nullptr`s of one name, which the tree cannot hold as one
            // list of one type.
            if groups.last().is_some_and(|g| g.name == fname) {
                return Err(bad(format!(
                    "{fname}: listed again after its elements (an array of mixed element types?)"
                )));
            }
            // Two fields of one name would be one key of the tree's object: one value
            // lost, and the bytes changed on re-encoding.
            if !names.insert(fname.clone()) {
                return Err(bad(format!("{name}: field {fname} listed twice")));
            }
            let array_len = get_u64(f, "array_len");
            let count = array_len.unwrap_or(1);
            if count > MAX_ELEMENTS {
                return Err(bad(format!("{fname}: array_len {count} is implausible")));
            }
            let expanded = nested.as_ref().map_or(1, |n| 1 + n.expanded());
            if count.saturating_mul(expanded) > MAX_EXPANDED {
                return Err(bad(format!(
                    "{fname}: {count} elements of {expanded} each is implausible"
                )));
            }
            // Elements of no bytes consume no input: many of them would be a tree
            // made from nothing. QEMU has none; an empty buffer is one.
            if size == 0 && nested.is_none() && count > 1 {
                return Err(bad(format!("{fname}: {count} elements of 0 bytes")));
            }
            let count = count as usize;
            let position = groups.len() as u32;
            let ber_nested = f
                .get("ber_nested")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|n| {
                    n.as_u64()
                        .and_then(|n| usize::try_from(n).ok())
                        .filter(|n| *n > 0)
                })
                .collect::<Option<Vec<usize>>>()
                .ok_or_else(|| bad(format!("{fname}: ber_nested must list lengths")))?;
            groups.push(Group {
                name: fname,
                ty: full_ty.split(' ').next().unwrap_or("").to_owned(),
                size,
                sizes: vec![size; count],
                count,
                is_array: array_len.is_some() || index.is_some(),
                indexed: index.is_some(),
                structs: nested.map(|n| vec![n; count]).unwrap_or_default(),
                tag: get_u64(f, "tag").map_or(position, |t| t as u32),
                nested: ber_nested,
            });
        }
        // BER tells fields apart by their tags: two of one tag would be read one
        // for the other (a zero padding left out, the next field taken for it).
        let mut tags = std::collections::HashSet::new();
        if let Some(g) = groups.iter().find(|g| !tags.insert(g.tag)) {
            return Err(bad(format!("{name}: BER tag {} used twice", g.tag)));
        }
        let mut subsections = Vec::new();
        for (i, s) in o
            .get("subsections")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            subsections.push(Desc::parse(s, i)?);
        }
        let mut sub_tags = std::collections::HashSet::new();
        if let Some(s) = subsections.iter().find(|s: &&Desc| !sub_tags.insert(s.tag)) {
            return Err(bad(format!(
                "{name}: subsection BER tag {} used twice",
                s.tag
            )));
        }
        let desc = Desc {
            name,
            version,
            groups,
            subsections,
            tag: get_u64(o, "tag").map_or(position as u32, |t| t as u32),
            ber_tag: get_u64(o, "ber_tag").and_then(|t| u32::try_from(t).ok()),
            blob_until: get_u64(o, "ber_blob_until").and_then(|t| u32::try_from(t).ok()),
        };
        // Elements listed one by one (`index`) add up too.
        if desc.expanded() > MAX_EXPANDED {
            return Err(bad(format!(
                "{}: the description is implausibly large",
                desc.name
            )));
        }
        Ok(desc)
    }

    /// How many elements it expands to, nested ones included (saturating). A field
    /// counts at least one, so that a struct of empty arrays is not free to repeat.
    pub(crate) fn expanded(&self) -> u64 {
        let groups = self.groups.iter().map(|g| match g.structs.as_slice() {
            [] => (g.count as u64).max(1),
            structs => structs
                .iter()
                .map(|s| 1u64.saturating_add(s.expanded()))
                .fold(0u64, u64::saturating_add),
        });
        let subsections = self.subsections.iter().map(Desc::expanded);
        groups.chain(subsections).fold(0, u64::saturating_add)
    }
}

impl Group {
    /// Whether elements are integers, and signed ones.
    pub fn int_kind(&self) -> Option<bool> {
        match self.ty.as_str() {
            "uint8" | "uint16" | "uint32" | "uint64" => Some(false),
            "int8" | "int16" | "int32" | "int64" | "timer" => Some(true),
            _ => None,
        }
    }

    /// Whether its elements are integers the BER codec sends as INTEGER: an integer
    /// type of 1 to 8 octets (any other width is sent as its octets).
    pub fn is_integer(&self) -> bool {
        self.int_kind().is_some() && (1..=8).contains(&self.size)
    }

    /// Whether its elements are single octets (`uint8`), which the BER codec sends
    /// as one OCTET STRING when they form an array, as the derive's codec does.
    pub fn is_octets(&self) -> bool {
        self.ty == "uint8" && self.size == 1 && !self.is_struct()
    }

    /// Whether it is padding (`VMSTATE_UNUSED`), which typed devices do not send
    /// in BER.
    pub fn is_unused(&self) -> bool {
        self.ty == "unused_buffer"
    }

    /// Whether elements are nested structs.
    pub fn is_struct(&self) -> bool {
        !self.structs.is_empty()
    }
}

/// Decodes a legacy body described by `d` into JSON: fields by name (arrays as
/// lists, integers as numbers, bytes as hex), then `subsections` by name.
pub fn decode_legacy(d: &Desc, r: &mut SliceInput<'_>) -> Result<Value> {
    let mut m = Map::new();
    for g in &d.groups {
        let mut elems = Vec::with_capacity(g.count.min(4096));
        for i in 0..g.count {
            let start = r.offset();
            let v = match g.structs.get(i) {
                Some(s) => decode_legacy(s, r)?,
                None => decode_scalar(g, r.take(g.size)?),
            };
            if g.is_struct() && r.offset() - start != g.sizes[i] as u64 {
                return Err(Error::new(
                    ErrorKind::Framing(format!(
                        "{}.{}: struct took {} bytes, vmdesc says {}",
                        d.name,
                        g.name,
                        r.offset() - start,
                        g.sizes[i]
                    )),
                    start,
                ));
            }
            elems.push(v);
        }
        let v = if g.is_array {
            Value::Array(elems)
        } else {
            elems.pop().unwrap_or(Value::Null)
        };
        m.insert(g.name.clone(), v);
    }
    if !d.subsections.is_empty() {
        let mut subs = Map::new();
        for s in &d.subsections {
            let at = r.offset();
            let marker = r.read_array::<1>()?[0];
            let len = usize::from(r.read_array::<1>()?[0]);
            let name = r.take(len)?;
            let version = u32::from_be_bytes(r.read_array()?);
            if marker != SUBSECTION || name != s.name.as_bytes() || version != s.version {
                return Err(Error::new(
                    ErrorKind::Framing(format!(
                        "{}: expected subsection {} v{} as vmdesc says",
                        d.name, s.name, s.version
                    )),
                    at,
                ));
            }
            subs.insert(s.name.clone(), decode_legacy(s, r)?);
        }
        m.insert("subsections".into(), Value::Object(subs));
    }
    Ok(Value::Object(m))
}

fn decode_scalar(g: &Group, b: &[u8]) -> Value {
    match (g.int_kind(), g.ty.as_str()) {
        // As `scalar_bytes` encodes them: a number for 1 to 8 octets, else hex.
        (Some(signed), _) if (1..=8).contains(&b.len()) => {
            let mut v: u64 = 0;
            for &x in b {
                v = (v << 8) | u64::from(x);
            }
            if signed && b.len() < 8 && b[0] & 0x80 != 0 {
                v |= u64::MAX << (8 * b.len());
            }
            if signed {
                Value::from(v as i64)
            } else {
                Value::from(v)
            }
        }
        (_, "bool") if b.len() == 1 && b[0] <= 1 => Value::Bool(b[0] == 1),
        _ => crate::ber::octets_json(b),
    }
}

/// Encodes JSON made by [`decode_legacy`] (or edited) back to the legacy body.
pub fn encode_legacy<W: std::io::Write>(d: &Desc, v: &Value, w: &mut Writer<W>) -> Result<()> {
    for g in &d.groups {
        let f = v
            .get(&g.name)
            .ok_or_else(|| bad(format!("{}: no value for field {}", d.name, g.name)))?;
        for (i, e) in elements(g, f)?.iter().enumerate() {
            match g.structs.get(i) {
                Some(s) => {
                    // The size vmdesc gives it, as the legacy reader checks it: a
                    // tree from a BER stream must keep to its description too.
                    let start = w.written();
                    encode_legacy(s, e, w)?;
                    let took = w.written() - start;
                    if took != g.sizes[i] as u64 {
                        return Err(bad(format!(
                            "{}.{}: struct takes {took} bytes, vmdesc says {}",
                            d.name, g.name, g.sizes[i]
                        )));
                    }
                }
                None => w.put(&scalar_bytes(g, e, &d.name)?)?,
            }
        }
    }
    for s in &d.subsections {
        let body = v
            .get("subsections")
            .and_then(|x| x.get(&s.name))
            .ok_or_else(|| bad(format!("{}: no value for subsection {}", d.name, s.name)))?;
        crate::legacy::put_subsection_header(w, &s.name, s.version)?;
        encode_legacy(s, body, w)?;
    }
    Ok(())
}

/// The elements of a group's JSON value (one for a non-array).
pub fn elements<'v>(g: &Group, f: &'v Value) -> Result<Vec<&'v Value>> {
    if !g.is_array {
        return Ok(vec![f]);
    }
    let a = f
        .as_array()
        .ok_or_else(|| bad(format!("{}: expected a list of {}", g.name, g.count)))?;
    if a.len() != g.count {
        return Err(bad(format!(
            "{}: {} elements, vmdesc says {}",
            g.name,
            a.len(),
            g.count
        )));
    }
    Ok(a.iter().collect())
}

/// The legacy bytes of one scalar element.
pub fn scalar_bytes(g: &Group, e: &Value, within: &str) -> Result<Vec<u8>> {
    let wrong = || {
        bad(format!(
            "{within}.{}: value {e} does not fit {}",
            g.name, g.ty
        ))
    };
    if let Some(b) = e.as_bool() {
        return if g.size == 1 {
            Ok(vec![u8::from(b)])
        } else {
            Err(wrong())
        };
    }
    if let Some(s) = e.as_str() {
        let b = unhex(s).ok_or_else(wrong)?;
        return if b.len() == g.size {
            Ok(b)
        } else {
            Err(wrong())
        };
    }
    if g.size > 8 || g.size == 0 {
        return Err(wrong());
    }
    // The number must fit the field: a signed type takes i64 values in its range,
    // any other type unsigned ones.
    let bits = 8 * g.size as u32;
    let raw = match (g.int_kind() == Some(true), e.as_u64(), e.as_i64()) {
        (true, _, Some(i))
            if bits == 64 || (-(1i64 << (bits - 1))..1i64 << (bits - 1)).contains(&i) =>
        {
            i as u64
        }
        (false, Some(u), _) if bits == 64 || u < 1u64 << bits => u,
        _ => return Err(wrong()),
    };
    Ok(raw.to_be_bytes()[8 - g.size..].to_vec())
}

/// Bytes from (either case) hex.
pub fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Decodes a body that must be exactly `body` long.
pub fn decode_body(d: &Desc, body: &[u8], base: u64) -> Result<Value> {
    let mut r = SliceInput::with_base(body, base);
    let v = decode_legacy(d, &mut r)?;
    if !r.remaining().is_empty() {
        return Err(r.error(ErrorKind::TrailingBytes(r.remaining().len() as u64)));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(fields: Value) -> Result<Desc> {
        Desc::parse(
            &json!({"vmsd_name": "d", "version": 1, "fields": fields}),
            0,
        )
    }

    #[test]
    fn a_vmdesc_that_overflows_a_length_is_refused() {
        let d = parse(json!([{"name": "x", "type": "buffer", "size": usize::MAX, "array_len": 2}]));
        assert_eq!(d.unwrap().wire_len(), None);
    }

    fn elem(index: Option<u64>) -> Value {
        let mut e = json!({"name": "drives", "type": "struct",
            "struct": {"vmsd_name": "drive", "version": 1, "fields": [{"name": "a", "type": "uint8", "size": 1}]},
            "size": 1});
        if let Some(i) = index {
            e["index"] = i.into();
        }
        e
    }

    /// QEMU 7.2 indexes every element of an uncompressed array; QEMU 10.0 leaves the
    /// last one's index out. Both are one field of three elements.
    #[test]
    fn both_releases_array_forms_are_one_field() {
        for last in [Some(2), None] {
            let d = parse(json!([elem(Some(0)), elem(Some(1)), elem(last)])).unwrap();
            assert_eq!(d.groups.len(), 1);
            assert_eq!((d.groups[0].count, d.groups[0].structs.len()), (3, 3));
            assert!(d.groups[0].is_array);
        }
        // After the unindexed last element, the field is complete.
        assert!(parse(json!([elem(Some(0)), elem(None), elem(None)])).is_err());
    }

    /// A run of structs and a run of `nullptr`s under one name (QEMU 10.0's arrays of
    /// pointers with NULLs) is refused, not read as two fields of which one is lost.
    #[test]
    fn runs_of_mixed_element_types_are_refused() {
        let structs = json!({"name": "p", "array_len": 2, "type": "uint32", "size": 4});
        let nulls = json!({"name": "p", "array_len": 2, "type": "nullptr", "size": 1});
        let e = parse(json!([structs, nulls])).unwrap_err();
        assert!(e.to_string().contains("p: listed again"), "{e}");
    }
}
