//! The readable form of a stream tree.

use crate::Failure;
use serde_json::Value;
use std::io::Write;
use vmstate_runtime::ram::Encoding;

/// Prints the tree: the configuration, then each section with its fields indented.
pub fn print_tree(tree: &Value, out: &mut impl Write) -> Result<(), Failure> {
    let cfg = &tree["configuration"];
    writeln!(
        out,
        "stream version {}, machine type {}",
        tree["stream_version"],
        cfg["machine_type"].as_str().unwrap_or("(none)")
    )?;
    if let Some(o) = cfg.as_object() {
        for (k, v) in o.iter().filter(|(k, _)| *k != "machine_type") {
            writeln!(out, "  {k} = {}", scalar(v))?;
        }
    }
    let mut names = std::collections::HashMap::new();
    print_sections(&tree["sections"], &mut names, 0, out)
}

/// Prints `sections` (the stream's, or a package's), `depth` levels in; `names`
/// gives each section id its idstr, for the parts that carry none.
fn print_sections<'t>(
    sections: &'t Value,
    names: &mut std::collections::HashMap<String, &'t str>,
    depth: usize,
    out: &mut impl Write,
) -> Result<(), Failure> {
    let pad = "  ".repeat(depth);
    for sec in sections.as_array().into_iter().flatten() {
        let kind = sec["type"].as_str().unwrap_or("?");
        if let Some(idstr) = sec.get("idstr").and_then(Value::as_str) {
            names.insert(sec["section_id"].to_string(), idstr);
        }
        if kind == "command" {
            let hex = sec.get("data").and_then(Value::as_str).unwrap_or("");
            let data = if hex.is_empty() {
                String::new()
            } else {
                format!(", data {hex}")
            };
            // PACKAGED's package: the device state of a postcopy migration, as
            // its records (its length is the command's data), or its bytes.
            let package = match sec.get("package") {
                Some(Value::String(bytes)) => format!(", a package of {} bytes", bytes.len() / 2),
                Some(Value::Array(_)) => match u32::from_str_radix(hex, 16) {
                    Ok(n) => format!(", a package of {n} bytes:"),
                    Err(_) => ", a package:".to_owned(),
                },
                _ => String::new(),
            };
            writeln!(
                out,
                "{pad}command {} ({}){data}{package}",
                sec["command"].as_str().unwrap_or("?"),
                sec["number"]
            )?;
            if let Some(records) = sec.get("package").filter(|p| p.is_array()) {
                print_sections(records, names, depth + 1, out)?;
            }
            continue;
        }
        let ram = sec.get("ram").or_else(|| sec.get("ram_summary"));
        match (sec.get("idstr"), ram) {
            (Some(idstr), _) if kind == "full" => {
                writeln!(
                    out,
                    "{pad}[{}] {}#{} version {}",
                    sec["section_id"],
                    idstr.as_str().unwrap_or(""),
                    sec["instance_id"],
                    sec["version"]
                )?;
                print_value(&sec["value"], depth + 1, out)?;
            }
            (_, Some(_)) => {
                let id = sec["section_id"].to_string();
                let name = names.get(&id).copied().unwrap_or("?");
                writeln!(out, "{pad}[{id}] {name} ({kind}): {}", ram_summary(sec))?;
            }
            _ => writeln!(out, "{pad}[{}] {kind}", sec["section_id"])?,
        }
    }
    Ok(())
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) if s.len() > 64 => {
            let head: String = s.chars().take(64).collect();
            format!("{head}... ({} bytes)", s.len() / 2)
        }
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn print_value(v: &Value, depth: usize, out: &mut impl Write) -> Result<(), Failure> {
    let pad = "  ".repeat(depth);
    let Some(o) = v.as_object() else {
        writeln!(out, "{pad}{}", scalar(v))?;
        return Ok(());
    };
    for (k, v) in o {
        match v {
            Value::Object(_) => {
                writeln!(out, "{pad}{k}:")?;
                print_value(v, depth + 1, out)?;
            }
            Value::Array(a) if a.iter().any(Value::is_object) => {
                for (i, e) in a.iter().enumerate() {
                    writeln!(out, "{pad}{k}[{i}]:")?;
                    print_value(e, depth + 1, out)?;
                }
            }
            Value::Array(a) => {
                let items: Vec<String> = a.iter().map(scalar).collect();
                writeln!(out, "{pad}{k} = [{}]", items.join(", "))?;
            }
            other => writeln!(out, "{pad}{k} = {}", scalar(other))?,
        }
    }
    Ok(())
}

/// One line for a RAM part: its block list, if any, and its page counts (pages
/// sent encoded, XBZRLE or zlib, counted apart); from a summary tree's
/// `ram_summary` or a full tree's `ram` records.
fn ram_summary(sec: &Value) -> String {
    let (mut zero, mut data, mut blocks) = (0, 0, Vec::new());
    let mut encoded = [0u64; Encoding::ALL.len()];
    let mut list = |l: &Value| {
        for b in l.as_array().into_iter().flatten() {
            let length = b["length"].as_u64().unwrap_or(0);
            let size = match length {
                l if l >= 1 << 20 => format!("{} MiB", l >> 20),
                l => format!("{} KiB", l >> 10),
            };
            // A mapped-ram file's block: its pages are in their slots, not records.
            let mapped = match (b.get("held_pages"), b.get("mapped")) {
                (Some(n), _) => format!(" (mapped-ram, {n} of {} pages held)", length >> 12),
                (None, Some(_)) => " (mapped-ram)".to_owned(),
                (None, None) => String::new(),
            };
            blocks.push(format!(
                "{} {size}{mapped}",
                b["name"].as_str().unwrap_or("")
            ));
        }
    };
    if let Some(summary) = sec.get("ram_summary") {
        list(&summary["blocks"]);
        zero = summary["zero_pages"].as_u64().unwrap_or(0);
        data = summary["data_pages"].as_u64().unwrap_or(0);
        for (n, e) in encoded.iter_mut().zip(Encoding::ALL) {
            *n = summary[format!("{}_pages", e.name())].as_u64().unwrap_or(0);
        }
    }
    for r in sec
        .get("ram")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let kind = Encoding::ALL.iter().position(|e| r.get(e.name()).is_some());
        match (r.get("blocks"), r.get("fill"), kind) {
            (Some(l), ..) => list(l),
            (None, Some(_), _) => zero += 1,
            (None, None, Some(k)) => encoded[k] += 1,
            (None, None, None) => data += 1,
        }
    }
    let mut s = format!("{zero} zero pages, {data} data pages");
    for (n, e) in encoded.iter().zip(Encoding::ALL) {
        if *n > 0 {
            s += &format!(", {n} {} pages", e.name());
        }
    }
    if !blocks.is_empty() {
        s = format!("blocks {}; {s}", blocks.join(", "));
    }
    s
}
