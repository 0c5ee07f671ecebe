//! Parsing of `#[vmstate(...)]` attributes into typed values with their spans.
//! Syntax errors, unknown keys (with a did-you-mean) and repeated keys are reported
//! here; what the values mean together is checked in `check`.

use crate::ctxt::Ctxt;
use proc_macro2::Span;
use syn::meta::ParseNestedMeta;
use syn::spanned::Spanned;
use syn::{Expr, ExprLit, ExprRange, Ident, Lit, LitInt, LitStr, RangeLimits};

/// A value with the span of the attribute that set it.
#[derive(Clone)]
pub struct Sp<T> {
    pub value: T,
    pub span: Span,
}

/// Where an attribute's value came from, for errors about it.
pub trait AttrSpan {
    fn attr_span(&self) -> Span;
}

impl<T> AttrSpan for Sp<T> {
    fn attr_span(&self) -> Span {
        self.span
    }
}

impl AttrSpan for Span {
    fn attr_span(&self) -> Span {
        *self
    }
}

/// A hook or predicate: a path to a function, or a closure written in place.
#[derive(Clone)]
pub struct Hook(pub Expr);

impl AttrSpan for Hook {
    fn attr_span(&self) -> Span {
        self.0.span()
    }
}

impl quote::ToTokens for Hook {
    fn to_tokens(&self, tokens: &mut proc_macro2::TokenStream) {
        self.0.to_tokens(tokens)
    }
}

impl AttrSpan for Ident {
    fn attr_span(&self) -> Span {
        self.span()
    }
}

impl AttrSpan for VersionSpec {
    fn attr_span(&self) -> Span {
        self.expr.span()
    }
}

/// Declares a set of attributes from one table of `"key" => field: Type = parser`:
/// the struct of parsed values, the known keys (for did-you-mean), the parsing of each
/// key and the list of keys set with their spans (for the checks). A new attribute is
/// one line here.
macro_rules! attribute_table {
    ($(#[$doc:meta])* $name:ident { $( $(#[$fdoc:meta])* $key:literal => $field:ident : $ty:ty = $parse:path, )* }) => {
        $(#[$doc])*
        #[derive(Default)]
        pub struct $name {
            $( $(#[$fdoc])* pub $field: Option<$ty>, )*
        }

        impl $name {
            pub const KEYS: &'static [&'static str] = &[$($key),*];

            /// Parses `key`'s value into its slot; `Ok(false)` for an unknown key.
            fn parse_key(&mut self, cx: &Ctxt, key: &str, span: Span, meta: &ParseNestedMeta) -> syn::Result<bool> {
                match key {
                    $( $key => set(cx, &mut self.$field, $parse(meta, span)?, key, span), )*
                    _ => return Ok(false),
                }
                Ok(true)
            }

            /// Every key that is set, with the span of its value.
            pub fn keys_set(&self) -> Vec<(&'static str, Span)> {
                let mut set = Vec::new();
                $( if let Some(v) = &self.$field { set.push(($key, v.attr_span())); } )*
                set
            }
        }
    };
}

attribute_table! {
    /// `#[vmstate(...)]` on a struct (a VMStateDescription), an enum or a newtype.
    ContainerAttrs {
        "name" => name: Sp<String> = parse_str,
        "version" => version: Sp<u32> = parse_int,
        "minimum_version" => minimum_version: Sp<u32> = parse_int,
        "pre_save" => pre_save: Hook = parse_hook,
        /// `fn(&mut Self) -> Result<(), E>` run on a copy that is then saved.
        "prepare" => prepare: Hook = parse_hook,
        "post_save" => post_save: Hook = parse_hook,
        "pre_load" => pre_load: Hook = parse_hook,
        "post_load" => post_load: Hook = parse_hook,
        "transparent" => transparent: Span = flag,
        /// A transparent newtype's QEMU `VMStateInfo` name: an opaque type.
        "info" => info: Sp<String> = parse_str,
        "ber_tag" => ber_tag: Sp<u32> = parse_int,
        /// QEMU's `MigrationPriority`, by its name in lower case.
        "priority" => priority: Sp<String> = parse_str,
        "early_setup" => early_setup: Span = flag,
        "unmigratable" => unmigratable: Span = flag,
        /// `fn(&Self) -> bool`: a save fails while it says an unplug is pending.
        "dev_unplug_pending" => dev_unplug_pending: Hook = parse_hook,
        /// `fn(&Self) -> Option<UnpluggedRam>`: RAM of the device its source does
        /// not send (virtio-mem's unplugged blocks).
        "unplugged_ram" => unplugged_ram: Hook = parse_hook,
        "ber_blob_until" => ber_blob_until: Sp<u32> = parse_int,
        /// A section QEMU saves with old-style handlers (no VMStateDescription).
        "old_style" => old_style: Span = flag,
        /// The path of the runtime crate when it is re-exported (serde's `crate`).
        "crate" => krate: Sp<syn::Path> = parse_str_path,
    }
}

/// `elements = A..B`: the bounds (each an integer or a constant) and the span.
#[derive(Clone)]
pub struct Elements {
    pub start: Option<proc_macro2::TokenStream>,
    pub end: Option<proc_macro2::TokenStream>,
    pub expr: Expr,
}

impl AttrSpan for Elements {
    fn attr_span(&self) -> Span {
        self.expr.span()
    }
}

/// The parts of a range expression: the whole, its start, its limits, its end.
type RangeParts = (Expr, Option<Box<Expr>>, RangeLimits, Option<Box<Expr>>);

/// The value of `meta` as a range expression, or the error `usage`.
fn parse_range(meta: &ParseNestedMeta, usage: &str) -> syn::Result<RangeParts> {
    let expr: Expr = meta.value()?.parse()?;
    match &expr {
        Expr::Range(ExprRange {
            start, limits, end, ..
        }) => Ok((expr.clone(), start.clone(), *limits, end.clone())),
        _ => Err(syn::Error::new_spanned(&expr, usage)),
    }
}

fn parse_elements(meta: &ParseNestedMeta, _: Span) -> syn::Result<Elements> {
    let (expr, start, limits, end) = parse_range(
        meta,
        "`elements` takes a range of indices: `A..B`, `A..` or `..B`",
    )?;
    let bound = |e: &Expr| quote::quote!(((#e) as usize));
    let end = match (limits, end.as_deref()) {
        (RangeLimits::Closed(_), Some(e)) => {
            let b = bound(e);
            Some(quote::quote!((#b + 1)))
        }
        (_, e) => e.map(bound),
    };
    if start.is_none() && end.is_none() {
        return Err(syn::Error::new_spanned(
            &expr,
            "`..` is the whole array; leave `elements` out instead",
        ));
    }
    Ok(Elements {
        start: start.as_deref().map(bound),
        end,
        expr: expr.clone(),
    })
}

/// QEMU's `MigrationPriority` names (`MIG_PRI_<NAME>`, in lower case) and the
/// runtime's `Priority` variants.
pub const PRIORITIES: [(&str, &str); 6] = [
    ("default", "Default"),
    ("iommu", "Iommu"),
    ("pci_bus", "PciBus"),
    ("virtio_mem", "VirtioMem"),
    ("gicv3_its", "Gicv3Its"),
    ("gicv3", "Gicv3"),
];

/// The `Priority` variant of a `priority = "..."` value.
pub fn priority_variant(name: &str) -> Option<&'static str> {
    PRIORITIES.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
}

/// A field's version range: `A..`, `A..=B` or `..=B` (inclusive bounds), with the
/// range expression so errors underline all of it.
#[derive(Clone)]
pub struct VersionSpec {
    pub min: Option<u32>,
    pub max: Option<u32>,
    pub expr: Expr,
}

attribute_table! {
    /// `#[vmstate(...)]` on a field.
    FieldAttrs {
        "version" => version: VersionSpec = parse_version_range,
        "exists" => exists: Hook = parse_hook,
        "len" => len: Ident = parse_ident,
        "max" => max: Sp<usize> = parse_int,
        "multiply" => multiply: Sp<usize> = parse_int,
        "bitmap" => bitmap: Span = flag,
        "elements" => elements: Elements = parse_elements,
        "equal" => equal: Span = flag,
        "le" => le: Span = flag,
        "validate" => validate: Hook = parse_hook,
        "pre_load" => pre_load: Hook = parse_hook,
        "rename" => rename: Sp<String> = parse_str,
        "skip" => skip: Span = flag,
        "subsection" => subsection: Span = flag,
        "needed" => needed: Hook = parse_hook,
        "new" => new: Hook = parse_hook,
        "as_array" => as_array: Span = flag,
        "tmp" => tmp: Span = flag,
        "struct_version" => struct_version: Sp<Vec<(u32, u32)>> = parse_struct_version,
        "nonstandard_name" => nonstandard_name: Span = flag,
    }
}

/// Levenshtein distance, for did-you-mean hints.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

fn unknown_key(key: &str, known: &[&str]) -> String {
    let best = known
        .iter()
        .map(|k| (distance(key, k), *k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 3))
        .min();
    match best {
        Some((_, k)) => format!("unknown vmstate attribute `{key}`; did you mean `{k}`?"),
        None => format!(
            "unknown vmstate attribute `{key}`; expected one of: {}",
            known.join(", ")
        ),
    }
}

fn set<T>(cx: &Ctxt, slot: &mut Option<T>, value: T, key: &str, span: Span) {
    if slot.is_some() {
        cx.error_at(span, format!("duplicate vmstate attribute `{key}`"));
    } else {
        *slot = Some(value);
    }
}

fn parse_int<T: std::str::FromStr>(meta: &ParseNestedMeta, _: Span) -> syn::Result<Sp<T>>
where
    T::Err: std::fmt::Display,
{
    let lit: LitInt = meta.value()?.parse()?;
    Ok(Sp {
        value: lit.base10_parse()?,
        span: lit.span(),
    })
}

/// `struct_version = N` (always N: a table of one step) or a release table
/// `struct_version(P => N, ...)`: from parent version P on, the nested version N.
fn parse_struct_version(meta: &ParseNestedMeta, _: Span) -> syn::Result<Sp<Vec<(u32, u32)>>> {
    if meta.input.peek(syn::Token![=]) {
        let v: Sp<u32> = parse_int(meta, Span::call_site())?;
        return Ok(Sp {
            value: vec![(0, v.value)],
            span: v.span,
        });
    }
    let content;
    let paren = syn::parenthesized!(content in meta.input);
    let mut table = Vec::new();
    while !content.is_empty() {
        let parent: LitInt = content.parse()?;
        content.parse::<syn::Token![=>]>()?;
        let nested: LitInt = content.parse()?;
        let step = (parent.base10_parse()?, nested.base10_parse()?);
        if table.last().is_some_and(|&(p, _): &(u32, u32)| p >= step.0) {
            return Err(syn::Error::new(
                parent.span(),
                "`struct_version(...)` lists parent versions in increasing order",
            ));
        }
        table.push(step);
        if !content.is_empty() {
            content.parse::<syn::Token![,]>()?;
        }
    }
    if table.is_empty() {
        return Err(syn::Error::new(
            paren.span.join(),
            "`struct_version(...)` needs at least one `parent version => nested version`",
        ));
    }
    Ok(Sp {
        value: table,
        span: paren.span.join(),
    })
}

fn parse_str(meta: &ParseNestedMeta, _: Span) -> syn::Result<Sp<String>> {
    let lit: LitStr = meta.value()?.parse()?;
    Ok(Sp {
        value: lit.value(),
        span: lit.span(),
    })
}

fn parse_hook(meta: &ParseNestedMeta, _: Span) -> syn::Result<Hook> {
    match meta.value()?.parse()? {
        e @ (Expr::Path(_) | Expr::Closure(_)) => Ok(Hook(e)),
        other => Err(syn::Error::new_spanned(
            other,
            "expected a path to a function or a closure (`|s, version| ...`)",
        )),
    }
}

fn parse_ident(meta: &ParseNestedMeta, _: Span) -> syn::Result<Ident> {
    meta.value()?.parse()
}

/// A path written as a string, as serde's `crate = "..."`.
fn parse_str_path(meta: &ParseNestedMeta, _: Span) -> syn::Result<Sp<syn::Path>> {
    let lit: LitStr = meta.value()?.parse()?;
    Ok(Sp {
        value: lit.parse()?,
        span: lit.span(),
    })
}

/// A key without a value: its span.
fn flag(_: &ParseNestedMeta, span: Span) -> syn::Result<Span> {
    Ok(span)
}

fn int_bound(e: &Expr) -> syn::Result<u32> {
    match e {
        Expr::Lit(ExprLit {
            lit: Lit::Int(i), ..
        }) => i.base10_parse(),
        other => Err(syn::Error::new_spanned(
            other,
            "version bounds must be integer literals",
        )),
    }
}

fn parse_version_range(meta: &ParseNestedMeta, _: Span) -> syn::Result<VersionSpec> {
    let (expr, start, limits, end) = parse_range(
        meta,
        "field `version` takes a range: `A..`, `A..=B` or `..=B`",
    )?;
    let min = start.as_deref().map(int_bound).transpose()?;
    let max = end.as_deref().map(int_bound).transpose()?;
    match (limits, max) {
        (RangeLimits::HalfOpen(_), Some(b)) if min.is_some_and(|a| a >= b) => {
            Err(syn::Error::new_spanned(
                &expr,
                "this range holds no version: a field on the wire at version A alone is `A..=A`",
            ))
        }
        (RangeLimits::HalfOpen(_), Some(b)) => Err(syn::Error::new_spanned(
            &expr,
            format!(
                "use an inclusive upper bound: `{}..={}` (versions are whole numbers)",
                min.map_or(String::new(), |a| a.to_string()),
                b.saturating_sub(1)
            ),
        )),
        (_, _) if min.is_none() && max.is_none() => Err(syn::Error::new_spanned(
            &expr,
            "`..` allows every version; leave `version` out instead",
        )),
        _ => Ok(VersionSpec {
            min,
            max,
            expr: expr.clone(),
        }),
    }
}

fn vmstate_attrs(attrs: &[syn::Attribute]) -> impl Iterator<Item = &syn::Attribute> {
    attrs.iter().filter(|a| a.path().is_ident("vmstate"))
}

/// Parses each `key [= value]` of every `#[vmstate(...)]` attribute with `parse_key`;
/// a key it does not know is reported with a did-you-mean against `known`. Parsing
/// goes on after every error.
fn parse_each(
    cx: &Ctxt,
    attrs: &[syn::Attribute],
    known: &[&str],
    mut parse_key: impl FnMut(&str, Span, &ParseNestedMeta) -> syn::Result<bool>,
) {
    for attr in vmstate_attrs(attrs) {
        let r = attr.parse_nested_meta(|meta| {
            let key = meta
                .path
                .get_ident()
                .map(ToString::to_string)
                .unwrap_or_default();
            let span = meta.path.span();
            if !parse_key(&key, span, &meta)? {
                // Consume a value if one is given, so parsing can go on.
                if meta.input.peek(syn::Token![=]) {
                    let _: Expr = meta.value()?.parse()?;
                }
                cx.error_at(span, unknown_key(&key, known));
            }
            Ok(())
        });
        if let Err(e) = r {
            cx.syn_error(e);
        }
    }
}

pub fn container(cx: &Ctxt, attrs: &[syn::Attribute]) -> ContainerAttrs {
    let mut out = ContainerAttrs::default();
    parse_each(cx, attrs, ContainerAttrs::KEYS, |key, span, meta| {
        out.parse_key(cx, key, span, meta)
    });
    out
}

pub fn field(cx: &Ctxt, attrs: &[syn::Attribute]) -> FieldAttrs {
    let mut out = FieldAttrs::default();
    parse_each(cx, attrs, FieldAttrs::KEYS, |key, span, meta| {
        out.parse_key(cx, key, span, meta)
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn did_you_mean() {
        assert_eq!(
            unknown_key("verison", FieldAttrs::KEYS),
            "unknown vmstate attribute `verison`; did you mean `version`?"
        );
        assert!(unknown_key("zzzzzzzz", FieldAttrs::KEYS).contains("expected one of"));
        assert_eq!(distance("kitten", "sitting"), 3);
    }
}
