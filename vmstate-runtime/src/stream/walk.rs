//! Splitting a legacy stream into its sections without knowing any device type.
//!
//! A device section's body has no length on the wire, so its length comes from the
//! stream's own vmdesc trailer (as QEMU's `analyze-migration.py` does); RAM parts are
//! stepped over record by record ([`crate::ram::read_part`]).

use crate::error::Result;
use crate::framing::legacy as records;
use crate::framing::{
    framing_error, Command, Configuration, SectionHeader, SectionId, SectionKind, Started,
};
use crate::io::{Input, SliceInput};
use crate::{legacy, VMState};
use std::collections::HashMap;

/// One section record of a legacy stream.
#[derive(Debug, Clone)]
pub struct Section<'a> {
    /// Record kind.
    pub kind: SectionKind,
    /// Section id (ties PART/END to their START).
    pub section_id: u32,
    /// The section it belongs to, from its header or its START's.
    pub ident: SectionId,
    /// The body bytes, between header and footer.
    pub body: &'a [u8],
    /// Offset of the body in the stream.
    pub body_offset: u64,
}

/// A command record of a legacy stream, and where it stands among the sections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlacedCommand {
    /// How many section records come before it.
    pub after_sections: usize,
    /// The record's offset.
    pub offset: u64,
    /// The command.
    pub command: Command,
}

/// A legacy stream split into its parts.
#[derive(Debug, Clone)]
pub struct LegacyStream<'a> {
    /// The configuration section.
    pub configuration: Configuration,
    /// Section records in stream order.
    pub sections: Vec<Section<'a>>,
    /// Command records (QEMU 10.0's `SWITCHOVER_START`, say) in stream order.
    pub commands: Vec<PlacedCommand>,
    /// The vmdesc JSON trailer text.
    pub vmdesc: &'a str,
}

impl LegacyStream<'_> {
    /// The machine type from the configuration section.
    pub fn machine_type(&self) -> String {
        self.configuration.machine_type()
    }

    /// The FULL section of device `idstr`, instance `instance_id`.
    pub fn device(&self, idstr: &str, instance_id: u32) -> Option<&Section<'_>> {
        self.sections.iter().find(|s| {
            s.kind == SectionKind::Full && s.ident.idstr == idstr && s.ident.instance == instance_id
        })
    }

    /// The exact text of a device's object in the vmdesc trailer.
    pub fn vmdesc_device_text(&self, idstr: &str, instance_id: u32) -> Option<&str> {
        let start = self.vmdesc.find(&format!(
            "{{\"name\": {}, \"instance_id\": {instance_id},",
            serde_json::to_string(idstr).unwrap_or_default()
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

/// The walk's side of [`records::read_records`]: each section's body taken by its
/// length (a device's from the vmdesc, a RAM part's by stepping over its records).
struct Walk<'a> {
    lengths: HashMap<(String, u64), usize>,
    sections: Vec<Section<'a>>,
    commands: Vec<PlacedCommand>,
    /// The RAM block of the previous page: a part may CONTINUE it.
    ram_last: Option<String>,
}

impl<'a> records::Records<SliceInput<'a>> for Walk<'a> {
    fn command(&mut self, command: Command, offset: u64) -> Result<()> {
        self.commands.push(PlacedCommand {
            after_sections: self.sections.len(),
            offset,
            command,
        });
        Ok(())
    }

    fn section(
        &mut self,
        h: &SectionHeader,
        ident: &SectionId,
        _: u64,
        r: &mut SliceInput<'a>,
    ) -> Result<()> {
        let body_offset = r.offset();
        let body_len = if h.kind == SectionKind::Full {
            *self
                .lengths
                .get(&(ident.idstr.clone(), u64::from(ident.instance)))
                .ok_or_else(|| {
                    framing_error(
                        format!("section {} has no vmdesc entry", ident.idstr),
                        body_offset,
                    )
                })?
        } else if ident.idstr == "ram" {
            crate::ram::read_part(r.remaining(), body_offset, &mut self.ram_last)?.1
        } else {
            return Err(framing_error(
                format!("cannot step over iterative section {}", ident.idstr),
                body_offset,
            ));
        };
        let body = r.take(body_len)?;
        self.sections.push(Section {
            kind: h.kind,
            section_id: h.id,
            ident: ident.clone(),
            body,
            body_offset,
        });
        Ok(())
    }
}

/// Splits a legacy stream into configuration, sections and vmdesc.
pub fn walk_legacy(bytes: &[u8]) -> Result<LegacyStream<'_>> {
    // The prelude first: a capability that changes the stream is named before
    // anything else is read.
    let mut r = SliceInput::new(bytes);
    let configuration = records::read_prelude(&mut r)?
        .map(|(c, _)| c)
        .unwrap_or_default();
    let body = r.offset() as usize;
    let (trailer_at, vmdesc) = records::find_trailer(&bytes[body..], body as u64)?;
    let trailer_at = body + trailer_at;
    let desc: serde_json::Value = serde_json::from_str(vmdesc)
        .map_err(|e| framing_error(format!("vmdesc JSON: {e}"), trailer_at as u64))?;
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

    let mut r = SliceInput::with_base(&bytes[body..trailer_at], body as u64);
    let mut walk = Walk {
        lengths,
        sections: Vec::new(),
        commands: Vec::new(),
        ram_last: None,
    };
    records::read_records(&mut r, &mut Started::default(), &mut walk)?;
    let Walk {
        sections, commands, ..
    } = walk;
    if !r.remaining().is_empty() {
        return Err(framing_error(
            "bytes between EOF and the vmdesc trailer",
            r.offset(),
        ));
    }
    Ok(LegacyStream {
        configuration,
        sections,
        commands,
        vmdesc,
    })
}

/// Decodes a device section's body into `target` at the section's version, with the
/// stream's offsets in errors. On error `target` is unchanged.
pub fn load_section<T: VMState + Clone>(target: &mut T, section: &Section<'_>) -> Result<()> {
    legacy::load_exact(
        target,
        section.body,
        section.body_offset,
        section.ident.version,
    )
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
