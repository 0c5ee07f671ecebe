//! mapped-ram files (QEMU 9.0+, `migrate file:` with the `mapped-ram` capability):
//! each block list entry is followed by a header (`MappedRamHeader`: be32 version,
//! be64 page size, be64 bitmap offset, be64 pages offset), and the file holds the
//! block's pages at fixed offsets: a bitmap right after the header (a bit per page,
//! set for a page the file holds; QEMU writes it last, as host `unsigned long`s,
//! so least significant bit first on x86), then, from the next MiB boundary, a
//! slot for every page of the block. QEMU writes a page in its slot each time it
//! sends it and clears its bit when the page is zero; the stream of records goes
//! on after the last slot, so read in order the file is still one stream.
//!
//! A region is kept as the header's values, the bitmap, and the runs of non-zero
//! slots (a slot whose bit is clear may still hold an old page: QEMU does not
//! erase it), so that a file converts back byte for byte, holes included.

use super::memory::PageCopy;
use super::{is_zero, ListedBlock, PAGE, PAGE_SIZE};
use crate::error::{Error, ErrorKind, Result};
use crate::io::{Input, StreamInput, Writer};
use std::borrow::Cow;

/// Octets of a `MappedRamHeader`.
pub const HEADER_LEN: u64 = 28;
/// The header version QEMU writes (and the newest it reads).
pub const VERSION: u32 = 1;
/// The alignment of a block's page slots in the file (QEMU's
/// `MAPPED_RAM_FILE_OFFSET_ALIGNMENT`).
pub const ALIGNMENT: u64 = 0x10_0000;

/// A block's region of a mapped-ram file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappedRegion<'a> {
    /// The header's version.
    pub version: u32,
    /// The header's page size (QEMU x86's: 4 KiB).
    pub page_size: u64,
    /// Where the bitmap is in the file: right after the header.
    pub bitmap_offset: u64,
    /// Where the page slots start in the file (a multiple of [`ALIGNMENT`]).
    pub pages_offset: u64,
    /// The bitmap as the file holds it (a bit per page, in 8-octet words).
    pub bitmap: Cow<'a, [u8]>,
    /// The runs of slots that are not all zero, in order: the offset in the block
    /// of the first page, and the pages' bytes (a whole number of pages).
    pub runs: Vec<(u64, Cow<'a, [u8]>)>,
}

/// The octets of the bitmap of a block of `length` bytes: a bit per page, in whole
/// 8-octet words (QEMU's `BITS_TO_LONGS(num_pages) * sizeof(unsigned long)`).
pub fn bitmap_len(length: u64) -> u64 {
    (length / PAGE_SIZE).div_ceil(64) * 8
}

fn framing(message: String, at: u64) -> Error {
    Error::new(ErrorKind::Framing(message), at)
}

impl MappedRegion<'_> {
    /// The region with its bytes owned.
    pub fn into_owned(self) -> MappedRegion<'static> {
        MappedRegion {
            bitmap: Cow::Owned(self.bitmap.into_owned()),
            runs: self
                .runs
                .into_iter()
                .map(|(o, d)| (o, Cow::Owned(d.into_owned())))
                .collect(),
            ..self
        }
    }

    /// Whether the file holds page `k` (its bit is set): QEMU loads it from its
    /// slot; a page whose bit is clear is zero (QEMU leaves it as it is).
    pub fn holds(&self, k: u64) -> bool {
        self.bitmap
            .get((k / 8) as usize)
            .is_some_and(|b| b & (1 << (k % 8)) != 0)
    }

    /// How many pages of a block of `length` bytes the file holds (bits set).
    pub fn held(&self, length: u64) -> u64 {
        (0..length / PAGE_SIZE).filter(|&k| self.holds(k)).count() as u64
    }

    /// The pages the file gives a destination, to `load`: each page whose bit is
    /// set, by offset, with its bytes (`None`: its slot is all zero).
    pub fn for_each_held(
        &self,
        length: u64,
        mut load: impl FnMut(u64, Option<&[u8]>) -> Result<()>,
    ) -> Result<()> {
        let mut runs = self.runs.iter().peekable();
        for k in (0..length / PAGE_SIZE).filter(|&k| self.holds(k)) {
            let offset = k * PAGE_SIZE;
            while runs
                .peek()
                .is_some_and(|(o, d)| o + d.len() as u64 <= offset)
            {
                runs.next();
            }
            let page = runs.peek().and_then(|(o, d)| {
                let at = offset.checked_sub(*o)? as usize;
                d.get(at..at + PAGE)
            });
            load(offset, page)?;
        }
        Ok(())
    }

    /// Checks the region of block `b` as QEMU's loader would and as a writer needs
    /// it: the header ([`Self::check_header`]), a bitmap of the block's size, runs
    /// of whole pages in order inside the block.
    pub fn check(&self, b: &ListedBlock, at: u64) -> Result<()> {
        self.check_header(b, at)?;
        if self.bitmap.len() as u64 != bitmap_len(b.length) {
            return Err(framing(
                format!(
                    "mapped-ram block {}: a bitmap of {} octets, not {} (a bit per page)",
                    b.name,
                    self.bitmap.len(),
                    bitmap_len(b.length)
                ),
                at,
            ));
        }
        let mut end = 0;
        for (offset, data) in &self.runs {
            let fits = offset
                .checked_add(data.len() as u64)
                .is_some_and(|e| e <= b.length);
            if *offset < end || offset % PAGE_SIZE != 0 || data.len() % PAGE != 0 || !fits {
                return Err(framing(
                    format!(
                        "mapped-ram block {}: pages at {offset:#x} ({} bytes) are not \
                         whole pages after the previous ones, inside the block",
                        b.name,
                        data.len()
                    ),
                    at,
                ));
            }
            end = offset + data.len() as u64;
        }
        Ok(())
    }

    /// Checks the header's values for block `b`: the version and page size QEMU
    /// x86 reads, slots at a MiB boundary after the bitmap.
    pub fn check_header(&self, b: &ListedBlock, at: u64) -> Result<()> {
        let name = &b.name;
        if self.version > VERSION {
            return Err(framing(
                format!(
                    "mapped-ram block {name}: header version {} (QEMU reads up to {VERSION})",
                    self.version
                ),
                at,
            ));
        }
        if self.page_size != PAGE_SIZE || b.length % PAGE_SIZE != 0 {
            return Err(framing(
                format!(
                    "mapped-ram block {name}: pages of {} bytes and a length of {}; \
                     QEMU x86 writes 4 KiB pages",
                    self.page_size, b.length
                ),
                at,
            ));
        }
        let bitmap_end = self.bitmap_offset.checked_add(bitmap_len(b.length));
        if self.pages_offset % ALIGNMENT != 0
            || bitmap_end.is_none_or(|end| self.pages_offset < end)
        {
            return Err(framing(
                format!(
                    "mapped-ram block {name}: a bitmap at {:#x} and pages at {:#x} do not \
                     fit a block of {} bytes (a bitmap of {} octets, pages at a MiB \
                     boundary after it)",
                    self.bitmap_offset,
                    self.pages_offset,
                    b.length,
                    bitmap_len(b.length)
                ),
                at,
            ));
        }
        Ok(())
    }
}

/// The header fields after block `b`'s entry, checked against where the reader is:
/// the bitmap must follow the header, as QEMU writes it (vmstate reads a file in
/// order, from its first byte).
pub(crate) fn read_header(r: &mut impl Input, b: &ListedBlock) -> Result<MappedRegion<'static>> {
    let at = r.offset();
    let h: [u8; HEADER_LEN as usize] = r.read_array()?;
    let be64 = |i: usize| u64::from_be_bytes(h[i..i + 8].try_into().unwrap_or_default());
    let region = MappedRegion {
        version: u32::from_be_bytes([h[0], h[1], h[2], h[3]]),
        page_size: be64(4),
        bitmap_offset: be64(12),
        pages_offset: be64(20),
        bitmap: Cow::Borrowed(&[]),
        runs: Vec::new(),
    };
    if region.bitmap_offset != r.offset() {
        return Err(framing(
            format!(
                "mapped-ram block {}: its bitmap is at byte {:#x}, not after its header \
                 ({:#x}); vmstate reads a file as QEMU writes it, the stream from the \
                 file's first byte",
                b.name,
                region.bitmap_offset,
                r.offset()
            ),
            at,
        ));
    }
    region.check_header(b, at)?;
    Ok(region)
}

/// Skips the octets between a block's bitmap and its page slots, which QEMU never
/// writes: anything there but zeros is refused (it would not convert back).
pub(crate) fn skip_gap(r: &mut impl Input, region: &MappedRegion<'_>) -> Result<()> {
    let mut scratch = [0u8; PAGE];
    while r.offset() < region.pages_offset {
        let n = (region.pages_offset - r.offset()).min(PAGE_SIZE) as usize;
        let at = r.offset();
        r.read_exact(&mut scratch[..n])?;
        if !is_zero(&scratch[..n]) {
            return Err(framing(
                "mapped-ram: octets between a bitmap and its page slots are not zero \
                 (QEMU never writes there)"
                    .into(),
                at,
            ));
        }
    }
    Ok(())
}

/// Reads block `b`'s region after its entry: header, bitmap, gap, then its page
/// slots, kept as runs of non-zero pages (borrowed when the stream is in memory).
pub(crate) fn read<'a>(r: &mut StreamInput<'a>, b: &ListedBlock) -> Result<MappedRegion<'a>> {
    let header = read_header(r, b)?;
    let bitmap = r.take_bytes(usize::try_from(bitmap_len(b.length)).unwrap_or(usize::MAX))?;
    skip_gap(r, &header)?;
    let runs = match r {
        // In memory: the slots are one slice, cut into runs.
        StreamInput::Slice(s) => runs_of(s.take(usize::try_from(b.length).unwrap_or(usize::MAX))?),
        // As it arrives: a page at a time, so a long block sizes nothing up front.
        StreamInput::Read(_) => {
            let mut runs: Vec<(u64, Cow<'a, [u8]>)> = Vec::new();
            let mut open = false;
            for k in 0..b.length / PAGE_SIZE {
                let page = r.take_bytes(PAGE)?;
                match runs.last_mut() {
                    _ if is_zero(&page) => open = false,
                    Some((_, run)) if open => run.to_mut().extend_from_slice(&page),
                    _ => {
                        runs.push((k * PAGE_SIZE, page));
                        open = true;
                    }
                }
            }
            runs
        }
    };
    Ok(MappedRegion {
        bitmap,
        runs,
        ..header
    })
}

/// The runs of pages of `slots` that are not all zero, borrowed.
fn runs_of(slots: &[u8]) -> Vec<(u64, Cow<'_, [u8]>)> {
    let run = |first: usize, end: usize| {
        (
            (first * PAGE) as u64,
            Cow::Borrowed(&slots[first * PAGE..end * PAGE]),
        )
    };
    let mut runs = Vec::new();
    let mut start = None;
    for (k, page) in slots.chunks(PAGE).enumerate() {
        match (is_zero(page), start) {
            (false, None) => start = Some(k),
            (true, Some(first)) => {
                runs.push(run(first, k));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(first) = start {
        runs.push(run(first, slots.len().div_ceil(PAGE)));
    }
    runs
}

/// Where QEMU puts each block's bitmap and page slots, for a block list whose
/// `MEM_SIZE` word is at stream offset `start`: `(bitmap_offset, pages_offset)`
/// per block (the bitmap after the header, the slots from the next MiB boundary,
/// the next entry after the last slot).
pub fn placement(blocks: &[ListedBlock], start: u64) -> Vec<(u64, u64)> {
    let mut at = start + 8;
    blocks
        .iter()
        .map(|b| {
            at += 1 + b.name.len() as u64 + 8 + if b.addr.is_some() { 8 } else { 0 };
            let bitmap_offset = at + HEADER_LEN;
            let pages_offset = (bitmap_offset + bitmap_len(b.length)).next_multiple_of(ALIGNMENT);
            at = pages_offset + b.length;
            (bitmap_offset, pages_offset)
        })
        .collect()
}

/// Writes block `b`'s region after its entry: the header, the bitmap, zeros up to
/// the slots, the slots (zeros where no run is). The file offsets must be where
/// the writer is: a region moved in the file would send QEMU elsewhere.
pub(crate) fn write<W: std::io::Write>(
    w: &mut Writer<W>,
    b: &ListedBlock,
    region: &MappedRegion<'_>,
) -> Result<()> {
    region.check(b, w.written())?;
    put_head(w, b, region)?;
    let mut at = 0;
    for (offset, data) in &region.runs {
        zeros(w, offset - at)?;
        w.put(data)?;
        at = offset + data.len() as u64;
    }
    zeros(w, b.length - at)
}

/// Writes block `b`'s region after its entry from the block's memory, placed as
/// [`placement`] says: as QEMU saves a stopped guest, a bit and a slot for every
/// page that is not zero, the zero pages' bits clear and their slots holes. Each
/// page is copied twice (for its bit, then for its slot), never held in full.
pub(crate) fn write_from_ram<W: std::io::Write>(
    w: &mut Writer<W>,
    b: &ListedBlock,
    (bitmap_offset, pages_offset): (u64, u64),
    copy: &mut PageCopy<'_>,
) -> Result<()> {
    let pages = b.length / PAGE_SIZE;
    let mut bitmap = vec![0u8; bitmap_len(b.length) as usize];
    for k in 0..pages {
        if !copy.check(k * PAGE_SIZE, w.written())? {
            bitmap[(k / 8) as usize] |= 1 << (k % 8);
        }
    }
    let region = MappedRegion {
        version: VERSION,
        page_size: PAGE_SIZE,
        bitmap_offset,
        pages_offset,
        bitmap: Cow::Owned(bitmap),
        runs: Vec::new(),
    };
    region.check(b, w.written())?;
    put_head(w, b, &region)?;
    for k in 0..pages {
        match region.holds(k) {
            true => copy.put(k * PAGE_SIZE, PAGE, w)?,
            false => zeros(w, PAGE_SIZE)?,
        }
    }
    Ok(())
}

/// The header, the bitmap and the zeros up to the slots. The file offsets must be
/// where the writer is: a region moved in the file would send QEMU elsewhere.
fn put_head<W: std::io::Write>(
    w: &mut Writer<W>,
    b: &ListedBlock,
    region: &MappedRegion<'_>,
) -> Result<()> {
    w.put(&region.version.to_be_bytes())?;
    for v in [region.page_size, region.bitmap_offset, region.pages_offset] {
        w.put(&v.to_be_bytes())?;
    }
    if region.bitmap_offset != w.written() {
        return Err(w.error(ErrorKind::Framing(format!(
            "mapped-ram block {}: its bitmap_offset is {:#x}, but its header ends at {:#x} \
             (the offsets are the file's: edit them with what comes before)",
            b.name,
            region.bitmap_offset,
            w.written()
        ))));
    }
    w.put(&region.bitmap)?;
    zeros(w, region.pages_offset - w.written())
}

/// Writes `n` zero octets.
fn zeros<W: std::io::Write>(w: &mut Writer<W>, mut n: u64) -> Result<()> {
    const ZERO: [u8; PAGE] = [0; PAGE];
    while n > 0 {
        let k = n.min(PAGE_SIZE) as usize;
        w.put(&ZERO[..k])?;
        n -= k as u64;
    }
    Ok(())
}
