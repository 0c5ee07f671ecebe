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
use crate::error::{Error, ErrorKind, Result};
use crate::io::{Input, SliceInput, Writer};
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
        let name = &self.header[64..HEADER_LEN - 1];
        let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
        std::str::from_utf8(&name[..end]).unwrap_or("")
    }

    /// The offset of page `i` of its offsets (normal pages first, then zero).
    fn offset(&self, i: usize) -> u64 {
        be64(&self.header, HEADER_LEN + 8 * i)
    }

    /// The records it loads: each normal page with its data, each zero page as a
    /// page of zeros.
    pub fn records(&self) -> impl Iterator<Item = RamRecord<'_>> {
        let normal = self.normal_pages();
        let pages = (0..normal).map(move |i| RamRecord::Page {
            block: self.block().to_owned(),
            offset: self.offset(i),
            data: Cow::Borrowed(&self.data[i * PAGE..(i + 1) * PAGE]),
            continued: false,
        });
        let zeros = (normal..normal + self.zero_pages()).map(move |i| RamRecord::Zero {
            block: self.block().to_owned(),
            offset: self.offset(i),
            fill: 0,
            continued: false,
        });
        pages.chain(zeros)
    }
}

/// The compression method a packet's flags name, by QEMU's name of it.
fn compression(flags: u32) -> &'static str {
    match (flags & FLAG_COMPRESSION) >> 1 {
        1 => "zlib",
        2 => "zstd",
        4 => "qpl",
        8 => "uadk",
        16 => "qatzip",
        _ => "unknown",
    }
}

/// Reads a whole channel, checked as QEMU's receiving side checks it: the magic
/// and version, a packet's page counts within what a packet holds, a block name
/// for the pages it carries, the `none` compression (another method, and device
/// state, are refused by name).
pub fn read_channel(bytes: &[u8]) -> Result<Channel<'_>> {
    let mut r = SliceInput::new(bytes);
    let init = r.take(INIT_LEN)?;
    let (magic, version) = (be32(init, 0), be32(init, 4));
    if magic != MAGIC || version != VERSION {
        return Err(framing(
            format!(
                "not a multifd channel: MultiFDInit_t magic {magic:#x} version {version} \
                 (QEMU sends {MAGIC:#x} version {VERSION})"
            ),
            0,
        ));
    }
    let mut packets = Vec::new();
    while !r.remaining().is_empty() {
        let at = r.offset();
        let header = r.take(PACKET_LEN)?;
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
        if flags & FLAG_COMPRESSION != 0 {
            return Err(unsupported(
                &format!("multifd pages compressed with {}", compression(flags)),
                "multifd",
                "migrate with migrate-set-parameters multifd-compression=none",
                at,
            ));
        }
        let (alloc, normal, zero) = (
            be32(header, 12) as usize,
            be32(header, 16) as usize,
            be32(header, 32) as usize,
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
        let packet = Packet {
            header: Cow::Borrowed(header),
            data: Cow::Borrowed(r.take(normal * PAGE)?),
        };
        if normal + zero > 0 {
            let name = &header[64..HEADER_LEN - 1];
            let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
            crate::framing::name_text(&name[..end], "multifd packet's RAM block", at + 64)?;
            if end == 0 {
                return Err(framing("multifd packet with pages and no block".into(), at));
            }
            if let Some(i) = (0..normal + zero).find(|&i| packet.offset(i) % PAGE_SIZE != 0) {
                return Err(framing(
                    format!(
                        "multifd page offset {:#x} is not a page's",
                        packet.offset(i)
                    ),
                    at + (HEADER_LEN + 8 * i) as u64,
                ));
            }
        }
        packets.push(packet);
    }
    Ok(Channel {
        init: Cow::Borrowed(init),
        packets,
    })
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

/// Writes a channel back: the inverse of [`read_channel`].
pub fn write_channel<W: std::io::Write>(c: &Channel<'_>, w: &mut Writer<W>) -> Result<()> {
    w.put(&c.init)?;
    for p in &c.packets {
        w.put(&p.header)?;
        w.put(&p.data)?;
    }
    Ok(())
}

/// A channel's packets not yet loaded.
type Rounds<'a> = std::iter::Peekable<std::slice::Iter<'a, Packet<'a>>>;

/// Each channel's next round: its packets through its next `SYNC` packet.
fn next_round<'a>(
    rounds: &mut [Rounds<'a>],
    emit: &mut dyn FnMut(RamRecord<'a>) -> Result<()>,
) -> Result<()> {
    for packets in rounds {
        for p in packets.by_ref() {
            p.records().try_for_each(&mut *emit)?;
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
        .map(|c| c.packets.iter().peekable())
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
    while rounds.iter_mut().any(|p| p.peek().is_some()) {
        next_round(&mut rounds, emit)?;
    }
    Ok(())
}
