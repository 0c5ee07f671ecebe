//! Pages QEMU sends encoded instead of whole: as an XBZRLE delta against the
//! page's previous content (the `xbzrle` capability, [`super::xbzrle`]) or
//! deflated with zlib (QEMU 9.0 and older's `compress` capability). Readers keep
//! the encoded bytes as QEMU sent them, so a stream converts back exactly, and
//! check them as QEMU's loader does; whoever builds memory applies them.
//!
//! ```
//! use vmstate_runtime::ram::Encoding;
//!
//! let page: Vec<u8> = (0..4096u32).map(|i| (i / 512) as u8).collect();
//! let zlib = Encoding::deflate(&page);
//! let mut back = vec![0u8; 4096];
//! Encoding::Zlib.apply(&zlib, &mut back, 0)?;
//! assert_eq!(back, page);
//! # Ok::<(), vmstate_runtime::Error>(())
//! ```

use super::xbzrle;
use crate::error::{Error, ErrorKind, Result};

/// How an encoded page's bytes make the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// `RAM_SAVE_FLAG_XBZRLE`: the runs of bytes that changed since the page was
    /// last sent.
    Xbzrle,
    /// `RAM_SAVE_FLAG_COMPRESS_PAGE`: the page deflated (a zlib stream).
    Zlib,
}

/// `RAM_SAVE_FLAG_XBZRLE`: a page sent again as the bytes that changed.
pub const FLAG_XBZRLE: u64 = 0x40;
/// `RAM_SAVE_FLAG_COMPRESS_PAGE`: a page deflated with zlib.
pub const FLAG_COMPRESS_PAGE: u64 = 0x100;

/// zlib's `compressBound`: the most a deflated `len` bytes take.
const fn compress_bound(len: usize) -> usize {
    len + (len >> 12) + (len >> 14) + (len >> 25) + 13
}

impl Encoding {
    /// Both encodings.
    pub const ALL: [Encoding; 2] = [Encoding::Xbzrle, Encoding::Zlib];

    /// Its RAM flag.
    pub const fn flag(self) -> u64 {
        match self {
            Encoding::Xbzrle => FLAG_XBZRLE,
            Encoding::Zlib => FLAG_COMPRESS_PAGE,
        }
    }

    /// Its name in the dump tree and the ASN.1 module.
    pub const fn name(self) -> &'static str {
        match self {
            Encoding::Xbzrle => "xbzrle",
            Encoding::Zlib => "zlib",
        }
    }

    /// The most bytes it may take for a page of `page` bytes (QEMU's loader's
    /// bound: a page for XBZRLE, `compressBound` for zlib).
    pub const fn max_len(self, page: usize) -> usize {
        match self {
            Encoding::Xbzrle => page,
            Encoding::Zlib => compress_bound(page),
        }
    }

    /// Checks encoded bytes for a page of `page` bytes as QEMU's loader does
    /// (`ErrorKind::BadXbzrle`, `ErrorKind::BadCompressedPage`).
    pub fn check(self, data: &[u8], page: usize, at: u64) -> Result<()> {
        match self {
            Encoding::Xbzrle => xbzrle::check(data, page, at),
            Encoding::Zlib => inflate(data, page, at).map(drop),
        }
    }

    /// Makes the page from its previous content (XBZRLE changes it; zlib writes
    /// what it inflates to from its start, as QEMU's loader does).
    pub fn apply(self, data: &[u8], page: &mut [u8], at: u64) -> Result<()> {
        match self {
            Encoding::Xbzrle => xbzrle::apply(data, page, at),
            Encoding::Zlib => {
                let out = inflate(data, page.len(), at)?;
                page[..out.len()].copy_from_slice(&out);
                Ok(())
            }
        }
    }

    /// The page the encoded bytes make whatever the page held before: a zlib page
    /// that inflates to a whole page; `None` for one that does not and for an
    /// XBZRLE delta.
    pub fn whole_page(self, data: &[u8], page: usize) -> Option<Vec<u8>> {
        match self {
            Encoding::Xbzrle => None,
            Encoding::Zlib => inflate(data, page, 0).ok().filter(|p| p.len() == page),
        }
    }

    /// A page deflated as QEMU's `compress` capability sends it (zlib, level 1:
    /// QEMU's default `compress-level`).
    pub fn deflate(page: &[u8]) -> Vec<u8> {
        miniz_oxide::deflate::compress_to_vec_zlib(page, 1)
    }
}

/// What a zlib page inflates to: at most a page, else the error QEMU's
/// `qemu_uncompress_data` reports as a failed decompression.
fn inflate(data: &[u8], page: usize, at: u64) -> Result<Vec<u8>> {
    let bad = |reason| Error::new(ErrorKind::BadCompressedPage(reason), at);
    if data.len() > compress_bound(page) {
        return Err(bad("longer than zlib's bound for a page"));
    }
    miniz_oxide::inflate::decompress_to_vec_zlib_with_limit(data, page).map_err(|e| {
        bad(match e.status {
            miniz_oxide::inflate::TINFLStatus::HasMoreOutput => "inflates to more than a page",
            _ => "not a whole zlib stream",
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deflated_page_inflates_back_and_a_bad_one_is_refused() {
        let page: Vec<u8> = (0..4096u32).map(|i| (i * 31 % 7) as u8).collect();
        let z = Encoding::deflate(&page);
        let mut back = vec![0xffu8; 4096];
        Encoding::Zlib.apply(&z, &mut back, 0).unwrap();
        assert_eq!(back, page);
        let refused = |data: &[u8]| match Encoding::Zlib.check(data, 4096, 5) {
            Err(e) if e.offset() == 5 => e.kind().clone(),
            other => panic!("{other:?}"),
        };
        for cut in [&z[..z.len() - 3], &[0x78, 0x01, 0xff]] {
            assert_eq!(
                refused(cut),
                ErrorKind::BadCompressedPage("not a whole zlib stream")
            );
        }
        let two = Encoding::deflate(&[0u8; 8192]);
        assert_eq!(
            refused(&two),
            ErrorKind::BadCompressedPage("inflates to more than a page")
        );
        assert_eq!(compress_bound(4096), 4110);
    }
}
