//! Generates `to_json_at`: the value as the JSON that the ASN.1 JSON Encoding Rules
//! give its BER schema, keyed by the same identifiers, so tests can compare a Rust
//! value with what an independent ASN.1 tool decodes from its bytes.

use crate::plan::{FieldPlan, Kind};
use proc_macro2::TokenStream;
use quote::quote;

fn field(p: &FieldPlan) -> TokenStream {
    let (id, key, as_field) = (p.ident, &p.asn1_name, p.as_field());
    let nv = p.nested_version();
    match &p.kind {
        Kind::Plain | Kind::ByteArray { .. } => p.when_present(quote! {
            #as_field::json_field(&self.#id, &mut __m, #key #nv);
        }),
        Kind::VarArray { .. } => {
            let (slice, el) = (p.slice(p.var_count(None)), p.as_element());
            p.when_present(quote! {
                __m.insert(
                    #key.into(),
                    #el::json_of(&#slice #nv),
                );
            })
        }
        Kind::Subsection { .. } => {
            let sv = p.subsection_version();
            p.when_sent(quote!(__subs.insert(#key.into(), __vm::subsection_json(__s, #sv));))
        }
    }
}

pub fn method(plans: &[FieldPlan]) -> TokenStream {
    let fields = plans.iter().map(field);
    quote! {
        fn to_json_at(&self, version: u32) -> __vm::JsonValue {
            let mut __m = __vm::JsonMap::new();
            let mut __subs = __vm::JsonMap::new();
            #(#fields)*
            if !__subs.is_empty() {
                __m.insert("subsections".into(), __vm::JsonValue::Object(__subs));
            }
            __vm::JsonValue::Object(__m)
        }
    }
}
