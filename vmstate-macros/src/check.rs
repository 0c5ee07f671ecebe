//! Semantic checks of the parsed attributes. Every problem is reported at the span of
//! the attribute or field at fault; nothing here stops at the first error.
//!
//! Checks that need other types' descriptions (subsection names) cannot run in the
//! macro; `expand` emits them as compile-time assertions instead.

use crate::ast::{is_u8, Container, Data, Field, Shape};
use crate::attr::AttrSpan;
use crate::ctxt::Ctxt;

pub fn check(cx: &Ctxt, c: &Container) {
    match &c.data {
        Data::Struct(fields) => {
            check_struct_attrs(cx, c);
            for (i, f) in fields.iter().enumerate() {
                check_field(cx, c, fields, i, f);
            }
        }
        Data::Newtype(_) | Data::Enum { .. } | Data::Variants(_) => check_field_type_attrs(cx, c),
    }
}

fn check_struct_attrs(cx: &Ctxt, c: &Container) {
    let a = &c.attrs;
    match &a.name {
        None => cx.error_spanned_by(
            c.ident,
            "missing #[vmstate(name = \"...\")]: the VMStateDescription name is the section's id on the wire",
        ),
        Some(n) if n.value.is_empty() || n.value.len() > 255 => cx.error_at(
            n.span,
            format!(
                "a VMState name must be 1 to 255 bytes (it is sent behind a one-byte length); this one is {} bytes",
                n.value.len()
            ),
        ),
        Some(_) => {}
    }
    let Some(version) = &a.version else {
        cx.error_spanned_by(
            c.ident,
            "missing #[vmstate(version = N)]: the current version of this state's layout",
        );
        return;
    };
    if let Some(min) = &a.minimum_version {
        if min.value > version.value {
            cx.error_at(
                min.span,
                format!(
                    "minimum_version {} is greater than version {}",
                    min.value, version.value
                ),
            );
        }
    }
    if let Some(t) = a.transparent {
        cx.error_at(
            t,
            "`transparent` applies to newtypes (a tuple struct with one field)",
        );
    }
    if let Some(i) = &a.info {
        cx.error_at(
            i.span,
            "`info` names a transparent newtype's opaque type (QEMU's VMStateInfo); a struct is described field by field",
        );
    }
    check_ber_attrs(cx, c, version.value);
    if let (Some(o), Data::Struct(fields)) = (a.old_style, &c.data) {
        let migrated = fields.iter().filter(|f| f.attrs.skip.is_none()).count();
        if migrated != 1 || fields.iter().any(|f| f.attrs.subsection.is_some()) {
            cx.error_at(
                o,
                "an `old_style` section is one `data` buffer to QEMU (`vmstate_save_old_style`): give it exactly one migrated field, no subsections (an `info` newtype keeps its BER form the OCTET STRING a reader of the description expects)",
            );
        }
    }
    if let Some(p) = &a.priority {
        if crate::attr::priority_variant(&p.value).is_none() {
            let names: Vec<&str> = crate::attr::PRIORITIES.iter().map(|(n, _)| *n).collect();
            cx.error_at(
                p.span,
                format!(
                    "unknown priority `{}`: QEMU's MigrationPriority is one of {}",
                    p.value,
                    names.join(", ")
                ),
            );
        }
    }
}

/// `[APPLICATION n]` numbers below this are vmstate's own (stream, sections,
/// subsection lists, RAM parts). The runtime's `framing::ber::FIRST_DEVICE_TAG` is
/// the definition; the macro repeats it to reject a reserved tag with a clear message
/// at the attribute, and the code it generates for a `ber_tag` asserts at compile
/// time that the two agree (see `expand::ber_tag_marker`).
pub const FIRST_DEVICE_BER_TAG: u32 = 16;

fn check_ber_attrs(cx: &Ctxt, c: &Container, version: u32) {
    let a = &c.attrs;
    if let Some(t) = &a.ber_tag {
        if t.value < FIRST_DEVICE_BER_TAG {
            cx.error_at(
                t.span,
                format!(
                    "ber_tag {} is reserved: [APPLICATION 0] to [APPLICATION {}] are vmstate's stream framing; use {FIRST_DEVICE_BER_TAG} or above",
                    t.value,
                    FIRST_DEVICE_BER_TAG - 1
                ),
            );
        }
    }
    if let Some(b) = &a.ber_blob_until {
        let minimum = a.minimum_version.as_ref().map_or(version, |m| m.value);
        if b.value < minimum || b.value >= version {
            cx.error_at(
                b.span,
                format!(
                    "ber_blob_until {} is outside [minimum_version, version) = [{minimum}, {version}): it names the last version sent as a legacy blob, so it must be a version that loads and older than the current one, which is sent structured",
                    b.value
                ),
            );
        }
    }
}

/// Newtypes and enums are field types: they have no name, version or hooks.
fn check_field_type_attrs(cx: &Ctxt, c: &Container) {
    let a = &c.attrs;
    let what = match c.data {
        Data::Enum { .. } => "an enum (it is one integer on the wire)",
        Data::Variants(_) => "an enum with data (its variant, then the variant's fields)",
        _ => "a transparent newtype (it is its inner field on the wire)",
    };
    // A newtype's `transparent` and any type's `crate` are theirs; the rest is a
    // VMStateDescription's.
    let own: &[&str] = match c.data {
        Data::Enum { .. } => &["crate"],
        Data::Variants(_) => &["crate", "name"],
        _ => &["crate", "transparent", "info"],
    };
    let spans = a.keys_set().into_iter().filter(|(k, _)| !own.contains(k));
    for (key, span) in spans {
        cx.error_at(span, format!("`{key}` does not apply to {what}"));
    }
}

fn check_field(cx: &Ctxt, c: &Container, fields: &[Field], index: usize, f: &Field) {
    let a = &f.attrs;
    if a.skip.is_some() {
        for (key, span) in a.keys_set().into_iter().filter(|(k, _)| *k != "skip") {
            cx.error_at(
                span,
                format!("`{key}` conflicts with `skip`: a skipped field is not migrated"),
            );
        }
        return;
    }
    check_version_range(cx, c, f);
    match (&a.subsection, &a.needed) {
        (None, Some(n)) => cx.error_spanned_by(
            n,
            "`needed` only applies to subsections: add `subsection`",
        ),
        (Some(s), None) if !matches!(f.shape, Shape::Option { .. }) => cx.error_at(
            *s,
            "a subsection needs `needed = path` (fn(&Self) -> bool), or an `Option<T>` field (sent when `Some`)",
        ),
        _ => {}
    }
    if a.subsection.is_some() {
        // `validate` too: a subsection's own type checks its fields (post_load).
        const NOT_FOR_SUBSECTIONS: [&str; 12] = [
            "len", "max", "multiply", "elements", "equal", "le", "as_array", "exists", "rename",
            "validate", "pre_load", "tmp",
        ];
        let conflicts = a.keys_set().into_iter();
        for (key, span) in conflicts.filter(|(k, _)| NOT_FOR_SUBSECTIONS.contains(k)) {
            cx.error_at(
                span,
                format!("`{key}` does not apply to a subsection: it is a VMState of its own, sent by its type's name, which checks itself (`post_load`)"),
            );
        }
    } else if let Some(s) = a.nonstandard_name {
        cx.error_at(s, "`nonstandard_name` only applies to subsections");
    }
    if let Some(n) = &a.new {
        if a.subsection.is_none() || !matches!(f.shape, Shape::Option { .. }) {
            cx.error_at(
                n.attr_span(),
                "`new` applies to an `Option` subsection: it makes the subsection a stream brings from the parent",
            );
        }
    }
    check_len(cx, c, fields, index, f);
    check_elements(cx, c, f);
    for (key, span) in [("equal", a.equal), ("le", a.le)] {
        if let (Some(s), true) = (span, a.len.is_some() || a.elements.is_some()) {
            cx.error_at(
                s,
                format!("`{key}` does not apply to a variable array (QEMU has no VARRAY_{}); check it in `validate`", key.to_uppercase()),
            );
        }
    }
    if let (Some(_), Some(le)) = (a.equal, a.le) {
        cx.error_at(
            le,
            "`le` and `equal` are two different checks of one loaded value: choose one",
        );
    }
    if let Some(s) = a.as_array {
        let ok = matches!(f.shape, Shape::Array { elem, .. } if is_u8(elem));
        if !ok {
            cx.error_at(s, "`as_array` applies to byte arrays `[u8; N]`");
        } else if a.len.is_some() {
            cx.error_at(s, "`as_array` does not combine with `len`");
        }
    }
}

fn check_version_range(cx: &Ctxt, c: &Container, f: &Field) {
    let Some(spec) = &f.attrs.version else { return };
    let (Some(version), min_version) = (
        c.attrs.version.as_ref().map(|v| v.value),
        c.attrs.minimum_version.as_ref().map(|v| v.value),
    ) else {
        return;
    };
    let minimum = min_version.unwrap_or(version);
    let (lo, hi) = (spec.min, spec.max);
    if let (Some(lo), Some(hi)) = (lo, hi) {
        if lo > hi {
            cx.error_spanned_by(&spec.expr, format!("empty version range: {lo} > {hi}"));
            return;
        }
    }
    if let Some(lo) = lo {
        if lo > version {
            cx.error_spanned_by(
                &spec.expr,
                format!(
                    "version range outside [minimum_version, version] = [{minimum}, {version}]: the field starts at {lo}, after the current version {version}, so it would never be on the wire"
                ),
            );
        }
    }
    if let Some(hi) = hi {
        if hi < minimum {
            cx.error_spanned_by(
                &spec.expr,
                format!(
                    "version range outside [minimum_version, version] = [{minimum}, {version}]: the field ends at {hi}, before minimum_version {minimum}, so it would never be on the wire"
                ),
            );
        }
    }
}

fn is_named_u64(ty: &syn::Type) -> bool {
    matches!(ty, syn::Type::Path(p) if p.qself.is_none() && p.path.is_ident("u64"))
}

/// `elements` (a fixed part of an array) and `multiply` (a scaled count).
fn check_elements(cx: &Ctxt, c: &Container, f: &Field) {
    let a = &f.attrs;
    if let (Some(m), None) = (&a.multiply, &a.len) {
        cx.error_at(m.span, "`multiply` scales a count: add `len = <field>`");
    }
    if let Some(b) = a.bitmap {
        let words = match f.shape {
            Shape::Array { elem, .. } | Shape::Vec { elem } => is_named_u64(elem),
            _ => false,
        };
        if a.len.is_none() || !words {
            cx.error_at(b, "`bitmap` sends `[u64; N]` or `Vec<u64>` words for `len = <bit count>` bits (QEMU's VMSTATE_BITMAP)");
        } else if let Some(m) = &a.multiply {
            cx.error_at(
                m.span,
                "`multiply` does not combine with `bitmap`, whose count is in bits",
            );
        }
    }
    if let Some(v) = &a.struct_version {
        let shape_ok = match f.shape {
            Shape::Plain | Shape::Array { .. } | Shape::Vec { .. } => true,
            Shape::Option { .. } => a.subsection.is_some(),
        };
        if !shape_ok || a.tmp.is_some() || a.bitmap.is_some() || a.as_array.is_some() {
            cx.error_at(v.span, "`struct_version` sets the version of nested VMState structs: a struct, an array or Vec of them, or a subsection");
        }
        // The oldest parent version the field is on the wire at.
        let since = a.version.as_ref().and_then(|r| r.min).unwrap_or(0);
        let (minimum, current) = (c.minimum_version().max(since), c.version());
        let table = &v.value;
        if table.len() > 1 && table[0].0 > minimum {
            cx.error_at(
                v.span,
                format!("`struct_version(...)` must start at or below the minimum version {minimum}: which nested version goes with parent version {minimum}?"),
            );
        }
        if let Some((p, _)) = table.iter().find(|(p, _)| *p > current) {
            cx.error_at(
                v.span,
                format!("`struct_version(...)` names parent version {p}, newer than the current version {current}"),
            );
        }
    }
    if let Some(t) = a.tmp {
        if !matches!(f.shape, Shape::Plain) || a.len.is_some() || a.as_array.is_some() {
            cx.error_at(
                t,
                "`tmp` describes one nested VMState struct (QEMU's VMSTATE_WITH_TMP)",
            );
        }
    }
    let Some(e) = &a.elements else { return };
    if !matches!(f.shape, Shape::Array { .. }) {
        cx.error_spanned_by(&e.expr, "`elements` picks part of an array `[T; N]`");
    }
    for (key, span) in a.keys_set() {
        if matches!(key, "len" | "max" | "as_array") {
            cx.error_at(
                span,
                format!("`{key}` does not combine with `elements`, which fixes the part of the array that is sent"),
            );
        }
    }
}

fn check_len(cx: &Ctxt, c: &Container, fields: &[Field], index: usize, f: &Field) {
    let a = &f.attrs;
    let is_vec = matches!(f.shape, Shape::Vec { .. });
    match (&a.len, &a.max) {
        (None, Some(m)) if matches!(f.shape, Shape::Array { .. }) => cx.error_at(
            m.span,
            "`max` bounds the count of a variable array: add `len = <field>` (an array's length is its type's)",
        ),
        (None, Some(m)) if a.struct_version.is_some() => cx.error_at(
            m.span,
            "`max` without `len` does not combine with `struct_version`: give the Vec a `len` field",
        ),
        (Some(len), None) if is_vec => cx.error_spanned_by(
            len,
            "a Vec field needs `max = N`: a load rejects longer lengths instead of allocating them",
        ),
        _ => {}
    }
    let Some(len) = &a.len else { return };
    if matches!(f.shape, Shape::Plain) {
        cx.error_spanned_by(len, "`len` applies to arrays `[T; N]` and `Vec<T>`");
    }
    // The counter must be on the wire at every version the array is, unless a
    // `pre_load` sets it for the older ones (QEMU's hpet: `num_timers` from version
    // 2, the comparators at every version, three of them before).
    let counter = fields.iter().find(|g| g.ident == len);
    if let Some(counter) = counter.filter(|_| c.attrs.pre_load.is_none()) {
        let range = |g: &Field| {
            g.attrs
                .version
                .as_ref()
                .map_or((None, None), |v| (v.min, v.max))
        };
        let ((cmin, cmax), (amin, amax)) = (range(counter), range(f));
        let starts_later = cmin.is_some_and(|c| amin.is_none_or(|a| c > a));
        let ends_sooner = cmax.is_some_and(|c| amax.is_none_or(|a| c < a));
        if starts_later || ends_sooner {
            cx.error_spanned_by(
                len,
                format!("`len` names `{len}`, which is not on the wire at every version this array is: give it a version range that covers the array's, or set it in a `pre_load` for the versions without it"),
            );
        }
    }
    match fields.iter().position(|g| g.ident == len) {
        None => cx.error_spanned_by(len, format!("`len` names no field: there is no field `{len}`")),
        Some(j) if j >= index => cx.error_spanned_by(
            len,
            format!("`len` must name an earlier field: `{len}` comes after this one, but the length is read first"),
        ),
        // Whether it is an integer is the type system's to say (`VarLenField`, at
        // the attribute): a type alias of one is one.
        Some(_) => {}
    }
}
