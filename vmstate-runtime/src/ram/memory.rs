//! Guest memory as the RAM section reaches it: by copies, never by reference.
//!
//! A running guest writes its memory behind the VMM's back (through KVM), so a
//! `&[u8]` of it would let the compiler assume bytes that change do not: the
//! saver and the loader read and write a block only through [`GuestRam`] and
//! [`GuestRamMut`], whose implementations copy (volatile copies for memory a guest
//! can write: the `vm-memory` feature's `GuestRange` (feature `vm-memory`)). Plain
//! buffers (`Vec<u8>`, `Box<[u8]>`, [`Buffer`]) implement them with ordinary copies:
//! they hold a file's or a test's pages, which no guest writes.

use super::zero::page_is_zero;
use crate::error::{Error, ErrorKind, Result};
use crate::io::{Input, Writer};
use std::io;

/// One RAM block's memory, read by copying out of it.
pub trait GuestRam {
    /// The block's length in bytes (its used length, as QEMU lists it).
    fn len(&self) -> u64;

    /// Whether the block has no bytes.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Copies the `dst.len()` bytes at `offset` into `dst`. The saver only asks for
    /// ranges inside the block.
    fn read(&self, offset: u64, dst: &mut [u8]) -> io::Result<()>;
}

/// One RAM block's memory, written by copying into it (a destination's, before its
/// guest runs).
pub trait GuestRamMut: GuestRam {
    /// Copies `src` to the bytes at `offset`. The loader only writes ranges inside
    /// the block, after checking them against the stream's claims.
    fn write(&mut self, offset: u64, src: &[u8]) -> io::Result<()>;
}

fn out_of_range(offset: u64, len: usize, size: usize) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("{len} bytes at {offset:#x} are outside a block of {size:#x}"),
    )
}

/// The range `[offset, offset + len)` of a buffer of `size` bytes.
fn range(offset: u64, len: usize, size: usize) -> io::Result<std::ops::Range<usize>> {
    usize::try_from(offset)
        .ok()
        .and_then(|start| Some(start..start.checked_add(len)?))
        .filter(|r| r.end <= size)
        .ok_or_else(|| out_of_range(offset, len, size))
}

impl GuestRam for [u8] {
    fn len(&self) -> u64 {
        <[u8]>::len(self) as u64
    }

    fn read(&self, offset: u64, dst: &mut [u8]) -> io::Result<()> {
        dst.copy_from_slice(&self[range(offset, dst.len(), <[u8]>::len(self))?]);
        Ok(())
    }
}

impl GuestRamMut for [u8] {
    fn write(&mut self, offset: u64, src: &[u8]) -> io::Result<()> {
        let r = range(offset, src.len(), <[u8]>::len(self))?;
        self[r].copy_from_slice(src);
        Ok(())
    }
}

/// Plain buffers by what they hold: `&buffer` and `&mut buffer` are blocks.
macro_rules! buffer_is_ram {
    ($($t:ty),*) => {$(
        impl GuestRam for $t {
            fn len(&self) -> u64 {
                self[..].len() as u64
            }

            fn read(&self, offset: u64, dst: &mut [u8]) -> io::Result<()> {
                self[..].read(offset, dst)
            }
        }

        impl GuestRamMut for $t {
            fn write(&mut self, offset: u64, src: &[u8]) -> io::Result<()> {
                self[..].write(offset, src)
            }
        }
    )*};
}

buffer_is_ram!(Vec<u8>, Box<[u8]>);

/// A borrowed buffer as a block: `Buffer(&bytes[..n])` or `Buffer(&mut bytes[..n])`
/// where a part of a buffer is the block (a `&[u8]` cannot itself be a
/// `&dyn GuestRam`). Only for memory no guest writes.
#[derive(Debug, Clone, Copy)]
pub struct Buffer<B>(pub B);

impl<B: AsRef<[u8]>> GuestRam for Buffer<B> {
    fn len(&self) -> u64 {
        self.0.as_ref().len() as u64
    }

    fn read(&self, offset: u64, dst: &mut [u8]) -> io::Result<()> {
        self.0.as_ref().read(offset, dst)
    }
}

impl<B: AsRef<[u8]> + AsMut<[u8]>> GuestRamMut for Buffer<B> {
    fn write(&mut self, offset: u64, src: &[u8]) -> io::Result<()> {
        self.0.as_mut().write(offset, src)
    }
}

/// Bytes copied at a time when a page is larger (a page may be up to 1 GiB).
pub(super) const CHUNK: usize = 64 << 10;

/// The saver's view of one block: pages copied into a buffer of its own, each
/// copy then checked for zero and written from there, so that a page is read once.
pub(crate) struct PageCopy<'m> {
    mem: &'m dyn GuestRam,
    name: &'m str,
    page: usize,
    buf: Vec<u8>,
    /// The page `buf` holds whole, if one.
    held: Option<u64>,
}

impl<'m> PageCopy<'m> {
    pub(crate) fn new(mem: &'m dyn GuestRam, name: &'m str, page: usize) -> Self {
        PageCopy {
            mem,
            name,
            page,
            buf: vec![0; page.min(CHUNK)],
            held: None,
        }
    }

    /// Copies `len` bytes at `offset` into the buffer (`at`: where the stream is).
    fn read(&mut self, offset: u64, len: usize, at: u64) -> Result<&[u8]> {
        let dst = &mut self.buf[..len];
        read(self.mem, self.name, offset, dst, at)?;
        Ok(dst)
    }

    /// Whether the page at `offset` is zero, as copied now (what the stream says
    /// of a page is what its copy held); a page that fits the buffer stays there
    /// for [`put`](Self::put).
    pub(crate) fn check(&mut self, offset: u64, at: u64) -> Result<bool> {
        self.held = None;
        let mut done = 0;
        while done < self.page {
            let n = (self.page - done).min(CHUNK);
            if !page_is_zero(self.read(offset + done as u64, n, at)?) {
                break;
            }
            done += n;
        }
        self.held = (self.page <= CHUNK).then_some(offset);
        Ok(done >= self.page)
    }

    /// Writes the `len` bytes at `offset` to `w`: the held copy when it is that
    /// page, else copied again.
    pub(crate) fn put<W: io::Write>(
        &mut self,
        offset: u64,
        len: usize,
        w: &mut Writer<W>,
    ) -> Result<()> {
        if self.held == Some(offset) && len == self.page {
            return w.put(&self.buf[..len]);
        }
        self.held = None;
        let mut done = 0;
        while done < len {
            let n = (len - done).min(self.buf.len());
            let data = self.read(offset + done as u64, n, w.written())?;
            w.put(data)?;
            done += n;
        }
        Ok(())
    }
}

/// Reads from a block, mapping a failed copy to a typed error at `at`.
pub(super) fn read(
    mem: &dyn GuestRam,
    name: &str,
    offset: u64,
    dst: &mut [u8],
    at: u64,
) -> Result<()> {
    mem.read(offset, dst)
        .map_err(|e| Error::new(ErrorKind::Io(format!("reading RAM block {name}: {e}")), at))
}

/// Writes into a loader's block, mapping a failed copy to a typed error at `at`.
pub(super) fn write(
    mem: &mut dyn GuestRamMut,
    name: &str,
    offset: u64,
    src: &[u8],
    at: u64,
) -> Result<()> {
    mem.write(offset, src)
        .map_err(|e| Error::new(ErrorKind::Io(format!("writing RAM block {name}: {e}")), at))
}

/// Copies `len` bytes from `r` into the block at `offset`, through `r`'s own buffer
/// where it has one (a chunk at a time).
pub(super) fn write_from(
    mem: &mut dyn GuestRamMut,
    name: &str,
    offset: u64,
    len: usize,
    r: &mut impl Input,
) -> Result<()> {
    let mut done = 0;
    while done < len {
        let n = (len - done).min(CHUNK);
        let at = r.offset();
        write(mem, name, offset + done as u64, r.peek(n)?, at)?;
        r.skip(n)?;
        done += n;
    }
    Ok(())
}

/// Fills `len` bytes at `offset` with `fill`, skipping a zero fill of bytes that are
/// zero already (as QEMU does: a fresh destination's memory is zero, and untouched
/// pages stay unallocated).
pub(super) fn fill(
    mem: &mut dyn GuestRamMut,
    name: &str,
    offset: u64,
    len: usize,
    fill: u8,
    at: u64,
) -> Result<()> {
    let mut buf = [0u8; 4096];
    let mut done = 0;
    while done < len {
        let n = (len - done).min(buf.len());
        let here = offset + done as u64;
        if fill == 0 {
            // (`mem` as a `&dyn GuestRam` needs trait upcasting: Rust 1.86.)
            mem.read(here, &mut buf[..n]).map_err(|e| {
                Error::new(ErrorKind::Io(format!("reading RAM block {name}: {e}")), at)
            })?;
            if !page_is_zero(&buf[..n]) {
                buf[..n].fill(0);
                write(mem, name, here, &buf[..n], at)?;
            }
        } else {
            buf[..n].fill(fill);
            write(mem, name, here, &buf[..n], at)?;
        }
        done += n;
    }
    Ok(())
}
