//! XBZRLE pages (`RAM_SAVE_FLAG_XBZRLE`, the `xbzrle` capability): a page QEMU
//! sent before, sent again as the runs of bytes that changed since.
//!
//! The delta is QEMU's `xbzrle_encode_buffer` format: pairs of a run of unchanged
//! bytes and a run of changed ones, each length a ULEB128 of at most two octets
//! (14 bits), the changed run's bytes after its length; the unchanged bytes after
//! the last changed run are not sent. A reader keeps the delta as it is (a stream
//! converted and back is the same bytes) and applies it to the page's previous
//! content where it builds memory. [`check`] accepts exactly what QEMU's
//! `xbzrle_decode_buffer` accepts, so a delta that would fail QEMU's load fails
//! here, at the stream's offset, as [`ErrorKind::BadXbzrle`].
//!
//! ```
//! use vmstate_runtime::ram::xbzrle;
//!
//! let old = [0u8; 4096];
//! let mut new = old;
//! new[8..12].copy_from_slice(&[1, 2, 3, 4]);
//! let delta = xbzrle::encode(&old, &new).unwrap();
//! assert_eq!(delta, [8, 4, 1, 2, 3, 4]); // 8 unchanged, 4 changed: 1 2 3 4
//! let mut page = old;
//! xbzrle::apply(&delta, &mut page, 0)?;
//! assert_eq!(page, new);
//! # Ok::<(), vmstate_runtime::Error>(())
//! ```

use crate::error::{Error, ErrorKind, Result};

/// `ENCODING_FLAG_XBZRLE`: the one encoding byte QEMU writes before a delta.
pub const ENCODING: u8 = 0x01;

/// The largest value a two-octet ULEB128 holds.
const MAX_RUN: usize = 0x3fff;

/// A ULEB128 of at most two octets at the start of `b`: its value and length.
fn uleb(b: &[u8]) -> Option<(usize, usize)> {
    match *b {
        [lo, ..] if lo & 0x80 == 0 => Some((usize::from(lo), 1)),
        [lo, hi, ..] if hi & 0x80 == 0 => Some((usize::from(lo & 0x7f) | usize::from(hi) << 7, 2)),
        _ => None,
    }
}

fn put_uleb(out: &mut Vec<u8>, n: usize) {
    if n < 0x80 {
        out.push(n as u8);
    } else {
        out.extend_from_slice(&[(n & 0x7f) as u8 | 0x80, (n >> 7) as u8]);
    }
}

/// Hands each changed run of a delta for a page of `page` bytes to `each`
/// (`offset`, changed bytes), in order; or why QEMU's decoder would refuse it,
/// after the runs before the fault.
fn runs<'d>(
    delta: &'d [u8],
    page: usize,
    mut each: impl FnMut(usize, &'d [u8]),
) -> std::result::Result<(), &'static str> {
    if delta.len() > page {
        return Err("longer than a page");
    }
    let (mut i, mut d) = (0usize, 0usize);
    while i < delta.len() {
        // QEMU reads two octets whatever a length's size.
        if delta.len() - i < 2 {
            return Err("a run length cut short");
        }
        let (zrun, n) = uleb(&delta[i..]).ok_or("a run length over 14 bits")?;
        if i > 0 && zrun == 0 {
            return Err("an empty unchanged run after the first");
        }
        i += n;
        d += zrun;
        if d > page {
            return Err("unchanged bytes past the page's end");
        }
        if delta.len() - i < 2 {
            return Err("a changed run's length cut short");
        }
        let (nzrun, n) = uleb(&delta[i..]).ok_or("a run length over 14 bits")?;
        if nzrun == 0 {
            return Err("an empty changed run");
        }
        i += n;
        if d + nzrun > page || i + nzrun > delta.len() {
            return Err("a changed run past the page's or the delta's end");
        }
        each(d, &delta[i..i + nzrun]);
        d += nzrun;
        i += nzrun;
    }
    Ok(())
}

fn bad(reason: &'static str, at: u64) -> Error {
    Error::new(ErrorKind::BadXbzrle(reason), at)
}

/// Checks a delta for a page of `page` bytes as QEMU's loader does.
pub fn check(delta: &[u8], page: usize, at: u64) -> Result<()> {
    runs(delta, page, |_, _| {}).map_err(|r| bad(r, at))
}

/// Applies a delta to the page's previous content, in place; a delta QEMU
/// would refuse changes nothing.
pub fn apply(delta: &[u8], page: &mut [u8], at: u64) -> Result<()> {
    check(delta, page.len(), at)?;
    runs(delta, page.len(), |offset, bytes| {
        page[offset..offset + bytes.len()].copy_from_slice(bytes)
    })
    .map_err(|r| bad(r, at))
}

/// The delta from `old` to `new` (pages of one size) in QEMU's format, runs as
/// long as they go:
/// `None` when it would not fit in a page (QEMU then sends the whole page). An
/// unchanged page is an empty delta, which QEMU does not send.
pub fn encode(old: &[u8], new: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < new.len() {
        let same = old[i..].iter().zip(&new[i..]).take_while(|(a, b)| a == b);
        let zrun = same.count();
        if i + zrun == new.len() {
            break;
        }
        let changed = old[i + zrun..].iter().zip(&new[i + zrun..]);
        let nzrun = changed.take_while(|(a, b)| a != b).count();
        if zrun > MAX_RUN || nzrun > MAX_RUN {
            return None;
        }
        put_uleb(&mut out, zrun);
        put_uleb(&mut out, nzrun);
        out.extend_from_slice(&new[i + zrun..i + zrun + nzrun]);
        i += zrun + nzrun;
        if out.len() > new.len() {
            return None;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delta_applies_back_to_the_new_page() {
        let old: Vec<u8> = (0..4096u32).map(|i| (i * 7) as u8).collect();
        let mut new = old.clone();
        new[0] ^= 1;
        new[200..300].fill(9);
        new[4095] ^= 0xff;
        let delta = encode(&old, &new).unwrap();
        let mut page = old.clone();
        apply(&delta, &mut page, 0).unwrap();
        assert_eq!(page, new);
        // The first unchanged run is empty: allowed there only.
        assert_eq!(&delta[..3], &[0, 1, new[0]]);
    }

    #[test]
    fn what_qemus_decoder_refuses_is_refused() {
        let refused: [(&[u8], &str); 6] = [
            (&[5], "a run length cut short"),
            (&[0x80, 0x80], "a run length over 14 bits"),
            (
                &[1, 1, 7, 0, 1, 7],
                "an empty unchanged run after the first",
            ),
            (&[1, 0, 0], "an empty changed run"),
            (&[0x80, 0x21, 1, 1], "unchanged bytes past the page's end"),
            (
                &[0, 3, 1, 2],
                "a changed run past the page's or the delta's end",
            ),
        ];
        for (delta, reason) in refused {
            let e = check(delta, 4096, 9).unwrap_err();
            assert_eq!(e.kind(), &ErrorKind::BadXbzrle(reason), "{delta:?}");
            assert_eq!(e.offset(), 9);
        }
        assert_eq!(
            check(&[0; 4097], 4096, 0).unwrap_err().kind(),
            &ErrorKind::BadXbzrle("longer than a page")
        );
        // What QEMU accepts: an empty delta, and runs up to the page's last byte.
        check(&[], 4096, 0).unwrap();
        check(&[0xff, 0x1f, 1, 7], 4096, 0).unwrap();
    }

    #[test]
    fn a_delta_that_does_not_fit_a_page_is_none() {
        let old = [0u8; 4096];
        let new: Vec<u8> = (0..4096).map(|i| if i % 2 == 0 { 1 } else { 0 }).collect();
        assert_eq!(encode(&old, &new), None);
        assert_eq!(encode(&old, &old), Some(Vec::new()));
    }
}
