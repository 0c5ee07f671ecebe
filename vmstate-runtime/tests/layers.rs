//! The runtime's modules depend one way, from the bottom up (docs/ARCHITECTURE.md):
//! every path a module's code names resolves to its own layer or a lower one.
//!
//! Files are parsed (syn), not searched: `use` trees of any shape (nested braces,
//! several lines, renames), `super::` and `self::` from the module the code is in
//! (inline modules included), aliases (`use crate as rt;`, `use crate::dump as
//! d;`, `use crate::dump;` then `dump::...`), the crate root's re-exports (`crate::
//! VMState` is `vmstate`'s) and `__private`'s (`crate::__private::nested` is
//! `nested`), paths in every expression, type and pattern, and in macro bodies
//! (`$crate::...`). `lib.rs` may hold docs, module declarations and re-exports
//! only: no logic hides there.

use std::collections::HashMap;
use std::path::Path;
use syn::visit::Visit;

/// The layers, bottom first: a module may use its own layer and those below.
const LAYERS: &[&[&str]] = &[
    &["error", "io", "json", "format", "desc", "tally"],
    &[
        "field",
        "types",
        "opaque",
        "nested",
        "bitmap",
        "linked",
        "octets",
        "wire_as",
        "composite",
        "counted",
        "vmstate",
        "legacy",
        "ber",
        "snapshot",
        "unplugged",
        "generated",
    ],
    &["framing"],
    &["ram"],
    &["kvm"],
    &["stream"],
    &["dump"],
];

fn rank(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

/// `name` → the module path it stands for, from a file's `use` items (and the
/// crate root's and `__private`'s re-exports).
type Aliases = HashMap<String, Vec<String>>;

/// The absolute module path (`["crate", "dump", "ber"]`) of a file under `src`.
fn module_of(rel: &Path) -> Vec<String> {
    let mut m = vec!["crate".to_owned()];
    let parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_owned())
        .collect();
    for (i, p) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        if !(last && (p == "mod" || p == "lib")) {
            m.push(p.clone());
        }
    }
    m
}

/// The paths a use tree brings in: `(name, path)`, `name` `None` for a glob.
fn use_paths(prefix: &[String], t: &syn::UseTree, out: &mut Vec<(Option<String>, Vec<String>)>) {
    let with = |s: &str| {
        let mut p = prefix.to_vec();
        p.push(s.to_owned());
        p
    };
    match t {
        syn::UseTree::Path(p) => use_paths(&with(&p.ident.to_string()), &p.tree, out),
        syn::UseTree::Name(n) if n.ident == "self" => {
            out.push((prefix.last().cloned(), prefix.to_vec()))
        }
        syn::UseTree::Name(n) => out.push((Some(n.ident.to_string()), with(&n.ident.to_string()))),
        syn::UseTree::Rename(r) => {
            let path = if r.ident == "self" {
                prefix.to_vec()
            } else {
                with(&r.ident.to_string())
            };
            out.push((Some(r.rename.to_string()), path))
        }
        syn::UseTree::Glob(_) => out.push((None, prefix.to_vec())),
        syn::UseTree::Group(g) => g.items.iter().for_each(|i| use_paths(prefix, i, out)),
    }
}

/// `path` made absolute from module `here`, through `aliases`; `None` when it
/// names nothing of the crate (a local item, std, another crate).
fn absolute(path: &[String], here: &[String], aliases: &Aliases) -> Option<Vec<String>> {
    let first = path.first()?;
    let mut abs = match first.as_str() {
        "crate" | "$crate" | "vmstate_runtime" => vec!["crate".to_owned()],
        "self" => here.to_vec(),
        "super" => {
            let mut m = here.to_vec();
            let mut rest = path;
            while rest.first().is_some_and(|s| s == "super") {
                m.pop();
                rest = &rest[1..];
            }
            m.extend(rest.iter().cloned());
            return Some(m);
        }
        // A name `use` brought in, else an item or module under this one (or
        // another crate's, which then reaches nothing of this crate's layers).
        name => aliases.get(name).cloned().unwrap_or_else(|| {
            let mut m = here.to_vec();
            m.push(name.to_owned());
            m
        }),
    };
    if !aliases.contains_key(first)
        && !matches!(
            first.as_str(),
            "crate" | "$crate" | "vmstate_runtime" | "self"
        )
    {
        // `here` + the whole path (the first segment included).
        abs.extend(path[1..].iter().cloned());
        return Some(abs);
    }
    abs.extend(path[1..].iter().cloned());
    Some(abs)
}

/// The top-level module an absolute path reaches, through the root's and
/// `__private`'s re-exports.
fn target(abs: &[String], root: &Aliases, private: &Aliases) -> Option<String> {
    let top = abs.get(1)?;
    if rank(top).is_some() {
        return Some(top.clone());
    }
    // An item `__private` re-exports is where it comes from; anything else under
    // `__private` (its own modules) is `generated`'s, as the root's alias says.
    let re_exported = match abs.get(2) {
        Some(item) if top == "__private" => private.get(item).and_then(|p| p.get(1)).cloned(),
        _ => None,
    };
    re_exported
        .or_else(|| root.get(top).and_then(|p| p.get(1)).cloned())
        .or_else(|| Some(top.clone()))
}

/// Every path a file names, with the module its code is in.
struct Collect {
    /// The module of the code being visited (inline modules pushed).
    here: Vec<String>,
    aliases: Aliases,
    paths: Vec<(Vec<String>, Vec<String>)>,
}

impl<'ast> Visit<'ast> for Collect {
    fn visit_item_mod(&mut self, m: &'ast syn::ItemMod) {
        self.here.push(m.ident.to_string());
        syn::visit::visit_item_mod(self, m);
        self.here.pop();
    }

    fn visit_item_use(&mut self, u: &'ast syn::ItemUse) {
        let mut found = Vec::new();
        use_paths(&[], &u.tree, &mut found);
        for (name, path) in found {
            if let Some(abs) = absolute(&path, &self.here, &self.aliases) {
                if let Some(name) = name {
                    self.aliases.insert(name, abs.clone());
                }
                self.paths.push((self.here.clone(), abs));
            }
        }
    }

    fn visit_path(&mut self, p: &'ast syn::Path) {
        let segs: Vec<String> = p.segments.iter().map(|s| s.ident.to_string()).collect();
        if let Some(abs) = absolute(&segs, &self.here, &self.aliases) {
            self.paths.push((self.here.clone(), abs));
        }
        syn::visit::visit_path(self, p);
    }

    /// Macro bodies are tokens: `crate :: a :: b` and `$crate :: a` in them.
    fn visit_macro(&mut self, m: &'ast syn::Macro) {
        let tokens: Vec<String> = m.tokens.clone().into_iter().flat_map(flatten).collect();
        for (i, t) in tokens.iter().enumerate() {
            if t == "crate" && tokens.get(i + 1).is_some_and(|n| n == "::") {
                let segs: Vec<String> = std::iter::once("crate".to_owned())
                    .chain(
                        tokens[i + 1..]
                            .chunks(2)
                            .take_while(|c| c[0] == "::" && c.len() == 2)
                            .map(|c| c[1].clone()),
                    )
                    .collect();
                self.paths.push((self.here.clone(), segs));
            }
        }
        syn::visit::visit_macro(self, m);
    }
}

/// A token tree as a list of token texts (`::` one token).
fn flatten(t: proc_macro2::TokenTree) -> Vec<String> {
    match t {
        proc_macro2::TokenTree::Group(g) => g.stream().into_iter().flat_map(flatten).collect(),
        proc_macro2::TokenTree::Punct(p) if p.as_char() == ':' => {
            if p.spacing() == proc_macro2::Spacing::Joint {
                vec!["::".to_owned()]
            } else {
                Vec::new()
            }
        }
        other => vec![other.to_string()],
    }
}

/// A file's module path and text.
type Source = (Vec<String>, String);

/// The re-exports of `module`'s file: name → the path it re-exports.
fn reexports(files: &[Source], module: &[&str]) -> Aliases {
    let mut out = Aliases::new();
    let Some((here, text)) = files.iter().find(|(m, _)| m == module) else {
        return out;
    };
    let file = syn::parse_file(text).expect("parses");
    for item in &file.items {
        if let syn::Item::Use(u) = item {
            let mut found = Vec::new();
            use_paths(&[], &u.tree, &mut found);
            for (name, path) in found {
                if let (Some(name), Some(abs)) = (name, absolute(&path, here, &Aliases::new())) {
                    out.insert(name, abs);
                }
            }
        }
    }
    out
}

/// What `lib.rs` holds beyond docs, module declarations and re-exports.
fn logic_in_root(text: &str) -> Vec<String> {
    let file = syn::parse_file(text).expect("lib.rs parses");
    file.items
        .iter()
        .filter_map(|item| match item {
            syn::Item::Mod(m) if m.content.is_none() => None,
            syn::Item::Use(_) | syn::Item::ExternCrate(_) => None,
            other => Some(format!(
                "lib.rs: {}",
                quote::ToTokens::to_token_stream(other)
                    .to_string()
                    .chars()
                    .take(60)
                    .collect::<String>()
            )),
        })
        .collect()
}

/// Every path of `files` that reaches a layer above its own module's.
fn violations(files: &[Source]) -> Vec<String> {
    let root = reexports(files, &["crate"]);
    let private = {
        let mut p = reexports(files, &["crate", "generated"]);
        // `pub use crate::nested;` names the module itself.
        for v in p.values_mut() {
            if v.len() == 2 && rank(&v[1]).is_none() {
                if let Some(r) = root.get(&v[1]) {
                    *v = r.clone();
                }
            }
        }
        p
    };
    let mut found = Vec::new();
    for (module, text) in files {
        if module.len() == 1 {
            found.extend(logic_in_root(text));
            continue;
        }
        let own = &module[1];
        let Some(own_rank) = rank(own) else {
            found.push(format!("module {own} has no layer"));
            continue;
        };
        let file = syn::parse_file(text).unwrap_or_else(|e| panic!("{module:?}: {e}"));
        let mut c = Collect {
            here: module.clone(),
            aliases: root
                .iter()
                .filter(|(k, _)| k.as_str() == "__private")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            paths: Vec::new(),
        };
        c.visit_file(&file);
        for (_, abs) in c.paths {
            let Some(to) = target(&abs, &root, &private) else {
                continue;
            };
            if rank(&to).is_some_and(|r| r > own_rank) {
                found.push(format!("{} uses {}", module.join("::"), abs.join("::")));
            }
        }
    }
    found.sort();
    found.dedup();
    found
}

fn read_tree(dir: &Path, base: &Path, out: &mut Vec<Source>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            read_tree(&path, base, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let rel = path.strip_prefix(base).unwrap();
            out.push((module_of(rel), std::fs::read_to_string(&path).unwrap()));
        }
    }
}

#[test]
fn no_module_uses_a_layer_above_its_own() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    read_tree(&src, &src, &mut files);
    assert!(files.len() > 60, "{} files", files.len());
    let found = violations(&files);
    assert!(
        found.is_empty(),
        "upward dependencies:\n{}",
        found.join("\n")
    );
}

/// Each way a path could slip past a search by text, in a bottom-layer module
/// (`error`) reaching the top one (`dump`), is caught; and `lib.rs` with logic.
#[test]
fn each_evasion_is_caught() {
    let root = "pub mod dump;\npub mod error;\npub mod generated;\npub mod stream;\n\
                pub use crate::generated as __private;\npub use dump::Tree;\n";
    let generated = "pub use crate::dump::walk;\npub use crate::error::Error;\n";
    let evasions = [
        ("nested braces", "use crate::{io::{Writer}, dump::Tree};"),
        (
            "a multi-line list",
            "use crate::{\n    io::Writer,\n    dump::{\n        Tree,\n    },\n};",
        ),
        (
            "super::super",
            "mod a { mod b { fn f() { super::super::super::dump::f(); } } }",
        ),
        (
            "an alias of the crate",
            "use crate as rt;\nfn f() { rt::dump::f(); }",
        ),
        ("__private", "fn f() { crate::__private::walk(); }"),
        (
            "a module of __private's own",
            "fn f() { crate::__private::hook::f(); }",
        ),
        ("a root re-export", "fn f() -> crate::Tree { todo!() }"),
        (
            "a module alias",
            "use crate::dump as d;\nfn f() { d::f(); }",
        ),
        (
            "a macro body",
            "macro_rules! m { () => { $crate::dump::f() }; }",
        ),
    ];
    for (what, code) in evasions {
        let files: Vec<Source> = vec![
            (vec!["crate".into()], root.into()),
            (vec!["crate".into(), "generated".into()], generated.into()),
            (vec!["crate".into(), "error".into()], code.into()),
        ];
        let found = violations(&files);
        assert!(
            found
                .iter()
                .any(|f| f.starts_with("crate::error uses crate::")),
            "{what} slipped through: {found:?}"
        );
    }
    let with_logic = format!("{root}pub fn helper() -> u32 {{ 1 }}\n");
    let found = violations(&[(vec!["crate".into()], with_logic)]);
    assert!(
        found.iter().any(|f| f.starts_with("lib.rs: pub fn helper")),
        "{found:?}"
    );
}
