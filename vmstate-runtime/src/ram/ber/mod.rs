//! The BER form of a RAM part: the block list, then runs of pages. A long run of
//! zero pages is one small element whatever its length; a long run of data pages is
//! one OCTET STRING; short runs of both kinds, as in memory where zero and data pages
//! interleave, are gathered into a mixed run: a bit per page says which pages are
//! zero, one OCTET STRING holds the others. An idle guest's RAM costs bytes per run,
//! and no layout costs an element per page.
//!
//! ```text
//! VMState-Ram-Element ::= CHOICE {         -- as `Module::with_stream` renders it
//!     mem-size  [0] SEQUENCE { total INTEGER, blocks SEQUENCE OF VMState-Ram-Block,
//!                              page-size INTEGER OPTIONAL },  -- absent: 4 KiB
//!     zero-run  [1] SEQUENCE { block UTF8String, offset INTEGER, pages INTEGER, fill INTEGER, continued BOOLEAN OPTIONAL },
//!     data-run  [2] SEQUENCE { block UTF8String, offset INTEGER, data OCTET STRING, continued BOOLEAN OPTIONAL },
//!     mixed-run [3] SEQUENCE { block UTF8String, offset INTEGER,
//!                              zero BIT STRING,     -- one bit per page, set for a zero page
//!                              data OCTET STRING,   -- the other pages, in order
//!                              continued BOOLEAN OPTIONAL },
//!     xbzrle    [4] SEQUENCE { block UTF8String, offset INTEGER,
//!                              delta OCTET STRING,  -- QEMU's XBZRLE encoding of the page
//!                              continued BOOLEAN OPTIONAL },
//!     zlib      [5] SEQUENCE { block UTF8String, offset INTEGER,
//!                              zlib OCTET STRING,   -- the page deflated (`compress`)
//!                              continued BOOLEAN OPTIONAL },
//!     multifd-flush [6] SEQUENCE { },              -- a multifd sync point
//!     delta-cache   [7] ..., delta [8] ..., zstd [9] ...  -- compression (`wire`)
//! }
//! ```
//!
//! A page QEMU sent encoded (an XBZRLE delta, a zlib stream) is an element of its
//! own, its bytes kept as QEMU encoded them, so that it converts back exactly.
//!
//! `continued` keeps a legacy stream's `CONTINUE` choice for the run's first page
//! when it differs from the rule vmstate's writer follows (a page names its block
//! unless the part's previous page was of the same block), so legacy → BER → legacy
//! is exact; the run's other pages are `CONTINUE`. Both writers (the saver and the
//! stream converter) group runs into elements by one [`Planner`].

mod convert;
mod groups;
mod part;
mod read;
pub mod wire;
mod write;

pub use self::convert::{
    ber_to_records, check_run, element_records, records_to_ber, Emit, PartEncoder,
};
pub use self::part::{PartRecord, PART_HOLD};
pub use self::read::{next_element, Elements};
pub use self::wire::{Compression, PageCache, Received, WireWriter, CACHE_MAX, GROUP_MAX};
pub use self::write::{
    data_run_start, encoded_page, mem_size, mixed_run_start, run_end, zero_run, MAPPED,
    PAGE_SIZE_ID,
};

use crate::ber::{Class, Tag};
use crate::error::Result;

const fn ctx(n: u32) -> Tag {
    Tag {
        class: Class::Context,
        constructed: true,
        number: n,
    }
}

/// `[0]`: the block list.
pub const MEM_SIZE: Tag = ctx(0);
/// `[1]`: a run of pages filled with one byte.
pub const ZERO_RUN: Tag = ctx(1);
/// `[2]`: a run of data pages.
pub const DATA_RUN: Tag = ctx(2);
/// `[3]`: zero and data pages mixed, a bit per page telling which.
pub const MIXED_RUN: Tag = ctx(3);
/// `[4]`: one page sent again as the bytes that changed (XBZRLE).
pub const XBZRLE: Tag = ctx(4);
/// `[5]`: one page deflated with zlib (`compress`).
pub const ZLIB_PAGE: Tag = ctx(5);
/// `[6]`: a multifd main channel's sync point (`MULTIFD_FLUSH`), empty.
pub const MULTIFD_FLUSH: Tag = ctx(6);
/// `[7]`: the delta cache's size, before its first use ([`wire`]).
pub const DELTA_CACHE: Tag = ctx(7);
/// `[8]`: a page sent again as a delta against the reader's cached copy.
pub const DELTA: Tag = ctx(8);
/// `[9]`: elements compressed together with zstd.
pub const ZSTD: Tag = ctx(9);

/// The element tag of an encoded page.
pub const fn encoded_tag(encoding: crate::ram::Encoding) -> Tag {
    match encoding {
        crate::ram::Encoding::Xbzrle => XBZRLE,
        crate::ram::Encoding::Zlib => ZLIB_PAGE,
    }
}

/// Runs at least this many pages long are elements of their own; shorter ones are
/// gathered into mixed runs.
const LONG_RUN: u64 = 64;
/// The most pages one mixed run holds (its bit map is then at most 64 octets).
const MIXED_MAX: u64 = 512;
/// The most octets of pages one data run holds: a longer run is several elements,
/// so that a reader of a stream as it arrives holds one bounded element at a time.
pub const DATA_RUN_MAX: u64 = 4 << 20;

/// The most pages of `page` bytes one data run holds ([`DATA_RUN_MAX`]).
pub fn data_run_pages(page: u64) -> u64 {
    (DATA_RUN_MAX / page).max(1)
}

/// A maximal run of pages of one kind, as a writer finds them. `B` names its
/// block: the name itself, or an index into the writer's list of names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Run<B> {
    /// Block name (or what stands for it).
    pub block: B,
    /// Offset of the first page.
    pub offset: u64,
    /// Number of pages.
    pub pages: u64,
    /// `Some(fill)` for pages filled with one byte, `None` for data pages.
    pub fill: Option<u8>,
    /// An explicit `CONTINUE` choice for the first page (see the module doc).
    pub continued: Option<bool>,
}

impl<B> Run<B> {
    /// The offset just past the run's last page, for pages of `page` bytes.
    pub fn end(&self, page: u64) -> u64 {
        self.offset + self.pages * page
    }
}

/// What a [`Planner`] hands its writer: one run as its own element, or several
/// short runs (contiguous, one block) as one mixed run.
#[derive(Debug)]
pub enum Planned<'r, B> {
    /// A zero run or a data run.
    One(Run<B>),
    /// A mixed run of these runs, in order.
    Mixed(&'r [Run<B>]),
}

/// Groups runs into elements: long runs stand alone, short contiguous ones are
/// gathered into mixed runs; a data run longer than [`DATA_RUN_MAX`] is cut into
/// runs of that length. It holds run descriptions only, never page data.
#[derive(Debug)]
pub struct Planner<B> {
    pending: Vec<Run<B>>,
    pages: u64,
    /// Bytes per page.
    page: u64,
}

impl<B: Copy + PartialEq> Planner<B> {
    /// A planner for pages of `page` bytes.
    pub fn new(page: u64) -> Self {
        Planner {
            pending: Vec::new(),
            pages: 0,
            page,
        }
    }

    /// Takes the next run; calls `emit` for each element that it completes.
    pub fn push(
        &mut self,
        mut run: Run<B>,
        emit: &mut impl FnMut(Planned<'_, B>) -> Result<()>,
    ) -> Result<()> {
        let most = data_run_pages(self.page);
        while run.fill.is_none() && run.pages > most {
            // The rest continues the block of its previous page: the rule's choice.
            let rest = Run {
                offset: run.offset + most * self.page,
                pages: run.pages - most,
                continued: None,
                ..run
            };
            self.push(Run { pages: most, ..run }, emit)?;
            run = rest;
        }
        let short = run.pages < LONG_RUN && run.fill.is_none_or(|f| f == 0);
        let joins = self.pending.last().is_none_or(|last| {
            last.block == run.block
                && last.end(self.page) == run.offset
                && run.continued.is_none()
                && self.pages + run.pages <= MIXED_MAX
        });
        if !(short && joins) {
            self.finish(emit)?;
        }
        if short {
            self.pending.push(run);
            self.pages += run.pages;
            Ok(())
        } else {
            emit(Planned::One(run))
        }
    }

    /// Emits what is pending.
    pub fn finish(&mut self, emit: &mut impl FnMut(Planned<'_, B>) -> Result<()>) -> Result<()> {
        let done = match self.pending.as_slice() {
            [] => Ok(()),
            [one] => emit(Planned::One(*one)),
            runs => emit(Planned::Mixed(runs)),
        };
        self.pending.clear();
        self.pages = 0;
        done
    }
}

/// Whether page `k` of a mixed run is a zero page, by its bit map.
#[inline(always)]
pub fn is_zero_bit(map: &[u8], k: u64) -> bool {
    map.get((k / 8) as usize)
        .is_some_and(|b| b & (0x80 >> (k % 8)) != 0)
}

/// A mixed run's bit map from a BIT STRING's contents: the map, its page count and
/// how many of those are data pages; `None` unless it names at least one page and
/// its unused bits are zero (DER, so that one set of pages has one encoding).
#[inline(always)]
pub(super) fn bit_map(c: &[u8]) -> Option<(&[u8], u64, u64)> {
    let (&unused, map) = c.split_first()?;
    let last = *map.last()?;
    if unused > 7 || last & ((1u8 << unused) - 1) != 0 {
        return None;
    }
    let pages = map.len() as u64 * 8 - u64::from(unused);
    let zero: u64 = map.iter().map(|b| u64::from(b.count_ones())).sum();
    Some((map, pages, pages - zero))
}

/// One decoded element; data borrows the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Element<'a> {
    /// The block list.
    MemSize {
        /// Sum of the lengths.
        total: u64,
        /// The blocks.
        blocks: Vec<crate::ram::ListedBlock>,
        /// Each block's region of a mapped-ram file (empty for any other stream).
        regions: Vec<crate::ram::MappedRegion<'a>>,
        /// The page size, when it is not 4 KiB.
        page_size: Option<u64>,
    },
    /// Pages filled with one byte.
    Zero {
        /// Block name.
        block: &'a str,
        /// Offset of the first page.
        offset: u64,
        /// Number of pages.
        pages: u64,
        /// The fill byte.
        fill: u8,
        /// An explicit `CONTINUE` choice for the first page.
        continued: Option<bool>,
    },
    /// Data pages.
    Data {
        /// Block name.
        block: &'a str,
        /// Offset of the first page.
        offset: u64,
        /// The pages' bytes (a whole number of pages).
        data: &'a [u8],
        /// An explicit `CONTINUE` choice for the first page.
        continued: Option<bool>,
    },
    /// Zero and data pages mixed.
    Mixed {
        /// Block name.
        block: &'a str,
        /// Offset of the first page.
        offset: u64,
        /// Number of pages.
        pages: u64,
        /// The bit map, a bit per page from the most significant, set for a zero
        /// page (read it with [`is_zero_bit`]).
        zero: &'a [u8],
        /// The data pages' bytes, in order (as many pages as bits are clear).
        data: &'a [u8],
        /// An explicit `CONTINUE` choice for the first page.
        continued: Option<bool>,
    },
    /// A multifd main channel's sync point.
    MultifdFlush,
    /// From here on, the reader keeps a [`PageCache`] of this many slots.
    DeltaCache {
        /// Its slots.
        pages: u64,
    },
    /// A page made from the cached copy of it and an XBZRLE delta.
    Delta {
        /// Block name.
        block: &'a str,
        /// Offset of the page.
        offset: u64,
        /// The delta, checked ([`crate::ram::xbzrle::check`]).
        delta: &'a [u8],
        /// An explicit `CONTINUE` choice for the page.
        continued: Option<bool>,
    },
    /// Elements compressed together: a zstd frame of `octets` octets of them.
    Zstd {
        /// The elements' length (at most [`GROUP_MAX`]).
        octets: u64,
        /// The zstd frame.
        data: &'a [u8],
    },
    /// One page sent encoded (XBZRLE, zlib).
    Encoded {
        /// Block name.
        block: &'a str,
        /// Offset of the page.
        offset: u64,
        /// How `data` makes the page.
        encoding: crate::ram::Encoding,
        /// The encoded bytes, checked ([`crate::ram::Encoding::check`]).
        data: &'a [u8],
        /// An explicit `CONTINUE` choice for the page.
        continued: Option<bool>,
    },
}
