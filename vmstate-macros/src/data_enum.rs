//! Generates `Field` for an enum with data. The enum is sent as a struct that the
//! derive itself describes: `variant` (an ENUMERATED of the variant names, a
//! `uint32` on the legacy wire), then one struct field per variant, present only
//! when it is the variant sent. Each variant's fields become a hidden struct of
//! their own, deriving VMState with the fields' attributes, so every attribute a
//! struct field takes works in a variant, and the descriptions, the ASN.1 module
//! and the generic decoder see plain structs (`Backend`, `Backend-File`).
//!
//! The value is converted to that struct to save (variant fields are cloned) and
//! from it after a load (moved).

use crate::plan::ContainerPlan;
use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::{Fields, Variant};

pub fn data_enum_field(c: &ContainerPlan, variants: &[&Variant]) -> TokenStream {
    let ident = c.ident;
    let (name, runtime, krate) = (&c.name, &c.runtime, &c.krate);
    let kind_attr = krate.as_ref().map(|k| quote!(#[vmstate(#k)]));
    let wire = format_ident!("__{}", ident);
    let kind = format_ident!("__{}_Variant", ident);
    let mut structs = Vec::new();
    let mut wire_fields = Vec::new();
    let mut predicates = Vec::new();
    let mut to_wire = Vec::new();
    let mut from_wire = Vec::new();
    let kinds: Vec<&syn::Ident> = variants.iter().map(|v| &v.ident).collect();
    for (i, v) in variants.iter().enumerate() {
        let vid = &v.ident;
        let st = format_ident!("__{}_{}", ident, vid);
        let slot = format_ident!("__{}", i);
        let is = format_ident!("__is_{}", i);
        let vname = vid.to_string();
        let sname = format!("{name}.{vname}");
        // The variant's fields as a named struct (`_0`, `_1`, ... for a tuple variant).
        let names: Vec<syn::Ident> = v
            .fields
            .iter()
            .enumerate()
            .map(|(k, f)| f.ident.clone().unwrap_or_else(|| format_ident!("_{}", k)))
            .collect();
        let defs = v.fields.iter().zip(&names).map(|(f, n)| {
            let (ty, attrs) = (&f.ty, &f.attrs);
            let rename = f.ident.is_none().then(|| {
                let k = n.to_string()[1..].to_owned();
                quote!(#[vmstate(rename = #k)])
            });
            quote!(#(#attrs)* #rename #n: #ty)
        });
        structs.push(quote! {
            #[derive(#runtime::VMState, ::core::default::Default)]
            #[vmstate(#krate name = #sname, version = 1)]
            #[allow(non_camel_case_types)]
            struct #st { #(#defs,)* }
        });
        wire_fields.push(quote! {
            #[vmstate(rename = #vname, exists = #wire::#is)]
            #slot: #st
        });
        predicates.push(quote! {
            fn #is(&self, _: u32) -> bool {
                self.variant == #kind::#vid
            }
        });
        let (pattern, build) = match &v.fields {
            Fields::Named(_) => (
                quote!(#ident::#vid { #(#names),* }),
                quote!(#ident::#vid { #(#names: __w.#slot.#names),* }),
            ),
            Fields::Unnamed(_) => (
                quote!(#ident::#vid(#(#names),*)),
                quote!(#ident::#vid(#(__w.#slot.#names),*)),
            ),
            Fields::Unit => (quote!(#ident::#vid), quote!(#ident::#vid)),
        };
        to_wire.push(quote! {
            #pattern => {
                __w.variant = #kind::#vid;
                __w.#slot = #st { #(#names: ::core::clone::Clone::clone(#names)),* };
            }
        });
        from_wire.push(quote!(#kind::#vid => #build));
    }
    let first = kinds[0];
    let rest = &kinds[1..];
    quote! {
        #[derive(#runtime::VMState, ::core::clone::Clone, ::core::marker::Copy, ::core::cmp::PartialEq, ::core::default::Default)]
        #kind_attr
        #[repr(u32)]
        #[allow(non_camel_case_types)]
        enum #kind { #[default] #first, #(#rest,)* }

        #(#structs)*

        #[derive(#runtime::VMState, ::core::default::Default)]
        #[vmstate(#krate name = #name, version = 1)]
        #[allow(non_camel_case_types)]
        struct #wire {
            variant: #kind,
            #(#wire_fields,)*
        }

        impl #wire {
            #(#predicates)*
        }

        impl #ident {
            fn __vmstate_wire(&self) -> #wire {
                let mut __w = <#wire as ::core::default::Default>::default();
                match self { #(#to_wire)* }
                __w
            }

            fn __vmstate_from_wire(__w: #wire) -> Self {
                match __w.variant { #(#from_wire,)* }
            }
        }

        impl __vm::Field for #ident {
            const TYPE: __vm::TypeDesc = <#wire as __vm::Field>::TYPE;
            const BER_TAG: __vm::ber::Tag = <#wire as __vm::Field>::BER_TAG;

            fn legacy_put<W: __vm::Write>(&self, w: &mut __vm::Writer<W>) -> __vm::Result<()> {
                __vm::Field::legacy_put(&self.__vmstate_wire(), w)
            }

            fn legacy_get<I: __vm::Input + ?Sized>(&mut self, r: &mut I) -> __vm::Result<()> {
                let mut __w = <#wire as ::core::default::Default>::default();
                __vm::Field::legacy_get(&mut __w, r)?;
                *self = Self::__vmstate_from_wire(__w);
                __vm::Ok(())
            }

            fn legacy_size(&self) -> usize {
                __vm::Field::legacy_size(&self.__vmstate_wire())
            }

            fn vmdesc_leaf(&self, leaf: usize, suffix: &str, j: &mut __vm::JsonWriter) {
                __vm::Field::vmdesc_leaf(&self.__vmstate_wire(), leaf, suffix, j)
            }

            fn ber_put(&self, e: &mut __vm::ber::Encoder) -> __vm::Result<()> {
                __vm::Field::ber_put(&self.__vmstate_wire(), e)
            }

            fn ber_get<I: __vm::Input + ?Sized>(&mut self, d: &mut __vm::ber::Decoder<'_, I>, h: &__vm::ber::Header) -> __vm::Result<()> {
                let mut __w = <#wire as ::core::default::Default>::default();
                __vm::Field::ber_get(&mut __w, d, h)?;
                *self = Self::__vmstate_from_wire(__w);
                __vm::Ok(())
            }

            fn to_json(&self) -> __vm::JsonValue {
                __vm::Field::to_json(&self.__vmstate_wire())
            }
        }
    }
}
