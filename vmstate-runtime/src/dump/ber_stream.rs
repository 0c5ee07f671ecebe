//! vmstate's BER stream, and the generic BER codec of device bodies that follows a
//! vmdesc description.
//!
//! The framing is `VMState-Stream` of the ASN.1 that
//! [`Module::with_stream`](crate::ber::asn1::Module::with_stream) renders: an
//! indefinite `[APPLICATION 0]` holding the header `[APPLICATION 1]`, the
//! description `[APPLICATION 5]` (the vmdesc JSON), the configuration
//! `[APPLICATION 3]`, then one `[APPLICATION 4]` record per section in stream order:
//! kind `[0]`, section id `[1]`, idstr `[2]`, instance `[3]` and version `[4]` (start
//! and full), then the device's value `[5]` (full) or the RAM elements `[6]`.
//!
//! A device body is a SEQUENCE of its fields, each `[tag]` (the vmdesc entry's `tag`
//! member, which vmstate writes for typed devices, else the field's position), with
//! the same element encodings as the derive's BER codec, so a reader needs the
//! description only for names and widths.

use super::desc::{elements, scalar_bytes, Desc, Group};
use super::{bad, Descriptions};
use crate::ber::{self, Class, Decoder, Header, Length, Options, Tag};
use crate::error::{Error, ErrorKind, Result};
use crate::io::{SliceInput, Writer};
use crate::ram;
use crate::stream::Configuration;
use crate::VMState;
use serde_json::{json, Map, Value};

/// `[APPLICATION 0]`: the stream.
pub const STREAM: Tag = Tag::application(0);
/// `[APPLICATION 1]`: the header.
pub const HEADER: Tag = Tag::application(1);
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

/// Whether `bytes` starts like a vmstate BER stream.
pub fn is_ber(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0x60, 0x80])
}

/// A definite-length TLV.
pub(crate) fn tlv(tag: Tag, contents: &[u8]) -> Vec<u8> {
    let mut w = Writer::new(Vec::with_capacity(contents.len() + 6));
    // Writing into a Vec cannot fail.
    let _ = ber::put_header(&mut w, tag, contents.len());
    let mut out = w.into_inner();
    out.extend_from_slice(contents);
    out
}

fn int_tlv(tag: Tag, v: i128) -> Vec<u8> {
    let mut w = Writer::new(Vec::new());
    let _ = ber::put_int(&mut w, v);
    tlv(tag, &w.into_inner())
}

fn ctx(n: u32, constructed: bool) -> Tag {
    Tag {
        class: Class::Context,
        constructed,
        number: n,
    }
}

/// Encodes the tree as a BER stream.
pub fn to_ber(tree: &Value) -> Result<Vec<u8>> {
    to_ber_with(tree, &mut super::tree_ram)
}

pub(crate) fn to_ber_with(tree: &Value, ram_of: &mut super::RamOf<'_, '_>) -> Result<Vec<u8>> {
    let (vmdesc, descs) = Descriptions::of_tree(tree)?;
    let mut out = vec![0x60, 0x80];
    let version = tree
        .get("stream_version")
        .and_then(Value::as_u64)
        .unwrap_or(3);
    out.extend(tlv(HEADER, &int_tlv(Tag::INTEGER, version.into())));
    out.extend(tlv(DESCRIPTION, vmdesc.as_bytes()));
    if let Some(c) = tree.get("configuration").filter(|c| !c.is_null()) {
        let cfg = super::configuration_from_json(c)?;
        let mut w = Writer::new(Vec::new());
        cfg.ber_save_at(&mut w, 1)?;
        out.extend(tlv(CONFIGURATION, &w.into_inner()));
    }
    let mut started: Vec<(u64, String, u64)> = Vec::new();
    for sec in tree
        .get("sections")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        section_ber(sec, &descs, &mut started, ram_of, &mut out)?;
    }
    out.extend_from_slice(&[0, 0]);
    Ok(out)
}

fn section_ber(
    sec: &Value,
    descs: &Descriptions,
    started: &mut Vec<(u64, String, u64)>,
    ram_of: &mut super::RamOf<'_, '_>,
    out: &mut Vec<u8>,
) -> Result<()> {
    let kind = sec.get("type").and_then(Value::as_str).unwrap_or("");
    let k = match kind {
        "start" => 1,
        "part" => 2,
        "end" => 3,
        "full" => 4,
        other => return Err(bad(format!("unknown section type {other:?}"))),
    };
    let id = super::num(sec, "section_id")?;
    if matches!(kind, "start" | "full") {
        let idstr = sec.get("idstr").and_then(Value::as_str).unwrap_or("");
        started.push((id, idstr.to_owned(), super::num(sec, "instance_id")?));
    }
    let (_, idstr, inst) = started.last().cloned().unwrap_or_default();
    let header = match kind {
        "start" | "full" => Some((
            idstr.as_str(),
            inst as u32,
            super::num(sec, "version")? as u32,
        )),
        _ => None,
    };
    let body = if kind == "full" {
        let d = descs.get(&idstr, inst)?;
        let v = sec
            .get("value")
            .ok_or_else(|| bad(format!("{idstr}: no value")))?;
        tlv(
            Tag::SEQUENCE,
            &struct_contents(d, v).map_err(|e| e.in_device(&idstr))?,
        )
    } else {
        ram::runs::records_to_ber(&ram_of(sec)?)?
    };
    section_record(out, k, id as u32, header, &body);
    Ok(())
}

/// A section record: `kind` (1 start, 2 part, 3 end, 4 full), its id, the header
/// (idstr, instance, version) of a start or full record, and its body: a device's
/// BER value (full, field `[5]`) or a part's TLVs (field `[6]`).
pub(crate) fn section_record(
    out: &mut Vec<u8>,
    kind: u8,
    id: u32,
    header: Option<(&str, u32, u32)>,
    body: &[u8],
) {
    let mut head = [
        int_tlv(ctx(0, false), kind.into()),
        int_tlv(ctx(1, false), id.into()),
    ]
    .concat();
    if let Some((idstr, instance, version)) = header {
        head.extend(tlv(ctx(2, false), idstr.as_bytes()));
        head.extend(int_tlv(ctx(3, false), instance.into()));
        head.extend(int_tlv(ctx(4, false), version.into()));
    }
    let body_tag = ctx(if kind == 4 { 5 } else { 6 }, true);
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

/// The BER contents of a struct described by `d` with value `v`.
fn struct_contents(d: &Desc, v: &Value) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    for g in &d.groups {
        let f = v
            .get(&g.name)
            .ok_or_else(|| bad(format!("{}: no value for field {}", d.name, g.name)))?;
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
                list.extend(tlv(universal(g, c), &body));
            }
            (true, list)
        } else {
            element(g, 0, elems[0], &d.name)?
        };
        out.extend(tlv(ctx(g.tag, constructed), &contents));
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
                tlv(Tag::SEQUENCE, &struct_contents(s, body)?),
            ]
            .concat();
            list.extend(tlv(ctx(s.tag, true), &entry));
        }
        out.extend(tlv(Tag::SUBSECTIONS, &list));
    }
    Ok(out)
}

/// The universal tag of an element with the given form.
fn universal(g: &Group, constructed: bool) -> Tag {
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
            let mut w = Writer::new(Vec::new());
            let _ = ber::put_int(&mut w, v);
            (false, w.into_inner())
        }
        _ => (false, bytes),
    })
}

/// What comes before a BER stream's sections.
pub(crate) struct Prelude {
    /// The legacy stream version it was made from (3).
    pub version: i128,
    /// The description (vmdesc JSON).
    pub description: String,
    /// The configuration section, with the offset of its header.
    pub configuration: Option<(Configuration, u64)>,
}

/// Enters the stream and reads its header, description and configuration.
pub(crate) fn read_prelude(d: &mut Decoder<'_, SliceInput<'_>>) -> Result<Prelude> {
    let h = d.expect(STREAM)?;
    d.enter(&h)?;
    let h = d.expect(HEADER)?;
    d.enter(&h)?;
    let hv = d.expect(Tag::INTEGER)?;
    let version = d.integer(&hv)?;
    d.leave(None)?;
    let h = d.expect(DESCRIPTION)?;
    let description = read_text(d, &h)?;
    let mut configuration = None;
    if d.peek_header()?.is_some_and(|h| h.tag == CONFIGURATION) {
        let h = d.next_header(&CONFIGURATION)?;
        let mut cfg = Configuration::default();
        ber::load_struct_at(d, &h, &mut cfg, 1)?;
        configuration = Some((cfg, h.offset));
    }
    Ok(Prelude {
        version,
        description,
        configuration,
    })
}

/// Decodes a BER stream into the tree.
pub(crate) fn from_ber<'a>(bytes: &'a [u8], ram: &mut super::RamParts<'_, 'a>) -> Result<Value> {
    let mut input = SliceInput::new(bytes);
    let mut d = Decoder::new(&mut input, Options::STRICT);
    let Prelude {
        version,
        description: text,
        configuration,
    } = read_prelude(&mut d)?;
    let descs = Descriptions::parse(&text)?;
    let configuration = configuration.map_or(Value::Null, |(c, _)| super::configuration_json(&c));
    let mut sections = Vec::new();
    let mut started: Vec<(u64, String, u64, u64)> = Vec::new();
    let mut ram_blocks = Vec::new();
    while d.peek_header()?.is_some() {
        let h = d.expect(SECTION)?;
        sections.push(section_from_ber(
            &mut d,
            ram,
            &h,
            &descs,
            &mut started,
            &mut ram_blocks,
        )?);
    }
    d.leave(None)?;
    let rest = bytes.len() as u64 - d.offset();
    if rest > 0 {
        return Err(Error::new(ErrorKind::TrailingBytes(rest), d.offset()));
    }
    Ok(json!({
        "stream_version": u64::try_from(version).unwrap_or(0),
        "configuration": configuration,
        "sections": sections,
        "vmdesc": text,
    }))
}

fn read_text(d: &mut Decoder<'_, SliceInput<'_>>, h: &Header) -> Result<String> {
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

fn small_int(d: &mut Decoder<'_, SliceInput<'_>>, h: &Header) -> Result<u64> {
    let v = d.integer(h)?;
    u64::try_from(v).map_err(|_| ber::out_of_range(v, "uint64", h))
}

fn section_from_ber<'a>(
    d: &mut Decoder<'_, SliceInput<'a>>,
    ram: &mut super::RamParts<'_, 'a>,
    h: &Header,
    descs: &Descriptions,
    started: &mut Vec<(u64, String, u64, u64)>,
    ram_blocks: &mut Vec<(String, u64)>,
) -> Result<Value> {
    d.enter(h)?;
    let mut o = Map::new();
    let kh = d.field("section", 0, "kind")?;
    let kind = match d.integer(&kh)? {
        1 => "start",
        2 => "part",
        3 => "end",
        4 => "full",
        k => return Err(ber::out_of_range(k, "section kind", &kh)),
    };
    o.insert("type".into(), kind.into());
    let ih = d.field("section", 1, "section_id")?;
    let id = small_int(d, &ih)?;
    o.insert("section_id".into(), id.into());
    if matches!(kind, "start" | "full") {
        let nh = d.field("section", 2, "idstr")?;
        let idstr = read_text(d, &nh)?;
        let ih = d.field("section", 3, "instance_id")?;
        let inst = small_int(d, &ih)?;
        let vh = d.field("section", 4, "version")?;
        let version = small_int(d, &vh)?;
        o.insert("idstr".into(), idstr.clone().into());
        o.insert("instance_id".into(), inst.into());
        o.insert("version".into(), version.into());
        started.push((id, idstr, inst, version));
    }
    let (_, idstr, inst, _) = started
        .iter()
        .rev()
        .find(|s| s.0 == id)
        .cloned()
        .ok_or_else(|| bad(format!("part of unknown section {id}")))?;
    if kind == "full" {
        let desc = descs.get(&idstr, inst)?;
        let bh = d.field("section", 5, "device")?;
        d.enter(&bh)?;
        let body = d.next_header(&"a device value")?;
        let v = device_value(d, &body, desc).map_err(|e| e.in_device(&idstr))?;
        d.leave(None)?;
        o.insert("value".into(), v);
    } else {
        let rh = d.field("section", 6, "ram")?;
        d.enter(&rh)?;
        let records = ram::runs::ber_to_records(d, ram_blocks)?;
        d.leave(None)?;
        let (key, part) = ram.part(records)?;
        o.insert(key.into(), part);
    }
    d.leave(None)?;
    Ok(Value::Object(o))
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
