//! Legacy stream framing (QEMU 7.2): the `QEVM` header, the configuration section,
//! START/PART/END/FULL sections with their footers, EOF and the vmdesc trailer.
//!
//! [`walk_legacy`] splits a stream into sections without knowing any device type.
//! A device section's body has no length on the wire, so its length comes from the
//! stream's own vmdesc trailer (as QEMU's `analyze-migration.py` does); RAM parts are
//! stepped over record by record ([`crate::ram`]).

mod registry;

pub use self::registry::{
    put_section, IterativeSection, LiveSave, MachineTypes, Part, Registry, SectionDevice,
};

use crate::error::{Error, ErrorKind, Result};
use crate::legacy::{self, Input, SliceInput};
use crate::VMState;
use std::collections::HashMap;

/// `QEVM`.
pub const MAGIC: u32 = 0x5145_564d;
/// The stream version QEMU writes.
pub const VERSION: u32 = 3;

/// Section type bytes.
pub mod tag {
    /// End of the sections.
    pub const EOF: u8 = 0x00;
    /// First part of an iterative section (with header).
    pub const START: u8 = 0x01;
    /// Middle part of an iterative section.
    pub const PART: u8 = 0x02;
    /// Last part of an iterative section.
    pub const END: u8 = 0x03;
    /// A whole device section (with header).
    pub const FULL: u8 = 0x04;
    /// The vmdesc JSON trailer.
    pub const VMDESCRIPTION: u8 = 0x06;
    /// The configuration section (machine type).
    pub const CONFIGURATION: u8 = 0x07;
    /// A command (postcopy, packaged streams).
    pub const COMMAND: u8 = 0x08;
    /// Section footer.
    pub const FOOTER: u8 = 0x7e;
}

/// Capability names sent in the configuration (QEMU's `vmstate_capability`).
#[derive(crate::VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "capability", version = 1)]
pub struct Capability {
    /// Name length.
    pub len: u8,
    /// Capability name.
    #[vmstate(len = len, max = 255)]
    pub name: Vec<u8>,
}

/// `configuration/target-page-bits`.
#[derive(crate::VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "configuration/target-page-bits", version = 1)]
pub struct TargetPageBits {
    /// log2 of the target page size.
    pub target_page_bits: u32,
}

/// `configuration/capabilities`.
#[derive(crate::VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "configuration/capabilities", version = 1)]
pub struct Capabilities {
    /// Number of capabilities.
    pub caps_count: u32,
    /// The capabilities.
    #[vmstate(len = caps_count, max = 64)]
    pub capabilities: Vec<Capability>,
}

/// `configuration/uuid`.
#[derive(crate::VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "configuration/uuid", version = 1)]
pub struct ConfigUuid {
    /// The VM's UUID.
    #[vmstate(as_array)]
    pub uuid: [u8; 16],
}

/// The configuration section: the machine type, and optional checks.
#[derive(crate::VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "configuration", version = 1)]
pub struct Configuration {
    /// Machine type length.
    pub len: u32,
    /// Machine type, e.g. `pc-i440fx-7.2`.
    #[vmstate(len = len, max = 256)]
    pub name: Vec<u8>,
    /// Sent when the target page size is not the default.
    #[vmstate(subsection)]
    pub target_page_bits: Option<TargetPageBits>,
    /// Sent when capabilities are validated.
    #[vmstate(subsection)]
    pub capabilities: Option<Capabilities>,
    /// Sent when the UUID is validated.
    #[vmstate(subsection)]
    pub uuid: Option<ConfigUuid>,
}

/// The kind of a section record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SectionKind {
    /// START: first part of an iterative section.
    Start,
    /// PART: a middle part.
    Part,
    /// END: the last part.
    End,
    /// FULL: a whole device.
    Full,
}

/// One section record of a legacy stream.
#[derive(Debug, Clone)]
pub struct Section<'a> {
    /// Record kind.
    pub kind: SectionKind,
    /// Section id (ties PART/END to their START).
    pub section_id: u32,
    /// The section's id string (`mc146818rtc`), from the header or its START.
    pub idstr: String,
    /// Instance id (several devices of one type: `dma` 0 and 1).
    pub instance_id: u32,
    /// The section's version.
    pub version: u32,
    /// The body bytes, between header and footer.
    pub body: &'a [u8],
    /// Offset of the body in the stream.
    pub body_offset: u64,
}

/// A legacy stream split into its parts.
#[derive(Debug, Clone)]
pub struct LegacyStream<'a> {
    /// The configuration section.
    pub configuration: Configuration,
    /// Section records in stream order.
    pub sections: Vec<Section<'a>>,
    /// The vmdesc JSON trailer text.
    pub vmdesc: &'a str,
}

impl LegacyStream<'_> {
    /// The machine type from the configuration section.
    pub fn machine_type(&self) -> String {
        String::from_utf8_lossy(&self.configuration.name).into_owned()
    }

    /// The FULL section of device `idstr`, instance `instance_id`.
    pub fn device(&self, idstr: &str, instance_id: u32) -> Option<&Section<'_>> {
        self.sections.iter().find(|s| {
            s.kind == SectionKind::Full && s.idstr == idstr && s.instance_id == instance_id
        })
    }

    /// The exact text of a device's object in the vmdesc trailer.
    pub fn vmdesc_device_text(&self, idstr: &str, instance_id: u32) -> Option<&str> {
        let start = self.vmdesc.find(&format!(
            "{{\"name\": {}, \"instance_id\": {instance_id},",
            json_str(idstr)
        ))?;
        let rest = &self.vmdesc[start..];
        let mut depth = 0usize;
        let mut in_str = false;
        let mut escaped = false;
        for (i, c) in rest.char_indices() {
            match (in_str, escaped, c) {
                (true, true, _) => escaped = false,
                (true, false, '\\') => escaped = true,
                (true, false, '"') => in_str = false,
                (false, _, '"') => in_str = true,
                (false, _, '{' | '[') => depth += 1,
                (false, _, '}' | ']') => {
                    depth -= 1;
                    if depth == 0 {
                        return Some(&rest[..=i]);
                    }
                }
                _ => {}
            }
        }
        None
    }
}

fn json_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

fn framing(r: &SliceInput<'_>, msg: impl Into<String>) -> Error {
    r.error(ErrorKind::Framing(msg.into()))
}

/// Finds the vmdesc trailer: `0x06`, be32 length, JSON to the end of the stream.
fn find_vmdesc(bytes: &[u8]) -> Result<(usize, &str)> {
    // The JSON holds no NUL byte; it starts at the first `{` after the last NUL.
    let nul = bytes.iter().rposition(|&b| b == 0).unwrap_or(0);
    let json_at = bytes[nul..]
        .iter()
        .position(|&b| b == b'{')
        .map(|p| nul + p)
        .filter(|&p| p >= 5 && bytes[p - 5] == tag::VMDESCRIPTION)
        .ok_or_else(|| Error::new(ErrorKind::Framing("no vmdesc trailer".into()), 0))?;
    let len = u32::from_be_bytes(bytes[json_at - 4..json_at].try_into().expect("4 bytes"));
    if len as usize != bytes.len() - json_at {
        return Err(Error::new(
            ErrorKind::Framing("vmdesc length does not reach the end of the stream".into()),
            json_at as u64 - 4,
        ));
    }
    let text = std::str::from_utf8(&bytes[json_at..]).map_err(|_| {
        Error::new(
            ErrorKind::Framing("vmdesc is not UTF-8".into()),
            json_at as u64,
        )
    })?;
    Ok((json_at - 5, text))
}

/// Length of a section body as the vmdesc describes it.
fn described_len(obj: &serde_json::Value) -> Option<usize> {
    let mut total = 0usize;
    for f in obj.get("fields")?.as_array()? {
        let size = usize::try_from(f.get("size")?.as_u64()?).ok()?;
        let count = f
            .get("array_len")
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(1);
        total = total.checked_add(size.checked_mul(usize::try_from(count).ok()?)?)?;
    }
    if let Some(subs) = obj.get("subsections").and_then(serde_json::Value::as_array) {
        for s in subs {
            let name = s.get("vmsd_name")?.as_str()?;
            total = total
                .checked_add(legacy::subsection_header_size(name))?
                .checked_add(described_len(s)?)?;
        }
    }
    Some(total)
}

/// Splits a legacy stream into configuration, sections and vmdesc.
pub fn walk_legacy(bytes: &[u8]) -> Result<LegacyStream<'_>> {
    let (trailer_at, vmdesc) = find_vmdesc(bytes)?;
    let desc: serde_json::Value = serde_json::from_str(vmdesc).map_err(|e| {
        Error::new(
            ErrorKind::Framing(format!("vmdesc JSON: {e}")),
            trailer_at as u64,
        )
    })?;
    let mut lengths: HashMap<(String, u64), usize> = HashMap::new();
    for d in desc["devices"].as_array().into_iter().flatten() {
        if let (Some(name), Some(inst), Some(len)) = (
            d["name"].as_str(),
            d["instance_id"].as_u64(),
            described_len(d),
        ) {
            lengths.insert((name.to_owned(), inst), len);
        }
    }

    let mut r = SliceInput::new(&bytes[..trailer_at]);
    let magic = u32::from_be_bytes(r.read_array()?);
    let version = u32::from_be_bytes(r.read_array()?);
    if magic != MAGIC || version != VERSION {
        return Err(Error::new(
            ErrorKind::Framing(format!(
                "not a QEVM v3 stream (magic {magic:#x}, version {version})"
            )),
            0,
        ));
    }
    let mut configuration = Configuration::default();
    if r.peek(1)?.first() == Some(&tag::CONFIGURATION) {
        r.skip(1)?;
        legacy::load_input(&mut configuration, &mut r, 1)?;
    }
    let mut sections = Vec::new();
    let mut started: HashMap<u32, (String, u32, u32)> = HashMap::new();
    // The RAM block of the previous page: a part may CONTINUE it.
    let mut ram_last = None;
    loop {
        let kind_at = r.offset();
        let kind = r.read_array::<1>()?[0];
        let kind = match kind {
            tag::EOF => break,
            tag::START => SectionKind::Start,
            tag::PART => SectionKind::Part,
            tag::END => SectionKind::End,
            tag::FULL => SectionKind::Full,
            other => {
                return Err(Error::new(
                    ErrorKind::Framing(format!("unexpected section type {other:#04x}")),
                    kind_at,
                ))
            }
        };
        let section_id = u32::from_be_bytes(r.read_array()?);
        let (idstr, instance_id, version) = match kind {
            SectionKind::Start | SectionKind::Full => {
                let len = usize::from(r.read_array::<1>()?[0]);
                let idstr = String::from_utf8_lossy(r.take(len)?).into_owned();
                let instance = u32::from_be_bytes(r.read_array()?);
                let version = u32::from_be_bytes(r.read_array()?);
                started.insert(section_id, (idstr.clone(), instance, version));
                (idstr, instance, version)
            }
            SectionKind::Part | SectionKind::End => started
                .get(&section_id)
                .cloned()
                .ok_or_else(|| framing(&r, format!("part of unknown section {section_id}")))?,
        };
        let body_offset = r.offset();
        let rest = r.remaining();
        let body_len = if kind == SectionKind::Full {
            *lengths
                .get(&(idstr.clone(), u64::from(instance_id)))
                .ok_or_else(|| framing(&r, format!("section {idstr} has no vmdesc entry")))?
        } else if idstr == "ram" {
            crate::ram::read_part(rest, body_offset, &mut ram_last)?.1
        } else {
            return Err(framing(
                &r,
                format!("cannot step over iterative section {idstr}"),
            ));
        };
        let body = r.take(body_len)?;
        let footer_at = r.offset();
        if r.read_array::<1>()?[0] != tag::FOOTER
            || u32::from_be_bytes(r.read_array()?) != section_id
        {
            return Err(Error::new(
                ErrorKind::Framing(format!("bad footer after section {idstr} ({section_id})")),
                footer_at,
            ));
        }
        sections.push(Section {
            kind,
            section_id,
            idstr,
            instance_id,
            version,
            body,
            body_offset,
        });
    }
    if !r.remaining().is_empty() {
        return Err(framing(&r, "bytes between EOF and the vmdesc trailer"));
    }
    Ok(LegacyStream {
        configuration,
        sections,
        vmdesc,
    })
}

/// Decodes a device section's body into `target` at the section's version, with the
/// stream's offsets in errors. On error `target` is unchanged.
pub fn load_section<T: VMState + Clone>(target: &mut T, section: &Section<'_>) -> Result<()> {
    legacy::load_exact(target, section.body, section.body_offset, section.version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_vmdesc_that_overflows_a_length_is_refused() {
        let desc = serde_json::json!({
            "fields": [{"name": "x", "type": "buffer", "size": usize::MAX, "array_len": 2}]
        });
        assert_eq!(described_len(&desc), None);
    }
}
