//! Loading RAM parts of either format into caller-provided block memory, every
//! block name, length and page address checked.

use super::ber::{self, Element};
use super::memory::{self, GuestRamMut};
use super::RAM_VERSION;
use super::{check_page_size, wrong_direction, Arrived, BlockLayout, Holes, ListedBlock};
use super::{Encoding, FLAG_CONTINUE, FLAG_EOS, FLAG_MEM_SIZE, FLAG_ZERO, PAGE, PAGE_SIZE};
use crate::error::{Error, ErrorKind, Result};
use crate::format::Format;
use crate::framing::{Configuration, IterativeSection, Part, SectionKind, UnpluggedRam};
use crate::io::{Input, SliceInput};
use crate::unplugged::is_block_of;

/// One RAM block of the destination, to load into: a VM's memory through
/// `vm-memory` (`GuestRange`, feature `vm-memory`), or a buffer (`&mut Vec<u8>`).
pub struct RamBlockMut<'a> {
    /// QEMU's block id.
    pub name: &'a str,
    /// The block's memory.
    pub mem: &'a mut dyn GuestRamMut,
}

impl std::fmt::Debug for RamBlockMut<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RamBlockMut")
            .field("name", &self.name)
            .field("len", &self.mem.len())
            .finish()
    }
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
    /// The pages that arrived, of the stream's latest block list.
    arrived: Arrived,
    /// What a legacy block list entry holds, by the stream's configuration.
    layout: BlockLayout,
}

impl<'a> RamLoader<'a> {
    /// A loader into `blocks`, of 4 KiB pages.
    pub fn new(blocks: Vec<RamBlockMut<'a>>) -> Self {
        RamLoader {
            blocks,
            last: None,
            page: PAGE,
            arrived: Arrived::new(),
            layout: BlockLayout::default(),
        }
    }

    /// Reads the block lists of a stream with configuration `c` (its capabilities
    /// change their entries); a registry load calls it with the stream's.
    pub fn configure(&mut self, c: Option<&Configuration>) {
        self.layout = BlockLayout::of(c);
    }

    /// A loader of pages of `page_size` bytes (as [`RamSaver::with_page_size`](super::RamSaver::with_page_size)); a
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

    /// The blocks of the stream's latest block list with pages that have not
    /// arrived (all of them before a block list did).
    pub fn holes(&self) -> Vec<Holes> {
        self.arrived.holes(self.page as u64)
    }

    /// Fails with [`ErrorKind::MissingPages`] when a block of the stream's latest
    /// block list has pages that have not arrived: what a load of a whole stream
    /// checks at its end (`offset`), so that a guest never runs on memory with
    /// holes (a multifd main channel alone, a stream cut short).
    pub fn check_complete(&self, offset: u64) -> Result<()> {
        self.arrived.check(self.page as u64, offset)
    }

    /// Zeroes the memory of `device_path`'s RAM block (the block named
    /// `<device_path>/...` of `ram.size` bytes) that its source did not send, as a
    /// destination discards it, and counts it as arrived.
    pub fn unplugged(&mut self, device_path: &str, ram: &UnpluggedRam) -> Result<()> {
        let page = self.page as u64;
        for b in &mut self.blocks {
            if !is_block_of(b.name, device_path) || b.mem.len() != ram.size {
                continue;
            }
            for r in &ram.ranges {
                let (start, end) = (r.start.min(ram.size), r.end.min(ram.size));
                if start < end {
                    memory::fill(b.mem, b.name, start, (end - start) as usize, 0, 0)?;
                    let pages = (end - start).div_ceil(page);
                    self.arrived.pages(b.name, start, pages, page);
                }
            }
        }
        Ok(())
    }

    fn arrive(&mut self, i: usize, offset: u64, n: u64) {
        let page = self.page as u64;
        self.arrived.pages(self.blocks[i].name, offset, n, page);
    }

    fn check_list(&mut self, list: &[ListedBlock], at: u64) -> Result<()> {
        self.arrived.block_list(list, self.page as u64);
        for ListedBlock { name, length, .. } in list {
            let b = &self.blocks[self.block(name, at)?];
            if b.mem.len() != *length {
                return Err(Error::new(
                    ErrorKind::RamBlockLength {
                        block: name.clone(),
                        expected: b.mem.len(),
                        found: *length,
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

    /// The pages `[offset, offset + n pages)` of block `i`, checked: their offset
    /// and length in bytes.
    fn pages(&self, i: usize, offset: u64, n: u64, at: u64) -> Result<(u64, usize)> {
        let b = &self.blocks[i];
        let page = self.page as u64;
        let end = n.checked_mul(page).and_then(|l| l.checked_add(offset));
        match end {
            Some(end) if offset % page == 0 && end <= b.mem.len() => {
                Ok((offset, (end - offset) as usize))
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

    /// Fills `n` pages of block `i` from `offset` with `fill`.
    fn fill(&mut self, i: usize, offset: u64, n: u64, fill: u8, at: u64) -> Result<()> {
        let (offset, len) = self.pages(i, offset, n, at)?;
        let b = &mut self.blocks[i];
        memory::fill(b.mem, b.name, offset, len, fill, at)
    }

    /// Writes `data` (whole pages) into block `i` at `offset`.
    fn write(&mut self, i: usize, offset: u64, data: &[u8], at: u64) -> Result<()> {
        let n = (data.len() / self.page) as u64;
        let (offset, _) = self.pages(i, offset, n, at)?;
        let b = &mut self.blocks[i];
        memory::write(b.mem, b.name, offset, data, at)
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
            super::check_flags(flags, addr, self.layout, at)?;
            if flags & FLAG_MEM_SIZE != 0 {
                let (mut list, mut left) = (Vec::new(), addr);
                while left > 0 {
                    let b = super::read_block_entry(r, &mut left, self.layout)?;
                    if self.layout.mapped {
                        self.load_mapped(r, &b, at)?;
                    }
                    list.push(b);
                }
                self.check_list(&list, at)?;
                // A mapped-ram file holds every page: in its slot, or zero.
                if self.layout.mapped {
                    for b in &list {
                        let i = self.block(&b.name, at)?;
                        self.arrive(i, 0, b.length / PAGE_SIZE);
                    }
                }
            }
            if flags & super::PAGE_KINDS != 0 {
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
                self.arrive(i, addr, 1);
                if flags & FLAG_ZERO != 0 {
                    let fill = r.read_array::<1>()?[0];
                    self.fill(i, addr, 1, fill, at)?;
                } else if let Some(e) = Encoding::ALL.into_iter().find(|e| flags & e.flag() != 0) {
                    self.encoded_from(r, e, i, addr, at)?;
                } else {
                    let (offset, len) = self.pages(i, addr, 1, at)?;
                    let b = &mut self.blocks[i];
                    memory::write_from(b.mem, b.name, offset, len, r)?;
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
        let mut elements = ber::Elements::new(data, base, self.page as u64);
        // The last run's block: `Elements` hands out the same `&str` for a repeated
        // name, so one pointer compare replaces the name lookup.
        let mut last: Option<(&str, usize)> = None;
        while let Some((e, at)) = elements.next_at()? {
            match e {
                // The channels' pages are not here: the holes show it.
                Element::MultifdFlush => {}
                Element::DeltaCache { .. } | Element::Delta { .. } | Element::Zstd { .. } => {
                    return Err(Error::new(
                        ErrorKind::Framing(
                            "a compressed BER stream (vmstate bridge --compress): convert it to \
                             QEMU's form first (vmstate convert, or a bridge --to legacy)"
                                .into(),
                        ),
                        at,
                    ))
                }
                Element::MemSize {
                    blocks,
                    regions,
                    page_size,
                    ..
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
                    self.check_list(&blocks, at)?;
                    for (b, region) in blocks.iter().zip(&regions) {
                        let i = self.block(&b.name, at)?;
                        region.for_each_held(b.length, |offset, page| match page {
                            Some(page) => self.write(i, offset, page, at),
                            None => self.fill(i, offset, 1, 0, at),
                        })?;
                        self.arrive(i, 0, b.length / PAGE_SIZE);
                    }
                }
                Element::Zero {
                    block,
                    offset,
                    pages,
                    fill,
                    ..
                } => {
                    let i = self.cached_block(&mut last, block, at)?;
                    self.fill(i, offset, pages, fill, at)?;
                    self.arrive(i, offset, pages);
                }
                Element::Data {
                    block,
                    offset,
                    data,
                    ..
                } => {
                    let i = self.cached_block(&mut last, block, at)?;
                    let n = data.len() as u64 / self.page as u64;
                    self.write(i, offset, data, at)?;
                    self.arrive(i, offset, n);
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
                    self.pages(i, offset, pages, at)?;
                    let page = self.page as u64;
                    let mut data = data.chunks_exact(self.page);
                    for k in 0..pages {
                        if ber::is_zero_bit(zero, k) {
                            self.fill(i, offset + k * page, 1, 0, at)?;
                        } else if let Some(src) = data.next() {
                            // The parser checked one data page per clear bit.
                            self.write(i, offset + k * page, src, at)?;
                        }
                    }
                    self.arrive(i, offset, pages);
                }
                Element::Encoded {
                    block,
                    offset,
                    encoding,
                    data,
                    ..
                } => {
                    let i = self.cached_block(&mut last, block, at)?;
                    self.apply(encoding, data, i, offset, at)?;
                    self.arrive(i, offset, 1);
                }
            }
        }
        Ok(())
    }

    /// Block `b`'s region of a mapped-ram file, from `r` after its entry: as QEMU
    /// loads it, each page whose bit is set from its slot, the others left as they
    /// are (a fresh destination's memory is zero). The region ends at its last
    /// slot, where the stream goes on.
    fn load_mapped(&mut self, r: &mut impl Input, b: &ListedBlock, at: u64) -> Result<()> {
        let i = self.block(&b.name, at)?;
        if self.blocks[i].mem.len() != b.length || self.page != PAGE {
            return Err(Error::new(
                ErrorKind::RamBlockLength {
                    block: b.name.clone(),
                    expected: self.blocks[i].mem.len(),
                    found: b.length,
                },
                at,
            ));
        }
        let header = super::mapped::read_header(r, b)?;
        // Bounded by the destination's own block, which has this length.
        let mut bitmap = vec![0u8; super::mapped::bitmap_len(b.length) as usize];
        r.read_exact(&mut bitmap)?;
        super::mapped::skip_gap(r, &header)?;
        let region = super::MappedRegion {
            bitmap: bitmap.into(),
            ..header
        };
        let blk = &mut self.blocks[i];
        for k in 0..b.length / PAGE_SIZE {
            match region.holds(k) {
                true => memory::write_from(blk.mem, blk.name, k * PAGE_SIZE, PAGE, r)?,
                false => r.skip(PAGE)?,
            }
        }
        Ok(())
    }

    /// An encoded page's body from `r`, applied to page `addr` of block `i` (its
    /// previous content: QEMU's loader decodes into the page in place).
    fn encoded_from(
        &mut self,
        r: &mut impl Input,
        encoding: Encoding,
        i: usize,
        addr: u64,
        at: u64,
    ) -> Result<()> {
        // The longest an encoded page may be (`encoded_len` checks it).
        let mut buf = [0u8; Encoding::Zlib.max_len(PAGE)];
        let data = &mut buf[..super::encoded_len(r, encoding)?];
        r.read_exact(data)?;
        self.apply(encoding, data, i, addr, at)
    }

    /// Applies an encoded page to page `offset` of block `i`, decoded into a copy
    /// of what the page held (QEMU's loader decodes in place).
    fn apply(&mut self, e: Encoding, data: &[u8], i: usize, offset: u64, at: u64) -> Result<()> {
        let (offset, len) = self.pages(i, offset, 1, at)?;
        let b = &mut self.blocks[i];
        let (mut small, mut large) = ([0; PAGE], Vec::new());
        let page = match len <= PAGE {
            true => &mut small[..len],
            false => {
                large.resize(len, 0);
                &mut large[..]
            }
        };
        b.mem.read(offset, page).map_err(|e| {
            Error::new(
                ErrorKind::Io(format!("reading RAM block {}: {e}", b.name)),
                at,
            )
        })?;
        e.apply(data, page, at)?;
        memory::write(b.mem, b.name, offset, page, at)
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

    fn load_complete(&self, offset: u64) -> Result<()> {
        self.check_complete(offset)
    }

    fn unplugged(&mut self, device_path: &str, ram: &UnpluggedRam) -> Result<()> {
        RamLoader::unplugged(self, device_path, ram)
    }

    fn configure(&mut self, c: Option<&Configuration>) -> Result<()> {
        RamLoader::configure(self, c);
        Ok(())
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
