//! Field types that mirror QEMU concepts with no Rust counterpart: padding that is
//! only on the wire, and timers.

use crate::ber::{Decoder, Encoder, Header, Tag};
use crate::desc::TypeDesc;
use crate::error::Result;
use crate::field::Field;
use crate::io::{Input, Writer};
use serde_json::Value;
use std::io;

/// `N` bytes of padding on the wire (QEMU's `VMSTATE_UNUSED(N)`): zeros on save,
/// skipped on load. It keeps the place of a field that an old version migrated.
///
/// A field of this type is named `unused` in descriptions unless renamed, as QEMU's are.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Unused<const N: usize>;

impl<const N: usize> Field for Unused<N> {
    const TYPE: TypeDesc = TypeDesc::Unused(N);

    fn legacy_put<W: io::Write>(&self, w: &mut Writer<W>) -> Result<()> {
        const CHUNK: [u8; 256] = [0; 256];
        let mut left = N;
        while left > 0 {
            let k = left.min(CHUNK.len());
            w.put(&CHUNK[..k])?;
            left -= k;
        }
        Ok(())
    }

    fn legacy_get<I: Input + ?Sized>(&mut self, r: &mut I) -> Result<()> {
        r.skip(N)
    }

    fn legacy_size(&self) -> usize {
        N
    }

    /// Padding is not sent in BER (the derive leaves `Unused` fields out); as an
    /// element it is an empty OCTET STRING.
    const BER_TAG: Tag = Tag::OCTET_STRING;

    fn ber_put(&self, _e: &mut Encoder) -> Result<()> {
        Ok(())
    }

    fn ber_get<I: Input + ?Sized>(&mut self, d: &mut Decoder<'_, I>, h: &Header) -> Result<()> {
        d.skip_contents(h)
    }

    fn to_json(&self) -> Value {
        Value::Null
    }
}

/// A QEMU timer's expiry on the wire (`VMSTATE_TIMER_PTR`): nanoseconds on the
/// timer's clock, or -1 when the timer is not armed.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Timer(pub i64);

impl Timer {
    /// A timer that is not armed.
    pub const DISARMED: Timer = Timer(-1);

    /// The expiry time, if armed.
    pub fn expiry(&self) -> Option<i64> {
        (self.0 != -1).then_some(self.0)
    }
}

impl Default for Timer {
    fn default() -> Self {
        Timer::DISARMED
    }
}

impl Field for Timer {
    const TYPE: TypeDesc = TypeDesc::Scalar {
        name: "timer",
        size: 8,
    };

    fn legacy_put<W: io::Write>(&self, w: &mut Writer<W>) -> Result<()> {
        self.0.legacy_put(w)
    }

    fn legacy_get<I: Input + ?Sized>(&mut self, r: &mut I) -> Result<()> {
        self.0.legacy_get(r)
    }

    fn legacy_size(&self) -> usize {
        8
    }

    const BER_TAG: Tag = Tag::INTEGER;

    fn ber_put(&self, e: &mut Encoder) -> Result<()> {
        self.0.ber_put(e)
    }

    #[inline(always)]
    fn ber_put_tlv(&self, e: &mut Encoder, tag: Tag) -> Result<()> {
        self.0.ber_put_tlv(e, tag)
    }

    fn ber_get<I: Input + ?Sized>(&mut self, d: &mut Decoder<'_, I>, h: &Header) -> Result<()> {
        self.0.ber_get(d, h)
    }

    #[inline(always)]
    fn ber_scan(&mut self, s: &mut crate::ber::Scan<'_>, id: crate::ber::Id) -> bool {
        self.0.ber_scan(s, id)
    }

    fn to_json(&self) -> Value {
        self.0.to_json()
    }
}
