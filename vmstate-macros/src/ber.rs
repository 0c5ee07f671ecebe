//! Generates the BER codec: straight-line save and load code per struct. Each field
//! present at the version is `[declaration index]`; padding is not sent; the
//! subsections sent follow in one list. Saves run back to front (see `ber::Encoder`).

use crate::hooks::Hooks;
use crate::methods::Methods;
use crate::plan::{ContainerPlan, FieldPlan, Kind};
use proc_macro2::TokenStream;
use quote::quote;

fn save_field(p: &FieldPlan) -> TokenStream {
    let (id, rn, tag) = (p.ident, &p.rust_name, p.tag);
    let nv = p.nested_version();
    match &p.kind {
        Kind::Plain | Kind::ByteArray { .. } => {
            let as_field = p.as_field();
            p.when_present(quote! {
                #as_field::ber_put_field(&self.#id, e, #tag #nv).in_field(#rn)?;
            })
        }
        Kind::VarArray { .. } => {
            let (count, el) = (p.var_count_for_save(quote!(e.written())), p.as_element());
            let slice = p.slice(quote!(__n));
            p.when_present(quote! {
                #count
                #el::put_ber(e, #tag, &#slice #nv).in_field(#rn)?;
            })
        }
        Kind::Subsection { .. } => TokenStream::new(),
    }
}

fn load_field(c: &ContainerPlan, p: &FieldPlan) -> TokenStream {
    let (id, rn, tag) = (p.ident, &p.rust_name, p.tag);
    let name = c.name.as_str();
    let (as_field, nv) = (p.as_field(), p.nested_version());
    let load = match &p.kind {
        Kind::Plain | Kind::ByteArray { .. } if p.check.is_some() => p.checked_load(
            quote!(d.offset()),
            quote!(#as_field::ber_get_field(&mut __v, d, #name, #tag, #rn #nv)?;),
        ),
        Kind::Plain | Kind::ByteArray { .. } => p.when_loaded(
            quote!(d.offset()),
            quote! {
                #as_field::ber_get_field(&mut self.#id, d, #name, #tag, #rn #nv)?;
            },
        ),
        Kind::VarArray { .. } => {
            let (count, el) = (p.var_count_for_load(quote!(__h.offset)), p.as_element());
            let load = p.load_slot(
                quote!(#el::get_ber),
                quote!(#el::get_ber_vec),
                quote!(d, &__h #nv),
            );
            p.when_loaded(
                quote!(d.offset()),
                quote! {
                    let __h = d.field(#name, #tag, #rn)?;
                    #count
                    #load.in_field(#rn)?;
                },
            )
        }
        Kind::Subsection { .. } => return TokenStream::new(),
    };
    // A validation error points at the field's first byte.
    let validate = p.validate_call(quote!(__at));
    let start = validate.as_ref().map(|_| quote!(let __at = d.offset();));
    quote!(#start #load #validate)
}

/// The subsection list, written before the fields since the encoder works back
/// to front.
fn save_subsections(plans: &[FieldPlan]) -> TokenStream {
    let puts = plans.iter().rev().filter(|p| p.is_subsection()).map(|p| {
        let (tag, rn, sv) = (p.tag, &p.rust_name, p.subsection_version());
        p.when_sent(quote! {
            __vm::ber::put_subsection(e, #tag, __s, #sv).in_field(#rn)?;
        })
    });
    quote! {
        let __subs = e.len();
        #(#puts)*
        if e.len() > __subs {
            e.put_header(__vm::ber::Tag::SUBSECTIONS, e.len() - __subs);
        }
    }
}

fn load_subsections(c: &ContainerPlan, plans: &[FieldPlan]) -> TokenStream {
    let name = c.name.as_str();
    let arms = plans.iter().filter(|p| p.is_subsection()).map(|p| {
        let (tag, rn) = (p.tag, &p.rust_name);
        let target = p.subsection_mut();
        let cond = p.and_version(quote!((__e.number == #tag)));
        quote! {
            if #cond {
                __vm::ber::load_subsection(d, __e, #target).in_field(#rn)?;
                continue;
            }
        }
    });
    quote! {
        d.end_fields(#name)?;
        if d.begin_subsections()? {
            while let ::core::option::Option::Some(__e) = d.next_subsection()? {
                #(#arms)*
                d.unknown_subsection(#name, __e)?;
            }
        }
    }
}

/// `ber_scan_at`, for a struct whose fields all have a form read in place (not
/// variable arrays, nor fields checked by `equal` or `validate` or prepared by `pre_load`, whose errors the
/// general path reports); for others the trait's default declines, and every load
/// takes the general path.
fn scan_method(plans: &[FieldPlan]) -> Option<TokenStream> {
    let fields: Vec<&FieldPlan> = plans.iter().filter(|p| !p.is_subsection()).collect();
    let scanned = |p: &&FieldPlan| {
        matches!(p.kind, Kind::Plain | Kind::ByteArray { .. })
            && p.check.is_none()
            && p.validate.is_none()
            && p.pre_load.is_none()
            && p.struct_version.is_none()
    };
    if !fields.iter().all(scanned) {
        return None;
    }
    let scans: Vec<TokenStream> = fields
        .iter()
        .map(|p| {
            let (id, tag, as_field) = (p.ident, p.tag, p.as_field());
            let scan = quote!(#as_field::ber_scan_field(&mut self.#id, s, #tag));
            if p.always_present() {
                return scan;
            }
            let cond = p.present();
            quote!((!#cond || #scan))
        })
        .collect();
    // A struct of no fields scans as read.
    let all = if scans.is_empty() {
        quote!(true)
    } else {
        quote!(#(#scans)&&*)
    };
    Some(quote! {
        #[inline]
        fn ber_scan_at(&mut self, s: &mut __vm::ber::Scan<'_>, version: u32) -> bool {
            #all
        }
    })
}

/// `ber_save_at`, and `ber_load_at` with, where the fields allow, `ber_scan_at`.
pub fn methods(c: &ContainerPlan, plans: &[FieldPlan]) -> Methods {
    let save_subs = plans
        .iter()
        .any(FieldPlan::is_subsection)
        .then(|| save_subsections(plans));
    let saves = plans.iter().rev().map(save_field);
    let loads = plans.iter().map(|p| load_field(c, p));
    let load_subs = load_subsections(c, plans);
    let hooks = Hooks::new(c, quote!(e.written()), quote!(d.offset()));
    let save_body = hooks.save_body(quote!(#save_subs #(#saves)*));
    let (pre_load, post_load) = (&hooks.pre_load, &hooks.post_load);
    let scan = scan_method(plans);
    // The fields in place when they are all in memory, else one by one.
    let load_fields = match scan {
        Some(_) => quote! {
            if !d.scan(|s| __vm::VMState::ber_scan_at(self, s, version)) {
                #(#loads)*
            }
        },
        None => quote!(#(#loads)*),
    };
    Methods {
        saves: quote! {
            fn ber_save_at(&self, e: &mut __vm::ber::Encoder, version: u32) -> __vm::Result<()> {
                #save_body
            }
        },
        loads: quote! {
            fn ber_load_at<I: __vm::Input + ?Sized>(&mut self, d: &mut __vm::ber::Decoder<'_, I>, version: u32) -> __vm::Result<()> {
                #pre_load
                #load_fields
                #load_subs
                #post_load
                __vm::Ok(())
            }

            #scan
        },
    }
}
