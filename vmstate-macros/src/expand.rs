//! Assembles the generated items for one derive input.
//!
//! Everything is emitted inside one `const _: () = { ... };`, which imports the
//! runtime's `__private` module as `__vm` (from `::vmstate_runtime`, or the path of
//! `#[vmstate(crate = "...")]`) and carries the one list of lint allows that
//! generated code needs (unused bindings of absent fields, comparisons such as
//! `version >= 0` that are always true for some types).
//!
//! Names the generated code relies on, so generators agree on them:
//! - `version: u32`: the version being saved or loaded, in every `*_at` method;
//! - `w`: the `Writer` of a legacy save; `e`: the BER `Encoder` of a BER save; `r`: the `Input` of a legacy load; `d`: the BER
//!   `Decoder` of a BER load; `j`: the `JsonWriter` of a vmdesc;
//! - `__n`: a variable array's element count (`FieldPlan::var_count_for_load`);
//! - `__at`: the input offset where the current field starts (errors point there);
//! - `__v`: a loaded value compared by `equal`; `__s`: a sent subsection's value;
//! - `__size`: the running total of the legacy size method; `__subs`: where a BER
//!   save's subsection list ends, and the subsection map of `to_json_at` (beside
//!   `__m`); `__e`: a BER
//!   subsection's element, `__h`: a BER field's header; `__any`: whether a vmdesc
//!   has opened its subsection list;
//! - `__vm`: the runtime's `__private` re-exports; nothing else from the runtime is
//!   named, so a user's own items cannot shadow what the code means.

use crate::ast::{Container, Data};
use crate::methods::Methods;
use crate::plan::ContainerPlan;
use crate::{ber, bound, data_enum, desc, field_types, legacy, plan, value_json, vmdesc};
use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};

/// The `VMState` impl: with `prepare`, the methods that read the value go into a
/// private trait and the `VMState` ones call them on a prepared copy (QEMU's
/// `pre_save` that writes the state, without changing the caller's value).
fn vmstate_impl(
    c: &ContainerPlan,
    generics: &syn::Generics,
    desc: TokenStream,
    legacy: Methods,
    ber: Methods,
    reads: TokenStream,
) -> TokenStream {
    let ident = c.ident;
    let (ig, tg, wc) = generics.split_for_impl();
    let (ls, ll, bs, bl) = (legacy.saves, legacy.loads, ber.saves, ber.loads);
    let (prepare, pre_save) = (c.prepare, c.pre_save);
    if prepare.is_none() && pre_save.is_none() {
        return quote! {
            impl #ig __vm::VMState for #ident #tg #wc {
                #desc
                #ls
                #ll
                #bs
                #bl
                #reads
            }
        };
    }
    let prepare = prepare.map(|h| {
        quote_spanned! {crate::attr::AttrSpan::attr_span(h)=>
            let mut __copy = ::core::clone::Clone::clone(&*__v);
            if let __vm::Err(__err) = __vm::hook::on_mut(#h, &mut __copy) {
                return __vm::Err(__vm::hook_error("prepare", &__err, at));
            }
            let __v = __vm::hook::Prepared::Copy(__copy);
        }
    });
    let pre_save = pre_save.map(|h| {
        quote_spanned! {crate::attr::AttrSpan::attr_span(h)=>
            let __v = match __vm::hook::pre_save(#h, __v) {
                __vm::Ok(v) => v,
                __vm::Err(__err) => return __vm::Err(__vm::hook_error("pre_save", &__err, at)),
            };
        }
    });
    quote! {
        trait __Unprepared {
            fn legacy_save_at<W: __vm::Write>(&self, w: &mut __vm::Writer<W>, version: u32) -> __vm::Result<()>;
            fn legacy_size_at(&self, version: u32) -> usize;
            fn ber_save_at(&self, e: &mut __vm::ber::Encoder, version: u32) -> __vm::Result<()>;
            fn to_json_at(&self, version: u32) -> __vm::JsonValue;
            fn vmdesc_at(&self, version: u32, j: &mut __vm::JsonWriter);
        }

        impl #ig __Unprepared for #ident #tg #wc {
            #ls
            #bs
            #reads
        }

        impl #ig #ident #tg #wc {
            /// The value a save writes: `prepare` runs on a copy, then `pre_save`
            /// (on another copy if it writes the state).
            fn __vmstate_prepared(&self, at: u64) -> __vm::Result<__vm::hook::Prepared<'_, Self>> {
                let __v = __vm::hook::Prepared::Same(self);
                #prepare
                #pre_save
                __vm::Ok(__v)
            }
        }

        impl #ig __vm::VMState for #ident #tg #wc {
            #desc
            #ll
            #bl

            fn legacy_save_at<W: __vm::Write>(&self, w: &mut __vm::Writer<W>, version: u32) -> __vm::Result<()> {
                __Unprepared::legacy_save_at(&*self.__vmstate_prepared(w.written())?, w, version)
            }

            fn legacy_size_at(&self, version: u32) -> usize {
                match self.__vmstate_prepared(0) {
                    __vm::Ok(c) => __Unprepared::legacy_size_at(&*c, version),
                    __vm::Err(_) => __Unprepared::legacy_size_at(self, version),
                }
            }

            fn ber_save_at(&self, e: &mut __vm::ber::Encoder, version: u32) -> __vm::Result<()> {
                __Unprepared::ber_save_at(&*self.__vmstate_prepared(e.written())?, e, version)
            }

            fn to_json_at(&self, version: u32) -> __vm::JsonValue {
                match self.__vmstate_prepared(0) {
                    __vm::Ok(c) => __Unprepared::to_json_at(&*c, version),
                    __vm::Err(_) => __Unprepared::to_json_at(self, version),
                }
            }

            fn vmdesc_at(&self, version: u32, j: &mut __vm::JsonWriter) {
                match self.__vmstate_prepared(0) {
                    __vm::Ok(c) => __Unprepared::vmdesc_at(&*c, version, j),
                    __vm::Err(_) => __Unprepared::vmdesc_at(self, version, j),
                }
            }
        }
    }
}

pub fn expand(c: &Container) -> TokenStream {
    let ident = c.ident;
    let plans = plan::fields(c);
    let cp = plan::container(c);
    let generics = bound::with_bounds(c, &cp, &plans);
    let (ig, tg, wc) = generics.split_for_impl();
    let body = match &c.data {
        Data::Variants(variants) => data_enum::data_enum_field(&cp, variants),
        Data::Enum { repr, variants } => field_types::enum_field(ident, repr, variants),
        Data::Newtype(inner) => match cp.info {
            Some(info) => field_types::opaque_field(ident, &generics, inner, info),
            None => field_types::newtype_field(ident, &generics, inner),
        },
        Data::Struct(_) => {
            let version = cp.version;
            let mut desc = desc::desc_const(&cp, &plans);
            // The hooks a device answers the registry with.
            if let Some(h) = cp.dev_unplug_pending {
                let span = crate::attr::AttrSpan::attr_span(h);
                desc.extend(quote_spanned! {span=>
                    fn unplug_pending(&self) -> bool {
                        __vm::hook::needed(#h, self)
                    }
                });
            }
            if let Some(h) = cp.unplugged_ram {
                let span = crate::attr::AttrSpan::attr_span(h);
                desc.extend(quote_spanned! {span=>
                    fn unplugged_ram(&self) -> ::core::option::Option<__vm::UnpluggedRam> {
                        __vm::hook::new(#h, self)
                    }
                });
            }
            let checks = desc::subsection_checks(&cp, &plans);
            let legacy = legacy::methods(&cp, &plans);
            let ber = ber::methods(&cp, &plans);
            let json = value_json::method(&plans);
            let vmdesc = vmdesc::method(&cp, &plans);
            // A nested struct is read in place unless it has load hooks, which only
            // its `ber_load_at` calls.
            let scan = (cp.pre_load.is_none() && cp.post_load.is_none()).then(|| {
                quote! {
                    #[inline]
                    fn ber_scan(&mut self, s: &mut __vm::ber::Scan<'_>, id: __vm::ber::Id) -> bool {
                        __vm::ber::scan_struct(self, s, id, #version)
                    }
                }
            });
            let ber_tag = match cp.ber_tag {
                Some((t, _)) => quote!(__vm::ber::Tag::application(#t)),
                None => quote!(__vm::ber::Tag::SEQUENCE),
            };
            let vmstate = vmstate_impl(&cp, &generics, desc, legacy, ber, quote!(#json #vmdesc));
            quote! {
                #vmstate

                #[diagnostic::do_not_recommend]
                impl #ig __vm::Field for #ident #tg #wc {
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

                    const BER_TAG: __vm::ber::Tag = #ber_tag;

                    fn ber_put(&self, e: &mut __vm::ber::Encoder) -> __vm::Result<()> {
                        __vm::VMState::ber_save_at(self, e, #version)
                    }

                    fn ber_get<I: __vm::Input + ?Sized>(&mut self, d: &mut __vm::ber::Decoder<'_, I>, h: &__vm::ber::Header) -> __vm::Result<()> {
                        __vm::ber::load_struct_at(d, h, self, #version)
                    }

                    #scan

                    fn to_json(&self) -> __vm::JsonValue {
                        __vm::VMState::to_json_at(self, #version)
                    }
                }

                #checks
            }
        }
    };
    let runtime = &cp.runtime;
    let tag_marker = ber_tag_marker(&cp);
    quote! {
        #[doc(hidden)]
        #[allow(
            non_upper_case_globals,
            unused_qualifications,
            unused_variables,
            unused_mut,
            unused_comparisons,
            clippy::nonminimal_bool,
            clippy::absurd_extreme_comparisons
        )]
        const _: () = {
            use #runtime::__private as __vm;
            use __vm::InField as _;
            #body
        };
        #tag_marker
    }
}

/// A hidden item named after the struct's `ber_tag`: two types with the same tag in
/// one Rust module then fail to compile ("defined multiple times"), at the attribute.
/// Beside it, the assertion that the macro's reserved range is the runtime's.
fn ber_tag_marker(c: &ContainerPlan) -> TokenStream {
    let Some((tag, span)) = c.ber_tag else {
        return TokenStream::new();
    };
    let runtime = &c.runtime;
    let marker = format_ident!("__VMSTATE_BER_APPLICATION_TAG_{}", tag, span = span);
    let doc = format!("`[APPLICATION {}]` is taken by `{}`.", tag, c.ident);
    let first = crate::check::FIRST_DEVICE_BER_TAG;
    quote_spanned! {span=>
        #[doc(hidden)]
        #[doc = #doc]
        #[allow(dead_code)]
        const #marker: () = ();
        const _: () = ::core::assert!(
            #first == #runtime::__private::FIRST_DEVICE_TAG,
            "vmstate-macros and vmstate-runtime disagree on the reserved BER tags: use matching versions"
        );
    }
}
