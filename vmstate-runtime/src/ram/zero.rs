//! Zero-page detection, the saver's (and the loader's) per-page cost.

use super::PAGE;

/// Whether `page` is all zero bytes: OR-folds blocks of bytes (which LLVM turns into
/// vector code) and stops at the first block with a set bit, so a data page usually
/// costs one block.
#[inline]
pub fn is_zero(page: &[u8]) -> bool {
    let mut blocks = page.chunks_exact(ZERO_BLOCK);
    let zero = blocks
        .by_ref()
        .all(|block| block.iter().fold(0u8, |a, &b| a | b) == 0);
    zero && blocks.remainder().iter().all(|&b| b == 0)
}

/// Bytes OR-folded at a time by [`is_zero`].
const ZERO_BLOCK: usize = 128;

/// [`is_zero`] for a page, with 4 KiB pages seen at their fixed size, which lets
/// the compiler unroll the check (without it the BER encode measured 1.35x legacy
/// instead of 1.13x).
#[inline(always)]
pub(super) fn page_is_zero(page: &[u8]) -> bool {
    match <&[u8; PAGE]>::try_from(page) {
        Ok(fixed) => is_zero(fixed),
        Err(_) => is_zero(page),
    }
}
