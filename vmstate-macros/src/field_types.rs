//! Generates `Field` for the types that are one value on the wire: `#[repr(uN)]`
//! fieldless enums and `transparent` newtypes.

use crate::asn1;
use proc_macro2::TokenStream;
use quote::quote;
use syn::{Generics, Ident, Type};

pub fn enum_field(ident: &Ident, repr: &Ident, variants: &[&Ident]) -> TokenStream {
    let to_raw = variants
        .iter()
        .map(|v| quote!(Self::#v => Self::#v as #repr));
    let from_raw = variants
        .iter()
        .map(|v| quote!(__x if __x == Self::#v as #repr => Self::#v));
    let mut names: Vec<(String, u32)> = variants
        .iter()
        .enumerate()
        .map(|(i, v)| (asn1::identifier(&v.to_string()), i as u32))
        .collect();
    asn1::dedup(&mut names, &[]);
    let names: Vec<&String> = names.iter().map(|(n, _)| n).collect();
    // The raw value as the number it is: signed reprs report negatives as such.
    let invalid = if repr.to_string().starts_with('i') {
        quote!(__vm::invalid_signed_discriminant(__other as i64, __at))
    } else {
        quote!(__vm::invalid_discriminant(__other as u64, __at))
    };
    let described = variants
        .iter()
        .zip(&names)
        .map(|(v, n)| quote!((#n, Self::#v as i64)));
    let to_name = variants
        .iter()
        .zip(&names)
        .map(|(v, n)| quote!(Self::#v => #n));
    quote! {
        impl #ident {
            fn __vmstate_raw(&self) -> #repr {
                match self { #(#to_raw,)* }
            }

            fn __vmstate_from_raw(__raw: #repr, __at: u64) -> __vm::Result<Self> {
                __vm::Ok(match __raw {
                    #(#from_raw,)*
                    __other => return __vm::Err(#invalid),
                })
            }
        }

        impl __vm::Field for #ident {
            const TYPE: __vm::TypeDesc = __vm::TypeDesc::Enum {
                repr: &<#repr as __vm::Field>::TYPE,
                variants: &[#(#described),*],
            };

            fn legacy_put<W: __vm::Write>(&self, w: &mut __vm::Writer<W>) -> __vm::Result<()> {
                __vm::Field::legacy_put(&self.__vmstate_raw(), w)
            }

            fn legacy_get<I: __vm::Input + ?Sized>(&mut self, r: &mut I) -> __vm::Result<()> {
                let __at = r.offset();
                let mut __raw: #repr = 0;
                __vm::Field::legacy_get(&mut __raw, r)?;
                *self = Self::__vmstate_from_raw(__raw, __at)?;
                __vm::Ok(())
            }

            fn legacy_size(&self) -> usize {
                ::core::mem::size_of::<#repr>()
            }

            const BER_TAG: __vm::ber::Tag = __vm::ber::Tag::ENUMERATED;

            fn ber_put(&self, e: &mut __vm::ber::Encoder) -> __vm::Result<()> {
                __vm::Field::ber_put(&self.__vmstate_raw(), e)
            }

            #[inline(always)]
            fn ber_put_tlv(&self, e: &mut __vm::ber::Encoder, tag: __vm::ber::Tag) -> __vm::Result<()> {
                __vm::Field::ber_put_tlv(&self.__vmstate_raw(), e, tag)
            }

            fn ber_get<I: __vm::Input + ?Sized>(&mut self, d: &mut __vm::ber::Decoder<'_, I>, h: &__vm::ber::Header) -> __vm::Result<()> {
                let mut __raw: #repr = 0;
                __vm::Field::ber_get(&mut __raw, d, h)?;
                *self = Self::__vmstate_from_raw(__raw, h.offset)?;
                __vm::Ok(())
            }

            #[inline]
            fn ber_scan(&mut self, s: &mut __vm::ber::Scan<'_>, id: __vm::ber::Id) -> bool {
                let mut __raw: #repr = 0;
                if !__vm::Field::ber_scan(&mut __raw, s, id) {
                    return false;
                }
                match Self::__vmstate_from_raw(__raw, 0) {
                    __vm::Ok(v) => {
                        *self = v;
                        true
                    }
                    __vm::Err(_) => false,
                }
            }

            fn to_json(&self) -> __vm::JsonValue {
                __vm::JsonValue::from(match self { #(#to_name,)* })
            }
        }
    }
}

/// A newtype's legacy methods: its inner field's.
fn legacy_of_inner() -> TokenStream {
    quote! {
        fn legacy_put<W: __vm::Write>(&self, w: &mut __vm::Writer<W>) -> __vm::Result<()> {
            __vm::Field::legacy_put(&self.0, w)
        }

        fn legacy_get<I: __vm::Input + ?Sized>(&mut self, r: &mut I) -> __vm::Result<()> {
            __vm::Field::legacy_get(&mut self.0, r)
        }

        fn legacy_size(&self) -> usize {
            __vm::Field::legacy_size(&self.0)
        }
    }
}

pub fn newtype_field(ident: &Ident, generics: &Generics, inner: &Type) -> TokenStream {
    let legacy = legacy_of_inner();
    let (ig, tg, wc) = generics.split_for_impl();
    quote! {
        impl #ig __vm::Field for #ident #tg #wc {
            const TYPE: __vm::TypeDesc = <#inner as __vm::Field>::TYPE;

            #legacy

            fn vmdesc_leaves(&self) -> usize {
                __vm::Field::vmdesc_leaves(&self.0)
            }

            fn vmdesc_leaf(&self, leaf: usize, suffix: &str, j: &mut __vm::JsonWriter) {
                __vm::Field::vmdesc_leaf(&self.0, leaf, suffix, j)
            }

            const BER_TAG: __vm::ber::Tag = <#inner as __vm::Field>::BER_TAG;

            fn ber_put(&self, e: &mut __vm::ber::Encoder) -> __vm::Result<()> {
                __vm::Field::ber_put(&self.0, e)
            }

            fn ber_get<I: __vm::Input + ?Sized>(&mut self, d: &mut __vm::ber::Decoder<'_, I>, h: &__vm::ber::Header) -> __vm::Result<()> {
                __vm::Field::ber_get(&mut self.0, d, h)
            }

            #[inline(always)]
            fn ber_scan(&mut self, s: &mut __vm::ber::Scan<'_>, id: __vm::ber::Id) -> bool {
                __vm::Field::ber_scan(&mut self.0, s, id)
            }

            #[inline(always)]
            fn ber_get_short<I: __vm::Input + ?Sized>(&mut self, d: &mut __vm::ber::Decoder<'_, I>, id: u8) -> ::core::option::Option<__vm::Result<()>> {
                __vm::Field::ber_get_short(&mut self.0, d, id)
            }

            #[inline(always)]
            fn ber_put_tlv(&self, e: &mut __vm::ber::Encoder, tag: __vm::ber::Tag) -> __vm::Result<()> {
                __vm::Field::ber_put_tlv(&self.0, e, tag)
            }

            fn to_json(&self) -> __vm::JsonValue {
                __vm::Field::to_json(&self.0)
            }
        }
    }
}

/// A `transparent` newtype with `info`: QEMU's custom `VMStateInfo`, its inner
/// field's legacy bytes under its own type name, one OCTET STRING in BER.
pub fn opaque_field(ident: &Ident, generics: &Generics, inner: &Type, info: &str) -> TokenStream {
    let legacy = legacy_of_inner();
    let (ig, tg, wc) = generics.split_for_impl();
    quote! {
        impl #ig __vm::Field for #ident #tg #wc {
            const TYPE: __vm::TypeDesc = __vm::opaque::type_of(#info, &<#inner as __vm::Field>::TYPE);

            #legacy

            const BER_TAG: __vm::ber::Tag = __vm::ber::Tag::OCTET_STRING;

            fn ber_put(&self, e: &mut __vm::ber::Encoder) -> __vm::Result<()> {
                __vm::opaque::ber_put(&self.0, e)
            }

            fn ber_get<I: __vm::Input + ?Sized>(&mut self, d: &mut __vm::ber::Decoder<'_, I>, h: &__vm::ber::Header) -> __vm::Result<()> {
                __vm::opaque::ber_get(&mut self.0, d, h)
            }

            fn to_json(&self) -> __vm::JsonValue {
                __vm::opaque::json(&self.0)
            }

            fn vmdesc_leaf(&self, _leaf: usize, _suffix: &str, j: &mut __vm::JsonWriter) {
                __vm::opaque::vmdesc_leaf(&self.0, #info, j)
            }
        }
    }
}
