//! The ASN.1 module of any stream, made from the stream's own description: the BER
//! framing ([`Module::with_stream`]) and a type for each device as its vmdesc object
//! describes it. With it an ASN.1 tool decodes the BER form of a stream that no Rust
//! type describes, such as a QEMU stream converted by `vmstate convert`.
//!
//! The types follow the generic BER codec of the dump's BER streams, which writes
//! what the typed codec writes: fields `[tag]` in wire order, `uint8` arrays as one
//! OCTET STRING, other arrays as SEQUENCE OF (nested ones, `ber_nested`, as
//! SEQUENCE OFs of SEQUENCE OFs), nested structs as SEQUENCE or their
//! `[APPLICATION ber_tag]`, subsections in one `[APPLICATION 2]` list, and a device
//! saved at a version up to its `ber_blob_until` as the OCTET STRING of its legacy
//! bytes. They describe this stream's values: a field the description lists is
//! present, so only padding (`unused_buffer`, left out when it is zeros) and the
//! subsections of a struct array's elements, which can differ from element to
//! element, are OPTIONAL.

use super::desc::{Desc, Group};
use super::Descriptions;
use crate::ber::asn1::{identifier, scalar, type_reference, Module};
use crate::error::{Error, ErrorKind, Result};
use crate::framing::Configuration;
use crate::VMState;
use serde_json::Value;
use std::fmt::Write as _;

/// A stream's module and the type of each device's value.
#[derive(Debug, Clone)]
pub struct StreamModule {
    /// The module text.
    pub text: String,
    /// `(idstr, instance_id, type reference)` of each device, in description order.
    pub devices: Vec<(String, u64, String)>,
    /// The configuration section's type reference.
    pub configuration: String,
}

/// The module, named `name`, of the stream `tree` (from [`from_bytes`](super::from_bytes)).
pub fn module_of(tree: &Value, name: &str) -> Result<StreamModule> {
    let (_, descs) = Descriptions::of_tree(tree)?;
    let mut defs = Definitions::default();
    let mut devices = Vec::new();
    for (idstr, instance, d) in &descs.devices {
        let d = d.as_ref().map_err(Clone::clone)?;
        let base = format!("Dev-{}", type_reference(&d.name));
        let ty = if d.is_blob_at(d.version) {
            defs.define(&base, "OCTET STRING".to_owned())
        } else {
            defs.strukt(&base, d)
        };
        devices.push((idstr.clone(), *instance, ty));
    }
    let mut more = String::from(
        "-- The devices as the stream's description (vmdesc) describes them, each\n\
             -- field tagged by its `tag` member, else by its position:\n",
    );
    for (idstr, instance, ty) in &devices {
        let _ = writeln!(more, "--   {idstr} instance {instance}: {ty}");
    }
    more.push('\n');
    for (name, body) in &defs.defs {
        let _ = writeln!(more, "{name} ::= {body}\n");
    }
    let module = Module::new(name).with_stream();
    let text = module
        .render_with(&more)
        .map_err(|e| Error::new(ErrorKind::Framing(e.to_string()), 0))?;
    let configuration = module
        .type_name(<Configuration as VMState>::DESC)
        .unwrap_or("Configuration")
        .to_owned();
    Ok(StreamModule {
        text,
        devices,
        configuration,
    })
}

/// The definitions made so far, in order. Names start with `Dev-`, which the
/// module's own names never do.
#[derive(Default)]
struct Definitions {
    defs: Vec<(String, String)>,
}

impl Definitions {
    /// A definition of `body` named from `base`: an identical one already made
    /// under that base is reused, another body gets a fresh name.
    fn define(&mut self, base: &str, body: String) -> String {
        let same_base = |n: &str| {
            n == base
                || n.strip_prefix(base)
                    .and_then(|r| r.strip_prefix('-'))
                    .is_some_and(|k| k.parse::<u32>().is_ok())
        };
        if let Some((n, _)) = self.defs.iter().find(|(n, b)| *b == body && same_base(n)) {
            return n.clone();
        }
        let mut name = base.to_owned();
        let mut k = 2;
        while self.defs.iter().any(|(n, _)| *n == name) {
            name = format!("{base}-{k}");
            k += 1;
        }
        self.defs.push((name.clone(), body));
        name
    }

    /// The type of a struct; `optional_subsections` for struct array elements.
    fn strukt(&mut self, base: &str, d: &Desc) -> String {
        self.strukt_with(base, d, false)
    }

    fn strukt_with(&mut self, base: &str, d: &Desc, optional_subsections: bool) -> String {
        let mut seen = Vec::new();
        let mut members = Vec::new();
        for g in &d.groups {
            let ty = self.group(&format!("{base}-{}", type_reference(&g.name)), g);
            let id = unique(identifier(&g.name), g.tag, &mut seen);
            // Padding of zeros is left out of BER (as typed devices do).
            let optional = if g.is_unused() { " OPTIONAL" } else { "" };
            members.push(format!("    {id} [{}] {ty}{optional}", g.tag));
        }
        if !d.subsections.is_empty() {
            let mut seen = Vec::new();
            let entries: Vec<String> = d
                .subsections
                .iter()
                .map(|s| {
                    let sub = format!("{base}-{}", type_reference(&s.name));
                    let body = self.strukt(&sub, s);
                    let entry = self.define(
                        &format!("{sub}-Entry"),
                        format!(
                            "SEQUENCE {{ name UTF8String, version INTEGER ({v}..{v}), body {body} }}",
                            v = s.version
                        ),
                    );
                    let id = unique(identifier(&s.name), s.tag, &mut seen);
                    format!("    {id} [{}] {entry}", s.tag)
                })
                .collect();
            let list = self.define(
                &format!("{base}-Subsections"),
                format!("[APPLICATION 2] SEQUENCE {{\n{}\n}}", entries.join(",\n")),
            );
            let optional = if optional_subsections {
                " OPTIONAL"
            } else {
                ""
            };
            members.push(format!("    subsections {list}{optional}"));
        }
        let tag = d
            .ber_tag
            .map_or(String::new(), |t| format!("[APPLICATION {t}] "));
        let body = if members.is_empty() {
            format!("{tag}SEQUENCE {{ }}")
        } else {
            format!("{tag}SEQUENCE {{\n{}\n}}", members.join(",\n"))
        };
        self.define(base, body)
    }

    /// The type of a field.
    fn group(&mut self, base: &str, g: &Group) -> String {
        let n = g.count;
        if !g.is_array {
            return match g.structs.first() {
                Some(s) => self.strukt(base, s),
                None => element_scalar(g),
            };
        }
        if g.structs.is_empty() {
            if g.is_octets() {
                return format!("OCTET STRING (SIZE ({n}))");
            }
            // A named element type: asn1c's C for an inline constrained one does
            // not build.
            let element = self.define(&format!("{base}-Element"), element_scalar(g));
            let (row, n) = self.rows(base, element, g);
            return self.define(base, format!("SEQUENCE (SIZE ({n})) OF {row}"));
        }
        let element = format!("{base}-Element");
        let types: Vec<String> = g
            .structs
            .iter()
            .map(|s| self.strukt_with(&element, s, true))
            .collect();
        let body = if types.iter().all(|t| *t == types[0]) {
            let (row, n) = self.rows(base, types[0].clone(), g);
            format!("SEQUENCE (SIZE ({n})) OF {row}")
        } else {
            // Elements of different shapes: a SEQUENCE of them in order, which
            // encodes as the SEQUENCE OF does.
            let members: Vec<String> = types
                .iter()
                .enumerate()
                .map(|(i, t)| format!("    element-{i} {t}"))
                .collect();
            format!("SEQUENCE {{\n{}\n}}", members.join(",\n"))
        };
        self.define(base, body)
    }
}

impl Definitions {
    /// For an array whose elements nest (`ber_nested`: `[[u64; 4]; 10]` is listed
    /// as forty elements): the type of its outer elements, SEQUENCE OFs of
    /// `element` innermost first, and how many there are.
    fn rows(&mut self, base: &str, element: String, g: &Group) -> (String, usize) {
        let mut ty = element;
        let mut count = g.count;
        for (depth, &n) in g.nested.iter().enumerate().rev() {
            ty = self.define(
                &format!("{base}-Row{depth}"),
                format!("SEQUENCE (SIZE ({n})) OF {ty}"),
            );
            count /= n.max(1);
        }
        (ty, count)
    }
}

/// An element that is not a struct: INTEGER, BOOLEAN or its octets.
fn element_scalar(g: &Group) -> String {
    match (g.int_kind(), g.ty.as_str()) {
        (Some(true), _) if g.is_integer() => scalar("int", g.size),
        (Some(false), _) if g.is_integer() => scalar("uint", g.size),
        (None, "bool") => "BOOLEAN".to_owned(),
        _ => format!("OCTET STRING (SIZE ({}))", g.size),
    }
}

/// `id`, or `id-<tag>` when a member before it has that identifier.
fn unique(id: String, tag: u32, seen: &mut Vec<String>) -> String {
    let id = if seen.contains(&id) {
        format!("{id}-{tag}")
    } else {
        id
    };
    seen.push(id.clone());
    id
}
