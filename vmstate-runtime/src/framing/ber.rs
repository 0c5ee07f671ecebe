//! vmstate's BER stream records: the `VMState-Stream` of the framing's ASN.1
//! ([`super::asn1`]). An indefinite `[APPLICATION 0]` holds the header
//! `[APPLICATION 1]`, the description `[APPLICATION 5]` (the vmdesc JSON), the
//! configuration `[APPLICATION 3]`, then one `[APPLICATION 4]` record per section in
//! stream order: kind `[0]`, section id `[1]`, idstr `[2]`, instance `[3]` and
//! version `[4]` (start and full), then the device's value `[5]` (full) or the
//! part's elements `[6]`. A QEMU command between sections is an `[APPLICATION 6]`:
//! its number `[0]` and, when it has any, its data `[1]`.
//!
//! Every item of the stream has a definite length, so a reader takes one item at a
//! time ([`read_prelude`], [`read_record`]) from memory or as it arrives.

use super::{
    framing_error, Command, Configuration, SectionHeader, SectionId, SectionKind, VERSION,
};
use crate::ber::{self, Class, Decoder, Header, Length, Options, Tag};
use crate::error::{Error, ErrorKind, Result};
use crate::io::{Input, SliceInput, StreamInput, Writer};
use crate::VMState;
use std::borrow::Cow;
use std::io;
use std::ops::Range;

/// `[APPLICATION 0]`: the stream.
pub const STREAM: Tag = Tag::application(0);
/// `[APPLICATION 1]`: the header.
pub const HEADER: Tag = Tag::application(1);
/// `[APPLICATION 2]`: a device's subsection list, inside its value (written and
/// read by the device codec, [`crate::ber`]).
pub const SUBSECTIONS: Tag = Tag::SUBSECTIONS;
/// `[APPLICATION 3]`: the configuration section.
pub const CONFIGURATION: Tag = Tag::application(3);
/// `[APPLICATION 4]`: one section record.
pub const SECTION: Tag = Tag::application(4);
/// `[APPLICATION 5]`: the description (vmdesc JSON), as a primitive UTF8String.
pub const DESCRIPTION: Tag = Tag {
    class: Class::Application,
    constructed: false,
    number: 5,
};
/// `[APPLICATION 6]`: a QEMU command record ([`Command`]).
pub const COMMAND: Tag = Tag::application(6);
/// The first `[APPLICATION n]` a device may take (`ber_tag`): 0 to 15 are the
/// framing's, those above and others to come.
pub const FIRST_DEVICE_TAG: u32 = 16;

/// The octets a BER stream starts with: `[APPLICATION 0]`, indefinite length.
const STREAM_START: [u8; 2] = [0x60, 0x80];

/// Whether `bytes` starts like a vmstate BER stream.
pub fn is_stream(bytes: &[u8]) -> bool {
    bytes.starts_with(&STREAM_START)
}

/// A definite-length TLV.
pub(crate) fn tlv(tag: Tag, contents: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(contents.len() + 6);
    // Writing into a Vec cannot fail.
    let _ = ber::put_header(&mut Writer::new(&mut out), tag, contents.len());
    out.extend_from_slice(contents);
    out
}

/// A definite-length INTEGER (or implicitly tagged one).
pub(crate) fn int_tlv(tag: Tag, v: i128) -> Vec<u8> {
    tlv(tag, &ber::int_contents(v))
}

/// Writes the stream's start, its header (the legacy `version` it was made from),
/// the description and, if given, the configuration.
pub fn put_prelude<W: io::Write>(
    w: &mut Writer<W>,
    version: u32,
    description: &str,
    configuration: Option<&Configuration>,
) -> Result<()> {
    w.put(&STREAM_START)?;
    w.put(&tlv(HEADER, &int_tlv(Tag::INTEGER, version.into())))?;
    w.put(&tlv(DESCRIPTION, description.as_bytes()))?;
    if let Some(c) = configuration {
        let mut body = ber::Encoder::new();
        c.ber_save_at(&mut body, 1)?;
        w.put(&tlv(CONFIGURATION, body.as_bytes()))?;
    }
    Ok(())
}

/// Writes the end of the stream (end-of-contents).
pub fn put_end<W: io::Write>(w: &mut Writer<W>) -> Result<()> {
    w.put(&[0, 0])
}

/// The field number of a record's body: a device's value or a part's elements.
const fn body_field(kind: SectionKind) -> u32 {
    match kind {
        SectionKind::Full => 5,
        _ => 6,
    }
}

/// Appends a section record: `h`, then `body` (a device's BER value, or a part's
/// elements) as its `[5]` or `[6]`.
pub fn put_section(out: &mut Vec<u8>, h: &SectionHeader, body: &[u8]) {
    let mut head = [
        int_tlv(Tag::field(0, false), h.kind.ber_number().into()),
        int_tlv(Tag::field(1, false), h.id.into()),
    ]
    .concat();
    if let Some(s) = &h.ident {
        head.extend(tlv(Tag::field(2, false), s.idstr.as_bytes()));
        head.extend(int_tlv(Tag::field(3, false), s.instance.into()));
        head.extend(int_tlv(Tag::field(4, false), s.version.into()));
    }
    let body_tag = Tag::field(body_field(h.kind), true);
    // The body (a whole RAM part, perhaps) is copied once, after the headers.
    out.reserve(16 + head.len() + body.len());
    let mut w = Writer::new(&mut *out);
    // Writing into a Vec cannot fail.
    let _ = ber::put_header(
        &mut w,
        SECTION,
        head.len() + ber::tlv_len(body_tag, body.len()),
    );
    let _ = w.put(&head);
    let _ = ber::put_header(&mut w, body_tag, body.len());
    out.extend_from_slice(body);
}

/// Appends a command record: its number `[0]` and, unless empty, its data `[1]`.
pub fn put_command(out: &mut Vec<u8>, c: &Command) {
    let mut contents = int_tlv(Tag::field(0, false), c.number.into());
    if !c.data.is_empty() {
        contents.extend(tlv(Tag::field(1, false), &c.data));
    }
    out.extend(tlv(COMMAND, &contents));
}

/// What comes before a BER stream's sections.
#[derive(Debug, Clone)]
pub struct Prelude {
    /// The legacy stream version it was made from (3).
    pub version: u32,
    /// The description (vmdesc JSON).
    pub description: String,
    /// The configuration section, with the offset of its record.
    pub configuration: Option<(Configuration, u64)>,
}

/// Reads the stream's start, header, description and configuration.
pub fn read_prelude(r: &mut StreamInput<'_>) -> Result<Prelude> {
    let start = r.read_array::<2>()?;
    if start != STREAM_START {
        return Err(Error::new(
            ErrorKind::UnexpectedTag {
                expected: STREAM.to_string(),
                found: format!("{start:02x?}"),
            },
            0,
        ));
    }
    let (item, base) = read_item(r)?.ok_or_else(|| missing(HEADER, r.offset()))?;
    let mut input = SliceInput::with_base(&item, base);
    let mut d = Decoder::new(&mut input, Options::STRICT);
    let h = d.expect(HEADER)?;
    d.enter(&h)?;
    let vh = d.expect(Tag::INTEGER)?;
    let v = d.integer(&vh)?;
    let version = u32::try_from(v).map_err(|_| ber::out_of_range(v, "uint32", &vh))?;
    d.leave(None)?;
    if version != VERSION {
        return Err(framing_error(
            format!("a BER stream of legacy version {version}; this reads {VERSION}"),
            vh.offset,
        ));
    }
    let (item, base) = read_item(r)?.ok_or_else(|| missing(DESCRIPTION, r.offset()))?;
    let mut input = SliceInput::with_base(&item, base);
    let mut d = Decoder::new(&mut input, Options::STRICT);
    let h = d.expect(DESCRIPTION)?;
    let description = text(&mut d, &h)?;
    let mut configuration = None;
    if peek_item(r)?.is_some_and(|h| h.tag == CONFIGURATION) {
        let (item, base) = read_item(r)?.ok_or_else(|| missing(CONFIGURATION, r.offset()))?;
        let mut input = SliceInput::with_base(&item, base);
        let mut d = Decoder::new(&mut input, Options::STRICT);
        let h = d.expect(CONFIGURATION)?;
        let mut c = Configuration::default();
        ber::load_struct_at(&mut d, &h, &mut c, 1)?;
        configuration = Some((c, h.offset));
    }
    Ok(Prelude {
        version,
        description,
        configuration,
    })
}

fn missing(tag: Tag, at: u64) -> Error {
    Error::new(
        ErrorKind::UnexpectedTag {
            expected: tag.to_string(),
            found: "end of contents".into(),
        },
        at,
    )
}

/// One section record of a BER stream: its header and its body, borrowed from the
/// stream when it is in memory.
#[derive(Debug)]
pub struct SectionRecord<'a> {
    /// The record's header.
    pub header: SectionHeader,
    /// The record's offset in the stream.
    pub offset: u64,
    /// The whole record.
    item: Cow<'a, [u8]>,
    /// Where the body's contents are in `item`.
    body: Range<usize>,
    /// The body's offset in the stream.
    pub body_offset: u64,
}

impl<'a> SectionRecord<'a> {
    /// The body: the contents of `[5]` (a device's value) or `[6]` (a part).
    pub fn body(&self) -> &[u8] {
        &self.item[self.body.clone()]
    }

    /// The body with the stream's lifetime, when the stream is in memory (so that
    /// what is decoded from it may borrow it).
    pub fn borrowed_body(&self) -> Option<&'a [u8]> {
        match &self.item {
            Cow::Borrowed(b) => b.get(self.body.clone()),
            Cow::Owned(_) => None,
        }
    }
}

/// A record of a BER stream after its prelude.
#[derive(Debug)]
pub enum Record<'a> {
    /// A section record.
    Section(SectionRecord<'a>),
    /// A command record (checked as QEMU checks it), with its offset.
    Command(Command, u64),
}

/// Reads the next record, or `None` at the stream's end-of-contents.
pub fn read_record<'a>(r: &mut StreamInput<'a>) -> Result<Option<Record<'a>>> {
    let Some((item, base)) = read_item(r)? else {
        return Ok(None);
    };
    let mut probe = SliceInput::with_base(&item, base);
    let tag = Decoder::new(&mut probe, Options::STRICT)
        .next_header(&"a stream item")?
        .tag;
    if tag == COMMAND {
        return read_command(&item, base).map(|c| Some(Record::Command(c, base)));
    }
    read_section(item, base).map(|s| Some(Record::Section(s)))
}

fn read_command(item: &[u8], base: u64) -> Result<Command> {
    let mut input = SliceInput::with_base(item, base);
    let mut d = Decoder::new(&mut input, Options::STRICT);
    let h = d.expect(COMMAND)?;
    d.enter(&h)?;
    let nh = d.field("command", 0, "number")?;
    let n = d.integer(&nh)?;
    let number = u16::try_from(n).map_err(|_| ber::out_of_range(n, "uint16", &nh))?;
    let data = match d.peek_header()? {
        Some(dh) if dh.tag == Tag::field(1, false) => {
            d.input().skip(dh.header_len)?;
            let n = match dh.length {
                Length::Definite(n) if n <= u64::from(u16::MAX) => n as usize,
                _ => {
                    return Err(framing_error(
                        "command data is a primitive OCTET STRING of at most 65535 octets",
                        dh.offset,
                    ))
                }
            };
            d.input().take(n)?.to_vec()
        }
        _ => Vec::new(),
    };
    d.leave(None)?;
    let c = Command { number, data };
    c.check(base)?;
    Ok(c)
}

fn read_section(item: Cow<'_, [u8]>, base: u64) -> Result<SectionRecord<'_>> {
    let mut input = SliceInput::with_base(&item, base);
    let mut d = Decoder::new(&mut input, Options::STRICT);
    let h = d.expect(SECTION)?;
    d.enter(&h)?;
    let kh = d.field("section", 0, "kind")?;
    let k = d.integer(&kh)?;
    let kind =
        SectionKind::from_ber_number(k).ok_or_else(|| ber::out_of_range(k, "section kind", &kh))?;
    let id = small(&mut d, 1, "section_id")?;
    let ident = if kind.names_section() {
        let nh = d.field("section", 2, "idstr")?;
        Some(SectionId {
            idstr: text(&mut d, &nh)?,
            instance: small(&mut d, 3, "instance_id")?,
            version: small(&mut d, 4, "version")?,
        })
    } else {
        None
    };
    let bh = d.field("section", body_field(kind), "body")?;
    let Length::Definite(len) = bh.length else {
        return Err(framing_error(
            "a section body must have a definite length",
            bh.offset,
        ));
    };
    let from = usize::try_from(bh.content_offset() - base).unwrap_or(usize::MAX);
    let to = usize::try_from(len)
        .ok()
        .and_then(|n| from.checked_add(n))
        .filter(|&to| to <= item.len())
        .ok_or_else(|| Error::new(ErrorKind::UnexpectedEof, bh.offset))?;
    d.input().skip(to - from)?;
    d.leave(None)?;
    let body_offset = bh.content_offset();
    drop(d);
    Ok(SectionRecord {
        header: SectionHeader { kind, id, ident },
        offset: base,
        body: from..to,
        body_offset,
        item,
    })
}

/// The header of the stream's next item, not consumed; `None` at its
/// end-of-contents octets.
fn peek_item(r: &mut StreamInput<'_>) -> Result<Option<Header>> {
    let base = r.offset();
    let head = r.peek(16)?;
    if head.starts_with(&[0, 0]) {
        return Ok(None);
    }
    let mut probe = SliceInput::with_base(head, base);
    Decoder::new(&mut probe, Options::STRICT)
        .next_header(&"a stream item")
        .map(Some)
}

/// The next item of the stream's `[APPLICATION 0]` and its offset, or `None` after
/// its end-of-contents octets. The item is read whole once its header is parsed (a
/// definite length, checked against what arrives).
fn read_item<'a>(r: &mut StreamInput<'a>) -> Result<Option<(Cow<'a, [u8]>, u64)>> {
    let base = r.offset();
    let Some(h) = peek_item(r)? else {
        r.skip(2)?;
        return Ok(None);
    };
    let Length::Definite(len) = h.length else {
        return Err(framing_error(
            "a stream item must have a definite length",
            base,
        ));
    };
    let total = usize::try_from(len)
        .ok()
        .and_then(|n| n.checked_add(h.header_len))
        .ok_or_else(|| Error::new(ErrorKind::UnexpectedEof, base))?;
    Ok(Some((r.take_bytes(total)?, base)))
}

/// A primitive UTF8String's contents.
fn text(d: &mut Decoder<'_, SliceInput<'_>>, h: &Header) -> Result<String> {
    let Length::Definite(n) = h.length else {
        return Err(Error::new(
            ErrorKind::MalformedBer("text must be primitive".into()),
            h.offset,
        ));
    };
    let raw = d.input().take(usize::try_from(n).unwrap_or(usize::MAX))?;
    String::from_utf8(raw.to_vec()).map_err(|_| {
        Error::new(
            ErrorKind::MalformedBer("text is not UTF-8".into()),
            h.offset,
        )
    })
}

fn small(d: &mut Decoder<'_, SliceInput<'_>>, number: u32, name: &'static str) -> Result<u32> {
    let h = d.field("section", number, name)?;
    let v = d.integer(&h)?;
    u32::try_from(v).map_err(|_| ber::out_of_range(v, "uint32", &h))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framing_tags_are_distinct_and_below_the_devices() {
        let tags = [
            STREAM,
            HEADER,
            SUBSECTIONS,
            CONFIGURATION,
            SECTION,
            DESCRIPTION,
        ];
        for (i, a) in tags.iter().enumerate() {
            assert_eq!(a.class, Class::Application);
            assert!(a.number < FIRST_DEVICE_TAG);
            assert!(tags[i + 1..].iter().all(|b| b.number != a.number));
        }
    }

    #[test]
    fn a_bad_command_is_refused_by_name_or_number() {
        for (contents, what) in [
            (vec![0x80, 0x01, 0x0c], "unknown command 12"),
            (vec![0x80, 0x01, 0x02], "command PING carries 0 bytes"),
        ] {
            let mut stream = Vec::new();
            put_prelude(&mut Writer::new(&mut stream), VERSION, "{}", None).unwrap();
            stream.extend(tlv(COMMAND, &contents));
            put_end(&mut Writer::new(&mut stream)).unwrap();
            let mut r = StreamInput::Slice(SliceInput::new(&stream));
            read_prelude(&mut r).unwrap();
            let e = read_record(&mut r).unwrap_err();
            assert!(e.to_string().contains(what), "{e}");
        }
    }

    #[test]
    fn a_record_round_trips_from_memory_and_from_a_reader() {
        let h = SectionHeader {
            kind: SectionKind::Full,
            id: 3,
            ident: Some(SectionId {
                idstr: "port92".into(),
                instance: 0,
                version: 1,
            }),
        };
        let mut stream = Vec::new();
        put_prelude(&mut Writer::new(&mut stream), VERSION, "{}", None).unwrap();
        put_command(&mut stream, &Command::switchover_start());
        put_section(&mut stream, &h, &[0x30, 0x03, 0x80, 0x01, 0x02]);
        let ping = Command {
            number: 2,
            data: vec![0, 0, 0, 7],
        };
        put_command(&mut stream, &ping);
        put_end(&mut Writer::new(&mut stream)).unwrap();
        let mut reader = &stream[..];
        for mut r in [
            StreamInput::Slice(SliceInput::new(&stream)),
            StreamInput::Read(crate::io::ReadInput::new(
                &mut reader as &mut dyn std::io::Read,
            )),
        ] {
            let p = read_prelude(&mut r).unwrap();
            assert_eq!((p.version, p.description.as_str()), (VERSION, "{}"));
            let Some(Record::Command(c, _)) = read_record(&mut r).unwrap() else {
                panic!("a command first");
            };
            assert_eq!(c, Command::switchover_start());
            let Some(Record::Section(s)) = read_record(&mut r).unwrap() else {
                panic!("then a section");
            };
            assert_eq!(s.header, h);
            assert_eq!(s.body(), [0x30, 0x03, 0x80, 0x01, 0x02]);
            assert_eq!(&stream[s.body_offset as usize..][..5], s.body());
            let Some(Record::Command(c, _)) = read_record(&mut r).unwrap() else {
                panic!("then a command with data");
            };
            assert_eq!(c, ping);
            assert!(read_record(&mut r).unwrap().is_none());
        }
    }
}
