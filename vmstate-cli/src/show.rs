//! The readable form of a stream tree, and RAM blocks assembled from its pages.

use crate::Failure;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use vmstate_runtime::dump::unhex;

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
    for sec in tree["sections"].as_array().into_iter().flatten() {
        let kind = sec["type"].as_str().unwrap_or("?");
        if let Some(idstr) = sec.get("idstr").and_then(Value::as_str) {
            names.insert(sec["section_id"].to_string(), idstr);
        }
        match (sec.get("idstr"), sec.get("ram")) {
            (Some(idstr), _) if kind == "full" => {
                writeln!(
                    out,
                    "[{}] {}#{} version {}",
                    sec["section_id"],
                    idstr.as_str().unwrap_or(""),
                    sec["instance_id"],
                    sec["version"]
                )?;
                print_value(&sec["value"], 1, out)?;
            }
            (_, Some(ram)) => {
                let id = sec["section_id"].to_string();
                let name = names.get(&id).copied().unwrap_or("?");
                writeln!(out, "[{id}] {name} ({kind}): {}", ram_summary(ram))?;
            }
            _ => writeln!(out, "[{}] {kind}", sec["section_id"])?,
        }
    }
    Ok(())
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) if s.len() > 64 => format!("{}... ({} bytes)", &s[..64], s.len() / 2),
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

fn ram_summary(records: &Value) -> String {
    let (mut zero, mut data, mut blocks) = (0usize, 0usize, Vec::new());
    for r in records.as_array().into_iter().flatten() {
        if let Some(list) = r.get("blocks").and_then(Value::as_array) {
            for b in list {
                blocks.push(format!(
                    "{} {} MiB",
                    b["name"].as_str().unwrap_or(""),
                    b["length"].as_u64().unwrap_or(0) >> 20
                ));
            }
        } else if r.get("fill").is_some() {
            zero += 1;
        } else {
            data += 1;
        }
    }
    let mut s = format!("{zero} zero pages, {data} data pages");
    if !blocks.is_empty() {
        s = format!("blocks {}; {s}", blocks.join(", "));
    }
    s
}

/// Assembles each RAM block from the stream's pages (later pages overwrite earlier
/// ones, as on a real destination).
pub fn assemble_ram(tree: &Value) -> Result<BTreeMap<String, Vec<u8>>, Failure> {
    let mut blocks: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let records = tree["sections"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.get("ram").and_then(Value::as_array))
        .flatten();
    for r in records {
        if let Some(list) = r.get("blocks").and_then(Value::as_array) {
            for b in list {
                let len = b["length"].as_u64().unwrap_or(0);
                let len =
                    usize::try_from(len).map_err(|_| Failure("RAM block too large".into()))?;
                blocks.insert(b["name"].as_str().unwrap_or("").to_owned(), vec![0; len]);
            }
            continue;
        }
        let name = r["block"].as_str().unwrap_or("");
        let offset = r["offset"].as_u64().unwrap_or(0) as usize;
        let mem = blocks
            .get_mut(name)
            .ok_or_else(|| Failure(format!("page of unknown RAM block {name}")))?;
        let page = mem
            .get_mut(offset..offset + 4096)
            .ok_or_else(|| Failure(format!("page {offset:#x} is beyond RAM block {name}")))?;
        match (
            r.get("fill").and_then(Value::as_u64),
            r.get("data").and_then(Value::as_str),
        ) {
            (Some(fill), _) => page.fill(fill as u8),
            (None, Some(hex)) => {
                let data = unhex(hex)
                    .filter(|d| d.len() == 4096)
                    .ok_or_else(|| Failure("bad page data".into()))?;
                page.copy_from_slice(&data);
            }
            _ => {
                return Err(Failure(format!(
                    "RAM record at {offset:#x} has no contents"
                )))
            }
        }
    }
    Ok(blocks)
}

/// Writes each assembled RAM block to `DIR/<block>.bin`; returns the blocks written.
pub fn write_ram(tree: &Value, dir: &Path) -> Result<Vec<(String, u64)>, Failure> {
    let blocks = assemble_ram(tree)?;
    std::fs::create_dir_all(dir).map_err(|e| Failure(format!("{}: {e}", dir.display())))?;
    let mut written = Vec::new();
    for (name, mem) in blocks {
        let file = dir.join(format!("{}.bin", name.replace('/', "_")));
        std::fs::write(&file, &mem).map_err(|e| Failure(format!("{}: {e}", file.display())))?;
        written.push((name, mem.len() as u64));
    }
    Ok(written)
}
