//! Rust source for the generated mirrors, in the shape of the hand-written ones.

use crate::field::{Field, Ty};
use crate::vmsd::Vmsd;
use std::collections::HashSet;
use std::fmt::Write;

/// A description to write: the C one and its typed fields.
pub struct Gen {
    /// The C description.
    pub vmsd: Vmsd,
    /// Its fields.
    pub fields: Vec<Field>,
    /// Fields of the destination's configuration that a test reads (not sent):
    /// name, type and doc comment; `Default` gives their value.
    pub configured: Vec<(&'static str, &'static str, &'static str)>,
    /// Its subsections: C variable and name.
    pub subsections: Vec<(String, String)>,
    /// The Rust type name.
    pub rust: String,
}

/// `rtl8139` -> `Rtl8139`, `virtio-net/rss` -> `VirtioNetRss`.
pub fn type_name(vmsd_name: &str) -> String {
    let mut out = String::new();
    for word in vmsd_name.split(|c: char| !c.is_ascii_alphanumeric()) {
        // `PIIX4` -> `Piix4`, `virtio` -> `Virtio`, `pciSerial` kept.
        let shout = !word.chars().any(|c| c.is_ascii_lowercase());
        let mut cs = word.chars();
        if let Some(c) = cs.next() {
            out.push(c.to_ascii_uppercase());
            out.extend(cs.map(|c| if shout { c.to_ascii_lowercase() } else { c }));
        }
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert_str(0, "Dev");
    }
    out
}

/// `tally_counters.RxOk` -> `tally_counters_rx_ok`.
pub fn field_name(c: &str) -> String {
    let mut out = String::new();
    let mut prev_lower = false;
    for ch in c.chars() {
        if ch.is_ascii_alphanumeric() {
            if ch.is_ascii_uppercase() && prev_lower && !out.ends_with('_') {
                out.push('_');
            }
            prev_lower = ch.is_ascii_lowercase() || ch.is_ascii_digit();
            out.push(ch.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('_') {
            out.push('_');
            prev_lower = false;
        }
    }
    let out = out.trim_end_matches('_').to_owned();
    match out.as_str() {
        "type" | "ref" | "mod" | "match" | "loop" | "fn" | "static" | "use" | "move" | "box"
        | "self" | "struct" | "impl" | "in" | "as" | "mut" | "where" | "async" | "dyn" => {
            format!("{out}_")
        }
        _ if out.starts_with(|c: char| c.is_ascii_digit()) => format!("f{out}"),
        _ => out,
    }
}

/// The Rust type of `ty`, with `resolve` naming another description's type.
pub fn rust_type(ty: &Ty, resolve: &dyn Fn(&str) -> String) -> String {
    match ty {
        Ty::Prim(p) => (*p).to_owned(),
        Ty::Timer => "Timer".to_owned(),
        Ty::Vmsd(c) => resolve(c),
        Ty::Named(t) => t.clone(),
        Ty::Array(t, n) => format!("[{}; {n}]", rust_type(t, resolve)),
        Ty::Unused(n) => format!("Unused<{n}>"),
        Ty::Counted { .. } => unreachable!("counted arrays are resolved before"),
    }
}

/// A fresh value of `ty`: zeros, disarmed timers, the nested types' defaults.
fn default_expr(ty: &Ty) -> String {
    match ty {
        Ty::Prim("bool") => "false".to_owned(),
        Ty::Prim(_) => "0".to_owned(),
        Ty::Timer => "Timer::DISARMED".to_owned(),
        Ty::Array(t, n) if copy(t) => format!("[{}; {n}]", default_expr(t)),
        Ty::Array(..) => "std::array::from_fn(|_| Default::default())".to_owned(),
        _ => "Default::default()".to_owned(),
    }
}

/// Whether an array of `ty` can be written `[x; N]`.
fn copy(ty: &Ty) -> bool {
    match ty {
        Ty::Prim(_) | Ty::Timer => true,
        Ty::Array(t, _) => copy(t),
        _ => false,
    }
}

/// Whether a field's fresh value is its type's `Default` (so the struct derives
/// it): no destination value, no heap array, no array longer than `Default`'s 32.
fn std_default(f: &Field) -> bool {
    fn ty_ok(t: &Ty) -> bool {
        match t {
            Ty::Array(e, n) => *n <= 32 && ty_ok(e),
            _ => true,
        }
    }
    f.destination.is_none() && !boxed(f) && ty_ok(&f.ty)
}

/// Whether serde needs `BigArray` for the type (an array longer than 32).
fn big_array(ty: &Ty) -> bool {
    matches!(ty, Ty::Array(_, n) if *n > 32)
}

/// Bytes a value of `ty` takes in memory, for arrays of scalars.
fn byte_size(ty: &Ty) -> Option<usize> {
    match ty {
        Ty::Prim("u8" | "i8" | "bool") => Some(1),
        Ty::Prim("u16" | "i16") => Some(2),
        Ty::Prim("u32" | "i32") => Some(4),
        Ty::Prim(_) | Ty::Timer => Some(8),
        Ty::Array(t, n) => byte_size(t).map(|s| s * n),
        _ => None,
    }
}

/// Arrays of scalars larger than this live on the heap (`Box<[T; N]>`, the same
/// bytes on the wire), so that a device is not built on a small stack.
const HEAP_ARRAY: usize = 1024;

/// Whether a field goes on the heap: a large one-dimensional array of scalars,
/// described as a buffer (the derive's `as_array` takes inline arrays only).
fn boxed(f: &Field) -> bool {
    let flat = matches!(&f.ty, Ty::Array(t, _) if matches!(**t, Ty::Prim(_) | Ty::Timer));
    flat && !f.as_array && byte_size(&f.ty).is_some_and(|s| s > HEAP_ARRAY)
}

/// The Rust source of one generated description; `new_hook` gives a subsection's
/// (by C variable) `new` hook, if it has one.
pub fn write(
    g: &Gen,
    resolve: &dyn Fn(&str) -> String,
    new_hook: &dyn Fn(&str) -> Option<&'static str>,
    source: &str,
) -> String {
    let v = &g.vmsd;
    let mut s = String::new();
    let (since, min) = if v.minimum_version == v.version {
        (String::new(), String::new())
    } else {
        (
            format!(", loads from v{}", v.minimum_version),
            format!(", minimum_version = {}", v.minimum_version),
        )
    };
    writeln!(
        s,
        "/// `{}` (v{}{since}): `{}` in QEMU's `{source}`.",
        v.name, v.version, v.cname
    )
    .unwrap();
    writeln!(
        s,
        "#[cfg_attr(feature = \"serde\", derive(serde::Serialize, serde::Deserialize))]"
    )
    .unwrap();
    let derive_default = g.fields.iter().all(std_default);
    match derive_default {
        true => writeln!(s, "#[derive(VMState, Clone, Debug, Default, PartialEq)]"),
        false => writeln!(s, "#[derive(VMState, Clone, Debug, PartialEq)]"),
    }
    .unwrap();
    writeln!(
        s,
        "#[vmstate(name = {:?}, version = {}{min})]",
        v.name, v.version
    )
    .unwrap();
    writeln!(s, "pub struct {} {{", g.rust).unwrap();
    let mut used = HashSet::new();
    let mut defaults = Vec::new();
    let mut unique = |base: String| {
        let mut n = base.clone();
        let mut i = 2;
        while !used.insert(n.clone()) {
            n = format!("{base}_{i}");
            i += 1;
        }
        n
    };
    for (name, ty, doc) in &g.configured {
        writeln!(
            s,
            "    /// {doc}\n    #[vmstate(skip)]\n    pub {name}: {ty},"
        )
        .unwrap();
        unique(name.to_string());
        defaults.push((name.to_string(), "Default::default()".to_owned()));
    }
    for f in &g.fields {
        let name = unique(field_name(&f.name));
        writeln!(
            s,
            "    /// QEMU's `{}` (`VMSTATE_{}`).",
            f.name,
            f.macro_name.trim_start_matches("VMSTATE_")
        )
        .unwrap();
        let mut attrs = Vec::new();
        if name != f.name && !matches!(f.ty, Ty::Unused(_)) {
            attrs.push(format!("rename = {:?}", f.name));
        }
        if f.version > 0 {
            attrs.push(format!("version = {}..", f.version));
        }
        if f.equal {
            attrs.push("equal".to_owned());
        }
        if let Some(cond) = &f.exists {
            attrs.push(format!("exists = {cond}"));
        }
        if f.as_array {
            attrs.push("as_array".to_owned());
        }
        if !attrs.is_empty() {
            writeln!(s, "    #[vmstate({})]", attrs.join(", ")).unwrap();
        }
        let (ty, default) = if let Some(value) = &f.destination {
            (rust_type(&f.ty, resolve), value.clone())
        } else if boxed(f) {
            let Ty::Array(t, n) = &f.ty else {
                unreachable!("only arrays are boxed")
            };
            writeln!(
                s,
                "    #[cfg_attr(feature = \"serde\", serde(with = \"crate::boxed_array\"))]"
            )
            .unwrap();
            (
                format!("Box<{}>", rust_type(&f.ty, resolve)),
                format!(
                    "vec![{}; {n}].into_boxed_slice().try_into().expect(\"{n} elements\")",
                    default_expr(t)
                ),
            )
        } else {
            if big_array(&f.ty) {
                writeln!(
                    s,
                    "    #[cfg_attr(feature = \"serde\", serde(with = \"serde_big_array::BigArray\"))]"
                )
                .unwrap();
            }
            (rust_type(&f.ty, resolve), default_expr(&f.ty))
        };
        writeln!(s, "    pub {name}: {ty},").unwrap();
        defaults.push((name, default));
    }
    for (sub, sub_name) in &g.subsections {
        let sname = resolve(sub);
        let standard = sub_name
            .strip_prefix(v.name.as_str())
            .is_some_and(|rest| rest.starts_with('/'));
        let short = sub_name.rsplit(['/', '.']).next().unwrap_or(sub_name);
        let name = unique(field_name(short));
        writeln!(
            s,
            "    /// Subsection `{sub_name}`, sent when QEMU's `{sub}.needed` says so."
        )
        .unwrap();
        let mut attrs = vec!["subsection".to_owned()];
        if !standard {
            attrs.push("nonstandard_name".to_owned());
        }
        if let Some(new) = new_hook(sub) {
            attrs.push(format!("new = {new}"));
        }
        writeln!(s, "    #[vmstate({})]", attrs.join(", ")).unwrap();
        writeln!(s, "    pub {name}: Option<{sname}>,").unwrap();
        defaults.push((name, "None".to_owned()));
    }
    writeln!(s, "}}\n").unwrap();
    if derive_default {
        return s;
    }
    writeln!(s, "impl Default for {} {{", g.rust).unwrap();
    writeln!(s, "    fn default() -> Self {{").unwrap();
    writeln!(s, "        {} {{", g.rust).unwrap();
    for (n, d) in defaults {
        writeln!(s, "            {n}: {d},").unwrap();
    }
    writeln!(s, "        }}\n    }}\n}}\n").unwrap();
    s
}
