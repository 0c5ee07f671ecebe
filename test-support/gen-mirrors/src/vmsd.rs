//! QEMU's `VMStateDescription` initialisers, read from its C sources.

use crate::c_text::{group_end, split_top, strip_comments, Constants};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One `VMStateDescription` as its C initialiser writes it.
#[derive(Clone, Debug)]
pub struct Vmsd {
    /// The C variable (`vmstate_rtl8139`).
    pub cname: String,
    /// `.name`.
    pub name: String,
    /// `.version_id`.
    pub version: u32,
    /// `.minimum_version_id` (0 when unset, as in C).
    pub minimum_version: u32,
    /// The entries of `.fields`, each the text of one `VMSTATE_*` use.
    pub fields: Vec<String>,
    /// The C variables `.subsections` names.
    pub subsections: Vec<String>,
    /// `.unmigratable`.
    pub unmigratable: bool,
    /// The hooks it sets (`pre_save`, `post_load`, ...), for the report.
    pub hooks: Vec<String>,
    /// The file, relative to the source tree.
    pub file: PathBuf,
}

/// Every `VMStateDescription` of a QEMU source tree, and its constants.
pub struct Tree {
    /// By C variable; a variable defined in several files (static ones) keeps each.
    pub vmsds: BTreeMap<String, Vec<Vmsd>>,
    /// The tree's integer constants.
    pub consts: Constants,
}

impl Tree {
    /// Reads the `.c` and `.h` files under `root`'s `dirs`.
    pub fn read(root: &Path, dirs: &[&str]) -> std::io::Result<Tree> {
        let mut files = Vec::new();
        for d in dirs {
            collect(&root.join(d), &mut files)?;
        }
        files.sort();
        let mut texts = Vec::new();
        for f in files {
            let text = strip_comments(&String::from_utf8_lossy(&std::fs::read(&f)?));
            texts.push((f.strip_prefix(root).unwrap_or(&f).to_owned(), text));
        }
        let mut consts = Constants::default();
        for (_, t) in &texts {
            consts.scan(t);
        }
        let mut vmsds: BTreeMap<String, Vec<Vmsd>> = BTreeMap::new();
        for (file, t) in &texts {
            for v in scan(t, file, &consts) {
                vmsds.entry(v.cname.clone()).or_default().push(v);
            }
        }
        Ok(Tree { vmsds, consts })
    }

    /// The description named `name` whose fields are `fields` (several QOM types
    /// share names), or the only one of that name.
    pub fn by_name(&self, name: &str, first_field: Option<&str>) -> Option<&Vmsd> {
        let all: Vec<&Vmsd> = self
            .vmsds
            .values()
            .flatten()
            .filter(|v| v.name == name)
            .collect();
        let first = |v: &&&Vmsd| {
            let f = v.fields.first().and_then(|f| crate::c_text::call(f));
            f.and_then(|(_, args)| args.first().cloned()).as_deref() == first_field
        };
        all.iter().find(first).or(all.first()).copied()
    }

    /// The description in C variable `cname`, preferring one in `file`.
    pub fn by_cname(&self, cname: &str, file: &Path) -> Option<&Vmsd> {
        let all = self.vmsds.get(cname)?;
        all.iter().find(|v| v.file == file).or(all.first())
    }
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    if dir.is_file() {
        out.push(dir.to_owned());
        return Ok(());
    }
    for e in std::fs::read_dir(dir)? {
        let p = e?.path();
        if p.is_dir() {
            collect(&p, out)?;
        } else if p.extension().is_some_and(|e| e == "c" || e == "h") {
            out.push(p);
        }
    }
    Ok(())
}

/// The initialisers `VMStateDescription NAME = { ... }` of one file.
fn scan(text: &str, file: &Path, consts: &Constants) -> Vec<Vmsd> {
    let mut out = Vec::new();
    let key = "VMStateDescription";
    let mut from = 0;
    while let Some(at) = text[from..].find(key) {
        from += at + key.len();
        let rest = &text[from..];
        let name_len = rest
            .trim_start()
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(0);
        let lead = rest.len() - rest.trim_start().len();
        let cname = &rest[lead..lead + name_len];
        let after = rest[lead + name_len..].trim_start();
        if cname.is_empty() || !after.starts_with('=') {
            continue;
        }
        let Some(open) = text[from..].find('{').map(|o| from + o) else {
            break;
        };
        if !text[from + lead + name_len..open].trim().starts_with('=')
            || text[from + lead + name_len..open].trim() != "="
        {
            continue;
        }
        let Some(end) = group_end(text, open) else {
            break;
        };
        if let Some(v) = parse(cname, &text[open + 1..end - 1], file, consts) {
            out.push(v);
        }
        from = end;
    }
    out
}

fn parse(cname: &str, body: &str, file: &Path, consts: &Constants) -> Option<Vmsd> {
    // A stub's empty initialiser (`ramfb-stubs.c`) is not the description.
    if body.trim().is_empty() {
        return None;
    }
    let mut v = Vmsd {
        cname: cname.to_owned(),
        name: String::new(),
        version: 0,
        minimum_version: 0,
        fields: Vec::new(),
        subsections: Vec::new(),
        unmigratable: false,
        hooks: Vec::new(),
        file: file.to_owned(),
    };
    for item in split_top(body) {
        let Some((key, value)) = item.strip_prefix('.').and_then(|i| i.split_once('=')) else {
            continue;
        };
        let (key, value) = (key.trim(), value.trim());
        match key {
            "name" => v.name = string_value(value, consts)?,
            "version_id" => v.version = consts.eval(value)? as u32,
            "minimum_version_id" => v.minimum_version = consts.eval(value)? as u32,
            "unmigratable" => v.unmigratable = value != "0" && value != "false",
            "fields" => v.fields = list(&conditional(value, consts)),
            "subsections" => {
                v.subsections = list(value)
                    .into_iter()
                    .filter(|s| s != "NULL")
                    .map(|s| s.trim_start_matches('&').trim().to_owned())
                    .collect()
            }
            _ => v.hooks.push(key.to_owned()),
        }
    }
    Some(v)
}

/// `text` as the preprocessor leaves it where its `#if`s compare constants
/// (`#if CTUCAN_PCI_CORE_COUNT >= 2`); text under a condition it cannot
/// evaluate is kept whole, so that the field it hides is reported.
fn conditional(text: &str, consts: &Constants) -> String {
    let mut out = String::new();
    // Per open `#if`: whether its text is kept (`None`: not evaluated).
    let mut open: Vec<Option<bool>> = Vec::new();
    for line in text.lines() {
        let directive = line.trim_start();
        let evaluated = open.last().is_some_and(Option::is_some);
        if let Some(cond) = directive.strip_prefix("#if ") {
            let kept = compare(cond.trim(), consts);
            open.push(kept);
            if kept.is_some() {
                continue;
            }
        } else if directive.starts_with("#else") && evaluated {
            if let Some(Some(kept)) = open.last_mut() {
                *kept = !*kept;
            }
            continue;
        } else if directive.starts_with("#endif") {
            open.pop();
            if evaluated {
                continue;
            }
        }
        if open.iter().all(|k| k.unwrap_or(true)) {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// The value of a preprocessor condition `A OP B` over constants.
fn compare(cond: &str, consts: &Constants) -> Option<bool> {
    let (op, at) = ["==", "!=", ">=", "<=", ">", "<"]
        .into_iter()
        .find_map(|op| cond.find(op).map(|at| (op, at)))?;
    let (a, b) = (
        consts.eval(&cond[..at])?,
        consts.eval(&cond[at + op.len()..])?,
    );
    Some(match op {
        "==" => a == b,
        "!=" => a != b,
        ">=" => a >= b,
        "<=" => a <= b,
        ">" => a > b,
        _ => a < b,
    })
}

/// The entries of a compound literal `(T[]) { a, b, ... }`.
fn list(value: &str) -> Vec<String> {
    let Some(open) = value.rfind('{').and_then(|_| {
        // The last top-level brace group: skip the cast's parentheses.
        let mut at = 0;
        let mut found = None;
        while let Some(o) = value[at..].find(['(', '{']).map(|o| at + o) {
            if value.as_bytes()[o] == b'{' {
                found = Some(o);
                break;
            }
            at = group_end(value, o)?;
        }
        found
    }) else {
        return Vec::new();
    };
    let end = group_end(value, open).unwrap_or(value.len());
    split_top(&value[open + 1..end - 1])
}

/// A string literal, concatenated literals, or a `#define` of one (`TYPE_FOO`).
fn string_value(value: &str, consts: &Constants) -> Option<String> {
    let mut out = String::new();
    let mut rest = value.trim();
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('"') {
            let end = r.find('"')?;
            out.push_str(&r[..end]);
            rest = r[end + 1..].trim_start();
        } else {
            let len = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            if len == 0 {
                return None;
            }
            out.push_str(&string_value(consts.define(&rest[..len])?, consts)?);
            rest = rest[len..].trim_start();
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_what_a_constant_condition_keeps() {
        let mut c = Constants::default();
        c.scan("#define COUNT 2\n");
        let text = "a,\n#if COUNT >= 2\nb,\n#else\nc,\n#endif\n#if OTHER(x)\nd,\n#endif\ne\n";
        assert_eq!(
            conditional(text, &c),
            "a,\nb,\n#if OTHER(x)\nd,\n#endif\ne\n"
        );
    }
}
