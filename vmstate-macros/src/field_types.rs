//! Generates `Field` for the types that are one value on the wire: `#[repr(uN)]`
//! fieldless enums and `transparent` newtypes.

use proc_macro2::TokenStream;
use quote::quote;
use syn::{Ident, Type};

pub fn enum_field(ident: &Ident, repr: &Ident, variants: &[&Ident]) -> TokenStream {
    let to_raw = variants
        .iter()
        .map(|v| quote!(Self::#v => Self::#v as #repr));
    let from_raw = variants
        .iter()
        .map(|v| quote!(__x if __x == Self::#v as #repr => Self::#v));
    quote! {
        impl __vm::Field for #ident {
            const TYPE: __vm::TypeDesc = <#repr as __vm::Field>::TYPE;

            fn legacy_put<W: __vm::Write>(&self, w: &mut __vm::Writer<W>) -> __vm::Result<()> {
                let __raw: #repr = match self { #(#to_raw,)* };
                __vm::Field::legacy_put(&__raw, w)
            }

            fn legacy_get<I: __vm::Input + ?Sized>(&mut self, r: &mut I) -> __vm::Result<()> {
                let __at = r.offset();
                let mut __raw: #repr = 0;
                __vm::Field::legacy_get(&mut __raw, r)?;
                *self = match __raw {
                    #(#from_raw,)*
                    __other => return __vm::Err(__vm::invalid_discriminant(__other as u64, __at)),
                };
                __vm::Ok(())
            }

            fn legacy_size(&self) -> usize {
                ::core::mem::size_of::<#repr>()
            }
        }
    }
}

pub fn newtype_field(ident: &Ident, inner: &Type) -> TokenStream {
    quote! {
        impl __vm::Field for #ident {
            const TYPE: __vm::TypeDesc = <#inner as __vm::Field>::TYPE;

            fn legacy_put<W: __vm::Write>(&self, w: &mut __vm::Writer<W>) -> __vm::Result<()> {
                __vm::Field::legacy_put(&self.0, w)
            }

            fn legacy_get<I: __vm::Input + ?Sized>(&mut self, r: &mut I) -> __vm::Result<()> {
                __vm::Field::legacy_get(&mut self.0, r)
            }

            fn legacy_size(&self) -> usize {
                __vm::Field::legacy_size(&self.0)
            }

            fn vmdesc_leaves(&self) -> usize {
                __vm::Field::vmdesc_leaves(&self.0)
            }

            fn vmdesc_leaf(&self, leaf: usize, suffix: &str, j: &mut __vm::JsonWriter) {
                __vm::Field::vmdesc_leaf(&self.0, leaf, suffix, j)
            }
        }
    }
}
