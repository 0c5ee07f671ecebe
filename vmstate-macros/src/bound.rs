//! The bounds a generic type's impls need, as serde_derive's `bound.rs` finds
//! them: for each field on the wire whose type names a type parameter, that the
//! type is what its kind of field requires (`Ring<T>`'s `slots: [T; 8]` needs
//! `[T; 8]: Field`). A parameter that only skipped fields use gets no bound.

use crate::ast::Container;
use crate::plan::{ContainerPlan, FieldPlan, Kind};
use proc_macro2::TokenStream;
use quote::quote;
use syn::visit::Visit;
use syn::{Generics, Ident, Type, WherePredicate};

/// Whether `ty` names one of `params`.
fn mentions(ty: &Type, params: &[&Ident]) -> bool {
    struct Finder<'a> {
        params: &'a [&'a Ident],
        found: bool,
    }
    impl<'ast> Visit<'ast> for Finder<'_> {
        fn visit_path(&mut self, p: &'ast syn::Path) {
            if let Some(first) = p.segments.first() {
                self.found |= self.params.iter().any(|id| first.ident == **id);
            }
            syn::visit::visit_path(self, p);
        }
    }
    let mut f = Finder {
        params,
        found: false,
    };
    f.visit_type(ty);
    f.found
}

/// The type's generics with the bounds its fields need added to the where clause.
pub fn with_bounds(c: &Container, cp: &ContainerPlan, plans: &[FieldPlan]) -> Generics {
    let mut generics = c.generics.clone();
    let params: Vec<&Ident> = c.generics.type_params().map(|p| &p.ident).collect();
    if params.is_empty() {
        return generics;
    }
    let newtype = match &c.data {
        crate::ast::Data::Newtype(inner) if mentions(inner, &params) => {
            Some(syn::parse_quote!(#inner: __vm::Field))
        }
        _ => None,
    };
    let predicates = plans.iter().filter_map(|p| {
        let bound: TokenStream = match &p.kind {
            Kind::Plain | Kind::ByteArray { .. } if mentions(p.ty, &params) => {
                let ty = p.ty;
                match p.check {
                    Some(_) => quote!(#ty: __vm::Field + ::core::clone::Clone + ::core::cmp::PartialOrd + ::core::fmt::Debug),
                    None => quote!(#ty: __vm::Field),
                }
            }
            Kind::VarArray { elem, .. } if mentions(elem, &params) => {
                quote!(#elem: __vm::Field + ::core::default::Default)
            }
            Kind::Subsection { ty, .. } if mentions(ty, &params) => {
                quote!(#ty: __vm::VMState + ::core::default::Default)
            }
            _ => return None,
        };
        Some(syn::parse2::<WherePredicate>(bound).expect("a where predicate"))
    });
    let clause = generics.make_where_clause();
    clause
        .predicates
        .extend(newtype.into_iter().chain(predicates));
    if cp.prepare.is_some() {
        // `prepare` runs on a copy.
        let ident = c.ident;
        let (_, ty_generics, _) = c.generics.split_for_impl();
        clause
            .predicates
            .push(syn::parse_quote!(#ident #ty_generics: ::core::clone::Clone));
    }
    generics
}
