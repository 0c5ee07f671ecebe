//! Parsing of `#[vmstate(...)]` attributes into typed values with their spans.
//! Syntax errors, unknown keys (with a did-you-mean) and repeated keys are reported
//! here; what the values mean together is checked in `check`.

use crate::ctxt::Ctxt;
use proc_macro2::Span;
use syn::meta::ParseNestedMeta;
use syn::spanned::Spanned;
use syn::{Expr, ExprLit, ExprPath, ExprRange, Ident, Lit, LitInt, LitStr, RangeLimits};

/// A value with the span of the attribute that set it.
#[derive(Clone)]
pub struct Sp<T> {
    pub value: T,
    pub span: Span,
}

pub const CONTAINER_KEYS: &[&str] = &[
    "name",
    "version",
    "minimum_version",
    "pre_save",
    "post_save",
    "pre_load",
    "post_load",
    "transparent",
    "ber_tag",
    "ber_blob_until",
];

pub const FIELD_KEYS: &[&str] = &[
    "version",
    "exists",
    "len",
    "max",
    "equal",
    "validate",
    "rename",
    "skip",
    "subsection",
    "needed",
    "as_array",
    "nonstandard_name",
];

#[derive(Default)]
pub struct ContainerAttrs {
    pub name: Option<Sp<String>>,
    pub version: Option<Sp<u32>>,
    pub minimum_version: Option<Sp<u32>>,
    pub pre_save: Option<ExprPath>,
    pub post_save: Option<ExprPath>,
    pub pre_load: Option<ExprPath>,
    pub post_load: Option<ExprPath>,
    pub transparent: Option<Span>,
    pub ber_tag: Option<Sp<u32>>,
    pub ber_blob_until: Option<Sp<u32>>,
}

/// A field's version range: `A..`, `A..=B` or `..=B` (inclusive bounds), with the
/// range expression so errors underline all of it.
#[derive(Clone)]
pub struct VersionSpec {
    pub min: Option<u32>,
    pub max: Option<u32>,
    pub expr: Expr,
}

#[derive(Default)]
pub struct FieldAttrs {
    pub version: Option<VersionSpec>,
    pub exists: Option<ExprPath>,
    pub len: Option<Ident>,
    pub max: Option<Sp<usize>>,
    pub equal: Option<Span>,
    pub validate: Option<ExprPath>,
    pub rename: Option<Sp<String>>,
    pub skip: Option<Span>,
    pub subsection: Option<Span>,
    pub needed: Option<ExprPath>,
    pub as_array: Option<Span>,
    pub nonstandard_name: Option<Span>,
}

impl FieldAttrs {
    /// Keys set besides `skip`, with their spans (for the skip-conflict check).
    pub fn non_skip_keys(&self) -> Vec<(&'static str, Span)> {
        let mut v = Vec::new();
        let mut push = |k: &'static str, s: Option<Span>| {
            if let Some(s) = s {
                v.push((k, s));
            }
        };
        push("version", self.version.as_ref().map(|v| v.expr.span()));
        push("exists", self.exists.as_ref().map(Spanned::span));
        push("len", self.len.as_ref().map(Ident::span));
        push("max", self.max.as_ref().map(|s| s.span));
        push("equal", self.equal);
        push("validate", self.validate.as_ref().map(Spanned::span));
        push("rename", self.rename.as_ref().map(|s| s.span));
        push("subsection", self.subsection);
        push("needed", self.needed.as_ref().map(Spanned::span));
        push("as_array", self.as_array);
        push("nonstandard_name", self.nonstandard_name);
        v
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

fn parse_int<T: std::str::FromStr>(meta: &ParseNestedMeta) -> syn::Result<Sp<T>>
where
    T::Err: std::fmt::Display,
{
    let lit: LitInt = meta.value()?.parse()?;
    Ok(Sp {
        value: lit.base10_parse()?,
        span: lit.span(),
    })
}

fn parse_str(meta: &ParseNestedMeta) -> syn::Result<Sp<String>> {
    let lit: LitStr = meta.value()?.parse()?;
    Ok(Sp {
        value: lit.value(),
        span: lit.span(),
    })
}

fn parse_path(meta: &ParseNestedMeta) -> syn::Result<ExprPath> {
    meta.value()?.parse()
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

fn parse_version_range(meta: &ParseNestedMeta) -> syn::Result<VersionSpec> {
    let expr: Expr = meta.value()?.parse()?;
    let Expr::Range(ExprRange {
        start, limits, end, ..
    }) = &expr
    else {
        return Err(syn::Error::new_spanned(
            &expr,
            "field `version` takes a range: `A..`, `A..=B` or `..=B`",
        ));
    };
    let min = start.as_deref().map(int_bound).transpose()?;
    let max = end.as_deref().map(int_bound).transpose()?;
    match (limits, max) {
        (RangeLimits::HalfOpen(_), Some(b)) => Err(syn::Error::new_spanned(
            &expr,
            format!(
                "use an inclusive upper bound: `..={}` (versions are whole numbers)",
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

/// Runs `apply` on each `key [= value]` of every `#[vmstate(...)]` attribute.
/// `apply` returns `Ok(false)` for a key it does not know, which is reported with a
/// did-you-mean against `known`; parsing goes on after every error.
fn parse_each(
    cx: &Ctxt,
    attrs: &[syn::Attribute],
    known: &[&str],
    mut apply: impl FnMut(&str, Span, &ParseNestedMeta) -> syn::Result<bool>,
) {
    for attr in vmstate_attrs(attrs) {
        let r = attr.parse_nested_meta(|meta| {
            let key = meta
                .path
                .get_ident()
                .map(ToString::to_string)
                .unwrap_or_default();
            let span = meta.path.span();
            if !apply(&key, span, &meta)? {
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
    parse_each(cx, attrs, CONTAINER_KEYS, |key, span, meta| {
        match key {
            "name" => set(cx, &mut out.name, parse_str(meta)?, key, span),
            "version" => set(cx, &mut out.version, parse_int(meta)?, key, span),
            "minimum_version" => set(cx, &mut out.minimum_version, parse_int(meta)?, key, span),
            "pre_save" => set(cx, &mut out.pre_save, parse_path(meta)?, key, span),
            "post_save" => set(cx, &mut out.post_save, parse_path(meta)?, key, span),
            "pre_load" => set(cx, &mut out.pre_load, parse_path(meta)?, key, span),
            "post_load" => set(cx, &mut out.post_load, parse_path(meta)?, key, span),
            "transparent" => set(cx, &mut out.transparent, span, key, span),
            "ber_tag" => set(cx, &mut out.ber_tag, parse_int(meta)?, key, span),
            "ber_blob_until" => set(cx, &mut out.ber_blob_until, parse_int(meta)?, key, span),
            _ => return Ok(false),
        }
        Ok(true)
    });
    out
}

pub fn field(cx: &Ctxt, attrs: &[syn::Attribute]) -> FieldAttrs {
    let mut out = FieldAttrs::default();
    parse_each(cx, attrs, FIELD_KEYS, |key, span, meta| {
        match key {
            "version" => set(cx, &mut out.version, parse_version_range(meta)?, key, span),
            "exists" => set(cx, &mut out.exists, parse_path(meta)?, key, span),
            "len" => set(cx, &mut out.len, meta.value()?.parse()?, key, span),
            "max" => set(cx, &mut out.max, parse_int(meta)?, key, span),
            "equal" => set(cx, &mut out.equal, span, key, span),
            "validate" => set(cx, &mut out.validate, parse_path(meta)?, key, span),
            "rename" => set(cx, &mut out.rename, parse_str(meta)?, key, span),
            "skip" => set(cx, &mut out.skip, span, key, span),
            "subsection" => set(cx, &mut out.subsection, span, key, span),
            "needed" => set(cx, &mut out.needed, parse_path(meta)?, key, span),
            "as_array" => set(cx, &mut out.as_array, span, key, span),
            "nonstandard_name" => set(cx, &mut out.nonstandard_name, span, key, span),
            _ => return Ok(false),
        }
        Ok(true)
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn did_you_mean() {
        assert_eq!(
            unknown_key("verison", FIELD_KEYS),
            "unknown vmstate attribute `verison`; did you mean `version`?"
        );
        assert!(unknown_key("zzzzzzzz", FIELD_KEYS).contains("expected one of"));
        assert_eq!(distance("kitten", "sitting"), 3);
    }
}
