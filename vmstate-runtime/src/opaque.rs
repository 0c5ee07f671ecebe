//! Named opaque types: QEMU's custom `VMStateInfo`s (`pci config`, `pci irq state`,
//! ...), which are their own bytes under their own type name. A
//! `#[vmstate(transparent, info = "...")]` newtype is one: on the legacy wire exactly
//! its inner field, in vmdesc one entry of that type name, and in BER one OCTET
//! STRING of its legacy bytes, as the generic converter sends any type it does not
//! know. The helpers here are what the derive calls.

use crate::ber::{Decoder, Encoder, Header};
use crate::desc::TypeDesc;
use crate::error::Result;
use crate::field::Field;
use crate::io::{Input, SliceInput, Writer};
use serde_json::Value;

/// The size of an opaque type: its inner type's, which must not depend on the value.
pub const fn size(inner: &TypeDesc) -> usize {
    match inner.fixed_size() {
        Some(n) => n,
        None => panic!("`info` needs an inner type of fixed size: QEMU's VMStateInfo has one"),
    }
}

fn legacy_bytes<T: Field>(v: &T) -> Result<Vec<u8>> {
    let mut w = Writer::new(Vec::with_capacity(v.legacy_size()));
    v.legacy_put(&mut w)?;
    Ok(w.into_inner())
}

/// Prepends the OCTET STRING contents: the legacy bytes.
pub fn ber_put<T: Field>(v: &T, e: &mut Encoder) -> Result<()> {
    e.put(&legacy_bytes(v)?);
    Ok(())
}

/// Reads the OCTET STRING of exactly `size` octets and loads the legacy bytes in it;
/// errors inside are placed at the octets' offset in the stream.
pub fn ber_get<T: Field, I: Input + ?Sized>(
    v: &mut T,
    size: usize,
    d: &mut Decoder<'_, I>,
    h: &Header,
) -> Result<()> {
    let mut b = vec![0u8; size];
    d.octets(h, size, &mut |input, pos, n| {
        input.read_exact(&mut b[pos..pos + n])
    })?;
    let mut r = SliceInput::with_base(&b, h.offset);
    v.legacy_get(&mut r)?;
    r.expect_end()
}

/// The JSON value: the bytes in hex, as for any OCTET STRING.
pub fn json<T: Field>(v: &T) -> Value {
    match legacy_bytes(v) {
        Ok(b) => crate::ber::octets_json(&b),
        Err(_) => Value::Null,
    }
}
