//! Byte sources and sinks shared by both codecs, with offsets for error reports.

use crate::error::{Error, ErrorKind, Result};
use std::io;

/// A source of encoded bytes (either format).
///
/// Generated decoders read through this trait, so one decoder serves a byte slice and
/// any `std::io::Read`. `peek` is needed because QEMU's subsection list has no length:
/// a reader looks at the next subsection's name to decide whether it belongs to the
/// struct being loaded or to an enclosing one.
pub trait Input {
    /// Fills `buf` completely or fails with [`ErrorKind::UnexpectedEof`].
    fn read_exact(&mut self, buf: &mut [u8]) -> Result<()>;
    /// Returns up to `n` upcoming bytes without consuming them (fewer at the end).
    fn peek(&mut self, n: usize) -> Result<&[u8]>;
    /// Consumes `n` bytes.
    fn skip(&mut self, n: usize) -> Result<()>;
    /// Offset of the next byte, counted from the start of the stream.
    fn offset(&self) -> u64;

    /// The upcoming bytes already in memory, without reading any (a slice's rest;
    /// what a reader has peeked): decoders' fast paths look at them in place.
    fn buffered(&self) -> &[u8] {
        &[]
    }

    /// An error of `kind` at the current offset.
    fn error(&self, kind: ErrorKind) -> Error {
        Error::new(kind, self.offset())
    }

    /// Reads `N` bytes into an array.
    fn read_array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut b = [0u8; N];
        self.read_exact(&mut b)?;
        Ok(b)
    }
}

/// Reads from a byte slice.
#[derive(Debug, Clone)]
pub struct SliceInput<'a> {
    data: &'a [u8],
    pos: usize,
    base: u64,
}

impl<'a> SliceInput<'a> {
    /// Reads `data`; offsets start at 0.
    pub fn new(data: &'a [u8]) -> Self {
        Self::with_base(data, 0)
    }

    /// Reads `data`, which starts at byte `base` of a larger stream (offsets in errors
    /// then point into that stream).
    pub fn with_base(data: &'a [u8], base: u64) -> Self {
        SliceInput { data, pos: 0, base }
    }

    /// Bytes not yet consumed.
    pub fn remaining(&self) -> &'a [u8] {
        &self.data[self.pos..]
    }

    /// Fails with [`ErrorKind::TrailingBytes`] unless every byte was consumed.
    pub fn expect_end(&self) -> Result<()> {
        match self.remaining().len() {
            0 => Ok(()),
            n => Err(self.error(ErrorKind::TrailingBytes(n as u64))),
        }
    }

    /// Takes the next `n` bytes as a slice.
    #[inline]
    pub fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.data.len() - self.pos < n {
            return Err(self.eof());
        }
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    #[cold]
    fn eof(&self) -> Error {
        self.error(ErrorKind::UnexpectedEof)
    }
}

impl Input for SliceInput<'_> {
    #[inline]
    fn read_exact(&mut self, buf: &mut [u8]) -> Result<()> {
        let s = self.take(buf.len())?;
        buf.copy_from_slice(s);
        Ok(())
    }

    #[inline]
    fn peek(&mut self, n: usize) -> Result<&[u8]> {
        let end = self.data.len().min(self.pos.saturating_add(n));
        Ok(&self.data[self.pos..end])
    }

    #[inline]
    fn skip(&mut self, n: usize) -> Result<()> {
        self.take(n).map(|_| ())
    }

    #[inline]
    fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    #[inline]
    fn buffered(&self) -> &[u8] {
        &self.data[self.pos..]
    }

    /// A fixed-size load rather than a `memcpy` call of a run-time length.
    #[inline]
    fn read_array<const N: usize>(&mut self) -> Result<[u8; N]> {
        match self.data.get(self.pos..self.pos + N) {
            Some(s) => {
                let mut b = [0u8; N];
                b.copy_from_slice(s);
                self.pos += N;
                Ok(b)
            }
            None => Err(self.eof()),
        }
    }
}

/// Reads from any `std::io::Read`, keeping only the bytes that were peeked.
#[derive(Debug)]
pub struct ReadInput<R> {
    inner: R,
    peeked: Vec<u8>,
    offset: u64,
}

impl<R: io::Read> ReadInput<R> {
    /// Wraps `inner`; offsets start at 0.
    pub fn new(inner: R) -> Self {
        ReadInput {
            inner,
            peeked: Vec::new(),
            offset: 0,
        }
    }

    /// Returns the reader (bytes that were peeked but not consumed are lost).
    pub fn into_inner(self) -> R {
        self.inner
    }

    fn io_error(&self, e: io::Error) -> Error {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            self.error(ErrorKind::UnexpectedEof)
        } else {
            self.error(ErrorKind::Io(e.to_string()))
        }
    }

    /// The next `n` bytes, in a buffer that grows with what arrives (`read_to_end`
    /// of at most the bytes still wanted: no zeroing, and an untrusted `n` sizes
    /// nothing beyond 1 MiB). Cut short, it fails where the bytes began, as a
    /// slice does.
    fn take_bytes(&mut self, n: usize) -> Result<Vec<u8>> {
        let mut v = Vec::new();
        self.grow_into(n, &mut v)?;
        Ok(v)
    }

    /// [`take_bytes`](Self::take_bytes) into `v`: a reader of many items keeps
    /// one buffer for them. Up to 1 MiB (a page, an element) is read in place,
    /// and what the buffer held for an earlier item is not zeroed again.
    fn take_bytes_into(&mut self, n: usize, v: &mut Vec<u8>) -> Result<()> {
        if n > 1 << 20 {
            return self.grow_into(n, v);
        }
        // `resize` zeroes only what the buffer grows by.
        v.resize(n, 0);
        Input::read_exact(self, v)
    }

    /// [`take_bytes`](Self::take_bytes) into `v`, cleared first.
    fn grow_into(&mut self, n: usize, v: &mut Vec<u8>) -> Result<()> {
        let at = self.offset;
        let from_peek = self.peeked.len().min(n);
        let rest = (n - from_peek) as u64;
        // Room for what is wanted up to 1 MiB: one allocation for a page or a run;
        // beyond, the buffer doubles as bytes arrive.
        v.clear();
        v.reserve(n.min(1 << 20));
        v.extend(self.peeked.drain(..from_peek));
        self.offset += from_peek as u64;
        let got = io::Read::read_to_end(&mut io::Read::take(&mut self.inner, rest), v)
            .map_err(|e| Error::new(self.io_error(e).kind().clone(), at))?;
        self.offset += got as u64;
        if (got as u64) < rest {
            return Err(Error::new(ErrorKind::UnexpectedEof, at));
        }
        Ok(())
    }

    /// The bytes that have arrived and are not consumed: when none are peeked, what
    /// one read of the reader gives (nothing at its end). Unlike [`Input::peek`], it
    /// does not wait for more than the reader has.
    pub fn peek_arrived(&mut self) -> Result<&[u8]> {
        if self.peeked.is_empty() {
            let mut chunk = [0u8; 4096];
            loop {
                match self.inner.read(&mut chunk) {
                    Ok(k) => {
                        self.peeked.extend_from_slice(&chunk[..k]);
                        break;
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(self.io_error(e)),
                }
            }
        }
        Ok(&self.peeked)
    }

    fn fill_peek(&mut self, n: usize) -> Result<()> {
        while self.peeked.len() < n {
            let mut chunk = [0u8; 256];
            let want = (n - self.peeked.len()).min(chunk.len());
            match self.inner.read(&mut chunk[..want]) {
                Ok(0) => break,
                Ok(k) => self.peeked.extend_from_slice(&chunk[..k]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.io_error(e)),
            }
        }
        Ok(())
    }
}

impl<R: io::Read> Input for ReadInput<R> {
    /// Fails where the read began (as [`SliceInput`] does), whatever part of `buf`
    /// arrived.
    fn read_exact(&mut self, buf: &mut [u8]) -> Result<()> {
        let start = self.offset;
        let from_peek = self.peeked.len().min(buf.len());
        buf[..from_peek].copy_from_slice(&self.peeked[..from_peek]);
        self.peeked.drain(..from_peek);
        self.offset += from_peek as u64;
        let rest = &mut buf[from_peek..];
        if !rest.is_empty() {
            let n = rest.len() as u64;
            if let Err(e) = self.inner.read_exact(rest) {
                let e = self.io_error(e);
                return Err(Error::new(e.kind().clone(), start));
            }
            self.offset += n;
        }
        Ok(())
    }

    fn peek(&mut self, n: usize) -> Result<&[u8]> {
        self.fill_peek(n)?;
        Ok(&self.peeked[..n.min(self.peeked.len())])
    }

    /// Fails where the skip began (as [`SliceInput`] does), however many of its
    /// chunks arrived.
    fn skip(&mut self, mut n: usize) -> Result<()> {
        let start = self.offset;
        let mut scratch = [0u8; 512];
        while n > 0 {
            let k = n.min(scratch.len());
            self.read_exact(&mut scratch[..k])
                .map_err(|e| Error::new(e.kind().clone(), start))?;
            n -= k;
        }
        Ok(())
    }

    fn offset(&self) -> u64 {
        self.offset
    }

    fn buffered(&self) -> &[u8] {
        &self.peeked
    }
}

/// What a registry loads a stream from: the whole stream in memory, or a reader it
/// arrives on (a socket, a pipe). One concrete type, so that devices behind trait
/// objects can read from either.
pub enum StreamInput<'a> {
    /// A stream in memory.
    Slice(SliceInput<'a>),
    /// A stream read as it arrives.
    Read(ReadInput<&'a mut dyn io::Read>),
}

impl<'a> StreamInput<'a> {
    /// The next `n` bytes: borrowed from a stream in memory; read from a reader in
    /// chunks, so the buffer grows with what arrives, not with `n` (an untrusted
    /// length sizes nothing).
    pub fn take_bytes(&mut self, n: usize) -> Result<std::borrow::Cow<'a, [u8]>> {
        match self {
            StreamInput::Slice(s) => s.take(n).map(std::borrow::Cow::Borrowed),
            StreamInput::Read(r) => r.take_bytes(n).map(std::borrow::Cow::Owned),
        }
    }

    /// The next `n` bytes as [`take_bytes`](Self::take_bytes) takes them, read
    /// from a reader into `buf` (cleared first, kept by the caller for the next
    /// ones: no allocation per item).
    pub fn take_bytes_in<'b>(&mut self, n: usize, buf: &'b mut Vec<u8>) -> Result<&'b [u8]>
    where
        'a: 'b,
    {
        match self {
            StreamInput::Slice(s) => s.take(n),
            StreamInput::Read(r) => {
                r.take_bytes_into(n, buf)?;
                Ok(buf)
            }
        }
    }
}

impl StreamInput<'_> {
    /// The bytes that have arrived and are not consumed, without waiting for
    /// more than the reader has ([`ReadInput::peek_arrived`]); empty at the end.
    pub fn peek_arrived(&mut self) -> Result<&[u8]> {
        match self {
            StreamInput::Slice(s) => Ok(s.remaining()),
            StreamInput::Read(r) => r.peek_arrived(),
        }
    }
}

impl Input for StreamInput<'_> {
    #[inline]
    fn read_exact(&mut self, buf: &mut [u8]) -> Result<()> {
        match self {
            StreamInput::Slice(s) => s.read_exact(buf),
            StreamInput::Read(r) => r.read_exact(buf),
        }
    }

    fn peek(&mut self, n: usize) -> Result<&[u8]> {
        match self {
            StreamInput::Slice(s) => s.peek(n),
            StreamInput::Read(r) => r.peek(n),
        }
    }

    fn skip(&mut self, n: usize) -> Result<()> {
        match self {
            StreamInput::Slice(s) => s.skip(n),
            StreamInput::Read(r) => r.skip(n),
        }
    }

    fn offset(&self) -> u64 {
        match self {
            StreamInput::Slice(s) => s.offset(),
            StreamInput::Read(r) => r.offset(),
        }
    }

    #[inline]
    fn buffered(&self) -> &[u8] {
        match self {
            StreamInput::Slice(s) => s.buffered(),
            StreamInput::Read(r) => r.buffered(),
        }
    }
}

/// At most `limit` bytes of another [`Input`]: a value embedded in a larger one
/// (a legacy blob inside BER) is read in place, without copying it out first.
#[derive(Debug)]
pub struct Take<'a, I: ?Sized> {
    inner: &'a mut I,
    left: u64,
}

impl<'a, I: Input + ?Sized> Take<'a, I> {
    /// The next `limit` bytes of `inner`.
    pub fn new(inner: &'a mut I, limit: u64) -> Self {
        Take { inner, left: limit }
    }

    /// Bytes of the limit not yet consumed.
    pub fn left(&self) -> u64 {
        self.left
    }

    fn consume(&mut self, n: usize) -> Result<()> {
        if n as u64 > self.left {
            return Err(self.error(ErrorKind::UnexpectedEof));
        }
        self.left -= n as u64;
        Ok(())
    }
}

impl<I: Input + ?Sized> Input for Take<'_, I> {
    fn read_exact(&mut self, buf: &mut [u8]) -> Result<()> {
        self.consume(buf.len())?;
        self.inner.read_exact(buf)
    }

    fn peek(&mut self, n: usize) -> Result<&[u8]> {
        let n = n.min(usize::try_from(self.left).unwrap_or(usize::MAX));
        self.inner.peek(n)
    }

    fn skip(&mut self, n: usize) -> Result<()> {
        self.consume(n)?;
        self.inner.skip(n)
    }

    fn offset(&self) -> u64 {
        self.inner.offset()
    }

    fn buffered(&self) -> &[u8] {
        let b = self.inner.buffered();
        &b[..b
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX))]
    }
}

/// A sink for encoded bytes that counts what it wrote, so save errors carry
/// an offset too.
#[derive(Debug)]
pub struct Writer<W> {
    inner: W,
    written: u64,
}

impl<W: io::Write> Writer<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> Self {
        Writer { inner, written: 0 }
    }

    /// Wraps `inner`, whose first byte is at stream offset `offset` (a part written
    /// on its own, where offsets in it are the file's: a mapped-ram block list).
    pub fn at(inner: W, offset: u64) -> Self {
        Writer {
            inner,
            written: offset,
        }
    }

    /// Writes all of `bytes`.
    #[inline]
    pub fn put(&mut self, bytes: &[u8]) -> Result<()> {
        match self.inner.write_all(bytes) {
            Ok(()) => {
                self.written += bytes.len() as u64;
                Ok(())
            }
            Err(e) => Err(self.error(ErrorKind::Io(e.to_string()))),
        }
    }

    /// Bytes written so far (from the offset it started at, [`Writer::at`]).
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Flushes the sink (a buffered file or socket), so the bytes are out before a
    /// caller waits for the peer's reply.
    pub fn flush(&mut self) -> Result<()> {
        self.inner
            .flush()
            .map_err(|e| self.error(ErrorKind::Io(e.to_string())))
    }

    /// An error of `kind` at the current output offset.
    pub fn error(&self, kind: ErrorKind) -> Error {
        Error::new(kind, self.written)
    }

    /// Returns the sink.
    pub fn into_inner(self) -> W {
        self.inner
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_input_peeks_then_reads_through() {
        let data: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        let mut r = ReadInput::new(&data[..]);
        assert_eq!(r.peek(3).unwrap(), &[0, 1, 2]);
        let mut b = [0u8; 5];
        r.read_exact(&mut b).unwrap();
        assert_eq!(b, [0, 1, 2, 3, 4]);
        r.skip(600).unwrap();
        assert_eq!(r.offset(), 605);
        assert_eq!(r.peek(2000).unwrap().len(), 395);
        let mut rest = vec![0u8; 396];
        let e = r.read_exact(&mut rest).unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::UnexpectedEof);
    }

    #[test]
    fn slice_input_offsets_include_base() {
        let mut s = SliceInput::with_base(&[1, 2, 3], 100);
        s.skip(2).unwrap();
        assert_eq!(s.offset(), 102);
        let e = s.skip(2).unwrap_err();
        assert_eq!(e.offset(), 102);
    }
}
