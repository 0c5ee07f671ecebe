//! The tree from and to a legacy stream: records through [`crate::framing`], device
//! bodies through their vmdesc descriptions ([`super::desc`]).

use super::walk::{Record, Section};
use super::{
    command_entry, configuration_json, device_entry, device_of, encode_legacy, section_object,
    tree_ram, walk, Entry, Limits, Parts, RamOf, RamParts,
};
use crate::error::Result;
use crate::framing::{legacy as records, SectionHeader, SectionKind, VERSION};
use crate::io::Writer;
use crate::ram;
use serde_json::{json, Value};

/// Decodes a legacy stream into the tree, record by record as the walk meets
/// them: a RAM part's records are summarised (or kept) and dropped before the
/// next part is read.
pub(super) fn from_legacy<'a>(
    bytes: &'a [u8],
    ram: &mut RamParts<'_, 'a>,
    limits: &Limits,
    borrowed: Option<&'a super::Borrowed>,
) -> Result<Value> {
    let mut sections = Vec::new();
    // The block list of the latest MEM_SIZE record, which every page must fit.
    let mut ram_blocks = Vec::new();
    let walked = walk::walk_with(bytes, limits, borrowed, &mut |record| {
        let object = |sec: &Section<'_>| {
            section_object(&SectionHeader {
                kind: sec.kind,
                id: sec.section_id,
                ident: sec.kind.names_section().then(|| sec.ident.clone()),
            })
        };
        let (mut o, key, value) = match record {
            Record::Command(c, at, descs) => {
                // A package follows its command's 5 octets and data.
                let package_at = at + 5 + c.data.len() as u64;
                sections.push(command_entry(&c, package_at, descs, limits)?);
                return Ok(());
            }
            Record::Device(sec, d) => {
                sections.push(device_entry(&sec, d)?);
                return Ok(());
            }
            Record::Ram(sec, records) => {
                for r in &records {
                    ram::check_in_blocks(r, &mut ram_blocks, sec.body_offset)?;
                }
                let (key, part) = ram.part(records)?;
                (object(&sec), key, part)
            }
        };
        o.insert(key.into(), value);
        sections.push(Value::Object(o));
        Ok(())
    })?;
    Ok(json!({
        "stream_version": VERSION,
        "configuration": configuration_json(&walked.configuration)?,
        "sections": sections,
        "vmdesc": walked.vmdesc,
    }))
}

/// Encodes the tree as a legacy stream, byte for byte as QEMU frames it.
pub fn to_legacy(tree: &Value) -> Result<Vec<u8>> {
    to_legacy_with(tree, &mut tree_ram)
}

pub(super) fn to_legacy_with(tree: &Value, ram_of: &mut RamOf<'_, '_>) -> Result<Vec<u8>> {
    let parts = Parts::of(tree)?;
    let mut w = Writer::new(Vec::new());
    records::put_prelude(&mut w, parts.configuration.as_ref())?;
    let mut layout = ram::BlockLayout::of(parts.configuration.as_ref());
    for (sec, entry) in &parts.sections {
        let h = match entry {
            Entry::Command(c) => {
                layout.after(c);
                records::put_command(&mut w, c)?;
                continue;
            }
            Entry::Section(h) => h,
        };
        records::put_section_header(&mut w, h)?;
        match &h.ident {
            Some(ident) if h.kind == SectionKind::Full => {
                let (d, v) = device_of(&parts.descs, sec, ident)?;
                encode_legacy(d, v, &mut w).map_err(|e| e.in_device(&ident.idstr))?;
            }
            _ => {
                let records = ram_of(sec)?;
                for r in &records {
                    if let ram::RamRecord::MemSize {
                        blocks, regions, ..
                    } = r
                    {
                        layout.check(blocks, regions, 0)?;
                    }
                }
                ram::write_part(&records, &mut w)?
            }
        }
        records::put_footer(&mut w, h.id)?;
    }
    match super::description::legacy_trailer(parts.vmdesc)? {
        Some(vmdesc) => records::put_trailer(&mut w, &vmdesc)?,
        None => w.put(&[records::tag::EOF])?,
    }
    Ok(w.into_inner())
}
