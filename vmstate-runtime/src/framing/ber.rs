//! vmstate's BER stream records: the `VMState-Stream` of the framing's ASN.1
//! ([`super::asn1`]). An indefinite `[APPLICATION 0]` holds the header
//! `[APPLICATION 1]`, the configuration `[APPLICATION 3]`, then one
//! `[APPLICATION 4]` record per section in stream order: kind `[0]`, section id
//! `[1]`, idstr `[2]`, instance `[3]` and version `[4]` (start and full), then the
//! device's value `[5]` (full) or the part's elements `[6]`. A QEMU command between
//! sections is an `[APPLICATION 6]`: its number `[0]` and, when it has any, its data
//! `[1]`. The description `[APPLICATION 5]` (the vmdesc JSON) comes before the first
//! device section: after the RAM, so that a converter of a legacy stream, whose
//! vmdesc comes last, passes the RAM on as it arrives ([`put_description`]).
//!
//! A reader takes one item at a time ([`read_prelude`], [`read_record`]) from memory
//! or as it arrives. Items have definite lengths, except a RAM part too large to hold
//! while it is converted: its record and `[6]` are then indefinite
//! ([`put_open_section`]), each element definite.

use super::{
    framing_error, Command, Configuration, SectionHeader, SectionId, SectionKind, Started, VERSION,
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
/// `[APPLICATION 8]`: a multifd channel (`ram::multifd`), a stream of its own.
pub const MULTIFD_CHANNEL: Tag = Tag::application(8);
/// `[APPLICATION 9]`: the rest of a postcopy migration, on the connection its
/// source resumed it on (postcopy recovery): items as in a stream, no header.
pub const RESUMED: Tag = Tag::application(9);
pub use crate::ber::FIRST_DEVICE_TAG;

/// The octets a BER stream starts with: `[APPLICATION 0]`, indefinite length.
const STREAM_START: [u8; 2] = [0x60, 0x80];

/// The octets a resumed postcopy stream starts with: `[APPLICATION 9]`,
/// indefinite length.
const RESUMED_START: [u8; 2] = [0x69, 0x80];

/// Whether `bytes` starts like a vmstate BER stream.
pub fn is_stream(bytes: &[u8]) -> bool {
    bytes.starts_with(&STREAM_START)
}

/// Writes the start of a resumed postcopy stream ([`RESUMED`]); its items
/// follow, and [`put_end`] ends it.
pub fn put_resumed<W: io::Write>(w: &mut Writer<W>) -> Result<()> {
    w.put(&RESUMED_START)
}

/// Reads the start of a resumed postcopy stream; [`read_items`] reads the rest.
pub fn read_resumed(r: &mut StreamInput<'_>) -> Result<()> {
    if r.peek(2)? != RESUMED_START {
        return Err(framing_error(
            "a resumed postcopy stream starts with an indefinite [APPLICATION 9]",
            r.offset(),
        ));
    }
    r.skip(2)
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

/// Writes the stream's start, its header (the legacy `version` it was made from)
/// and, if given, the configuration.
pub fn put_prelude<W: io::Write>(
    w: &mut Writer<W>,
    version: u32,
    configuration: Option<&Configuration>,
) -> Result<()> {
    w.put(&STREAM_START)?;
    w.put(&tlv(HEADER, &int_tlv(Tag::INTEGER, version.into())))?;
    if let Some(c) = configuration {
        let mut body = ber::Encoder::new();
        c.ber_save_at(&mut body, 1)?;
        w.put(&tlv(CONFIGURATION, body.as_bytes()))?;
    }
    Ok(())
}

/// Writes the description (vmdesc JSON). Writers put it just before the first
/// device section (or the end): a reader without Rust types needs it from there on.
pub fn put_description<W: io::Write>(w: &mut Writer<W>, description: &str) -> Result<()> {
    w.put(&tlv(DESCRIPTION, description.as_bytes()))
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
    // The body (a whole RAM part, perhaps) is copied once, after the headers.
    out.reserve(16 + body.len());
    put_section_head(out, h, body.len());
    out.extend_from_slice(body);
}

/// Appends what [`put_section`] writes before a body of `body_len` octets: a
/// writer that holds the body elsewhere writes it next, uncopied.
pub fn put_section_head(out: &mut Vec<u8>, h: &SectionHeader, body_len: usize) {
    let head = head_fields(h);
    let body_tag = Tag::field(body_field(h.kind), true);
    out.reserve(16 + head.len());
    let mut w = Writer::new(&mut *out);
    // Writing into a Vec cannot fail.
    let _ = ber::put_header(
        &mut w,
        SECTION,
        head.len() + ber::tlv_len(body_tag, body_len),
    );
    let _ = w.put(&head);
    let _ = ber::put_header(&mut w, body_tag, body_len);
}

/// Writes the start of a section record whose body follows in pieces, of a length
/// not known yet (a RAM part converted as it arrives): the record and its body in
/// indefinite form. Its elements follow, then [`put_open_section_end`].
pub fn put_open_section<W: io::Write>(w: &mut Writer<W>, h: &SectionHeader) -> Result<()> {
    w.put(&[SECTION_OPEN, 0x80])?;
    w.put(&head_fields(h))?;
    // `[5]` or `[6]`, constructed, context class: one identifier octet.
    w.put(&[0xa0 | body_field(h.kind) as u8, 0x80])
}

/// Ends what [`put_open_section`] began: the end-of-contents of the body and of
/// the record.
pub fn put_open_section_end<W: io::Write>(w: &mut Writer<W>) -> Result<()> {
    w.put(&[0, 0, 0, 0])
}

/// The identifier octet of a section record, constructed: `[APPLICATION 4]`.
const SECTION_OPEN: u8 = 0x64;

/// A section record's fields before its body.
fn head_fields(h: &SectionHeader) -> Vec<u8> {
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
    head
}

/// Appends a command record: its number `[0]` and, unless empty, its data `[1]`
/// and `PACKAGED`'s package `[2]` (QEMU's bytes).
pub fn put_command(out: &mut Vec<u8>, c: &Command) {
    let fields: [(u32, &[u8]); 2] = [(1, &c.data), (2, &c.package)];
    out.extend(numbered_tlv(COMMAND, c.number, &fields));
}

/// What comes before a BER stream's sections.
#[derive(Debug, Clone)]
pub struct Prelude {
    /// The legacy stream version it was made from (3).
    pub version: u32,
    /// The description (vmdesc JSON), when it comes before the sections (a stream
    /// without RAM, or one written before the description moved: either is read).
    pub description: Option<String>,
    /// The configuration section, with the offset of its record.
    pub configuration: Option<(Configuration, u64)>,
}

/// Reads the stream's start and header, then the configuration and the
/// description where they come right after it (a description may also come later,
/// as a [`Record::Description`]).
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
    let (mut description, mut configuration) = (None, None);
    loop {
        match peek_item(r)?.map(|h| h.tag) {
            Some(DESCRIPTION) if description.is_none() => {
                description = Some(read_description(r)?.0);
            }
            Some(CONFIGURATION) if configuration.is_none() => {
                let (item, base) =
                    read_item(r)?.ok_or_else(|| missing(CONFIGURATION, r.offset()))?;
                let mut input = SliceInput::with_base(&item, base);
                let mut d = Decoder::new(&mut input, Options::STRICT);
                let h = d.expect(CONFIGURATION)?;
                let mut c = Configuration::default();
                ber::load_struct_at(&mut d, &h, &mut c, 1)?;
                super::check_configuration(&c, h.offset)?;
                configuration = Some((c, h.offset));
            }
            _ => break,
        }
    }
    Ok(Prelude {
        version,
        description,
        configuration,
    })
}

/// Reads a description item: its text and offset.
fn read_description(r: &mut StreamInput<'_>) -> Result<(String, u64)> {
    let (item, base) = read_item(r)?.ok_or_else(|| missing(DESCRIPTION, r.offset()))?;
    let mut input = SliceInput::with_base(&item, base);
    let mut d = Decoder::new(&mut input, Options::STRICT);
    let h = d.expect(DESCRIPTION)?;
    Ok((text(&mut d, &h)?, base))
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
    /// The description (vmdesc JSON), with its offset: before the first device
    /// section, after the RAM.
    Description(String, u64),
}

/// Reads the next record, or `None` at the stream's end-of-contents.
pub fn read_record<'a>(r: &mut StreamInput<'a>) -> Result<Option<Record<'a>>> {
    if peek_item(r)?.is_some_and(|h| h.tag == DESCRIPTION) {
        let (text, at) = read_description(r)?;
        return Ok(Some(Record::Description(text, at)));
    }
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

/// How an [`Items`] visitor takes a section record.
pub enum Take {
    /// Read whole by the reader, then handed to [`Items::section`].
    Whole,
    /// Streamed by the visitor ([`Items::stream`]): a RAM part too large to hold.
    Streamed,
}

/// What reads the items of a BER stream: [`read_items`] hands it each one,
/// resolved and checked, so that no reader of the format has an item loop of its
/// own (the registry's load, the tree decoder, the converter).
pub trait Items<'a> {
    /// A command record (checked as QEMU checks it) at `at`.
    fn command(&mut self, c: Command, at: u64) -> Result<()>;

    /// The description (vmdesc JSON) at `at`.
    fn description(&mut self, text: String, at: u64) -> Result<()>;

    /// Before an item is read whole, its header (a converter bounds what it holds).
    fn hold(&mut self, item: &Header) -> Result<()> {
        let _ = item;
        Ok(())
    }

    /// How to take the section record whose head is `head` (not consumed yet),
    /// of section `ident`.
    fn take(&mut self, head: &SectionHead, ident: &SectionId) -> Result<Take> {
        let _ = (head, ident);
        Ok(Take::Whole)
    }

    /// A section record read whole.
    fn section(&mut self, s: SectionRecord<'a>, ident: &SectionId) -> Result<()>;

    /// A section record the visitor reads from `r` itself (it asked to, by
    /// [`take`](Self::take)), from its first octet to its last.
    fn stream(
        &mut self,
        head: &SectionHead,
        ident: &SectionId,
        r: &mut StreamInput<'a>,
    ) -> Result<()> {
        let _ = (ident, r);
        Err(framing_error(
            "a section streamed by a reader that takes them whole",
            head.record.offset,
        ))
    }
}

/// Reads the items after the prelude into `items`, each section resolved to its
/// START by `started`, up to and including the stream's end-of-contents.
pub fn read_items<'a>(
    r: &mut StreamInput<'a>,
    started: &mut Started,
    items: &mut impl Items<'a>,
) -> Result<()> {
    loop {
        let Some(h) = peek_item(r)? else {
            return r.skip(2);
        };
        if h.tag != SECTION {
            items.hold(&h)?;
            match read_record(r)? {
                Some(Record::Command(c, at)) => items.command(c, at)?,
                Some(Record::Description(text, at)) => items.description(text, at)?,
                // A section is not here; the end was peeked above.
                _ => return Err(framing_error("a stream item", h.offset)),
            }
            continue;
        }
        let len = peek_head_len(r)?;
        let head = read_head(r.peek(len)?, h.offset)?;
        head.check_open()?;
        let ident = started.resolve(&head.header, h.offset)?;
        match items.take(&head, &ident)? {
            Take::Whole => {
                items.hold(&head.record)?;
                let Some(Record::Section(s)) = read_record(r)? else {
                    return Err(framing_error("a section record", h.offset));
                };
                items.section(s, &ident)?;
            }
            Take::Streamed => items.stream(&head, &ident, r)?,
        }
    }
}

fn read_command(item: &[u8], base: u64) -> Result<Command> {
    let fields = [
        (1, usize::from(u16::MAX), "command data"),
        (2, super::command::MAX_PACKAGE, "a package"),
    ];
    let (number, [data, package]) =
        read_numbered(item, base, COMMAND, ("command", "number"), fields)?;
    let c = Command {
        number,
        data,
        package,
    };
    c.check(base)?;
    Ok(c)
}

/// One item `[APPLICATION n]` of a number `[0]` (a uint16: a command's, a
/// return-path message's) and optional OCTET STRINGs (`fields`: their context
/// tag, largest length, name), at `base`; absent ones are empty.
pub(crate) fn read_numbered<const N: usize>(
    item: &[u8],
    base: u64,
    tag: Tag,
    (what, number): (&'static str, &'static str),
    fields: [(u32, usize, &str); N],
) -> Result<(u16, [Vec<u8>; N])> {
    let mut input = SliceInput::with_base(item, base);
    let mut d = Decoder::new(&mut input, Options::STRICT);
    let h = d.expect(tag)?;
    d.enter(&h)?;
    let nh = d.field(what, 0, number)?;
    let n = d.integer(&nh)?;
    let number = u16::try_from(n).map_err(|_| ber::out_of_range(n, "uint16", &nh))?;
    let mut out = [(); N].map(|()| Vec::new());
    for ((field, max, name), slot) in fields.into_iter().zip(&mut out) {
        let Some(dh) = d
            .peek_header()?
            .filter(|dh| dh.tag == Tag::field(field, false))
        else {
            continue;
        };
        d.input().skip(dh.header_len)?;
        let n = match dh.length {
            Length::Definite(n) if n <= max as u64 => n as usize,
            _ => {
                return Err(framing_error(
                    format!("{name} is a primitive OCTET STRING of at most {max} octets"),
                    dh.offset,
                ))
            }
        };
        *slot = d.input().take(n)?.to_vec();
    }
    d.leave(None)?;
    Ok((number, out))
}

/// An item `[APPLICATION n]` of `number` `[0]` and the non-empty ones of
/// `fields` (context tag, octets): [`read_numbered`]'s inverse.
pub(crate) fn numbered_tlv(tag: Tag, number: u16, fields: &[(u32, &[u8])]) -> Vec<u8> {
    let mut contents = int_tlv(Tag::field(0, false), number.into());
    for &(field, octets) in fields.iter().filter(|(_, o)| !o.is_empty()) {
        contents.extend(tlv(Tag::field(field, false), octets));
    }
    tlv(tag, &contents)
}

/// A section record's head: what comes before its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SectionHead {
    /// The record's header fields.
    pub header: SectionHeader,
    /// The record's own TLV header.
    pub record: Header,
    /// The header of its body, `[5]` or `[6]`.
    pub body: Header,
}

impl SectionHead {
    /// Fails unless the record is definite or a RAM part's (a device section is
    /// small, and is read whole).
    pub fn check_open(&self) -> Result<()> {
        let open =
            self.record.length == Length::Indefinite || self.body.length == Length::Indefinite;
        if open && self.header.kind == SectionKind::Full {
            return Err(framing_error(
                "a device section record must have a definite length",
                self.record.offset,
            ));
        }
        Ok(())
    }
}

/// The most octets a section record's head takes (its idstr is at most 255).
pub const HEAD_MAX: usize = 320;

/// The octets of the head of the section record at the front of `r` (up to its
/// body's header), found by peeking each header in turn: no more than the record
/// has, so a stream that pauses after it does not stall its reader.
pub fn peek_head_len(r: &mut impl Input) -> Result<usize> {
    let at = r.offset();
    let record = ber::peek_header_at(r, 0)?;
    let mut end = record.header_len;
    while end <= HEAD_MAX {
        let h = ber::peek_header_at(r, end)?;
        end += h.header_len;
        let body = h.tag.class == Class::Context && matches!(h.tag.number, 5 | 6);
        match h.length {
            // The body, `[5]` or `[6]`: the head ends with its header.
            _ if body => return Ok(end),
            Length::Definite(n) => end = end.saturating_add(n.min(HEAD_MAX as u64 + 1) as usize),
            Length::Indefinite => break,
        }
    }
    Err(framing_error(
        "a section record's head is malformed or too long",
        at,
    ))
}

/// Parses a section record's head from `bytes`, the record's first octets (at least
/// its head: the whole record, or [`peek_head_len`] octets peeked from a reader)
/// at stream offset `base`.
pub fn read_head(bytes: &[u8], base: u64) -> Result<SectionHead> {
    let mut input = SliceInput::with_base(bytes, base);
    let mut d = Decoder::new(&mut input, Options::STRICT);
    let record = d.expect(SECTION)?;
    d.enter(&record)?;
    let kh = primitive_field(&mut d, 0, "kind")?;
    let k = d.integer(&kh)?;
    let kind =
        SectionKind::from_ber_number(k).ok_or_else(|| ber::out_of_range(k, "section kind", &kh))?;
    let id = small(&mut d, 1, "section_id")?;
    let ident = if kind.names_section() {
        let nh = primitive_field(&mut d, 2, "idstr")?;
        Some(SectionId {
            idstr: text(&mut d, &nh)?,
            instance: small(&mut d, 3, "instance_id")?,
            version: small(&mut d, 4, "version")?,
            occurrence: 0,
        })
    } else {
        None
    };
    let body = d.field("section", body_field(kind), "body")?;
    Ok(SectionHead {
        header: SectionHeader { kind, id, ident },
        record,
        body,
    })
}

fn read_section(item: Cow<'_, [u8]>, base: u64) -> Result<SectionRecord<'_>> {
    let head = read_head(&item, base)?;
    head.check_open()?;
    let mut input = SliceInput::with_base(&item, base);
    let mut d = Decoder::new(&mut input, Options::STRICT);
    d.enter(&head.record)?;
    let bh = head.body;
    let from = (bh.content_offset() - base) as usize;
    d.input().skip(from)?;
    d.skip_contents(&bh)?;
    // An open body's contents end before its end-of-contents octets.
    let end_of_contents = match bh.length {
        Length::Definite(_) => 0,
        Length::Indefinite => 2,
    };
    let to = (d.offset() - base) as usize - end_of_contents;
    d.leave(None)?;
    drop(d);
    Ok(SectionRecord {
        header: head.header,
        offset: base,
        body: from..to,
        body_offset: bh.content_offset(),
        item,
    })
}

/// The header of the stream's next item, not consumed; `None` at its
/// end-of-contents octets.
fn peek_item(r: &mut StreamInput<'_>) -> Result<Option<Header>> {
    if r.peek(2)?.starts_with(&[0, 0]) {
        return Ok(None);
    }
    ber::peek_header_at(r, 0).map(Some)
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
        // Only a RAM part may be open (its section record); it is then read whole.
        if h.tag != SECTION {
            return Err(framing_error(
                "only a RAM part's section record may have an indefinite length",
                base,
            ));
        }
        return take_open_item(r).map(|item| Some((item, base)));
    };
    let total = usize::try_from(len)
        .ok()
        .and_then(|n| n.checked_add(h.header_len))
        .ok_or_else(|| Error::new(ErrorKind::UnexpectedEof, base))?;
    Ok(Some((r.take_bytes(total)?, base)))
}

/// The whole of an item of indefinite length: borrowed from a stream in memory
/// (its extent found by a walk of its headers), read from a reader as it arrives.
fn take_open_item<'a>(r: &mut StreamInput<'a>) -> Result<Cow<'a, [u8]>> {
    match r {
        StreamInput::Slice(s) => {
            let mut walk = s.clone();
            let start = walk.offset();
            walk_tlv(&mut walk, 0, &mut None)?;
            s.take((walk.offset() - start) as usize).map(Cow::Borrowed)
        }
        StreamInput::Read(input) => {
            let mut kept = Vec::new();
            walk_tlv(input, 0, &mut Some(&mut kept))?;
            Ok(Cow::Owned(kept))
        }
    }
}

/// Steps over one TLV, definite or indefinite (nested as deep as a decoder
/// allows), appending its octets to `keep` if given.
fn walk_tlv(r: &mut impl Input, depth: usize, keep: &mut Option<&mut Vec<u8>>) -> Result<()> {
    let at = r.offset();
    let h = ber::peek_header_at(r, 0)?;
    pass(r, h.header_len as u64, keep)?;
    match h.length {
        Length::Definite(n) => pass(r, n, keep),
        Length::Indefinite => {
            if depth >= Options::STRICT.max_depth {
                return Err(Error::new(ErrorKind::TooDeep(depth), at));
            }
            while r.peek(2)? != [0, 0] {
                walk_tlv(r, depth + 1, keep)?;
            }
            pass(r, 2, keep)
        }
    }
}

/// Consumes `n` octets, appending them to `keep` if given, in chunks: the buffer
/// grows with what arrives, not with a length read from the input.
fn pass(r: &mut impl Input, mut n: u64, keep: &mut Option<&mut Vec<u8>>) -> Result<()> {
    let at = r.offset();
    while n > 0 {
        let k = n.min(1 << 20) as usize;
        match keep {
            Some(v) => {
                let start = v.len();
                v.resize(start + k, 0);
                r.read_exact(&mut v[start..])
            }
            None => r.skip(k),
        }
        .map_err(|e| Error::new(e.kind().clone(), at))?;
        n -= k as u64;
    }
    Ok(())
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

/// A field of a section record's head, which must be primitive (an INTEGER or a
/// UTF8String): only its body is constructed.
fn primitive_field(
    d: &mut Decoder<'_, SliceInput<'_>>,
    number: u32,
    name: &'static str,
) -> Result<Header> {
    let h = d.field("section", number, name)?;
    if h.tag.constructed {
        return Err(Error::new(
            ErrorKind::MalformedBer(format!("section field {name} must be primitive")),
            h.offset,
        ));
    }
    Ok(h)
}

fn small(d: &mut Decoder<'_, SliceInput<'_>>, number: u32, name: &'static str) -> Result<u32> {
    let h = primitive_field(d, number, name)?;
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
            put_prelude(&mut Writer::new(&mut stream), VERSION, None).unwrap();
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
                occurrence: 0,
            }),
        };
        let part = SectionHeader {
            kind: SectionKind::Part,
            id: 2,
            ident: None,
        };
        let elements = [0xa1, 0x03, 0x0c, 0x01, 0x61];
        let mut stream = Vec::new();
        put_prelude(&mut Writer::new(&mut stream), VERSION, None).unwrap();
        put_command(&mut stream, &Command::switchover_start());
        // A part written open, its elements in two pieces.
        let mut w = Writer::new(&mut stream);
        put_open_section(&mut w, &part).unwrap();
        w.put(&elements[..2]).unwrap();
        w.put(&elements[2..]).unwrap();
        put_open_section_end(&mut w).unwrap();
        put_description(&mut Writer::new(&mut stream), "{}").unwrap();
        put_section(&mut stream, &h, &[0x30, 0x03, 0x80, 0x01, 0x02]);
        let ping = Command::new(2, vec![0, 0, 0, 7]);
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
            assert_eq!((p.version, p.description), (VERSION, None));
            let Some(Record::Command(c, _)) = read_record(&mut r).unwrap() else {
                panic!("a command first");
            };
            assert_eq!(c, Command::switchover_start());
            let Some(Record::Section(s)) = read_record(&mut r).unwrap() else {
                panic!("then the open part");
            };
            assert_eq!(s.header, part);
            assert_eq!(s.body(), elements);
            assert_eq!(&stream[s.body_offset as usize..][..5], s.body());
            let Some(Record::Description(text, _)) = read_record(&mut r).unwrap() else {
                panic!("then the description");
            };
            assert_eq!(text, "{}");
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
