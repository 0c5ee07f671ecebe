//! Generates the legacy codec: straight-line save, load and size code per struct.

use crate::hooks::Hooks;
use crate::methods::Methods;
use crate::plan::{ContainerPlan, FieldPlan, Kind};
use proc_macro2::TokenStream;
use quote::quote;

fn save_field(p: &FieldPlan) -> TokenStream {
    let (id, rn) = (p.ident, &p.rust_name);
    let (as_field, nv) = (p.as_field(), p.nested_version());
    match &p.kind {
        Kind::Plain | Kind::ByteArray { .. } => p.when_present(quote! {
            #as_field::legacy_put(&self.#id, w #nv).in_field(#rn)?;
        }),
        Kind::VarArray { .. } => {
            let count = p.var_count_for_save(quote!(w.written()));
            let (el, slice) = (p.as_element(), p.slice(quote!(__n)));
            p.when_present(quote! {
                #count
                #el::put_legacy(&#slice, w #nv).in_field(#rn)?;
            })
        }
        Kind::Subsection { .. } => {
            let (vm, sv) = (p.as_vmstate(), p.subsection_version());
            p.when_sent(quote! {
                let __sv = #sv;
                __vm::put_subsection_header(w, #vm::DESC.name, __sv)?;
                __vm::VMState::legacy_save_at(__s, w, __sv)
                    .in_field(#rn)?;
            })
        }
    }
}

fn load_field(p: &FieldPlan) -> TokenStream {
    let (id, rn) = (p.ident, &p.rust_name);
    let (as_field, nv) = (p.as_field(), p.nested_version());
    let load = match &p.kind {
        Kind::Plain | Kind::ByteArray { .. } if p.check.is_some() => p.checked_load(
            quote!(r.offset()),
            quote!(#as_field::legacy_get(&mut __v, r #nv).in_field(#rn)?;),
        ),
        Kind::Plain | Kind::ByteArray { .. } => p.when_loaded(
            quote!(r.offset()),
            quote! {
                #as_field::legacy_get(&mut self.#id, r #nv).in_field(#rn)?;
            },
        ),
        Kind::VarArray { .. } => {
            let el = p.as_element();
            let count = p.var_count_for_load(quote!(r.offset()));
            let load = p.load_slot(
                quote!(#el::get_legacy),
                quote!(#el::get_legacy_vec),
                quote!(r #nv),
            );
            p.when_loaded(
                quote!(r.offset()),
                quote! {
                    #count
                    #load.in_field(#rn)?;
                },
            )
        }
        Kind::Subsection { .. } => return TokenStream::new(),
    };
    // A validation error points at the field's first byte.
    let validate = p.validate_call(quote!(__at));
    let start = validate.as_ref().map(|_| quote!(let __at = r.offset();));
    quote!(#start #load #validate)
}

fn load_subsections(c: &ContainerPlan, plans: &[FieldPlan]) -> TokenStream {
    let subs: Vec<&FieldPlan> = plans.iter().filter(|p| p.is_subsection()).collect();
    let name = c.name.as_str();
    let arms = subs.iter().map(|p| {
        let rn = &p.rust_name;
        let vm = p.as_vmstate();
        let target = p.subsection_mut();
        let cond = p.and_version(quote!((__name == #vm::DESC.name)));
        quote! {
            if #cond {
                let __v = __vm::enter_subsection(r, &__name)?;
                let __at = r.offset();
                #vm::DESC.check_version(__v, __at)
                    .and_then(|()| __vm::VMState::legacy_load_at(#target, r, __v))
                    .in_field(#rn)?;
                continue;
            }
        }
    });
    let unknown = quote!(return __vm::Err(__vm::unknown_subsection(__name, r.offset())););
    if subs.is_empty() {
        // Any subsection is one this struct does not know.
        return quote! {
            if let ::core::option::Option::Some(__name) = __vm::peek_subsection(r, #name)? {
                #unknown
            }
        };
    }
    quote! {
        while let ::core::option::Option::Some(__name) = __vm::peek_subsection(r, #name)? {
            #(#arms)*
            #unknown
        }
    }
}

fn size_field(p: &FieldPlan) -> TokenStream {
    let id = p.ident;
    let (as_field, nv) = (p.as_field(), p.nested_version());
    match &p.kind {
        Kind::Plain | Kind::ByteArray { .. } => {
            p.when_present(quote! { __size += #as_field::legacy_size(&self.#id #nv); })
        }
        Kind::VarArray { .. } => {
            let el = p.as_element();
            let slice = p.slice(p.var_count(None));
            p.when_present(quote! {
                __size += #el::legacy_size_of(&#slice #nv);
            })
        }
        Kind::Subsection { .. } => {
            let (vm, sv) = (p.as_vmstate(), p.subsection_version());
            p.when_sent(quote! {
                __size += __vm::subsection_header_size(#vm::DESC.name)
                    + __vm::VMState::legacy_size_at(__s, #sv);
            })
        }
    }
}

/// `legacy_save_at` and `legacy_size_at` (which read the value), and
/// `legacy_load_at`.
pub fn methods(c: &ContainerPlan, plans: &[FieldPlan]) -> Methods {
    // QEMU's order whatever the declaration's: the fields, then the subsections
    // (its loader reads them after the fields, and so does the vmdesc).
    let (subs, fields): (Vec<&FieldPlan>, Vec<&FieldPlan>) =
        plans.iter().partition(|p| p.is_subsection());
    let saves = fields.into_iter().chain(subs).map(save_field);
    let loads = plans.iter().map(load_field);
    let sizes = plans.iter().map(size_field);
    let subsections = load_subsections(c, plans);
    let hooks = Hooks::new(c, quote!(w.written()), quote!(r.offset()));
    let save_body = hooks.save_body(quote!(#(#saves)*));
    let (pre_load, post_load) = (&hooks.pre_load, &hooks.post_load);
    Methods {
        saves: quote! {
            fn legacy_save_at<W: __vm::Write>(&self, w: &mut __vm::Writer<W>, version: u32) -> __vm::Result<()> {
                #save_body
            }

            fn legacy_size_at(&self, version: u32) -> usize {
                let mut __size = 0usize;
                #(#sizes)*
                __size
            }
        },
        loads: quote! {
            fn legacy_load_at<I: __vm::Input + ?Sized>(&mut self, r: &mut I, version: u32) -> __vm::Result<()> {
                #pre_load
                #(#loads)*
                #subsections
                #post_load
                __vm::Ok(())
            }
        },
    }
}
