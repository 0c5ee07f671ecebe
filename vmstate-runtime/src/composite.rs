//! Rust types QEMU has no VMState type for, sent as small structs of their parts,
//! so that every reader that follows a description (vmdesc, the generic converter,
//! the ASN.1 module) reads them with nothing new:
//!
//! | Rust | legacy bytes | struct (fields) |
//! |---|---|---|
//! | `Option<T>` | a presence byte (0/1), then `T` if present | `Option` (`present`, `value`) |
//! | `(A, B, ..)` | each element in order | `Tuple` (`0`, `1`, ..) |
//! | `Duration` | seconds `u64`, nanoseconds `u32` | `Duration` (`secs`, `nanos`) |
//!
//! The length-prefixed containers (`Vec<T>` without a `len` field, `String`,
//! maps) are in [`crate::counted`]. Each is a [`VMState`] of version 1, nested as a
//! struct field is, so its BER is the SEQUENCE of those fields under context tags.

use crate::ber::{Decoder, Encoder};
use crate::desc::{FieldDesc, Priority, SectionTraits, TypeDesc, VMStateDesc, VersionRange};
use crate::error::{Error, ErrorKind, Result};
use crate::field::Field;
use crate::io::{Input, Writer};
use crate::json::JsonWriter;
use crate::VMState;
use serde_json::{Map, Value};
use std::io;
use std::time::Duration;

/// The version every composite is described at.
pub(crate) const VERSION: u32 = 1;

/// A composite's field `name` (also its ASN.1 identifier), BER `[tag]`;
/// `optional` when it may be absent.
pub(crate) const fn part(name: &'static str, tag: u32, ty: TypeDesc, optional: bool) -> FieldDesc {
    named_part(name, name, tag, ty, optional)
}

/// [`part`] whose ASN.1 identifier differs from its name (a tuple's `0` is `f0`).
const fn named_part(
    name: &'static str,
    asn1_name: &'static str,
    tag: u32,
    ty: TypeDesc,
    optional: bool,
) -> FieldDesc {
    FieldDesc {
        name,
        rust_name: name,
        ty,
        versions: VersionRange::ALL,
        has_exists: optional,
        check: "",
        var_len: None,
        tag,
        asn1_name,
    }
}

/// A composite's description: `name`, version 1, these fields.
pub(crate) const fn described(name: &'static str, fields: &'static [FieldDesc]) -> VMStateDesc {
    VMStateDesc {
        name,
        version: VERSION,
        minimum_version: VERSION,
        fields,
        subsections: &[],
        ber_tag: None,
        ber_blob_until: None,
        type_name: name,
        section: SectionTraits {
            priority: Priority::Default,
            early_setup: false,
            unmigratable: false,
        },
    }
}

/// Opens a composite's vmdesc object.
pub(crate) fn vmdesc_head(desc: &VMStateDesc, j: &mut JsonWriter) {
    j.string("vmsd_name", desc.name);
    j.int("version", VERSION.into());
    j.begin_array("fields");
}

/// A value the Rust type cannot hold, at `offset`.
pub(crate) fn invalid(ty: &'static str, reason: &'static str, offset: u64) -> Error {
    Error::new(ErrorKind::InvalidValue { ty, reason }, offset)
}

/// `Field` for a hand-written composite `VMState`: what the derive emits for a
/// struct, saved at its one version.
macro_rules! composite_field {
    (impl[$($g:tt)*] for $t:ty) => {
        impl<$($g)*> $crate::field::Field for $t {
            const TYPE: $crate::desc::TypeDesc =
                $crate::desc::TypeDesc::Struct(<Self as $crate::VMState>::DESC);
            const BER_TAG: $crate::ber::Tag = $crate::ber::Tag::SEQUENCE;

            fn legacy_put<W: std::io::Write>(&self, w: &mut $crate::io::Writer<W>) -> $crate::Result<()> {
                $crate::VMState::legacy_save_at(self, w, $crate::composite::VERSION)
            }

            fn legacy_get<I: $crate::io::Input + ?Sized>(&mut self, r: &mut I) -> $crate::Result<()> {
                $crate::VMState::legacy_load_at(self, r, $crate::composite::VERSION)
            }

            fn legacy_size(&self) -> usize {
                $crate::VMState::legacy_size_at(self, $crate::composite::VERSION)
            }

            fn vmdesc_leaf(&self, _leaf: usize, _suffix: &str, j: &mut $crate::json::JsonWriter) {
                $crate::generated::struct_leaf(self, j)
            }

            fn ber_put(&self, e: &mut $crate::ber::Encoder) -> $crate::Result<()> {
                $crate::VMState::ber_save_at(self, e, $crate::composite::VERSION)
            }

            fn ber_get<I: $crate::io::Input + ?Sized>(
                &mut self,
                d: &mut $crate::ber::Decoder<'_, I>,
                h: &$crate::ber::Header,
            ) -> $crate::Result<()> {
                $crate::ber::load_struct_at(d, h, self, $crate::composite::VERSION)
            }

            fn to_json(&self) -> serde_json::Value {
                $crate::VMState::to_json_at(self, $crate::composite::VERSION)
            }
        }
    };
}
pub(crate) use composite_field;

impl<T: Field + Default> VMState for Option<T> {
    const DESC: &'static VMStateDesc = &described(
        "Option",
        &[
            part("present", 0, bool::TYPE, false),
            part("value", 1, T::TYPE, true),
        ],
    );

    fn legacy_save_at<W: io::Write>(&self, w: &mut Writer<W>, _: u32) -> Result<()> {
        self.is_some()
            .legacy_put(w)
            .map_err(|e| e.in_field("present"))?;
        match self {
            Some(v) => v.legacy_put(w).map_err(|e| e.in_field("value")),
            None => Ok(()),
        }
    }

    fn legacy_load_at<I: Input + ?Sized>(&mut self, r: &mut I, _: u32) -> Result<()> {
        let mut present = false;
        present.legacy_get(r).map_err(|e| e.in_field("present"))?;
        if !present {
            *self = None;
            return Ok(());
        }
        self.get_or_insert_with(T::default)
            .legacy_get(r)
            .map_err(|e| e.in_field("value"))
    }

    fn legacy_size_at(&self, _: u32) -> usize {
        1 + self.as_ref().map_or(0, Field::legacy_size)
    }

    fn ber_save_at(&self, e: &mut Encoder, _: u32) -> Result<()> {
        if let Some(v) = self {
            v.ber_put_field(e, 1).map_err(|e| e.in_field("value"))?;
        }
        self.is_some().ber_put_field(e, 0)
    }

    fn ber_load_at<I: Input + ?Sized>(&mut self, d: &mut Decoder<'_, I>, _: u32) -> Result<()> {
        let mut present = false;
        present.ber_get_field(d, "Option", 0, "present")?;
        if present {
            let v = self.get_or_insert_with(T::default);
            v.ber_get_field(d, "Option", 1, "value")?;
        } else {
            *self = None;
        }
        d.end_fields("Option")
    }

    fn to_json_at(&self, _: u32) -> Value {
        let mut m = Map::new();
        self.is_some().json_field(&mut m, "present");
        if let Some(v) = self {
            v.json_field(&mut m, "value");
        }
        Value::Object(m)
    }

    fn vmdesc_at(&self, _: u32, j: &mut JsonWriter) {
        vmdesc_head(Self::DESC, j);
        self.is_some().vmdesc_entries(j, "present", 0, "", false);
        if let Some(v) = self {
            v.vmdesc_entries(j, "value", 1, "", true);
        }
        j.end_array();
    }
}

composite_field!(impl[T: Field + Default] for Option<T>);

/// Tuples, up to six elements: a struct of fields `0`, `1`, ...
macro_rules! tuples {
    ($(($($t:ident $i:tt $name:literal $key:literal),+) back ($($r:tt $rn:literal),+);)*) => {$(
        impl<$($t: Field + Default),+> VMState for ($($t,)+) {
            const DESC: &'static VMStateDesc =
                &described("Tuple", &[$(named_part($name, $key, $i, $t::TYPE, false)),+]);

            fn legacy_save_at<W: io::Write>(&self, w: &mut Writer<W>, _: u32) -> Result<()> {
                $(self.$i.legacy_put(w).map_err(|e| e.in_field($name))?;)+
                Ok(())
            }

            fn legacy_load_at<I: Input + ?Sized>(&mut self, r: &mut I, _: u32) -> Result<()> {
                $(self.$i.legacy_get(r).map_err(|e| e.in_field($name))?;)+
                Ok(())
            }

            fn legacy_size_at(&self, _: u32) -> usize {
                0 $(+ self.$i.legacy_size())+
            }

            fn ber_save_at(&self, e: &mut Encoder, _: u32) -> Result<()> {
                // Back to front, as the encoder writes.
                $(self.$r.ber_put_field(e, $r).map_err(|err| err.in_field($rn))?;)+
                Ok(())
            }

            fn ber_load_at<I: Input + ?Sized>(&mut self, d: &mut Decoder<'_, I>, _: u32) -> Result<()> {
                $(self.$i.ber_get_field(d, "Tuple", $i, $name)?;)+
                d.end_fields("Tuple")
            }

            fn to_json_at(&self, _: u32) -> Value {
                let mut m = Map::new();
                $(self.$i.json_field(&mut m, $key);)+
                Value::Object(m)
            }

            fn vmdesc_at(&self, _: u32, j: &mut JsonWriter) {
                vmdesc_head(Self::DESC, j);
                $(self.$i.vmdesc_entries(j, $name, $i, "", false);)+
                j.end_array();
            }
        }

        composite_field!(impl[$($t: Field + Default),+] for ($($t,)+));
    )*};
}

tuples! {
    (A 0 "0" "f0") back (0 "0");
    (A 0 "0" "f0", B 1 "1" "f1") back (1 "1", 0 "0");
    (A 0 "0" "f0", B 1 "1" "f1", C 2 "2" "f2") back (2 "2", 1 "1", 0 "0");
    (A 0 "0" "f0", B 1 "1" "f1", C 2 "2" "f2", D 3 "3" "f3") back (3 "3", 2 "2", 1 "1", 0 "0");
    (A 0 "0" "f0", B 1 "1" "f1", C 2 "2" "f2", D 3 "3" "f3", E 4 "4" "f4") back (4 "4", 3 "3", 2 "2", 1 "1", 0 "0");
    (A 0 "0" "f0", B 1 "1" "f1", C 2 "2" "f2", D 3 "3" "f3", E 4 "4" "f4", F 5 "5" "f5") back (5 "5", 4 "4", 3 "3", 2 "2", 1 "1", 0 "0");
}

/// `Duration`: whole seconds and the nanoseconds below one (a load refuses a
/// billion or more, which `Duration` would carry into the seconds, so that saving
/// the value again gives other bytes).
impl VMState for Duration {
    const DESC: &'static VMStateDesc = &described(
        "Duration",
        &[
            part("secs", 0, u64::TYPE, false),
            part("nanos", 1, u32::TYPE, false),
        ],
    );

    fn legacy_save_at<W: io::Write>(&self, w: &mut Writer<W>, v: u32) -> Result<()> {
        (self.as_secs(), self.subsec_nanos()).legacy_save_at(w, v)
    }

    fn legacy_load_at<I: Input + ?Sized>(&mut self, r: &mut I, v: u32) -> Result<()> {
        let at = r.offset();
        let mut parts = (0u64, 0u32);
        parts.legacy_load_at(r, v)?;
        *self = duration(parts, at)?;
        Ok(())
    }

    fn legacy_size_at(&self, _: u32) -> usize {
        12
    }

    fn ber_save_at(&self, e: &mut Encoder, v: u32) -> Result<()> {
        (self.as_secs(), self.subsec_nanos()).ber_save_at(e, v)
    }

    fn ber_load_at<I: Input + ?Sized>(&mut self, d: &mut Decoder<'_, I>, _: u32) -> Result<()> {
        let at = d.offset();
        let mut parts = (0u64, 0u32);
        parts.0.ber_get_field(d, "Duration", 0, "secs")?;
        parts.1.ber_get_field(d, "Duration", 1, "nanos")?;
        d.end_fields("Duration")?;
        *self = duration(parts, at)?;
        Ok(())
    }

    fn to_json_at(&self, _: u32) -> Value {
        serde_json::json!({ "secs": self.as_secs(), "nanos": self.subsec_nanos() })
    }

    fn vmdesc_at(&self, _: u32, j: &mut JsonWriter) {
        vmdesc_head(Self::DESC, j);
        self.as_secs().vmdesc_entries(j, "secs", 0, "", false);
        self.subsec_nanos().vmdesc_entries(j, "nanos", 1, "", false);
        j.end_array();
    }
}

composite_field!(impl[] for Duration);

fn duration((secs, nanos): (u64, u32), at: u64) -> Result<Duration> {
    if nanos >= 1_000_000_000 {
        return Err(invalid("Duration", "nanos of a billion or more", at).in_field("nanos"));
    }
    Ok(Duration::new(secs, nanos))
}
