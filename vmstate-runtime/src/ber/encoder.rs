//! The BER writer: values are encoded back to front, into a buffer that fills from
//! its end. A constructed value's contents are then written before its header, so
//! its length is known when the header is written: definite, minimal lengths with
//! one pass over the value and no size pass (which would visit every nested value
//! once per level above it).

use super::header::{header_bytes, Tag};
use crate::error::{Error, ErrorKind, Result};
use crate::io::Writer;

/// A BER encoding being written back to front.
///
/// Each `put` prepends: a caller writes a value's contents (its last field
/// first), then its header. The octets so far are [`as_bytes`](Self::as_bytes).
///
/// ```
/// use vmstate_runtime::ber::{Encoder, Tag};
///
/// let mut e = Encoder::new();
/// let mark = e.len();
/// e.put_int_tlv(Tag::context(0, Tag::INTEGER), 2);
/// e.put_header(Tag::SEQUENCE, e.len() - mark);
/// // SEQUENCE { [0] 2 }
/// assert_eq!(e.as_bytes(), [0x30, 0x03, 0x80, 0x01, 0x02]);
/// ```
#[derive(Debug, Clone)]
pub struct Encoder {
    /// The encoding is `buf[start..]`; below it, room to prepend.
    buf: Vec<u8>,
    start: usize,
}

impl Default for Encoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Encoder {
    /// An empty encoder with room for a small device.
    pub fn new() -> Self {
        Self::with_capacity(256)
    }

    /// An empty encoder with room for `n` octets before it grows.
    pub fn with_capacity(n: usize) -> Self {
        Encoder {
            buf: vec![0; n],
            start: n,
        }
    }

    /// Octets encoded so far (the end of the encoding).
    #[inline(always)]
    pub fn len(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Whether nothing is encoded yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The encoding so far.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    /// Empties the encoder, keeping its buffer (up to 1 MiB: a larger one, grown
    /// for an exceptional value, is given back).
    pub fn clear(&mut self) {
        if self.buf.len() > 1 << 20 {
            *self = Self::new();
        }
        self.start = self.buf.len();
    }

    /// The encoding, moved to the front of its buffer.
    #[inline]
    pub fn into_vec(mut self) -> Vec<u8> {
        self.buf.drain(..self.start);
        self.buf
    }

    /// An error of `kind` while encoding. BER is written from the end, so its
    /// offset counts the octets already encoded after the failing value.
    #[cold]
    pub fn error(&self, kind: ErrorKind) -> Error {
        Error::new(kind, self.len() as u64)
    }

    /// Octets encoded so far, as an error offset (see [`error`](Self::error)).
    pub fn written(&self) -> u64 {
        self.len() as u64
    }

    #[inline(always)]
    fn room(&mut self, n: usize) {
        if self.start < n {
            self.grow(n);
        }
    }

    /// Moves the encoding to the end of a buffer with room for `n` more octets
    /// below it.
    #[cold]
    #[inline(never)]
    fn grow(&mut self, n: usize) {
        let len = self.len();
        let size = (2 * self.buf.len()).max(len + n + 64);
        let mut buf = vec![0; size];
        buf[size - len..].copy_from_slice(self.as_bytes());
        self.buf = buf;
        self.start = size - len;
    }

    /// Prepends `bytes`.
    #[inline]
    pub fn put(&mut self, bytes: &[u8]) {
        self.room(bytes.len());
        let s = self.start - bytes.len();
        self.buf[s..self.start].copy_from_slice(bytes);
        self.start = s;
    }

    /// Prepends `n` octets written front to back by `f` through a [`Writer`] (a
    /// legacy encoding inside an OCTET STRING), which must write exactly `n`.
    pub fn put_forward(
        &mut self,
        n: usize,
        f: impl FnOnce(&mut Writer<&mut [u8]>) -> Result<()>,
    ) -> Result<()> {
        self.room(n);
        let s = self.start - n;
        let mut w = Writer::new(&mut self.buf[s..self.start]);
        f(&mut w)?;
        let found = w.written();
        if found != n as u64 {
            return Err(self.error(ErrorKind::SizeMismatch {
                expected: n as u64,
                found,
            }));
        }
        self.start = s;
        Ok(())
    }

    /// Prepends the header of a value of `tag` whose `len` contents octets follow.
    #[inline(always)]
    pub fn put_header(&mut self, tag: Tag, len: usize) {
        let Some(id) = tag.short_identifier() else {
            return self.put_header_long(tag, len);
        };
        // Copies of a size known at compile time: a store each, not a `memcpy` call.
        match len {
            0..=0x7f => self.put_array([id, len as u8]),
            0x80..=0xff => self.put_array([id, 0x81, len as u8]),
            0x100..=0xffff => self.put_array([id, 0x82, (len >> 8) as u8, len as u8]),
            _ => self.put_header_long(tag, len),
        }
    }

    #[inline(always)]
    fn put_array<const K: usize>(&mut self, bytes: [u8; K]) {
        self.room(K);
        let s = self.start - K;
        self.buf[s..s + K].copy_from_slice(&bytes);
        self.start = s;
    }

    #[inline(never)]
    fn put_header_long(&mut self, tag: Tag, len: usize) {
        let (buf, n) = header_bytes(tag, len);
        self.put(&buf[..n]);
    }

    /// Prepends the contents of a minimal two's-complement INTEGER.
    #[inline]
    pub fn put_int(&mut self, v: i128) {
        let n = super::int_len(v);
        self.put(&v.to_be_bytes()[16 - n..]);
    }

    /// Prepends an INTEGER TLV under `tag` (minimal contents, X.690 8.3.2), in a
    /// few stores when the identifier is one octet, as every field's and element's
    /// is below 31.
    #[inline(always)]
    pub fn put_int_tlv(&mut self, tag: Tag, v: i128) {
        match tag.short_identifier() {
            Some(id) => {
                self.room(MAX_INT_TLV);
                self.start = put_int_at(&mut self.buf[..self.start], id, v);
            }
            None => {
                self.put_int(v);
                self.put_header(tag, super::int_len(v));
            }
        }
    }

    /// Prepends the INTEGER elements of an array (their values widened by `wide`),
    /// holding the position in a register across the run.
    #[inline(always)]
    pub fn put_int_run<T: Copy>(&mut self, s: &[T], wide: impl Fn(T) -> i128) {
        self.room(s.len().saturating_mul(MAX_INT_TLV));
        let buf = &mut self.buf[..self.start];
        let mut at = buf.len();
        for &v in s.iter().rev() {
            at = put_int_at(&mut buf[..at], super::INTEGER_ID, wide(v));
        }
        self.start = at;
    }
}

/// Octets of the longest INTEGER TLV with a one-octet identifier (an `i128` needs
/// 16 contents octets; every 64-bit value fits in 11).
const MAX_INT_TLV: usize = 18;

/// Writes an INTEGER TLV with identifier `id` at the end of `buf` (which has room
/// for [`MAX_INT_TLV`] octets); returns where it starts. A 64-bit value is two
/// stores: its eight octets, of which the low `n` are the contents, then `id, n`
/// before them.
#[inline(always)]
fn put_int_at(buf: &mut [u8], id: u8, v: i128) -> usize {
    let at = buf.len();
    let n = super::int_len(v);
    match i64::try_from(v) {
        Ok(x) => buf[at - 8..at].copy_from_slice(&x.to_be_bytes()),
        Err(_) => buf[at - 16..at].copy_from_slice(&v.to_be_bytes()),
    }
    buf[at - n - 2..at - n].copy_from_slice(&[id, n as u8]);
    at - n - 2
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prepends_and_grows() {
        let mut e = Encoder::with_capacity(0);
        for i in 0..1000u32 {
            e.put_int_tlv(Tag::INTEGER, i128::from(i) * 1_000_003);
        }
        let mut forward = Vec::new();
        for i in (0..1000u32).rev() {
            let v = i128::from(i) * 1_000_003;
            let n = super::super::int_len(v);
            forward.extend([0x02, n as u8]);
            forward.extend(&v.to_be_bytes()[16 - n..]);
        }
        assert_eq!(e.as_bytes(), forward);
        assert_eq!(e.into_vec(), forward);
    }

    #[test]
    fn headers_match_the_forward_writer() {
        for tag in [
            Tag::INTEGER,
            Tag::SEQUENCE,
            Tag::context(30, Tag::SEQUENCE),
            Tag::context(31, Tag::SEQUENCE),
            Tag::application(200),
        ] {
            for len in [0, 1, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, 1 << 40] {
                let mut e = Encoder::new();
                e.put_header(tag, len);
                let (buf, n) = header_bytes(tag, len);
                assert_eq!(e.as_bytes(), &buf[..n], "{tag} {len}");
            }
        }
    }

    #[test]
    fn integers_of_nine_octets() {
        let mut e = Encoder::new();
        e.put_int_tlv(Tag::context(3, Tag::INTEGER), u64::MAX.into());
        assert_eq!(
            e.as_bytes(),
            [0x83, 9, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]
        );
        let mut e = Encoder::new();
        e.put_int_tlv(Tag::INTEGER, i64::MIN.into());
        assert_eq!(e.as_bytes(), [2, 8, 0x80, 0, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn forward_regions_must_be_filled() {
        let mut e = Encoder::new();
        e.put(&[9]);
        e.put_forward(2, |w| w.put(&[1, 2])).unwrap();
        assert_eq!(e.as_bytes(), [1, 2, 9]);
        let err = e.put_forward(3, |w| w.put(&[1])).unwrap_err();
        assert!(matches!(
            err.kind(),
            ErrorKind::SizeMismatch {
                expected: 3,
                found: 1
            }
        ));
        assert_eq!(e.as_bytes(), [1, 2, 9]);
    }
}
