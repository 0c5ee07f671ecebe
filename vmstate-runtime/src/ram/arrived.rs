//! Which pages of each RAM block a stream sent. A stream may leave pages out and
//! still be well formed: a multifd main channel (its pages went over the other
//! connections), a stream cut short, a postcopy stream (pages requested later). A
//! RAM image, a loaded guest or a conversion built from it must then say so,
//! never look complete.
//!
//! The pages are kept as runs, so the memory grows with the runs the stream has,
//! not with the lengths its block list claims; pages sent in order extend the
//! last run at no lookup.

use super::RamRecord;
use crate::error::{Error, ErrorKind, Result};
use std::collections::{BTreeMap, HashMap};
use std::ops::Range;

/// The pages of each block of the latest block list that arrived.
#[derive(Debug, Default, Clone)]
pub struct Arrived {
    blocks: Vec<Block>,
    index: HashMap<String, usize>,
    /// The run the latest pages extended, not yet in its block's map: the block,
    /// its first page and one past its last. Pages in order extend it at no lookup.
    pending: Option<(usize, u64, u64)>,
    /// Pages of any block count, without a block list ([`Arrived::unlisted`]).
    unlisted: bool,
}

#[derive(Debug, Clone)]
struct Block {
    name: String,
    /// Its length in pages.
    pages: u64,
    /// Runs of arrived pages: first page -> one past the last.
    runs: BTreeMap<u64, u64>,
}

/// A block's pages that did not arrive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holes {
    /// The block.
    pub block: String,
    /// Its length in pages.
    pub pages: u64,
    /// How many pages did not arrive.
    pub missing: u64,
    /// Where they are: byte ranges of the block, in order.
    pub ranges: Vec<Range<u64>>,
}

impl Arrived {
    /// Nothing arrived yet, of no block.
    pub fn new() -> Self {
        Self::default()
    }

    /// Pages of any block, before any block list: a multifd channel's, whose
    /// blocks the main channel lists; [`Arrived::merge`] counts them in there.
    pub fn unlisted() -> Self {
        Arrived {
            unlisted: true,
            ..Self::default()
        }
    }

    /// Counts in the pages that arrived in `other` (of this list's blocks, up to
    /// their lengths).
    pub fn merge(&mut self, mut other: Arrived) {
        self.flush();
        other.flush();
        for b in other.blocks {
            if let Some(&i) = self.index.get(&b.name) {
                let mine = &mut self.blocks[i];
                for (start, end) in b.runs {
                    let end = end.min(mine.pages);
                    if start < end {
                        mine.insert(start, end);
                    }
                }
            }
        }
    }

    /// A block list (`MEM_SIZE`): its blocks of `page` bytes per page are the ones
    /// that count. A block of a list before with the same length keeps what arrived.
    pub fn block_list(&mut self, list: &[super::ListedBlock], page: u64) {
        self.flush();
        let mut blocks = Vec::with_capacity(list.len());
        for super::ListedBlock { name, length, .. } in list {
            let pages = length.div_ceil(page);
            let runs = match self.index.get(name).map(|&i| &mut self.blocks[i]) {
                Some(b) if b.pages == pages => std::mem::take(&mut b.runs),
                _ => BTreeMap::new(),
            };
            blocks.push(Block {
                name: name.clone(),
                pages,
                runs,
            });
        }
        self.index = blocks
            .iter()
            .enumerate()
            .map(|(i, b)| (b.name.clone(), i))
            .collect();
        self.blocks = blocks;
    }

    /// Puts the pending run into its block's map.
    fn flush(&mut self) {
        if let Some((i, start, end)) = self.pending.take() {
            self.blocks[i].insert(start, end);
        }
    }

    /// `n` pages of `page` bytes from byte `offset` of `block` arrived. Pages of a
    /// block the list does not have, or past its end, are not counted (the readers
    /// refuse them), unless this is [`Arrived::unlisted`].
    pub fn pages(&mut self, block: &str, offset: u64, n: u64, page: u64) {
        let i = match self.pending {
            Some((i, ..)) if self.blocks[i].name == block => i,
            _ => match self.index.get(block) {
                Some(&i) => i,
                None if self.unlisted => {
                    self.blocks.push(Block {
                        name: block.to_owned(),
                        pages: u64::MAX,
                        runs: BTreeMap::new(),
                    });
                    self.index.insert(block.to_owned(), self.blocks.len() - 1);
                    self.blocks.len() - 1
                }
                None => return,
            },
        };
        let first = offset / page;
        let end = first.saturating_add(n).min(self.blocks[i].pages);
        if first >= end {
            return;
        }
        match &mut self.pending {
            // In order: the pending run ends where these start, or holds them.
            Some((pi, s, e)) if *pi == i && first >= *s && first <= *e => *e = (*e).max(end),
            _ => {
                self.flush();
                self.pending = Some((i, first, end));
            }
        }
    }

    /// Counts the pages of one record (4 KiB pages).
    pub fn record(&mut self, r: &RamRecord<'_>) {
        match (r, r.page()) {
            (
                RamRecord::MemSize {
                    blocks, regions, ..
                },
                _,
            ) => {
                self.block_list(blocks, super::PAGE_SIZE);
                // A mapped-ram file holds every page of a block: in its slot, or zero.
                for (b, _) in blocks.iter().zip(regions) {
                    self.pages(&b.name, 0, b.length / super::PAGE_SIZE, super::PAGE_SIZE);
                }
            }
            (_, Some((block, offset))) => self.pages(block, offset, 1, super::PAGE_SIZE),
            (_, None) => {}
        }
    }

    /// The blocks with pages that did not arrive, in list order, of `page` bytes
    /// per page.
    pub fn holes(&self, page: u64) -> Vec<Holes> {
        self.blocks
            .iter()
            .enumerate()
            .filter_map(|(i, b)| {
                // The pending run counts: in a copy of its block.
                let with_pending;
                let b = match self.pending {
                    Some((pi, start, end)) if pi == i => {
                        let mut copy = b.clone();
                        copy.insert(start, end);
                        with_pending = copy;
                        &with_pending
                    }
                    _ => b,
                };
                let mut ranges = Vec::new();
                let mut at = 0;
                let mut missing = 0;
                for (&s, &e) in b.runs.iter().chain([(&b.pages, &b.pages)]) {
                    if s > at {
                        ranges.push(at * page..s * page);
                        missing += s - at;
                    }
                    at = e;
                }
                (missing > 0).then(|| Holes {
                    block: b.name.clone(),
                    pages: b.pages,
                    missing,
                    ranges,
                })
            })
            .collect()
    }

    /// Fails with [`ErrorKind::MissingPages`] at `offset` (where the stream ended)
    /// when a block has pages that did not arrive.
    pub fn check(&self, page: u64, offset: u64) -> Result<()> {
        let holes = self.holes(page);
        match holes.first() {
            None => Ok(()),
            Some(h) => Err(Error::new(
                ErrorKind::MissingPages {
                    block: h.block.clone(),
                    missing: h.missing,
                    pages: h.pages,
                    first: h.ranges[0].start,
                    more_blocks: holes.len() as u64 - 1,
                },
                offset,
            )),
        }
    }
}

impl Block {
    /// Adds pages `[first, end)`.
    fn insert(&mut self, first: u64, end: u64) {
        let mut start = first;
        let mut stop = end;
        if let Some((&s, &e)) = self.runs.range(..=first).next_back() {
            if e >= first {
                start = s;
                stop = stop.max(e);
            }
        }
        self.runs.insert(start, stop);
        self.merge_after(start);
    }

    /// Merges the runs that the run at `start` now reaches into it.
    fn merge_after(&mut self, start: u64) {
        let Some(&end) = self.runs.get(&start) else {
            return;
        };
        let mut stop = end;
        while let Some((&s, &e)) = self.runs.range(start + 1..).next() {
            if s > stop {
                break;
            }
            stop = stop.max(e);
            self.runs.remove(&s);
        }
        self.runs.insert(start, stop);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ram::ListedBlock;

    #[test]
    fn a_channel_s_pages_count_in_the_main_list() {
        let mut main = Arrived::new();
        main.block_list(&[ListedBlock::new("pc.ram", 10 * 4096)], 4096);
        main.pages("pc.ram", 0, 2, 4096);
        let mut channel = Arrived::unlisted();
        channel.pages("pc.ram", 4 * 4096, 3, 4096);
        channel.pages("gone", 0, 1, 4096); // a block the list does not have
        channel.pages("pc.ram", 9 * 4096, 5, 4096); // past the block's end
        main.merge(channel);
        assert_eq!(
            main.holes(4096),
            vec![Holes {
                block: "pc.ram".into(),
                pages: 10,
                missing: 4,
                ranges: vec![2 * 4096..4 * 4096, 7 * 4096..9 * 4096],
            }]
        );
    }

    #[test]
    fn runs_merge_and_holes_are_listed() {
        let mut a = Arrived::new();
        a.block_list(
            &[
                ListedBlock::new("pc.ram", 10 * 4096),
                ListedBlock::new("vga", 2 * 4096),
            ],
            4096,
        );
        for p in [0, 1, 5, 4, 9, 3] {
            a.pages("pc.ram", p * 4096, 1, 4096);
        }
        a.pages("pc.ram", 4096, 1, 4096); // again: no change
        a.pages("nowhere", 0, 1, 4096);
        a.pages("vga", 0, 7, 4096); // past its end: its 2 pages
        let holes = a.holes(4096);
        assert_eq!(
            holes,
            vec![Holes {
                block: "pc.ram".into(),
                pages: 10,
                missing: 4,
                ranges: vec![2 * 4096..3 * 4096, 6 * 4096..9 * 4096],
            }]
        );
        let e = a.check(4096, 77).unwrap_err();
        assert_eq!(
            e.to_string(),
            "at byte 77: RAM block pc.ram: 4 of its 10 pages are not in the stream (the \
             first at 0x2000)"
        );
        a.pages("pc.ram", 6 * 4096, 3, 4096);
        a.pages("pc.ram", 2 * 4096, 1, 4096);
        assert!(a.check(4096, 0).is_ok());
        a.flush();
        assert_eq!(a.blocks[0].runs.len(), 1);
    }

    /// Pages in any order, runs of any length, two blocks interleaved: the holes
    /// are those a plain set of pages has.
    #[test]
    fn holes_match_a_set_of_pages_in_any_order() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        for _ in 0..50 {
            let list = [
                ListedBlock::new("a", 300 * 4096),
                ListedBlock::new("b", 40 * 4096),
            ];
            let mut a = Arrived::new();
            a.block_list(&list, 4096);
            let mut sets = [
                std::collections::BTreeSet::new(),
                std::collections::BTreeSet::new(),
            ];
            for _ in 0..next(400) {
                let b = next(2) as usize;
                let len = [300, 40][b];
                let (first, n) = if next(3) == 0 {
                    (next(len), 1 + next(20))
                } else {
                    // Often right after what came before, as a stream sends them.
                    (sets[b].last().map_or(0, |p| p + 1).min(len - 1), 1)
                };
                a.pages(&list[b].name, first * 4096, n, 4096);
                sets[b].extend(first..(first + n).min(len));
            }
            let want: Vec<(String, u64)> = [0, 1]
                .into_iter()
                .filter_map(|b| {
                    let missing = [300, 40][b] - sets[b].len() as u64;
                    (missing > 0).then(|| (list[b].name.clone(), missing))
                })
                .collect();
            let got: Vec<(String, u64)> = a
                .holes(4096)
                .into_iter()
                .map(|h| (h.block, h.missing))
                .collect();
            assert_eq!(got, want);
        }
    }

    #[test]
    fn a_list_sent_again_keeps_what_arrived() {
        let mut a = Arrived::new();
        let list = [ListedBlock::new("pc.ram", 2 * 4096)];
        a.block_list(&list, 4096);
        a.pages("pc.ram", 0, 2, 4096);
        a.block_list(&list, 4096);
        assert!(a.holes(4096).is_empty());
        a.block_list(&[ListedBlock::new("pc.ram", 4 * 4096)], 4096);
        assert_eq!(a.holes(4096)[0].missing, 4);
    }
}
