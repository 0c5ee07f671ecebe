//! Whether device state saved by OLD loads in NEW, from their `-dump-vmstate` style
//! descriptions: QEMU's whole dump (keyed by device type, with `Description`), a map
//! of descriptions, or one description (vmstate's `VMState::dump_vmstate_json`).
//!
//! The rules follow what the legacy format needs, which is positional: the
//! destination must accept the source's version, read the same bytes in the same
//! order (a field's name is not on the wire, so a renamed field of the same size is
//! a warning, not an error; padding, `unused`, may stand for any fields of the same
//! total size), and know every subsection the source may send. A nested struct's
//! `size` in `-dump-vmstate` is the size of QEMU's C struct in memory, not on the
//! wire, so structs are compared by their fields. These are the rules of QEMU's
//! `scripts/vmstate-static-checker.py`, without its table of known renames
//! (`vmstate check-compat`).
//!
//! ```
//! use vmstate_runtime::dump::compat::check;
//! let old = serde_json::json!({"name": "uart", "version_id": 2, "minimum_version_id": 1,
//!     "Fields": [{"field": "lcr", "version_id": 0, "field_exists": false, "size": 1}]});
//! let mut new = old.clone();
//! new["minimum_version_id"] = 3.into();
//! let report = check(&old, &new);
//! assert_eq!(report.errors, 1, "{:?}", report.lines);
//! ```

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
        // By device type; a type QEMU renamed keeps its VMStateDescription, whose
        // name (not the type's) is on the wire.
        let same_vmsd = |d: &&(String, &Value)| {
            d.1["name"] == o["name"] && d.1["Fields"][0]["field"] == o["Fields"][0]["field"]
        };
        match news
            .iter()
            .find(|(n, _)| *n == name)
            .or_else(|| news.iter().find(same_vmsd))
        {
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
    compare_fields(path, &of, &nf, r);
    let subs =
        |d: &Value| -> Vec<Value> { d["Subsections"].as_array().cloned().unwrap_or_default() };
    let nsubs = subs(new);
    for s in subs(old) {
        let sname = s["name"].as_str().unwrap_or("?").to_owned();
        match nsubs.iter().find(|n| n["name"] == s["name"]) {
            Some(n) => compare(&sname, &s, n, r),
            None => r.warning(
                &sname,
                "NEW does not know this subsection: a migration fails when OLD sends it (when its `needed` holds)".into(),
            ),
        }
    }
}

/// A field's bytes on the wire: its size times its count; `None` for a struct,
/// whose `size` is QEMU's in memory. QEMU 7.2's dump has no `num` (element count);
/// an array then counts one element.
fn wire_bytes(f: &Value) -> Option<u64> {
    if f.get("Description").is_some() {
        return None;
    }
    Some(num(f, "size") * num(f, "num").max(1))
}

/// Whether two fields take the same bytes: the same total when both dumps give
/// element counts, else the same element size.
fn same_bytes(o: &Value, n: &Value) -> bool {
    if o.get("num").is_some() && n.get("num").is_some() {
        wire_bytes(o) == wire_bytes(n)
    } else {
        num(o, "size") == num(n, "size")
    }
}

fn name(f: &Value) -> &str {
    f["field"].as_str().unwrap_or("?")
}

/// Compares two field lists in wire order.
fn compare_fields(path: &str, of: &[Value], nf: &[Value], r: &mut Report) {
    let fpath = |f: &Value| format!("{path}.{}", name(f));
    let (mut i, mut j) = (0, 0);
    // Set once padding was matched against fields without element counts (QEMU
    // 7.2's dump has none): the alignment after it is a guess.
    let mut guessed = false;
    while i < of.len() && j < nf.len() {
        let (o, n) = (&of[i], &nf[j]);
        if name(o) != name(n) && (name(o) == "unused" || name(n) == "unused") {
            // Padding on one side for fields on the other: the same bytes if the
            // fields add up to the padding exactly.
            let (pad, others, at, old_pads) = if name(o) == "unused" {
                (o, nf, j, true)
            } else {
                (n, of, i, false)
            };
            let want = wire_bytes(pad).unwrap_or(0);
            let (mut got, mut k) = (0, at);
            while got < want && k < others.len() {
                match wire_bytes(&others[k]) {
                    Some(b) => got += b,
                    None => break,
                }
                k += 1;
            }
            if got != want {
                // QEMU 7.2's dump gives no element counts: arrays may be what is
                // missing from the sum.
                let uncounted = others[at..k.min(others.len())]
                    .iter()
                    .chain(std::iter::once(pad))
                    .any(|f| f.get("num").is_none());
                let msg = format!(
                    "{want} bytes of padding on one side, {got} bytes of fields on the other"
                );
                // Counting arrays as one element can only make the sum smaller.
                if uncounted && got < want {
                    r.warning(
                        &fpath(pad),
                        format!("{msg} as far as the dumps tell (one has no element counts); not compared further"),
                    );
                } else {
                    r.error(&fpath(pad), msg);
                }
                return;
            }
            guessed |= others[at..k]
                .iter()
                .chain(std::iter::once(pad))
                .any(|f| f.get("num").is_none());
            let names: Vec<&str> = others[at..k].iter().map(name).collect();
            if old_pads {
                r.warning(
                    &fpath(pad),
                    format!(
                        "OLD sends padding where NEW reads {}: NEW gets zeros",
                        names.join(", ")
                    ),
                );
                (i, j) = (i + 1, k);
            } else {
                r.warning(
                    &fpath(pad),
                    format!(
                        "NEW ignores {} (padding now): their values are dropped",
                        names.join(", ")
                    ),
                );
                (i, j) = (k, j + 1);
            }
            continue;
        }
        // A field behind a `field_exists` test on one side only, the rest aligned:
        // whether it is on the wire depends on the test, which the dumps do not
        // hold.
        let extra = |side: &[Value], at: usize, other: &Value| {
            side[at]["field_exists"] == true
                && side.get(at + 1).is_some_and(|m| name(m) == name(other))
        };
        if name(o) != name(n) && (extra(nf, j, o) || extra(of, i, n)) {
            let new_only = extra(nf, j, o);
            let (f, msg) = if new_only {
                (
                    n,
                    "NEW reads it when its field_exists test holds; OLD never sends it",
                )
            } else {
                (
                    o,
                    "OLD sends it when its field_exists test holds; NEW never reads it",
                )
            };
            r.warning(&fpath(f), msg.into());
            if new_only {
                j += 1;
            } else {
                i += 1;
            }
            continue;
        }
        match (wire_bytes(o), wire_bytes(n)) {
            (Some(a), Some(b)) if !same_bytes(o, n) && guessed => {
                r.warning(
                    &fpath(o),
                    format!("size {a} -> {b} after padding whose fields the dumps do not count; not compared further"),
                );
                return;
            }
            (Some(a), Some(b)) if !same_bytes(o, n) => {
                r.error(&fpath(o), format!("size {a} -> {b}"));
            }
            (Some(_), None) | (None, Some(_)) => {
                r.error(
                    &fpath(o),
                    format!("a struct on one side only ({})", name(n)),
                );
                return;
            }
            _ => {}
        }
        if name(o) != name(n) {
            r.warning(
                &fpath(o),
                format!(
                    "renamed to {} (same size: it loads, if it means the same)",
                    name(n)
                ),
            );
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
        (i, j) = (i + 1, j + 1);
    }
    for o in &of[i..] {
        r.error(&fpath(o), "sent by OLD, not read by NEW".into());
    }
    for n in &nf[j..] {
        r.error(&fpath(n), "NEW reads it, OLD does not send it".into());
    }
}
