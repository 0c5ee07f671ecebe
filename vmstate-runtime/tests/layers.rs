//! The runtime's modules depend one way, from the bottom up (docs/ARCHITECTURE.md):
//! a `crate::` path in a module may name only its own layer or a lower one.

use std::path::Path;

/// The layers, bottom first, and the modules (or crate-root items) in each.
const LAYERS: &[&[&str]] = &[
    &[
        "error",
        "io",
        "json",
        "format",
        "desc",
        "Error",
        "ErrorKind",
        "Result",
        "Format",
    ],
    &[
        "field",
        "types",
        "opaque",
        "nested",
        "bitmap",
        "linked",
        "legacy",
        "ber",
        "snapshot",
        "wire_as",
        "octets",
        "composite",
        "counted",
        "VMState",
        "Field",
        "VarLenField",
        "Timer",
        "Unused",
    ],
    &["framing"],
    &["ram", "kvm"],
    &["stream"],
    &["dump"],
];

fn layer_of(name: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&name))
}

/// The `crate::` names a file's code (not its comments) uses.
fn crate_paths(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(i) = rest.find("crate::") {
            rest = &rest[i + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '{')
                .collect();
            if name.starts_with('{') {
                // `use crate::{a, b::c}`: every name in the braces.
                let inner = rest[1..].split('}').next().unwrap_or("");
                out.extend(
                    inner
                        .split(',')
                        .map(|p| p.trim().split("::").next().unwrap_or("").to_owned())
                        .filter(|p| !p.is_empty()),
                );
            } else {
                out.push(name);
            }
        }
    }
    out
}

fn visit(dir: &Path, module: Option<&str>, found: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let stem = path.file_stem().unwrap().to_str().unwrap().to_owned();
        // A file's layer is that of its top-level module.
        let top = module.unwrap_or(&stem).to_owned();
        if path.is_dir() {
            visit(&path, Some(&top), found);
            continue;
        }
        if top == "lib" {
            continue; // the crate root re-exports every layer
        }
        let own = layer_of(&top).unwrap_or_else(|| panic!("module {top} has no layer"));
        let text = std::fs::read_to_string(&path).unwrap();
        for name in crate_paths(&text) {
            let Some(layer) = layer_of(&name) else {
                // `crate::__private` and the like: generated-code support.
                continue;
            };
            if layer > own {
                found.push(format!("{} uses crate::{name}", path.display()));
            }
        }
    }
}

#[test]
fn no_module_uses_a_layer_above_its_own() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut found = Vec::new();
    visit(&src, None, &mut found);
    assert!(
        found.is_empty(),
        "upward dependencies:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_check_sees_braced_and_inline_paths() {
    let names =
        crate_paths("use crate::{dump, io::Writer};\nlet x = crate::stream::walk(); // crate::ram");
    assert_eq!(names, ["dump", "io", "stream"]);
}
