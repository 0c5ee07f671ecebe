//! `#[derive(VMState)]`: generates, per type, a static description and straight-line
//! codec code for vmstate. Use it through `vmstate-runtime`, which re-exports it.
//!
//! The crate is laid out like serde_derive: `ast` (the input), `attr` (attribute
//! parsing), `check` (semantic checks, errors collected with spans), then one module
//! per generated part (`desc`, `legacy`, `ber`, `value_json`, `vmdesc`, `field_types`),
//! assembled by `expand`. `plan` decides once what each field is on the wire and
//! what the type is as a whole (`ContainerPlan`); generators read only the plans.
#![deny(missing_docs)]

mod asn1;
mod ast;
mod attr;
mod ber;
mod bound;
mod check;
mod ctxt;
mod data_enum;
mod desc;
mod expand;
mod field_types;
mod hooks;
mod legacy;
mod methods;
mod plan;
mod value_json;
mod vmdesc;

use proc_macro::TokenStream;

/// Derives `vmstate_runtime::VMState` for structs, or `vmstate_runtime::Field` for
/// `#[repr(uN)]` enums and `#[vmstate(transparent)]` newtypes. See the
/// `vmstate-runtime` documentation for the attribute language.
#[proc_macro_derive(VMState, attributes(vmstate))]
pub fn derive_vmstate(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    let cx = ctxt::Ctxt::default();
    let container = ast::Container::from_ast(&cx, &input);
    if let Some(c) = &container {
        check::check(&cx, c);
    }
    if let Some(errors) = cx.into_compile_errors() {
        return errors.into();
    }
    expand::expand(&container.expect("no errors, so parsed")).into()
}
