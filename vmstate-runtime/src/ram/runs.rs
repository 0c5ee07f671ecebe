//! The BER form of a RAM part: the block list, then runs of pages. A long run of
//! zero pages is one small element whatever its length; a long run of data pages is
//! one OCTET STRING; short runs of both kinds, as in memory where zero and data pages
//! interleave, are gathered into a mixed run: a bit per page says which pages are
//! zero, one OCTET STRING holds the others. An idle guest's RAM costs bytes per run,
//! and no layout costs an element per page.
//!
//! ```text
//! VMState-Ram-Element ::= CHOICE {         -- as `Module::with_stream` renders it
//!     mem-size  [0] SEQUENCE { total INTEGER, blocks SEQUENCE OF SEQUENCE { name UTF8String, length INTEGER } },
//!     zero-run  [1] SEQUENCE { block UTF8String, offset INTEGER, pages INTEGER, fill INTEGER, continued BOOLEAN OPTIONAL },
//!     data-run  [2] SEQUENCE { block UTF8String, offset INTEGER, data OCTET STRING, continued BOOLEAN OPTIONAL },
//!     mixed-run [3] SEQUENCE { block UTF8String, offset INTEGER,
//!                              zero BIT STRING,     -- one bit per page, set for a zero page
//!                              data OCTET STRING,   -- the other pages, in order
//!                              continued BOOLEAN OPTIONAL }
//! }
//! ```
//!
//! `continued` keeps a legacy stream's `CONTINUE` choice for the run's first page
//! when it differs from the rule vmstate's writer follows (a page names its block
//! unless the part's previous page was of the same block), so legacy → BER → legacy
//! is exact; the run's other pages are `CONTINUE`. Both writers (the saver and the
//! stream converter) group runs into elements by one [`Planner`].

use super::{RamRecord, PAGE_SIZE};
use crate::ber::{self, length_len, tlv_len, Class, Decoder, Header, Length, Options, Tag};
use crate::error::{Error, ErrorKind, Result};
use crate::io::SliceInput;
use std::borrow::Cow;

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

/// Runs at least this many pages long are elements of their own; shorter ones are
/// gathered into mixed runs.
const LONG_RUN: u64 = 64;
/// The most pages one mixed run holds (its bit map is then at most 64 octets).
const MIXED_MAX: u64 = 512;

/// A maximal run of pages of one kind, as a writer finds them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Run<'b> {
    /// Block name.
    pub block: &'b str,
    /// Offset of the first page.
    pub offset: u64,
    /// Number of pages.
    pub pages: u64,
    /// `Some(fill)` for pages filled with one byte, `None` for data pages.
    pub fill: Option<u8>,
    /// An explicit `CONTINUE` choice for the first page (see the module doc).
    pub continued: Option<bool>,
}

impl Run<'_> {
    /// The offset just past the run's last page.
    pub fn end(&self) -> u64 {
        self.offset + self.pages * PAGE_SIZE
    }
}

/// What a [`Planner`] hands its writer: one run as its own element, or several
/// short runs (contiguous, one block) as one mixed run.
#[derive(Debug)]
pub enum Group<'r, 'b> {
    /// A zero run or a data run.
    One(Run<'b>),
    /// A mixed run of these runs, in order.
    Mixed(&'r [Run<'b>]),
}

/// Groups runs into elements: long runs stand alone, short contiguous ones are
/// gathered into mixed runs. It holds run descriptions only, never page data.
#[derive(Debug, Default)]
pub struct Planner<'b> {
    pending: Vec<Run<'b>>,
    pages: u64,
}

impl<'b> Planner<'b> {
    /// Takes the next run; calls `emit` for each element that it completes.
    pub fn push(
        &mut self,
        run: Run<'b>,
        emit: &mut impl FnMut(Group<'_, 'b>) -> Result<()>,
    ) -> Result<()> {
        let short = run.pages < LONG_RUN && run.fill.is_none_or(|f| f == 0);
        let joins = self.pending.last().is_none_or(|last| {
            last.block == run.block
                && last.end() == run.offset
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
            emit(Group::One(run))
        }
    }

    /// Emits what is pending.
    pub fn finish(&mut self, emit: &mut impl FnMut(Group<'_, 'b>) -> Result<()>) -> Result<()> {
        let done = match self.pending.as_slice() {
            [] => Ok(()),
            [one] => emit(Group::One(*one)),
            runs => emit(Group::Mixed(runs)),
        };
        self.pending.clear();
        self.pages = 0;
        done
    }
}

/// Appends the block list element.
pub fn mem_size(out: &mut Vec<u8>, total: u64, blocks: &[(String, u64)]) {
    let str_len = |n: &str| 1 + length_len(n.len()) + n.len();
    let entry = |(n, l): &(String, u64)| str_len(n) + 2 + uint_len(*l);
    let list: usize = blocks
        .iter()
        .map(|b| tlv_len(Tag::SEQUENCE, entry(b)))
        .sum();
    out.push(0xa0);
    push_len(out, 2 + uint_len(total) + tlv_len(Tag::SEQUENCE, list));
    push_uint(out, total);
    out.push(0x30);
    push_len(out, list);
    for b in blocks {
        out.push(0x30);
        push_len(out, entry(b));
        push_str(out, &b.0);
        push_uint(out, b.1);
    }
}

/// Runs `f` against a stack buffer and writes what it wrote in one call: a run's
/// header and small members are a dozen tiny TLVs, one write per page otherwise.
/// Octets of a non-negative INTEGER's contents (a leading zero keeps it positive).
#[inline]
const fn uint_len(v: u64) -> usize {
    (64 - v.leading_zeros() as usize) / 8 + 1
}

#[inline]
fn push_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let k = length_len(len) - 1;
        out.push(0x80 | k as u8);
        out.extend_from_slice(&len.to_be_bytes()[std::mem::size_of::<usize>() - k..]);
    }
}

#[inline]
fn push_uint(out: &mut Vec<u8>, v: u64) {
    let n = uint_len(v);
    // Tag, length and up to nine octets, in one fixed-size copy.
    let mut tlv = [0u8; 11];
    tlv[0] = 0x02;
    tlv[1] = n as u8;
    // The value right-aligned in its n octets (a ninth is the leading zero).
    let k = n.min(8);
    tlv[2 + n - k..2 + n].copy_from_slice(&v.to_be_bytes()[8 - k..]);
    out.extend_from_slice(&tlv[..2 + n]);
}

#[inline]
fn push_str(out: &mut Vec<u8>, s: &str) {
    out.push(0x0c);
    push_len(out, s.len());
    out.extend_from_slice(s.as_bytes());
}

#[inline]
fn push_flag(out: &mut Vec<u8>, continued: Option<bool>) {
    if let Some(c) = continued {
        out.extend_from_slice(&[0x01, 0x01, if c { 0xff } else { 0 }]);
    }
}

/// A run's block name, offset and flag.
#[inline]
fn run_members_len(block: &str, offset: u64, continued: Option<bool>) -> usize {
    1 + length_len(block.len()) + block.len() + 2 + uint_len(offset) + continued.map_or(0, |_| 3)
}

/// Appends a zero run, `pages` pages of `fill` from `offset` in `block`, to `out`
/// (the saver reuses one buffer: a run's small TLVs then cost one write).
pub fn zero_run(
    out: &mut Vec<u8>,
    block: &str,
    offset: u64,
    pages: u64,
    fill: u8,
    continued: Option<bool>,
) {
    out.reserve(48 + block.len());
    let len =
        run_members_len(block, offset, continued) + 2 + uint_len(pages) + 2 + uint_len(fill.into());
    out.push(0xa1);
    push_len(out, len);
    push_str(out, block);
    push_uint(out, offset);
    push_uint(out, pages);
    push_uint(out, fill.into());
    push_flag(out, continued);
}

/// Appends the start of a data run of `bytes` octets to `out`, up to the header of
/// its OCTET STRING; the pages follow, then [`run_end`].
pub fn data_run_start(
    out: &mut Vec<u8>,
    block: &str,
    offset: u64,
    bytes: usize,
    continued: Option<bool>,
) {
    out.reserve(48 + block.len());
    let len = run_members_len(block, offset, continued) + tlv_len(Tag::OCTET_STRING, bytes);
    out.push(0xa2);
    push_len(out, len);
    push_str(out, block);
    push_uint(out, offset);
    out.push(0x04);
    push_len(out, bytes);
}

/// Appends the end of a data or mixed run (its explicit `continued`, if any).
pub fn run_end(out: &mut Vec<u8>, continued: Option<bool>) {
    push_flag(out, continued);
}

/// Appends the start of a mixed run of `runs` to `out`, up to the header of its
/// OCTET STRING; the data runs' pages follow in order, then [`run_end`] with
/// `runs[0].continued`.
pub fn mixed_run_start(out: &mut Vec<u8>, runs: &[Run<'_>]) {
    let Some(first) = runs.first() else { return };
    let pages: u64 = runs.iter().map(|r| r.pages).sum();
    let data: u64 = runs
        .iter()
        .filter(|r| r.fill.is_none())
        .map(|r| r.pages)
        .sum();
    let data = (data * PAGE_SIZE) as usize;
    let map = pages.div_ceil(8) as usize;
    let bits = tlv_len(Tag::BIT_STRING, 1 + map);
    let len = run_members_len(first.block, first.offset, first.continued)
        + bits
        + tlv_len(Tag::OCTET_STRING, data);
    out.reserve(64 + first.block.len() + map);
    out.push(0xa3);
    push_len(out, len);
    push_str(out, first.block);
    push_uint(out, first.offset);
    out.push(0x03);
    push_len(out, 1 + map);
    out.push((map as u64 * 8 - pages) as u8);
    let start = out.len();
    out.resize(start + map, 0);
    let mut k = 0;
    for r in runs {
        if r.fill.is_some() {
            for p in k..k + r.pages {
                out[start + (p / 8) as usize] |= 0x80 >> (p % 8);
            }
        }
        k += r.pages;
    }
    out.push(0x04);
    push_len(out, data);
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
fn bit_map(c: &[u8]) -> Option<(&[u8], u64, u64)> {
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
        /// Name and used length of each block.
        blocks: Vec<(String, u64)>,
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
}

fn text<'a>(d: &mut Decoder<'_, SliceInput<'a>>) -> Result<&'a str> {
    let h = d.expect(Tag::UTF8_STRING)?;
    let bytes = take(d, &h)?;
    std::str::from_utf8(bytes).map_err(|_| {
        Error::new(
            ErrorKind::MalformedBer("a RAM block name is not UTF-8".into()),
            h.offset,
        )
    })
}

fn take<'a>(d: &mut Decoder<'_, SliceInput<'a>>, h: &Header) -> Result<&'a [u8]> {
    match h.length {
        Length::Definite(n) => d.input().take(usize::try_from(n).unwrap_or(usize::MAX)),
        Length::Indefinite => Err(Error::new(
            ErrorKind::MalformedBer("RAM strings must have a definite length".into()),
            h.offset,
        )),
    }
}

fn uint(d: &mut Decoder<'_, SliceInput<'_>>) -> Result<u64> {
    let h = d.expect(Tag::INTEGER)?;
    let v = d.integer(&h)?;
    u64::try_from(v).map_err(|_| ber::out_of_range(v, "uint64", &h))
}

fn flag(d: &mut Decoder<'_, SliceInput<'_>>) -> Result<Option<bool>> {
    match d.peek_header()? {
        Some(h) if h.tag == Tag::BOOLEAN => {
            let h = d.expect(Tag::BOOLEAN)?;
            Ok(Some(d.boolean(&h)?))
        }
        _ => Ok(None),
    }
}

/// `a == b` for block names, which are short: word compares, not a `memcmp` call
/// (which costs more than the rest of a run's parsing).
#[inline(always)]
fn same_name(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut ca = a.chunks_exact(8);
    let mut cb = b.chunks_exact(8);
    let words_equal = ca
        .by_ref()
        .zip(cb.by_ref())
        .all(|(x, y)| word(x) == word(y));
    words_equal
        && ca
            .remainder()
            .iter()
            .zip(cb.remainder())
            .all(|(x, y)| x == y)
}

#[inline(always)]
fn word(b: &[u8]) -> u64 {
    b.iter().fold(0, |a, &x| (a << 8) | u64::from(x))
}

/// A minimal reader of definite-length, one-octet-tag TLVs: the form vmstate writes
/// a run in. It parses the common case without the general decoder's bookkeeping
/// and gives up (`None`) on anything else, which the general decoder then reads or
/// rejects with the precise error.
struct Tlvs<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Tlvs<'a> {
    #[inline(always)]
    fn next(&mut self, tag: u8) -> Option<&'a [u8]> {
        let b = self.b;
        if *b.get(self.pos)? != tag {
            return None;
        }
        let l0 = *b.get(self.pos + 1)?;
        let (len, hl) = if l0 < 0x80 {
            (usize::from(l0), 2)
        } else {
            let k = usize::from(l0 & 0x7f);
            if k == 0 || k > 8 || l0 == 0xff {
                return None;
            }
            let bytes = b.get(self.pos + 2..self.pos + 2 + k)?;
            let len = bytes.iter().fold(0u64, |a, &x| (a << 8) | u64::from(x));
            (usize::try_from(len).ok()?, 2 + k)
        };
        let start = self.pos + hl;
        let end = start.checked_add(len)?;
        let contents = b.get(start..end)?;
        self.pos = end;
        Some(contents)
    }

    /// A non-negative INTEGER in its shortest form, up to 64 bits.
    #[inline(always)]
    fn uint(&mut self) -> Option<u64> {
        let c = self.next(0x02)?;
        let positive = match c {
            [] => false,
            [first] => first & 0x80 == 0,
            // Shortest form: a leading zero only before an octet with its top bit set.
            [first, second, ..] => first & 0x80 == 0 && !(*first == 0 && second & 0x80 == 0),
        };
        if !positive || c.len() > 9 || (c.len() == 9 && c[0] != 0) {
            return None;
        }
        Some(c.iter().fold(0u64, |a, &x| (a << 8) | u64::from(x)))
    }

    #[inline(always)]
    fn flag(&mut self) -> Option<Option<bool>> {
        if self.pos == self.b.len() {
            return Some(None);
        }
        let c = self.next(0x01)?;
        (c.len() == 1).then(|| Some(c[0] != 0))
    }

    /// A zero or data run at the start of the bytes, and its length.
    #[inline(always)]
    fn run(b: &'a [u8], last: &'a str) -> Option<(Element<'a>, usize)> {
        let mut outer = Tlvs { b, pos: 0 };
        let tag = *b.first()?;
        let contents = outer.next(tag)?;
        let mut t = Tlvs {
            b: contents,
            pos: 0,
        };
        let name = t.next(0x0c)?;
        // Runs repeat their block's name: validate it once.
        let block = if same_name(name, last.as_bytes()) {
            last
        } else {
            std::str::from_utf8(name).ok()?
        };
        let offset = t.uint()?;
        let e = match tag {
            0xa1 => {
                let pages = t.uint()?;
                let fill = u8::try_from(t.uint()?).ok()?;
                Element::Zero {
                    block,
                    offset,
                    pages,
                    fill,
                    continued: t.flag()?,
                }
            }
            0xa2 => {
                let data = t.next(0x04)?;
                if data.len() as u64 % PAGE_SIZE != 0 {
                    return None;
                }
                Element::Data {
                    block,
                    offset,
                    data,
                    continued: t.flag()?,
                }
            }
            0xa3 => {
                let (zero, pages, data_pages) = bit_map(t.next(0x03)?)?;
                let data = t.next(0x04)?;
                if data.len() as u64 != data_pages * PAGE_SIZE {
                    return None;
                }
                Element::Mixed {
                    block,
                    offset,
                    pages,
                    zero,
                    data,
                    continued: t.flag()?,
                }
            }
            _ => return None,
        };
        (t.pos == contents.len()).then_some((e, outer.pos))
    }
}

/// The elements of a part's contents (inside its `[6]`), one at a time: the common
/// encoding by a fast path, anything else by the general decoder.
pub struct Elements<'a> {
    data: &'a [u8],
    base: u64,
    pos: usize,
    last: &'a str,
}

impl<'a> Elements<'a> {
    /// The elements in `data`, found at stream offset `base`.
    pub fn new(data: &'a [u8], base: u64) -> Self {
        Elements {
            data,
            base,
            pos: 0,
            last: "",
        }
    }

    /// The next element and its stream offset, or `None` at the end.
    #[inline(always)]
    pub fn next_at(&mut self) -> Result<Option<(Element<'a>, u64)>> {
        let rest = &self.data[self.pos..];
        if rest.is_empty() {
            return Ok(None);
        }
        let at = self.base + self.pos as u64;
        let (e, len) = match Tlvs::run(rest, self.last) {
            Some(found) => found,
            None => {
                let mut input = SliceInput::with_base(rest, at);
                let mut d = Decoder::new(&mut input, Options::STRICT);
                let e = next_element(&mut d)?
                    .ok_or_else(|| Error::new(ErrorKind::UnexpectedEof, at))?;
                (e, (d.offset() - at) as usize)
            }
        };
        if let Element::Zero { block, .. }
        | Element::Data { block, .. }
        | Element::Mixed { block, .. } = e
        {
            self.last = block;
        }
        self.pos += len;
        Ok(Some((e, at)))
    }
}

/// Reads the next element of a part (inside its `[6]`), or `None` at its end.
pub fn next_element<'a>(d: &mut Decoder<'_, SliceInput<'a>>) -> Result<Option<Element<'a>>> {
    let Some(h) = d.peek_header()? else {
        return Ok(None);
    };
    let h = d.next_header(&h.tag)?;
    d.enter(&h)?;
    let e = match h.tag {
        MEM_SIZE => {
            let total = uint(d)?;
            let lh = d.expect(Tag::SEQUENCE)?;
            d.enter(&lh)?;
            let mut blocks = Vec::new();
            while d.peek_header()?.is_some() {
                let bh = d.expect(Tag::SEQUENCE)?;
                d.enter(&bh)?;
                blocks.push((text(d)?.to_owned(), uint(d)?));
                d.leave(None)?;
            }
            d.leave(None)?;
            Element::MemSize { total, blocks }
        }
        ZERO_RUN => {
            let (block, offset, pages) = (text(d)?, uint(d)?, uint(d)?);
            let fh = d.expect(Tag::INTEGER)?;
            let fill = d.integer(&fh)?;
            let fill = u8::try_from(fill).map_err(|_| ber::out_of_range(fill, "uint8", &fh))?;
            Element::Zero {
                block,
                offset,
                pages,
                fill,
                continued: flag(d)?,
            }
        }
        DATA_RUN => {
            let (block, offset) = (text(d)?, uint(d)?);
            let dh = d.expect(Tag::OCTET_STRING)?;
            let data = take(d, &dh)?;
            if data.len() as u64 % PAGE_SIZE != 0 {
                return Err(Error::new(
                    ErrorKind::MalformedBer("a data run is not a whole number of pages".into()),
                    dh.offset,
                ));
            }
            Element::Data {
                block,
                offset,
                data,
                continued: flag(d)?,
            }
        }
        MIXED_RUN => {
            let (block, offset) = (text(d)?, uint(d)?);
            let bh = d.expect(Tag::BIT_STRING)?;
            let (zero, pages, data_pages) = bit_map(take(d, &bh)?).ok_or_else(|| {
                Error::new(
                    ErrorKind::MalformedBer(
                        "a mixed run's bit map names no page or has unused bits set".into(),
                    ),
                    bh.offset,
                )
            })?;
            let dh = d.expect(Tag::OCTET_STRING)?;
            let data = take(d, &dh)?;
            if data.len() as u64 != data_pages * PAGE_SIZE {
                return Err(Error::new(
                    ErrorKind::MalformedBer(format!(
                        "a mixed run has {} data octets for {data_pages} data pages",
                        data.len()
                    )),
                    dh.offset,
                ));
            }
            Element::Mixed {
                block,
                offset,
                pages,
                zero,
                data,
                continued: flag(d)?,
            }
        }
        other => {
            return Err(Error::new(
                ErrorKind::UnexpectedTag {
                    expected: "a RAM element [0], [1], [2] or [3]".into(),
                    found: other.to_string(),
                },
                h.offset,
            ))
        }
    };
    d.leave(None)?;
    Ok(Some(e))
}

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
    let mut planner = Planner::default();
    let mut last: Option<&str> = None;
    let mut i = 0;
    while i < records.len() {
        let (block, offset, fill, continued) = match &records[i] {
            RamRecord::MemSize { total, blocks } => {
                planner.finish(&mut |g| c.group(g))?;
                mem_size(&mut c.w, *total, blocks);
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
    fn group(&mut self, group: Group<'_, '_>) -> Result<()> {
        let runs = match &group {
            Group::One(run) => std::slice::from_ref(run),
            Group::Mixed(runs) => runs,
        };
        let pages: usize = runs.iter().map(|r| r.pages as usize).sum();
        let records = &self.records[self.next..self.next + pages];
        self.next += pages;
        let first = runs[0];
        match (&group, first.fill) {
            (Group::One(_), Some(fill)) => {
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
            (Group::One(_), None) => data_run_start(
                &mut self.w,
                first.block,
                first.offset,
                pages * PAGE_SIZE as usize,
                first.continued,
            ),
            (Group::Mixed(runs), _) => mixed_run_start(&mut self.w, runs),
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
pub fn ber_to_records<'a>(
    d: &mut Decoder<'_, SliceInput<'a>>,
    blocks: &mut Vec<(String, u64)>,
) -> Result<Vec<RamRecord<'a>>> {
    let mut out = Vec::new();
    let mut last: Option<&str> = None;
    loop {
        let at = d.offset();
        let Some(e) = next_element(d)? else { break };
        match e {
            Element::MemSize {
                total,
                blocks: list,
            } => {
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
