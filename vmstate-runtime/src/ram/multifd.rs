//! multifd channels (QEMU's `migration/multifd.c`, the same layout in 7.2 and
//! 10.0): a migration with `multifd` sends its data pages (and from 9.0 its zero
//! pages) over extra connections, each opening with a `MultiFDInit_t` (64 octets:
//! be32 magic `0x11223344`, be32 version 1, the VM's UUID, the channel's id), then
//! packets: a `MultiFDPacket_t` (320 octets: be32 magic, version, flags,
//! pages_alloc, normal_pages, next_packet_size, be64 packet_num, be32 zero_pages
//! (10.0; reserved in 7.2), reserved words, the block name in 256 octets) and an
//! offset for each of the 128 pages a packet can hold (fixed length: QEMU reuses
//! the buffer, so unused entries may hold old offsets, kept as they are), then the
//! normal pages' data (the `none` compression). A packet with the `SYNC` flag
//! closes a round: the main channel marks the same point with `MULTIFD_FLUSH`,
//! or, without any, with each part's `EOS` (7.2; older machine types).
//!
//! [`records`] gives the records of a whole captured migration in the order a
//! destination loads them, so that `dump --ram` of the main channel and its
//! channels writes the guest's RAM.

use super::{RamRecord, PAGE, PAGE_SIZE};
use crate::ber::{put_eoc, put_header, put_indefinite_header, Decoder, Options, Tag};
use crate::error::{Error, ErrorKind, Result};
use crate::framing::ber::{int_tlv, tlv};
use crate::io::{Input, ReadInput, SliceInput, StreamInput, Writer};
use miniz_oxide::inflate::stream::{inflate, InflateState};
use miniz_oxide::{DataFormat, MZError, MZFlush, MZStatus};
use std::borrow::Cow;

/// The `MultiFDInit_t` and packet magic.
pub const MAGIC: u32 = crate::framing::MULTIFD_MAGIC;
/// The version QEMU 7.2 and 10.0 write and read.
pub const VERSION: u32 = 1;
/// Octets of a `MultiFDInit_t`.
pub const INIT_LEN: usize = 64;
/// Octets of a `MultiFDPacket_t` before its offsets.
pub const HEADER_LEN: usize = 320;
/// The pages a packet holds at most (`MULTIFD_PACKET_SIZE` / 4 KiB).
pub const PAGE_COUNT: usize = 128;
/// Octets of a packet before its pages: QEMU sends and reads them all.
pub const PACKET_LEN: usize = HEADER_LEN + 8 * PAGE_COUNT;
/// `MULTIFD_FLAG_SYNC`: the packet closes a round.
pub const FLAG_SYNC: u32 = 1;
/// `MULTIFD_FLAG_COMPRESSION_MASK` (10.0's, which holds 7.2's).
const FLAG_COMPRESSION: u32 = 0x1f << 1;
/// `MULTIFD_FLAG_ZLIB`.
pub const FLAG_ZLIB: u32 = 1 << 1;
/// `MULTIFD_FLAG_ZSTD`.
pub const FLAG_ZSTD: u32 = 2 << 1;
/// The most compressed octets a packet may carry: the receiving side's buffer
/// (`zbuff_len`, twice `MULTIFD_PACKET_SIZE`, in 7.2 and 10.0).
const MAX_COMPRESSED: usize = 2 * PAGE_COUNT * PAGE;
/// `MULTIFD_FLAG_DEVICE_STATE` (10.0: VFIO device state over multifd).
const FLAG_DEVICE_STATE: u32 = 32 << 1;

/// One multifd channel as its connection carried it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Channel<'a> {
    /// The `MultiFDInit_t`, as sent.
    pub init: Cow<'a, [u8]>,
    /// The packets, in order.
    pub packets: Vec<Packet<'a>>,
}

/// One packet of a channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet<'a> {
    /// The `MultiFDPacket_t` and its offsets ([`PACKET_LEN`] octets), as sent.
    pub header: Cow<'a, [u8]>,
    /// The normal pages' data, in the order of their offsets.
    pub data: Cow<'a, [u8]>,
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn be64(b: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(b[at..at + 8].try_into().unwrap_or_default())
}

fn framing(message: String, at: u64) -> Error {
    Error::new(ErrorKind::Framing(message), at)
}

impl Channel<'_> {
    /// The channel's id (0 for the first).
    pub fn id(&self) -> u8 {
        self.init[24]
    }
}

impl Packet<'_> {
    /// Its flags (`SYNC`, the compression method).
    pub fn flags(&self) -> u32 {
        be32(&self.header, 8)
    }

    /// Whether it closes a round.
    pub fn is_sync(&self) -> bool {
        self.flags() & FLAG_SYNC != 0
    }

    /// Its number: QEMU numbers the packets of all channels in one sequence.
    pub fn packet_num(&self) -> u64 {
        be64(&self.header, 24)
    }

    /// How many normal (data) pages it carries.
    pub fn normal_pages(&self) -> usize {
        be32(&self.header, 16) as usize
    }

    /// How many zero pages it names (QEMU 9.0+; 0 before).
    pub fn zero_pages(&self) -> usize {
        be32(&self.header, 32) as usize
    }

    /// The block of its pages (checked when it was read).
    pub fn block(&self) -> &str {
        std::str::from_utf8(name_of(&self.header)).unwrap_or("")
    }

    /// The offset of page `i` of its offsets (normal pages first, then zero).
    fn offset(&self, i: usize) -> u64 {
        be64(&self.header, HEADER_LEN + 8 * i)
    }

    /// Where its pages go in its block: each normal page's offset, then each
    /// zero page's.
    pub fn offsets(&self) -> impl Iterator<Item = u64> + '_ {
        (0..self.normal_pages() + self.zero_pages()).map(|i| self.offset(i))
    }
}

/// A channel's pages as a destination loads them. A compressed channel's
/// stream (zlib, zstd) runs across its packets (QEMU flushes it at each
/// packet's end, never restarts it), so its packets are unpacked in order, by
/// one `Unpacker` per channel.
#[derive(Default)]
pub struct Unpacker {
    zlib: Option<Box<InflateState>>,
    zstd: Option<zstd::stream::raw::Decoder<'static>>,
}

/// The largest zstd window a channel may use: `2^25`, what QEMU's highest
/// `multifd-zstd-level` (20) asks for; a stream that wants more is refused
/// rather than sizing memory.
const ZSTD_WINDOW_LOG: u32 = 25;

impl Unpacker {
    /// The records packet `p` loads: each normal page with its data, each zero
    /// page as a page of zeros. Compressed pages are unpacked as QEMU's
    /// receiving side does, page by page (zlib's `inflate`, the last with
    /// `Z_SYNC_FLUSH`; `ZSTD_decompressStream`); data that makes less than its
    /// pages, or fails, is an error.
    pub fn records<'p>(&mut self, p: &'p Packet<'_>) -> Result<Vec<RamRecord<'p>>> {
        let block = p.block();
        let normal = p.normal_pages();
        let pages: Vec<Cow<'p, [u8]>> = match method(p.flags()) {
            0 => p.data.chunks(PAGE).map(Cow::Borrowed).collect(),
            1 => self.inflate(p)?.into_iter().map(Cow::Owned).collect(),
            _ => self.unzstd(p)?.into_iter().map(Cow::Owned).collect(),
        };
        let mut out: Vec<RamRecord<'p>> = pages
            .into_iter()
            .enumerate()
            .map(|(i, data)| RamRecord::Page {
                block: block.to_owned(),
                offset: p.offset(i),
                data,
                continued: false,
            })
            .collect();
        out.extend((normal..normal + p.zero_pages()).map(|i| RamRecord::Zero {
            block: block.to_owned(),
            offset: p.offset(i),
            fill: 0,
            continued: false,
        }));
        Ok(out)
    }

    /// The normal pages of a zlib packet, inflated from where the channel's
    /// stream stands.
    fn inflate(&mut self, p: &Packet<'_>) -> Result<Vec<Vec<u8>>> {
        let state = self
            .zlib
            .get_or_insert_with(|| InflateState::new_boxed(DataFormat::Zlib));
        let bad = |what: &str| {
            framing(
                format!("multifd packet {}: its zlib data {what}", p.packet_num()),
                0,
            )
        };
        let normal = p.normal_pages();
        let mut input = &p.data[..];
        let mut pages = Vec::with_capacity(normal);
        for i in 0..normal {
            let flush = if i + 1 == normal {
                MZFlush::Sync
            } else {
                MZFlush::None
            };
            let mut page = vec![0u8; PAGE];
            let mut filled = 0;
            while filled < PAGE {
                let r = inflate(state, input, &mut page[filled..], flush);
                input = &input[r.bytes_consumed..];
                filled += r.bytes_written;
                match r.status {
                    Ok(MZStatus::Ok) if r.bytes_consumed + r.bytes_written > 0 => {}
                    Ok(MZStatus::Ok) | Err(MZError::Buf) => {
                        return Err(bad("makes less than its pages"))
                    }
                    Ok(_) => return Err(bad("ends its stream")),
                    Err(_) => return Err(bad("is not a deflate stream")),
                }
            }
            pages.push(page);
        }
        Ok(pages)
    }

    /// The normal pages of a zstd packet, decompressed from where the channel's
    /// stream stands (`ZSTD_decompressStream` page by page, as QEMU's receiver).
    fn unzstd(&mut self, p: &Packet<'_>) -> Result<Vec<Vec<u8>>> {
        use zstd::stream::raw::{DParameter, Decoder, InBuffer, Operation, OutBuffer};
        let bad = |what: &str| {
            framing(
                format!("multifd packet {}: its zstd data {what}", p.packet_num()),
                0,
            )
        };
        let d = match &mut self.zstd {
            Some(d) => d,
            None => {
                let mut d = Decoder::new().map_err(|e| bad(&e.to_string()))?;
                d.set_parameter(DParameter::WindowLogMax(ZSTD_WINDOW_LOG))
                    .map_err(|e| bad(&e.to_string()))?;
                self.zstd.insert(d)
            }
        };
        let mut input = InBuffer::around(&p.data[..]);
        let mut pages = Vec::with_capacity(p.normal_pages());
        for _ in 0..p.normal_pages() {
            let mut page = vec![0u8; PAGE];
            let mut out = OutBuffer::around(&mut page[..]);
            while out.pos() < PAGE {
                let before = (input.pos(), out.pos());
                d.run(&mut input, &mut out)
                    .map_err(|e| bad(&format!("is not a zstd stream ({e})")))?;
                if (input.pos(), out.pos()) == before {
                    return Err(bad("makes less than its pages"));
                }
            }
            pages.push(page);
        }
        Ok(pages)
    }
}

/// The compression method of a packet's flags (0: none).
fn method(flags: u32) -> u32 {
    (flags & FLAG_COMPRESSION) >> 1
}

/// The compression method a packet's flags name, by QEMU's name of it.
fn compression(flags: u32) -> &'static str {
    match method(flags) {
        1 => "zlib",
        2 => "zstd",
        4 => "qpl",
        8 => "uadk",
        16 => "qatzip",
        _ => "unknown",
    }
}

/// Checks a `MultiFDInit_t` as QEMU's receiving side does: its magic and version.
fn check_init(init: &[u8], at: u64) -> Result<()> {
    let (magic, version) = (be32(init, 0), be32(init, 4));
    if magic != MAGIC || version != VERSION {
        return Err(framing(
            format!(
                "not a multifd channel: MultiFDInit_t magic {magic:#x} version {version} \
                 (QEMU sends {MAGIC:#x} version {VERSION})"
            ),
            at,
        ));
    }
    Ok(())
}

/// Checks a packet's header (from `at`) as QEMU's receiving side does: the magic
/// and version, page counts within what a packet holds, the `none`, `zlib` or
/// `zstd` compression (another method, and device state, are refused by name),
/// reserved octets zero. Returns how many octets of data follow.
fn check_header(header: &[u8], at: u64) -> Result<usize> {
    let (magic, version, flags) = (be32(header, 0), be32(header, 4), be32(header, 8));
    if magic != MAGIC || version != VERSION {
        return Err(framing(
            format!("multifd packet magic {magic:#x} version {version}"),
            at,
        ));
    }
    if flags & FLAG_DEVICE_STATE != 0 {
        return Err(unsupported(
            "a multifd device state packet (VFIO)",
            "multifd",
            "migrate the device state on the main channel (x-migration-multifd-transfer=off \
             on the vfio-pci devices)",
            at,
        ));
    }
    if method(flags) > 2 {
        return Err(unsupported(
            &format!("multifd pages compressed with {}", compression(flags)),
            "multifd",
            "migrate with migrate-set-parameters multifd-compression none, zlib or zstd",
            at,
        ));
    }
    let (alloc, normal, zero, next) = (
        be32(header, 12) as usize,
        be32(header, 16) as usize,
        be32(header, 32) as usize,
        be32(header, 20) as usize,
    );
    if alloc > PAGE_COUNT || normal > alloc || zero > alloc - normal {
        return Err(framing(
            format!(
                "multifd packet of {alloc} pages with {normal} normal and {zero} zero \
                 pages (a packet holds {PAGE_COUNT})"
            ),
            at,
        ));
    }
    if let Some(i) = reserved(header) {
        return Err(framing(
            "multifd packet with reserved octets set (QEMU leaves them zero)".into(),
            at + i as u64,
        ));
    }
    // A compressed packet's data is its `next_packet_size` octets, read only
    // when it has normal pages (10.0 asserts there are none without).
    match (method(flags), normal) {
        (0, _) => Ok(normal * PAGE),
        (_, 0) if next == 0 => Ok(0),
        (_, 0) => Err(framing(
            format!("multifd packet without normal pages with {next} compressed octets"),
            at + 20,
        )),
        (_, _) if next > MAX_COMPRESSED => Err(framing(
            format!(
                "multifd packet of {next} compressed octets (QEMU receives at most \
                 {MAX_COMPRESSED})"
            ),
            at + 20,
        )),
        _ => Ok(next),
    }
}

/// Checks what a packet's pages need: a block name that is text (even in a
/// packet without pages: a SYNC packet keeps the previous packet's, and it must
/// convert back), a block for its pages, page-aligned offsets.
fn check_pages(p: &Packet<'_>, at: u64) -> Result<()> {
    let name = name_of(&p.header);
    crate::framing::name_text(name, "multifd packet's RAM block", at + 64)?;
    let pages = p.normal_pages() + p.zero_pages();
    if pages > 0 && name.is_empty() {
        return Err(framing("multifd packet with pages and no block".into(), at));
    }
    match (0..pages).find(|&i| p.offset(i) % PAGE_SIZE != 0) {
        Some(i) => Err(framing(
            format!("multifd page offset {:#x} is not a page's", p.offset(i)),
            at + (HEADER_LEN + 8 * i) as u64,
        )),
        None => Ok(()),
    }
}

/// What a channel carries, in the order it carries it.
pub enum Piece<'a> {
    /// Its `MultiFDInit_t`, first.
    Init(Cow<'a, [u8]>),
    /// Each packet, checked.
    Packet(Packet<'a>),
}

/// The form of a channel, from its first octets: the `MultiFDInit_t` magic
/// (legacy) or `[APPLICATION 8]` (BER); `None` for anything else (a main
/// channel).
pub fn detect(head: &[u8]) -> Option<crate::Format> {
    if head.starts_with(&MAGIC.to_be_bytes()) {
        Some(crate::Format::Legacy)
    } else if head.first().map(|&id| Tag::from_identifier(id)) == Some(CHANNEL) {
        Some(crate::Format::Ber)
    } else {
        None
    }
}

/// Reads a channel in either form as it arrives, checked as QEMU's receiving
/// side checks it, handing `visit` its init, then each
/// packet as soon as it is whole.
pub fn read<'a>(
    r: &mut StreamInput<'a>,
    visit: &mut dyn FnMut(Piece<'a>) -> Result<()>,
) -> Result<()> {
    match detect(r.peek(4)?) {
        Some(crate::Format::Legacy) => read_legacy(r, visit),
        Some(crate::Format::Ber) => read_ber(r, visit),
        None => check_init(r.peek(8)?, 0),
    }
}

fn read_legacy<'a>(
    r: &mut StreamInput<'a>,
    visit: &mut dyn FnMut(Piece<'a>) -> Result<()>,
) -> Result<()> {
    let init = r.take_bytes(INIT_LEN)?;
    check_init(&init, 0)?;
    visit(Piece::Init(init))?;
    while !r.peek(1)?.is_empty() {
        let at = r.offset();
        let header = r.take_bytes(PACKET_LEN)?;
        let len = check_header(&header, at)?;
        let packet = Packet {
            header,
            data: r.take_bytes(len)?,
        };
        check_pages(&packet, at)?;
        visit(Piece::Packet(packet))?;
    }
    Ok(())
}

/// The octets of string `h`: exactly `len` of them, or (`exact` false) at most.
fn octets<I: Input>(
    d: &mut Decoder<'_, I>,
    h: &crate::ber::Header,
    len: usize,
    exact: bool,
) -> Result<Vec<u8>> {
    let mut buf = vec![0u8; len];
    let n = d.octets_bounded(h, &mut buf)?;
    if exact && n != len {
        return Err(Error::new(
            ErrorKind::SizeMismatch {
                expected: len as u64,
                found: n as u64,
            },
            h.offset,
        ));
    }
    buf.truncate(n);
    Ok(buf)
}

fn read_ber<'a>(
    r: &mut StreamInput<'a>,
    visit: &mut dyn FnMut(Piece<'a>) -> Result<()>,
) -> Result<()> {
    let mut d = Decoder::new(r, Options::STRICT);
    let h = d.expect(CHANNEL)?;
    d.enter(&h)?;
    let ih = d.expect(Tag::OCTET_STRING)?;
    let init = octets(&mut d, &ih, INIT_LEN, true)?;
    check_init(&init, ih.offset)?;
    visit(Piece::Init(Cow::Owned(init)))?;
    let ph = d.expect(Tag::SEQUENCE)?;
    d.enter(&ph)?;
    while d.peek_header()?.is_some() {
        let at = d.offset();
        let packet = packet_from_ber(&mut d)?;
        check_pages(&packet, at)?;
        visit(Piece::Packet(packet))?;
    }
    d.leave(None)?;
    d.leave(None)?;
    match r.peek(1)?.len() {
        0 => Ok(()),
        n => Err(Error::new(ErrorKind::TrailingBytes(n as u64), r.offset())),
    }
}

/// One packet's BER form: its fields, its offsets (normal, zero, and the unused
/// entries QEMU left, up to the last that is not zero), its data (the normal
/// pages, or their compressed octets).
fn packet_from_ber<I: Input>(d: &mut Decoder<'_, I>) -> Result<Packet<'static>> {
    let eh = d.expect(Tag::SEQUENCE)?;
    d.enter(&eh)?;
    let mut header = vec![0u8; PACKET_LEN];
    let uint = |d: &mut Decoder<'_, I>, max: u64| -> Result<u64> {
        let h = d.expect(Tag::INTEGER)?;
        let v = d.integer(&h)?;
        u64::try_from(v)
            .ok()
            .filter(|&v| v <= max)
            .ok_or_else(|| crate::ber::out_of_range(v, "a multifd packet field", &h))
    };
    for (at, len) in [(8, 4), (12, 4), (20, 4), (24, 8)] {
        let v = uint(d, if len == 4 { u32::MAX.into() } else { u64::MAX })?;
        header[at..at + len].copy_from_slice(&v.to_be_bytes()[8 - len..]);
    }
    let bh = d.expect(Tag::UTF8_STRING)?;
    let name = octets(d, &bh, HEADER_LEN - 64 - 1, false)?;
    header[64..64 + name.len()].copy_from_slice(&name);
    let mut counts = [0usize; 3];
    let mut k = 0;
    for count in &mut counts {
        let sh = d.expect(Tag::SEQUENCE)?;
        d.enter(&sh)?;
        while d.peek_header()?.is_some() {
            if k == PAGE_COUNT {
                return Err(framing(
                    format!("a multifd packet of more than {PAGE_COUNT} offsets"),
                    sh.offset,
                ));
            }
            let v = uint(d, u64::MAX)?;
            header[HEADER_LEN + 8 * k..HEADER_LEN + 8 * k + 8].copy_from_slice(&v.to_be_bytes());
            k += 1;
            *count += 1;
        }
        d.leave(None)?;
    }
    header[..4].copy_from_slice(&MAGIC.to_be_bytes());
    header[4..8].copy_from_slice(&VERSION.to_be_bytes());
    header[16..20].copy_from_slice(&(counts[0] as u32).to_be_bytes());
    header[32..36].copy_from_slice(&(counts[1] as u32).to_be_bytes());
    // What the fields make is checked as QEMU's octets are; it gives the data's length.
    let len = check_header(&header, eh.offset)?;
    let dh = d.expect(Tag::OCTET_STRING)?;
    let data = octets(d, &dh, len, true)?;
    d.leave(None)?;
    Ok(Packet {
        header: Cow::Owned(header),
        data: Cow::Owned(data),
    })
}

/// Reads a whole channel in either form: borrowed from `bytes` when legacy.
pub fn read_channel(bytes: &[u8]) -> Result<Channel<'_>> {
    let mut init = Cow::Borrowed(&[][..]);
    let mut packets = Vec::new();
    read(
        &mut StreamInput::Slice(SliceInput::new(bytes)),
        &mut |piece| {
            match piece {
                Piece::Init(i) => init = i,
                Piece::Packet(p) => packets.push(p),
            }
            Ok(())
        },
    )?;
    Ok(Channel { init, packets })
}

/// A packet header's block name: its first 255 octets up to the first zero (QEMU's
/// receiver zeroes the 256th).
fn name_of(header: &[u8]) -> &[u8] {
    let name = &header[64..HEADER_LEN - 1];
    &name[..name.iter().position(|&b| b == 0).unwrap_or(name.len())]
}

/// The first octet QEMU leaves zero that is not, in a packet's header: the
/// reserved words, and the block name after its end (its last octet, which
/// QEMU's receiver sets to zero, included).
fn reserved(header: &[u8]) -> Option<usize> {
    let name_end = 64 + name_of(header).len();
    (36..64)
        .chain(name_end..HEADER_LEN)
        .find(|&i| header[i] != 0)
}

fn unsupported(what: &str, capability: &str, remedy: &str, at: u64) -> Error {
    Error::new(
        ErrorKind::Unsupported {
            what: what.to_owned(),
            capability: capability.to_owned(),
            remedy: remedy.to_owned(),
        },
        at,
    )
}

/// Writes a channel back in its legacy form: the inverse of [`read_channel`].
pub fn write_channel<W: std::io::Write>(c: &Channel<'_>, w: &mut Writer<W>) -> Result<()> {
    put_channel(c, w, crate::Format::Legacy)
}

fn put_channel<W: std::io::Write>(
    c: &Channel<'_>,
    w: &mut Writer<W>,
    to: crate::Format,
) -> Result<()> {
    put_init(w, to, &c.init)?;
    for p in &c.packets {
        put_packet(w, to, p)?;
    }
    put_end(w, to)
}

/// A channel's start: its init, and in BER the channel's and its packets'
/// headers, of indefinite length so that packets go out as they arrive.
fn put_init<W: std::io::Write>(w: &mut Writer<W>, to: crate::Format, init: &[u8]) -> Result<()> {
    match to {
        crate::Format::Legacy => w.put(init),
        crate::Format::Ber => {
            put_indefinite_header(w, CHANNEL)?;
            put_header(w, Tag::OCTET_STRING, init.len())?;
            w.put(init)?;
            put_indefinite_header(w, Tag::SEQUENCE)
        }
    }
}

/// One packet: as sent, or its fields, offsets and pages ([`packet_from_ber`]).
fn put_packet<W: std::io::Write>(
    w: &mut Writer<W>,
    to: crate::Format,
    p: &Packet<'_>,
) -> Result<()> {
    if to == crate::Format::Legacy {
        w.put(&p.header)?;
        return w.put(&p.data);
    }
    let ints = |values: &mut dyn Iterator<Item = u64>| {
        let contents: Vec<u8> = values
            .flat_map(|v| int_tlv(Tag::INTEGER, v.into()))
            .collect();
        tlv(Tag::SEQUENCE, &contents)
    };
    let (normal, zero) = (p.normal_pages(), p.zero_pages());
    let used = normal + zero;
    let last = (used..PAGE_COUNT)
        .rev()
        .find(|&i| p.offset(i) != 0)
        .map_or(used, |i| i + 1);
    let mut fields = Vec::new();
    for v in [
        u64::from(p.flags()),
        u64::from(be32(&p.header, 12)),
        u64::from(be32(&p.header, 20)),
        p.packet_num(),
    ] {
        fields.extend(int_tlv(Tag::INTEGER, v.into()));
    }
    fields.extend(tlv(Tag::UTF8_STRING, p.block().as_bytes()));
    fields.extend(ints(&mut (0..normal).map(|i| p.offset(i))));
    fields.extend(ints(&mut (normal..used).map(|i| p.offset(i))));
    fields.extend(ints(&mut (used..last).map(|i| p.offset(i))));
    // The pages go out from where they are, not copied into the packet's TLV.
    let data = crate::ber::tlv_len(Tag::OCTET_STRING, p.data.len());
    put_header(w, Tag::SEQUENCE, fields.len() + data)?;
    w.put(&fields)?;
    put_header(w, Tag::OCTET_STRING, p.data.len())?;
    w.put(&p.data)
}

/// A channel's end: in BER, the end of its packets and of the channel.
fn put_end<W: std::io::Write>(w: &mut Writer<W>, to: crate::Format) -> Result<()> {
    match to {
        crate::Format::Legacy => Ok(()),
        crate::Format::Ber => {
            put_eoc(w)?;
            put_eoc(w)
        }
    }
}

/// A channel's packets not yet loaded, and its unpacker.
type Rounds<'a> = (
    std::iter::Peekable<std::slice::Iter<'a, Packet<'a>>>,
    Unpacker,
);

/// Each channel's next round: its packets through its next `SYNC` packet.
fn next_round<'a>(
    rounds: &mut [Rounds<'a>],
    emit: &mut dyn FnMut(RamRecord<'a>) -> Result<()>,
) -> Result<()> {
    for (packets, unpacker) in rounds {
        for p in packets.by_ref() {
            unpacker.records(p)?.into_iter().try_for_each(&mut *emit)?;
            if p.is_sync() {
                break;
            }
        }
    }
    Ok(())
}

/// The RAM records of a whole multifd migration in the order a destination loads
/// them, to `emit`: the main channel's `parts` (each part's records, in order,
/// as `dump::legacy_ram_parts` reads them) with each channel's packets of a round right after
/// the main channel's mark of that round, its `n`-th `MULTIFD_FLUSH` (or, in a
/// stream without any, the end of its `n`-th part). A page goes at most once a
/// round, so only the rounds' order matters; packets after a channel's last
/// `SYNC` come last.
pub fn records<'a>(
    parts: Vec<Vec<RamRecord<'a>>>,
    channels: &'a [Channel<'a>],
    emit: &mut dyn FnMut(RamRecord<'a>) -> Result<()>,
) -> Result<()> {
    let by_flush = parts
        .iter()
        .flatten()
        .any(|r| matches!(r, RamRecord::MultifdFlush));
    // Each channel's packets, cut into rounds after each SYNC packet.
    let mut rounds: Vec<Rounds<'a>> = channels
        .iter()
        .map(|c| (c.packets.iter().peekable(), Unpacker::default()))
        .collect();
    for part in parts {
        for r in part {
            let flush = matches!(r, RamRecord::MultifdFlush);
            emit(r)?;
            if flush {
                next_round(&mut rounds, emit)?;
            }
        }
        if !by_flush {
            next_round(&mut rounds, emit)?;
        }
    }
    // What the channels sent after their last round (a migration cut short).
    while rounds.iter_mut().any(|(p, _)| p.peek().is_some()) {
        next_round(&mut rounds, emit)?;
    }
    Ok(())
}

/// `[APPLICATION 8]`: a multifd channel in BER.
pub const CHANNEL: Tag = crate::framing::ber::MULTIFD_CHANNEL;

/// A channel's BER form (`VMState-Multifd-Channel` in the stream module): the
/// `MultiFDInit_t` as sent, then each packet's fields, offsets and pages, of
/// indefinite length as [`convert`] writes it; [`read_channel`] reads it back
/// to the same channel.
pub fn channel_to_ber(c: &Channel<'_>) -> Vec<u8> {
    let mut w = Writer::new(Vec::new());
    // Writing into a Vec cannot fail.
    let _ = put_channel(c, &mut w, crate::Format::Ber);
    w.into_inner()
}

/// Converts a channel (either form) to `to` as it arrives from `input`: each
/// packet is written and flushed as soon as it is whole, so that a destination
/// waiting at a sync point waits for nothing held here; `visit` then sees it.
/// Returns the octets read.
pub fn convert(
    input: &mut dyn std::io::Read,
    output: &mut dyn std::io::Write,
    to: crate::Format,
    visit: &mut dyn FnMut(&Packet<'_>),
) -> Result<u64> {
    let mut r = StreamInput::Read(ReadInput::new(input));
    let mut w = Writer::new(output);
    convert_input(&mut r, &mut w, to, visit)?;
    Ok(r.offset())
}

fn convert_input<W: std::io::Write>(
    r: &mut StreamInput<'_>,
    w: &mut Writer<W>,
    to: crate::Format,
    visit: &mut dyn FnMut(&Packet<'_>),
) -> Result<()> {
    read(r, &mut |piece| match piece {
        Piece::Init(init) => put_init(w, to, &init),
        Piece::Packet(p) => {
            put_packet(w, to, &p)?;
            w.flush()?;
            visit(&p);
            Ok(())
        }
    })?;
    put_end(w, to)?;
    w.flush()
}

/// A multifd channel in `data`, in either form, converted to `format`: `None`
/// when `data` is no channel (a main channel, a stream of either format).
pub fn convert_channel(data: &[u8], format: crate::Format) -> Result<Option<Vec<u8>>> {
    if detect(data).is_none() {
        return Ok(None);
    }
    let mut w = Writer::new(Vec::new());
    convert_input(
        &mut StreamInput::Slice(SliceInput::new(data)),
        &mut w,
        format,
        &mut |_| {},
    )?;
    Ok(Some(w.into_inner()))
}
