//! The derive input as the rest of the macro sees it: a struct with its fields and
//! their parsed attributes, a transparent newtype, or a `#[repr(uN)]` enum.

use crate::attr::{self, ContainerAttrs, FieldAttrs};
use crate::ctxt::Ctxt;
use syn::{
    Data as SynData, DeriveInput, Expr, Fields, GenericArgument, Ident, PathArguments, Type,
};

pub struct Container<'a> {
    pub ident: &'a Ident,
    /// Type and const parameters (bounds for their fields are added by `bound`).
    pub generics: &'a syn::Generics,
    pub attrs: ContainerAttrs,
    pub data: Data<'a>,
}

pub enum Data<'a> {
    Struct(Vec<Field<'a>>),
    Newtype(&'a Type),
    Enum {
        repr: Ident,
        variants: Vec<&'a Ident>,
    },
    /// An enum with data: sent as its variant, then that variant's fields.
    Variants(Vec<&'a syn::Variant>),
}

pub struct Field<'a> {
    pub ident: &'a Ident,
    pub ty: &'a Type,
    pub attrs: FieldAttrs,
    pub shape: Shape<'a>,
}

/// What the field's type looks like syntactically (for `len`, `max`, `as_array`).
pub enum Shape<'a> {
    Plain,
    Array { elem: &'a Type, len: &'a Expr },
    Vec { elem: &'a Type },
    Option { inner: &'a Type },
}

const INTEGER_TYPES: &[&str] = &["u8", "u16", "u32", "u64", "i8", "i16", "i32", "i64"];

fn last_segment(ty: &Type) -> Option<&syn::PathSegment> {
    match ty {
        Type::Path(p) if p.qself.is_none() => p.path.segments.last(),
        Type::Group(g) => last_segment(&g.elem),
        Type::Paren(p) => last_segment(&p.elem),
        _ => None,
    }
}

fn is_named(ty: &Type, names: &[&str]) -> bool {
    last_segment(ty).is_some_and(|s| s.arguments.is_none() && names.iter().any(|n| s.ident == n))
}

pub fn is_u8(ty: &Type) -> bool {
    is_named(ty, &["u8"])
}

/// `Unused<N>` (by its last path segment).
pub fn is_unused(ty: &Type) -> bool {
    last_segment(ty).is_some_and(|s| s.ident == "Unused")
}

fn shape(ty: &Type) -> Shape<'_> {
    if let Type::Array(a) = ty {
        return Shape::Array {
            elem: &a.elem,
            len: &a.len,
        };
    }
    if let Some(seg) = last_segment(ty) {
        if let PathArguments::AngleBracketed(args) = &seg.arguments {
            if let Some(GenericArgument::Type(arg)) = args.args.first() {
                if seg.ident == "Vec" {
                    return Shape::Vec { elem: arg };
                }
                if seg.ident == "Option" {
                    return Shape::Option { inner: arg };
                }
            }
        }
    }
    Shape::Plain
}

fn repr(cx: &Ctxt, input: &DeriveInput) -> Option<Ident> {
    let mut found = None;
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("repr")) {
        let _ = attr.parse_nested_meta(|meta| {
            if let Some(id) = meta.path.get_ident() {
                if INTEGER_TYPES.iter().any(|t| id == t) {
                    found = Some(id.clone());
                }
            }
            Ok(())
        });
    }
    if found.is_none() {
        cx.error_spanned_by(
            &input.ident,
            "VMState enums need an integer representation: add `#[repr(u8)]` (or u16, u32, u64, i8..i64); it is the type on the wire",
        );
    }
    found
}

impl<'a> Container<'a> {
    /// The VMState name (empty only when `check` has reported it missing).
    pub fn name(&self) -> &str {
        self.attrs.name.as_ref().map_or("", |n| n.value.as_str())
    }

    /// The oldest version that loads (the current one unless given).
    pub fn minimum_version(&self) -> u32 {
        self.attrs
            .minimum_version
            .as_ref()
            .map_or(self.version(), |v| v.value)
    }

    /// The current version (0 only when `check` has reported it missing).
    pub fn version(&self) -> u32 {
        self.attrs.version.as_ref().map_or(0, |v| v.value)
    }

    pub fn from_ast(cx: &Ctxt, input: &'a DeriveInput) -> Option<Container<'a>> {
        let attrs = attr::container(cx, &input.attrs);
        if input.generics.lifetimes().next().is_some() {
            cx.error_spanned_by(
                &input.generics,
                "VMState cannot be derived for types with lifetimes: a load fills the value, so it must own its state",
            );
        }
        let data = match &input.data {
            SynData::Struct(s) => match &s.fields {
                Fields::Named(named) => Data::Struct(
                    named
                        .named
                        .iter()
                        .map(|f| {
                            let ident = f.ident.as_ref().expect("named field");
                            Field {
                                ident,
                                ty: &f.ty,
                                attrs: attr::field(cx, &f.attrs),
                                shape: shape(&f.ty),
                            }
                        })
                        .collect(),
                ),
                Fields::Unnamed(unnamed)
                    if unnamed.unnamed.len() == 1 && attrs.transparent.is_some() =>
                {
                    let f = &unnamed.unnamed[0];
                    for a in f.attrs.iter().filter(|a| a.path().is_ident("vmstate")) {
                        cx.error_spanned_by(
                            a,
                            "a transparent newtype's field takes no vmstate attributes",
                        );
                    }
                    Data::Newtype(&f.ty)
                }
                Fields::Unnamed(_) | Fields::Unit => {
                    let msg = if attrs.transparent.is_some() {
                        "`transparent` needs a newtype: a tuple struct with exactly one field"
                    } else {
                        "VMState structs need named fields; for a newtype add #[vmstate(transparent)]"
                    };
                    cx.error_spanned_by(&input.ident, msg);
                    return None;
                }
            },
            SynData::Enum(e) if e.variants.iter().any(|v| !matches!(v.fields, Fields::Unit)) => {
                if !input.generics.params.is_empty() {
                    cx.error_spanned_by(&input.generics, "VMState enums cannot be generic");
                }
                for v in &e.variants {
                    for a in v.attrs.iter().filter(|a| a.path().is_ident("vmstate")) {
                        cx.error_spanned_by(
                            a,
                            "a variant takes no vmstate attributes (its fields do)",
                        );
                    }
                }
                Data::Variants(e.variants.iter().collect())
            }
            SynData::Enum(e) => {
                if !input.generics.params.is_empty() {
                    cx.error_spanned_by(
                        &input.generics,
                        "VMState enums cannot be generic: each variant is one integer on the wire",
                    );
                }
                let repr = repr(cx, input);
                let mut variants = Vec::new();
                for v in &e.variants {
                    variants.push(&v.ident);
                }
                Data::Enum {
                    repr: repr?,
                    variants,
                }
            }
            SynData::Union(u) => {
                cx.error_spanned_by(u.union_token, "VMState cannot be derived for unions");
                return None;
            }
        };
        Some(Container {
            ident: &input.ident,
            generics: &input.generics,
            attrs,
            data,
        })
    }
}
