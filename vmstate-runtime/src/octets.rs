//! Scalars that BER sends as their legacy octets: floating point as IEEE 754 bits
//! (ASN.1 REAL would not keep NaN payloads), and the 128-bit integers (the BER
//! codec sends integers wider than 8 octets as octets, as the generic converter
//! does). On the legacy wire all are big-endian, as QEMU's `float64` is.

use crate::ber::{self, Decoder, Encoder, Header, Tag};
use crate::desc::TypeDesc;
use crate::error::Result;
use crate::field::Field;
use crate::io::{Input, Writer};
use serde_json::Value;
use std::io;

/// A scalar's legacy octets.
trait Octets<const N: usize> {
    fn to_octets(&self) -> [u8; N];
    fn from_octets(b: [u8; N]) -> Self;
}

macro_rules! octets_field {
    ($($t:ty => $name:literal, $n:literal, to: $to:expr, from: $from:expr;)*) => {$(
        impl Octets<$n> for $t {
            #[inline]
            fn to_octets(&self) -> [u8; $n] {
                $to(self)
            }

            #[inline]
            fn from_octets(b: [u8; $n]) -> Self {
                $from(b)
            }
        }

        impl Field for $t {
            const TYPE: TypeDesc = TypeDesc::Scalar { name: $name, size: $n };
            const BER_TAG: Tag = Tag::OCTET_STRING;

            fn ber_put(&self, e: &mut Encoder) -> Result<()> {
                e.put(&self.to_octets());
                Ok(())
            }

            fn ber_get<I: Input + ?Sized>(&mut self, d: &mut Decoder<'_, I>, h: &Header) -> Result<()> {
                let mut b = [0u8; $n];
                d.octets(h, $n, &mut |input, pos, n| input.read_exact(&mut b[pos..pos + n]))?;
                *self = Self::from_octets(b);
                Ok(())
            }

            #[inline]
            fn ber_scan(&mut self, s: &mut ber::Scan<'_>, id: ber::Id) -> bool {
                let b = s.octets(id, $n).and_then(|b| b.try_into().ok());
                b.map(|b| *self = Self::from_octets(b)).is_some()
            }

            fn to_json(&self) -> Value {
                ber::octets_json(&self.to_octets())
            }

            fn legacy_put<W: io::Write>(&self, w: &mut Writer<W>) -> Result<()> {
                w.put(&self.to_octets())
            }

            fn legacy_get<I: Input + ?Sized>(&mut self, r: &mut I) -> Result<()> {
                *self = Self::from_octets(r.read_array()?);
                Ok(())
            }

            fn legacy_size(&self) -> usize {
                $n
            }
        }
    )*};
}

octets_field! {
    f64 => "float64", 8, to: |v: &f64| v.to_bits().to_be_bytes(), from: |b| f64::from_bits(u64::from_be_bytes(b));
    f32 => "float32", 4, to: |v: &f32| v.to_bits().to_be_bytes(), from: |b| f32::from_bits(u32::from_be_bytes(b));
    u128 => "uint128", 16, to: |v: &u128| v.to_be_bytes(), from: u128::from_be_bytes;
    i128 => "int128", 16, to: |v: &i128| v.to_be_bytes(), from: i128::from_be_bytes;
}
