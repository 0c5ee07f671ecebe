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

    /// Whether the `len` bytes at `offset` are all zero. By default they are copied
    /// into `scratch` a chunk at a time, the first chunk short, so that a data page
    /// is told by its first bytes; a buffer looks at its own bytes.
    fn is_zero(&self, offset: u64, len: usize, scratch: &mut [u8]) -> io::Result<bool> {
        let mut own = [0u8; FIRST_LOOK];
        let scratch = if scratch.is_empty() {
            &mut own[..]
        } else {
            scratch
        };
        let mut done = 0;
        while done < len {
            let n = (len - done).min(if done == 0 { FIRST_LOOK } else { scratch.len() });
            let n = n.min(scratch.len());
            self.read(offset + done as u64, &mut scratch[..n])?;
            if !super::zero::is_zero(&scratch[..n]) {
                return Ok(false);
            }
            done += n;
        }
        Ok(true)
    }

    /// Hands the `len` bytes at `offset` to `f`, in order, in one or more slices:
    /// by default copies through `scratch`; a buffer hands its own bytes.
    fn visit(
        &self,
        offset: u64,
        len: usize,
        scratch: &mut [u8],
        f: &mut dyn FnMut(&[u8]) -> Result<()>,
    ) -> Result<()> {
        let mut own = [0u8; FIRST_LOOK];
        let scratch = if scratch.is_empty() {
            &mut own[..]
        } else {
            scratch
        };
        let mut done = 0;
        while done < len {
            let n = (len - done).min(scratch.len());
            self.read(offset + done as u64, &mut scratch[..n])
                .map_err(|e| read_error(offset + done as u64, e))?;
            f(&scratch[..n])?;
            done += n;
        }
        Ok(())
    }
}

/// One RAM block's memory, written by copying into it (a destination's, before its
/// guest runs).
pub trait GuestRamMut: GuestRam {
    /// Copies `src` to the bytes at `offset`. The loader only writes ranges inside
    /// the block, after checking them against the stream's claims.
    fn write(&mut self, offset: u64, src: &[u8]) -> io::Result<()>;

    /// Fills the `len` bytes at `offset` with `byte`, leaving bytes that are zero
    /// already when `byte` is zero (as QEMU does: a fresh destination's memory is
    /// zero, and pages never written stay unallocated).
    fn fill(&mut self, offset: u64, len: usize, byte: u8) -> io::Result<()> {
        let mut buf = [0u8; 4096];
        let mut done = 0;
        while done < len {
            let n = (len - done).min(buf.len());
            let here = offset + done as u64;
            if byte != 0 || !self.is_zero(here, n, &mut buf)? {
                buf[..n].fill(byte);
                self.write(here, &buf[..n])?;
            }
            done += n;
        }
        Ok(())
    }
}

/// Bytes [`GuestRam::is_zero`] copies first: most data pages show a set bit in
/// them.
const FIRST_LOOK: usize = 256;

fn read_error(offset: u64, e: io::Error) -> Error {
    Error::new(
        ErrorKind::Io(format!("reading guest memory at {offset:#x}: {e}")),
        0,
    )
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

/// A buffer is no guest's memory: it is read and written in place.
impl GuestRam for [u8] {
    fn len(&self) -> u64 {
        <[u8]>::len(self) as u64
    }

    fn read(&self, offset: u64, dst: &mut [u8]) -> io::Result<()> {
        dst.copy_from_slice(&self[range(offset, dst.len(), <[u8]>::len(self))?]);
        Ok(())
    }

    fn is_zero(&self, offset: u64, len: usize, _: &mut [u8]) -> io::Result<bool> {
        Ok(page_is_zero(&self[range(offset, len, <[u8]>::len(self))?]))
    }

    fn visit(
        &self,
        offset: u64,
        len: usize,
        _: &mut [u8],
        f: &mut dyn FnMut(&[u8]) -> Result<()>,
    ) -> Result<()> {
        let r = range(offset, len, <[u8]>::len(self)).map_err(|e| read_error(offset, e))?;
        f(&self[r])
    }
}

impl GuestRamMut for [u8] {
    fn write(&mut self, offset: u64, src: &[u8]) -> io::Result<()> {
        let r = range(offset, src.len(), <[u8]>::len(self))?;
        self[r].copy_from_slice(src);
        Ok(())
    }

    fn fill(&mut self, offset: u64, len: usize, byte: u8) -> io::Result<()> {
        let r = range(offset, len, <[u8]>::len(self))?;
        let bytes = &mut self[r];
        if byte != 0 || !page_is_zero(bytes) {
            bytes.fill(byte);
        }
        Ok(())
    }
}

/// Plain buffers by what they hold: `&buffer` and `&mut buffer` are blocks.
macro_rules! buffer_is_ram {
    ($($t:ty => |$b:ident| $bytes:expr, $bytes_mut:expr;)*) => {$(
        impl GuestRam for $t {
            fn len(&self) -> u64 {
                let $b = self;
                GuestRam::len($bytes)
            }

            fn read(&self, offset: u64, dst: &mut [u8]) -> io::Result<()> {
                let $b = self;
                $bytes.read(offset, dst)
            }

            fn is_zero(&self, offset: u64, len: usize, scratch: &mut [u8]) -> io::Result<bool> {
                let $b = self;
                $bytes.is_zero(offset, len, scratch)
            }

            fn visit(
                &self,
                offset: u64,
                len: usize,
                scratch: &mut [u8],
                f: &mut dyn FnMut(&[u8]) -> Result<()>,
            ) -> Result<()> {
                let $b = self;
                $bytes.visit(offset, len, scratch, f)
            }
        }

        impl GuestRamMut for $t {
            fn write(&mut self, offset: u64, src: &[u8]) -> io::Result<()> {
                let $b = self;
                $bytes_mut.write(offset, src)
            }

            fn fill(&mut self, offset: u64, len: usize, byte: u8) -> io::Result<()> {
                let $b = self;
                GuestRamMut::fill($bytes_mut, offset, len, byte)
            }
        }
    )*};
}

/// A borrowed buffer as a block: `Buffer(&bytes[..n])` or `Buffer(&mut bytes[..n])`
/// where a part of a buffer is the block (a `&[u8]` cannot itself be a
/// `&dyn GuestRam`). Only for memory no guest writes.
#[derive(Debug, Clone, Copy)]
pub struct Buffer<B>(pub B);

buffer_is_ram! {
    Vec<u8> => |b| &b[..], &mut b[..];
    Box<[u8]> => |b| &b[..], &mut b[..];
}

impl<B: AsRef<[u8]>> GuestRam for Buffer<B> {
    fn len(&self) -> u64 {
        GuestRam::len(self.0.as_ref())
    }

    fn read(&self, offset: u64, dst: &mut [u8]) -> io::Result<()> {
        self.0.as_ref().read(offset, dst)
    }

    fn is_zero(&self, offset: u64, len: usize, scratch: &mut [u8]) -> io::Result<bool> {
        self.0.as_ref().is_zero(offset, len, scratch)
    }

    fn visit(
        &self,
        offset: u64,
        len: usize,
        scratch: &mut [u8],
        f: &mut dyn FnMut(&[u8]) -> Result<()>,
    ) -> Result<()> {
        self.0.as_ref().visit(offset, len, scratch, f)
    }
}

impl<B: AsRef<[u8]> + AsMut<[u8]>> GuestRamMut for Buffer<B> {
    fn write(&mut self, offset: u64, src: &[u8]) -> io::Result<()> {
        self.0.as_mut().write(offset, src)
    }

    fn fill(&mut self, offset: u64, len: usize, byte: u8) -> io::Result<()> {
        GuestRamMut::fill(self.0.as_mut(), offset, len, byte)
    }
}

/// Bytes copied at a time when a page is larger (a page may be up to 1 GiB).
pub(super) const CHUNK: usize = 64 << 10;

/// The saver's view of one block: its pages checked for zero and written through
/// a buffer of its own (a block of guest memory copies into it; a buffer is read in
/// place).
pub(crate) struct PageCopy<'m> {
    mem: &'m dyn GuestRam,
    name: &'m str,
    page: usize,
    buf: Vec<u8>,
}

impl<'m> PageCopy<'m> {
    pub(crate) fn new(mem: &'m dyn GuestRam, name: &'m str, page: usize) -> Self {
        PageCopy {
            mem,
            name,
            page,
            buf: vec![0; page.min(CHUNK)],
        }
    }

    /// Whether the page at `offset` is zero, as it reads now (`at`: where the
    /// stream is, for an error).
    pub(crate) fn check(&mut self, offset: u64, at: u64) -> Result<bool> {
        self.mem
            .is_zero(offset, self.page, &mut self.buf)
            .map_err(|e| {
                Error::new(
                    ErrorKind::Io(format!("reading RAM block {}: {e}", self.name)),
                    at,
                )
            })
    }

    /// Writes the `len` bytes at `offset` to `w`.
    pub(crate) fn put<W: io::Write>(
        &mut self,
        offset: u64,
        len: usize,
        w: &mut Writer<W>,
    ) -> Result<()> {
        self.mem
            .visit(offset, len, &mut self.buf, &mut |bytes| w.put(bytes))
    }
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

/// Fills `len` bytes at `offset` with `byte` ([`GuestRamMut::fill`]), mapping a
/// failure to a typed error at `at`.
pub(super) fn fill(
    mem: &mut dyn GuestRamMut,
    name: &str,
    offset: u64,
    len: usize,
    byte: u8,
    at: u64,
) -> Result<()> {
    mem.fill(offset, len, byte)
        .map_err(|e| Error::new(ErrorKind::Io(format!("writing RAM block {name}: {e}")), at))
}
