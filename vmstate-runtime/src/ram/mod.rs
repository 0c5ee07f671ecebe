//! Guest RAM: QEMU's `ram` section (version 4) and its BER form.
//!
//! [`RamSaver`] writes RAM blocks borrowed from the VMM (setup part with the block
//! list, then parts with the pages a dirty bitmap names), [`RamLoader`] loads parts
//! into the destination's blocks; [`read_part`] / [`write_part`] work record by record,
//! for tools that convert streams exactly.
//!
//! A RAM part has no length prefix: it is a run of be64 words `address | flags`
//! (page-aligned address, flags in the low bits), each followed by what its flags
//! say, up to an `EOS` word.
//!
//! A first pass with every page, then a part with the pages the guest dirtied since
//! (the bitmap a VMM gets from `KVM_GET_DIRTY_LOG`), loaded into fresh memory:
//!
//! ```
//! use vmstate_runtime::Format;
//! use vmstate_runtime::io::Writer;
//! use vmstate_runtime::ram::{Pages, RamBlock, RamBlockMut, RamLoader, RamSaver};
//!
//! let mut guest = vec![0u8; 16 * 4096];
//! guest[4096] = 1;
//! for format in [Format::Legacy, Format::Ber] {
//!     let mut parts = Vec::new();
//!     {
//!         let saver = RamSaver::new(vec![RamBlock { name: "pc.ram", mem: &guest }])?;
//!         let mut w = Writer::new(Vec::new());
//!         saver.write_setup(format, &mut w)?; // the block list
//!         parts.push(w.into_inner());
//!         let mut w = Writer::new(Vec::new());
//!         let stats = saver.write_part(format, Pages::All, &mut w)?;
//!         assert_eq!((stats.zero_pages, stats.data_pages), (15, 1));
//!         parts.push(w.into_inner());
//!     }
//!     guest[3 * 4096] = 7; // the guest runs on and writes page 3
//!     let saver = RamSaver::new(vec![RamBlock { name: "pc.ram", mem: &guest }])?;
//!     let dirty: &[u64] = &[1 << 3];
//!     let mut w = Writer::new(Vec::new());
//!     saver.write_part(format, Pages::Dirty(&[dirty]), &mut w)?;
//!     parts.push(w.into_inner());
//!
//!     let mut dst = vec![0u8; 16 * 4096];
//!     let mut loader = RamLoader::new(vec![RamBlockMut { name: "pc.ram", mem: &mut dst }]);
//!     for part in &parts {
//!         match format {
//!             // A legacy part ends at its EOS word; the call says where.
//!             Format::Legacy => assert_eq!(loader.load_legacy(part, 0)?, part.len()),
//!             // A BER part is the contents of its section's `[6]`.
//!             Format::Ber => loader.load_ber(part, 0)?,
//!         }
//!     }
//!     drop(loader);
//!     assert_eq!(dst, guest);
//!     guest[3 * 4096] = 0;
//! }
//! # Ok::<(), vmstate_runtime::Error>(())
//! ```

mod arrived;
pub mod ber;
mod encoding;
mod live;
mod loader;
pub mod mapped;
mod memory;
pub mod multifd;
mod saver;
#[cfg(feature = "vm-memory")]
mod vm_memory;
pub mod xbzrle;
mod zero;

pub use self::arrived::{Arrived, Holes};
pub use self::encoding::{Encoding, FLAG_COMPRESS_PAGE, FLAG_XBZRLE};
pub use self::live::LiveRam;
pub use self::loader::{RamBlockMut, RamLoader};
pub use self::mapped::MappedRegion;
pub use self::memory::{Buffer, GuestRam, GuestRamMut};
pub use self::saver::{Pages, PartStats, RamBlock, RamSaver};
#[cfg(feature = "vm-memory")]
pub use self::vm_memory::{add_vmm_writes, GuestRange};
pub use self::zero::is_zero;

use crate::error::{Error, ErrorKind, Result};
use crate::io::{Input, SliceInput, StreamInput, Writer};
use std::borrow::Cow;

/// The bytes of a target page (x86).
pub const PAGE_SIZE: u64 = 4096;
const PAGE: usize = PAGE_SIZE as usize;

/// The version of QEMU's `ram` section.
pub const RAM_VERSION: u32 = 4;

/// Checks a page size: a power of two from 1 KiB to 1 GiB (QEMU's targets use 1 KiB
/// to 64 KiB pages; hugepage-backed guests larger ones).
fn check_page_size(page: usize) -> Result<()> {
    if page.is_power_of_two() && (1 << 10..=1 << 30).contains(&page) {
        Ok(())
    } else {
        Err(Error::new(
            ErrorKind::Framing(format!(
                "a page size is a power of two from 1 KiB to 1 GiB, not {page}"
            )),
            0,
        ))
    }
}

/// A saver asked to load, or a loader asked to save.
fn wrong_direction(what: &str) -> Error {
    Error::new(ErrorKind::Framing(what.to_owned()), 0)
}

/// `RAM_SAVE_FLAG_ZERO`: a page filled with one byte.
pub const FLAG_ZERO: u64 = 0x02;
/// `RAM_SAVE_FLAG_MEM_SIZE`: the block list.
pub const FLAG_MEM_SIZE: u64 = 0x04;
/// `RAM_SAVE_FLAG_PAGE`: a full page of data.
pub const FLAG_PAGE: u64 = 0x08;
/// `RAM_SAVE_FLAG_EOS`: end of this part.
pub const FLAG_EOS: u64 = 0x10;
/// `RAM_SAVE_FLAG_CONTINUE`: same block as the previous page, so no name follows.
pub const FLAG_CONTINUE: u64 = 0x20;
/// `RAM_SAVE_FLAG_MULTIFD_FLUSH`: a sync point of a multifd migration's main
/// channel (QEMU 8.0+).
pub const FLAG_MULTIFD_FLUSH: u64 = 0x200;
/// The flags of a RAM word that name a page's kind.
const PAGE_KINDS: u64 = FLAG_ZERO | FLAG_PAGE | FLAG_XBZRLE | FLAG_COMPRESS_PAGE;
/// The flags of a RAM word vmstate reads.
pub(crate) const KNOWN_FLAGS: u64 =
    PAGE_KINDS | FLAG_MEM_SIZE | FLAG_EOS | FLAG_CONTINUE | FLAG_MULTIFD_FLUSH;

/// One entry of a block list (`MEM_SIZE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedBlock {
    /// The block's name (QEMU's `idstr`).
    pub name: String,
    /// Its used length in bytes.
    pub length: u64,
    /// Its guest address (QEMU's `mr->addr`): sent when the configuration lists
    /// `x-ignore-shared`, so that the destination checks that a block it shares
    /// with the source (and so is not sent) is mapped where the source's was.
    pub addr: Option<u64>,
    /// Its host page size, where it is not the host's (a hugepage-backed block):
    /// sent in a postcopy migration, so that the destination checks its block
    /// uses the same.
    pub page_size: Option<u64>,
}

impl ListedBlock {
    /// A block of `length` bytes, without the entries a capability adds.
    pub fn new(name: impl Into<String>, length: u64) -> Self {
        ListedBlock {
            name: name.into(),
            length,
            addr: None,
            page_size: None,
        }
    }
}

/// What a block list entry holds besides the name and length: set by the
/// capabilities the stream's configuration lists (QEMU writes them only then, so
/// a reader cannot see them otherwise).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BlockLayout {
    /// Each entry ends with the block's be64 guest address (`x-ignore-shared`).
    pub addresses: bool,
    /// Each entry is followed by the block's region of a mapped-ram file
    /// ([`mapped`]), and no page travels in a record.
    pub mapped: bool,
    /// A postcopy migration's page-size summary (`POSTCOPY_ADVISE`: every
    /// block's page size or'ed), when it holds sizes over 4 KiB: an entry of a
    /// block backed by one of them has it after its length.
    pub hugepages: u64,
}

impl BlockLayout {
    /// The layout a stream with configuration `c` (if any) sends.
    pub fn of(c: Option<&crate::framing::Configuration>) -> Self {
        BlockLayout {
            addresses: c.is_some_and(|c| c.lists_capability(b"x-ignore-shared")),
            mapped: c.is_some_and(|c| c.lists_capability(b"mapped-ram")),
            hugepages: 0,
        }
    }

    /// The layout once a command passed: `POSTCOPY_ADVISE` announces the
    /// page sizes of the blocks (be64 summary, be64 target page size).
    pub fn after(&mut self, c: &crate::framing::Command) {
        if c.number == crate::framing::Command::POSTCOPY_ADVISE && c.data.len() >= 8 {
            let summary = u64::from_be_bytes(c.data[..8].try_into().unwrap_or_default());
            // The sizes over 4 KiB.
            self.hugepages = summary & !(2 * PAGE_SIZE - 1);
        }
    }

    /// Whether `v`, the be64 after a block's length, is its page size: a power of
    /// two over 4 KiB that the postcopy summary holds. (What else can follow is
    /// never one: the next entry starts with its name's nonzero length octet,
    /// the RAM word after the list is flags below 4 KiB.)
    fn is_page_size(&self, v: u64) -> bool {
        v.is_power_of_two() && v > PAGE_SIZE && v & self.hugepages != 0
    }

    /// Checks that a block list has the entries this layout sends: a list without
    /// the addresses (or the mapped-ram regions) the configuration announces, or
    /// with those it does not, would be written as bytes QEMU misreads.
    pub fn check(
        &self,
        blocks: &[ListedBlock],
        regions: &[MappedRegion<'_>],
        at: u64,
    ) -> Result<()> {
        let expected = if self.mapped { blocks.len() } else { 0 };
        if regions.len() != expected {
            return Err(Error::new(
                ErrorKind::Framing(format!(
                    "a block list of {} blocks with {} mapped-ram regions, and the \
                     configuration {} mapped-ram",
                    blocks.len(),
                    regions.len(),
                    if self.mapped {
                        "lists"
                    } else {
                        "does not list"
                    }
                )),
                at,
            ));
        }
        if let Some(b) = blocks
            .iter()
            .find(|b| b.page_size.is_some_and(|p| !self.is_page_size(p)))
        {
            return Err(Error::new(
                ErrorKind::Framing(format!(
                    "RAM block {} has page size {:#x}, which the stream's POSTCOPY_ADVISE \
                     does not announce",
                    b.name,
                    b.page_size.unwrap_or(0)
                )),
                at,
            ));
        }
        match blocks.iter().find(|b| b.addr.is_some() != self.addresses) {
            None => Ok(()),
            Some(b) => Err(Error::new(
                ErrorKind::Framing(format!(
                    "RAM block {} {} an address, and the configuration {} x-ignore-shared",
                    b.name,
                    if b.addr.is_some() { "has" } else { "lacks" },
                    if self.addresses {
                        "lists"
                    } else {
                        "does not list"
                    },
                )),
                at,
            )),
        }
    }
}

/// What a RAM reader carries from record to record and part to part of one stream.
#[derive(Debug, Clone, Default)]
pub struct Cursor {
    /// The block of the stream's previous page: QEMU's `CONTINUE` may refer to a
    /// block named in an earlier part (its loader keeps the block across parts, and
    /// its saver names a block only when it changes).
    pub last: Option<String>,
    /// What the block list entries hold.
    pub layout: BlockLayout,
}

impl Cursor {
    /// The cursor at the start of a stream with configuration `c`.
    pub fn new(c: Option<&crate::framing::Configuration>) -> Self {
        Cursor {
            last: None,
            layout: BlockLayout::of(c),
        }
    }
}

/// One record of a RAM part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RamRecord<'a> {
    /// The block list: total bytes, then each block's name and used length.
    MemSize {
        /// Sum of the blocks' used lengths.
        total: u64,
        /// The blocks, in the sender's order.
        blocks: Vec<ListedBlock>,
        /// In a mapped-ram file, each block's region (its pages), in the same
        /// order; otherwise empty.
        regions: Vec<MappedRegion<'a>>,
    },
    /// A page whose every byte is `fill`.
    Zero {
        /// Block name (repeated from the previous record for `CONTINUE`).
        block: String,
        /// Offset of the page in the block.
        offset: u64,
        /// The fill byte.
        fill: u8,
        /// Sent with `CONTINUE` (no block name on the wire).
        continued: bool,
    },
    /// A page of data.
    Page {
        /// Block name.
        block: String,
        /// Offset of the page in the block.
        offset: u64,
        /// The page's bytes.
        data: Cow<'a, [u8]>,
        /// Sent with `CONTINUE` (no block name on the wire).
        continued: bool,
    },
    /// A page sent encoded (an XBZRLE delta, a zlib stream): the bytes as QEMU
    /// sent them, checked ([`Encoding::check`]); [`Encoding::apply`] makes the
    /// page from its previous content.
    Encoded {
        /// Block name.
        block: String,
        /// Offset of the page in the block.
        offset: u64,
        /// How `data` makes the page.
        encoding: Encoding,
        /// The encoded bytes (at most [`Encoding::max_len`]).
        data: Cow<'a, [u8]>,
        /// Sent with `CONTINUE` (no block name on the wire).
        continued: bool,
    },
    /// `MULTIFD_FLUSH`, a sync point of a multifd migration's main channel: the
    /// pages its channels sent before their matching `SYNC` packets come before
    /// the records after it ([`multifd`]). No page travels with it.
    MultifdFlush,
}

impl RamRecord<'_> {
    /// The record with its page data owned.
    pub fn into_owned(self) -> RamRecord<'static> {
        match self {
            RamRecord::MemSize {
                total,
                blocks,
                regions,
            } => RamRecord::MemSize {
                total,
                blocks,
                regions: regions.into_iter().map(MappedRegion::into_owned).collect(),
            },
            RamRecord::Zero {
                block,
                offset,
                fill,
                continued,
            } => RamRecord::Zero {
                block,
                offset,
                fill,
                continued,
            },
            RamRecord::Page {
                block,
                offset,
                data,
                continued,
            } => RamRecord::Page {
                block,
                offset,
                data: Cow::Owned(data.into_owned()),
                continued,
            },
            RamRecord::Encoded {
                block,
                offset,
                encoding,
                data,
                continued,
            } => RamRecord::Encoded {
                block,
                offset,
                encoding,
                data: Cow::Owned(data.into_owned()),
                continued,
            },
            RamRecord::MultifdFlush => RamRecord::MultifdFlush,
        }
    }

    /// The block and offset of the page a record sends (`None` for the block list).
    pub fn page(&self) -> Option<(&str, u64)> {
        match self {
            RamRecord::MemSize { .. } | RamRecord::MultifdFlush => None,
            RamRecord::Zero { block, offset, .. }
            | RamRecord::Page { block, offset, .. }
            | RamRecord::Encoded { block, offset, .. } => Some((block, *offset)),
        }
    }
}

/// Reads the records of one RAM part, up to and including its `EOS` word. Returns
/// the records and the part's length in bytes; `cursor` is the stream's, left at
/// this part's end.
pub fn read_part<'a>(
    data: &'a [u8],
    base: u64,
    cursor: &mut Cursor,
) -> Result<(Vec<RamRecord<'a>>, usize)> {
    #[cfg(test)]
    crate::tally::note(crate::tally::Work::RamPart);
    let mut r = StreamInput::Slice(SliceInput::with_base(data, base));
    let mut records = Vec::new();
    while !read_word(&mut r, cursor, &mut |rec| {
        records.push(rec);
        Ok(())
    })? {}
    Ok((records, (r.offset() - base) as usize))
}

/// Reads one word of a RAM part and what its flags say follows, handing each
/// record to `emit` (page data borrowed when the stream is in memory); returns
/// whether the word was the part's `EOS`. [`read_part`] is this until `EOS`; a
/// converter of a stream as it arrives calls it record by record.
pub fn read_word<'a>(
    r: &mut StreamInput<'a>,
    cursor: &mut Cursor,
    emit: &mut dyn FnMut(RamRecord<'a>) -> Result<()>,
) -> Result<bool> {
    word(r, cursor, |r| r.take_bytes(PAGE), emit)
}

/// [`read_word`] with a data page from a reader read into `page`, which the
/// caller keeps for the next word (no allocation per page), its record lent
/// for as long as the buffer is.
pub fn read_word_in<'a: 'p, 'p>(
    r: &mut StreamInput<'a>,
    cursor: &mut Cursor,
    page: &'p mut Vec<u8>,
    emit: &mut dyn FnMut(RamRecord<'p>) -> Result<()>,
) -> Result<bool> {
    word(
        r,
        cursor,
        |r| r.take_bytes_in(PAGE, page).map(Cow::Borrowed),
        emit,
    )
}

/// [`read_word`], a data page's octets taken by `take_page`.
fn word<'a: 'p, 'p>(
    r: &mut StreamInput<'a>,
    cursor: &mut Cursor,
    take_page: impl FnOnce(&mut StreamInput<'a>) -> Result<Cow<'p, [u8]>>,
    emit: &mut dyn FnMut(RamRecord<'p>) -> Result<()>,
) -> Result<bool> {
    let word = u64::from_be_bytes(r.read_array()?);
    let flags = word & (PAGE_SIZE - 1);
    let addr = word & !(PAGE_SIZE - 1);
    let at = r.offset() - 8;
    check_flags(flags, addr, cursor.layout, at)?;
    if flags & FLAG_MULTIFD_FLUSH != 0 {
        emit(RamRecord::MultifdFlush)?;
    }
    if flags & FLAG_MEM_SIZE != 0 {
        let (mut blocks, mut regions) = (Vec::new(), Vec::new());
        let mut left = addr;
        while left > 0 {
            let b = read_block_entry(r, &mut left, cursor.layout)?;
            if cursor.layout.mapped {
                regions.push(mapped::read(r, &b)?);
            }
            blocks.push(b);
        }
        emit(RamRecord::MemSize {
            total: addr,
            blocks,
            regions,
        })?;
    }
    if flags & PAGE_KINDS != 0 {
        let continued = flags & FLAG_CONTINUE != 0;
        let block = if continued {
            cursor.last.clone().ok_or_else(|| {
                r.error(ErrorKind::Framing("CONTINUE page without a block".into()))
            })?
        } else {
            let name = read_name(r)?;
            cursor.last = Some(name.clone());
            name
        };
        if flags & FLAG_ZERO != 0 {
            let fill = r.read_array::<1>()?[0];
            emit(RamRecord::Zero {
                block,
                offset: addr,
                fill,
                continued,
            })?;
        } else if let Some(encoding) = Encoding::ALL.into_iter().find(|e| flags & e.flag() != 0) {
            emit(RamRecord::Encoded {
                block,
                offset: addr,
                encoding,
                data: read_encoded(r, encoding)?,
                continued,
            })?;
        } else {
            let data = take_page(r)?;
            emit(RamRecord::Page {
                block,
                offset: addr,
                data,
                continued,
            })?;
        }
    }
    Ok(flags & FLAG_EOS != 0)
}

/// Checks a record against the latest block list, `blocks`: a page must lie
/// inside one of its blocks (as the BER reader checks its runs: one set of checks
/// for both formats); a block list replaces it.
pub fn check_in_blocks(rec: &RamRecord<'_>, blocks: &mut Vec<ListedBlock>, at: u64) -> Result<()> {
    match rec {
        RamRecord::MemSize { blocks: list, .. } => {
            blocks.clone_from(list);
            Ok(())
        }
        _ => match rec.page() {
            Some((block, offset)) => ber::check_run(blocks, block, offset, 1, at),
            None => Ok(()),
        },
    }
}

/// The record kinds of a RAM word: QEMU's loader takes a word whose flags, but for
/// `CONTINUE`, are exactly one of them.
const KINDS: [u64; 7] = [
    FLAG_MEM_SIZE,
    FLAG_ZERO,
    FLAG_PAGE,
    FLAG_XBZRLE,
    FLAG_COMPRESS_PAGE,
    FLAG_EOS,
    FLAG_MULTIFD_FLUSH,
];

/// Refuses a word (`flags`, and `addr` its other bits) that QEMU's loader refuses
/// or that would not be written back the same: flags vmstate does not read (by
/// QEMU's names), flags that are not one record kind (two kinds of page, none),
/// `CONTINUE` on a word that sends no page, address bits on an `EOS` or
/// `MULTIFD_FLUSH`, a page record in a mapped-ram file (`layout`), whose pages are
/// in their slots.
pub(crate) fn check_flags(flags: u64, addr: u64, layout: BlockLayout, at: u64) -> Result<()> {
    if flags & !KNOWN_FLAGS != 0 {
        return Err(crate::framing::ram_flags(flags, KNOWN_FLAGS, at));
    }
    let kind = flags & !FLAG_CONTINUE;
    let message = if !KINDS.contains(&kind) {
        format!("RAM flags {flags:#x} are not one kind of record (QEMU's loader refuses them)")
    } else if flags & FLAG_CONTINUE != 0 && kind & PAGE_KINDS == 0 {
        format!("RAM flags {flags:#x}: CONTINUE on a word that sends no page")
    } else if addr != 0 && (kind == FLAG_EOS || kind == FLAG_MULTIFD_FLUSH) {
        format!("RAM flags {flags:#x} with address bits {addr:#x}, which that word has none of")
    } else if layout.mapped && kind & PAGE_KINDS != 0 {
        format!(
            "RAM flags {flags:#x} send a page in a mapped-ram file, whose pages are in \
             their slots (QEMU refuses it too)"
        )
    } else {
        return Ok(());
    };
    Err(Error::new(ErrorKind::Framing(message), at))
}

/// An encoded page's body after its block, checked as QEMU's loader checks it:
/// XBZRLE's encoding byte, be16 length and delta; a zlib page's be32 length and
/// stream.
fn read_encoded<'a>(r: &mut StreamInput<'a>, encoding: Encoding) -> Result<Cow<'a, [u8]>> {
    let len = encoded_len(r, encoding)?;
    let at = r.offset();
    let data = r.take_bytes(len)?;
    encoding.check(&data, PAGE, at)?;
    Ok(data)
}

/// The length header of an encoded page (and XBZRLE's encoding byte), bounded
/// by [`Encoding::max_len`] before anything is read for it.
pub(crate) fn encoded_len(r: &mut impl Input, encoding: Encoding) -> Result<usize> {
    let at = r.offset();
    let len = match encoding {
        Encoding::Xbzrle => {
            let [byte] = r.read_array::<1>()?;
            if byte != xbzrle::ENCODING {
                return Err(Error::new(
                    ErrorKind::BadXbzrle("an encoding other than ENCODING_FLAG_XBZRLE"),
                    at,
                ));
            }
            usize::from(u16::from_be_bytes(r.read_array()?))
        }
        Encoding::Zlib => u32::from_be_bytes(r.read_array()?) as usize,
    };
    if len > encoding.max_len(PAGE) {
        let kind = match encoding {
            Encoding::Xbzrle => ErrorKind::BadXbzrle("longer than a page"),
            Encoding::Zlib => ErrorKind::BadCompressedPage("longer than zlib's bound for a page"),
        };
        return Err(Error::new(kind, at));
    }
    Ok(len)
}

/// Writes one RAM part: its records, then `EOS`. The inverse of [`read_part`].
pub fn write_part<W: std::io::Write>(records: &[RamRecord<'_>], w: &mut Writer<W>) -> Result<()> {
    records.iter().try_for_each(|rec| write_record(rec, w))?;
    write_eos(w)
}

/// Writes a part's `EOS` word, which ends it.
pub fn write_eos<W: std::io::Write>(w: &mut Writer<W>) -> Result<()> {
    w.put(&FLAG_EOS.to_be_bytes())
}

/// Writes one record of a part ([`write_part`] record by record).
pub fn write_record<W: std::io::Write>(rec: &RamRecord<'_>, w: &mut Writer<W>) -> Result<()> {
    match rec {
        RamRecord::MemSize {
            total,
            blocks,
            regions,
        } => {
            if !regions.is_empty() && regions.len() != blocks.len() {
                return Err(w.error(ErrorKind::Framing(format!(
                    "{} mapped-ram regions for {} blocks",
                    regions.len(),
                    blocks.len()
                ))));
            }
            w.put(&(total | FLAG_MEM_SIZE).to_be_bytes())?;
            for (i, b) in blocks.iter().enumerate() {
                put_entry(w, b)?;
                if let Some(region) = regions.get(i) {
                    mapped::write(w, b, region)?;
                }
            }
            Ok(())
        }
        RamRecord::Zero {
            block,
            offset,
            fill,
            continued,
        } => {
            put_page_word(w, *offset, FLAG_ZERO, block, *continued)?;
            w.put(&[*fill])
        }
        RamRecord::Page {
            block,
            offset,
            data,
            continued,
        } => {
            put_page_word(w, *offset, FLAG_PAGE, block, *continued)?;
            w.put(data)
        }
        RamRecord::Encoded {
            block,
            offset,
            encoding,
            data,
            continued,
        } => {
            put_page_word(w, *offset, encoding.flag(), block, *continued)?;
            // Its length was checked when it was read (a reader's, a tree's).
            match encoding {
                Encoding::Xbzrle => {
                    w.put(&[xbzrle::ENCODING])?;
                    w.put(&(data.len() as u16).to_be_bytes())?;
                }
                Encoding::Zlib => w.put(&(data.len() as u32).to_be_bytes())?,
            }
            w.put(data)
        }
        RamRecord::MultifdFlush => w.put(&FLAG_MULTIFD_FLUSH.to_be_bytes()),
    }
}

fn put_page_word<W: std::io::Write>(
    w: &mut Writer<W>,
    offset: u64,
    flag: u64,
    block: &str,
    continued: bool,
) -> Result<()> {
    let cont = if continued { FLAG_CONTINUE } else { 0 };
    w.put(&(offset | flag | cont).to_be_bytes())?;
    if continued {
        Ok(())
    } else {
        put_name(w, block)
    }
}

/// A block list entry: name, length, and what the stream's capabilities add.
fn put_entry<W: std::io::Write>(w: &mut Writer<W>, b: &ListedBlock) -> Result<()> {
    put_name(w, &b.name)?;
    w.put(&b.length.to_be_bytes())?;
    if let Some(page_size) = b.page_size {
        w.put(&page_size.to_be_bytes())?;
    }
    if let Some(addr) = b.addr {
        w.put(&addr.to_be_bytes())?;
    }
    Ok(())
}

/// A mapped-ram file's block list, each entry followed by its region written from
/// the block's memory (`mems`, in the list's order), then `EOS`.
fn write_mapped_list<W: std::io::Write>(
    w: &mut Writer<W>,
    total: u64,
    blocks: &[ListedBlock],
    mems: &mut [memory::PageCopy<'_>],
) -> Result<()> {
    let places = mapped::placement(blocks, w.written());
    w.put(&(total | FLAG_MEM_SIZE).to_be_bytes())?;
    for ((b, at), copy) in blocks.iter().zip(places).zip(mems) {
        put_entry(w, b)?;
        mapped::write_from_ram(w, b, at, copy)?;
    }
    write_eos(w)
}

fn put_name<W: std::io::Write>(w: &mut Writer<W>, name: &str) -> Result<()> {
    let len = u8::try_from(name.len()).map_err(|_| {
        w.error(ErrorKind::Framing(format!(
            "RAM block name {name} is too long"
        )))
    })?;
    w.put(&[len])?;
    w.put(name.as_bytes())
}

fn read_name(r: &mut impl Input) -> Result<String> {
    let len = usize::from(r.read_array::<1>()?[0]);
    let mut name = [0u8; 255];
    let at = r.offset();
    r.read_exact(&mut name[..len])?;
    crate::framing::name_text(&name[..len], "RAM block name", at)
}

/// One entry of the block list after a `MEM_SIZE` word: the block's name and used
/// length (and what `layout` adds), taken from `left`, what the announced total
/// leaves; the list goes on until nothing is left.
pub(crate) fn read_block_entry(
    r: &mut impl Input,
    left: &mut u64,
    layout: BlockLayout,
) -> Result<ListedBlock> {
    let name = read_name(r)?;
    let length = u64::from_be_bytes(r.read_array()?);
    *left = left.checked_sub(length).ok_or_else(|| {
        r.error(ErrorKind::Framing(format!(
            "RAM block {name} is longer than the announced total{}",
            if layout.addresses || layout.mapped {
                ""
            } else {
                " (a stream saved with x-ignore-shared or mapped-ram sends more after \
                 each block's length; its configuration must list the capability)"
            }
        )))
    })?;
    let page_size = match layout.hugepages {
        0 => None,
        _ => {
            let next = r.peek(8)?;
            let v = u64::from_be_bytes(next.try_into().unwrap_or_default());
            match next.len() == 8 && layout.is_page_size(v) {
                true => Some(u64::from_be_bytes(r.read_array()?)),
                false => None,
            }
        }
    };
    let addr = match layout.addresses {
        true => Some(u64::from_be_bytes(r.read_array()?)),
        false => None,
    };
    Ok(ListedBlock {
        name,
        length,
        addr,
        page_size,
    })
}

/// The index of the page at `offset` of block `block` (`len` octets): an error
/// unless the offset is a page's, inside the block.
pub fn page_index(block: &str, offset: u64, len: u64) -> crate::Result<u64> {
    if offset % PAGE_SIZE != 0 || offset >= len {
        return Err(crate::Error::new(
            crate::ErrorKind::PageOutOfRange {
                block: block.to_owned(),
                offset,
            },
            0,
        ));
    }
    Ok(offset / PAGE_SIZE)
}

/// A record for a RAM block that no block list named.
pub fn unknown_block(block: &str) -> crate::Error {
    crate::Error::new(crate::ErrorKind::UnknownRamBlock(block.to_owned()), 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_mem_size_zero_page_continue_eos() {
        let mut s = Vec::new();
        s.extend_from_slice(&(8192u64 | FLAG_MEM_SIZE).to_be_bytes());
        s.push(6);
        s.extend_from_slice(b"pc.ram");
        s.extend_from_slice(&8192u64.to_be_bytes());
        s.extend_from_slice(&FLAG_ZERO.to_be_bytes());
        s.push(6);
        s.extend_from_slice(b"pc.ram");
        s.push(0);
        s.extend_from_slice(&(4096 | FLAG_PAGE | FLAG_CONTINUE).to_be_bytes());
        s.extend_from_slice(&[7u8; 4096]);
        s.extend_from_slice(&FLAG_EOS.to_be_bytes());
        s.push(0xaa); // next section
        let (recs, used) = read_part(&s, 0, &mut Cursor::default()).unwrap();
        assert_eq!(used, s.len() - 1);
        assert_eq!(recs.len(), 3);
        assert!(
            matches!(&recs[2], RamRecord::Page { block, offset: 4096, continued: true, .. } if block == "pc.ram")
        );
        let mut w = Writer::new(Vec::new());
        write_part(&recs, &mut w).unwrap();
        assert_eq!(w.into_inner(), s[..used]);
    }

    #[test]
    fn continue_without_block_is_an_error() {
        let s = (FLAG_ZERO | FLAG_CONTINUE).to_be_bytes();
        let e = read_part(&s, 10, &mut Cursor::default()).unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::Framing(_)));
        assert_eq!(e.offset(), 18);
    }
}
