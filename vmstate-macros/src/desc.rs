//! Generates the static description (`VMState::DESC`) and the compile-time checks
//! that need other types' descriptions (subsection names).

use crate::plan::{ContainerPlan, FieldPlan, Kind, Len, LoadCheck};
use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

fn version_range(p: &FieldPlan) -> TokenStream {
    match p.versions {
        (None, None) => quote!(__vm::VersionRange::ALL),
        (min, max) => {
            let min = min.unwrap_or(0);
            let max = match max {
                Some(m) => quote!(::core::option::Option::Some(#m)),
                None => quote!(::core::option::Option::None),
            };
            quote!(__vm::VersionRange { min: #min, max: #max })
        }
    }
}

fn field_desc(p: &FieldPlan) -> TokenStream {
    let (name, rust_name) = (&p.desc_name, &p.rust_name);
    let as_field = p.as_field();
    let (ty, var_len) = match &p.kind {
        Kind::Plain => (
            quote!(#as_field::TYPE),
            quote!(::core::option::Option::None),
        ),
        Kind::ByteArray { len } => (
            quote!(__vm::TypeDesc::Array { elem: &<u8 as __vm::Field>::TYPE, len: #len }),
            quote!(::core::option::Option::None),
        ),
        Kind::VarArray {
            elem,
            len:
                Len::Field {
                    field,
                    multiply,
                    bits,
                },
            max,
            ..
        } => {
            let len_name = syn::ext::IdentExt::unraw(*field).to_string();
            let el = p.as_element();
            let multiply = multiply.clone().unwrap_or_else(|| quote!(1usize));
            // A bitmap is described as its bytes (QEMU's `bitmap` VMStateInfo).
            let byte_max = if bits.is_some() {
                quote!(#max * 8)
            } else {
                quote!(#max)
            };
            (
                quote_spanned!(elem.span()=>
                    if #el::ELEMENT_IS_BYTE {
                        __vm::TypeDesc::VarBuffer { max: #byte_max }
                    } else {
                        __vm::TypeDesc::VarArray { elem: #el::ELEMENT_TYPE, max: #max }
                    }
                ),
                quote!(::core::option::Option::Some(__vm::VarLen { len_field: #len_name, multiply: #multiply, max: #max })),
            )
        }
        Kind::VarArray {
            elem,
            len:
                Len::Range {
                    start,
                    end,
                    array_len,
                },
            ..
        } => {
            let el = p.as_element();
            (
                quote_spanned!(elem.span()=>
                    if #el::ELEMENT_IS_BYTE {
                        __vm::TypeDesc::Buffer(__vm::element_range(#start, #end, #array_len))
                    } else {
                        __vm::TypeDesc::Array {
                            elem: #el::ELEMENT_TYPE,
                            len: __vm::element_range(#start, #end, #array_len),
                        }
                    }
                ),
                quote!(::core::option::Option::None),
            )
        }
        Kind::Subsection { .. } => unreachable!("subsections are described separately"),
    };
    let ty = p.described_type(ty);
    let versions = version_range(p);
    let (has_exists, check) = (p.has_exists, LoadCheck::vmdesc_suffix(p.check));
    let (tag, asn1_name) = (p.tag, &p.asn1_name);
    quote! {
        __vm::FieldDesc {
            name: #name,
            rust_name: #rust_name,
            ty: #ty,
            versions: #versions,
            has_exists: #has_exists,
            check: #check,
            var_len: #var_len,
            tag: #tag,
            asn1_name: #asn1_name,
        }
    }
}

/// `const DESC: &'static VMStateDesc = ...;`
pub fn desc_const(c: &ContainerPlan, plans: &[FieldPlan]) -> TokenStream {
    let (name, version, minimum) = (&c.name, c.version, c.minimum_version);
    let option = |v: Option<u32>| match v {
        Some(t) => quote!(::core::option::Option::Some(#t)),
        None => quote!(::core::option::Option::None),
    };
    let ber_tag = option(c.ber_tag.map(|(t, _)| t));
    let blob_until = option(c.ber_blob_until);
    let type_name = c.ident.to_string();
    let priority = &c.priority;
    let (early_setup, unmigratable) = (c.early_setup, c.unmigratable);
    let fields = plans.iter().filter(|p| !p.is_subsection()).map(field_desc);
    let subsections = plans.iter().filter(|p| p.is_subsection()).map(|p| {
        let (rust_name, tag, asn1_name) = (&p.rust_name, p.tag, &p.asn1_name);
        let versions = version_range(p);
        let vm = p.as_vmstate();
        quote! {
            __vm::SubsectionDesc {
                rust_name: #rust_name,
                versions: #versions,
                desc: #vm::DESC,
                tag: #tag,
                asn1_name: #asn1_name,
            }
        }
    });
    quote! {
        const DESC: &'static __vm::VMStateDesc = &__vm::VMStateDesc {
            name: #name,
            version: #version,
            minimum_version: #minimum,
            fields: &[#(#fields),*],
            subsections: &[#(#subsections),*],
            ber_tag: #ber_tag,
            ber_blob_until: #blob_until,
            type_name: #type_name,
            section: __vm::SectionTraits {
                priority: __vm::Priority::#priority,
                early_setup: #early_setup,
                unmigratable: #unmigratable,
            },
        };
    }
}

/// Compile-time assertions on subsection names: `parent/...`, and no two alike.
pub fn subsection_checks(c: &ContainerPlan, plans: &[FieldPlan]) -> TokenStream {
    let parent = c.name.as_str();
    let subs: Vec<&FieldPlan> = plans.iter().filter(|p| p.is_subsection()).collect();
    let mut out = TokenStream::new();
    for (i, p) in subs.iter().enumerate() {
        let vm = p.as_vmstate();
        let span = match &p.kind {
            Kind::Subsection { ty, .. } => ty.span(),
            _ => p.ty.span(),
        };
        let nonstandard = matches!(
            p.kind,
            Kind::Subsection {
                nonstandard_name: true,
                ..
            }
        );
        let (check, msg) = if nonstandard {
            (
                quote!(__vm::has_parent_prefix),
                format!(
                    "the subsection type of field `{}` must have a name that starts with \"{parent}\"",
                    p.rust_name
                ),
            )
        } else {
            (
                quote!(__vm::is_subsection_name),
                format!(
                    "the subsection type of field `{}` must be named \"{parent}/<something>\": QEMU finds subsections by their parent's name and `/`",
                    p.rust_name
                ),
            )
        };
        out.extend(quote_spanned! {span=>
            const _: () = ::core::assert!(#check(#parent, #vm::DESC.name), #msg);
        });
        for q in &subs[..i] {
            let other = q.as_vmstate();
            let msg = format!(
                "fields `{}` and `{}` are subsections with the same name; a loader could not tell them apart",
                q.rust_name, p.rust_name
            );
            out.extend(quote_spanned! {span=>
                const _: () = ::core::assert!(!__vm::str_eq(#other::DESC.name, #vm::DESC.name), #msg);
            });
        }
    }
    out
}
