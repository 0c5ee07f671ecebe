//! Nested structs saved at a version the parent chooses, where a plain nested
//! struct is saved at its own current version (QEMU's VMSTATE_STRUCT).
//!
//! `#[vmstate(struct_version = 2)]` is QEMU's `VMSTATE_VSTRUCT`: always version 2.
//! `#[vmstate(struct_version(1 => 1, 3 => 2))]` is a release table: the parent at
//! versions 1 and 2 has the nested struct at version 1, from 3 on at version 2, so
//! a save for an older peer (`to_bytes_at(&dev, 1)`) sends what that peer's build
//! reads, nested structs included. Both work on a struct, an `Option`, a `Vec`
//! (with or without `len`) or an array of structs: every struct of the field goes
//! at that version.
//!
//! The derive calls these in place of the `Field` (or `Element`) methods of the
//! field's type, with the same names and arguments and the version last.

use crate::ber::{self, Decoder, Encoder, Header, Tag};
use crate::composite::{described, vmdesc_head};
use crate::counted::{checked, count, counted_fields, MAX_COUNT};
use crate::desc::{TypeDesc, VMStateDesc};
use crate::error::{Error, ErrorKind, Result};
use crate::field::Field;
use crate::io::{Input, Writer};
use crate::json::JsonWriter;
use crate::VMState;
use serde_json::{Map, Value};
use std::marker::PhantomData;

/// The nested version for parent version `version` in a release table of
/// `(first parent version, nested version)` steps, ordered (the derive checks it).
pub const fn nested_version(table: &[(u32, u32)], version: u32) -> u32 {
    let mut found = table[0].1;
    let mut i = 1;
    while i < table.len() {
        if table[i].0 <= version {
            found = table[i].1;
        }
        i += 1;
    }
    found
}

/// `T`'s wire type, after checking that every version of `table` is one `T` saves
/// and loads.
pub const fn checked_type<T: VMState>(table: &[(u32, u32)]) -> TypeDesc {
    let mut i = 0;
    while i < table.len() {
        assert!(
            T::DESC.supports(table[i].1),
            "`struct_version` must name versions the nested struct saves and loads"
        );
        i += 1;
    }
    T::TYPE
}

/// A struct's vmdesc entry at `version`.
fn struct_entry<T: VMState>(v: &T, j: &mut JsonWriter, name: &str, tag: u32, version: u32) {
    crate::generated::begin_entry(j, name, tag);
    crate::generated::struct_leaf_at(v, version, j);
    j.end_object();
}

/// A nested struct field at a chosen version.
pub struct Struct<T>(PhantomData<T>);

impl<T: VMState> Struct<T> {
    /// The struct's wire type.
    pub const TYPE: TypeDesc = T::TYPE;

    /// Appends the legacy encoding at `version`.
    pub fn legacy_put<W: std::io::Write>(v: &T, w: &mut Writer<W>, version: u32) -> Result<()> {
        v.legacy_save_at(w, version)
    }

    /// Loads the legacy encoding at `version`.
    pub fn legacy_get<I: Input + ?Sized>(v: &mut T, r: &mut I, version: u32) -> Result<()> {
        v.legacy_load_at(r, version)
    }

    /// Legacy bytes at `version`.
    pub fn legacy_size(v: &T, version: u32) -> usize {
        v.legacy_size_at(version)
    }

    /// Prepends the value at `version` as field `[number]`.
    pub fn ber_put_field(v: &T, e: &mut Encoder, number: u32, version: u32) -> Result<()> {
        put_tlv(v, e, Tag::context(number, T::BER_TAG), version)
    }

    /// Reads field `[number]` of struct `within` at `version`.
    pub fn ber_get_field<I: Input + ?Sized>(
        v: &mut T,
        d: &mut Decoder<'_, I>,
        within: &'static str,
        number: u32,
        field: &'static str,
        version: u32,
    ) -> Result<()> {
        let h = d.field(within, number, field)?;
        ber::load_struct_at(d, &h, v, version).map_err(|e| e.in_field(field))
    }

    /// Inserts the JSON value at `version`.
    pub fn json_field(v: &T, m: &mut Map<String, Value>, key: &str, version: u32) {
        m.insert(key.into(), v.to_json_at(version));
    }

    /// Writes the vmdesc entry: the struct described at `version`.
    pub fn vmdesc_entries(
        v: &T,
        j: &mut JsonWriter,
        name: &str,
        tag: u32,
        _suffix: &str,
        _has_exists: bool,
        version: u32,
    ) {
        struct_entry(v, j, name, tag, version)
    }
}

/// Prepends `v` at `version` under `tag`.
fn put_tlv<T: VMState>(v: &T, e: &mut Encoder, tag: Tag, version: u32) -> Result<()> {
    let end = e.len();
    v.ber_save_at(e, version)?;
    e.put_header(tag, e.len() - end);
    Ok(())
}

/// The elements of an array, a `Vec` counted by a field (`len`) or one that counts
/// itself, all structs at a chosen version: the derive's `Element` calls.
pub struct Elements<T>(PhantomData<T>);

impl<T: VMState + Default> Elements<T> {
    /// The element's wire type.
    pub const ELEMENT_TYPE: &'static TypeDesc = &T::TYPE;
    /// Structs are not bytes.
    pub const ELEMENT_IS_BYTE: bool = false;

    /// Legacy encoding of the elements.
    pub fn put_legacy<W: std::io::Write>(s: &[T], w: &mut Writer<W>, version: u32) -> Result<()> {
        for (i, e) in s.iter().enumerate() {
            e.legacy_save_at(w, version).map_err(|e| e.in_index(i))?;
        }
        Ok(())
    }

    /// Legacy decoding into an array's elements.
    pub fn get_legacy<I: Input + ?Sized>(s: &mut [T], r: &mut I, version: u32) -> Result<()> {
        for (i, e) in s.iter_mut().enumerate() {
            e.legacy_load_at(r, version).map_err(|e| e.in_index(i))?;
        }
        Ok(())
    }

    /// Legacy decoding of `n` elements into a `Vec`, grown as they arrive.
    pub fn get_legacy_vec<I: Input + ?Sized>(
        v: &mut Vec<T>,
        n: usize,
        r: &mut I,
        version: u32,
    ) -> Result<()> {
        v.truncate(n);
        for i in 0..n {
            if i == v.len() {
                v.push(T::default());
            }
            v[i].legacy_load_at(r, version).map_err(|e| e.in_index(i))?;
        }
        Ok(())
    }

    /// Legacy size of the elements.
    pub fn legacy_size_of(s: &[T], version: u32) -> usize {
        s.iter().map(|e| e.legacy_size_at(version)).sum()
    }

    /// BER: prepends the elements as field `[number]`, a SEQUENCE OF.
    pub fn put_ber(e: &mut Encoder, number: u32, s: &[T], version: u32) -> Result<()> {
        let end = e.len();
        for (i, x) in s.iter().enumerate().rev() {
            put_tlv(x, e, T::BER_TAG, version).map_err(|err| err.in_index(i))?;
        }
        e.put_header(Tag::context(number, Tag::SEQUENCE), e.len() - end);
        Ok(())
    }

    /// BER decoding into an array's elements (the header `h` consumed).
    pub fn get_ber<I: Input + ?Sized>(
        s: &mut [T],
        d: &mut Decoder<'_, I>,
        h: &Header,
        version: u32,
    ) -> Result<()> {
        Self::get_each(d, h, s.len(), |i, d, eh| {
            ber::load_struct_at(d, eh, &mut s[i], version)
        })
    }

    /// BER decoding of `n` elements into a `Vec` (the header `h` consumed).
    pub fn get_ber_vec<I: Input + ?Sized>(
        v: &mut Vec<T>,
        n: usize,
        d: &mut Decoder<'_, I>,
        h: &Header,
        version: u32,
    ) -> Result<()> {
        v.truncate(n);
        Self::get_each(d, h, n, |i, d, eh| {
            if i == v.len() {
                v.push(T::default());
            }
            ber::load_struct_at(d, eh, &mut v[i], version)
        })
    }

    /// Reads `n` elements of the SEQUENCE OF whose header `h` was consumed, element
    /// `i` (its header consumed) by `load`.
    fn get_each<I: Input + ?Sized>(
        d: &mut Decoder<'_, I>,
        h: &Header,
        n: usize,
        mut load: impl FnMut(usize, &mut Decoder<'_, I>, &Header) -> Result<()>,
    ) -> Result<()> {
        ber::check_form(h, Tag::SEQUENCE)?;
        d.enter(h)?;
        for i in 0..n {
            let Some(eh) = d.peek_header()? else {
                return Err(Error::new(
                    ErrorKind::SizeMismatch {
                        expected: n as u64,
                        found: i as u64,
                    },
                    d.offset(),
                ));
            };
            d.accept(&eh, T::BER_TAG)
                .and_then(|()| load(i, d, &eh))
                .map_err(|e| e.in_index(i))?;
        }
        if let Some(extra) = d.peek_header()? {
            return Err(Error::new(
                ErrorKind::SizeMismatch {
                    expected: n as u64,
                    found: n as u64 + 1,
                },
                extra.offset,
            ));
        }
        d.leave(None)
    }

    /// JSON of the elements.
    pub fn json_of(s: &[T], version: u32) -> Value {
        Value::Array(s.iter().map(|e| e.to_json_at(version)).collect())
    }

    /// The elements' vmdesc entry `name`: one entry with `array_len` when QEMU
    /// would compress them (equal sizes), else one per element.
    pub fn vmdesc_of(
        s: &[T],
        j: &mut JsonWriter,
        name: &str,
        tag: u32,
        _suffix: &str,
        exists: bool,
        version: u32,
    ) {
        let shape = crate::generated::VmdescShape {
            is_array: true,
            elem_type: "struct",
            elem: &T::TYPE,
        };
        let uniform = s
            .windows(2)
            .all(|w| w[0].legacy_size_at(version) == w[1].legacy_size_at(version));
        let compress = !exists && T::TYPE.compressible() && uniform;
        crate::generated::vmdesc_field(j, name, tag, s.len(), compress, shape, &mut |i, j| {
            crate::generated::struct_leaf_at(&s[i], version, j)
        });
    }
}

/// A fixed array of structs at a chosen version.
pub struct Array<T, const N: usize>(PhantomData<T>);

impl<T: VMState + Default, const N: usize> Array<T, N> {
    /// The array's wire type.
    pub const TYPE: TypeDesc = <[T; N] as Field>::TYPE;

    /// Appends the legacy encoding at `version`.
    pub fn legacy_put<W: std::io::Write>(
        v: &[T; N],
        w: &mut Writer<W>,
        version: u32,
    ) -> Result<()> {
        Elements::put_legacy(v, w, version)
    }

    /// Loads the legacy encoding at `version`.
    pub fn legacy_get<I: Input + ?Sized>(v: &mut [T; N], r: &mut I, version: u32) -> Result<()> {
        Elements::get_legacy(v, r, version)
    }

    /// Legacy bytes at `version`.
    pub fn legacy_size(v: &[T; N], version: u32) -> usize {
        Elements::legacy_size_of(v, version)
    }

    /// Prepends the array at `version` as field `[number]`.
    pub fn ber_put_field(v: &[T; N], e: &mut Encoder, number: u32, version: u32) -> Result<()> {
        Elements::put_ber(e, number, v, version)
    }

    /// Reads field `[number]` of struct `within` at `version`.
    pub fn ber_get_field<I: Input + ?Sized>(
        v: &mut [T; N],
        d: &mut Decoder<'_, I>,
        within: &'static str,
        number: u32,
        field: &'static str,
        version: u32,
    ) -> Result<()> {
        let h = d.field(within, number, field)?;
        Elements::get_ber(v, d, &h, version).map_err(|e| e.in_field(field))
    }

    /// Inserts the JSON value at `version`.
    pub fn json_field(v: &[T; N], m: &mut Map<String, Value>, key: &str, version: u32) {
        m.insert(key.into(), Elements::json_of(v, version));
    }

    /// Writes the vmdesc entries at `version`.
    pub fn vmdesc_entries(
        v: &[T; N],
        j: &mut JsonWriter,
        name: &str,
        tag: u32,
        suffix: &str,
        has_exists: bool,
        version: u32,
    ) {
        Elements::vmdesc_of(v, j, name, tag, suffix, has_exists, version)
    }
}

/// A `Vec` of structs that counts itself (no `len`), at a chosen version: the
/// `Vec` composite (`len`, then `elems`) that a `Vec` without `len` is.
pub struct List<T>(PhantomData<T>);

impl<T: VMState + Default + Clone> List<T> {
    /// The `Vec`'s wire type.
    pub const TYPE: TypeDesc = <Vec<T> as Field>::TYPE;

    const DESC: &'static VMStateDesc = &described("Vec", &counted_fields::<T>(MAX_COUNT));

    /// Appends the count and the elements at `version`.
    pub fn legacy_put<W: std::io::Write>(v: &[T], w: &mut Writer<W>, version: u32) -> Result<()> {
        count(v.len(), MAX_COUNT, w.written())?
            .legacy_put(w)
            .map_err(|e| e.in_field("len"))?;
        Elements::put_legacy(v, w, version).map_err(|e| e.in_field("elems"))
    }

    /// Loads the count and the elements at `version`.
    pub fn legacy_get<I: Input + ?Sized>(v: &mut Vec<T>, r: &mut I, version: u32) -> Result<()> {
        let at = r.offset();
        let mut n = 0u32;
        n.legacy_get(r).map_err(|e| e.in_field("len"))?;
        let n = checked(n, MAX_COUNT, at)?;
        Elements::get_legacy_vec(v, n, r, version).map_err(|e| e.in_field("elems"))
    }

    /// Legacy bytes at `version`.
    pub fn legacy_size(v: &[T], version: u32) -> usize {
        4 + Elements::legacy_size_of(v, version)
    }

    /// Prepends the `Vec` at `version` as field `[number]`.
    pub fn ber_put_field(v: &[T], e: &mut Encoder, number: u32, version: u32) -> Result<()> {
        let end = e.len();
        let n = count(v.len(), MAX_COUNT, e.written())?;
        Elements::put_ber(e, 1, v, version).map_err(|e| e.in_field("elems"))?;
        n.ber_put_field(e, 0)?;
        e.put_header(Tag::context(number, Tag::SEQUENCE), e.len() - end);
        Ok(())
    }

    /// Reads field `[number]` of struct `within` at `version`.
    pub fn ber_get_field<I: Input + ?Sized>(
        v: &mut Vec<T>,
        d: &mut Decoder<'_, I>,
        within: &'static str,
        number: u32,
        field: &'static str,
        version: u32,
    ) -> Result<()> {
        let h = d.field(within, number, field)?;
        ber::check_form(&h, Tag::SEQUENCE).map_err(|e| e.in_field(field))?;
        d.enter(&h)?;
        let mut load = |d: &mut Decoder<'_, I>| {
            let at = d.offset();
            let mut n = 0u32;
            n.ber_get_field(d, "Vec", 0, "len")?;
            let n = checked(n, MAX_COUNT, at)?;
            if n == 0 && d.peek_header()?.is_none() {
                v.clear();
            } else {
                let eh = d.field("Vec", 1, "elems")?;
                Elements::get_ber_vec(v, n, d, &eh, version).map_err(|e| e.in_field("elems"))?;
            }
            d.end_fields("Vec")
        };
        load(d).map_err(|e| e.in_field(field))?;
        d.leave(Some("Vec"))
    }

    /// Inserts the JSON value at `version`.
    pub fn json_field(v: &[T], m: &mut Map<String, Value>, key: &str, version: u32) {
        let mut o = Map::new();
        (v.len() as u32).json_field(&mut o, "len");
        o.insert("elems".into(), Elements::json_of(v, version));
        m.insert(key.into(), Value::Object(o));
    }

    /// Writes the vmdesc entry: the `Vec` struct with its elements at `version`.
    pub fn vmdesc_entries(
        v: &[T],
        j: &mut JsonWriter,
        name: &str,
        tag: u32,
        _suffix: &str,
        _has_exists: bool,
        version: u32,
    ) {
        crate::generated::begin_entry(j, name, tag);
        j.string("type", "struct");
        j.begin_object(Some("struct"));
        vmdesc_head(Self::DESC, j);
        (v.len() as u32).vmdesc_entries(j, "len", 0, "", false);
        Elements::vmdesc_of(v, j, "elems", 1, "", false, version);
        j.end_array();
        j.end_object();
        j.int("size", Self::legacy_size(v, version) as i64);
        j.end_object();
    }
}
