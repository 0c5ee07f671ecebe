//! Assembles the generated items for one derive input.

use crate::ast::{Container, Data};
use crate::{desc, field_types, legacy, plan, vmdesc};
use proc_macro2::TokenStream;
use quote::quote;

pub fn expand(c: &Container) -> TokenStream {
    let ident = c.ident;
    let body = match &c.data {
        Data::Enum { repr, variants } => field_types::enum_field(ident, repr, variants),
        Data::Newtype(inner) => field_types::newtype_field(ident, inner),
        Data::Struct(_) => {
            let plans = plan::fields(c);
            let version = c.version();
            let desc = desc::desc_const(c, &plans);
            let checks = desc::subsection_checks(c, &plans);
            let legacy = legacy::methods(c, &plans);
            let vmdesc = vmdesc::method(c, &plans);
            quote! {
                impl __vm::VMState for #ident {
                    #desc
                    #legacy
                    #vmdesc
                }

                impl __vm::Field for #ident {
                    const TYPE: __vm::TypeDesc = __vm::TypeDesc::Struct(<Self as __vm::VMState>::DESC);

                    fn legacy_put<W: __vm::Write>(&self, w: &mut __vm::Writer<W>) -> __vm::Result<()> {
                        __vm::VMState::legacy_save_at(self, w, #version)
                    }

                    fn legacy_get<I: __vm::Input + ?Sized>(&mut self, r: &mut I) -> __vm::Result<()> {
                        __vm::VMState::legacy_load_at(self, r, #version)
                    }

                    fn legacy_size(&self) -> usize {
                        __vm::VMState::legacy_size_at(self, #version)
                    }

                    fn vmdesc_leaf(&self, _leaf: usize, _suffix: &str, j: &mut __vm::JsonWriter) {
                        __vm::struct_leaf(self, j)
                    }
                }

                #checks
            }
        }
    };
    quote! {
        #[doc(hidden)]
        #[allow(non_upper_case_globals, unused_qualifications)]
        const _: () = {
            use ::vmstate_runtime::__private as __vm;
            #body
        };
    }
}
