//! Reading runs: a fast path for the form vmstate writes, and the general BER
//! decoder for anything else, which the fast path is held to by a differential test.

use super::write::MAPPED;
use super::{
    bit_map, Element, DATA_RUN, DELTA, DELTA_CACHE, MEM_SIZE, MIXED_RUN, MULTIFD_FLUSH, XBZRLE,
    ZERO_RUN, ZLIB_PAGE, ZSTD,
};
use crate::ber::{self, Decoder, Header, Length, Options, Tag};
use crate::error::{Error, ErrorKind, Result};
use crate::io::SliceInput;
use crate::ram::{Encoding, MappedRegion};
use std::borrow::Cow;

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

/// A block list with mapped-ram regions for some of its blocks only.
fn no_region(at: u64) -> Error {
    Error::new(
        ErrorKind::MalformedBer(
            "a block list of a mapped-ram file has a region for every block or for none".into(),
        ),
        at,
    )
}

/// A block's mapped-ram region (`[0]` in its entry), its bytes borrowed.
fn mapped<'a>(d: &mut Decoder<'_, SliceInput<'a>>) -> Result<MappedRegion<'a>> {
    let h = d.expect(MAPPED)?;
    d.enter(&h)?;
    let vh = d.expect(Tag::INTEGER)?;
    let v = d.integer(&vh)?;
    let version = u32::try_from(v).map_err(|_| ber::out_of_range(v, "uint32", &vh))?;
    let (page_size, bitmap_offset, pages_offset) = (uint(d)?, uint(d)?, uint(d)?);
    let bh = d.expect(Tag::OCTET_STRING)?;
    let bitmap = Cow::Borrowed(take(d, &bh)?);
    let rh = d.expect(Tag::SEQUENCE)?;
    d.enter(&rh)?;
    let mut runs = Vec::new();
    while d.peek_header()?.is_some() {
        let eh = d.expect(Tag::SEQUENCE)?;
        d.enter(&eh)?;
        let offset = uint(d)?;
        let dh = d.expect(Tag::OCTET_STRING)?;
        runs.push((offset, Cow::Borrowed(take(d, &dh)?)));
        d.leave(None)?;
    }
    d.leave(None)?;
    d.leave(None)?;
    Ok(MappedRegion {
        version,
        page_size,
        bitmap_offset,
        pages_offset,
        bitmap,
        runs,
    })
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
    fn run(b: &'a [u8], last: &'a str, page: u64) -> Option<(Element<'a>, usize)> {
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
                if data.len() as u64 % page != 0 {
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
                if data.len() as u64 != data_pages * page {
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
    page: u64,
}

impl<'a> Elements<'a> {
    /// The elements in `data`, found at stream offset `base`, of pages of `page`
    /// bytes.
    pub fn new(data: &'a [u8], base: u64, page: u64) -> Self {
        Elements {
            data,
            base,
            pos: 0,
            last: "",
            page,
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
        let (e, len) = match Tlvs::run(rest, self.last, self.page) {
            Some(found) => found,
            None => {
                let mut input = SliceInput::with_base(rest, at);
                let mut d = Decoder::new(&mut input, Options::STRICT);
                let e = next_element(&mut d, self.page)?
                    .ok_or_else(|| Error::new(ErrorKind::UnexpectedEof, at))?;
                (e, (d.offset() - at) as usize)
            }
        };
        if let Element::Zero { block, .. }
        | Element::Data { block, .. }
        | Element::Mixed { block, .. }
        | Element::Encoded { block, .. }
        | Element::Delta { block, .. } = e
        {
            self.last = block;
        }
        self.pos += len;
        Ok(Some((e, at)))
    }
}

/// Reads the next element of a part (inside its `[6]`), or `None` at its end.
/// Data runs must hold whole pages of `page` bytes.
pub fn next_element<'a>(
    d: &mut Decoder<'_, SliceInput<'a>>,
    page: u64,
) -> Result<Option<Element<'a>>> {
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
            let (mut blocks, mut regions) = (Vec::new(), Vec::new());
            while d.peek_header()?.is_some() {
                let bh = d.expect(Tag::SEQUENCE)?;
                d.enter(&bh)?;
                let (name, length) = (text(d)?.to_owned(), uint(d)?);
                let addr = match d.peek_header()? {
                    Some(h) if h.tag == Tag::INTEGER => Some(uint(d)?),
                    _ => None,
                };
                let page_size = match d.peek_header()? {
                    Some(h) if h.tag == Tag::from_identifier(super::PAGE_SIZE_ID) => {
                        d.accept(&h, h.tag)?;
                        let v = d.integer(&h)?;
                        Some(u64::try_from(v).map_err(|_| ber::out_of_range(v, "uint64", &h))?)
                    }
                    _ => None,
                };
                let b = crate::ram::ListedBlock {
                    name,
                    length,
                    addr,
                    page_size,
                };
                if let Some(h) = d.peek_header()?.filter(|h| h.tag == MAPPED) {
                    if regions.len() != blocks.len() {
                        return Err(no_region(h.offset));
                    }
                    let region = mapped(d)?;
                    region.check(&b, h.offset)?;
                    regions.push(region);
                } else if !regions.is_empty() {
                    return Err(no_region(bh.offset));
                }
                blocks.push(b);
                d.leave(None)?;
            }
            d.leave(None)?;
            let page_size = match d.peek_header()? {
                Some(h) if h.tag == Tag::INTEGER => Some(uint(d)?),
                _ => None,
            };
            Element::MemSize {
                total,
                blocks,
                regions,
                page_size,
            }
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
            if data.len() as u64 % page != 0 {
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
            if data.len() as u64 != data_pages * page {
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
        MULTIFD_FLUSH => Element::MultifdFlush,
        XBZRLE | ZLIB_PAGE => {
            let encoding = if h.tag == XBZRLE {
                Encoding::Xbzrle
            } else {
                Encoding::Zlib
            };
            let (block, offset) = (text(d)?, uint(d)?);
            let dh = d.expect(Tag::OCTET_STRING)?;
            let data = take(d, &dh)?;
            let page = usize::try_from(page).unwrap_or(usize::MAX);
            encoding.check(data, page, dh.offset)?;
            Element::Encoded {
                block,
                offset,
                encoding,
                data,
                continued: flag(d)?,
            }
        }
        DELTA_CACHE => Element::DeltaCache { pages: uint(d)? },
        DELTA => {
            let (block, offset) = (text(d)?, uint(d)?);
            let dh = d.expect(Tag::OCTET_STRING)?;
            let delta = take(d, &dh)?;
            let page = usize::try_from(page).unwrap_or(usize::MAX);
            crate::ram::xbzrle::check(delta, page, dh.offset)?;
            Element::Delta {
                block,
                offset,
                delta,
                continued: flag(d)?,
            }
        }
        ZSTD => {
            let octets = uint(d)?;
            let zh = d.expect(Tag::OCTET_STRING)?;
            Element::Zstd {
                octets,
                data: take(d, &zh)?,
            }
        }
        other => {
            return Err(Error::new(
                ErrorKind::UnexpectedTag {
                    expected: "a RAM element [0] to [9]".into(),
                    found: other.to_string(),
                },
                h.offset,
            ))
        }
    };
    d.leave(None)?;
    Ok(Some(e))
}
