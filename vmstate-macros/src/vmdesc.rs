//! Generates `vmdesc_at`: the value's entry in QEMU's vmdesc trailer. It depends on
//! the value (variable array lengths, `exists`, needed subsections), as QEMU's does.

use crate::plan::{ContainerPlan, FieldPlan, Kind, LoadCheck};
use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

fn field(p: &FieldPlan) -> TokenStream {
    let (id, name, tag) = (p.ident, &p.vmdesc_name, p.tag);
    let suffix = LoadCheck::vmdesc_suffix(p.check);
    let has_exists = p.has_exists;
    let nv = p.nested_version();
    match &p.kind {
        Kind::Plain if p.tmp => {
            let ty = p.ty;
            p.when_present(quote_spanned! {ty.span()=>
                __vm::tmp_entry::<#ty>(&self.#id, j, #name, #tag);
            })
        }
        Kind::Plain => {
            let as_field = p.as_field();
            p.when_present(quote! {
                    #as_field::vmdesc_entries(&self.#id, j, #name, #tag, #suffix, #has_exists #nv);
                })
        }
        Kind::ByteArray { .. } => p.when_present(quote! {
                let __shape = __vm::VmdescShape { is_array: true, elem_type: "uint8", elem: &<u8 as __vm::Field>::TYPE };
                __vm::vmdesc_field(j, #name, #tag, self.#id.len(), !#has_exists, __shape, &mut |_, j| {
                    __vm::byte_array_leaf(#suffix, j)
                });
            }),
        Kind::VarArray { .. } => {
            let (slice, el) = (p.slice(p.var_count(None)), p.as_element());
            p.when_present(quote! {
                #el::vmdesc_of(&#slice, j, #name, #tag, #suffix, #has_exists #nv);
            })
        }
        Kind::Subsection { .. } => TokenStream::new(),
    }
}

fn subsection(p: &FieldPlan) -> TokenStream {
    if !p.is_subsection() {
        return TokenStream::new();
    }
    let (tag, sv) = (p.tag, p.subsection_version());
    p.when_sent(quote! {
        if !__any {
            j.begin_array("subsections");
            __any = true;
        }
        j.begin_object(::core::option::Option::None);
        if j.ber_tags() {
            j.int("tag", ::core::primitive::i64::from(#tag));
        }
        __vm::VMState::vmdesc_at(__s, #sv, j);
        j.end_object();
    })
}

pub fn method(c: &ContainerPlan, plans: &[FieldPlan]) -> TokenStream {
    if c.old_style {
        return quote! {
            fn vmdesc_at(&self, version: u32, j: &mut __vm::JsonWriter) {
                __vm::old_style_vmdesc(__vm::VMState::legacy_size_at(self, version), j);
            }
        };
    }
    let name = c.name.as_str();
    let fields = plans.iter().map(field);
    let subsections = plans.iter().any(FieldPlan::is_subsection).then(|| {
        let each = plans.iter().map(subsection);
        quote! {
            let mut __any = false;
            #(#each)*
            if __any {
                j.end_array();
            }
        }
    });
    quote! {
        fn vmdesc_at(&self, version: u32, j: &mut __vm::JsonWriter) {
            j.string("vmsd_name", #name);
            j.int("version", ::core::primitive::i64::from(version));
            __vm::vmdesc_ber_members(<Self as __vm::VMState>::DESC, j);
            j.begin_array("fields");
            #(#fields)*
            j.end_array();
            #subsections
        }
    }
}
