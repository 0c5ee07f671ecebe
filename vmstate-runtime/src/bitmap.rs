//! `#[vmstate(len = nbits, bitmap)]` on `[u64; N]` or `Vec<u64>`: QEMU's
//! `VMSTATE_BITMAP`, a bitmap whose length in bits is another field, sent as
//! ⌈bits / 64⌉ big-endian 64-bit words. QEMU describes it as its `bitmap`
//! VMStateInfo, one entry of its bytes; BER sends those bytes as one OCTET STRING,
//! as the generic converter does for any VMStateInfo it does not know.
//!
//! [`BitmapWords`] stands in for the element type of the variable array the
//! derive generates, with the same associated functions as `Element`.

use crate::ber::{Decoder, Encoder, Header, Tag};
use crate::desc::TypeDesc;
use crate::error::{ErrorKind, Result};
use crate::field::VarLenField;
use crate::io::{Input, Writer};
use crate::json::JsonWriter;
use serde_json::Value;
use std::io;

/// A bit count read as the number of 64-bit words that hold it, checked against
/// its bound in bits (the field's `max`), so an error says what was declared.
pub struct BitsToWords<'a, T>(pub &'a T, pub usize);

impl<T: VarLenField> VarLenField for BitsToWords<'_, T> {
    fn element_count(&self) -> Result<usize, ErrorKind> {
        let bits = self.0.element_count()?;
        if bits > self.1 {
            return Err(ErrorKind::LengthTooLarge {
                len: bits as u64,
                max: self.1 as u64,
            });
        }
        Ok(bits.div_ceil(64))
    }
}

/// The words of a bitmap, as the derive's variable-array code uses elements.
pub struct BitmapWords;

fn bytes(s: &[u64]) -> Vec<u8> {
    s.iter().flat_map(|w| w.to_be_bytes()).collect()
}

fn words_from(s: &mut [u64], b: &[u8]) {
    for (w, c) in s.iter_mut().zip(b.chunks_exact(8)) {
        *w = u64::from_be_bytes(c.try_into().unwrap_or([0; 8]));
    }
}

impl BitmapWords {
    /// Not used for a bitmap's description (see `desc`), but the shape needs one.
    pub const ELEMENT_TYPE: &'static TypeDesc = &TypeDesc::Scalar {
        name: "uint64",
        size: 8,
    };
    /// A bitmap goes as one buffer of bytes.
    pub const ELEMENT_IS_BYTE: bool = true;

    /// The words, big-endian.
    pub fn put_legacy<W: io::Write>(s: &[u64], w: &mut Writer<W>) -> Result<()> {
        w.put(&bytes(s))
    }

    /// Reads the words of an array.
    pub fn get_legacy<I: Input + ?Sized>(s: &mut [u64], r: &mut I) -> Result<()> {
        for w in s {
            *w = u64::from_be_bytes(r.read_array()?);
        }
        Ok(())
    }

    /// Reads `n` words into a `Vec`, as the input holds them.
    pub fn get_legacy_vec<I: Input + ?Sized>(v: &mut Vec<u64>, n: usize, r: &mut I) -> Result<()> {
        v.clear();
        for _ in 0..n {
            v.push(u64::from_be_bytes(r.read_array()?));
        }
        Ok(())
    }

    /// Bytes of the words.
    pub fn legacy_size_of(s: &[u64]) -> usize {
        8 * s.len()
    }

    /// The words as field `[number]`, one OCTET STRING.
    pub fn put_ber(e: &mut Encoder, number: u32, s: &[u64]) -> Result<()> {
        let b = bytes(s);
        e.put(&b);
        e.put_header(Tag::context(number, Tag::OCTET_STRING), b.len());
        Ok(())
    }

    /// Reads the OCTET STRING of an array's words.
    pub fn get_ber<I: Input + ?Sized>(
        s: &mut [u64],
        d: &mut Decoder<'_, I>,
        h: &Header,
    ) -> Result<()> {
        let mut b = vec![0u8; 8 * s.len()];
        d.octets(h, b.len(), &mut |input, pos, n| {
            input.read_exact(&mut b[pos..pos + n])
        })?;
        words_from(s, &b);
        Ok(())
    }

    /// Reads the OCTET STRING of `n` words into a `Vec` (`n` checked against the
    /// bound before).
    pub fn get_ber_vec<I: Input + ?Sized>(
        v: &mut Vec<u64>,
        n: usize,
        d: &mut Decoder<'_, I>,
        h: &Header,
    ) -> Result<()> {
        v.resize(n, 0);
        Self::get_ber(v, d, h)
    }

    /// The bytes in hex, as for any OCTET STRING.
    pub fn json_of(s: &[u64]) -> Value {
        crate::ber::octets_json(&bytes(s))
    }

    /// The vmdesc entry: type `bitmap`, its bytes.
    pub fn vmdesc_of(
        s: &[u64],
        j: &mut JsonWriter,
        name: &str,
        tag: u32,
        _suffix: &str,
        _exists: bool,
    ) {
        crate::generated::begin_entry(j, name, tag);
        j.string("type", "bitmap");
        j.int("size", (8 * s.len()) as i64);
        j.end_object();
    }
}
