//! The BER form of a RAM part: the block list, then runs of pages. A run of zero
//! pages is one small element whatever its length; a run of data pages is one OCTET
//! STRING. An idle guest's RAM costs bytes per run, not per page.
//!
//! ```text
//! RamElement ::= CHOICE {
//!     mem-size [0] SEQUENCE { total INTEGER, blocks SEQUENCE OF SEQUENCE { name UTF8String, length INTEGER } },
//!     zero-run [1] SEQUENCE { block UTF8String, offset INTEGER, pages INTEGER, fill INTEGER, continued BOOLEAN OPTIONAL },
//!     data-run [2] SEQUENCE { block UTF8String, offset INTEGER, data OCTET STRING, continued BOOLEAN OPTIONAL }
//! }
//! ```
//!
//! `continued` keeps a legacy stream's `CONTINUE` choice for the run's first page
//! when it differs from the rule vmstate's writer follows (a page names its block
//! unless the part's previous page was of the same block), so legacy → BER → legacy
//! is exact; the run's other pages are `CONTINUE`.

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
/// its OCTET STRING; the pages follow, then [`data_run_end`].
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

/// Appends the end of a data run (its explicit `continued`, if any).
pub fn data_run_end(out: &mut Vec<u8>, continued: Option<bool>) {
    push_flag(out, continued);
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
            ErrorKind::MalformedBer("RAM data must be a primitive OCTET STRING".into()),
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

/// A minimal reader of definite-length, one-octet-tag TLVs: the form vmstate writes
/// a run in. It parses the common case without the general decoder's bookkeeping
/// and gives up (`None`) on anything else, which the general decoder then reads or
/// rejects with the precise error.
struct Tlvs<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Tlvs<'a> {
    #[inline]
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
    #[inline]
    fn uint(&mut self) -> Option<u64> {
        let c = self.next(0x02)?;
        let minimal = c.len() == 1 || !(c[0] == 0 && c[1] & 0x80 == 0);
        if c.is_empty()
            || c.len() > 9
            || c[0] & 0x80 != 0
            || !minimal
            || (c.len() == 9 && c[0] != 0)
        {
            return None;
        }
        Some(c.iter().fold(0u64, |a, &x| (a << 8) | u64::from(x)))
    }

    #[inline]
    fn flag(&mut self) -> Option<Option<bool>> {
        if self.pos == self.b.len() {
            return Some(None);
        }
        let c = self.next(0x01)?;
        (c.len() == 1).then(|| Some(c[0] != 0))
    }

    /// A zero or data run at the start of the bytes, and its length.
    #[inline]
    fn run(b: &'a [u8]) -> Option<(Element<'a>, usize)> {
        let mut outer = Tlvs { b, pos: 0 };
        let tag = *b.first()?;
        let contents = outer.next(tag)?;
        let mut t = Tlvs {
            b: contents,
            pos: 0,
        };
        let block = std::str::from_utf8(t.next(0x0c)?).ok()?;
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
            _ => return None,
        };
        (t.pos == contents.len()).then_some((e, outer.pos))
    }
}

/// The element at the start of `data` (found at stream offset `base`) and its
/// length: the common encoding by a fast path, anything else by the decoder.
#[inline]
pub fn element_at(data: &[u8], base: u64) -> Result<(Element<'_>, usize)> {
    if let Some(found) = Tlvs::run(data) {
        return Ok(found);
    }
    let mut input = SliceInput::with_base(data, base);
    let mut d = Decoder::new(&mut input, Options::STRICT);
    let e = next_element(&mut d)?.ok_or_else(|| Error::new(ErrorKind::UnexpectedEof, base))?;
    let len = (d.offset() - base) as usize;
    Ok((e, len))
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
        other => {
            return Err(Error::new(
                ErrorKind::UnexpectedTag {
                    expected: "a RAM element [0], [1] or [2]".into(),
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
    let mut w = Vec::new();
    let mut last: Option<&str> = None;
    let mut i = 0;
    while i < records.len() {
        match &records[i] {
            RamRecord::MemSize { total, blocks } => {
                mem_size(&mut w, *total, blocks);
                i += 1;
            }
            RamRecord::Zero {
                block,
                offset,
                fill,
                continued,
            } => {
                let n = run_len(records, i);
                let flag = explicit(*continued, last, block);
                zero_run(&mut w, block, *offset, n as u64, *fill, flag);
                last = Some(block);
                i += n;
            }
            RamRecord::Page {
                block,
                offset,
                continued,
                ..
            } => {
                let n = run_len(records, i);
                let flag = explicit(*continued, last, block);
                data_run_start(&mut w, block, *offset, n * PAGE_SIZE as usize, flag);
                for r in &records[i..i + n] {
                    if let RamRecord::Page { data, .. } = r {
                        w.extend_from_slice(data);
                    }
                }
                data_run_end(&mut w, flag);
                last = Some(block);
                i += n;
            }
        }
    }
    Ok(w)
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
pub fn ber_to_records(
    d: &mut Decoder<'_, SliceInput<'_>>,
    blocks: &mut Vec<(String, u64)>,
) -> Result<Vec<RamRecord<'static>>> {
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
                        data: Cow::Owned(page.to_vec()),
                        continued: if k == 0 { first } else { true },
                    });
                }
                last = Some(block);
            }
        }
    }
    Ok(out)
}
