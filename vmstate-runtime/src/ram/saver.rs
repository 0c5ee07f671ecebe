//! Saving guest RAM, in both formats, from blocks it copies pages out of.
//!
//! The saver copies each page once into a buffer of a page, decides zero or data on
//! that copy (word-wide, in a form the compiler vectorises) and streams records
//! from it straight to the writer: no copy of the RAM, and no `&[u8]` of memory a
//! guest may be writing ([`GuestRam`]). Which pages a part carries is a dirty
//! bitmap per block in KVM's `KVM_GET_DIRTY_LOG` layout (bit `i % 64` of word
//! `i / 64` is page `i`), or every page.

use super::ber;
use super::memory::{GuestRam, PageCopy};
use super::{check_page_size, wrong_direction, RAM_VERSION};
use super::{FLAG_CONTINUE, FLAG_EOS, FLAG_PAGE, FLAG_ZERO, PAGE};
use crate::error::{Error, ErrorKind, Result};
use crate::format::Format;
use crate::framing::{Configuration, IterativeSection, Part, SectionKind};
use crate::io::Writer;
use std::io;

/// One RAM block of the guest: a running guest's memory through `vm-memory`
/// (`GuestRange`, feature `vm-memory`), or a buffer (`&Vec<u8>`, [`Buffer`](super::Buffer)).
#[derive(Clone, Copy)]
pub struct RamBlock<'a> {
    /// QEMU's block id (`pc.ram`), at most 255 bytes.
    pub name: &'a str,
    /// The block's memory; its length is the block's used length.
    pub mem: &'a dyn GuestRam,
}

impl std::fmt::Debug for RamBlock<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RamBlock")
            .field("name", &self.name)
            .field("len", &self.mem.len())
            .finish()
    }
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
    /// Writing a mapped-ram file (its configuration lists `mapped-ram`).
    mapped: bool,
    /// Where a registry's next part's body starts in the stream.
    at: u64,
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
            if b.name.is_empty() || b.name.len() > 255 || b.mem.len() % page_size as u64 != 0 {
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
            mapped: false,
            at: 0,
        })
    }

    /// Writes the stream a configuration `c` describes: a mapped-ram file when it
    /// lists `mapped-ram`. A saver does not know its blocks' guest addresses, so a
    /// configuration that lists `x-ignore-shared` is refused.
    pub fn configure(&mut self, c: Option<&Configuration>) -> Result<()> {
        let layout = super::BlockLayout::of(c);
        if layout.addresses {
            return Err(Error::new(
                ErrorKind::Unsupported {
                    what: "a block list with guest addresses".into(),
                    capability: "x-ignore-shared".into(),
                    remedy: "save without it: a RamSaver has its blocks' memory, not \
                             their guest addresses"
                        .into(),
                },
                0,
            ));
        }
        if layout.mapped && self.page != PAGE {
            return Err(Error::new(
                ErrorKind::Framing("a mapped-ram file has 4 KiB pages (QEMU x86's)".into()),
                0,
            ));
        }
        self.mapped = layout.mapped;
        Ok(())
    }

    /// Bytes per page.
    pub fn page_size(&self) -> usize {
        self.page
    }

    /// Sum of the blocks' lengths.
    pub fn total(&self) -> u64 {
        self.blocks.iter().map(|b| b.mem.len()).sum()
    }

    fn list(&self) -> Vec<super::ListedBlock> {
        self.blocks
            .iter()
            .map(|b| super::ListedBlock::new(b.name, b.mem.len()))
            .collect()
    }

    /// Writes the setup part: the block list (then `EOS` in the legacy format).
    /// Configured for a mapped-ram file ([`configure`](Self::configure)), each
    /// block's region follows its entry with every page in its slot (a stopped
    /// guest's: a stream cannot go back to a slot), placed by `w`'s offset in the
    /// file ([`Writer::at`]); the parts after it send no page.
    pub fn write_setup<W: io::Write>(&self, format: Format, w: &mut Writer<W>) -> Result<()> {
        match format {
            Format::Legacy if self.mapped => {
                let mut copies: Vec<_> = self
                    .blocks
                    .iter()
                    .map(|b| PageCopy::new(b.mem, b.name, self.page))
                    .collect();
                super::write_mapped_list(w, self.total(), &self.list(), &mut copies)
            }
            Format::Ber if self.mapped => Err(Error::new(
                ErrorKind::Framing(
                    "a mapped-ram file is written in the legacy format (its offsets are the \
                     file's); its BER form comes from converting it"
                        .into(),
                ),
                0,
            )),
            Format::Legacy => {
                let list = self.list();
                let records = [super::RamRecord::MemSize {
                    total: self.total(),
                    blocks: list,
                    regions: Vec::new(),
                }];
                super::write_part(&records, w)
            }
            Format::Ber => {
                let mut out = Vec::new();
                ber::mem_size(&mut out, self.total(), &self.list(), &[], self.page as u64);
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
    pub(super) fn write_next_pages(
        &mut self,
        format: Format,
        out: &mut Vec<u8>,
    ) -> Result<(PartStats, bool)> {
        let mut ranges = vec![0..0; self.blocks.len()];
        let mut budget = PART_BYTES / self.page;
        while budget > 0 {
            let (b, start) = self.cursor;
            let Some(block) = self.blocks.get(b) else {
                break;
            };
            let pages = (block.mem.len() / self.page as u64) as usize;
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
        let mut copy = PageCopy::new(b.mem, b.name, self.page);
        for_each_page(self.pages_of(b), pages, |p| {
            let offset = (p * self.page) as u64;
            let zero = copy.check(offset, w.written())?;
            let flag = if zero { FLAG_ZERO } else { FLAG_PAGE };
            let cont = if named { FLAG_CONTINUE } else { 0 };
            w.put(&(offset | flag | cont).to_be_bytes())?;
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
                copy.put(offset, self.page, w)
            }
        })
    }

    /// How many pages block `b` has.
    fn pages_of(&self, b: &RamBlock<'_>) -> usize {
        (b.mem.len() / self.page as u64) as usize
    }

    /// Runs of zero and data pages: each run is found first (one read of each page
    /// decides its kind), then grouped into elements by a [`ber::Planner`].
    fn ber_block<W: io::Write>(
        &self,
        b: &RamBlock<'_>,
        pages: Select<'_>,
        w: &mut Writer<W>,
        stats: &mut PartStats,
    ) -> Result<()> {
        let mut run: Option<(usize, usize, bool)> = None; // first page, pages, zero
        let mut planner = ber::Planner::new(self.page as u64);
        let mut scratch = Vec::with_capacity(320);
        let at = w.written(); // a failed copy is reported where the block started
                              // Runs are emitted after their pages were read: copied again from the block.
        let mut out = PageCopy::new(b.mem, b.name, self.page);
        let mut put_run = |r: &ber::Run<&str>, w: &mut Writer<W>| {
            out.put(r.offset, (r.pages as usize) * self.page, w)
        };
        let mut emit = |group: ber::Planned<'_, &str>| -> Result<()> {
            scratch.clear();
            match group {
                ber::Planned::One(r) if r.fill.is_some() => {
                    ber::zero_run(&mut scratch, r.block, r.offset, r.pages, 0, None);
                    w.put(&scratch)
                }
                ber::Planned::One(r) => {
                    let len = r.pages as usize * self.page;
                    ber::data_run_start(&mut scratch, r.block, r.offset, len, None);
                    w.put(&scratch)?;
                    put_run(&r, w)
                }
                ber::Planned::Mixed(group) => {
                    ber::mixed_run_start(&mut scratch, b.name, group, self.page as u64);
                    w.put(&scratch)?;
                    group
                        .iter()
                        .filter(|r| r.fill.is_none())
                        .try_for_each(|r| put_run(r, w))
                }
            }
        };
        let to_run = |(start, n, zero): (usize, usize, bool)| ber::Run {
            block: b.name,
            offset: (start * self.page) as u64,
            pages: n as u64,
            fill: zero.then_some(0),
            continued: None,
        };
        let mut copy = PageCopy::new(b.mem, b.name, self.page);
        for_each_page(self.pages_of(b), pages, |p| {
            let zero = copy.check((p * self.page) as u64, at)?;
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

/// The saver as a registry's iterative section: the block list, then every page in
/// parts of at most 64 MiB (a snapshot of a stopped guest; a live migration drives
/// [`RamSaver::write_part`] with dirty bitmaps itself), then an empty final part.
impl IterativeSection for RamSaver<'_> {
    fn version(&self) -> u32 {
        RAM_VERSION
    }

    fn save_setup(&mut self, format: Format, out: &mut Vec<u8>) -> Result<()> {
        self.cursor = (0, 0);
        self.write_setup(format, &mut Writer::at(out, self.at))
    }

    fn save_iterate(&mut self, format: Format, out: &mut Vec<u8>) -> Result<bool> {
        if self.mapped {
            // Every page went in its slot with the block list.
            super::write_eos(&mut Writer::new(out))?;
            return Ok(true);
        }
        self.write_next_pages(format, out).map(|(_, done)| done)
    }

    fn configure(&mut self, c: Option<&Configuration>) -> Result<()> {
        RamSaver::configure(self, c)
    }

    fn save_at(&mut self, offset: u64) {
        self.at = offset;
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
