//! The [`Field`] trait: how one value of a field type goes on the wire, and its
//! implementations for integers, `bool`, `f64` and arrays.

use crate::ber::{self, Decoder, Encoder, Header, Tag};
use crate::desc::TypeDesc;
use crate::error::{ErrorKind, Result};
use crate::io::{Input, Writer};
use crate::json::JsonWriter;
use serde_json::Value;
use std::io;

/// A type that can be a field of a `#[derive(VMState)]` struct.
///
/// Implemented here for the fixed-width integers, `bool`, `f64`, arrays, and the
/// [`Unused`](crate::Unused) / [`Timer`](crate::Timer) markers; the derive implements it
/// for structs (nested as QEMU's VMSTATE_STRUCT), `#[repr(uN)]` enums and newtypes.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a VMState field",
    label = "unsupported field type",
    note = "supported: u8..u128, i8..i128, usize and isize (as u64, i64), char (as u32), Wrapping<T>, bool, f32, f64, arrays, tuples, Option<T>, String, Vec<T>, Box<[T]>, VecDeque<T>, BTreeMap/HashMap, Duration, Box<T>, Unused<N>, Timer, QTailQ/QList/GTree, and types that derive VMState"
)]
pub trait Field {
    /// The wire type.
    const TYPE: TypeDesc;

    /// Appends the legacy (QEMU) encoding of `self`.
    fn legacy_put<W: io::Write>(&self, w: &mut Writer<W>) -> Result<()>;

    /// Replaces `self` by the value read from `r`.
    fn legacy_get<I: Input + ?Sized>(&mut self, r: &mut I) -> Result<()>;

    /// Bytes [`legacy_put`](Self::legacy_put) writes.
    fn legacy_size(&self) -> usize;

    /// The BER tag of this type's own encoding: a universal type, or `[APPLICATION n]`
    /// for a struct that asked for one. As a struct field it is replaced by the
    /// field's context tag, keeping the form.
    const BER_TAG: Tag;

    /// Prepends the BER contents octets to `e`, which encodes back to front (the
    /// caller then prepends the header, knowing the length).
    fn ber_put(&self, e: &mut Encoder) -> Result<()>;

    /// Replaces `self` by the value whose header `h` was just consumed (its form
    /// already checked against [`BER_TAG`](Self::BER_TAG)).
    fn ber_get<I: Input + ?Sized>(&mut self, d: &mut Decoder<'_, I>, h: &Header) -> Result<()>;

    /// Prepends the whole TLV under `tag` (this type's own tag, or a field's context
    /// tag in its form). Integers override it to write header and contents at once.
    #[doc(hidden)]
    #[inline]
    fn ber_put_tlv(&self, e: &mut Encoder, tag: Tag) -> Result<()> {
        let end = e.len();
        self.ber_put(e)?;
        e.put_header(tag, e.len() - end);
        Ok(())
    }

    /// The common encoding in one step, if this type has one: when the next value
    /// has the one-octet identifier `id` and its contents are in their usual form,
    /// consumes it and returns the load's result; `None` leaves the input for the
    /// general path (header, then [`ber_get`](Self::ber_get)), which accepts and
    /// refuses the same input. Integers have one; other types return `None`.
    #[doc(hidden)]
    #[inline(always)]
    fn ber_get_short<I: Input + ?Sized>(
        &mut self,
        d: &mut Decoder<'_, I>,
        id: u8,
    ) -> Option<Result<()>> {
        let _ = (d, id);
        None
    }

    /// Reads the value with identifier `id` in place, in the form vmstate writes
    /// (see [`ber::Scan`]); `false` if it cannot, for the general path
    /// ([`ber_get`](Self::ber_get)) to read or refuse the whole enclosing struct.
    ///
    /// Optional: the default declines, which is always correct. A hand-written
    /// `Field` implements it so that the structs holding it decode in place; it must
    /// take only what `ber_get` accepts, with the same value.
    #[inline(always)]
    fn ber_scan(&mut self, s: &mut ber::Scan<'_>, id: ber::Id) -> bool {
        let _ = (s, id);
        false
    }

    /// Loads the leading elements of an array of this type (whose header was
    /// entered) in one run where their encoding allows; returns how many. The
    /// general path takes the rest. Integers have such a run; others load none.
    #[doc(hidden)]
    #[inline(always)]
    fn ber_get_run<I: Input + ?Sized>(s: &mut [Self], d: &mut Decoder<'_, I>) -> Result<usize>
    where
        Self: Sized,
    {
        let _ = (s, d);
        Ok(0)
    }

    /// [`ber_get_run`](Self::ber_get_run) for a scan (see [`ber::Scan`]): the
    /// leading elements of an array entered, in one run; returns how many.
    #[doc(hidden)]
    #[inline(always)]
    fn ber_scan_run(s: &mut [Self], scan: &mut ber::Scan<'_>) -> usize
    where
        Self: Sized,
    {
        let _ = (s, scan);
        0
    }

    /// Prepends the elements of an array of this type, each under its own tag
    /// (the last first). Integers override it with a loop that cannot fail.
    #[doc(hidden)]
    #[inline]
    fn ber_put_run(s: &[Self], e: &mut Encoder) -> Result<()>
    where
        Self: Sized,
    {
        for (i, x) in s.iter().enumerate().rev() {
            x.ber_put_tlv(e, Self::BER_TAG)
                .map_err(|err| err.in_index(i))?;
        }
        Ok(())
    }

    /// Prepends this value as field `[number]` of a struct. Padding (`Unused`) is
    /// not sent: that is decided here, per field type, so the derive emits no check
    /// per field (and an unsupported type is reported once, as not being a `Field`).
    #[doc(hidden)]
    #[inline]
    fn ber_put_field(&self, e: &mut Encoder, number: u32) -> Result<()>
    where
        Self: Sized,
    {
        if const { Self::TYPE.is_unused() } {
            return Ok(());
        }
        self.ber_put_tlv(e, Tag::context(number, Self::BER_TAG))
    }

    /// Reads this value as field `[number]` (Rust name `field`) of struct `within`;
    /// errors carry the field in their path. Padding is not sent, so not read.
    #[doc(hidden)]
    #[inline]
    fn ber_get_field<I: Input + ?Sized>(
        &mut self,
        d: &mut Decoder<'_, I>,
        within: &'static str,
        number: u32,
        field: &'static str,
    ) -> Result<()>
    where
        Self: Sized,
    {
        if const { Self::TYPE.is_unused() } {
            return Ok(());
        }
        if let Some(id) = Tag::context(number, Self::BER_TAG).short_identifier() {
            if let Some(r) = self.ber_get_short(d, id) {
                return r.map_err(|e| e.in_field(field));
            }
        }
        // An array or struct in memory, read in place (a struct whose own fields
        // cannot all be scanned still has fields that can: an array of 256 small
        // structs took most of a PIIX4 power manager's load element by element).
        if Self::BER_TAG.constructed && d.scan(|s| self.ber_scan_field(s, number)) {
            return Ok(());
        }
        let h = d.field(within, number, field)?;
        ber::get_contents(d, &h, self).map_err(|e| e.in_field(field))
    }

    /// Scans this value as field `[number]` (see [`ber::Scan`]); padding is not
    /// sent, so passes.
    #[doc(hidden)]
    #[inline(always)]
    fn ber_scan_field(&mut self, s: &mut ber::Scan<'_>, number: u32) -> bool
    where
        Self: Sized,
    {
        if const { Self::TYPE.is_unused() } {
            return true;
        }
        match ber::Id::of(Tag::context(number, Self::BER_TAG)) {
            Some(id) => self.ber_scan(s, id),
            None => false,
        }
    }

    /// Inserts this field's JSON under `key`, unless it is padding (not in the BER
    /// schema).
    #[doc(hidden)]
    #[inline]
    fn json_field(&self, m: &mut serde_json::Map<String, Value>, key: &str)
    where
        Self: Sized,
    {
        if !const { Self::TYPE.is_unused() } {
            m.insert(key.into(), self.to_json());
        }
    }

    /// The value as JSON, in the form the ASN.1 JSON Encoding Rules (X.697, as
    /// asn1tools writes them) give its BER schema: integers as numbers, enums by
    /// variant identifier, octets as upper-case hex, structs as objects.
    fn to_json(&self) -> Value;

    /// Number of vmdesc entries this value describes as: elements for arrays
    /// (flattened), one otherwise.
    fn vmdesc_leaves(&self) -> usize {
        1
    }

    /// Writes the `type`, nested `struct` and `size` members of vmdesc entry `leaf`.
    /// `suffix` is appended to the type name (`" equal"` for `equal` fields).
    fn vmdesc_leaf(&self, leaf: usize, suffix: &str, j: &mut JsonWriter) {
        let _ = leaf;
        j.string("type", &format!("{}{suffix}", Self::TYPE.qemu_name()));
        j.int("size", self.legacy_size() as i64);
    }

    /// Writes this field's vmdesc entries (not a variable array's): one generic
    /// method per field type, not a closure and a copy per field, which keeps the
    /// derive's output small to compile.
    #[doc(hidden)]
    fn vmdesc_entries(
        &self,
        j: &mut JsonWriter,
        name: &str,
        tag: u32,
        suffix: &str,
        has_exists: bool,
    ) where
        Self: Sized,
    {
        let shape = crate::generated::VmdescShape {
            is_array: matches!(Self::TYPE, TypeDesc::Array { .. }),
            elem_type: Self::TYPE.qemu_name(),
            elem: Self::TYPE.element(),
        };
        let compress = !has_exists && Self::TYPE.compressible() && self.uniform_elements();
        let leaves = self.vmdesc_leaves();
        crate::generated::vmdesc_field(j, name, tag, leaves, compress, shape, &mut |i, j| {
            self.vmdesc_leaf(i, suffix, j)
        });
    }

    /// Whether an array's elements all have one legacy size, so that one entry
    /// with `array_len` describes them all; true of anything else.
    #[doc(hidden)]
    fn uniform_elements(&self) -> bool {
        true
    }

    /// Whether a slice of this type is raw bytes (copied in one block, described as a
    /// `buffer`). Only `u8` says yes.
    #[doc(hidden)]
    const IS_BYTE: bool = false;

    /// Encodes a slice; `u8` overrides this with one bulk write.
    #[doc(hidden)]
    fn legacy_put_slice<W: io::Write>(s: &[Self], w: &mut Writer<W>) -> Result<()>
    where
        Self: Sized,
    {
        for (i, e) in s.iter().enumerate() {
            e.legacy_put(w).map_err(|e| e.in_index(i))?;
        }
        Ok(())
    }

    /// Decodes into a slice; `u8` overrides this with one bulk read.
    #[doc(hidden)]
    fn legacy_get_slice<I: Input + ?Sized>(s: &mut [Self], r: &mut I) -> Result<()>
    where
        Self: Sized,
    {
        get_each(s, 0, r)
    }
}

/// Decodes into `s` element by element; `first` is the index of `s[0]` in the
/// array, for the error's path.
fn get_each<T: Field, I: Input + ?Sized>(s: &mut [T], first: usize, r: &mut I) -> Result<()> {
    for (i, e) in s.iter_mut().enumerate() {
        e.legacy_get(r).map_err(|e| e.in_index(first + i))?;
    }
    Ok(())
}

/// Octets converted per run by the integers' bulk slice codecs: one write, or one
/// bounds check, per run rather than per element.
const RUN: usize = 256;

/// A slice of big-endian integers of one type: one run of [`RUN`] octets at a
/// time, each element one load, byte swap and store. (Written so that the
/// compiler does not vectorize it: x86-64's baseline has no byte shuffle, and its
/// vectorized swap measured slower than this loop.) A run that the input cuts
/// short is read element by element, so that the error names the element and its
/// offset exactly as one read at a time would.
macro_rules! be_runs {
    ($t:ty) => {
        #[inline]
        fn legacy_put_slice<W: io::Write>(s: &[Self], w: &mut Writer<W>) -> Result<()> {
            const N: usize = std::mem::size_of::<$t>();
            let mut buf = [0u8; RUN];
            for (k, run) in s.chunks(RUN / N).enumerate() {
                let mut rest = &mut buf[..];
                for v in run {
                    if let Some((d, tail)) = std::mem::take(&mut rest).split_first_chunk_mut::<N>()
                    {
                        *d = v.to_be_bytes();
                        rest = tail;
                    }
                }
                w.put(&buf[..run.len() * N])
                    .map_err(|e| e.in_index(k * (RUN / N)))?;
            }
            Ok(())
        }

        #[inline]
        fn legacy_get_slice<I: Input + ?Sized>(s: &mut [Self], r: &mut I) -> Result<()> {
            const N: usize = std::mem::size_of::<$t>();
            for (k, run) in s.chunks_mut(RUN / N).enumerate() {
                let len = run.len() * N;
                let b = r.peek(len)?;
                if b.len() < len {
                    get_each(run, k * (RUN / N), r)?;
                    continue;
                }
                let mut rest = b;
                for v in run.iter_mut() {
                    if let Some((d, tail)) = rest.split_first_chunk::<N>() {
                        *v = <$t>::from_be_bytes(*d);
                        rest = tail;
                    }
                }
                r.skip(len)?;
            }
            Ok(())
        }
    };
}

/// Total legacy size of a slice of fields.
pub fn slice_size<T: Field>(s: &[T]) -> usize {
    match T::TYPE.fixed_size() {
        Some(n) => n * s.len(),
        None => s.iter().map(Field::legacy_size).sum(),
    }
}

/// Whether the elements of a slice all have one legacy size: then one vmdesc entry
/// with `array_len` describes them (QEMU gives the first element's size for all of
/// them, which a reader takes for each).
fn slice_uniform<T: Field>(s: &[T]) -> bool {
    T::TYPE.fixed_size().is_some()
        || s.windows(2)
            .all(|w| w[0].legacy_size() == w[1].legacy_size())
}

/// vmdesc leaves of a slice: one `buffer` for bytes, else the elements' leaves.
pub fn slice_leaves<T: Field>(s: &[T]) -> usize {
    if T::IS_BYTE {
        usize::from(!s.is_empty())
    } else {
        s.first().map_or(0, |e| e.vmdesc_leaves() * s.len())
    }
}

/// vmdesc leaf `leaf` of a slice.
pub fn slice_leaf<T: Field>(s: &[T], leaf: usize, suffix: &str, j: &mut JsonWriter) {
    if T::IS_BYTE {
        j.string("type", "buffer");
        j.int("size", s.len() as i64);
    } else if let Some(first) = s.first() {
        let per = first.vmdesc_leaves().max(1);
        if let Some(e) = s.get(leaf / per) {
            e.vmdesc_leaf(leaf % per, suffix, j);
        }
    }
}

/// The fixed-width integers: what an `le` field may be (QEMU's `_POSITIVE_LE`).
#[diagnostic::on_unimplemented(
    message = "`le` compares integers; `{Self}` is not one",
    label = "not an integer"
)]
pub trait Integer: Field + PartialOrd + Default + Copy {}

/// Stores value `x` as element `i` of `s`, if `T` holds it.
#[inline(always)]
fn store_in<T: TryFrom<i64>>(s: &mut [T]) -> impl FnMut(usize, i64) -> bool + '_ {
    |i, x| match (s.get_mut(i), T::try_from(x)) {
        (Some(e), Ok(v)) => {
            *e = v;
            true
        }
        _ => false,
    }
}

macro_rules! int_field {
    ($($t:ty => $name:literal $({ $($extra:tt)* })?),* $(,)?) => {$(
        impl Integer for $t {}

        impl Field for $t {
            const TYPE: TypeDesc = TypeDesc::Scalar { name: $name, size: std::mem::size_of::<$t>() };
            $($($extra)*)?

            #[inline]
            fn legacy_put<W: io::Write>(&self, w: &mut Writer<W>) -> Result<()> {
                w.put(&self.to_be_bytes())
            }

            #[inline]
            fn legacy_get<I: Input + ?Sized>(&mut self, r: &mut I) -> Result<()> {
                *self = <$t>::from_be_bytes(r.read_array()?);
                Ok(())
            }

            #[inline]
            fn legacy_size(&self) -> usize {
                std::mem::size_of::<$t>()
            }

            const BER_TAG: Tag = Tag::INTEGER;

            #[inline]
            fn ber_put(&self, e: &mut Encoder) -> Result<()> {
                e.put_int(*self as i128);
                Ok(())
            }

            #[inline(always)]
            fn ber_put_tlv(&self, e: &mut Encoder, tag: Tag) -> Result<()> {
                e.put_int_tlv(tag, *self as i128);
                Ok(())
            }

            #[inline(always)]
            fn ber_get_run<I: Input + ?Sized>(s: &mut [Self], d: &mut Decoder<'_, I>) -> Result<usize> {
                d.short_integers(ber::INTEGER_ID, s.len(), store_in(s))
            }

            #[inline(always)]
            fn ber_scan_run(s: &mut [Self], scan: &mut ber::Scan<'_>) -> usize {
                scan.ints(ber::INTEGER_ID, s.len(), store_in(s))
            }

            #[inline]
            fn ber_put_run(s: &[Self], e: &mut Encoder) -> Result<()> {
                e.put_int_run(s, |v| v as i128);
                Ok(())
            }

            #[inline]
            fn ber_get<I: Input + ?Sized>(&mut self, d: &mut Decoder<'_, I>, h: &Header) -> Result<()> {
                let v = d.integer(h)?;
                *self = <$t>::try_from(v).map_err(|_| ber::out_of_range(v, $name, h))?;
                Ok(())
            }

            #[inline(always)]
            fn ber_scan(&mut self, s: &mut ber::Scan<'_>, id: ber::Id) -> bool {
                match s.int(id).map(<$t>::try_from) {
                    Some(Ok(v)) => {
                        *self = v;
                        true
                    }
                    _ => false,
                }
            }

            #[inline(always)]
            fn ber_get_short<I: Input + ?Sized>(
                &mut self,
                d: &mut Decoder<'_, I>,
                id: u8,
            ) -> Option<Result<()>> {
                let at = d.offset();
                let v = d.short_integer(id)?;
                Some(match <$t>::try_from(v) {
                    Ok(v) => {
                        *self = v;
                        Ok(())
                    }
                    Err(_) => Err(ber::out_of_range_at(v.into(), $name, at)),
                })
            }

            fn to_json(&self) -> Value {
                Value::from(*self)
            }
        }
    )*};
}

int_field!(
    u8 => "uint8" {
        const IS_BYTE: bool = true;

        fn legacy_put_slice<W: io::Write>(s: &[Self], w: &mut Writer<W>) -> Result<()> {
            w.put(s)
        }

        fn legacy_get_slice<I: Input + ?Sized>(s: &mut [Self], r: &mut I) -> Result<()> {
            r.read_exact(s)
        }
    },
    u16 => "uint16" { be_runs!(u16); },
    u32 => "uint32" { be_runs!(u32); },
    u64 => "uint64" { be_runs!(u64); },
    i8 => "int8",
    i16 => "int16" { be_runs!(i16); },
    i32 => "int32" { be_runs!(i32); },
    i64 => "int64" { be_runs!(i64); },
);

impl Field for bool {
    const TYPE: TypeDesc = TypeDesc::Scalar {
        name: "bool",
        size: 1,
    };
    const BER_TAG: Tag = Tag::BOOLEAN;

    /// DER's TRUE, `0xff`.
    fn ber_put(&self, e: &mut Encoder) -> Result<()> {
        e.put(&[if *self { 0xff } else { 0 }]);
        Ok(())
    }

    fn ber_get<I: Input + ?Sized>(&mut self, d: &mut Decoder<'_, I>, h: &Header) -> Result<()> {
        *self = d.boolean(h)?;
        Ok(())
    }

    #[inline]
    fn ber_scan(&mut self, s: &mut ber::Scan<'_>, id: ber::Id) -> bool {
        s.octets(id, 1).map(|b| *self = b[0] != 0).is_some()
    }

    fn to_json(&self) -> Value {
        Value::Bool(*self)
    }

    fn legacy_put<W: io::Write>(&self, w: &mut Writer<W>) -> Result<()> {
        w.put(&[u8::from(*self)])
    }

    /// QEMU writes 0 or 1; anything else is rejected so that a re-encode is exact.
    fn legacy_get<I: Input + ?Sized>(&mut self, r: &mut I) -> Result<()> {
        let at = r.offset();
        *self = match r.read_array::<1>()?[0] {
            0 => false,
            1 => true,
            b => return Err(crate::Error::new(ErrorKind::InvalidBool(b), at)),
        };
        Ok(())
    }

    fn legacy_size(&self) -> usize {
        1
    }
}

impl<T: Field, const N: usize> Field for [T; N] {
    const TYPE: TypeDesc = if T::IS_BYTE {
        TypeDesc::Buffer(N)
    } else {
        TypeDesc::Array {
            elem: &T::TYPE,
            len: N,
        }
    };

    fn legacy_put<W: io::Write>(&self, w: &mut Writer<W>) -> Result<()> {
        T::legacy_put_slice(self, w)
    }

    fn legacy_get<I: Input + ?Sized>(&mut self, r: &mut I) -> Result<()> {
        T::legacy_get_slice(self, r)
    }

    fn legacy_size(&self) -> usize {
        slice_size(self)
    }

    fn uniform_elements(&self) -> bool {
        slice_uniform(self)
    }

    fn vmdesc_leaves(&self) -> usize {
        slice_leaves(self)
    }

    fn vmdesc_leaf(&self, leaf: usize, suffix: &str, j: &mut JsonWriter) {
        slice_leaf(self, leaf, suffix, j)
    }

    const BER_TAG: Tag = ber::slice_tag::<T>();

    fn ber_put(&self, e: &mut Encoder) -> Result<()> {
        ber::put_slice(self, e)
    }

    fn ber_get<I: Input + ?Sized>(&mut self, d: &mut Decoder<'_, I>, h: &Header) -> Result<()> {
        ber::get_slice(self, d, h)
    }

    #[inline]
    fn ber_scan(&mut self, s: &mut ber::Scan<'_>, id: ber::Id) -> bool {
        ber::scan_slice(self, s, id)
    }

    fn to_json(&self) -> Value {
        ber::slice_json(self)
    }
}

/// `Element` and its one implementation, from one list of the methods (each
/// signature written once; generics in brackets).
/// A field behind a pointer (QEMU's `VMSTATE_STRUCT_POINTER`,
/// `VMSTATE_ARRAY_OF_POINTER_TO_STRUCT`): on the wire exactly the value pointed to.
impl<T: Field> Field for Box<T> {
    const TYPE: TypeDesc = T::TYPE;
    const BER_TAG: Tag = T::BER_TAG;

    fn legacy_put<W: io::Write>(&self, w: &mut Writer<W>) -> Result<()> {
        (**self).legacy_put(w)
    }

    fn legacy_get<I: Input + ?Sized>(&mut self, r: &mut I) -> Result<()> {
        (**self).legacy_get(r)
    }

    fn legacy_size(&self) -> usize {
        (**self).legacy_size()
    }

    fn vmdesc_leaves(&self) -> usize {
        (**self).vmdesc_leaves()
    }

    fn vmdesc_leaf(&self, leaf: usize, suffix: &str, j: &mut JsonWriter) {
        (**self).vmdesc_leaf(leaf, suffix, j)
    }

    fn ber_put(&self, e: &mut Encoder) -> Result<()> {
        (**self).ber_put(e)
    }

    fn ber_get<I: Input + ?Sized>(&mut self, d: &mut Decoder<'_, I>, h: &Header) -> Result<()> {
        (**self).ber_get(d, h)
    }

    fn ber_put_tlv(&self, e: &mut Encoder, tag: Tag) -> Result<()> {
        (**self).ber_put_tlv(e, tag)
    }

    fn ber_get_short<I: Input + ?Sized>(
        &mut self,
        d: &mut Decoder<'_, I>,
        id: u8,
    ) -> Option<Result<()>> {
        (**self).ber_get_short(d, id)
    }

    fn ber_scan(&mut self, s: &mut ber::Scan<'_>, id: ber::Id) -> bool {
        (**self).ber_scan(s, id)
    }

    fn to_json(&self) -> Value {
        (**self).to_json()
    }
}

macro_rules! element {
    ($($(#[$doc:meta])* fn $name:ident [$($g:tt)*] $args:tt -> $ret:ty
        $(where Self: $bound:ident)? $body:block)*) => {
        /// The element type of a variable array, as the derive's code uses it:
        /// everything it does with the elements goes through this one trait,
        /// implemented for every [`Field`] (and with no bound of its own, so that an
        /// element type that is not a `Field` is one error, at the field, rather
        /// than one per use).
        #[doc(hidden)]
        #[diagnostic::on_unimplemented(
            message = "`{Self}` cannot be a VMState field",
            label = "unsupported element type",
            note = "supported: u8..u128, i8..i128, usize and isize (as u64, i64), char (as u32), Wrapping<T>, bool, f32, f64, arrays, tuples, Option<T>, String, Vec<T>, Box<[T]>, VecDeque<T>, BTreeMap/HashMap, Duration, Box<T>, Unused<N>, Timer, QTailQ/QList/GTree, and types that derive VMState"
        )]
        pub trait Element: Sized {
            /// The element's wire type.
            const ELEMENT_TYPE: &'static TypeDesc;
            /// Whether the elements go as one buffer (bytes).
            const ELEMENT_IS_BYTE: bool;
            $($(#[$doc])* fn $name<$($g)*> $args -> $ret $(where Self: $bound)?;)*
        }

        impl<T: Field> Element for T {
            const ELEMENT_TYPE: &'static TypeDesc = &T::TYPE;
            const ELEMENT_IS_BYTE: bool = T::IS_BYTE;
            $(#[inline] fn $name<$($g)*> $args -> $ret $(where Self: $bound)? $body)*
        }
    };
}

element! {
    /// Legacy encoding of the elements.
    fn put_legacy[W: io::Write](s: &[Self], w: &mut Writer<W>) -> Result<()> {
        T::legacy_put_slice(s, w)
    }

    /// Legacy decoding into an array's elements.
    fn get_legacy[I: Input + ?Sized](s: &mut [Self], r: &mut I) -> Result<()> {
        T::legacy_get_slice(s, r)
    }

    /// Legacy decoding of `n` elements into a `Vec`.
    fn get_legacy_vec[I: Input + ?Sized](v: &mut Vec<Self>, n: usize, r: &mut I) -> Result<()>
    where Self: Default {
        crate::legacy::legacy_get_vec(v, n, r)
    }

    /// Legacy size of the elements.
    fn legacy_size_of[](s: &[Self]) -> usize {
        slice_size(s)
    }

    /// BER: prepends the elements as field `[number]`.
    fn put_ber[](e: &mut Encoder, number: u32, s: &[Self]) -> Result<()> {
        ber::put_slice_field(e, number, s)
    }

    /// BER decoding into an array's elements (the header `h` consumed).
    fn get_ber[I: Input + ?Sized](s: &mut [Self], d: &mut Decoder<'_, I>, h: &Header) -> Result<()> {
        ber::get_slice(s, d, h)
    }

    /// BER decoding of `n` elements into a `Vec` (the header `h` consumed).
    fn get_ber_vec[I: Input + ?Sized](v: &mut Vec<Self>, n: usize, d: &mut Decoder<'_, I>, h: &Header) -> Result<()>
    where Self: Default {
        ber::get_vec(v, n, d, h)
    }

    /// JSON of the elements.
    fn json_of[](s: &[Self]) -> Value {
        ber::slice_json(s)
    }

    /// The elements' vmdesc entry `name` (field `[tag]`; `suffix` after type names).
    fn vmdesc_of[](s: &[Self], j: &mut JsonWriter, name: &str, tag: u32, suffix: &str, exists: bool) -> () {
        let shape = crate::generated::VmdescShape {
            is_array: !T::IS_BYTE,
            elem_type: if T::IS_BYTE { "buffer" } else { T::TYPE.qemu_name() },
            elem: &T::TYPE,
        };
        let compress = !exists && T::TYPE.compressible() && slice_uniform(s);
        let leaves = slice_leaves(s);
        crate::generated::vmdesc_field(j, name, tag, leaves, compress, shape, &mut |i, j| {
            slice_leaf(s, i, suffix, j)
        });
    }
}

/// Integer types that can hold a variable array's length (`len = field`), type
/// aliases of them included.
#[diagnostic::on_unimplemented(
    message = "`len` must name an integer field (u8..u64, i8..i64); `{Self}` is not one",
    label = "the length of a variable array"
)]
pub trait VarLenField {
    /// The element count, or an error for negative values.
    fn element_count(&self) -> Result<usize, ErrorKind>;

    /// The element count, checked against the bound `max` and the `available`
    /// storage; errors at `offset`.
    #[doc(hidden)]
    fn checked_count(&self, max: usize, available: usize, offset: u64) -> Result<usize> {
        let n = self
            .element_count()
            .map_err(|k| crate::Error::new(k, offset))?;
        let kind = if n > max {
            ErrorKind::LengthTooLarge {
                len: n as u64,
                max: max as u64,
            }
        } else if n > available {
            ErrorKind::LengthMismatch {
                len: n as u64,
                available: available as u64,
            }
        } else {
            return Ok(n);
        };
        Err(crate::Error::new(kind, offset))
    }

    /// The count a size pass, a description or JSON uses when the value is
    /// inconsistent (a save reports the error).
    #[doc(hidden)]
    fn lenient_count(&self, available: usize) -> usize {
        self.element_count().unwrap_or(0).min(available)
    }
}

/// A count field times a constant (QEMU's `_MULTIPLY`: `len = f, multiply = m`).
#[doc(hidden)]
pub struct Scaled<'a, T>(pub &'a T, pub usize);

impl<T: VarLenField> VarLenField for Scaled<'_, T> {
    fn element_count(&self) -> Result<usize, ErrorKind> {
        let n = self.0.element_count()?;
        n.checked_mul(self.1).ok_or(ErrorKind::LengthTooLarge {
            len: u64::MAX,
            max: usize::MAX as u64,
        })
    }
}

/// A count known at compile time (`elements = A..B`).
#[doc(hidden)]
pub struct Fixed(pub usize);

impl VarLenField for Fixed {
    fn element_count(&self) -> Result<usize, ErrorKind> {
        Ok(self.0)
    }
}

macro_rules! var_len {
    ($($t:ty),*) => {$(
        impl VarLenField for $t {
            #[allow(clippy::unnecessary_fallible_conversions, irrefutable_let_patterns)]
            fn element_count(&self) -> Result<usize, ErrorKind> {
                usize::try_from(*self).map_err(|_| ErrorKind::NegativeLength(*self as i64))
            }
        }
    )*};
}
var_len!(u8, u16, u32, u64, i8, i16, i32, i64);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::legacy::SliceInput;

    fn enc<T: Field>(v: &T) -> Vec<u8> {
        let mut w = Writer::new(Vec::new());
        v.legacy_put(&mut w).unwrap();
        w.into_inner()
    }

    #[test]
    fn scalars_are_big_endian() {
        assert_eq!(enc(&0x0102_0304u32), [1, 2, 3, 4]);
        assert_eq!(enc(&-2i16), [0xff, 0xfe]);
        assert_eq!(enc(&true), [1]);
        assert_eq!(enc(&1.0f64), 1.0f64.to_bits().to_be_bytes());
        assert_eq!(enc(&[[1u16, 2], [3, 4]]), [0, 1, 0, 2, 0, 3, 0, 4]);
    }

    #[test]
    fn bool_rejects_other_bytes() {
        let mut b = false;
        let e = b.legacy_get(&mut SliceInput::new(&[2])).unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::InvalidBool(2));
    }

    #[test]
    fn array_types() {
        assert_eq!(<[u8; 4]>::TYPE, TypeDesc::Buffer(4));
        assert_eq!(<[u32; 3]>::TYPE.fixed_size(), Some(12));
        assert_eq!(<[u32; 3]>::TYPE.qemu_name(), "uint32");
        assert_eq!([0u32; 3].vmdesc_leaves(), 3);
        assert_eq!([[0u16; 2]; 3].vmdesc_leaves(), 6);
        assert_eq!([0u8; 3].vmdesc_leaves(), 1);
    }

    #[test]
    fn negative_lengths_are_errors() {
        assert_eq!((-1i32).element_count(), Err(ErrorKind::NegativeLength(-1)));
        assert_eq!(7u8.element_count(), Ok(7));
    }
}
