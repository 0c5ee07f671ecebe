//! A guest larger than the streaming converter's memory bound goes through both
//! directions within that bound: a counting allocator measures the bytes live at
//! the peak. Alone in its test binary, so that no other test's allocations count.

use sha2::{Digest, Sha256};
use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use vmstate_qemu::Rtc;
use vmstate_runtime::dump::{self, Limits, Progress};
use vmstate_runtime::framing::legacy as records;
use vmstate_runtime::io::{Input, SliceInput};
use vmstate_runtime::ram::{self, RamRecord};
use vmstate_runtime::stream::Registry;
use vmstate_runtime::Format;
use vmstate_test_support::testing::{ram_section, ram_section_end};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(now, Ordering::Relaxed);
        // SAFETY: the layout is the caller's, passed on unchanged.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: `ptr` came from `alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new: usize) -> *mut u8 {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        let now = LIVE.fetch_add(new, Ordering::Relaxed) + new;
        PEAK.fetch_max(now, Ordering::Relaxed);
        // SAFETY: as for `alloc` and `dealloc`.
        unsafe { System.realloc(ptr, layout, new) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// A legacy stream of `pages` data pages, made as it is read: the prelude and the
/// device tail of a real registry stream around a RAM section generated page by
/// page, so that no copy of the guest is ever in memory.
struct Generated {
    parts: Vec<Vec<u8>>,
    pages: u64,
    next: u64,
    /// What is ready to be read.
    ready: Vec<u8>,
    at: usize,
}

const BLOCK: &str = "pc.ram";

impl Generated {
    fn new(pages: u64) -> Generated {
        let mut rtc = Rtc::default();
        let mut reg = Registry::new("pc-i440fx-7.2");
        reg.device("mc146818rtc", 0, &mut rtc);
        let whole = reg.save(Format::Legacy).unwrap();
        drop(reg);
        let mut r = SliceInput::new(&whole);
        records::read_prelude(&mut r).unwrap();
        let (prelude, tail) = whole.split_at(r.offset() as usize);
        let section = ram_section;
        let len = pages * 4096;
        let start = [
            section(
                1,
                9,
                true,
                &[RamRecord::MemSize {
                    total: len,
                    blocks: vec![ram::ListedBlock::new(BLOCK, len)],
                    regions: vec![],
                }],
            ),
            ram_section_end(9),
            section(2, 9, false, &[]),
        ]
        .concat();
        let end = [
            ram_section_end(9),
            section(3, 9, false, &[]),
            ram_section_end(9),
            tail.to_vec(),
        ]
        .concat();
        Generated {
            parts: vec![prelude.to_vec(), start, end],
            pages,
            next: 0,
            ready: Vec::new(),
            at: 0,
        }
    }

    /// The whole stream's SHA-256, made the same way.
    fn digest(pages: u64) -> Vec<u8> {
        let mut g = Generated::new(pages);
        let mut h = Sha256::new();
        io::copy(&mut g, &mut HashWriter(&mut h)).unwrap();
        h.finalize().to_vec()
    }

    fn refill(&mut self) {
        self.ready.clear();
        self.at = 0;
        // The prelude, the START part and the PART's header; then the pages.
        if self.parts.len() > 1 {
            self.ready = self.parts.remove(0);
            return;
        }
        if self.next < self.pages {
            let offset = self.next * 4096;
            let page: Vec<u8> = (0..4096u64)
                .map(|i| (offset / 4096 * 31 + i * 7) as u8 | 1)
                .collect();
            let rec = RamRecord::Page {
                block: BLOCK.into(),
                offset,
                data: page.into(),
                continued: self.next > 0,
            };
            let mut w = vmstate_runtime::io::Writer::new(Vec::new());
            ram::write_record(&rec, &mut w).unwrap();
            self.ready = w.into_inner();
            self.next += 1;
            return;
        }
        if let Some(last) = self.parts.pop() {
            self.ready = last;
        }
    }
}

impl Read for Generated {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.at == self.ready.len() {
            self.refill();
        }
        let k = buf.len().min(self.ready.len() - self.at);
        buf[..k].copy_from_slice(&self.ready[self.at..self.at + k]);
        self.at += k;
        Ok(k)
    }
}

struct HashWriter<'h>(&'h mut Sha256);

impl Write for HashWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// 96 MiB of guest pages, legacy -> BER -> legacy through a pipe, both converters
/// running at once: the bytes live at the peak stay under 40 MiB (a part is held
/// up to 8 MiB of elements before it is written open, a data run up to 4 MiB),
/// and what comes out is the stream that went in.
#[test]
fn a_guest_larger_than_the_bound_converts_in_bounded_memory() {
    const PAGES: u64 = 24 * 1024;
    let want = Generated::digest(PAGES);
    let (mut pipe_in, mut pipe_out) = io::pipe().unwrap();
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let to_ber = std::thread::spawn(move || {
        let mut src = Generated::new(PAGES);
        let mut last = Progress::default();
        let p = dump::convert_stream(
            &mut src,
            &mut pipe_out,
            Format::Ber,
            &Limits::default(),
            &mut |p| last = *p,
        )
        .unwrap();
        assert_eq!(last, p, "the last report is the total");
        p
    });
    let mut h = Sha256::new();
    let back = dump::convert_stream(
        &mut pipe_in,
        &mut HashWriter(&mut h),
        Format::Legacy,
        &Limits::default(),
        &mut |_| {},
    )
    .unwrap();
    let there = to_ber.join().unwrap();
    let peak = PEAK.load(Ordering::Relaxed) - base;
    assert_eq!(
        h.finalize().to_vec(),
        want,
        "legacy -> BER -> legacy changed it"
    );
    assert_eq!((there.pages, back.pages), (PAGES, PAGES));
    assert_eq!((there.parts, there.devices), (3, 1));
    assert_eq!(back.bytes_in, there.bytes_out);
    assert!(
        there.bytes_in > PAGES * 4096,
        "the stream is larger than the guest"
    );
    eprintln!("{} KiB live at the peak", peak >> 10);
    assert!(peak < 40 << 20, "{} MiB live at the peak", peak >> 20);
}
