//! The tree from and to a BER stream: records through [`crate::framing::ber`],
//! device values through a generic BER codec that follows their vmdesc
//! descriptions.
//!
//! A device body is a SEQUENCE of its fields, each `[tag]` (the vmdesc entry's `tag`
//! member, which vmstate writes for typed devices, else the field's position), with
//! the same element encodings as the derive's BER codec, so a reader needs the
//! description only for names and widths.

use super::desc::{elements, encode_legacy, scalar_bytes, Desc, Group};
use super::{
    bad, command_entry, command_object, configuration_json, device_of, section_object, tree_ram,
    Descriptions, Entry, Limits, Parts, RamOf, RamParts,
};
use crate::ber::{self, Class, Decoder, Header, Length, Options, Tag};
use crate::error::{Error, ErrorKind, Result};
use crate::framing::ber::{self as records, int_tlv, tlv};
use crate::framing::{Command, SectionId, SectionKind, VERSION};
use crate::io::{Input, SliceInput, StreamInput, Writer};
use crate::ram;
use serde_json::{json, Map, Value};

/// Encodes the tree as a BER stream.
pub fn to_ber(tree: &Value) -> Result<Vec<u8>> {
    to_ber_with(tree, &mut tree_ram)
}

pub(super) fn to_ber_with(tree: &Value, ram_of: &mut RamOf<'_, '_>) -> Result<Vec<u8>> {
    let parts = Parts::of(tree)?;
    let version = tree
        .get("stream_version")
        .and_then(Value::as_u64)
        .map_or(Ok(VERSION), u32::try_from)
        .map_err(|_| bad("stream_version does not fit 32 bits"))?;
    let mut w = Writer::new(Vec::new());
    records::put_prelude(&mut w, version, parts.configuration.as_ref())?;
    // The description goes before the first device: a section, or a package.
    let mut described = false;
    let mut describe = |w: &mut Writer<Vec<u8>>| match std::mem::replace(&mut described, true) {
        false => records::put_description(w, parts.vmdesc),
        true => Ok(()),
    };
    for (sec, entry) in &parts.sections {
        let h = match entry {
            Entry::Command(c) => {
                if !c.package.is_empty() {
                    describe(&mut w)?;
                }
                put_command(&mut w, c)?;
                continue;
            }
            Entry::Section(h) => h,
        };
        match &h.ident {
            Some(ident) if h.kind == SectionKind::Full => {
                describe(&mut w)?;
                let (d, v) = device_of(&parts.descs, sec, ident)?;
                put_device(&mut w, h, d, v)?;
            }
            _ => {
                let mut part = ram::ber::PartRecord::new(h.clone());
                for r in ram_of(sec)? {
                    part.push(&r, &mut w, None)?;
                }
                part.finish(&mut w, None)?;
            }
        }
    }
    if !described {
        records::put_description(&mut w, parts.vmdesc)?;
    }
    records::put_end(&mut w)?;
    Ok(w.into_inner())
}

/// Writes a command record.
pub(super) fn put_command<W: std::io::Write>(
    w: &mut Writer<W>,
    c: &crate::framing::Command,
) -> Result<()> {
    let mut out = Vec::new();
    records::put_command(&mut out, c);
    w.put(&out)
}

/// Writes a device's section record: `v`, described by `d`, at the section's
/// version.
pub(super) fn put_device<W: std::io::Write>(
    w: &mut Writer<W>,
    h: &crate::framing::SectionHeader,
    d: &Desc,
    v: &Value,
) -> Result<()> {
    let Some(ident) = &h.ident else {
        return Err(bad("a device section names its device"));
    };
    let body = device_ber(d, v, ident.version).map_err(|e| e.in_device(&ident.idstr))?;
    let mut out = Vec::new();
    records::put_section(&mut out, h, &body);
    w.put(&out)
}

/// A device's BER value at `version`: a legacy blob where the description says so,
/// else structured.
fn device_ber(d: &Desc, v: &Value, version: u32) -> Result<Vec<u8>> {
    if d.is_blob_at(version) {
        let mut w = Writer::new(Vec::new());
        encode_legacy(d, v, &mut w)?;
        return Ok(tlv(Tag::OCTET_STRING, &w.into_inner()));
    }
    Ok(tlv(d.value_tag(), &struct_contents(d, v)?))
}

/// Whether a field's value is padding of zeros, which typed devices do not send
/// (a decoder restores it), so that the tree re-encodes as they wrote it.
fn is_zero_padding(g: &Group, f: &Value) -> bool {
    g.is_unused() && f.as_str().is_some_and(|h| h.bytes().all(|b| b == b'0'))
}

/// The BER contents of a struct described by `d` with value `v`.
fn struct_contents(d: &Desc, v: &Value) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    for g in &d.groups {
        let f = v
            .get(&g.name)
            .ok_or_else(|| bad(format!("{}: no value for field {}", d.name, g.name)))?;
        if is_zero_padding(g, f) {
            continue;
        }
        let elems = elements(g, f)?;
        let (constructed, contents) = if g.is_array && g.is_octets() {
            let bytes = elems
                .iter()
                .map(|e| scalar_bytes(g, e, &d.name).map(|b| b[0]))
                .collect::<Result<Vec<u8>>>()?;
            (false, bytes)
        } else if g.is_array {
            let mut list = Vec::new();
            for (i, e) in elems.iter().enumerate() {
                let (c, body) = element(g, i, e, &d.name)?;
                list.push(tlv(element_tag(g, i, c), &body));
            }
            (true, nest(list, &g.nested).concat())
        } else {
            element(g, 0, elems[0], &d.name)?
        };
        out.extend(tlv(Tag::field(g.tag, constructed), &contents));
    }
    if !d.subsections.is_empty() {
        let mut list = Vec::new();
        for s in &d.subsections {
            let body = v
                .get("subsections")
                .and_then(|x| x.get(&s.name))
                .ok_or_else(|| bad(format!("{}: no value for subsection {}", d.name, s.name)))?;
            let entry = [
                tlv(Tag::UTF8_STRING, s.name.as_bytes()),
                int_tlv(Tag::INTEGER, s.version.into()),
                tlv(s.value_tag(), &struct_contents(s, body)?),
            ]
            .concat();
            list.extend(tlv(Tag::field(s.tag, true), &entry));
        }
        out.extend(tlv(Tag::SUBSECTIONS, &list));
    }
    Ok(out)
}

/// Groups element TLVs into the SEQUENCE OFs of nested arrays, innermost first
/// (`[[u64; 4]; 10]`: forty elements, ten SEQUENCE OFs of four).
fn nest(mut tlvs: Vec<Vec<u8>>, lengths: &[usize]) -> Vec<Vec<u8>> {
    for &n in lengths.iter().rev() {
        tlvs = tlvs
            .chunks(n)
            .map(|row| tlv(Tag::SEQUENCE, &row.concat()))
            .collect();
    }
    tlvs
}

/// The tag of element `i` with the given form: a struct's own, else universal.
fn element_tag(g: &Group, i: usize, constructed: bool) -> Tag {
    if let Some(s) = g.structs.get(i) {
        return s.value_tag();
    }
    match (constructed, g.int_kind(), g.ty.as_str()) {
        (true, ..) => Tag::SEQUENCE,
        (false, Some(_), _) => Tag::INTEGER,
        (false, None, "bool") => Tag::BOOLEAN,
        _ => Tag::OCTET_STRING,
    }
}

/// One element's form and contents.
fn element(g: &Group, i: usize, e: &Value, within: &str) -> Result<(bool, Vec<u8>)> {
    if let Some(s) = g.structs.get(i) {
        return Ok((true, struct_contents(s, e)?));
    }
    let bytes = scalar_bytes(g, e, within)?;
    Ok(match (e, g.is_integer(), g.int_kind()) {
        (Value::Bool(b), ..) if g.ty == "bool" => (false, vec![if *b { 0xff } else { 0 }]),
        // `is_integer`: 1 to 8 octets, so `bytes[0]` exists.
        (_, true, Some(signed)) => {
            let mut v: i128 = if signed && bytes[0] & 0x80 != 0 {
                -1
            } else {
                0
            };
            for b in &bytes {
                v = (v << 8) | i128::from(*b);
            }
            (false, ber::int_contents(v))
        }
        _ => (false, bytes),
    })
}

/// The tree decoder's side of [`records::read_items`]: each record a section of
/// the tree.
struct Tree<'t, 'r, 'a> {
    sections: Vec<Value>,
    description: Option<String>,
    descs: Option<Descriptions>,
    /// The block list of the RAM section, from its START.
    ram_blocks: Vec<ram::ListedBlock>,
    /// What the reader of a compressed stream keeps (`ram::ber::wire`).
    ram_wire: ram::ber::Received,
    pages_left: u64,
    ram: &'t mut RamParts<'r, 'a>,
    limits: &'t Limits,
}

impl Tree<'_, '_, '_> {
    /// Counts one more section (or command) against the limit.
    fn count(&self, at: u64) -> Result<()> {
        Limits::check(
            "sections",
            self.sections.len() as u64 + 1,
            self.limits.sections,
            at,
        )
    }
}

impl<'a> records::Items<'a> for Tree<'_, '_, 'a> {
    fn command(&mut self, c: Command, at: u64) -> Result<()> {
        self.count(at)?;
        let entry = match (&self.descs, c.package.is_empty()) {
            (_, true) => command_object(&c),
            // The package is QEMU's bytes inside the command's item: its
            // records' offsets count from the command's, and an error there
            // is at the command.
            (Some(descs), false) => {
                command_entry(&c, at, descs, self.limits).map_err(|e| e.at(at))?
            }
            (None, false) => return Err(missing_description(at)),
        };
        self.sections.push(entry);
        Ok(())
    }

    fn description(&mut self, text: String, at: u64) -> Result<()> {
        if self.description.is_some() {
            return Err(crate::framing::framing_error("a second description", at));
        }
        self.descs = Some(Descriptions::parse(&text, self.limits)?);
        self.description = Some(text);
        Ok(())
    }

    fn section(&mut self, s: records::SectionRecord<'a>, ident: &SectionId) -> Result<()> {
        self.count(s.offset)?;
        // The only iterative section the dump reads is RAM, as in a legacy stream
        // (whose parts it could not step over otherwise).
        if s.header.kind != SectionKind::Full && ident.idstr != "ram" {
            return Err(crate::framing::framing_error(
                format!("cannot step over iterative section {}", ident.idstr),
                s.offset,
            ));
        }
        let mut o = section_object(&s.header);
        // In memory, so the body is borrowed and RAM records may borrow it.
        let body = s
            .borrowed_body()
            .ok_or_else(|| bad("a stream in memory lends its bodies"))?;
        let mut input = SliceInput::with_base(body, s.body_offset);
        let mut d = Decoder::new(&mut input, Options::STRICT);
        d.enter_contents(body.len() as u64)?;
        if s.header.kind == SectionKind::Full {
            let v = device_of_record(&mut d, self.descs.as_ref(), ident, s.offset)?;
            d.leave(None)?;
            o.insert("value".into(), v);
        } else {
            // The tree holds every page; a summary holds one part's at a time.
            if matches!(self.ram, RamParts::Summary(_)) {
                self.pages_left = u64::MAX;
            }
            let records = ram::ber::ber_to_records(
                &mut d,
                &mut self.ram_blocks,
                &mut self.ram_wire,
                &mut self.pages_left,
            )?;
            d.leave(None)?;
            let (key, part) = self.ram.part(records)?;
            o.insert(key.into(), part);
        }
        self.sections.push(Value::Object(o));
        Ok(())
    }
}

/// Decodes a BER stream into the tree.
pub(super) fn from_ber<'a>(
    bytes: &'a [u8],
    ram: &mut RamParts<'_, 'a>,
    limits: &Limits,
) -> Result<Value> {
    let mut r = StreamInput::Slice(SliceInput::new(bytes));
    let prelude = records::read_prelude(&mut r)?;
    let description = prelude.description;
    let descs = match &description {
        Some(text) => Some(Descriptions::parse(text, limits)?),
        None => None,
    };
    let configuration = prelude
        .configuration
        .map_or(Ok(Value::Null), |(c, _)| configuration_json(&c))?;
    let mut tree = Tree {
        sections: Vec::new(),
        description,
        descs,
        ram_blocks: Vec::new(),
        ram_wire: Default::default(),
        pages_left: limits.tree_pages,
        ram,
        limits,
    };
    records::read_items(&mut r, &mut crate::framing::Started::default(), &mut tree)?;
    let Tree {
        sections,
        description,
        ..
    } = tree;
    let rest = r.peek(1)?.len();
    if rest > 0 {
        let at = r.offset();
        return Err(Error::new(
            ErrorKind::TrailingBytes((bytes.len() as u64).saturating_sub(at)),
            at,
        ));
    }
    let description = description.ok_or_else(|| missing_description(r.offset()))?;
    Ok(json!({
        "stream_version": prelude.version,
        "configuration": configuration,
        "sections": sections,
        "vmdesc": description,
    }))
}

fn missing_description(at: u64) -> Error {
    crate::framing::framing_error("no description before this device section", at)
}

/// The value of a device section's body (the decoder is inside it): decoded by
/// its description, and held to what its legacy form requires (each struct's
/// size as the description gives it), so that a BER stream decodes only if its
/// legacy form would.
pub(super) fn device_of_record(
    d: &mut Decoder<'_, SliceInput<'_>>,
    descs: Option<&Descriptions>,
    ident: &crate::framing::SectionId,
    at: u64,
) -> Result<Value> {
    let desc = descs.ok_or_else(|| missing_description(at))?.get(ident)?;
    let h = d.next_header(&"a device value")?;
    let v = device_value(d, &h, desc).map_err(|e| e.in_device(&ident.idstr))?;
    encode_legacy(desc, &v, &mut Writer::new(std::io::sink()))
        .map_err(|e| e.in_device(&ident.idstr))?;
    Ok(v)
}

/// A device's value: structured, or a legacy blob decoded through its description.
fn device_value(d: &mut Decoder<'_, SliceInput<'_>>, h: &Header, desc: &Desc) -> Result<Value> {
    if h.tag == Tag::OCTET_STRING {
        // The decoder refuses indefinite primitives; still, no panic on input.
        let Length::Definite(n) = h.length else {
            return Err(Error::new(
                ErrorKind::MalformedBer("an indefinite primitive".into()),
                h.offset,
            ));
        };
        let base = d.offset();
        let raw = d.input().take(usize::try_from(n).unwrap_or(usize::MAX))?;
        return super::decode_body(desc, raw, base);
    }
    d.enter(h)?;
    let v = struct_value(d, desc)?;
    d.leave(None)?;
    Ok(v)
}

fn struct_value(d: &mut Decoder<'_, SliceInput<'_>>, desc: &Desc) -> Result<Value> {
    let mut m = Map::new();
    for g in &desc.groups {
        let present = d
            .peek_header()?
            .is_some_and(|h| h.tag.class == Class::Context && h.tag.number == g.tag);
        if !present {
            if g.ty == "unused_buffer" {
                // Typed devices do not send padding: it is zeros.
                m.insert(
                    g.name.clone(),
                    ber::octets_json(&vec![0; g.size.min(1 << 20)]),
                );
                continue;
            }
            let at = d.offset();
            return Err(Error::new(ErrorKind::MissingField, at).in_named_field(&g.name));
        }
        let h = d.next_header(&"a field")?;
        let v = group_value(d, &h, g).map_err(|e| e.in_named_field(&g.name))?;
        m.insert(g.name.clone(), v);
    }
    if !desc.subsections.is_empty() {
        let mut subs = Map::new();
        if d.begin_subsections()? {
            while let Some(e) = d.next_subsection()? {
                let s = desc
                    .subsections
                    .iter()
                    .find(|s| s.name == e.name)
                    .ok_or_else(|| {
                        Error::new(ErrorKind::UnknownSubsection(e.name.clone()), e.offset)
                    })?;
                let bh = d.expect(Tag::SEQUENCE)?;
                d.enter(&bh)?;
                subs.insert(s.name.clone(), struct_value(d, s)?);
                d.leave(None)?;
                d.leave(None)?;
            }
        }
        m.insert("subsections".into(), Value::Object(subs));
    }
    Ok(Value::Object(m))
}

fn group_value(d: &mut Decoder<'_, SliceInput<'_>>, h: &Header, g: &Group) -> Result<Value> {
    if !g.is_array {
        return element_value(d, h, g, 0);
    }
    if g.is_octets() && !h.tag.constructed {
        let mut buf = vec![0u8; g.count.min(1 << 20)];
        d.octets(h, buf.len(), &mut |input, pos, n| {
            crate::io::Input::read_exact(input, &mut buf[pos..pos + n])
        })?;
        return Ok(Value::Array(buf.into_iter().map(Value::from).collect()));
    }
    d.enter(h)?;
    let mut out = Vec::new();
    collect_elements(d, g, &mut out)?;
    d.leave(None)?;
    if out.len() != g.count {
        return Err(Error::new(
            ErrorKind::SizeMismatch {
                expected: g.count as u64,
                found: out.len() as u64,
            },
            h.offset,
        ));
    }
    Ok(Value::Array(out))
}

/// Elements of an array, flattening nested SEQUENCE OFs of scalars (a Rust
/// `[[u16; 2]; 3]` is six `uint16` in the vmdesc).
fn collect_elements(
    d: &mut Decoder<'_, SliceInput<'_>>,
    g: &Group,
    out: &mut Vec<Value>,
) -> Result<()> {
    while d.peek_header()?.is_some() {
        if out.len() >= g.count {
            return Err(Error::new(
                ErrorKind::SizeMismatch {
                    expected: g.count as u64,
                    found: out.len() as u64 + 1,
                },
                d.offset(),
            ));
        }
        let h = d.next_header(&"an element")?;
        if h.tag.constructed && !g.is_struct() {
            d.enter(&h)?;
            collect_elements(d, g, out)?;
            d.leave(None)?;
        } else {
            let i = out.len();
            out.push(element_value(d, &h, g, i).map_err(|e| e.in_index(i))?);
        }
    }
    Ok(())
}

fn element_value(
    d: &mut Decoder<'_, SliceInput<'_>>,
    h: &Header,
    g: &Group,
    i: usize,
) -> Result<Value> {
    if let Some(s) = g.structs.get(i) {
        d.enter(h)?;
        let v = struct_value(d, s)?;
        d.leave(None)?;
        return Ok(v);
    }
    match g.int_kind() {
        Some(signed)
            if g.is_integer()
                && !h.tag.constructed
                && h.tag != Tag::OCTET_STRING
                && h.tag != Tag::BOOLEAN =>
        {
            let v = d.integer(h)?;
            let bits = 8 * g.size as u32;
            let fits = match (signed, bits) {
                (_, 0) | (_, 65..) => false,
                (true, b) => v >= -(1i128 << (b - 1)) && v < (1i128 << (b - 1)),
                (false, b) => v >= 0 && v < (1i128 << b),
            };
            if !fits {
                return Err(ber::out_of_range(v, "the field's width", h));
            }
            Ok(if signed {
                Value::from(v as i64)
            } else {
                Value::from(v as u64)
            })
        }
        // A bool is BOOLEAN (0x00 / 0xff); any other octet is a raw byte that a
        // legacy stream carried where a bool belongs.
        _ if g.ty == "bool" && !h.tag.constructed && h.length == Length::Definite(1) => {
            let b = crate::io::Input::read_array::<1>(d.input())?[0];
            Ok(match b {
                0 => Value::Bool(false),
                0xff => Value::Bool(true),
                other => ber::octets_json(&[other]),
            })
        }
        _ => {
            let mut buf = vec![0u8; g.size.min(1 << 24)];
            d.octets(h, buf.len(), &mut |input, pos, n| {
                crate::io::Input::read_exact(input, &mut buf[pos..pos + n])
            })?;
            Ok(ber::octets_json(&buf))
        }
    }
}
