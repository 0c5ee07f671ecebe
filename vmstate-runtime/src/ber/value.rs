//! Encoding and decoding of one value or one field through the [`Field`] trait: the
//! helpers the derive's generated code and the built-in field types call.

use super::decoder::{check_form, Decoder};
use super::encoder::Encoder;
use super::header::{Header, Length, Tag};
use super::scan::{Id, Scan};
use crate::error::{Error, ErrorKind, Result};
use crate::field::Field;
use crate::io::{Input, SliceInput, Writer};
use crate::VMState;
use serde_json::Value;

/// Prepends `v` under its own tag.
#[inline]
pub fn put_value<T: Field>(e: &mut Encoder, v: &T) -> Result<()> {
    v.ber_put_tlv(e, T::BER_TAG)
}

/// Reads the contents of a value whose header (any tag, right form) was consumed.
#[inline]
pub fn get_contents<T: Field, I: Input + ?Sized>(
    d: &mut Decoder<'_, I>,
    h: &Header,
    v: &mut T,
) -> Result<()> {
    check_form(h, T::BER_TAG)?;
    v.ber_get(d, h)
}

/// Reads a value under its own tag.
#[inline]
pub fn get_value<T: Field, I: Input + ?Sized>(d: &mut Decoder<'_, I>, v: &mut T) -> Result<()> {
    let h = d.expect(T::BER_TAG)?;
    v.ber_get(d, &h)
}

/// Whether arrays of `T` go as one OCTET STRING (elements described as `uint8`,
/// including newtypes and `as_array` buffers) rather than a SEQUENCE OF.
pub const fn is_octets<T: Field>() -> bool {
    T::TYPE.is_uint8()
}

/// The tag of an array (or the used part of a variable one) of `T`.
pub const fn slice_tag<T: Field>() -> Tag {
    if const { is_octets::<T>() } {
        Tag::OCTET_STRING
    } else {
        Tag::SEQUENCE
    }
}

/// Prepends the contents of an array of `T`: its octets (the elements' one-byte
/// legacy encodings), or each element as a TLV.
#[inline]
pub fn put_slice<T: Field>(s: &[T], e: &mut Encoder) -> Result<()> {
    if const { is_octets::<T>() } {
        return e.put_forward(s.len(), |w| T::legacy_put_slice(s, w));
    }
    T::ber_put_run(s, e)
}

/// The identifier octet of a universal INTEGER.
pub const INTEGER_ID: u8 = 0x02;

/// Prepends an array of `T` as field `[number]`.
pub fn put_slice_field<T: Field>(e: &mut Encoder, number: u32, s: &[T]) -> Result<()> {
    let end = e.len();
    put_slice(s, e)?;
    e.put_header(Tag::context(number, slice_tag::<T>()), e.len() - end);
    Ok(())
}

/// Loads a variable array of `n` elements into `v` (a `Vec`): the elements it holds
/// are loaded in place, new ones appended as they arrive, so a count from the input
/// allocates no more than the value's own octets hold.
pub fn get_vec<T: Field + Default, I: Input + ?Sized>(
    v: &mut Vec<T>,
    n: usize,
    d: &mut Decoder<'_, I>,
    h: &Header,
) -> Result<()> {
    v.truncate(n);
    if const { is_octets::<T>() } {
        // One octet each: the declared length bounds them.
        if let Length::Definite(len) = h.length {
            if n as u64 > len {
                return Err(Error::new(
                    ErrorKind::SizeMismatch {
                        expected: n as u64,
                        found: len,
                    },
                    h.offset,
                ));
            }
        }
        v.resize_with(n, T::default);
        return get_slice(v, d, h);
    }
    check_form(h, slice_tag::<T>())?;
    d.enter(h)?;
    get_elements(d, 0, n, |i, d| {
        if i == v.len() {
            v.push(T::default());
        }
        get_element(d, &mut v[i])
    })
}

/// Reads exactly `s.len()` elements from an array whose header was consumed.
#[inline]
pub fn get_slice<T: Field, I: Input + ?Sized>(
    s: &mut [T],
    d: &mut Decoder<'_, I>,
    h: &Header,
) -> Result<()> {
    check_form(h, slice_tag::<T>())?;
    if const { is_octets::<T>() } {
        return d.octets(h, s.len(), &mut |input, pos, n| {
            T::legacy_get_slice(&mut s[pos..pos + n], input)
        });
    }
    d.enter(h)?;
    let run = T::ber_get_run(s, d)?;
    get_elements(d, run, s.len(), |i, d| get_element(d, &mut s[i]))
}

/// [`Field::ber_scan`] of an array of `T` with identifier `id`: one OCTET STRING,
/// or a SEQUENCE OF exactly `s.len()` elements.
#[inline]
pub fn scan_slice<T: Field>(s: &mut [T], scan: &mut Scan<'_>, id: Id) -> bool {
    if const { is_octets::<T>() } {
        return scan
            .octets(id, s.len())
            .is_some_and(|b| T::legacy_get_slice(s, &mut SliceInput::new(b)).is_ok());
    }
    let Some(element) = (const { Id::of(T::BER_TAG) }) else {
        return false;
    };
    let Some(outer) = scan.enter(id) else {
        return false;
    };
    let run = T::ber_scan_run(s, scan);
    s.iter_mut().skip(run).all(|v| v.ber_scan(scan, element)) && scan.leave(outer)
}

/// [`Field::ber_scan`] of a struct at `version` (one without load hooks, which a
/// scan would not call): its fields, and nothing after them.
#[inline]
pub fn scan_struct<T: VMState>(v: &mut T, scan: &mut Scan<'_>, id: Id, version: u32) -> bool {
    let Some(outer) = scan.enter(id) else {
        return false;
    };
    v.ber_scan_at(scan, version) && scan.leave(outer)
}

/// Reads an array element under its own tag; `None` at the end of the array.
#[inline(always)]
fn get_element<T: Field, I: Input + ?Sized>(
    d: &mut Decoder<'_, I>,
    v: &mut T,
) -> Option<Result<()>> {
    if let Some(id) = T::BER_TAG.short_identifier() {
        if let Some(r) = v.ber_get_short(d, id) {
            return Some(r);
        }
    }
    let h = match d.peek_header() {
        Ok(Some(h)) => h,
        Ok(None) => return None,
        Err(e) => return Some(Err(e)),
    };
    Some(d.accept(&h, T::BER_TAG).and_then(|()| v.ber_get(d, &h)))
}

/// Reads elements `from..n` of the array just entered, element `i` by `load(i, d)`
/// (`None` at the array's end), and leaves it; fewer or more than `n` is a
/// `SizeMismatch`.
#[inline]
fn get_elements<I: Input + ?Sized>(
    d: &mut Decoder<'_, I>,
    from: usize,
    n: usize,
    mut load: impl FnMut(usize, &mut Decoder<'_, I>) -> Option<Result<()>>,
) -> Result<()> {
    let expected = n as u64;
    for i in from..n {
        match load(i, d) {
            Some(r) => r.map_err(|e| e.in_index(i))?,
            None => return Err(size_mismatch(d, expected, i as u64)),
        }
    }
    let mut found = expected;
    let at = d.offset();
    while let Some(extra) = d.peek_header()? {
        d.input().skip(extra.header_len)?;
        d.skip_contents(&extra)?;
        found += 1;
    }
    if found != expected {
        return Err(Error::new(ErrorKind::SizeMismatch { expected, found }, at));
    }
    d.leave(None)
}

/// JSON of an array of `T`: hex for octets, else the elements' values.
pub fn slice_json<T: Field>(s: &[T]) -> Value {
    if const { is_octets::<T>() } {
        let mut w = Writer::new(Vec::with_capacity(s.len()));
        // Writing one-byte elements into a Vec cannot fail.
        let _ = T::legacy_put_slice(s, &mut w);
        return octets_json(&w.into_inner());
    }
    Value::Array(s.iter().map(Field::to_json).collect())
}

/// JSON of octets: upper-case hex, as JER writes an OCTET STRING.
pub fn octets_json(bytes: &[u8]) -> Value {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(HEX[usize::from(b >> 4)] as char);
        out.push(HEX[usize::from(b & 15)] as char);
    }
    Value::String(out)
}

#[cold]
fn size_mismatch<I: Input + ?Sized>(d: &Decoder<'_, I>, expected: u64, found: u64) -> Error {
    Error::new(ErrorKind::SizeMismatch { expected, found }, d.offset())
}

/// Contents octets of a minimal two's-complement INTEGER: its significant bits and
/// a sign bit, in whole octets.
#[inline]
pub const fn int_len(v: i128) -> usize {
    // The magnitude's bits, counted in its 64-bit halves so that a value widened
    // from 64 bits (every field's) costs one leading-zero count.
    let m = v ^ (v >> 127);
    let high = (m >> 64) as u64;
    if high == 0 {
        (72 - (m as u64).leading_zeros() as usize) / 8
    } else {
        (136 - high.leading_zeros() as usize) / 8
    }
}

/// The contents octets of a minimal two's-complement INTEGER.
pub fn int_contents(v: i128) -> Vec<u8> {
    v.to_be_bytes()[16 - int_len(v)..].to_vec()
}

/// An INTEGER out of `ty`'s range.
#[cold]
pub fn out_of_range(v: i128, ty: &'static str, h: &Header) -> Error {
    out_of_range_at(v, ty, h.offset)
}

/// An INTEGER out of `ty`'s range, whose header is at `at`.
#[cold]
pub fn out_of_range_at(v: i128, ty: &'static str, at: u64) -> Error {
    Error::new(
        ErrorKind::IntegerOutOfRange {
            value: v.to_string(),
            ty,
        },
        at,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_lengths_are_minimal() {
        for (v, n) in [
            (0i128, 1),
            (127, 1),
            (128, 2),
            (-128, 1),
            (-129, 2),
            (255, 2),
            (i64::MAX as i128, 8),
            (u64::MAX as i128, 9),
            (i64::MIN as i128, 8),
        ] {
            assert_eq!(int_len(v), n, "{v}");
        }
    }
}
