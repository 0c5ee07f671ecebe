//! Splitting a legacy stream into its sections without knowing any device type.
//!
//! A device section's body has no length on the wire, so its length comes from the
//! stream's own vmdesc trailer (as QEMU's `analyze-migration.py` does), parsed once
//! into [`Descriptions`] that the tree decoder then reads the bodies by; a RAM
//! part is read record by record once, its records handed on with it.

use super::{Desc, Descriptions, Limits};
use crate::error::Result;
use crate::framing::legacy as records;
use crate::framing::{
    framing_error, Command, Configuration, SectionHeader, SectionId, SectionKind, Started,
};
use crate::io::{Input, SliceInput};
use crate::ram::{self, RamRecord};
use crate::{legacy, VMState};

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

/// One record of a legacy stream, in stream order, as a walk meets it.
pub(crate) enum Record<'a, 'd> {
    /// A command, its offset, and the descriptions its package's devices are
    /// read with ([`walk_package`]).
    Command(Command, u64, &'d Descriptions),
    /// A device section and its layout (from the vmdesc).
    Device(Section<'a>, &'d Desc),
    /// A RAM part and its records (page data borrowed from the stream).
    Ram(Section<'a>, Vec<RamRecord<'a>>),
}

/// What a walk found besides its records.
pub(crate) struct Walked<'a> {
    /// The configuration section.
    pub configuration: Configuration,
    /// The vmdesc JSON trailer text.
    pub vmdesc: &'a str,
}

/// The walk's side of [`records::read_records`]: each section's body taken by its
/// length (a device's from the vmdesc, a RAM part's by reading its records), each
/// record handed on as it is met, so that a RAM part's records live only as
/// long as the caller keeps them.
struct Walk<'w, 'a> {
    descriptions: &'w Descriptions,
    limits: &'w Limits,
    records: u64,
    each: &'w mut dyn for<'d> FnMut(Record<'a, 'd>) -> Result<()>,
    /// The RAM reader's: the previous page's block (a part may CONTINUE it), what
    /// the configuration adds to a block list.
    ram: ram::Cursor,
    /// A `PACKAGED` command passed: a postcopy stream.
    packaged: bool,
}

impl<'a> records::Records<SliceInput<'a>> for Walk<'_, 'a> {
    fn command(&mut self, command: Command, offset: u64) -> Result<()> {
        self.counted(offset)?;
        self.ram.layout.after(&command);
        self.packaged |= !command.package.is_empty();
        (self.each)(Record::Command(command, offset, self.descriptions))
    }

    fn section(
        &mut self,
        h: &SectionHeader,
        ident: &SectionId,
        _: u64,
        r: &mut SliceInput<'a>,
    ) -> Result<()> {
        let body_offset = r.offset();
        self.counted(body_offset)?;
        let section = |body| Section {
            kind: h.kind,
            section_id: h.id,
            ident: ident.clone(),
            body,
            body_offset,
        };
        if h.kind == SectionKind::Full {
            let at = |e: crate::error::Error| e.at(body_offset);
            let d = self.descriptions.get(ident).map_err(at)?;
            let len = d.wire_len().ok_or_else(|| {
                framing_error(
                    format!("{}: the vmdesc sizes overflow a length", ident.idstr),
                    body_offset,
                )
            })?;
            (self.each)(Record::Device(section(r.take(len)?), d))
        } else if ident.idstr == "ram" {
            let (records, len) = ram::read_part(r.remaining(), body_offset, &mut self.ram)?;
            (self.each)(Record::Ram(section(r.take(len)?), records))
        } else {
            Err(framing_error(
                format!("cannot step over iterative section {}", ident.idstr),
                body_offset,
            ))
        }
    }
}

impl Walk<'_, '_> {
    /// Counts one more record against [`Limits::sections`].
    fn counted(&mut self, at: u64) -> Result<()> {
        self.records += 1;
        Limits::check("sections", self.records, self.limits.sections, at)
    }
}

/// The error for a description given for a stream that has its own.
pub(crate) fn has_own_description() -> crate::Error {
    framing_error(
        "the stream has its own vmdesc trailer; a description is given for one without",
        0,
    )
}

/// Splits a legacy stream into configuration, sections and vmdesc.
pub fn walk_legacy(bytes: &[u8]) -> Result<LegacyStream<'_>> {
    let (mut sections, mut commands) = (Vec::new(), Vec::new());
    let walked = walk_with(bytes, &Limits::default(), None, &mut |record| {
        match record {
            Record::Command(command, offset, _) => commands.push(PlacedCommand {
                after_sections: sections.len(),
                offset,
                command,
            }),
            Record::Device(section, _) | Record::Ram(section, _) => sections.push(section),
        }
        Ok(())
    })?;
    Ok(LegacyStream {
        configuration: walked.configuration,
        sections,
        commands,
        vmdesc: walked.vmdesc,
    })
}

/// Walks a legacy stream within `limits`: its vmdesc parsed once, each record
/// handed to `each` in stream order.
pub(crate) fn walk_with<'a>(
    bytes: &'a [u8],
    limits: &Limits,
    borrowed: Option<&'a super::Borrowed>,
    each: &mut dyn for<'d> FnMut(Record<'a, 'd>) -> Result<()>,
) -> Result<Walked<'a>> {
    // The prelude first: a capability that changes the stream is named before
    // anything else is read.
    let mut r = SliceInput::new(bytes);
    let configuration = records::read_prelude(&mut r)?
        .map(|(c, _)| c)
        .unwrap_or_default();
    let body = r.offset() as usize;
    let (trailer_at, vmdesc) = match records::find_trailer(&bytes[body..], body as u64) {
        Ok((at, vmdesc)) if borrowed.is_none() => (body + at, vmdesc),
        Ok(_) => return Err(has_own_description()),
        // Without a trailer: the description given, the stream ending at EOF.
        Err(e) => match borrowed {
            Some(b) => (bytes.len(), b.text()),
            None => return Err(e),
        },
    };
    let descriptions = Descriptions::parse(vmdesc, limits).map_err(|e| e.at(trailer_at as u64))?;

    let mut r = SliceInput::with_base(&bytes[body..trailer_at], body as u64);
    let mut walk = Walk {
        descriptions: &descriptions,
        limits,
        records: 0,
        each,
        ram: ram::Cursor::new(Some(&configuration)),
        packaged: false,
    };
    records::read_records(&mut r, &mut Started::default(), &mut walk)?;
    if walk.packaged && borrowed.is_none() {
        // As the converter reads it: QEMU ends a postcopy stream at EOF.
        return Err(framing_error(
            "a vmdesc trailer after a postcopy stream (PACKAGED): QEMU sends none",
            trailer_at as u64,
        ));
    }
    if !r.remaining().is_empty() {
        return Err(framing_error(
            "bytes between EOF and the vmdesc trailer",
            r.offset(),
        ));
    }
    Ok(Walked {
        configuration,
        vmdesc,
    })
}

/// Walks `package` (a `PACKAGED` command's, found at stream offset `at`) with
/// `descriptions`: each of its records to `each`, in order.
pub(crate) fn walk_package<'a>(
    package: &'a [u8],
    at: u64,
    descriptions: &Descriptions,
    limits: &Limits,
    each: &mut dyn for<'d> FnMut(Record<'a, 'd>) -> Result<()>,
) -> Result<()> {
    let mut walk = Walk {
        descriptions,
        limits,
        records: 0,
        each,
        ram: ram::Cursor::default(),
        packaged: false,
    };
    records::read_package(&mut SliceInput::with_base(package, at), &mut walk)
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
    use super::super::{convert, from_bytes_with, RamParts};
    use super::*;
    use crate::format::Format;
    use crate::tally;

    /// Each read of a legacy stream parses its vmdesc once and reads each RAM part
    /// at most once (the converter reads them word by word, as they arrive).
    #[test]
    fn a_read_parses_the_vmdesc_once_and_each_ram_part_once() {
        let bytes = vmstate_test_support::catalog::read_fixture("q35-tcg-devices.mig");
        let parts = walk_legacy(&bytes)
            .unwrap()
            .sections
            .iter()
            .filter(|s| s.kind != SectionKind::Full)
            .count() as u32;
        assert!(parts >= 2, "the fixture has RAM parts");
        tally::take();
        super::super::from_bytes(&bytes).unwrap();
        assert_eq!(tally::take(), [1, parts], "the full tree");
        from_bytes_with(&bytes, RamParts::Summary(&mut |_| Ok(()))).unwrap();
        assert_eq!(tally::take(), [1, parts], "the summary tree");
        let ber = convert(&bytes, Format::Ber).unwrap();
        assert_eq!(tally::take(), [1, 0], "legacy to BER");
        convert(&ber, Format::Legacy).unwrap();
        assert_eq!(tally::take(), [1, 0], "BER to legacy");
        super::super::from_bytes(&ber).unwrap();
        assert_eq!(tally::take(), [1, 0], "the BER tree");
    }
}
