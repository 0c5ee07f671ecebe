//! Whether device state saved by OLD loads in NEW, from their `-dump-vmstate` style
//! descriptions: QEMU's whole dump (keyed by device type, with `Description`), a map
//! of descriptions, or one description (vmstate's `VMState::dump_vmstate_json`).
//!
//! The rules follow what the legacy format needs: the destination must accept the
//! source's version, read the same fields in the same order with the same sizes, and
//! know every subsection the source may send.

use serde_json::Value;

/// The findings.
#[derive(Default)]
pub struct Report {
    /// One line per finding, `ERROR` or `WARNING` first.
    pub lines: Vec<String>,
    /// Findings that break migration.
    pub errors: usize,
    /// Findings that break it only in some states.
    pub warnings: usize,
}

impl Report {
    fn error(&mut self, path: &str, msg: String) {
        self.errors += 1;
        self.lines.push(format!("ERROR {path}: {msg}"));
    }

    fn warning(&mut self, path: &str, msg: String) {
        self.warnings += 1;
        self.lines.push(format!("WARNING {path}: {msg}"));
    }
}

/// The descriptions in a file, by name.
fn descriptions(v: &Value) -> Vec<(String, &Value)> {
    if v.get("Fields").is_some() {
        let name = v["name"].as_str().unwrap_or("").to_owned();
        return vec![(name, v)];
    }
    v.as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, d)| {
            let desc = d.get("Description").unwrap_or(d);
            desc.get("Fields").map(|_| (k.clone(), desc))
        })
        .collect()
}

/// Compares every description of `old` with `new`'s.
pub fn check(old: &Value, new: &Value) -> Report {
    let mut r = Report::default();
    let news = descriptions(new);
    for (name, o) in descriptions(old) {
        match news.iter().find(|(n, _)| *n == name) {
            Some((_, n)) => compare(&name, o, n, &mut r),
            None => r.error(&name, "missing in NEW: its sections cannot load".into()),
        }
    }
    r
}

fn num(v: &Value, key: &str) -> u64 {
    v.get(key).and_then(Value::as_u64).unwrap_or(0)
}

fn compare(path: &str, old: &Value, new: &Value, r: &mut Report) {
    let sent = num(old, "version_id");
    let (new_version, new_min) = (num(new, "version_id"), num(new, "minimum_version_id"));
    if sent > new_version {
        r.error(
            path,
            format!("OLD saves version {sent}, NEW loads at most {new_version}"),
        );
        return;
    }
    if sent < new_min {
        r.error(
            path,
            format!("OLD saves version {sent}, NEW loads from {new_min} on"),
        );
        return;
    }
    // Fields on the wire at the version OLD sends, in order.
    let on_wire = |d: &Value| -> Vec<Value> {
        d["Fields"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|f| num(f, "version_id") <= sent)
            .cloned()
            .collect()
    };
    let (of, nf) = (on_wire(old), on_wire(new));
    for i in 0..of.len().max(nf.len()) {
        let fpath = |f: &Value| format!("{path}.{}", f["field"].as_str().unwrap_or("?"));
        match (of.get(i), nf.get(i)) {
            (Some(o), Some(n)) => {
                if o["field"] != n["field"] {
                    r.error(&fpath(o), format!("NEW has {} in its place", n["field"]));
                    return;
                }
                if o["size"] != n["size"] {
                    r.error(&fpath(o), format!("size {} -> {}", o["size"], n["size"]));
                }
                if o["field_exists"] != n["field_exists"] {
                    r.warning(
                        &fpath(o),
                        "a field_exists test decides it on one side only".into(),
                    );
                }
                if let (Some(od), Some(nd)) = (o.get("Description"), n.get("Description")) {
                    compare(&fpath(o), od, nd, r);
                }
            }
            (Some(o), None) => r.error(&fpath(o), "sent by OLD, not read by NEW".into()),
            (None, Some(n)) => r.error(
                &fpath(n),
                format!("NEW reads it at version {sent}, OLD does not send it"),
            ),
            (None, None) => {}
        }
    }
    let subs =
        |d: &Value| -> Vec<Value> { d["Subsections"].as_array().cloned().unwrap_or_default() };
    let nsubs = subs(new);
    for s in subs(old) {
        let sname = s["name"].as_str().unwrap_or("?").to_owned();
        match nsubs.iter().find(|n| n["name"] == s["name"]) {
            Some(n) => compare(&sname, &s, n, r),
            None => r.error(
                &sname,
                "OLD may send this subsection; NEW does not know it".into(),
            ),
        }
    }
}
