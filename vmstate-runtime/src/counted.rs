//! Containers that carry their own element count: `Vec<T>` (a field without
//! `len`), `Box<[T]>`, `VecDeque<T>`, `String`, `BTreeMap<K, V>` and
//! `HashMap<K, V>`. On the legacy wire each is QEMU's VBUFFER/VARRAY with a
//! `uint32` count in front: the count, then the elements (a `String`'s UTF-8
//! bytes; a map's entries as `(key, value)` tuples in increasing key order, so
//! that a `HashMap` saves the same bytes every time). Each is described as a
//! struct of two fields, `len` and `elems`, like the composites of
//! [`crate::composite`].
//!
//! A load accepts at most [`MAX_COUNT`] elements and allocates as elements arrive;
//! a save of more fails naming the field, so that nothing is written that cannot
//! be read back.

use crate::ber::{self, Decoder, Encoder};
use crate::composite::{composite_field, described, invalid, part, vmdesc_head};
use crate::desc::{FieldDesc, TypeDesc, VMStateDesc, VarLen};
use crate::error::{Error, ErrorKind, Result};
use crate::field::{slice_size, Element, Field};
use crate::io::{Input, Writer};
use crate::json::JsonWriter;
use crate::VMState;
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::hash::{BuildHasher, Hash};
use std::io;

/// The most elements (or bytes, for `String` and `Vec<u8>`) one container holds.
pub const MAX_COUNT: usize = 1 << 20;

/// The two fields of a counted container of `E` holding at most `max`.
pub(crate) const fn counted_fields<E: Field>(max: usize) -> [FieldDesc; 2] {
    let mut elems = part(
        "elems",
        1,
        TypeDesc::VarArray {
            elem: &E::TYPE,
            max,
        },
        false,
    );
    elems.var_len = Some(VarLen {
        len_field: "len",
        multiply: 1,
        max,
    });
    [part("len", 0, u32::TYPE, false), elems]
}

/// The count of `n` elements, if within the bound `max`.
pub(crate) fn count(n: usize, max: usize, offset: u64) -> Result<u32> {
    if n > max {
        return Err(Error::new(
            ErrorKind::LengthTooLarge {
                len: n as u64,
                max: max as u64,
            },
            offset,
        )
        .in_field("len"));
    }
    Ok(n as u32)
}

/// The elements of a container, and how one is made again from them: the
/// containers that send their own count.
pub(crate) trait Counted: VMState {
    type Elem: Field + Default + Clone;
    /// The struct name in descriptions.
    const NAME: &'static str;
    /// The elements in wire order.
    fn elements(&self) -> Cow<'_, [Self::Elem]>;
    /// The storage a load fills (the value's own, where it is a `Vec`).
    fn storage(&mut self) -> Vec<Self::Elem> {
        Vec::new()
    }
    /// The value from loaded elements, or why they are not one (at `offset`).
    fn from_elements(v: Vec<Self::Elem>, offset: u64) -> Result<Self>;
}

fn legacy_put<C: Counted, W: io::Write>(c: &C, w: &mut Writer<W>, max: usize) -> Result<()> {
    let s = c.elements();
    count(s.len(), max, w.written())?
        .legacy_put(w)
        .map_err(|e| e.in_field("len"))?;
    C::Elem::put_legacy(&s, w).map_err(|e| e.in_field("elems"))
}

fn legacy_get<C: Counted, I: Input + ?Sized>(c: &mut C, r: &mut I, max: usize) -> Result<()> {
    let at = r.offset();
    let mut n = 0u32;
    n.legacy_get(r).map_err(|e| e.in_field("len"))?;
    let n = checked(n, max, at)?;
    let mut v = c.storage();
    let start = r.offset();
    C::Elem::get_legacy_vec(&mut v, n, r).map_err(|e| e.in_field("elems"))?;
    *c = C::from_elements(v, start)?;
    Ok(())
}

/// A loaded count, if within the bound `max`.
pub(crate) fn checked(n: u32, max: usize, at: u64) -> Result<usize> {
    let n = n as usize;
    count(n, max, at).map(|_| n)
}

fn ber_put<C: Counted>(c: &C, e: &mut Encoder, max: usize) -> Result<()> {
    let s = c.elements();
    let n = count(s.len(), max, e.written())?;
    C::Elem::put_ber(e, 1, &s).map_err(|e| e.in_field("elems"))?;
    n.ber_put_field(e, 0)
}

fn ber_get<C: Counted, I: Input + ?Sized>(
    c: &mut C,
    d: &mut Decoder<'_, I>,
    max: usize,
) -> Result<()> {
    let at = d.offset();
    let mut n = 0u32;
    n.ber_get_field(d, C::NAME, 0, "len")?;
    let n = checked(n, max, at)?;
    let mut v = c.storage();
    let start = d.offset();
    // An empty container's elements may be absent: a legacy description lists
    // none, and a stream converted from it has none.
    let absent = n == 0
        && !d
            .peek_header()?
            .is_some_and(|h| h.tag == ber::Tag::context(1, ber::slice_tag::<C::Elem>()));
    if absent {
        v.clear();
    } else {
        let h = d.field(C::NAME, 1, "elems")?;
        C::Elem::get_ber_vec(&mut v, n, d, &h).map_err(|e| e.in_field("elems"))?;
    }
    d.end_fields(C::NAME)?;
    *c = C::from_elements(v, start)?;
    Ok(())
}

fn to_json<C: Counted>(c: &C) -> Value {
    let s = c.elements();
    let mut m = Map::new();
    (s.len() as u32).json_field(&mut m, "len");
    m.insert("elems".into(), C::Elem::json_of(&s));
    Value::Object(m)
}

fn vmdesc<C: Counted>(c: &C, desc: &VMStateDesc, j: &mut JsonWriter) {
    let s = c.elements();
    vmdesc_head(desc, j);
    (s.len() as u32).vmdesc_entries(j, "len", 0, "", false);
    C::Elem::vmdesc_of(&s, j, "elems", 1, "", false);
    j.end_array();
}

/// `VMState` and `Field` of a [`Counted`] type.
macro_rules! counted_vmstate {
    ($(impl[$($g:tt)*] for $t:ty;)*) => {$(
        impl<$($g)*> VMState for $t {
            const DESC: &'static VMStateDesc = &described(
                <Self as Counted>::NAME,
                &counted_fields::<<Self as Counted>::Elem>(MAX_COUNT),
            );

            fn legacy_save_at<W: io::Write>(&self, w: &mut Writer<W>, _: u32) -> Result<()> {
                legacy_put(self, w, MAX_COUNT)
            }

            fn legacy_load_at<I: Input + ?Sized>(&mut self, r: &mut I, _: u32) -> Result<()> {
                legacy_get(self, r, MAX_COUNT)
            }

            fn legacy_size_at(&self, _: u32) -> usize {
                4 + slice_size(&self.elements())
            }

            fn ber_save_at(&self, e: &mut Encoder, _: u32) -> Result<()> {
                ber_put(self, e, MAX_COUNT)
            }

            fn ber_load_at<I: Input + ?Sized>(&mut self, d: &mut Decoder<'_, I>, _: u32) -> Result<()> {
                ber_get(self, d, MAX_COUNT)
            }

            fn to_json_at(&self, _: u32) -> Value {
                to_json(self)
            }

            fn vmdesc_at(&self, _: u32, j: &mut JsonWriter) {
                vmdesc(self, Self::DESC, j)
            }
        }

        composite_field!(impl[$($g)*] for $t);
    )*};
}

counted_vmstate! {
    impl[T: Field + Default + Clone] for Vec<T>;
    impl[T: Field + Default + Clone] for Box<[T]>;
    impl[T: Field + Default + Clone] for VecDeque<T>;
    impl[] for String;
    impl[K: Field + Default + Clone + Ord, V: Field + Default + Clone] for BTreeMap<K, V>;
    impl[K: Field + Default + Clone + Ord + Hash, V: Field + Default + Clone, S: BuildHasher + Default] for HashMap<K, V, S>;
}

impl<T: Field + Default + Clone> Counted for Vec<T> {
    type Elem = T;
    const NAME: &'static str = "Vec";

    fn elements(&self) -> Cow<'_, [T]> {
        Cow::Borrowed(self)
    }

    fn storage(&mut self) -> Vec<T> {
        std::mem::take(self)
    }

    fn from_elements(v: Vec<T>, _: u64) -> Result<Self> {
        Ok(v)
    }
}

impl<T: Field + Default + Clone> Counted for Box<[T]> {
    type Elem = T;
    const NAME: &'static str = "Vec";

    fn elements(&self) -> Cow<'_, [T]> {
        Cow::Borrowed(self)
    }

    fn from_elements(v: Vec<T>, _: u64) -> Result<Self> {
        Ok(v.into_boxed_slice())
    }
}

impl<T: Field + Default + Clone> Counted for VecDeque<T> {
    type Elem = T;
    const NAME: &'static str = "Vec";

    /// In place unless the ring wraps.
    fn elements(&self) -> Cow<'_, [T]> {
        match self.as_slices() {
            (front, []) => Cow::Borrowed(front),
            _ => Cow::Owned(self.iter().cloned().collect()),
        }
    }

    fn from_elements(v: Vec<T>, _: u64) -> Result<Self> {
        Ok(v.into())
    }
}

impl Counted for String {
    type Elem = u8;
    const NAME: &'static str = "String";

    fn elements(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(self.as_bytes())
    }

    fn storage(&mut self) -> Vec<u8> {
        std::mem::take(self).into_bytes()
    }

    fn from_elements(v: Vec<u8>, offset: u64) -> Result<Self> {
        String::from_utf8(v).map_err(|e| {
            invalid(
                "String",
                "not UTF-8",
                offset + e.utf8_error().valid_up_to() as u64,
            )
            .in_field("elems")
        })
    }
}

/// A map's entries, keys strictly increasing (the only order a save writes).
fn entries<K: Ord, V>(v: Vec<(K, V)>, offset: u64) -> Result<impl Iterator<Item = (K, V)>> {
    if v.windows(2).any(|w| w[0].0 >= w[1].0) {
        return Err(invalid("map", "keys not in increasing order", offset).in_field("elems"));
    }
    Ok(v.into_iter())
}

impl<K, V> Counted for BTreeMap<K, V>
where
    K: Field + Default + Clone + Ord,
    V: Field + Default + Clone,
{
    type Elem = (K, V);
    const NAME: &'static str = "Map";

    fn elements(&self) -> Cow<'_, [(K, V)]> {
        Cow::Owned(self.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
    }

    fn from_elements(v: Vec<(K, V)>, offset: u64) -> Result<Self> {
        Ok(entries(v, offset)?.collect())
    }
}

impl<K, V, S> Counted for HashMap<K, V, S>
where
    K: Field + Default + Clone + Ord + Hash,
    V: Field + Default + Clone,
    S: BuildHasher + Default,
{
    type Elem = (K, V);
    const NAME: &'static str = "Map";

    fn elements(&self) -> Cow<'_, [(K, V)]> {
        let mut v: Vec<(K, V)> = self.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        Cow::Owned(v)
    }

    fn from_elements(v: Vec<(K, V)>, offset: u64) -> Result<Self> {
        Ok(entries(v, offset)?.collect())
    }
}

/// A counted container field with `max = MAX` (and no `len`): its count bounded
/// by `MAX` rather than [`MAX_COUNT`], in the description (the ASN.1 `SIZE`) too.
/// The derive calls these in place of the `Field` methods of the field's type,
/// through this one trait, so that a type that counts nothing is one error.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`max` without `len` bounds a container that sends its own count; `{Self}` is not one",
    label = "not Vec, Box<[T]>, VecDeque, String, BTreeMap or HashMap",
    note = "for an array or a Vec counted by another field, add `len = <field>`"
)]
pub trait Bounded<const MAX: usize>: Sized {
    /// The container's wire type, with its bound.
    const TYPE: TypeDesc;

    /// Appends the count and the elements; more than `MAX` fails.
    fn legacy_put<W: io::Write>(v: &Self, w: &mut Writer<W>) -> Result<()>;

    /// Loads a count of at most `MAX`, then the elements.
    fn legacy_get<I: Input + ?Sized>(v: &mut Self, r: &mut I) -> Result<()>;

    /// Legacy bytes.
    fn legacy_size(v: &Self) -> usize;

    /// Prepends the value as field `[number]`.
    fn ber_put_field(v: &Self, e: &mut Encoder, number: u32) -> Result<()>;

    /// Reads field `[number]` of struct `within`.
    fn ber_get_field<I: Input + ?Sized>(
        v: &mut Self,
        d: &mut Decoder<'_, I>,
        within: &'static str,
        number: u32,
        field: &'static str,
    ) -> Result<()>;

    /// Declines the in-place read: the general path checks the bound.
    fn ber_scan_field(_: &mut Self, _: &mut ber::Scan<'_>, _: u32) -> bool {
        false
    }

    /// Inserts the JSON value.
    fn json_field(v: &Self, m: &mut Map<String, Value>, key: &str);

    /// Writes the vmdesc entries.
    fn vmdesc_entries(
        v: &Self,
        j: &mut JsonWriter,
        name: &str,
        tag: u32,
        suffix: &str,
        has_exists: bool,
    );
}

impl<T: Counted, const MAX: usize> Bounded<MAX> for T {
    const TYPE: TypeDesc = TypeDesc::Struct(&described(T::NAME, &counted_fields::<T::Elem>(MAX)));

    fn legacy_put<W: io::Write>(v: &T, w: &mut Writer<W>) -> Result<()> {
        legacy_put(v, w, MAX)
    }

    fn legacy_get<I: Input + ?Sized>(v: &mut T, r: &mut I) -> Result<()> {
        legacy_get(v, r, MAX)
    }

    fn legacy_size(v: &T) -> usize {
        Field::legacy_size(v)
    }

    fn ber_put_field(v: &T, e: &mut Encoder, number: u32) -> Result<()> {
        let end = e.len();
        ber_put(v, e, MAX)?;
        e.put_header(ber::Tag::context(number, ber::Tag::SEQUENCE), e.len() - end);
        Ok(())
    }

    fn ber_get_field<I: Input + ?Sized>(
        v: &mut T,
        d: &mut Decoder<'_, I>,
        within: &'static str,
        number: u32,
        field: &'static str,
    ) -> Result<()> {
        let h = d.field(within, number, field)?;
        let mut load = |d: &mut Decoder<'_, I>| {
            ber::check_form(&h, ber::Tag::SEQUENCE)?;
            d.enter(&h)?;
            ber_get(v, d, MAX)?;
            d.leave(Some(T::NAME))
        };
        load(d).map_err(|e| e.in_field(field))
    }

    fn json_field(v: &T, m: &mut Map<String, Value>, key: &str) {
        Field::json_field(v, m, key)
    }

    fn vmdesc_entries(
        v: &T,
        j: &mut JsonWriter,
        name: &str,
        tag: u32,
        suffix: &str,
        has_exists: bool,
    ) {
        Field::vmdesc_entries(v, j, name, tag, suffix, has_exists)
    }
}
