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
use crate::ber::{self, int_len, tlv_len, Class, Decoder, Header, Length, Tag};
use crate::error::{Error, ErrorKind, Result};
use crate::io::{SliceInput, Writer};
use std::borrow::Cow;
use std::io;

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

fn int_tlv_len(v: u64) -> usize {
    tlv_len(Tag::INTEGER, int_len(v.into()))
}

fn put_int<W: io::Write>(w: &mut Writer<W>, v: u64) -> Result<()> {
    ber::put_header(w, Tag::INTEGER, int_len(v.into()))?;
    ber::put_int(w, v.into())
}

fn put_str<W: io::Write>(w: &mut Writer<W>, s: &str) -> Result<()> {
    ber::put_header(w, Tag::UTF8_STRING, s.len())?;
    w.put(s.as_bytes())
}

/// Writes the block list element.
pub fn put_mem_size<W: io::Write>(
    w: &mut Writer<W>,
    total: u64,
    blocks: &[(String, u64)],
) -> Result<()> {
    let entry = |(n, l): &(String, u64)| tlv_len(Tag::UTF8_STRING, n.len()) + int_tlv_len(*l);
    let list: usize = blocks
        .iter()
        .map(|b| tlv_len(Tag::SEQUENCE, entry(b)))
        .sum();
    ber::put_header(
        w,
        MEM_SIZE,
        int_tlv_len(total) + tlv_len(Tag::SEQUENCE, list),
    )?;
    put_int(w, total)?;
    ber::put_header(w, Tag::SEQUENCE, list)?;
    for b in blocks {
        ber::put_header(w, Tag::SEQUENCE, entry(b))?;
        put_str(w, &b.0)?;
        put_int(w, b.1)?;
    }
    Ok(())
}

/// A run's fixed members and the flag's encoding.
fn run_prefix_len(block: &str, offset: u64, continued: Option<bool>) -> usize {
    tlv_len(Tag::UTF8_STRING, block.len())
        + int_tlv_len(offset)
        + continued.map_or(0, |_| tlv_len(Tag::BOOLEAN, 1))
}

/// Writes a zero run: `pages` pages of `fill` from `offset` in `block`.
pub fn put_zero_run<W: io::Write>(
    w: &mut Writer<W>,
    block: &str,
    offset: u64,
    pages: u64,
    fill: u8,
    continued: Option<bool>,
) -> Result<()> {
    let len =
        run_prefix_len(block, offset, continued) + int_tlv_len(pages) + int_tlv_len(fill.into());
    ber::put_header(w, ZERO_RUN, len)?;
    put_str(w, block)?;
    put_int(w, offset)?;
    put_int(w, pages)?;
    put_int(w, fill.into())?;
    put_flag(w, continued)
}

/// Writes the header and fixed members of a data run of `bytes` octets; the caller
/// writes the pages, then [`finish_data_run`].
pub fn begin_data_run<W: io::Write>(
    w: &mut Writer<W>,
    block: &str,
    offset: u64,
    bytes: usize,
    continued: Option<bool>,
) -> Result<()> {
    let len = run_prefix_len(block, offset, continued) + tlv_len(Tag::OCTET_STRING, bytes);
    ber::put_header(w, DATA_RUN, len)?;
    put_str(w, block)?;
    put_int(w, offset)?;
    ber::put_header(w, Tag::OCTET_STRING, bytes)
}

/// Ends a data run begun with [`begin_data_run`].
pub fn finish_data_run<W: io::Write>(w: &mut Writer<W>, continued: Option<bool>) -> Result<()> {
    put_flag(w, continued)
}

fn put_flag<W: io::Write>(w: &mut Writer<W>, continued: Option<bool>) -> Result<()> {
    match continued {
        Some(c) => {
            ber::put_header(w, Tag::BOOLEAN, 1)?;
            w.put(&[if c { 0xff } else { 0 }])
        }
        None => Ok(()),
    }
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
        block: String,
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
        block: String,
        /// Offset of the first page.
        offset: u64,
        /// The pages' bytes (a whole number of pages).
        data: &'a [u8],
        /// An explicit `CONTINUE` choice for the first page.
        continued: Option<bool>,
    },
}

fn text<'a>(d: &mut Decoder<'_, SliceInput<'a>>) -> Result<String> {
    let h = d.expect(Tag::UTF8_STRING)?;
    let bytes = take(d, &h)?;
    Ok(String::from_utf8_lossy(bytes).into_owned())
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
                blocks.push((text(d)?, uint(d)?));
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
    let mut w = Writer::new(Vec::new());
    let mut last: Option<&str> = None;
    let mut i = 0;
    while i < records.len() {
        match &records[i] {
            RamRecord::MemSize { total, blocks } => {
                put_mem_size(&mut w, *total, blocks)?;
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
                put_zero_run(&mut w, block, *offset, n as u64, *fill, flag)?;
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
                begin_data_run(&mut w, block, *offset, n * PAGE_SIZE as usize, flag)?;
                for r in &records[i..i + n] {
                    if let RamRecord::Page { data, .. } = r {
                        w.put(data)?;
                    }
                }
                finish_data_run(&mut w, flag)?;
                last = Some(block);
                i += n;
            }
        }
    }
    Ok(w.into_inner())
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
    let mut last: Option<String> = None;
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
                check_run(blocks, &block, offset, pages, at)?;
                let first = continued.unwrap_or_else(|| rule(last.as_deref(), &block));
                for k in 0..pages {
                    out.push(RamRecord::Zero {
                        block: block.clone(),
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
                check_run(blocks, &block, offset, data.len() as u64 / PAGE_SIZE, at)?;
                let first = continued.unwrap_or_else(|| rule(last.as_deref(), &block));
                for (k, page) in data.chunks(PAGE_SIZE as usize).enumerate() {
                    out.push(RamRecord::Page {
                        block: block.clone(),
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
