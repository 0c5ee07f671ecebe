//! Writing runs: each element's TLVs appended to a buffer the writer reuses, the
//! pages themselves written by the caller straight from guest memory.

use super::Run;
use crate::ber::{length_len, tlv_len, Tag};
use crate::ram::{ListedBlock, MappedRegion, PAGE_SIZE};

/// Appends the block list element, with the page size unless it is 4 KiB, and each
/// block's mapped-ram region when `regions` has them (one per block).
pub fn mem_size(
    out: &mut Vec<u8>,
    total: u64,
    blocks: &[ListedBlock],
    regions: &[MappedRegion<'_>],
    page: u64,
) {
    let page_size = (page != PAGE_SIZE).then_some(page);
    let str_len = |n: &str| 1 + length_len(n.len()) + n.len();
    let entry = |i: usize, b: &ListedBlock| {
        str_len(&b.name)
            + 2
            + uint_len(b.length)
            + b.addr.map_or(0, |a| 2 + uint_len(a))
            + b.page_size.map_or(0, |p| 2 + uint_len(p))
            + regions.get(i).map_or(0, |r| tlv_len(MAPPED, mapped_len(r)))
    };
    let list: usize = blocks
        .iter()
        .enumerate()
        .map(|(i, b)| tlv_len(Tag::SEQUENCE, entry(i, b)))
        .sum();
    out.push(0xa0);
    let page_len = page_size.map_or(0, |p| 2 + uint_len(p));
    push_len(
        out,
        2 + uint_len(total) + tlv_len(Tag::SEQUENCE, list) + page_len,
    );
    push_uint(out, total);
    out.push(0x30);
    push_len(out, list);
    for (i, b) in blocks.iter().enumerate() {
        out.push(0x30);
        push_len(out, entry(i, b));
        push_str(out, &b.name);
        push_uint(out, b.length);
        if let Some(a) = b.addr {
            push_uint(out, a);
        }
        if let Some(p) = b.page_size {
            push_uint_as(out, PAGE_SIZE_ID, p);
        }
        if let Some(r) = regions.get(i) {
            push_mapped(out, r);
        }
    }
    if let Some(p) = page_size {
        push_uint(out, p);
    }
}

/// `[0]` in a block entry: its mapped-ram region.
pub const MAPPED: Tag = super::ctx(0);

/// The contents' length of a region's `[0]`.
fn mapped_len(r: &MappedRegion<'_>) -> usize {
    let ints: usize = [
        u64::from(r.version),
        r.page_size,
        r.bitmap_offset,
        r.pages_offset,
    ]
    .iter()
    .map(|&v| 2 + uint_len(v))
    .sum();
    ints + tlv_len(Tag::OCTET_STRING, r.bitmap.len()) + tlv_len(Tag::SEQUENCE, runs_len(r))
}

fn run_len(offset: u64, data: &[u8]) -> usize {
    2 + uint_len(offset) + tlv_len(Tag::OCTET_STRING, data.len())
}

fn runs_len(r: &MappedRegion<'_>) -> usize {
    r.runs
        .iter()
        .map(|(o, d)| tlv_len(Tag::SEQUENCE, run_len(*o, d)))
        .sum()
}

/// Appends a region's `[0]`: the header's values, the bitmap, the runs of pages.
fn push_mapped(out: &mut Vec<u8>, r: &MappedRegion<'_>) {
    out.push(0xa0);
    push_len(out, mapped_len(r));
    for v in [
        u64::from(r.version),
        r.page_size,
        r.bitmap_offset,
        r.pages_offset,
    ] {
        push_uint(out, v);
    }
    push_octets(out, &r.bitmap);
    out.push(0x30);
    push_len(out, runs_len(r));
    for (offset, data) in &r.runs {
        out.push(0x30);
        push_len(out, run_len(*offset, data));
        push_uint(out, *offset);
        push_octets(out, data);
    }
}

fn push_octets(out: &mut Vec<u8>, data: &[u8]) {
    out.push(0x04);
    push_len(out, data.len());
    out.extend_from_slice(data);
}

/// Octets of a non-negative INTEGER's contents (a leading zero keeps it positive).
#[inline]
pub(super) const fn uint_len(v: u64) -> usize {
    (64 - v.leading_zeros() as usize) / 8 + 1
}

#[inline]
pub(super) fn push_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let k = length_len(len) - 1;
        out.push(0x80 | k as u8);
        out.extend_from_slice(&len.to_be_bytes()[std::mem::size_of::<usize>() - k..]);
    }
}

#[inline]
pub(super) fn push_uint(out: &mut Vec<u8>, v: u64) {
    push_uint_as(out, 0x02, v);
}

/// `[1]` in a block entry (IMPLICIT INTEGER): its page size.
pub const PAGE_SIZE_ID: u8 = 0x81;

/// An unsigned integer under identifier octet `id` (INTEGER's, or an implicit tag's).
fn push_uint_as(out: &mut Vec<u8>, id: u8, v: u64) {
    let n = uint_len(v);
    // Tag, length and up to nine octets, in one fixed-size copy.
    let mut tlv = [0u8; 11];
    tlv[0] = id;
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
    octets_start(out, 0xa2, block, offset, bytes, continued)
}

/// Appends an encoded page's element (`[4]` XBZRLE, `[5]` zlib): its block,
/// offset, encoded bytes and flag.
pub fn encoded_page(
    out: &mut Vec<u8>,
    encoding: crate::ram::Encoding,
    block: &str,
    offset: u64,
    data: &[u8],
    continued: Option<bool>,
) {
    let tag = 0xa0 | super::encoded_tag(encoding).number as u8;
    octets_start(out, tag, block, offset, data.len(), continued);
    out.extend_from_slice(data);
    run_end(out, continued);
}

/// The start of an element `[n] SEQUENCE { block, offset, OCTET STRING, flag }`,
/// up to the header of its OCTET STRING.
pub(super) fn octets_start(
    out: &mut Vec<u8>,
    tag: u8,
    block: &str,
    offset: u64,
    bytes: usize,
    continued: Option<bool>,
) {
    out.reserve(48 + block.len());
    let len = run_members_len(block, offset, continued) + tlv_len(Tag::OCTET_STRING, bytes);
    out.push(tag);
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

/// Appends the start of a mixed run of `runs` (pages of `page` bytes) in `block`
/// to `out`, up to the header of its OCTET STRING; the data runs' pages follow in
/// order, then [`run_end`] with `runs[0].continued`.
pub fn mixed_run_start<B>(out: &mut Vec<u8>, block: &str, runs: &[Run<B>], page: u64) {
    let Some(first) = runs.first() else { return };
    let pages: u64 = runs.iter().map(|r| r.pages).sum();
    let data: u64 = runs
        .iter()
        .filter(|r| r.fill.is_none())
        .map(|r| r.pages)
        .sum();
    let data = (data * page) as usize;
    let map = pages.div_ceil(8) as usize;
    let bits = tlv_len(Tag::BIT_STRING, 1 + map);
    let len = run_members_len(block, first.offset, first.continued)
        + bits
        + tlv_len(Tag::OCTET_STRING, data);
    out.reserve(64 + block.len() + map);
    out.push(0xa3);
    push_len(out, len);
    push_str(out, block);
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
