//! The ASN.1 schema of the BER encoding, generated from the types' static
//! descriptions: an independent tool (asn1tools, asn1c) compiles it and decodes our
//! bytes with it, so the BER stream is self-describing beyond our own code.
//!
//! ```
//! use vmstate_runtime::{ber::asn1::Module, VMState};
//!
//! #[derive(VMState, Clone, Default)]
//! #[vmstate(name = "port92", version = 1)]
//! pub struct Port92 {
//!     pub outport: u8,
//! }
//!
//! let text = Module::new("Example").with::<Port92>().render().unwrap();
//! assert!(text.contains("Port92 ::= SEQUENCE {\n    outport [0] INTEGER (0..255)\n}"));
//! ```

use crate::desc::{FieldDesc, TypeDesc, VMStateDesc};
use crate::VMState;
use std::fmt::{self, Write};

/// Why a set of types does not make one module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleError(String);

impl fmt::Display for ModuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ModuleError {}

/// X.680's reserved words that a Rust type name could spell.
const RESERVED: &[&str] = &[
    "ABSENT",
    "ALL",
    "ANY",
    "BEGIN",
    "BIT",
    "BOOLEAN",
    "BY",
    "CHARACTER",
    "CHOICE",
    "CLASS",
    "COMPONENT",
    "COMPONENTS",
    "CONTAINING",
    "DATE",
    "DEFAULT",
    "DEFINITIONS",
    "DURATION",
    "EMBEDDED",
    "ENCODED",
    "END",
    "ENUMERATED",
    "EXCEPT",
    "EXPLICIT",
    "EXPORTS",
    "EXTERNAL",
    "FALSE",
    "FROM",
    "IDENTIFIER",
    "IMPLICIT",
    "IMPLIED",
    "IMPORTS",
    "INCLUDES",
    "INSTANCE",
    "INTEGER",
    "INTERSECTION",
    "MAX",
    "MIN",
    "NULL",
    "OBJECT",
    "OCTET",
    "OF",
    "OPTIONAL",
    "PATTERN",
    "PDV",
    "PLUS",
    "PRESENT",
    "PRIVATE",
    "REAL",
    "SEQUENCE",
    "SET",
    "SETTINGS",
    "SIZE",
    "STRING",
    "SYNTAX",
    "TIME",
    "TRUE",
    "TYPE",
    "UNION",
    "UNIQUE",
    "UNIVERSAL",
    "WITH",
    "Float64",
];

/// Definitions that a layer above adds to a module (the stream framing,
/// [`Module::with_stream`]): the names they take, which the module's types then
/// avoid, and their text, rendered before the types for the module as it is.
#[derive(Debug, Clone, Copy)]
pub struct Preamble {
    /// The type references it defines.
    pub names: &'static [&'static str],
    /// Its text, given the module (to name the module's types).
    pub render: fn(&Module) -> String,
}

/// One type of the module and the names of the types made for it.
#[derive(Debug, Clone)]
struct Named {
    desc: &'static VMStateDesc,
    /// Its type reference.
    name: String,
    /// `CHOICE { legacy-blob, structured }`, for types with `ber_blob_until`.
    section: Option<String>,
    /// Its subsection list (`[APPLICATION 2] SEQUENCE { ... }`), if it has subsections.
    list: Option<String>,
    /// Its entry in a parent's list (`SEQUENCE { name, version, body }`), if it is a
    /// subsection. Named types rather than inline ones: asn1c's C output gives
    /// inline types global struct names, which collide.
    entry: Option<String>,
    /// Its versioned form (`SEQUENCE { name, version, body }` at the top level,
    /// [`super::to_bytes_versioned`]), if asked for.
    versioned: Option<String>,
}

/// A set of VMState types rendered as one ASN.1 module (`IMPLICIT TAGS`).
#[derive(Debug, Clone)]
pub struct Module {
    name: String,
    /// Each type (nested and subsection types included), in the order added.
    types: Vec<Named>,
    /// Definitions rendered before the types.
    preamble: Option<Preamble>,
}

impl Module {
    /// An empty module; `name` becomes its module reference (`VMState-Devices`).
    pub fn new(name: &str) -> Module {
        Module {
            name: type_reference(name),
            types: Vec::new(),
            preamble: None,
        }
    }

    /// Adds `preamble`'s definitions. Types added before keep their names, so add
    /// it first.
    #[must_use]
    pub fn with_preamble(mut self, preamble: Preamble) -> Module {
        self.preamble = Some(preamble);
        self
    }

    /// Adds `T` and every type it nests or has as a subsection.
    #[must_use]
    pub fn with<T: VMState>(mut self) -> Module {
        self.add_desc(T::DESC);
        self
    }

    /// Adds `T` as [`with`](Self::with) does, and its versioned form
    /// (`<T>-Versioned ::= SEQUENCE { name UTF8String, version INTEGER, body }`),
    /// the type of [`to_bytes_versioned`](super::to_bytes_versioned)'s bytes.
    #[must_use]
    pub fn with_versioned<T: VMState>(mut self) -> Module {
        self.add_desc(T::DESC);
        let i = self.find(T::DESC).expect("just added");
        if self.types[i].versioned.is_none() {
            let name = self.fresh(&type_reference(T::DESC.type_name), "-Versioned");
            self.types[i].versioned = Some(name);
        }
        self
    }

    /// The type of `d`'s versioned form, if [`with_versioned`](Self::with_versioned)
    /// added it.
    pub fn versioned_type(&self, d: &VMStateDesc) -> Option<&str> {
        self.types[self.find(d)?].versioned.as_deref()
    }

    /// Adds a type by its description (see [`with`](Self::with)).
    pub fn add_desc(&mut self, d: &'static VMStateDesc) {
        if self.find(d).is_some() {
            return;
        }
        let base = type_reference(&composite_name(d).unwrap_or_else(|| d.type_name.to_owned()));
        let name = self.fresh(&base, "");
        let mut named = Named {
            desc: d,
            name,
            section: None,
            list: None,
            entry: None,
            versioned: None,
        };
        self.types.push(named.clone());
        if d.ber_blob_until.is_some() {
            named.section = Some(self.fresh(&base, "-Section"));
        }
        if !d.subsections.is_empty() {
            named.list = Some(self.fresh(&base, "-Subsections"));
        }
        *self.types.last_mut().expect("just pushed") = named;
        for f in d.fields {
            if let Some(inner) = struct_of(&f.ty) {
                self.add_desc(inner);
            }
        }
        for s in d.subsections {
            self.add_desc(s.desc);
            let i = self.find(s.desc).expect("just added");
            if self.types[i].entry.is_none() {
                let entry = self.fresh(&type_reference(s.desc.type_name), "-Entry");
                self.types[i].entry = Some(entry);
            }
        }
    }

    fn find(&self, d: &VMStateDesc) -> Option<usize> {
        self.types.iter().position(|t| t.desc == d)
    }

    /// `base` + `suffix`, made unique among the module's names.
    fn fresh(&self, base: &str, suffix: &str) -> String {
        let taken = |n: &str| {
            RESERVED.contains(&n)
                || self.preamble.is_some_and(|p| p.names.contains(&n))
                || n == self.name
                || self.types.iter().any(|t| {
                    t.name == n
                        || [&t.section, &t.list, &t.entry, &t.versioned]
                            .iter()
                            .any(|x| x.as_deref() == Some(n))
                })
        };
        let mut name = format!("{base}{suffix}");
        let mut k = 2;
        while taken(&name) {
            name = format!("{base}-{k}{suffix}");
            k += 1;
        }
        name
    }

    /// The type reference of `d` in this module.
    pub fn type_name(&self, d: &VMStateDesc) -> Option<&str> {
        self.find(d).map(|i| self.types[i].name.as_str())
    }

    /// The type to decode a top-level encoding of `d` with: its
    /// `CHOICE { legacy-blob, structured }` if it has `ber_blob_until`, else its type.
    pub fn section_type(&self, d: &VMStateDesc) -> Option<&str> {
        let t = &self.types[self.find(d)?];
        Some(t.section.as_deref().unwrap_or(&t.name))
    }

    /// The module text. Fails if two types claim the same `[APPLICATION n]`.
    pub fn render(&self) -> Result<String, ModuleError> {
        self.render_with("")
    }

    /// The module text with `more` definitions (whose names the caller keeps apart
    /// from the module's) before its `END`.
    pub(crate) fn render_with(&self, more: &str) -> Result<String, ModuleError> {
        for (i, a) in self.types.iter().enumerate() {
            for b in &self.types[..i] {
                if a.desc.ber_tag.is_some() && a.desc.ber_tag == b.desc.ber_tag {
                    return Err(ModuleError(format!(
                        "{} and {} both have ber_tag {}; a reader could not tell them apart",
                        b.name,
                        a.name,
                        a.desc.ber_tag.unwrap_or_default()
                    )));
                }
            }
        }
        let mut out = String::new();
        let _ = writeln!(
            out,
            "-- Generated by vmstate; do not edit.\n\
             -- Fields are tagged with their declaration index; subsections follow the\n\
             -- fields in one [APPLICATION 2] list.\n\
             {} DEFINITIONS IMPLICIT TAGS ::=\nBEGIN\n",
            self.name
        );
        let uses_float = self
            .types
            .iter()
            .any(|t| t.desc.fields.iter().any(|f| uses_float64(&f.ty)));
        if uses_float {
            out.push_str(
                "-- IEEE 754 binary64, big-endian: REAL would not keep NaN payloads.\n\
                 Float64 ::= OCTET STRING (SIZE (8))\n\n",
            );
        }
        if let Some(p) = self.preamble {
            out.push_str(&(p.render)(self));
        }
        for t in &self.types {
            self.render_type(&mut out, t);
        }
        out.push_str(more);
        out.push_str("END\n");
        Ok(out)
    }

    fn render_type(&self, out: &mut String, t: &Named) {
        let (d, name) = (t.desc, &t.name);
        let tag = match d.ber_tag {
            Some(n) => format!("[APPLICATION {n}] "),
            None => String::new(),
        };
        let _ = writeln!(
            out,
            "-- {}: version {}, loads {} to {}\n{name} ::= {tag}SEQUENCE {{",
            d.name, d.version, d.minimum_version, d.version
        );
        let mut element_types = Vec::new();
        let mut members: Vec<String> = d
            .fields
            .iter()
            .filter(|f| !f.ty.is_unused())
            .map(|f| {
                let optional = if always_present(f, d) {
                    ""
                } else {
                    " OPTIONAL"
                };
                // Arrays get a named type (`<Type>-<field>`): asn1c mishandles
                // inline SEQUENCE OF members with constrained elements.
                let hint = format!("{name}-{}", f.asn1_name);
                let mut ty = self.render_field_type(&f.ty, &hint, &mut element_types);
                if ty.starts_with("SEQUENCE") {
                    element_types.push((hint.clone(), ty));
                    ty = hint;
                }
                format!("    {} [{}] {ty}{optional}", f.asn1_name, f.tag)
            })
            .collect();
        if let Some(list) = &t.list {
            members.push(format!("    subsections {list} OPTIONAL"));
        }
        if members.is_empty() {
            out.push_str("}\n\n");
        } else {
            let _ = writeln!(out, "{}\n}}\n", members.join(",\n"));
        }
        for (element, def) in element_types {
            let _ = writeln!(out, "{element} ::= {def}\n");
        }
        if let Some(list) = &t.list {
            let entries: Vec<String> = d
                .subsections
                .iter()
                .map(|s| {
                    let entry = self
                        .find(s.desc)
                        .and_then(|i| self.types[i].entry.as_deref());
                    format!(
                        "    {} [{}] {} OPTIONAL",
                        s.asn1_name,
                        s.tag,
                        entry.unwrap_or_default()
                    )
                })
                .collect();
            let _ = writeln!(
                out,
                "{list} ::= [APPLICATION 2] SEQUENCE {{\n{}\n}}\n",
                entries.join(",\n")
            );
        }
        if let Some(entry) = &t.entry {
            let _ = writeln!(
                out,
                "{entry} ::= SEQUENCE {{\n    name UTF8String,\n    version INTEGER ({}..{}),\n    body {name}\n}}\n",
                d.minimum_version, d.version
            );
        }
        if let Some(versioned) = &t.versioned {
            let _ = writeln!(
                out,
                "{versioned} ::= SEQUENCE {{\n    name UTF8String,\n    version INTEGER ({}..{}),\n    body {}\n}}\n",
                d.minimum_version,
                d.version,
                t.section.as_deref().unwrap_or(name)
            );
        }
        if let Some(section) = &t.section {
            let _ = writeln!(
                out,
                "-- {}: versions up to {} are sent as their legacy (QEMU) encoding.\n\
                 {section} ::= CHOICE {{\n    legacy-blob OCTET STRING,\n    structured {name}\n}}\n",
                d.name,
                d.ber_blob_until.unwrap_or_default(),
            );
        }
    }

    /// The ASN.1 type of a field. An array's element type, unless it is a type
    /// reference, becomes a named type (`<hint>-Element`, added to `named`): asn1c
    /// rejects a constrained SEQUENCE OF as another's element and mis-generates C for
    /// constrained INTEGER elements.
    fn render_field_type(
        &self,
        t: &TypeDesc,
        hint: &str,
        named: &mut Vec<(String, String)>,
    ) -> String {
        match t {
            TypeDesc::Scalar { name, size } => scalar(name, *size),
            TypeDesc::Buffer(n) => format!("OCTET STRING (SIZE ({n}))"),
            TypeDesc::Array { elem, len } if elem.is_uint8() => {
                format!("OCTET STRING (SIZE ({len}))")
            }
            TypeDesc::VarBuffer { max } => format!("OCTET STRING (SIZE (0..{max}))"),
            TypeDesc::VarArray { elem, max } if elem.is_uint8() => {
                format!("OCTET STRING (SIZE (0..{max}))")
            }
            TypeDesc::Array { elem, len } => {
                format!(
                    "SEQUENCE (SIZE ({len})) OF {}",
                    self.element_type(elem, hint, named)
                )
            }
            TypeDesc::VarArray { elem, max } => {
                format!(
                    "SEQUENCE (SIZE (0..{max})) OF {}",
                    self.element_type(elem, hint, named)
                )
            }
            TypeDesc::Struct(d) => self.type_name(d).unwrap_or_default().to_owned(),
            TypeDesc::Enum { variants, .. } => {
                let items: Vec<String> =
                    variants.iter().map(|(n, v)| format!("{n}({v})")).collect();
                format!("ENUMERATED {{ {} }}", items.join(", "))
            }
            TypeDesc::Unused(_) => "OCTET STRING (SIZE (0))".to_owned(),
        }
    }
}

impl Module {
    fn element_type(
        &self,
        elem: &TypeDesc,
        hint: &str,
        named: &mut Vec<(String, String)>,
    ) -> String {
        let name = format!("{hint}-Element");
        let def = self.render_field_type(elem, &name, named);
        // A type reference stays; anything with a constraint gets its own name.
        if !def.contains(' ') {
            return def;
        }
        named.push((name.clone(), def));
        name
    }
}

/// Whether the field is on the wire at every version the type loads.
fn always_present(f: &FieldDesc, d: &VMStateDesc) -> bool {
    !f.has_exists && f.versions.contains(d.minimum_version) && f.versions.contains(d.version)
}

pub(crate) fn scalar(name: &str, size: usize) -> String {
    let bits = 8 * size as u32;
    let integer =
        (name.starts_with("int") || name.starts_with("uint") || name == "timer") && size <= 8;
    match name {
        "bool" => "BOOLEAN".to_owned(),
        "float64" => "Float64".to_owned(),
        // Any other scalar (QEMU's opaque types, an 80-bit x87 register) is its bytes.
        _ if !integer => format!("OCTET STRING (SIZE ({size}))"),
        // asn1c cannot parse bounds above 2^63 - 1, so uint64 is "any non-negative".
        _ if name.starts_with("uint") && bits == 64 => "INTEGER (0..MAX)".to_owned(),
        _ if name.starts_with("uint") => format!("INTEGER (0..{})", u64::MAX >> (64 - bits)),
        _ => format!(
            "INTEGER ({}..{})",
            i64::MIN >> (64 - bits),
            i64::MAX >> (64 - bits)
        ),
    }
}

/// A name for a generic container (`Vec`, `Option`, `Map`) that says what it
/// holds: `Vec-of-QueueState`, `Option-of-uint64`.
fn composite_name(d: &VMStateDesc) -> Option<String> {
    if !matches!(d.type_name, "Vec" | "Option" | "Map") || d.fields.len() != 2 {
        return None;
    }
    let inner = match d.fields[1].ty {
        TypeDesc::VarArray { elem, .. } => elem,
        ref t => t,
    };
    let of = match inner {
        TypeDesc::Struct(s) => composite_name(s).unwrap_or_else(|| s.type_name.to_owned()),
        t => t.qemu_name().to_owned(),
    };
    Some(format!("{}-of-{of}", d.type_name))
}

fn struct_of(t: &TypeDesc) -> Option<&'static VMStateDesc> {
    match t {
        TypeDesc::Struct(d) => Some(d),
        TypeDesc::Array { elem, .. } | TypeDesc::VarArray { elem, .. } => struct_of(elem),
        _ => None,
    }
}

fn uses_float64(t: &TypeDesc) -> bool {
    match t {
        TypeDesc::Scalar { name, .. } => *name == "float64",
        TypeDesc::Array { elem, .. } | TypeDesc::VarArray { elem, .. } => uses_float64(elem),
        _ => false,
    }
}

/// An ASN.1 type reference from a Rust type name: upper-case start, letters, digits
/// and single hyphens (`fdrive_media` → `Fdrive-media`).
/// `name`'s letters and digits, each other run of characters one hyphen, none at
/// either end (ASN.1 references cannot hold `--` or end with `-`).
fn hyphenated(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    while out.ends_with('-') {
        out.pop();
    }
    out
}

/// A type reference made from `name` (upper-case first letter, `T` first when it
/// does not start with a letter; the rest keeps its case, as Rust type names do).
pub(crate) fn type_reference(name: &str) -> String {
    let out = hyphenated(name);
    let mut chars = out.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() => std::iter::once(c.to_ascii_uppercase())
            .chain(chars)
            .collect(),
        _ => format!("T{out}"),
    }
}

/// An identifier made from a Rust or QEMU name (lower-case start; letters, digits,
/// single inner hyphens): `cmos_data` → `cmos-data`, `RunningFast` →
/// `running-fast`, `2nd` → `f2nd`. The derive names typed fields by this same rule
/// (`vmstate-macros/src/asn1.rs`); the test `one_identifier_rule` holds the two
/// equal, so a stream's generic module and its devices' typed module name a field
/// alike.
pub(crate) fn identifier(name: &str) -> String {
    let mut out = String::new();
    let mut prev: Option<char> = None;
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            let boundary = c.is_ascii_uppercase()
                && prev.is_some_and(|p| p.is_ascii_lowercase() || p.is_ascii_digit());
            if boundary && !out.is_empty() && !out.ends_with('-') {
                out.push('-');
            }
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
        prev = Some(c);
    }
    while out.ends_with('-') {
        out.pop();
    }
    if !out.starts_with(|c: char| c.is_ascii_lowercase()) {
        out.insert(0, 'f');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_references() {
        assert_eq!(type_reference("Rtc"), "Rtc");
        assert_eq!(type_reference("fdrive_media"), "Fdrive-media");
        assert_eq!(type_reference("_x__y_"), "X-y");
        assert_eq!(type_reference("9lives"), "T9lives");
        assert_eq!(identifier("unused[0]"), "unused-0");
        assert_eq!(identifier("Parent_obj.qdev"), "parent-obj-qdev");
        assert_eq!(identifier("[1]"), "f1");
        assert_eq!(identifier("RunningFast"), "running-fast");
        assert_eq!(identifier("2nd"), "f2nd");
    }

    /// The derive's identifiers (in each field's description) follow this module's
    /// rule.
    #[test]
    fn one_identifier_rule() {
        #[derive(crate::VMState, Clone, Default)]
        #[vmstate(name = "names", version = 1, crate = "crate")]
        #[allow(dead_code)]
        struct Names {
            #[vmstate(rename = "RunningFast")]
            a: u8,
            #[vmstate(rename = "IRR")]
            b: u8,
            #[vmstate(rename = "env.xmm_regs")]
            c: u8,
            #[vmstate(rename = "unused[0]")]
            d: u8,
            #[vmstate(rename = "2nd")]
            e: u8,
            #[vmstate(rename = "a__b-c")]
            f: u8,
            #[vmstate(rename = "tsc_khz9X")]
            g: u8,
            cmos_data: u8,
        }
        let fields = <Names as crate::VMState>::DESC.fields;
        assert_eq!(fields.len(), 8);
        for f in fields {
            assert_eq!(f.asn1_name, identifier(f.name), "{}", f.name);
        }
    }

    #[test]
    fn scalar_ranges() {
        assert_eq!(scalar("uint8", 1), "INTEGER (0..255)");
        assert_eq!(scalar("uint64", 8), "INTEGER (0..MAX)");
        assert_eq!(scalar("uint32", 4), "INTEGER (0..4294967295)");
        assert_eq!(scalar("int16", 2), "INTEGER (-32768..32767)");
        assert_eq!(scalar("tmp", 10), "OCTET STRING (SIZE (10))");
        assert_eq!(
            scalar("timer", 8),
            "INTEGER (-9223372036854775808..9223372036854775807)"
        );
    }
}
