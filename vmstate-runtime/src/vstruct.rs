//! A nested struct sent at a fixed version of its own (QEMU's `VMSTATE_VSTRUCT`,
//! `#[vmstate(struct_version = N)]`), where a plain nested struct is sent at its
//! current version. The derive calls these in place of the `Field` methods of the
//! field's type, with the same names and arguments.

use crate::ber::{self, Decoder, Encoder, Tag};
use crate::error::Result;
use crate::io::{Input, Writer};
use crate::json::JsonWriter;
use crate::VMState;
use serde_json::{Map, Value};
use std::marker::PhantomData;

/// The field methods of a `T` sent at version `V`.
pub struct VStruct<T, const V: u32>(PhantomData<T>);

impl<T: VMState, const V: u32> VStruct<T, V> {
    /// The wire type: the struct's.
    pub const TYPE: crate::desc::TypeDesc = {
        assert!(
            V >= T::DESC.minimum_version && V <= T::DESC.version,
            "`struct_version` must be a version the nested struct saves and loads"
        );
        T::TYPE
    };

    /// Appends the legacy encoding at version `V`.
    pub fn legacy_put<W: std::io::Write>(v: &T, w: &mut Writer<W>) -> Result<()> {
        v.legacy_save_at(w, V)
    }

    /// Loads the legacy encoding at version `V`.
    pub fn legacy_get<I: Input + ?Sized>(v: &mut T, r: &mut I) -> Result<()> {
        v.legacy_load_at(r, V)
    }

    /// Legacy bytes at version `V`.
    pub fn legacy_size(v: &T) -> usize {
        v.legacy_size_at(V)
    }

    /// Prepends the value at version `V` as field `[number]`.
    pub fn ber_put_field(v: &T, e: &mut Encoder, number: u32) -> Result<()> {
        let end = e.len();
        v.ber_save_at(e, V)?;
        e.put_header(Tag::context(number, T::BER_TAG), e.len() - end);
        Ok(())
    }

    /// Reads field `[number]` of struct `within` at version `V`.
    pub fn ber_get_field<I: Input + ?Sized>(
        v: &mut T,
        d: &mut Decoder<'_, I>,
        within: &'static str,
        number: u32,
        field: &'static str,
    ) -> Result<()> {
        let h = d.field(within, number, field)?;
        ber::load_struct_at(d, &h, v, V).map_err(|e| e.in_field(field))
    }

    /// Inserts the JSON value at version `V`.
    pub fn json_field(v: &T, m: &mut Map<String, Value>, key: &str) {
        m.insert(key.into(), v.to_json_at(V));
    }

    /// Writes the vmdesc entry: a struct described at version `V`.
    pub fn vmdesc_entries(
        v: &T,
        j: &mut JsonWriter,
        name: &str,
        tag: u32,
        _suffix: &str,
        _has_exists: bool,
    ) {
        crate::__private::begin_entry(j, name, tag);
        crate::__private::struct_leaf_at(v, V, j);
        j.end_object();
    }
}
