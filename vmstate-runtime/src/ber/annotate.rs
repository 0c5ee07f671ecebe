//! An annotated dump of BER octets: one line per TLV with its offset, tag and
//! length, labelled with field names and decoded values when the type's description
//! is given. For snapshots, the CLI and people reading a stream.

use super::decoder::{Decoder, Options};
use super::header::{Class, Header, Length, Tag};
use crate::desc::{TypeDesc, VMStateDesc};
use crate::error::{Error, ErrorKind, Result};
use crate::io::SliceInput;
use std::fmt::Write;

/// What the schema says a TLV is.
#[derive(Clone, Copy)]
enum Schema {
    Struct(&'static VMStateDesc),
    Type(&'static TypeDesc),
    Subsections(&'static VMStateDesc),
    Entry(&'static VMStateDesc),
    Unknown,
}

/// Dumps `bytes` (one value) with labels from `desc` when given.
pub fn annotate(bytes: &[u8], desc: Option<&'static VMStateDesc>) -> Result<String> {
    let mut input = SliceInput::new(bytes);
    let mut d = Decoder::new(&mut input, Options::STRICT);
    let mut out = String::new();
    let shape = desc.map_or(Schema::Unknown, Schema::Struct);
    let label = desc.map_or(String::new(), |d| format!("{} ", d.name));
    while d.peek_header_at_top()? {
        let h = d.next_header(&"a value")?;
        node(&mut d, &h, shape, &label, 0, &mut out)?;
    }
    Ok(out)
}

fn node(
    d: &mut Decoder<'_, SliceInput<'_>>,
    h: &Header,
    shape: Schema,
    label: &str,
    depth: usize,
    out: &mut String,
) -> Result<()> {
    let len = match h.length {
        Length::Definite(n) => n.to_string(),
        Length::Indefinite => "indefinite".to_owned(),
    };
    let _ = write!(
        out,
        "{:06x}  {:indent$}{label}{} len {len}",
        h.offset,
        "",
        h.tag,
        indent = 2 * depth
    );
    if !h.tag.constructed {
        // The decoder refuses indefinite primitives; still, no panic on input.
        let Length::Definite(n) = h.length else {
            return Err(Error::new(
                ErrorKind::MalformedBer("an indefinite primitive".into()),
                h.offset,
            ));
        };
        let content = d.input().take(n as usize)?;
        let _ = writeln!(out, " = {}", primitive(h.tag, shape, content));
        return Ok(());
    }
    out.push('\n');
    d.enter(h)?;
    let mut index = 0usize;
    while let Some(child) = d.peek_header()? {
        crate::io::Input::skip(d.input(), child.header_len)?;
        let (shape, label) = child_shape(shape, &child, index);
        node(d, &child, shape, &label, depth + 1, out)?;
        index += 1;
    }
    d.leave(None)
}

fn child_shape(parent: Schema, h: &Header, index: usize) -> (Schema, String) {
    match parent {
        Schema::Struct(desc) if h.tag == Tag::SUBSECTIONS => {
            (Schema::Subsections(desc), "subsections ".to_owned())
        }
        Schema::Struct(desc) if h.tag.class == Class::Context => {
            match desc.fields.iter().find(|f| f.tag == h.tag.number) {
                Some(f) => (type_shape(&f.ty), format!("{} ", f.asn1_name)),
                None => (Schema::Unknown, "unknown ".to_owned()),
            }
        }
        Schema::Subsections(desc) => {
            match desc.subsections.iter().find(|s| s.tag == h.tag.number) {
                Some(s) => (Schema::Entry(s.desc), format!("{} ", s.asn1_name)),
                None => (Schema::Unknown, "unknown ".to_owned()),
            }
        }
        Schema::Entry(desc) => match index {
            0 => (Schema::Unknown, "name ".to_owned()),
            1 => (Schema::Unknown, "version ".to_owned()),
            _ => (Schema::Struct(desc), "body ".to_owned()),
        },
        Schema::Type(TypeDesc::Array { elem, .. } | TypeDesc::VarArray { elem, .. }) => {
            (type_shape(elem), format!("[{index}] "))
        }
        _ => (Schema::Unknown, String::new()),
    }
}

fn type_shape(t: &'static TypeDesc) -> Schema {
    match t {
        TypeDesc::Struct(d) => Schema::Struct(d),
        other => Schema::Type(other),
    }
}

fn primitive(tag: Tag, shape: Schema, content: &[u8]) -> String {
    let int = || {
        let mut v: i128 = if content.first().is_some_and(|b| b & 0x80 != 0) {
            -1
        } else {
            0
        };
        for &b in content.iter().take(16) {
            v = (v << 8) | i128::from(b);
        }
        v
    };
    match shape {
        Schema::Type(TypeDesc::Scalar { name: "bool", .. }) => (content != [0]).to_string(),
        Schema::Type(TypeDesc::Enum { variants, .. }) => {
            let v = int();
            match variants.iter().find(|(_, d)| i128::from(*d) == v) {
                Some((n, _)) => format!("{n}({v})"),
                None => format!("?({v})"),
            }
        }
        Schema::Type(TypeDesc::Scalar { name, size })
            if *size <= 8
                && (name.starts_with("int") || name.starts_with("uint") || *name == "timer") =>
        {
            int().to_string()
        }
        Schema::Unknown if tag == Tag::INTEGER || tag == Tag::ENUMERATED => int().to_string(),
        Schema::Unknown if tag == Tag::BOOLEAN => (content != [0]).to_string(),
        Schema::Unknown if tag == Tag::UTF8_STRING => {
            format!("{:?}", String::from_utf8_lossy(content))
        }
        _ => hex(content),
    }
}

fn hex(b: &[u8]) -> String {
    const SHOWN: usize = 32;
    let mut s: String = b.iter().take(SHOWN).map(|x| format!("{x:02x}")).collect();
    if b.len() > SHOWN {
        s.push_str("...");
    }
    if s.is_empty() {
        s.push_str("(empty)");
    }
    s
}
