//! Legacy records to runs and back, exactly: what the stream converter and the dump
//! use, grouping runs with the same [`Planner`] as the saver.

use super::{
    data_run_start, encoded_page, is_zero_bit, mem_size, mixed_run_start, next_element, run_end,
    wire, zero_run, Element, Elements, PageCache, Planned, Planner, Received, Run, CACHE_MAX,
};
use crate::ber::Decoder;
use crate::error::{Error, ErrorKind, Result};
use crate::io::SliceInput;
use crate::ram::{ListedBlock, RamRecord, PAGE_SIZE};
use std::borrow::Cow;

/// The BER elements of a legacy part's records (for converting streams).
pub fn records_to_ber(records: Vec<RamRecord<'_>>) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut enc = PartEncoder::new();
    for r in &records {
        enc.push(r, &mut out)?;
    }
    enc.finish(&mut out)?;
    Ok(out)
}

/// Where [`element_records`] hands the records it makes.
pub trait Emit<'a> {
    /// A record of the element itself, which may borrow the element's input.
    fn record(&mut self, r: RamRecord<'a>) -> Result<()>;
    /// A record of a `zstd` group, which may borrow the group's decompressed
    /// octets, kept only while the group is read: by default made owned and
    /// handed to [`record`](Emit::record). A sink that writes each record as it
    /// comes takes it as it is (no copy of the page).
    fn grouped(&mut self, r: RamRecord<'_>) -> Result<()> {
        self.record(r.into_owned())
    }
}

impl<'a, F: FnMut(RamRecord<'a>) -> Result<()>> Emit<'a> for F {
    fn record(&mut self, r: RamRecord<'a>) -> Result<()> {
        self(r)
    }
}

/// A group's records, each to its sink's [`Emit::grouped`].
struct Grouped<'e, 'a>(&'e mut dyn Emit<'a>);

impl<'g> Emit<'g> for Grouped<'_, '_> {
    fn record(&mut self, r: RamRecord<'g>) -> Result<()> {
        self.0.grouped(r)
    }
}

/// The legacy records of one element, in order, to `emit`: `blocks` is the block
/// list (which a MEM_SIZE element sets), `last` the block of the part's previous
/// page. Each run is checked to lie in its block before any record is made.
///
/// `wire` is what the reader of a compressed stream keeps ([`wire`](super::wire)):
/// a `delta-cache` element makes its cache, data pages fill it, a delta is made
/// from it; a `zstd` group's elements are read as if they stood in its place,
/// their records to [`Emit::grouped`] and their errors at the group's offset.
pub fn element_records<'a>(
    e: Element<'a>,
    at: u64,
    blocks: &mut Vec<ListedBlock>,
    last: &mut Option<String>,
    wire: &mut Received,
    emit: &mut dyn Emit<'a>,
) -> Result<()> {
    let Element::Zstd { octets, data } = e else {
        return ungrouped_records(e, at, blocks, last, &mut wire.cache, emit);
    };
    let group = wire.group.unzstd(octets, data, at)?;
    let mut inner = Elements::new(group, at, PAGE_SIZE);
    while let Some((e, _)) = inner.next_at().map_err(|e| e.at(at))? {
        ungrouped_records(e, at, blocks, last, &mut wire.cache, &mut Grouped(emit))?;
    }
    Ok(())
}

/// [`element_records`] of an element other than a `zstd` group (refused: a
/// group inside a group).
fn ungrouped_records<'a>(
    e: Element<'a>,
    at: u64,
    blocks: &mut Vec<ListedBlock>,
    last: &mut Option<String>,
    cache: &mut PageCache,
    emit: &mut dyn Emit<'a>,
) -> Result<()> {
    let mut emit = |r: RamRecord<'a>| emit.record(r);
    let mut first = |block: &str, explicit: Option<bool>| {
        let rule = last.as_deref() == Some(block);
        if !rule {
            *last = Some(block.to_owned());
        }
        explicit.unwrap_or(rule)
    };
    match e {
        Element::MemSize {
            page_size: Some(page),
            ..
        } => {
            // Legacy records are QEMU x86's: 4 KiB pages.
            Err(Error::new(
                ErrorKind::Framing(format!(
                    "the dump reads RAM of 4 KiB pages (QEMU x86's); this stream's are {page} bytes"
                )),
                at,
            ))
        }
        Element::MemSize {
            total,
            blocks: list,
            regions,
            page_size: None,
        } => {
            // As the legacy reader requires: the total is the blocks' sum.
            let sum = list.iter().try_fold(0u64, |s, b| s.checked_add(b.length));
            if sum != Some(total) {
                return Err(Error::new(
                    ErrorKind::Framing(format!(
                        "RAM total {total} is not the sum of its blocks' lengths"
                    )),
                    at,
                ));
            }
            blocks.clone_from(&list);
            emit(RamRecord::MemSize {
                total,
                blocks: list,
                regions,
            })
        }
        Element::MultifdFlush => emit(RamRecord::MultifdFlush),
        Element::DeltaCache { pages } => {
            if pages > CACHE_MAX {
                return Err(Error::new(
                    ErrorKind::LimitExceeded {
                        limit: "delta_cache",
                        value: pages,
                        max: CACHE_MAX,
                    },
                    at,
                ));
            }
            *cache = PageCache::new(pages);
            Ok(())
        }
        Element::Delta {
            block,
            offset,
            delta,
            continued,
        } => {
            check_run(blocks, block, offset, 1, at)?;
            let page = cache.apply(block, offset, delta, at)?;
            emit(RamRecord::Page {
                block: block.to_owned(),
                offset,
                data: Cow::Owned(page),
                continued: first(block, continued),
            })
        }
        Element::Zstd { .. } => Err(Error::new(
            ErrorKind::Framing("a zstd group inside a zstd group".into()),
            at,
        )),
        Element::Zero {
            block,
            offset,
            pages,
            fill,
            continued,
        } => {
            check_run(blocks, block, offset, pages, at)?;
            let first = first(block, continued);
            for k in 0..pages {
                cache.drop_page(block, offset + k * PAGE_SIZE);
                emit(RamRecord::Zero {
                    block: block.to_owned(),
                    offset: offset + k * PAGE_SIZE,
                    fill,
                    continued: if k == 0 { first } else { true },
                })?;
            }
            Ok(())
        }
        Element::Data {
            block,
            offset,
            data,
            continued,
        } => {
            check_run(blocks, block, offset, data.len() as u64 / PAGE_SIZE, at)?;
            let first = first(block, continued);
            for (k, page) in data.chunks(PAGE_SIZE as usize).enumerate() {
                cache.put(block, offset + k as u64 * PAGE_SIZE, page);
                emit(RamRecord::Page {
                    block: block.to_owned(),
                    offset: offset + k as u64 * PAGE_SIZE,
                    data: Cow::Borrowed(page),
                    continued: if k == 0 { first } else { true },
                })?;
            }
            Ok(())
        }
        Element::Mixed {
            block,
            offset,
            pages,
            zero,
            data,
            continued,
        } => {
            check_run(blocks, block, offset, pages, at)?;
            let first = first(block, continued);
            let mut data = data.chunks(PAGE_SIZE as usize);
            for k in 0..pages {
                let (block, offset) = (block.to_owned(), offset + k * PAGE_SIZE);
                let continued = if k == 0 { first } else { true };
                // The parser checked one data page per clear bit.
                let page = if is_zero_bit(zero, k) {
                    None
                } else {
                    data.next()
                };
                match page {
                    Some(page) => cache.put(&block, offset, page),
                    None => cache.drop_page(&block, offset),
                }
                emit(match page {
                    Some(page) => RamRecord::Page {
                        block,
                        offset,
                        data: Cow::Borrowed(page),
                        continued,
                    },
                    None => RamRecord::Zero {
                        block,
                        offset,
                        fill: 0,
                        continued,
                    },
                })?;
            }
            Ok(())
        }
        Element::Encoded {
            block,
            offset,
            encoding,
            data,
            continued,
        } => {
            check_run(blocks, block, offset, 1, at)?;
            cache.drop_page(block, offset);
            emit(RamRecord::Encoded {
                block: block.to_owned(),
                offset,
                encoding,
                data: Cow::Borrowed(data),
                continued: first(block, continued),
            })
        }
    }
}

/// Legacy records to BER elements as they come, for a stream converted while it
/// arrives: it holds the pages of at most one mixed run and one data run
/// ([`DATA_RUN_MAX`](super::DATA_RUN_MAX)) before it writes them, whatever the
/// part's length, and writes what [`records_to_ber`] writes for the whole part.
#[derive(Debug)]
pub struct PartEncoder {
    planner: Planner<usize>,
    /// What the planner's elements are written from.
    held: Held,
    /// The run being extended (its pages are the last of `held.pages`).
    run: Option<Run<usize>>,
    /// The block of the part's previous page.
    last: Option<usize>,
}

/// The block names and data pages of the runs not written yet.
#[derive(Debug, Default)]
struct Held {
    /// Block names seen, which runs refer to by index.
    names: Vec<String>,
    /// Data pages not yet written, one after another: those of runs the
    /// planner holds, then those of the run being extended, from `taken` on
    /// (a copy each, not an allocation each).
    pages: Vec<u8>,
    taken: usize,
}

impl Default for PartEncoder {
    fn default() -> Self {
        PartEncoder {
            planner: Planner::new(PAGE_SIZE),
            held: Held::default(),
            run: None,
            last: None,
        }
    }
}

impl PartEncoder {
    /// An encoder at the start of a part.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes the part's next record, appending to `out` the elements it completes.
    pub fn push(&mut self, r: &RamRecord<'_>, out: &mut Vec<u8>) -> Result<()> {
        let (block, offset, fill, continued) = match r {
            RamRecord::MultifdFlush => {
                self.close_run(out)?;
                self.flush(out)?;
                out.extend_from_slice(&[0xa6, 0]);
                return Ok(());
            }
            RamRecord::MemSize {
                total,
                blocks,
                regions,
            } => {
                self.close_run(out)?;
                self.flush(out)?;
                mem_size(out, *total, blocks, regions, PAGE_SIZE);
                return Ok(());
            }
            RamRecord::Zero {
                block,
                offset,
                fill,
                continued,
            } => (block.as_str(), *offset, Some(*fill), *continued),
            RamRecord::Page {
                block,
                offset,
                continued,
                ..
            } => (block.as_str(), *offset, None, *continued),
            RamRecord::Encoded {
                block,
                offset,
                encoding,
                data,
                continued,
            } => {
                let explicit = self.single(block, *continued, out)?;
                encoded_page(out, *encoding, block, *offset, data, explicit);
                return Ok(());
            }
        };
        let block = self.held.name(block);
        let most = super::data_run_pages(PAGE_SIZE);
        let extends = self.run.is_some_and(|run| {
            continued
                && run.block == block
                && run.fill == fill
                && run.end(PAGE_SIZE) == offset
                && (fill.is_some() || run.pages < most)
        });
        if extends {
            if let Some(run) = &mut self.run {
                run.pages += 1;
            }
        } else {
            self.close_run(out)?;
            let rule = self.last == Some(block);
            self.run = Some(Run {
                block,
                offset,
                pages: 1,
                fill,
                continued: (continued != rule).then_some(continued),
            });
        }
        self.last = Some(block);
        // A zero page is written from its run's description alone.
        if let RamRecord::Page { data, .. } = r {
            self.held.pages.extend_from_slice(data);
        }
        Ok(())
    }

    /// Takes a page sent as a delta against the reader's cached copy
    /// ([`wire`]): an element of its own, as an encoded page.
    pub fn push_delta(
        &mut self,
        block: &str,
        offset: u64,
        delta: &[u8],
        continued: bool,
        out: &mut Vec<u8>,
    ) -> Result<()> {
        let explicit = self.single(block, continued, out)?;
        wire::delta(out, block, offset, delta, explicit);
        Ok(())
    }

    /// Before a page that is an element of its own: writes every page before
    /// it, and returns its explicit `CONTINUE` choice.
    fn single(&mut self, block: &str, continued: bool, out: &mut Vec<u8>) -> Result<Option<bool>> {
        self.close_run(out)?;
        self.flush(out)?;
        let i = self.held.name(block);
        let rule = self.last == Some(i);
        self.last = Some(i);
        Ok((continued != rule).then_some(continued))
    }

    /// Ends the part: appends what is pending to `out`.
    pub fn finish(&mut self, out: &mut Vec<u8>) -> Result<()> {
        self.close_run(out)?;
        self.flush(out)
    }

    /// Hands the run being extended to the planner.
    fn close_run(&mut self, out: &mut Vec<u8>) -> Result<()> {
        let Some(run) = self.run.take() else {
            return Ok(());
        };
        let held = &mut self.held;
        self.planner.push(run, &mut |g| held.group(g, out))
    }

    fn flush(&mut self, out: &mut Vec<u8>) -> Result<()> {
        let held = &mut self.held;
        self.planner.finish(&mut |g| held.group(g, out))
    }
}

impl Held {
    fn name(&mut self, block: &str) -> usize {
        match self.names.iter().position(|n| n == block) {
            Some(i) => i,
            None => {
                self.names.push(block.to_owned());
                self.names.len() - 1
            }
        }
    }

    /// Writes one planned element, taking its data pages from the front of
    /// `pages`.
    fn group(&mut self, group: Planned<'_, usize>, out: &mut Vec<u8>) -> Result<()> {
        let runs = match &group {
            Planned::One(run) => std::slice::from_ref(run),
            Planned::Mixed(runs) => runs,
        };
        let first = runs[0];
        let block = &self.names[first.block];
        let data: u64 = runs
            .iter()
            .filter(|r| r.fill.is_none())
            .map(|r| r.pages)
            .sum();
        match (&group, first.fill) {
            (Planned::One(_), Some(fill)) => {
                zero_run(out, block, first.offset, first.pages, fill, first.continued);
                return Ok(());
            }
            (Planned::One(_), None) => data_run_start(
                out,
                block,
                first.offset,
                (data * PAGE_SIZE) as usize,
                first.continued,
            ),
            (Planned::Mixed(runs), _) => mixed_run_start(out, block, runs, PAGE_SIZE),
        }
        let end = self.taken + (data * PAGE_SIZE) as usize;
        out.extend_from_slice(&self.pages[self.taken..end]);
        self.taken = end;
        if self.taken == self.pages.len() {
            self.pages.clear();
            self.taken = 0;
        } else if self.taken > 1 << 20 && self.taken * 2 > self.pages.len() {
            self.pages.drain(..self.taken);
            self.taken = 0;
        }
        run_end(out, first.continued);
        Ok(())
    }
}

/// Fails unless `pages` pages from `offset` lie inside `block`, a block of the list
/// (so that a run's page count, which costs a few octets, cannot claim more pages
/// than the guest has).
pub fn check_run(
    blocks: &[ListedBlock],
    block: &str,
    offset: u64,
    pages: u64,
    at: u64,
) -> Result<()> {
    let len = blocks
        .iter()
        .find(|b| b.name == block)
        .map(|b| b.length)
        .ok_or_else(|| Error::new(ErrorKind::UnknownRamBlock(block.to_owned()), at))?;
    let end = pages
        .checked_mul(PAGE_SIZE)
        .and_then(|b| b.checked_add(offset));
    if offset % PAGE_SIZE != 0 || end.is_none_or(|e| e > len) {
        return Err(Error::new(
            ErrorKind::PageOutOfRange {
                block: block.to_owned(),
                offset,
            },
            at,
        ));
    }
    Ok(())
}

/// The legacy records of a BER part (for converting streams). `blocks` is the block
/// list, from the setup part (which this call records when it meets it).
/// `pages_left` bounds the zero pages it may make: a BER run of a billion zero
/// pages is a few bytes, its records gigabytes; the budget is taken down by what
/// the part holds, and an error names it when a part would exceed it.
/// `wire` is what the stream's reader keeps from part to part ([`Received`]).
pub fn ber_to_records<'a>(
    d: &mut Decoder<'_, SliceInput<'a>>,
    blocks: &mut Vec<ListedBlock>,
    wire: &mut Received,
    pages_left: &mut u64,
) -> Result<Vec<RamRecord<'a>>> {
    let mut take = |pages: u64, at: u64| {
        *pages_left = pages_left.checked_sub(pages).ok_or_else(|| {
            Error::new(
                ErrorKind::LimitExceeded {
                    limit: "tree_pages",
                    value: pages,
                    max: *pages_left,
                },
                at,
            )
        })?;
        Ok::<(), Error>(())
    };
    let mut out = Vec::new();
    let mut last = None;
    loop {
        let at = d.offset();
        let Some(e) = next_element(d, PAGE_SIZE)? else {
            break;
        };
        if let Element::Zero { pages, .. } | Element::Mixed { pages, .. } = e {
            take(pages, at)?;
        }
        // A group's runs are counted as their records come.
        let grouped = matches!(e, Element::Zstd { .. });
        element_records(e, at, blocks, &mut last, wire, &mut |r| {
            if grouped && matches!(r, RamRecord::Zero { .. } | RamRecord::Page { .. }) {
                take(1, at)?;
            }
            out.push(r);
            Ok(())
        })?;
    }
    Ok(out)
}
