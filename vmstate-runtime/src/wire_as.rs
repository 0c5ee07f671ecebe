//! Rust types sent as another field type, their wire type: `usize` and `isize` as
//! `u64` and `i64` (one width whatever the host's), `char` as `u32`, and
//! `Wrapping<T>` as `T`. Descriptions, the ASN.1 schema and the generic decoder
//! see the wire type; a load that does not fit the Rust type (a count beyond a
//! 32-bit host's `usize`, a `u32` that is no Unicode scalar value) is
//! `IntegerOutOfRange` at the value.

use crate::ber::{Decoder, Encoder, Header, Tag};
use crate::desc::TypeDesc;
use crate::error::{Error, ErrorKind, Result};
use crate::field::Field;
use crate::io::{Input, Writer};
use serde_json::Value;
use std::io;
use std::num::Wrapping;

/// A value of the wire type that the Rust type cannot hold.
#[cold]
fn out_of_range(value: impl ToString, ty: &'static str, at: u64) -> Error {
    Error::new(
        ErrorKind::IntegerOutOfRange {
            value: value.to_string(),
            ty,
        },
        at,
    )
}

macro_rules! wire_as {
    ($($t:ty => $wire:ty, $name:literal, to: $to:expr, from: $from:expr;)*) => {$(
        impl Field for $t {
            const TYPE: TypeDesc = <$wire as Field>::TYPE;
            const BER_TAG: Tag = <$wire as Field>::BER_TAG;

            #[inline]
            fn legacy_put<W: io::Write>(&self, w: &mut Writer<W>) -> Result<()> {
                let to: fn(&$t) -> $wire = $to;
                to(self).legacy_put(w)
            }

            #[inline]
            fn legacy_get<I: Input + ?Sized>(&mut self, r: &mut I) -> Result<()> {
                let at = r.offset();
                let mut v = <$wire>::default();
                v.legacy_get(r)?;
                let from: fn($wire) -> Option<$t> = $from;
                *self = from(v).ok_or_else(|| out_of_range(v, $name, at))?;
                Ok(())
            }

            #[inline]
            fn legacy_size(&self) -> usize {
                std::mem::size_of::<$wire>()
            }

            #[inline]
            fn ber_put(&self, e: &mut Encoder) -> Result<()> {
                let to: fn(&$t) -> $wire = $to;
                to(self).ber_put(e)
            }

            #[inline]
            fn ber_get<I: Input + ?Sized>(&mut self, d: &mut Decoder<'_, I>, h: &Header) -> Result<()> {
                let mut v = <$wire>::default();
                v.ber_get(d, h)?;
                let from: fn($wire) -> Option<$t> = $from;
                *self = from(v).ok_or_else(|| out_of_range(v, $name, h.offset))?;
                Ok(())
            }

            fn to_json(&self) -> Value {
                let to: fn(&$t) -> $wire = $to;
                to(self).to_json()
            }
        }
    )*};
}

wire_as! {
    usize => u64, "usize", to: |v| *v as u64, from: |v| usize::try_from(v).ok();
    isize => i64, "isize", to: |v| *v as i64, from: |v| isize::try_from(v).ok();
    char => u32, "char", to: |v| u32::from(*v), from: char::from_u32;
}

/// `Wrapping<T>` is sent as its `T`.
impl<T: Field> Field for Wrapping<T> {
    const TYPE: TypeDesc = T::TYPE;
    const BER_TAG: Tag = T::BER_TAG;

    #[inline]
    fn legacy_put<W: io::Write>(&self, w: &mut Writer<W>) -> Result<()> {
        self.0.legacy_put(w)
    }

    #[inline]
    fn legacy_get<I: Input + ?Sized>(&mut self, r: &mut I) -> Result<()> {
        self.0.legacy_get(r)
    }

    #[inline]
    fn legacy_size(&self) -> usize {
        self.0.legacy_size()
    }

    #[inline]
    fn ber_put(&self, e: &mut Encoder) -> Result<()> {
        self.0.ber_put(e)
    }

    #[inline]
    fn ber_get<I: Input + ?Sized>(&mut self, d: &mut Decoder<'_, I>, h: &Header) -> Result<()> {
        self.0.ber_get(d, h)
    }

    fn to_json(&self) -> Value {
        self.0.to_json()
    }

    fn vmdesc_leaves(&self) -> usize {
        self.0.vmdesc_leaves()
    }

    fn vmdesc_leaf(&self, leaf: usize, suffix: &str, j: &mut crate::json::JsonWriter) {
        self.0.vmdesc_leaf(leaf, suffix, j)
    }
}
