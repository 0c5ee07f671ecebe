//! Generates the BER codec: straight-line save, load and size code per struct. Each
//! field present at the version is `[declaration index]`; padding is not sent; the
//! subsections sent follow in one list.

use crate::ast::Container;
use crate::hooks::Hooks;
use crate::plan::{FieldPlan, Kind};
use proc_macro2::TokenStream;
use quote::quote;

/// Presence on the BER wire: present at the version, and not padding.
fn sent(p: &FieldPlan) -> TokenStream {
    let cond = p.present();
    match p.kind {
        Kind::Plain => {
            let as_field = p.as_field();
            quote!((#cond && !const { __vm::TypeDesc::is_unused(&#as_field::TYPE) }))
        }
        _ => cond,
    }
}

fn save_field(p: &FieldPlan) -> TokenStream {
    let (id, rn, tag, cond) = (p.ident, &p.rust_name, p.tag, sent(p));
    match &p.kind {
        Kind::Plain | Kind::ByteArray { .. } => {
            let put = p.ber_helper("put_field", 1);
            quote! {
                if #cond {
                    #put(w, #tag, &self.#id).in_field(#rn)?;
                }
            }
        }
        Kind::VarArray { len_field, max, .. } => quote! {
            if #cond {
                let __n = __vm::var_len(&self.#len_field, #max, self.#id.len(), w.written())
                    .in_field(#rn)?;
                __vm::ber::put_slice_field(w, #tag, &self.#id[..__n]).in_field(#rn)?;
            }
        },
        Kind::Subsection { .. } => TokenStream::new(),
    }
}

fn size_field(p: &FieldPlan) -> TokenStream {
    let (id, tag, cond) = (p.ident, p.tag, sent(p));
    match &p.kind {
        Kind::Plain | Kind::ByteArray { .. } => {
            let len = p.ber_helper("field_len", 0);
            quote!(if #cond { __len += #len(#tag, &self.#id); })
        }
        Kind::VarArray { len_field, .. } => quote! {
            if #cond {
                __len += __vm::ber::slice_field_len(
                    #tag,
                    &self.#id[..__vm::var_len_lenient(&self.#len_field, self.#id.len())],
                );
            }
        },
        Kind::Subsection { .. } => TokenStream::new(),
    }
}

fn load_field(c: &Container, p: &FieldPlan) -> TokenStream {
    let (id, rn, tag, cond) = (p.ident, &p.rust_name, p.tag, sent(p));
    let name = c.name();
    let get = p.ber_helper("get_field", 1);
    let load = match &p.kind {
        Kind::Plain | Kind::ByteArray { .. } if p.equal => quote! {
            if #cond {
                let __at = d.offset();
                let mut __v = ::core::clone::Clone::clone(&self.#id);
                #get(d, #name, #tag, #rn, &mut __v)?;
                if __v != self.#id {
                    return __vm::Err(__vm::not_equal(&self.#id, &__v, __at).in_field(#rn));
                }
            }
        },
        Kind::Plain | Kind::ByteArray { .. } => quote! {
            if #cond {
                #get(d, #name, #tag, #rn, &mut self.#id)?;
            }
        },
        Kind::VarArray { .. } => {
            let count = p.var_count_for_load(quote!(__h.offset));
            let load = p.load_slot(
                quote!(|__s| __vm::ber::get_slice(__s, d, &__h)),
                quote!(|__v, __n| __vm::ber::get_vec(__v, __n, d, &__h)),
            );
            quote! {
                if #cond {
                    let __h = d.field(#name, #tag, #rn)?;
                    #count
                    (#load).in_field(#rn)?;
                }
            }
        }
        Kind::Subsection { .. } => return TokenStream::new(),
    };
    // A validation error points at the field's first byte.
    let validate = p.validate_call(quote!(__at));
    let start = validate.as_ref().map(|_| quote!(let __at = d.offset();));
    quote!(#start #load #validate)
}

/// Octets of the subsection list's contents, into `__subs`.
fn subsections_len(plans: &[FieldPlan]) -> TokenStream {
    let adds = plans.iter().filter(|p| p.is_subsection()).map(|p| {
        let tag = p.tag;
        p.when_sent(quote!(__subs += __vm::ber::subsection_len(#tag, __s);))
    });
    quote! {
        let mut __subs = 0usize;
        #(#adds)*
    }
}

fn save_subsections(plans: &[FieldPlan]) -> TokenStream {
    let len = subsections_len(plans);
    let puts = plans.iter().filter(|p| p.is_subsection()).map(|p| {
        let (tag, rn) = (p.tag, &p.rust_name);
        p.when_sent(quote! {
            __vm::ber::put_subsection(w, #tag, __s).in_field(#rn)?;
        })
    });
    quote! {
        #len
        if __subs > 0 {
            __vm::ber::put_header(w, __vm::ber::Tag::SUBSECTIONS, __subs)?;
            #(#puts)*
        }
    }
}

fn load_subsections(c: &Container, plans: &[FieldPlan]) -> TokenStream {
    let name = c.name();
    let arms = plans.iter().filter(|p| p.is_subsection()).map(|p| {
        let (tag, rn, v) = (p.tag, &p.rust_name, &p.version_cond);
        let target = p.subsection_mut();
        quote! {
            if __e.number == #tag && #v {
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

/// `ber_save_at`, `ber_load_at` and `ber_len_at`.
pub fn methods(c: &Container, plans: &[FieldPlan]) -> TokenStream {
    let saves = plans.iter().map(save_field);
    let save_subs = save_subsections(plans);
    let loads = plans.iter().map(|p| load_field(c, p));
    let load_subs = load_subsections(c, plans);
    let lens = plans.iter().map(size_field);
    let subs_len = subsections_len(plans);
    let hooks = Hooks::new(c, quote!(d.offset()));
    let save_body = hooks.save_body(quote!(#(#saves)* #save_subs));
    let (pre_load, post_load) = (&hooks.pre_load, &hooks.post_load);
    quote! {
        fn ber_save_at<W: __vm::Write>(&self, w: &mut __vm::Writer<W>, version: u32) -> __vm::Result<()> {
            #save_body
        }

        fn ber_load_at<I: __vm::Input + ?Sized>(&mut self, d: &mut __vm::ber::Decoder<'_, I>, version: u32) -> __vm::Result<()> {
            #pre_load
            #(#loads)*
            #load_subs
            #post_load
            __vm::Ok(())
        }

        fn ber_len_at(&self, version: u32) -> usize {
            let mut __len = 0usize;
            #(#lens)*
            #subs_len
            if __subs > 0 {
                __len += __vm::ber::tlv_len(__vm::ber::Tag::SUBSECTIONS, __subs);
            }
            __len
        }
    }
}
