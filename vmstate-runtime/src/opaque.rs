//! Named opaque types: QEMU's custom `VMStateInfo`s (`pci config`, `pci irq state`,
//! `virtio`, ...), which are their own bytes under their own type name. A
//! `#[vmstate(transparent, info = "...")]` newtype is one: on the legacy wire exactly
//! its inner field, in vmdesc one entry of that type name and its size, and in BER
//! one OCTET STRING of its legacy bytes, as the generic converter sends any type it
//! does not know. The inner field may vary in size (QEMU's `virtio`, which
//! `virtio_save` writes in code). The helpers here are what the derive calls.

use crate::ber::{Decoder, Encoder, Header};
use crate::desc::TypeDesc;
use crate::error::Result;
use crate::field::Field;
use crate::io::{Input, SliceInput, Writer};
use serde_json::Value;

/// Bytes a BER load of an opaque type of variable size accepts.
pub const MAX_BYTES: usize = 64 << 20;

/// The wire type of opaque type `name` over `inner`: a named scalar of the inner
/// type's size, or, when that varies, bytes of a variable count.
pub const fn type_of(name: &'static str, inner: &TypeDesc) -> TypeDesc {
    match inner.fixed_size() {
        Some(size) => TypeDesc::Scalar { name, size },
        None => TypeDesc::VarBuffer { max: MAX_BYTES },
    }
}

/// Writes the vmdesc members of an opaque value: its type name and its bytes.
pub fn vmdesc_leaf<T: Field>(v: &T, name: &str, j: &mut crate::json::JsonWriter) {
    j.string("type", name);
    j.int("size", v.legacy_size() as i64);
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

/// Reads the OCTET STRING (of exactly the inner type's size, when it has one) and
/// loads the legacy bytes in it, which must be all of it; errors inside are placed
/// at the octets' offset in the stream.
pub fn ber_get<T: Field, I: Input + ?Sized>(
    v: &mut T,
    d: &mut Decoder<'_, I>,
    h: &Header,
) -> Result<()> {
    let mut b = Vec::new();
    let mut fill = |input: &mut I, pos: usize, n: usize| {
        b.resize(pos + n, 0);
        input.read_exact(&mut b[pos..pos + n])
    };
    match T::TYPE.fixed_size() {
        Some(size) => d.octets(h, size, &mut fill)?,
        None => {
            d.octets_upto(h, MAX_BYTES, &mut fill)?;
        }
    }
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
