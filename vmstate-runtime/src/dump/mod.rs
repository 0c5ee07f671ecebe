//! Generic decoding of whole migration streams, without Rust device types: a legacy
//! (QEMU) stream through its own vmdesc trailer, a BER stream through its tags and
//! the description it carries. Both become one tree, a JSON value, which re-encodes
//! to the identical bytes in either format. The `vmstate` CLI is built on this.
//!
//! The tree:
//!
//! ```text
//! { "stream_version": 3,
//!   "configuration": { "machine_type": "pc-i440fx-7.2", ... },
//!   "sections": [
//!     { "type": "start", "section_id": 2, "idstr": "ram", "instance_id": 0, "version": 4,
//!       "ram": [ { "mem_size": 33554432, "blocks": [ { "name": "pc.ram", "length": 33554432 } ] } ] },
//!     { "type": "command", "command": "SWITCHOVER_START", "number": 11 },
//!     { "type": "full", "section_id": 5, "idstr": "mc146818rtc", "instance_id": 0, "version": 3,
//!       "value": { "cmos_data": "2600...", "cmos_index": 13, ..., "subsections": { ... } } },
//!     ... ],
//!   "vmdesc": "{\"page_size\": 4096, \"devices\": [...]}" }
//! ```
//!
//! QEMU's command records (QEMU 10.0 writes `SWITCHOVER_START`) stand among the
//! sections where the stream has them, with their `data` in hex when they have any.
//! Integers are numbers, buffers upper-case hex, arrays lists, nested structs objects;
//! field names and sizes come from the vmdesc, which the tree keeps verbatim so that
//! the legacy bytes can be re-emitted exactly.
//!
//! ```
//! use vmstate_runtime::dump;
//! use vmstate_runtime::stream::Registry;
//! use vmstate_runtime::{Format, VMState};
//!
//! #[derive(VMState, Clone, Default)]
//! #[vmstate(name = "port92", version = 1)]
//! struct Port92 {
//!     outport: u8,
//! }
//!
//! let mut dev = Port92 { outport: 2 };
//! let mut reg = Registry::new("pc-i440fx-7.2");
//! reg.device("port92", 0, &mut dev);
//! let stream = reg.save(Format::Legacy)?;
//! drop(reg);
//!
//! // No Rust type needed to read it: the stream's own description names the fields.
//! let tree = dump::from_bytes(&stream)?;
//! assert_eq!(tree["configuration"]["machine_type"], "pc-i440fx-7.2");
//! assert_eq!(tree["sections"][0]["idstr"], "port92");
//! assert_eq!(tree["sections"][0]["value"]["outport"], 2);
//! // Either format, losslessly.
//! let ber = dump::convert(&stream, Format::Ber)?;
//! assert_eq!(dump::convert(&ber, Format::Legacy)?, stream);
//! # Ok::<(), vmstate_runtime::Error>(())
//! ```

pub mod asn1;
mod ber;
pub mod compat;
mod desc;
mod description;
pub mod diff;
mod legacy;
mod limits;
mod stream;
mod vmdesc;
mod walk;

pub use self::ber::to_ber;
pub use self::desc::{decode_body, decode_legacy, encode_legacy, unhex, Desc, Group};
pub use self::description::Borrowed;
pub use self::legacy::to_legacy;
pub use self::limits::Limits;
pub use self::stream::{
    convert_compressed, convert_described, convert_live, convert_stream, ram_records, Carrier,
    LiveConversion, Progress,
};
pub use self::walk::{load_section, walk_legacy, LegacyStream, PlacedCommand, Section};

use self::vmdesc::Descriptions;

use crate::error::{Error, ErrorKind, Result};
use crate::format::Format;
use crate::framing::{
    self, Capabilities, Capability, Command, ConfigUuid, Configuration, Occurrences, SectionHeader,
    SectionId, SectionKind, TargetPageBits,
};
use crate::ram::{self, RamRecord};
use serde_json::{json, Map, Value};
use std::borrow::Cow;

/// Decodes a stream of either format into the tree.
pub fn from_bytes(bytes: &[u8]) -> Result<Value> {
    from_bytes_with(bytes, RamParts::Records)
}

/// What a decoded tree holds of each RAM part.
pub enum RamParts<'f, 'a> {
    /// Every record, page data in hex (`ram`): the lossless tree, which re-encodes.
    Records,
    /// Only its counts and block list (`ram_summary`); each record goes to the
    /// function instead, its page data borrowed from the stream. For tools that
    /// summarise, hash or write out a large guest's RAM: the tree stays small.
    Summary(&'f mut dyn FnMut(RamRecord<'a>) -> Result<()>),
}

impl<'a> RamParts<'_, 'a> {
    /// The tree's member for one part: its key and value.
    fn part(&mut self, records: Vec<RamRecord<'a>>) -> Result<(&'static str, Value)> {
        let RamParts::Summary(visit) = self else {
            return Ok(("ram", ram_json(&records)));
        };
        let (mut zero, mut data, mut lists, mut flushes) = (0u64, 0u64, 0u64, 0u64);
        let mut encoded = ram::Encoding::ALL.map(|e| (e, 0u64));
        let mut summary = Map::new();
        for r in records {
            match &r {
                RamRecord::MemSize {
                    blocks, regions, ..
                } => {
                    let list = blocks.iter().enumerate().map(|(i, b)| {
                        let mut o = block_json(b);
                        if let Some(region) = regions.get(i) {
                            o["held_pages"] = region.held(b.length).into();
                        }
                        o
                    });
                    summary.insert("blocks".into(), list.collect());
                    lists += 1;
                }
                RamRecord::Zero { .. } => zero += 1,
                RamRecord::Page { .. } => data += 1,
                RamRecord::MultifdFlush => flushes += 1,
                RamRecord::Encoded { encoding, .. } => {
                    for (e, n) in &mut encoded {
                        *n += u64::from(e == encoding);
                    }
                }
            }
            visit(r)?;
        }
        summary.insert("zero_pages".into(), zero.into());
        summary.insert("data_pages".into(), data.into());
        for (e, n) in encoded {
            if n > 0 {
                summary.insert(format!("{}_pages", e.name()), n.into());
            }
        }
        if flushes > 0 {
            summary.insert("multifd_flushes".into(), flushes.into());
        }
        // A part may repeat the block list; `convert` counts every record.
        if lists > 1 {
            summary.insert("block_lists".into(), lists.into());
        }
        Ok(("ram_summary", Value::Object(summary)))
    }
}

/// [`from_bytes`], with RAM parts as `ram` says.
pub fn from_bytes_with<'a>(bytes: &'a [u8], ram: RamParts<'_, 'a>) -> Result<Value> {
    from_bytes_with_limits(bytes, ram, &Limits::default())
}

/// [`from_bytes_with`] within `limits` instead of the defaults.
pub fn from_bytes_with_limits<'a>(
    bytes: &'a [u8],
    ram: RamParts<'_, 'a>,
    limits: &Limits,
) -> Result<Value> {
    decode(bytes, ram, limits, None)
}

/// [`from_bytes_with`] of a legacy stream without a vmdesc trailer (saved with
/// `-machine suppress-vmdesc=on`), its devices decoded by `description`; the
/// tree's `vmdesc` is that description, marked, so that the tree encodes back to
/// a stream without a trailer.
pub fn from_bytes_described<'a>(
    bytes: &'a [u8],
    ram: RamParts<'_, 'a>,
    description: &'a Borrowed,
) -> Result<Value> {
    decode(bytes, ram, &Limits::default(), Some(description))
}

fn decode<'a>(
    bytes: &'a [u8],
    mut ram: RamParts<'_, 'a>,
    limits: &Limits,
    borrowed: Option<&'a Borrowed>,
) -> Result<Value> {
    match (framing::detect(bytes), borrowed) {
        (Some(Format::Legacy), _) => legacy::from_legacy(bytes, &mut ram, limits, borrowed),
        (Some(Format::Ber), None) => ber::from_ber(bytes, &mut ram, limits),
        (Some(Format::Ber), Some(_)) => Err(bad(
            "a BER stream carries its own description; a borrowed one is for legacy streams",
        )),
        (None, _) => Err(framing::unknown_format(bytes)),
    }
}

/// Encodes the tree in `format`.
pub fn to_bytes(tree: &Value, format: Format) -> Result<Vec<u8>> {
    match format {
        Format::Legacy => to_legacy(tree),
        Format::Ber => to_ber(tree),
    }
}

fn bad(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::Framing(msg.into()), 0)
}

/// A section's object in the tree, before its value or RAM: its kind, id and, for
/// the kinds that carry it, its identity.
fn section_object(h: &SectionHeader) -> Map<String, Value> {
    let mut o = Map::new();
    o.insert("type".into(), h.kind.name().into());
    o.insert("section_id".into(), h.id.into());
    if let Some(s) = &h.ident {
        o.insert("idstr".into(), s.idstr.clone().into());
        o.insert("instance_id".into(), s.instance.into());
        o.insert("version".into(), s.version.into());
    }
    o
}

/// A command's object in the tree.
fn command_object(c: &Command) -> Value {
    let mut o = Map::new();
    o.insert("type".into(), "command".into());
    o.insert("command".into(), c.name().into());
    o.insert("number".into(), c.number.into());
    if !c.data.is_empty() {
        o.insert("data".into(), crate::ber::octets_json(&c.data));
    }
    if !c.package.is_empty() {
        o.insert("package".into(), crate::ber::octets_json(&c.package));
    }
    Value::Object(o)
}

/// A device section's entry in the tree: its header and its value.
fn device_entry(sec: &walk::Section<'_>, d: &Desc) -> Result<Value> {
    let v = decode_body(d, sec.body, sec.body_offset).map_err(|e| e.in_device(&sec.ident.idstr))?;
    let mut o = section_object(&SectionHeader {
        kind: sec.kind,
        id: sec.section_id,
        ident: Some(sec.ident.clone()),
    });
    o.insert("value".into(), v);
    Ok(Value::Object(o))
}

/// A command's entry in the tree; a `PACKAGED` package as the nested stream it
/// is: its records (commands, device sections with their values), read with
/// `descs`, from stream offset `package_at`.
fn command_entry(
    c: &Command,
    package_at: u64,
    descs: &Descriptions,
    limits: &Limits,
) -> Result<Value> {
    let mut o = command_object(c);
    if !c.package.is_empty() {
        let mut entries = Vec::new();
        walk::walk_package(&c.package, package_at, descs, limits, &mut |record| {
            entries.push(match record {
                walk::Record::Command(c, ..) => command_object(&c),
                walk::Record::Device(sec, d) => device_entry(&sec, d)?,
                walk::Record::Ram(sec, _) => {
                    return Err(framing::framing_error(
                        "a RAM part inside a PACKAGED package",
                        sec.body_offset,
                    ))
                }
            });
            Ok(())
        })?;
        o["package"] = Value::Array(entries);
    }
    Ok(o)
}

/// An entry of the tree's `sections`: a section or a command.
pub(crate) enum Entry {
    /// A section record's header (its value or RAM are in the entry's object).
    Section(SectionHeader),
    /// A command record.
    Command(Command),
}

/// What an entry of `sections` is (the inverse of [`section_object`] and
/// [`command_entry`]): a nested package is encoded back to QEMU's bytes with
/// `descs`.
fn entry_of(sec: &Value, descs: &Descriptions) -> Result<Entry> {
    if sec.get("type").and_then(Value::as_str) != Some("command") {
        return section_header(sec).map(Entry::Section);
    }
    let number =
        u16::try_from(num(sec, "number")?).map_err(|_| bad("a command number fits 16 bits"))?;
    let octets = |key: &str| match sec.get(key) {
        Some(Value::String(h)) => unhex(h).ok_or_else(|| bad(format!("command {key} is not hex"))),
        Some(Value::Array(entries)) if key == "package" => package_of(entries, descs),
        Some(_) => Err(bad(format!("command {key} is neither hex nor records"))),
        None => Ok(Vec::new()),
    };
    let c = Command {
        number,
        data: octets("data")?,
        package: octets("package")?,
    };
    c.check(0)?;
    Ok(Entry::Command(c))
}

/// A package's bytes from its records in the tree: commands, and device
/// sections encoded by their descriptions, each as QEMU frames it.
fn package_of(entries: &[Value], descs: &Descriptions) -> Result<Vec<u8>> {
    let mut w = crate::io::Writer::new(Vec::new());
    let mut seen = Occurrences::default();
    for sec in entries {
        match counted(&mut seen, entry_of(sec, descs)?) {
            Entry::Command(c) if c.package.is_empty() => framing::legacy::put_command(&mut w, &c)?,
            Entry::Command(_) => return Err(bad("a package inside a PACKAGED package")),
            Entry::Section(h) => {
                let Some(ident) = h.ident.as_ref().filter(|_| h.kind == SectionKind::Full) else {
                    return Err(bad("a package holds commands and device (full) sections"));
                };
                framing::legacy::put_section_header(&mut w, &h)?;
                let (d, v) = device_of(descs, sec, ident)?;
                encode_legacy(d, v, &mut w).map_err(|e| e.in_device(&ident.idstr))?;
                framing::legacy::put_footer(&mut w, h.id)?;
            }
        }
    }
    Ok(w.into_inner())
}

/// The header of a section of the tree (the inverse of [`section_object`]).
fn section_header(sec: &Value) -> Result<SectionHeader> {
    let name = sec.get("type").and_then(Value::as_str).unwrap_or("");
    let kind = SectionKind::from_name(name)
        .ok_or_else(|| bad(format!("unknown section type {name:?}")))?;
    let small = |key: &str| {
        u32::try_from(num(sec, key)?).map_err(|_| bad(format!("{key} does not fit 32 bits")))
    };
    let ident = if kind.names_section() {
        Some(SectionId {
            idstr: sec
                .get("idstr")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned(),
            instance: small("instance_id")?,
            version: small("version")?,
            occurrence: 0,
        })
    } else {
        None
    };
    Ok(SectionHeader {
        kind,
        id: small("section_id")?,
        ident,
    })
}

/// Counts a tree's device section `e` as a reader of the stream does
/// ([`SectionId::occurrence`]), so that each takes its own description.
fn counted(seen: &mut Occurrences, mut e: Entry) -> Entry {
    if let Entry::Section(SectionHeader {
        kind: SectionKind::Full,
        ident: Some(ident),
        ..
    }) = &mut e
    {
        ident.occurrence = seen.next(ident);
    }
    e
}

/// What an encoder reads from a tree: the description's text and parse, the
/// configuration, and each entry of `sections` with what it is.
pub(crate) struct Parts<'t> {
    pub vmdesc: &'t str,
    pub descs: Descriptions,
    pub configuration: Option<Configuration>,
    pub sections: Vec<(&'t Value, Entry)>,
}

impl<'t> Parts<'t> {
    pub(crate) fn of(tree: &'t Value) -> Result<Parts<'t>> {
        let (vmdesc, descs) = Descriptions::of_tree(tree)?;
        let configuration = match tree.get("configuration").filter(|c| !c.is_null()) {
            Some(c) => Some(configuration_from_json(c)?),
            None => None,
        };
        let mut seen = Occurrences::default();
        let sections = tree
            .get("sections")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|sec| Ok((sec, counted(&mut seen, entry_of(sec, &descs)?))))
            .collect::<Result<_>>()?;
        Ok(Parts {
            vmdesc,
            descs,
            configuration,
            sections,
        })
    }
}

/// The description and value of a FULL section of the tree.
fn device_of<'t>(
    descs: &'t Descriptions,
    sec: &'t Value,
    ident: &SectionId,
) -> Result<(&'t Desc, &'t Value)> {
    let d = descs.get(ident)?;
    let v = sec
        .get("value")
        .ok_or_else(|| bad(format!("{}: no value", ident.idstr)))?;
    Ok((d, v))
}

/// Converts a stream in memory to `format`: [`convert_stream`] over it, so record by
/// record, never as a tree. The same bytes as `to_bytes(&from_bytes(..)?, format)`.
pub fn convert(bytes: &[u8], format: Format) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(bytes.len());
    convert_stream(
        &mut &bytes[..],
        &mut out,
        format,
        &Limits::default(),
        &mut |_| {},
    )?;
    Ok(out)
}

/// The records of a full tree's RAM part.
fn tree_ram(sec: &Value) -> Result<Vec<RamRecord<'static>>> {
    ram_from_json(sec.get("ram").unwrap_or(&Value::Null))
}

/// Where an encoder gets each RAM part's records, given its section.
pub(crate) type RamOf<'r, 'a> = dyn FnMut(&Value) -> Result<Vec<RamRecord<'a>>> + 'r;

fn num(o: &Value, key: &str) -> Result<u64> {
    o.get(key)
        .and_then(Value::as_u64)
        .ok_or_else(|| bad(format!("missing number {key}")))
}

fn configuration_json(c: &Configuration) -> Result<Value> {
    let text = |b: &[u8], what| framing::name_text(b, what, 0).map(Value::from);
    let mut o = Map::new();
    o.insert("machine_type".into(), text(&c.name, "machine type")?);
    if let Some(t) = &c.target_page_bits {
        o.insert("target_page_bits".into(), t.target_page_bits.into());
    }
    if let Some(caps) = &c.capabilities {
        let names = caps
            .capabilities
            .iter()
            .map(|c| text(&c.name, "capability"))
            .collect::<Result<Vec<Value>>>()?;
        o.insert("capabilities".into(), names.into());
    }
    if let Some(u) = &c.uuid {
        o.insert("uuid".into(), crate::ber::octets_json(&u.uuid));
    }
    Ok(Value::Object(o))
}

fn configuration_from_json(v: &Value) -> Result<Configuration> {
    let name = v
        .get("machine_type")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("configuration without machine_type"))?;
    let capabilities = match v.get("capabilities").and_then(Value::as_array) {
        Some(list) => {
            let caps: Vec<Capability> = list
                .iter()
                .map(|c| {
                    let n = c.as_str().unwrap_or("").as_bytes().to_vec();
                    Capability {
                        len: n.len() as u8,
                        name: n,
                    }
                })
                .collect();
            Some(Capabilities {
                caps_count: caps.len() as u32,
                capabilities: caps,
            })
        }
        None => None,
    };
    let uuid = match v.get("uuid").and_then(Value::as_str) {
        Some(h) => {
            let b = unhex(h)
                .filter(|b| b.len() == 16)
                .ok_or_else(|| bad("uuid must be 16 bytes of hex"))?;
            let mut uuid = [0u8; 16];
            uuid.copy_from_slice(&b);
            Some(ConfigUuid { uuid })
        }
        None => None,
    };
    Ok(Configuration {
        len: name.len() as u32,
        name: name.as_bytes().to_vec(),
        target_page_bits: v.get("target_page_bits").and_then(Value::as_u64).map(|t| {
            TargetPageBits {
                target_page_bits: t as u32,
            }
        }),
        capabilities,
        uuid,
    })
}

/// The RAM parts of a legacy stream with its trailer (a multifd migration's main
/// channel), each part's records in order: what [`ram::multifd::records`] takes.
pub fn legacy_ram_parts(bytes: &[u8]) -> Result<Vec<Vec<RamRecord<'_>>>> {
    let s = walk_legacy(bytes)?;
    let mut cursor = ram::Cursor::new(Some(&s.configuration));
    s.sections
        .iter()
        .filter(|x| x.ident.idstr == "ram")
        .map(|p| Ok(ram::read_part(p.body, p.body_offset, &mut cursor)?.0))
        .collect()
}

/// RAM records as JSON.
pub fn ram_json(records: &[RamRecord<'_>]) -> Value {
    let page = |block: &str, offset: u64, continued: bool| {
        let mut o = Map::new();
        o.insert("block".into(), block.into());
        o.insert("offset".into(), offset.into());
        if continued {
            o.insert("continue".into(), true.into());
        }
        o
    };
    Value::Array(
        records
            .iter()
            .map(|r| match r {
                RamRecord::MemSize {
                    total,
                    blocks,
                    regions,
                } => json!({
                    "mem_size": total,
                    "blocks": blocks.iter().enumerate().map(|(i, b)| {
                        let mut o = block_json(b);
                        if let Some(r) = regions.get(i) {
                            o["mapped"] = mapped_json(r);
                        }
                        o
                    }).collect::<Vec<_>>(),
                }),
                RamRecord::Zero {
                    block,
                    offset,
                    fill,
                    continued,
                } => {
                    let mut o = page(block, *offset, *continued);
                    o.insert("fill".into(), (*fill).into());
                    Value::Object(o)
                }
                RamRecord::Page {
                    block,
                    offset,
                    data,
                    continued,
                } => {
                    let mut o = page(block, *offset, *continued);
                    o.insert("data".into(), crate::ber::octets_json(data));
                    Value::Object(o)
                }
                RamRecord::Encoded {
                    block,
                    offset,
                    encoding,
                    data,
                    continued,
                } => {
                    let mut o = page(block, *offset, *continued);
                    o.insert(encoding.name().into(), crate::ber::octets_json(data));
                    Value::Object(o)
                }
                RamRecord::MultifdFlush => json!({ "multifd_flush": true }),
            })
            .collect(),
    )
}

/// A block list entry in the tree: its address only when the stream sends one.
fn block_json(b: &ram::ListedBlock) -> Value {
    let mut o = json!({"name": b.name, "length": b.length});
    if let Some(a) = b.addr {
        o["address"] = a.into();
    }
    if let Some(p) = b.page_size {
        o["page_size"] = p.into();
    }
    o
}

/// A block's mapped-ram region in the tree: the header's values, the bitmap, and
/// the runs of slots that are not zero.
fn mapped_json(r: &ram::MappedRegion<'_>) -> Value {
    json!({
        "version": r.version,
        "page_size": r.page_size,
        "bitmap_offset": r.bitmap_offset,
        "pages_offset": r.pages_offset,
        "bitmap": crate::ber::octets_json(&r.bitmap),
        "runs": r.runs.iter().map(|(offset, data)| json!({
            "offset": offset,
            "data": crate::ber::octets_json(data),
        })).collect::<Vec<_>>(),
    })
}

/// A block's mapped-ram region from the tree ([`mapped_json`]).
fn mapped_from_json(m: &Value) -> Result<ram::MappedRegion<'static>> {
    let hex = |v: &Value, what: &str| {
        v.as_str()
            .and_then(unhex)
            .ok_or_else(|| bad(format!("a mapped-ram region's {what} must be hex")))
    };
    let runs = m
        .get("runs")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|r| Ok((num(r, "offset")?, Cow::Owned(hex(&r["data"], "run data")?))))
        .collect::<Result<Vec<_>>>()?;
    let version = num(m, "version")?;
    Ok(ram::MappedRegion {
        version: u32::try_from(version)
            .map_err(|_| bad(format!("mapped-ram version {version} is not a u32")))?,
        page_size: num(m, "page_size")?,
        bitmap_offset: num(m, "bitmap_offset")?,
        pages_offset: num(m, "pages_offset")?,
        bitmap: Cow::Owned(hex(&m["bitmap"], "bitmap")?),
        runs,
    })
}

/// RAM records from JSON (page data is held in the returned buffers).
pub fn ram_from_json(v: &Value) -> Result<Vec<RamRecord<'static>>> {
    let list = v.as_array().ok_or_else(|| {
        bad("ram records must be a list (a tree with only a `ram_summary` cannot be encoded)")
    })?;
    let mut out = Vec::with_capacity(list.len());
    for r in list {
        if r.get("multifd_flush").is_some() {
            out.push(RamRecord::MultifdFlush);
            continue;
        }
        if let Some(total) = r.get("mem_size").and_then(Value::as_u64) {
            let (mut blocks, mut regions) = (Vec::new(), Vec::new());
            for b in r
                .get("blocks")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let name = b
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned();
                let addr = b.get("address").map(|_| num(b, "address")).transpose()?;
                let page_size = b
                    .get("page_size")
                    .map(|_| num(b, "page_size"))
                    .transpose()?;
                let block = ram::ListedBlock {
                    name,
                    length: num(b, "length")?,
                    addr,
                    page_size,
                };
                if let Some(m) = b.get("mapped") {
                    let region = mapped_from_json(m)?;
                    region.check(&block, 0)?;
                    regions.push(region);
                }
                blocks.push(block);
            }
            out.push(RamRecord::MemSize {
                total,
                blocks,
                regions,
            });
            continue;
        }
        let block = r
            .get("block")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let offset = num(r, "offset")?;
        let continued = r.get("continue").and_then(Value::as_bool).unwrap_or(false);
        let encoded = ram::Encoding::ALL
            .into_iter()
            .find_map(|e| Some((e, r.get(e.name())?.as_str()?)));
        if let Some((encoding, hex)) = encoded {
            let data =
                unhex(hex).ok_or_else(|| bad(format!("a {} page is not hex", encoding.name())))?;
            encoding.check(&data, ram::PAGE_SIZE as usize, 0)?;
            out.push(RamRecord::Encoded {
                block,
                offset,
                encoding,
                data: Cow::Owned(data),
                continued,
            });
        } else if let Some(fill) = r.get("fill").and_then(Value::as_u64) {
            out.push(RamRecord::Zero {
                block,
                offset,
                fill: fill as u8,
                continued,
            });
        } else {
            let data = r
                .get("data")
                .and_then(Value::as_str)
                .and_then(unhex)
                .filter(|d| d.len() == ram::PAGE_SIZE as usize)
                .ok_or_else(|| {
                    bad(format!(
                        "RAM page at {offset:#x}: data must be one page of hex"
                    ))
                })?;
            out.push(RamRecord::Page {
                block,
                offset,
                data: Cow::Owned(data),
                continued,
            });
        }
    }
    Ok(out)
}
