//! Saving guest RAM from borrowed block memory, and loading it into caller-provided
//! block memory, in both formats.
//!
//! The saver reads each page once to decide zero or data (word-wide, in a form the
//! compiler vectorises) and streams records straight to the writer: no copy of the
//! RAM, and no buffer beyond the writer's own. Which pages a part carries is a dirty
//! bitmap per block in KVM's `KVM_GET_DIRTY_LOG` layout (bit `i % 64` of word
//! `i / 64` is page `i`), or every page.

use super::runs::{self, Element};
use super::{FLAG_CONTINUE, FLAG_EOS, FLAG_MEM_SIZE, FLAG_PAGE, FLAG_ZERO, PAGE_SIZE};
use crate::error::{Error, ErrorKind, Result};
use crate::format::Format;
use crate::framing::{IterativeSection, Part, SectionKind};
use crate::io::{Input, SliceInput, Writer};
use std::io;

const PAGE: usize = PAGE_SIZE as usize;

/// Whether `page` is all zero bytes: OR-folds blocks of bytes (which LLVM turns into
/// vector code) and stops at the first block with a set bit, so a data page usually
/// costs one block.
#[inline]
pub fn is_zero(page: &[u8]) -> bool {
    let mut blocks = page.chunks_exact(ZERO_BLOCK);
    let zero = blocks
        .by_ref()
        .all(|block| block.iter().fold(0u8, |a, &b| a | b) == 0);
    zero && blocks.remainder().iter().all(|&b| b == 0)
}

/// Bytes OR-folded at a time by [`is_zero`].
const ZERO_BLOCK: usize = 128;

/// [`is_zero`] for a page, with 4 KiB pages seen at their fixed size, which lets
/// the compiler unroll the check (without it the BER encode measured 1.35x legacy
/// instead of 1.13x).
#[inline(always)]
fn page_is_zero(page: &[u8]) -> bool {
    match <&[u8; PAGE]>::try_from(page) {
        Ok(fixed) => is_zero(fixed),
        Err(_) => is_zero(page),
    }
}

/// One RAM block of the guest, borrowed (a slice of an mmap'ed region works).
#[derive(Debug, Clone, Copy)]
pub struct RamBlock<'a> {
    /// QEMU's block id (`pc.ram`), at most 255 bytes.
    pub name: &'a str,
    /// The block's memory; its length is the block's used length.
    pub mem: &'a [u8],
}

/// Which pages a part carries.
#[derive(Debug, Clone, Copy)]
pub enum Pages<'a> {
    /// Every page of every block (the first pass).
    All,
    /// The pages whose bits are set, one bitmap per block in block order.
    Dirty(&'a [&'a [u64]]),
}

/// What a part carried.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PartStats {
    /// Pages sent as zero.
    pub zero_pages: u64,
    /// Pages sent with their data.
    pub data_pages: u64,
}

/// Saves RAM blocks as QEMU's `ram` section (version 4) or its BER form.
#[derive(Debug, Clone)]
pub struct RamSaver<'a> {
    blocks: Vec<RamBlock<'a>>,
    /// Where a registry's next part starts: block and page.
    cursor: (usize, usize),
    /// Bytes per page.
    page: usize,
}

/// The pages of one block a part carries.
#[derive(Debug, Clone)]
enum Select<'m> {
    All,
    /// A dirty bitmap.
    Map(&'m [u64]),
    Range(std::ops::Range<usize>),
}

/// Bytes per part when a registry drives the saver, so that a save holds one part of
/// at most that size at a time, and a BER load buffers as much.
const PART_BYTES: usize = 64 << 20;

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

/// The version of QEMU's `ram` section.
pub const RAM_VERSION: u32 = 4;

impl<'a> RamSaver<'a> {
    /// A saver for `blocks` of 4 KiB pages (QEMU x86's target page), which must have
    /// names of 1 to 255 bytes and whole pages.
    pub fn new(blocks: Vec<RamBlock<'a>>) -> Result<Self> {
        Self::with_page_size(blocks, PAGE)
    }

    /// A saver for pages of `page_size` bytes (a power of two from 1 KiB to 1 GiB):
    /// dirty bitmaps then have a bit per such page. A BER stream records the page
    /// size; a legacy stream does not (QEMU's target fixes it), so both sides must
    /// agree on it.
    pub fn with_page_size(blocks: Vec<RamBlock<'a>>, page_size: usize) -> Result<Self> {
        check_page_size(page_size)?;
        for b in &blocks {
            if b.name.is_empty() || b.name.len() > 255 || b.mem.len() % page_size != 0 {
                return Err(Error::new(
                    ErrorKind::Framing(format!(
                        "RAM block {:?}: names are 1 to 255 bytes and lengths whole pages",
                        b.name
                    )),
                    0,
                ));
            }
        }
        Ok(RamSaver {
            blocks,
            cursor: (0, 0),
            page: page_size,
        })
    }

    /// Bytes per page.
    pub fn page_size(&self) -> usize {
        self.page
    }

    /// Sum of the blocks' lengths.
    pub fn total(&self) -> u64 {
        self.blocks.iter().map(|b| b.mem.len() as u64).sum()
    }

    fn list(&self) -> Vec<(String, u64)> {
        self.blocks
            .iter()
            .map(|b| (b.name.to_owned(), b.mem.len() as u64))
            .collect()
    }

    /// Writes the setup part: the block list (then `EOS` in the legacy format).
    pub fn write_setup<W: io::Write>(&self, format: Format, w: &mut Writer<W>) -> Result<()> {
        match format {
            Format::Legacy => {
                let list = self.list();
                let records = [super::RamRecord::MemSize {
                    total: self.total(),
                    blocks: list,
                }];
                super::write_part(&records, w)
            }
            Format::Ber => {
                let mut out = Vec::new();
                runs::mem_size(&mut out, self.total(), &self.list(), self.page as u64);
                w.put(&out)
            }
        }
    }

    /// Writes one part with `pages` (then `EOS` in the legacy format). Each block's
    /// first page in the part names its block; the pages after it `CONTINUE`.
    pub fn write_part<W: io::Write>(
        &self,
        format: Format,
        pages: Pages<'_>,
        w: &mut Writer<W>,
    ) -> Result<PartStats> {
        self.write_selected(
            format,
            |i| match pages {
                Pages::All => Select::All,
                Pages::Dirty(maps) => Select::Map(maps.get(i).copied().unwrap_or(&[])),
            },
            w,
        )
    }

    /// One part with the pages `select` names per block.
    fn write_selected<'m, W: io::Write>(
        &self,
        format: Format,
        select: impl Fn(usize) -> Select<'m>,
        w: &mut Writer<W>,
    ) -> Result<PartStats> {
        let mut stats = PartStats::default();
        for (i, b) in self.blocks.iter().enumerate() {
            match format {
                Format::Legacy => self.legacy_block(b, select(i), w, &mut stats)?,
                Format::Ber => self.ber_block(b, select(i), w, &mut stats)?,
            }
        }
        if format == Format::Legacy {
            w.put(&FLAG_EOS.to_be_bytes())?;
        }
        Ok(stats)
    }

    /// The next part of a pass over every page, at most 64 MiB from where the last
    /// one ended (across blocks); returns what it carried and whether the pass is
    /// complete. `save_setup` starts a pass.
    fn write_next_pages(&mut self, format: Format, out: &mut Vec<u8>) -> Result<(PartStats, bool)> {
        let mut ranges = vec![0..0; self.blocks.len()];
        let mut budget = PART_BYTES / self.page;
        while budget > 0 {
            let (b, start) = self.cursor;
            let Some(block) = self.blocks.get(b) else {
                break;
            };
            let pages = block.mem.len() / self.page;
            let end = pages.min(start + budget);
            ranges[b] = start..end;
            budget -= end - start;
            self.cursor = if end == pages { (b + 1, 0) } else { (b, end) };
        }
        let stats = self.write_selected(
            format,
            |i| Select::Range(ranges[i].clone()),
            &mut Writer::new(out),
        )?;
        Ok((stats, self.cursor.0 >= self.blocks.len()))
    }

    fn legacy_block<W: io::Write>(
        &self,
        b: &RamBlock<'_>,
        pages: Select<'_>,
        w: &mut Writer<W>,
        stats: &mut PartStats,
    ) -> Result<()> {
        let mut named = false;
        for_each_page(b.mem.len() / self.page, pages, |p| {
            let page = &b.mem[p * self.page..(p + 1) * self.page];
            let zero = page_is_zero(page);
            let flag = if zero { FLAG_ZERO } else { FLAG_PAGE };
            let cont = if named { FLAG_CONTINUE } else { 0 };
            w.put(&((p * self.page) as u64 | flag | cont).to_be_bytes())?;
            if !named {
                w.put(&[b.name.len() as u8])?;
                w.put(b.name.as_bytes())?;
                named = true;
            }
            if zero {
                stats.zero_pages += 1;
                w.put(&[0])
            } else {
                stats.data_pages += 1;
                w.put(page)
            }
        })
    }

    /// Runs of zero and data pages: each run is found first (one read of each page
    /// decides its kind), then grouped into elements by a [`runs::Planner`].
    fn ber_block<W: io::Write>(
        &self,
        b: &RamBlock<'_>,
        pages: Select<'_>,
        w: &mut Writer<W>,
        stats: &mut PartStats,
    ) -> Result<()> {
        let mut run: Option<(usize, usize, bool)> = None; // first page, pages, zero
        let mut planner = runs::Planner::new(self.page as u64);
        let mut scratch = Vec::with_capacity(320);
        let pages_of =
            |r: &runs::Run<'_>| &b.mem[r.offset as usize..r.end(self.page as u64) as usize];
        let mut emit = |group: runs::Group<'_, '_>| -> Result<()> {
            scratch.clear();
            match group {
                runs::Group::One(r) if r.fill.is_some() => {
                    runs::zero_run(&mut scratch, r.block, r.offset, r.pages, 0, None);
                    w.put(&scratch)
                }
                runs::Group::One(r) => {
                    let data = pages_of(&r);
                    runs::data_run_start(&mut scratch, r.block, r.offset, data.len(), None);
                    w.put(&scratch)?;
                    w.put(data)
                }
                runs::Group::Mixed(group) => {
                    runs::mixed_run_start(&mut scratch, group, self.page as u64);
                    w.put(&scratch)?;
                    group
                        .iter()
                        .filter(|r| r.fill.is_none())
                        .try_for_each(|r| w.put(pages_of(r)))
                }
            }
        };
        let to_run = |(start, n, zero): (usize, usize, bool)| runs::Run {
            block: b.name,
            offset: (start * self.page) as u64,
            pages: n as u64,
            fill: zero.then_some(0),
            continued: None,
        };
        for_each_page(b.mem.len() / self.page, pages, |p| {
            let zero = page_is_zero(&b.mem[p * self.page..(p + 1) * self.page]);
            if zero {
                stats.zero_pages += 1;
            } else {
                stats.data_pages += 1;
            }
            match run {
                Some((start, n, z)) if z == zero && start + n == p => {
                    run = Some((start, n + 1, z));
                    Ok(())
                }
                Some(r) => {
                    run = Some((p, 1, zero));
                    planner.push(to_run(r), &mut emit)
                }
                None => {
                    run = Some((p, 1, zero));
                    Ok(())
                }
            }
        })?;
        if let Some(r) = run {
            planner.push(to_run(r), &mut emit)?;
        }
        planner.finish(&mut emit)
    }
}

/// Calls `f` with each page index to send, in order.
fn for_each_page(
    pages: usize,
    select: Select<'_>,
    mut f: impl FnMut(usize) -> Result<()>,
) -> Result<()> {
    match select {
        Select::All => (0..pages).try_for_each(f),
        Select::Range(r) => (r.start..r.end.min(pages)).try_for_each(f),
        Select::Map(words) => {
            for (i, &word) in words.iter().enumerate() {
                let mut bits = word;
                while bits != 0 {
                    let p = i * 64 + bits.trailing_zeros() as usize;
                    if p >= pages {
                        return Ok(());
                    }
                    f(p)?;
                    bits &= bits - 1;
                }
            }
            Ok(())
        }
    }
}

/// One RAM block of the destination, to load into.
#[derive(Debug)]
pub struct RamBlockMut<'a> {
    /// QEMU's block id.
    pub name: &'a str,
    /// The block's memory.
    pub mem: &'a mut [u8],
}

/// Loads RAM parts into the destination's blocks, checking every block name, length
/// and page address: nothing is written outside a block.
#[derive(Debug)]
pub struct RamLoader<'a> {
    blocks: Vec<RamBlockMut<'a>>,
    /// Block of the previous page (for `CONTINUE`).
    last: Option<usize>,
    /// Bytes per page.
    page: usize,
}

impl<'a> RamLoader<'a> {
    /// A loader into `blocks`, of 4 KiB pages.
    pub fn new(blocks: Vec<RamBlockMut<'a>>) -> Self {
        RamLoader {
            blocks,
            last: None,
            page: PAGE,
        }
    }

    /// A loader of pages of `page_size` bytes (as [`RamSaver::with_page_size`]); a
    /// BER stream of another page size is refused.
    pub fn with_page_size(blocks: Vec<RamBlockMut<'a>>, page_size: usize) -> Result<Self> {
        check_page_size(page_size)?;
        Ok(RamLoader {
            page: page_size,
            ..RamLoader::new(blocks)
        })
    }

    fn block(&self, name: &str, at: u64) -> Result<usize> {
        self.blocks
            .iter()
            .position(|b| b.name == name)
            .ok_or_else(|| Error::new(ErrorKind::UnknownRamBlock(name.to_owned()), at))
    }

    fn check_list(&self, list: &[(String, u64)], at: u64) -> Result<()> {
        for (name, len) in list {
            let b = &self.blocks[self.block(name, at)?];
            if b.mem.len() as u64 != *len {
                return Err(Error::new(
                    ErrorKind::RamBlockLength {
                        block: name.clone(),
                        expected: b.mem.len() as u64,
                        found: *len,
                    },
                    at,
                ));
            }
        }
        Ok(())
    }

    /// The block named `name`, looked up only when it is not `last`'s very `&str`.
    #[inline(always)]
    fn cached_block<'d>(
        &self,
        last: &mut Option<(&'d str, usize)>,
        name: &'d str,
        at: u64,
    ) -> Result<usize> {
        match *last {
            Some((prev, i)) if std::ptr::eq(prev, name) => Ok(i),
            _ => {
                let i = self.block(name, at)?;
                *last = Some((name, i));
                Ok(i)
            }
        }
    }

    /// The pages `[offset, offset + n pages)` of block `i`, checked.
    fn pages(&mut self, i: usize, offset: u64, n: u64, at: u64) -> Result<&mut [u8]> {
        let b = &mut self.blocks[i];
        let page = self.page as u64;
        let end = n.checked_mul(page).and_then(|l| l.checked_add(offset));
        match end {
            Some(end) if offset % page == 0 && end <= b.mem.len() as u64 => {
                Ok(&mut b.mem[offset as usize..end as usize])
            }
            _ => Err(Error::new(
                ErrorKind::PageOutOfRange {
                    block: b.name.to_owned(),
                    offset,
                },
                at,
            )),
        }
    }

    /// Loads one legacy part from the start of `data` (found at stream offset
    /// `base`); returns the bytes it took, through its `EOS`.
    pub fn load_legacy(&mut self, data: &[u8], base: u64) -> Result<usize> {
        let mut r = SliceInput::with_base(data, base);
        self.load_legacy_from(&mut r)?;
        Ok((r.offset() - base) as usize)
    }

    /// Loads one legacy part from `r`, through its `EOS`: from a stream in memory or
    /// as it arrives (each page is read straight into the guest's memory).
    pub fn load_legacy_from(&mut self, r: &mut impl Input) -> Result<()> {
        loop {
            let at = r.offset();
            let word = u64::from_be_bytes(r.read_array()?);
            let flags = word & (self.page as u64 - 1);
            let addr = word & !(self.page as u64 - 1);
            let known = FLAG_ZERO | FLAG_MEM_SIZE | FLAG_PAGE | FLAG_EOS | FLAG_CONTINUE;
            if flags & !known != 0 {
                return Err(r.error(ErrorKind::Framing(format!(
                    "unsupported RAM flags {flags:#x} (compression and XBZRLE are not supported)"
                ))));
            }
            if flags & FLAG_MEM_SIZE != 0 {
                let list = super::read_block_list(r, addr)?;
                self.check_list(&list, at)?;
            }
            if flags & (FLAG_ZERO | FLAG_PAGE) != 0 {
                let i = if flags & FLAG_CONTINUE != 0 {
                    self.last.ok_or_else(|| {
                        r.error(ErrorKind::Framing("CONTINUE page without a block".into()))
                    })?
                } else {
                    let len = usize::from(r.read_array::<1>()?[0]);
                    let mut name = [0u8; 255];
                    r.read_exact(&mut name[..len])?;
                    self.block(std::str::from_utf8(&name[..len]).unwrap_or(""), at)?
                };
                self.last = Some(i);
                if flags & FLAG_ZERO != 0 {
                    let fill = r.read_array::<1>()?[0];
                    let n = self.page;
                    for page in self.pages(i, addr, 1, at)?.chunks_exact_mut(n) {
                        fill_page(page, fill);
                    }
                } else {
                    r.read_exact(self.pages(i, addr, 1, at)?)?;
                }
            }
            if flags & FLAG_EOS != 0 {
                return Ok(());
            }
        }
    }

    /// Loads one BER part: the elements in `data` (the contents of a section's `[6]`,
    /// found at stream offset `base`).
    pub fn load_ber(&mut self, data: &[u8], base: u64) -> Result<()> {
        let mut elements = runs::Elements::new(data, base, self.page as u64);
        // The last run's block: `Elements` hands out the same `&str` for a repeated
        // name, so one pointer compare replaces the name lookup.
        let mut last: Option<(&str, usize)> = None;
        while let Some((e, at)) = elements.next_at()? {
            match e {
                Element::MemSize {
                    blocks, page_size, ..
                } => {
                    let theirs = page_size.unwrap_or(PAGE_SIZE);
                    if theirs != self.page as u64 {
                        return Err(Error::new(
                            ErrorKind::Framing(format!(
                                "the stream's pages are {theirs} bytes, this loader's {}",
                                self.page
                            )),
                            at,
                        ));
                    }
                    self.check_list(&blocks, at)?
                }
                Element::Zero {
                    block,
                    offset,
                    pages,
                    fill,
                    ..
                } => {
                    let i = self.cached_block(&mut last, block, at)?;
                    let n = self.page;
                    for page in self.pages(i, offset, pages, at)?.chunks_exact_mut(n) {
                        fill_page(page, fill);
                    }
                }
                Element::Data {
                    block,
                    offset,
                    data,
                    ..
                } => {
                    let i = self.cached_block(&mut last, block, at)?;
                    let n = data.len() as u64 / self.page as u64;
                    self.pages(i, offset, n, at)?.copy_from_slice(data);
                }
                Element::Mixed {
                    block,
                    offset,
                    pages,
                    zero,
                    data,
                    ..
                } => {
                    let i = self.cached_block(&mut last, block, at)?;
                    let n = self.page;
                    let mut data = data.chunks_exact(n);
                    for (k, page) in self
                        .pages(i, offset, pages, at)?
                        .chunks_exact_mut(n)
                        .enumerate()
                    {
                        if runs::is_zero_bit(zero, k as u64) {
                            fill_page(page, 0);
                        } else if let Some(src) = data.next() {
                            // The parser checked one data page per clear bit.
                            page.copy_from_slice(src);
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

/// Fills a page, skipping the write when it already holds `fill` everywhere (as
/// QEMU does: a fresh destination's memory is zero, and untouched pages stay
/// unallocated).
#[inline]
fn fill_page(page: &mut [u8], fill: u8) {
    if fill != 0 || !page_is_zero(page) {
        page.fill(fill);
    }
}

fn wrong_direction(what: &str) -> Error {
    Error::new(ErrorKind::Framing(what.to_owned()), 0)
}

/// The saver as a registry's iterative section: the block list, then every page in
/// parts of at most 64 MiB (a snapshot of a stopped guest; a live migration drives
/// [`RamSaver::write_part`] with dirty bitmaps itself), then an empty final part.
impl IterativeSection for RamSaver<'_> {
    fn version(&self) -> u32 {
        RAM_VERSION
    }

    fn save_setup(&mut self, format: Format, out: &mut Vec<u8>) -> Result<()> {
        self.cursor = (0, 0);
        self.write_setup(format, &mut Writer::new(out))
    }

    fn save_iterate(&mut self, format: Format, out: &mut Vec<u8>) -> Result<bool> {
        self.write_next_pages(format, out).map(|(_, done)| done)
    }

    fn save_complete(&mut self, format: Format, out: &mut Vec<u8>) -> Result<()> {
        self.write_part(format, Pages::Dirty(&[]), &mut Writer::new(out))
            .map(drop)
    }

    fn load_part(&mut self, _kind: SectionKind, _part: Part<'_, '_>, _version: u32) -> Result<()> {
        Err(wrong_direction(
            "a RAM saver does not load; register a RamLoader",
        ))
    }
}

/// RAM for a live migration through a registry ([`Registry::live_save`]): every page
/// first (in parts of at most 64 MiB), then round after round the pages the dirty log
/// reports, until a round finds few enough; the END part, once the guest is stopped,
/// sends what is still dirty. `dirty` returns, one bitmap per block in KVM's layout,
/// the pages written since its previous call (`KVM_GET_DIRTY_LOG` does).
///
/// [`Registry::live_save`]: crate::stream::Registry::live_save
pub struct LiveRam<'a, D> {
    saver: RamSaver<'a>,
    dirty: D,
    /// What the last round's dirty log reported, to send next.
    pending: Option<Vec<Vec<u64>>>,
    /// Whether the first pass (every page) is done.
    first_pass_done: bool,
    /// Per part: what it carried.
    parts: Vec<PartStats>,
    /// Dirty rounds sent so far.
    rounds: usize,
    /// A round finding at most this many dirty pages ends the live phase.
    pub converged: u64,
    /// The live phase ends after this many dirty rounds in any case.
    pub max_rounds: usize,
    /// ...and not before this many, however few pages the guest dirties.
    pub min_rounds: usize,
}

impl<'a, D: FnMut() -> Result<Vec<Vec<u64>>>> LiveRam<'a, D> {
    /// Live RAM of `saver`'s blocks; the dirty log starts being read at the START part.
    pub fn new(saver: RamSaver<'a>, dirty: D) -> Self {
        LiveRam {
            saver,
            dirty,
            pending: None,
            first_pass_done: false,
            parts: Vec::new(),
            rounds: 0,
            converged: 16,
            max_rounds: 30,
            min_rounds: 0,
        }
    }

    /// What each part carried, in order (the first pass's parts, then one per round,
    /// then the END part).
    pub fn parts(&self) -> &[PartStats] {
        &self.parts
    }

    fn dirty_part(&mut self, maps: &[Vec<u64>], format: Format, out: &mut Vec<u8>) -> Result<()> {
        let refs: Vec<&[u64]> = maps.iter().map(Vec::as_slice).collect();
        let stats = self
            .saver
            .write_part(format, Pages::Dirty(&refs), &mut Writer::new(out))?;
        self.parts.push(stats);
        Ok(())
    }
}

impl<D: FnMut() -> Result<Vec<Vec<u64>>>> IterativeSection for LiveRam<'_, D> {
    fn version(&self) -> u32 {
        RAM_VERSION
    }

    fn save_setup(&mut self, format: Format, out: &mut Vec<u8>) -> Result<()> {
        (self.dirty)()?; // track from here on
        IterativeSection::save_setup(&mut self.saver, format, out)
    }

    fn save_iterate(&mut self, format: Format, out: &mut Vec<u8>) -> Result<bool> {
        if !self.first_pass_done {
            let (stats, done) = self.saver.write_next_pages(format, out)?;
            self.parts.push(stats);
            self.first_pass_done = done;
            if !done {
                return Ok(false);
            }
        } else if let Some(maps) = self.pending.take() {
            self.dirty_part(&maps, format, out)?;
            self.rounds += 1;
        }
        let maps = (self.dirty)()?;
        let dirty: u64 = maps
            .iter()
            .flatten()
            .map(|w| u64::from(w.count_ones()))
            .sum();
        self.pending = Some(maps);
        let converged = dirty <= self.converged && self.rounds >= self.min_rounds;
        Ok(converged || self.rounds >= self.max_rounds)
    }

    fn save_complete(&mut self, format: Format, out: &mut Vec<u8>) -> Result<()> {
        // What the last round left, and what the guest wrote until it stopped.
        let mut maps = (self.dirty)()?;
        for (m, p) in maps.iter_mut().zip(self.pending.take().unwrap_or_default()) {
            for (a, b) in m.iter_mut().zip(p) {
                *a |= b;
            }
        }
        self.dirty_part(&maps, format, out)
    }

    fn load_part(&mut self, _kind: SectionKind, _part: Part<'_, '_>, _version: u32) -> Result<()> {
        Err(wrong_direction(
            "a RAM saver does not load; register a RamLoader",
        ))
    }
}

/// The loader as a registry's iterative section.
impl IterativeSection for RamLoader<'_> {
    fn version(&self) -> u32 {
        RAM_VERSION
    }

    fn save_setup(&mut self, _format: Format, _out: &mut Vec<u8>) -> Result<()> {
        Err(wrong_direction(
            "a RAM loader does not save; register a RamSaver",
        ))
    }

    fn save_iterate(&mut self, _format: Format, _out: &mut Vec<u8>) -> Result<bool> {
        Err(wrong_direction(
            "a RAM loader does not save; register a RamSaver",
        ))
    }

    fn save_complete(&mut self, _format: Format, _out: &mut Vec<u8>) -> Result<()> {
        Err(wrong_direction(
            "a RAM loader does not save; register a RamSaver",
        ))
    }

    fn load_part(&mut self, _kind: SectionKind, part: Part<'_, '_>, version: u32) -> Result<()> {
        if version != RAM_VERSION {
            let at = match &part {
                Part::Legacy(r) => r.offset(),
                Part::Ber { base, .. } => *base,
            };
            return Err(Error::new(
                ErrorKind::VersionTooNew {
                    version,
                    supported: RAM_VERSION,
                },
                at,
            ));
        }
        match part {
            Part::Legacy(r) => self.load_legacy_from(r),
            Part::Ber { body, base } => self.load_ber(body, base),
        }
    }
}
