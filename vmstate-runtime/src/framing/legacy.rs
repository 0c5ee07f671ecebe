//! QEMU's records (7.2 to 10.0): the `QEVM` prelude and configuration, section
//! headers and footers, commands, EOF and the vmdesc trailer. Readers take any [`Input`], so the registry
//! reads them as a stream arrives and the walker from memory.

use super::{
    framing_error, Command, Configuration, SectionHeader, SectionId, SectionKind, Started, MAGIC,
    VERSION,
};
use crate::error::Result;
use crate::io::{Input, Writer};
use crate::VMState;
use std::io;

/// The record type bytes of a legacy stream (QEMU's `QEMU_VM_*`).
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
    /// A subsection inside a device's body (read by the device codec).
    pub const SUBSECTION: u8 = crate::legacy::SUBSECTION;
    /// The vmdesc JSON trailer.
    pub const VMDESCRIPTION: u8 = 0x06;
    /// The configuration section (machine type).
    pub const CONFIGURATION: u8 = 0x07;
    /// A command ([`Command`](super::Command)).
    pub const COMMAND: u8 = 0x08;
    /// Section footer.
    pub const FOOTER: u8 = 0x7e;
}

/// Writes `QEVM`, the version and, if given, the configuration section.
pub fn put_prelude<W: io::Write>(
    w: &mut Writer<W>,
    configuration: Option<&Configuration>,
) -> Result<()> {
    w.put(&MAGIC.to_be_bytes())?;
    w.put(&VERSION.to_be_bytes())?;
    if let Some(c) = configuration {
        w.put(&[tag::CONFIGURATION])?;
        c.legacy_save_at(w, 1)?;
    }
    Ok(())
}

/// Reads `QEVM` and the version (refusing others), then the configuration section
/// if there is one, with the offset of its body. A configuration that lists a
/// capability vmstate does not read (`mapped-ram`: it changes what follows) is
/// refused by its name; one that lists `x-ignore-shared` is read (its RAM
/// readers take it: [`crate::ram::Cursor`]).
pub fn read_prelude(r: &mut impl Input) -> Result<Option<(Configuration, u64)>> {
    let magic = u32::from_be_bytes(r.read_array()?);
    let version = u32::from_be_bytes(r.read_array()?);
    if magic != MAGIC || version != VERSION {
        return Err(framing_error(
            format!("not a QEVM v3 stream (magic {magic:#x}, version {version})"),
            0,
        ));
    }
    if r.peek(1)?.first() != Some(&tag::CONFIGURATION) {
        return Ok(None);
    }
    r.skip(1)?;
    let at = r.offset();
    let mut c = Configuration::default();
    crate::legacy::load_input(&mut c, r, 1)?;
    super::check_configuration(&c, at - 1)?;
    Ok(Some((c, at)))
}

/// A record at the top level of a legacy stream, after the prelude.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// `QEMU_VM_EOF`: the sections are over (the vmdesc trailer may follow).
    Eof,
    /// A section record's header; its body and footer follow.
    Section(SectionHeader),
    /// A whole command record, checked as QEMU checks it.
    Command(Command),
}

/// Reads the next record's type and, for a section, its header.
pub fn read_record(r: &mut impl Input) -> Result<Record> {
    let at = r.offset();
    let byte = r.read_array::<1>()?[0];
    if byte == tag::EOF {
        return Ok(Record::Eof);
    }
    if byte == tag::COMMAND {
        let number = u16::from_be_bytes(r.read_array()?);
        let len = usize::from(u16::from_be_bytes(r.read_array()?));
        let mut data = vec![0; len];
        r.read_exact(&mut data)?;
        let mut c = Command::new(number, data);
        let mut package = vec![0; c.package_len(at)?];
        r.read_exact(&mut package)?;
        c.package = package;
        c.check(at)?;
        return Ok(Record::Command(c));
    }
    let kind = SectionKind::from_legacy_byte(byte)
        .ok_or_else(|| framing_error(format!("unexpected section type {byte:#04x}"), at))?;
    let id = u32::from_be_bytes(r.read_array()?);
    let ident = if kind.names_section() {
        let len = usize::from(r.read_array::<1>()?[0]);
        let mut name = [0u8; 255];
        let name_at = r.offset();
        r.read_exact(&mut name[..len])?;
        Some(SectionId {
            idstr: super::name_text(&name[..len], "idstr", name_at)?,
            instance: u32::from_be_bytes(r.read_array()?),
            version: u32::from_be_bytes(r.read_array()?),
            occurrence: 0,
        })
    } else {
        None
    };
    Ok(Record::Section(SectionHeader { kind, id, ident }))
}

/// What reads the records of a legacy stream: [`read_records`] hands it each one,
/// already resolved and framed, so that no reader of the format has a record loop
/// of its own (the registry's load, the walk, the converter).
pub trait Records<I: Input + ?Sized> {
    /// Whether to read the next record, whose first octet is `tag` (not consumed):
    /// `false` stops [`read_records`] before it (a converter that needs the vmdesc
    /// before the first device section).
    fn take(&mut self, tag: u8) -> Result<bool> {
        let _ = tag;
        Ok(true)
    }

    /// A command record, checked as QEMU checks it, at `at`.
    fn command(&mut self, c: Command, at: u64) -> Result<()>;

    /// A section record at `at`: its header and the section it belongs to (its
    /// own, or its START's); `r` is at the body, which this reads whole. The
    /// footer is read after it.
    fn section(&mut self, h: &SectionHeader, ident: &SectionId, at: u64, r: &mut I) -> Result<()>;
}

/// Reads records after the prelude into `records`: each section resolved to its
/// START by `started`, its footer checked after its body. Returns `true` at EOF
/// (consumed; the trailer may follow), `false` where `records` declined one.
pub fn read_records<I: Input>(
    r: &mut I,
    started: &mut Started,
    records: &mut impl Records<I>,
) -> Result<bool> {
    loop {
        let tag = r.peek(1)?.first().copied();
        if let Some(tag) = tag {
            if !records.take(tag)? {
                return Ok(false);
            }
        }
        let at = r.offset();
        match read_record(r)? {
            Record::Eof => return Ok(true),
            Record::Command(c) => records.command(c, at)?,
            Record::Section(h) => {
                let ident = started.resolve(&h, at)?;
                records.section(&h, &ident, at, r)?;
                read_footer(r, h.id, &ident.idstr)?;
            }
        }
    }
}

/// Reads a `PACKAGED` package's records into `records`, to the package's end:
/// what QEMU's loader reads from it (`loadvm_handle_cmd_packaged`): commands
/// and device sections, no EOF (`postcopy_start` writes none: the stream that
/// carries the package goes on). An EOF, a package inside it, or a section
/// that continues one started outside it are errors.
pub fn read_package<I: Input>(r: &mut I, records: &mut impl Records<I>) -> Result<()> {
    let mut started = Started::default();
    while !r.peek(1)?.is_empty() {
        let at = r.offset();
        match read_record(r)? {
            Record::Eof => return Err(framing_error("an EOF inside a PACKAGED package", at)),
            Record::Command(c) if !c.package.is_empty() => {
                return Err(framing_error("a package inside a PACKAGED package", at))
            }
            Record::Command(c) => records.command(c, at)?,
            Record::Section(h) => {
                let ident = started.resolve(&h, at)?;
                records.section(&h, &ident, at, r)?;
                read_footer(r, h.id, &ident.idstr)?;
            }
        }
    }
    Ok(())
}

/// Writes a section record's header (type byte, id and, for START and FULL, the
/// idstr, instance and version).
pub fn put_section_header<W: io::Write>(w: &mut Writer<W>, h: &SectionHeader) -> Result<()> {
    w.put(&[h.kind.legacy_byte()])?;
    w.put(&h.id.to_be_bytes())?;
    if let Some(s) = &h.ident {
        let len = u8::try_from(s.idstr.len())
            .map_err(|_| framing_error(format!("idstr {} is too long", s.idstr), 0))?;
        w.put(&[len])?;
        w.put(s.idstr.as_bytes())?;
        w.put(&s.instance.to_be_bytes())?;
        w.put(&s.version.to_be_bytes())?;
    }
    Ok(())
}

/// Writes a command record.
pub fn put_command<W: io::Write>(w: &mut Writer<W>, c: &Command) -> Result<()> {
    let len = u16::try_from(c.data.len())
        .map_err(|_| framing_error(format!("command {} data over 64 KiB", c.name()), 0))?;
    w.put(&[tag::COMMAND])?;
    w.put(&c.number.to_be_bytes())?;
    w.put(&len.to_be_bytes())?;
    w.put(&c.data)?;
    w.put(&c.package)
}

/// Writes the footer that closes section `id`.
pub fn put_footer<W: io::Write>(w: &mut Writer<W>, id: u32) -> Result<()> {
    w.put(&[tag::FOOTER])?;
    w.put(&id.to_be_bytes())
}

/// Reads the footer that must close section `id` (`name` is for the error).
pub fn read_footer(r: &mut impl Input, id: u32, name: &str) -> Result<()> {
    let at = r.offset();
    if r.read_array::<1>()?[0] != tag::FOOTER || u32::from_be_bytes(r.read_array()?) != id {
        return Err(framing_error(
            format!("bad footer after section {name} ({id})"),
            at,
        ));
    }
    Ok(())
}

/// Writes EOF and the vmdesc trailer.
pub fn put_trailer<W: io::Write>(w: &mut Writer<W>, vmdesc: &str) -> Result<()> {
    let len = u32::try_from(vmdesc.len())
        .map_err(|_| framing_error("the vmdesc is over 4 GiB", w.written()))?;
    w.put(&[tag::EOF, tag::VMDESCRIPTION])?;
    w.put(&len.to_be_bytes())?;
    w.put(vmdesc.as_bytes())
}

/// After EOF: nothing, or one whole vmdesc trailer, skipped (a typed load has its
/// own descriptions).
pub fn skip_trailer(r: &mut impl Input) -> Result<()> {
    if r.peek(1)?.is_empty() {
        return Ok(());
    }
    let at = r.offset();
    let whole = r.read_array::<1>()?[0] == tag::VMDESCRIPTION && {
        let len = u32::from_be_bytes(r.read_array()?) as usize;
        r.skip(len).is_ok() && r.peek(1)?.is_empty()
    };
    if whole {
        Ok(())
    } else {
        Err(framing_error("after EOF: not one whole vmdesc trailer", at))
    }
}

/// Finds the vmdesc trailer of a whole stream: `0x06`, be32 length, JSON to the end.
/// Returns the offset of its `0x06` and the JSON text.
///
/// The JSON holds no NUL byte, so it starts after the last one, at a `{` whose
/// preceding length reaches exactly the end (the length's own bytes may be `{`).
/// `bytes` start at offset `base` of the stream: a stream without a trailer is
/// reported where it ends.
pub fn find_trailer(bytes: &[u8], base: u64) -> Result<(usize, &str)> {
    let nul = bytes.iter().rposition(|&b| b == 0).unwrap_or(0);
    let json_at = (nul..bytes.len())
        .filter(|&p| bytes[p] == b'{' && p >= 5 && bytes[p - 5] == tag::VMDESCRIPTION)
        .find(|&p| {
            let len = u32::from_be_bytes([bytes[p - 4], bytes[p - 3], bytes[p - 2], bytes[p - 1]]);
            len as usize == bytes.len() - p
        })
        .ok_or_else(|| {
            framing_error(
                "the stream ends here without its vmdesc trailer (cut short, or saved \
                 with -machine suppress-vmdesc=on or as postcopy; a stream saved without \
                 it reads with the description of a save of the same VM: vmstate \
                 --describe-with, dump::Borrowed)",
                base + bytes.len() as u64,
            )
        })?;
    let text = std::str::from_utf8(&bytes[json_at..])
        .map_err(|_| framing_error("vmdesc is not UTF-8", json_at as u64))?;
    Ok((json_at - 5, text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trailer_whose_length_holds_a_brace_is_found() {
        for len in [0x7b_usize, 0x17b, 0x7b00 + 0x7b] {
            let json = format!("{{{}}}", " ".repeat(len - 2));
            let mut w = Writer::new(Vec::new());
            put_trailer(&mut w, &json).unwrap();
            let stream = w.into_inner();
            let (at, text) = find_trailer(&stream, 0).unwrap();
            assert_eq!((at, text), (1, json.as_str()));
        }
    }

    #[test]
    fn a_missing_trailer_is_reported_where_the_stream_ends() {
        let e = find_trailer(b"QEVM\0\0\0\x03\x04", 100).unwrap_err();
        assert_eq!(e.offset(), 109);
        assert_eq!(
            e.to_string(),
            "at byte 109: bad stream framing: the stream ends here without its vmdesc \
             trailer (cut short, or saved with -machine suppress-vmdesc=on or as postcopy; \
             a stream saved without it reads with the description of a save of the same \
             VM: vmstate --describe-with, dump::Borrowed)"
        );
    }

    #[test]
    fn commands_round_trip_and_bad_ones_are_errors() {
        let mut w = Writer::new(Vec::new());
        put_command(&mut w, &Command::switchover_start()).unwrap();
        let bytes = w.into_inner();
        assert_eq!(bytes, [0x08, 0, 11, 0, 0]);
        let mut r = crate::io::SliceInput::new(&bytes);
        assert_eq!(
            read_record(&mut r).unwrap(),
            Record::Command(Command::switchover_start())
        );
        for (bytes, what) in [
            (&[0x08, 0, 12, 0, 0][..], "unknown command 12"),
            (
                &[0x08, 0, 11, 0, 1, 0],
                "command SWITCHOVER_START carries 1 bytes",
            ),
            (&[0x08, 0, 2, 0, 4, 1, 2], "unexpected end of input"),
        ] {
            let e = read_record(&mut crate::io::SliceInput::new(bytes)).unwrap_err();
            assert!(e.to_string().contains(what), "{e}");
        }
    }

    #[test]
    fn a_header_round_trips() {
        let h = SectionHeader {
            kind: SectionKind::Full,
            id: 7,
            ident: Some(SectionId {
                idstr: "mc146818rtc".into(),
                instance: 0,
                version: 3,
                occurrence: 0,
            }),
        };
        let mut w = Writer::new(Vec::new());
        put_section_header(&mut w, &h).unwrap();
        put_footer(&mut w, 7).unwrap();
        let bytes = w.into_inner();
        let mut r = crate::io::SliceInput::new(&bytes);
        assert_eq!(read_record(&mut r).unwrap(), Record::Section(h));
        read_footer(&mut r, 7, "mc146818rtc").unwrap();
        assert!(r.remaining().is_empty());
    }
}
