//! Legacy records to runs and back, exactly: what the stream converter and the dump
//! use, grouping runs with the same [`Planner`] as the saver.

use super::{
    data_run_start, is_zero_bit, mem_size, mixed_run_start, next_element, run_end, zero_run,
    Element, Planned, Planner, Run,
};
use crate::ber::Decoder;
use crate::error::{Error, ErrorKind, Result};
use crate::io::SliceInput;
use crate::ram::{RamRecord, PAGE_SIZE};
use std::borrow::Cow;

/// The BER elements of a legacy part's records (for converting streams).
pub fn records_to_ber(records: &[RamRecord<'_>]) -> Result<Vec<u8>> {
    // Room for the pages and a generous few octets per record: no regrowth copies.
    let data: usize = records
        .iter()
        .map(|r| match r {
            RamRecord::Page { data, .. } => data.len(),
            _ => 0,
        })
        .sum();
    let mut c = Converter {
        records,
        next: 0,
        w: Vec::with_capacity(data + 8 * records.len() + 4096),
    };
    let mut planner = Planner::new(PAGE_SIZE);
    let mut last: Option<&str> = None;
    let mut i = 0;
    while i < records.len() {
        let (block, offset, fill, continued) = match &records[i] {
            RamRecord::MemSize { total, blocks } => {
                planner.finish(&mut |g| c.group(g))?;
                mem_size(&mut c.w, *total, blocks, PAGE_SIZE);
                c.next += 1;
                i += 1;
                continue;
            }
            RamRecord::Zero {
                block,
                offset,
                fill,
                continued,
            } => (block, offset, Some(*fill), continued),
            RamRecord::Page {
                block,
                offset,
                continued,
                ..
            } => (block, offset, None, continued),
        };
        let n = run_len(records, i);
        let run = Run {
            block,
            offset: *offset,
            pages: n as u64,
            fill,
            continued: explicit(*continued, last, block),
        };
        planner.push(run, &mut |g| c.group(g))?;
        last = Some(block);
        i += n;
    }
    planner.finish(&mut |g| c.group(g))?;
    Ok(c.w)
}

/// Writes planned groups of legacy records.
struct Converter<'r, 'a> {
    records: &'r [RamRecord<'a>],
    /// The first record of the next group (groups come in record order).
    next: usize,
    w: Vec<u8>,
}

impl Converter<'_, '_> {
    fn group(&mut self, group: Planned<'_, '_>) -> Result<()> {
        let runs = match &group {
            Planned::One(run) => std::slice::from_ref(run),
            Planned::Mixed(runs) => runs,
        };
        let pages: usize = runs.iter().map(|r| r.pages as usize).sum();
        let records = &self.records[self.next..self.next + pages];
        self.next += pages;
        let first = runs[0];
        match (&group, first.fill) {
            (Planned::One(_), Some(fill)) => {
                zero_run(
                    &mut self.w,
                    first.block,
                    first.offset,
                    first.pages,
                    fill,
                    first.continued,
                );
                return Ok(());
            }
            (Planned::One(_), None) => data_run_start(
                &mut self.w,
                first.block,
                first.offset,
                pages * PAGE_SIZE as usize,
                first.continued,
            ),
            (Planned::Mixed(runs), _) => mixed_run_start(&mut self.w, runs, PAGE_SIZE),
        }
        for r in records {
            if let RamRecord::Page { data, .. } = r {
                self.w.extend_from_slice(data);
            }
        }
        run_end(&mut self.w, first.continued);
        Ok(())
    }
}

/// The writer's rule: a page continues iff the part's previous page was of its block.
fn rule(last: Option<&str>, block: &str) -> bool {
    last == Some(block)
}

fn explicit(continued: bool, last: Option<&str>, block: &str) -> Option<bool> {
    (continued != rule(last, block)).then_some(continued)
}

/// How many records from `i` form one run: same kind (and fill), same block,
/// consecutive pages, each after the first `CONTINUE`.
fn run_len(records: &[RamRecord<'_>], i: usize) -> usize {
    let key = |r: &RamRecord<'_>| match r {
        RamRecord::Zero {
            block,
            offset,
            fill,
            ..
        } => Some((u16::from(*fill), block.clone(), *offset)),
        RamRecord::Page { block, offset, .. } => Some((256, block.clone(), *offset)),
        RamRecord::MemSize { .. } => None,
    };
    let Some((kind, block, start)) = key(&records[i]) else {
        return 1;
    };
    let mut n = 1;
    while let Some(r) = records.get(i + n) {
        let cont = matches!(
            r,
            RamRecord::Zero {
                continued: true,
                ..
            } | RamRecord::Page {
                continued: true,
                ..
            }
        );
        match key(r) {
            Some((k, b, o))
                if cont && k == kind && b == block && o == start + n as u64 * PAGE_SIZE =>
            {
                n += 1
            }
            _ => break,
        }
    }
    n
}

/// Fails unless `pages` pages from `offset` lie inside `block`, a block of the list
/// (so that a run's page count, which costs a few octets, cannot claim more pages
/// than the guest has).
pub fn check_run(
    blocks: &[(String, u64)],
    block: &str,
    offset: u64,
    pages: u64,
    at: u64,
) -> Result<()> {
    let len = blocks
        .iter()
        .find(|(n, _)| n == block)
        .map(|(_, l)| *l)
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
pub fn ber_to_records<'a>(
    d: &mut Decoder<'_, SliceInput<'a>>,
    blocks: &mut Vec<(String, u64)>,
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
    let mut last: Option<&str> = None;
    loop {
        let at = d.offset();
        let Some(e) = next_element(d, PAGE_SIZE)? else {
            break;
        };
        match e {
            Element::MemSize {
                page_size: Some(page),
                ..
            } => {
                // Legacy records are QEMU x86's: 4 KiB pages.
                return Err(Error::new(
                    ErrorKind::Framing(format!(
                        "the dump reads RAM of 4 KiB pages (QEMU x86's); this stream's are {page} bytes"
                    )),
                    at,
                ));
            }
            Element::MemSize {
                total,
                blocks: list,
                page_size: None,
            } => {
                // As the legacy reader requires: the total is the blocks' sum.
                let sum = list
                    .iter()
                    .try_fold(0u64, |s, (_, len)| s.checked_add(*len));
                if sum != Some(total) {
                    return Err(Error::new(
                        ErrorKind::Framing(format!(
                            "RAM total {total} is not the sum of its blocks' lengths"
                        )),
                        at,
                    ));
                }
                blocks.clone_from(&list);
                out.push(RamRecord::MemSize {
                    total,
                    blocks: list,
                });
            }
            Element::Zero {
                block,
                offset,
                pages,
                fill,
                continued,
            } => {
                check_run(blocks, block, offset, pages, at)?;
                take(pages, at)?;
                let first = continued.unwrap_or_else(|| rule(last, block));
                for k in 0..pages {
                    out.push(RamRecord::Zero {
                        block: block.to_owned(),
                        offset: offset + k * PAGE_SIZE,
                        fill,
                        continued: if k == 0 { first } else { true },
                    });
                }
                last = Some(block);
            }
            Element::Data {
                block,
                offset,
                data,
                continued,
            } => {
                check_run(blocks, block, offset, data.len() as u64 / PAGE_SIZE, at)?;
                let first = continued.unwrap_or_else(|| rule(last, block));
                for (k, page) in data.chunks(PAGE_SIZE as usize).enumerate() {
                    out.push(RamRecord::Page {
                        block: block.to_owned(),
                        offset: offset + k as u64 * PAGE_SIZE,
                        data: Cow::Borrowed(page),
                        continued: if k == 0 { first } else { true },
                    });
                }
                last = Some(block);
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
                take(pages, at)?;
                let first = continued.unwrap_or_else(|| rule(last, block));
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
                    out.push(match page {
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
                    });
                }
                last = Some(block);
            }
        }
    }
    Ok(out)
}
