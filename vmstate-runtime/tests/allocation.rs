//! Allocation follows the bytes read, not the counts an input declares (issue 12):
//! a counting allocator measures the largest allocation and the total while a
//! hostile input is loaded.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use vmstate_runtime::{ber, legacy, ErrorKind, VMState};

struct Counting;

static LARGEST: AtomicUsize = AtomicUsize::new(0);
static TOTAL: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        TOTAL.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: the layout is the caller's, passed on unchanged.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new: usize) -> *mut u8 {
        LARGEST.fetch_max(new, Ordering::Relaxed);
        TOTAL.fetch_add(new, Ordering::Relaxed);
        // SAFETY: as for `alloc` and `dealloc`.
        unsafe { System.realloc(ptr, layout, new) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The largest allocation and the bytes allocated while `f` runs (the test
/// binary's other tests run in their own threads; this file has one test each way).
fn measured<R>(f: impl FnOnce() -> R) -> (R, usize, usize) {
    LARGEST.store(0, Ordering::Relaxed);
    let before = TOTAL.load(Ordering::Relaxed);
    let r = f();
    (
        r,
        LARGEST.load(Ordering::Relaxed),
        TOTAL.load(Ordering::Relaxed) - before,
    )
}

#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "big", version = 1)]
struct Big {
    n: u32,
    #[vmstate(len = n, max = 16_000_000)]
    v: Vec<u64>,
}

/// 16 million elements declared by four bytes: an error at byte 4, after
/// allocating a chunk, not 128 MB; in BER, an element list declared empty of
/// content allocates nothing for them either.
#[test]
fn declared_counts_do_not_allocate() {
    let (r, largest, total) = measured(|| {
        let mut b = Big::default();
        legacy::load_into(&mut b, &[0x00, 0xf4, 0x24, 0x00], 1)
    });
    let e = r.unwrap_err();
    assert_eq!((e.kind(), e.offset()), (&ErrorKind::UnexpectedEof, 4));
    assert!(
        largest < 1 << 20 && total < 1 << 20,
        "legacy: {largest} / {total} bytes"
    );
    // BER: n = 16,000,000, then a SEQUENCE OF claiming 20 bytes of elements.
    let mut value = vec![0x30, 0x80 + 9];
    value.extend([0x80, 0x04, 0x00, 0xf4, 0x24, 0x00]);
    value.extend([0xa1, 0x14]);
    value.extend([0x02, 0x01, 0x07].repeat(6));
    value.extend([0x02, 0x01]);
    value[1] = (value.len() - 2) as u8;
    let (r, largest, total) = measured(|| {
        let mut b = Big::default();
        ber::load_into(&mut b, &value, 1)
    });
    assert!(r.is_err());
    assert!(
        largest < 1 << 20 && total < 1 << 20,
        "BER: {largest} / {total} bytes"
    );
}
