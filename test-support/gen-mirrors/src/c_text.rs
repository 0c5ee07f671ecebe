//! Just enough of C to read QEMU's `VMStateDescription` initialisers: comments
//! stripped, balanced groups, top-level comma splits, and the integer constants
//! (`#define`s and enumerators) that array lengths name.

use std::collections::HashMap;

/// `text` without its comments (string and character literals kept whole).
pub fn strip_comments(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        match (b[i], b.get(i + 1)) {
            (b'/', Some(b'*')) => {
                let end = text[i + 2..].find("*/").map_or(b.len(), |e| i + 2 + e + 2);
                out.push(' ');
                i = end;
            }
            (b'/', Some(b'/')) => {
                i = text[i..].find('\n').map_or(b.len(), |e| i + e);
            }
            (q @ (b'"' | b'\''), _) => {
                let start = i;
                i += 1;
                while i < b.len() && b[i] != q {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                i = (i + 1).min(b.len());
                out.push_str(&text[start..i]);
            }
            _ => {
                let c = text[i..].chars().next().unwrap_or(' ');
                out.push(c);
                i += c.len_utf8();
            }
        }
    }
    out
}

/// The index just past the group that opens at `open` (a `(`, `[` or `{`), or
/// `None` if it never closes.
pub fn group_end(text: &str, open: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut in_str: Option<u8> = None;
    let b = text.as_bytes();
    let mut i = open;
    while i < b.len() {
        let c = b[i];
        if let Some(q) = in_str {
            if c == b'\\' {
                i += 1;
            } else if c == q {
                in_str = None;
            }
        } else {
            match c {
                b'"' | b'\'' => in_str = Some(c),
                b'(' | b'[' | b'{' => depth += 1,
                b')' | b']' | b'}' => {
                    depth -= 1;
                    if depth == 0 {
                        return Some(i + 1);
                    }
                }
                _ => {}
            }
        }
        i += 1;
    }
    None
}

/// `text` split at its top-level commas, each part trimmed, empty parts dropped.
pub fn split_top(text: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut in_str: Option<char> = None;
    let mut escaped = false;
    let mut cur = String::new();
    for c in text.chars() {
        if let Some(q) = in_str {
            cur.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                in_str = None;
            }
            continue;
        }
        match c {
            '"' | '\'' => in_str = Some(c),
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    parts.push(cur);
    parts
        .into_iter()
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty())
        .collect()
}

/// A call `NAME(args)`: its name and top-level arguments.
pub fn call(text: &str) -> Option<(String, Vec<String>)> {
    let text = text.trim();
    let open = text.find('(')?;
    let name = text[..open].trim();
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return None;
    }
    let end = group_end(text, open)?;
    if !text[end..].trim().is_empty() {
        return None;
    }
    Some((name.to_owned(), split_top(&text[open + 1..end - 1])))
}

/// Object-like `#define`s and enumerators of a source tree, for evaluating
/// constant expressions.
#[derive(Default)]
pub struct Constants {
    defines: HashMap<String, String>,
    /// Function-like `#define VMSTATE_*(params) body`s.
    macros: HashMap<String, (Vec<String>, String)>,
    /// Field tests that look at the version alone
    /// (`static bool is_version_2(void *opaque, int version_id) { return version_id == 2; }`):
    /// name -> the Rust condition on `v`.
    version_tests: HashMap<String, String>,
}

impl Constants {
    /// Records the object-like `#define`s and the enumerators with explicit or
    /// implicit values of one file (comment-free text).
    pub fn scan(&mut self, text: &str) {
        let mut lines = text.lines().peekable();
        while let Some(line) = lines.next() {
            let mut line = line.trim().to_owned();
            while line.ends_with('\\') {
                line.pop();
                line.push(' ');
                line.push_str(lines.next().unwrap_or("").trim());
            }
            if let Some(reg) = self.register(&line) {
                let (name, addr, width) = reg;
                self.defines
                    .entry(format!("A_{name}"))
                    .or_insert(addr.to_string());
                self.defines
                    .entry(format!("R_{name}"))
                    .or_insert((addr / width).to_string());
                continue;
            }
            let Some(rest) = line.strip_prefix("#define") else {
                continue;
            };
            let rest = rest.trim_start();
            let name_len = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            let (name, value) = rest.split_at(name_len);
            if name.starts_with("VMSTATE_") && value.starts_with('(') {
                if let Some(end) = group_end(value, 0) {
                    let params = split_top(&value[1..end - 1]);
                    self.macros
                        .entry(name.to_owned())
                        .or_insert_with(|| (params, value[end..].trim().to_owned()));
                }
                continue;
            }
            if name.is_empty() || value.starts_with('(') {
                continue;
            }
            self.defines
                .entry(name.to_owned())
                .or_insert_with(|| value.trim().to_owned());
        }
        self.scan_enums(text);
        self.scan_version_tests(text);
    }

    /// A register declared by `hw/registerfields.h`'s `REG32(NAME, addr)`: its
    /// name, address and width in bytes (`R_NAME` is the address over the width).
    fn register(&self, line: &str) -> Option<(String, i64, i64)> {
        let (width, rest) = [("REG8(", 1), ("REG16(", 2), ("REG32(", 4), ("REG64(", 8)]
            .into_iter()
            .find_map(|(m, w)| line.strip_prefix(m).map(|r| (w, r)))?;
        let (name, addr) = rest.strip_suffix(')')?.split_once(',')?;
        Some((name.trim().to_owned(), self.eval(addr)?, width))
    }

    fn scan_version_tests(&mut self, text: &str) {
        let key = "static bool ";
        let mut from = 0;
        while let Some(at) = text[from..].find(key) {
            from += at + key.len();
            let rest = &text[from..];
            let Some(open) = rest.find('(') else { break };
            let name = rest[..open].trim();
            let Some(close) = group_end(rest, open) else {
                break;
            };
            let params: String = rest[open + 1..close - 1].split_whitespace().collect();
            // The version parameter, whatever its name (`version_id`, `version`).
            let Some(version) = params.strip_prefix("void*opaque,int") else {
                continue;
            };
            let Some(body_open) = rest[close..].find('{').map(|b| close + b) else {
                break;
            };
            let Some(body_end) = group_end(rest, body_open) else {
                break;
            };
            let body: String = rest[body_open + 1..body_end - 1]
                .split_whitespace()
                .collect();
            let cond = body
                .strip_prefix("return")
                .and_then(|b| b.strip_prefix(version))
                .and_then(|b| b.strip_suffix(';'))
                .and_then(|b| {
                    ["==", "!=", "<=", ">=", "<", ">"]
                        .into_iter()
                        .find_map(|op| b.strip_prefix(op).map(|n| (op, n)))
                })
                .and_then(|(op, n)| n.parse::<u32>().ok().map(|n| format!("|_, v| v {op} {n}")));
            if let Some(cond) = cond {
                self.version_tests.entry(name.to_owned()).or_insert(cond);
            }
        }
    }

    /// Takes a test function that reads the device's state as the Rust `exists`
    /// hook `closure`.
    pub fn add_state_test(&mut self, name: &str, closure: &str) {
        self.version_tests
            .insert(name.to_owned(), closure.to_owned());
    }

    /// The Rust `exists` hook of a field test function, by its C name: one that
    /// looks at the version alone, or one added by [`Self::add_state_test`].
    pub fn version_test(&self, name: &str) -> Option<&str> {
        self.version_tests.get(name).map(String::as_str)
    }

    fn scan_enums(&mut self, text: &str) {
        let mut from = 0;
        while let Some(at) = text[from..].find("enum") {
            let at = from + at;
            from = at + 4;
            let before_ok = at == 0 || !is_ident(text.as_bytes()[at - 1]);
            let Some(open) = text[from..].find('{').map(|o| from + o) else {
                break;
            };
            if !before_ok || text[from..open].contains([';', '(', ')', '=']) {
                continue;
            }
            let Some(end) = group_end(text, open) else {
                break;
            };
            let mut next = Some(0i64);
            for item in split_top(&text[open + 1..end - 1]) {
                let (name, value) = match item.split_once('=') {
                    Some((n, v)) => (n.trim().to_owned(), self.eval(v)),
                    None => (item.trim().to_owned(), next),
                };
                if let Some(v) = value {
                    self.defines.entry(name).or_insert_with(|| v.to_string());
                }
                next = value.map(|v| v + 1);
            }
            from = end;
        }
    }

    /// A use of function-like macro `name` with `args`, expanded (its parameters
    /// replaced as whole words), or `None` if it is not one or the counts differ.
    pub fn expand(&self, name: &str, args: &[String]) -> Option<String> {
        let (params, body) = self.macros.get(name)?;
        if params.len() != args.len() {
            return None;
        }
        let mut out = String::new();
        let mut word = String::new();
        let flush = |word: &mut String, out: &mut String| {
            match params.iter().position(|p| p == word) {
                Some(i) => out.push_str(&args[i]),
                None => out.push_str(word),
            }
            word.clear();
        };
        for c in body.chars() {
            if c.is_ascii_alphanumeric() || c == '_' {
                word.push(c);
            } else {
                flush(&mut word, &mut out);
                out.push(c);
            }
        }
        flush(&mut word, &mut out);
        Some(out)
    }

    /// A `#define`'s text.
    pub fn define(&self, name: &str) -> Option<&str> {
        self.defines.get(name).map(String::as_str)
    }

    /// The value of an integer constant expression (numbers, known names,
    /// `+ - * / % << >> | &` and parentheses), or `None`.
    pub fn eval(&self, expr: &str) -> Option<i64> {
        let toks = tokens(expr)?;
        let mut p = Parser {
            toks,
            at: 0,
            consts: self,
            depth: 0,
        };
        let v = p.expr(0)?;
        (p.at == p.toks.len()).then_some(v)
    }
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Num(i64),
    Name(String),
    Op(&'static str),
}

fn tokens(expr: &str) -> Option<Vec<Tok>> {
    let b = expr.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c.is_ascii_digit() {
            let start = i;
            while i < b.len() && is_ident(b[i]) {
                i += 1;
            }
            let lit = expr[start..i].trim_end_matches(['u', 'U', 'l', 'L']);
            let v = match lit.strip_prefix("0x").or_else(|| lit.strip_prefix("0X")) {
                Some(hex) => i64::from_str_radix(hex, 16).ok()?,
                None => lit.parse().ok()?,
            };
            out.push(Tok::Num(v));
        } else if is_ident(c) {
            let start = i;
            while i < b.len() && is_ident(b[i]) {
                i += 1;
            }
            out.push(Tok::Name(expr[start..i].to_owned()));
        } else {
            let two = expr.get(i..i + 2).unwrap_or("");
            let op = ["<<", ">>"].into_iter().find(|o| *o == two);
            let op = match op {
                Some(o) => o,
                None => ["+", "-", "*", "/", "%", "|", "&", "(", ")"]
                    .into_iter()
                    .find(|o| o.as_bytes()[0] == c)?,
            };
            i += op.len();
            out.push(Tok::Op(op));
        }
    }
    Some(out)
}

struct Parser<'a> {
    toks: Vec<Tok>,
    at: usize,
    consts: &'a Constants,
    depth: u32,
}

impl Parser<'_> {
    fn prec(op: &str) -> Option<u8> {
        Some(match op {
            "|" => 1,
            "&" => 2,
            "<<" | ">>" => 3,
            "+" | "-" => 4,
            "*" | "/" | "%" => 5,
            _ => return None,
        })
    }

    fn expr(&mut self, min: u8) -> Option<i64> {
        let mut lhs = self.atom()?;
        while let Some(Tok::Op(op)) = self.toks.get(self.at).cloned() {
            let Some(p) = Self::prec(op) else { break };
            if p < min {
                break;
            }
            self.at += 1;
            let rhs = self.expr(p + 1)?;
            lhs = match op {
                "|" => lhs | rhs,
                "&" => lhs & rhs,
                "<<" => lhs.checked_shl(u32::try_from(rhs).ok()?)?,
                ">>" => lhs.checked_shr(u32::try_from(rhs).ok()?)?,
                "+" => lhs.checked_add(rhs)?,
                "-" => lhs.checked_sub(rhs)?,
                "*" => lhs.checked_mul(rhs)?,
                "/" => lhs.checked_div(rhs)?,
                _ => lhs.checked_rem(rhs)?,
            };
        }
        Some(lhs)
    }

    fn atom(&mut self) -> Option<i64> {
        let tok = self.toks.get(self.at)?.clone();
        self.at += 1;
        match tok {
            Tok::Num(v) => Some(v),
            Tok::Op("-") => self.atom().map(|v| -v),
            Tok::Op("(") => {
                let v = self.expr(0)?;
                (self.toks.get(self.at) == Some(&Tok::Op(")"))).then(|| self.at += 1)?;
                Some(v)
            }
            Tok::Name(n) if n == "sizeof" => {
                let ty = match self.toks.get(self.at..self.at + 3)? {
                    [Tok::Op("("), Tok::Name(t), Tok::Op(")")] => t.clone(),
                    _ => return None,
                };
                self.at += 3;
                scalar_size(&ty)
            }
            Tok::Name(n) => {
                self.depth += 1;
                if self.depth > 32 {
                    return None;
                }
                let v = self.consts.eval(self.consts.define(&n)?);
                self.depth -= 1;
                v
            }
            Tok::Op(_) => None,
        }
    }
}

/// The size of a fixed-width C scalar type on x86-64.
fn scalar_size(ty: &str) -> Option<i64> {
    Some(match ty {
        "uint8_t" | "int8_t" | "bool" | "char" => 1,
        "uint16_t" | "int16_t" => 2,
        "uint32_t" | "int32_t" | "int" | "float" => 4,
        "uint64_t" | "int64_t" | "hwaddr" | "double" => 8,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evaluates_defines_and_enumerators() {
        let mut c = Constants::default();
        c.scan("#define A 4\n#define B (A * 2 + 1)\nenum { X, Y = B, Z };\nREG32(DATA, 0x80)\n");
        assert_eq!(c.eval("B << 1"), Some(18));
        assert_eq!(c.eval("Z"), Some(10));
        assert_eq!(c.eval("R_DATA"), Some(0x20));
        assert_eq!(c.eval("8 * sizeof(uint32_t)"), Some(32));
        assert_eq!(c.eval("sizeof(struct x)"), None);
    }

    #[test]
    fn reads_tests_of_the_version_alone() {
        let mut c = Constants::default();
        c.scan("static bool is_version_2(void *opaque, int version_id)\n{\n    return version_id == 2;\n}\nstatic bool f(void *opaque, int version_id) { S *s = opaque; return s->x; }\n");
        c.scan("static bool before_2(void *opaque, int version)\n{\n    return version <= 1;\n}\n");
        assert_eq!(c.version_test("is_version_2"), Some("|_, v| v == 2"));
        assert_eq!(c.version_test("before_2"), Some("|_, v| v <= 1"));
        assert_eq!(c.version_test("f"), None);
    }

    #[test]
    fn expands_function_like_vmstate_macros() {
        let mut c = Constants::default();
        c.scan("#define VMSTATE_IPACK_DEVICE(_field, _state) \\\n    VMSTATE_STRUCT(_field, _state, 1, vmstate_ipack_device, IPackDevice)\n");
        let e = c
            .expand("VMSTATE_IPACK_DEVICE", &["dev".into(), "S".into()])
            .unwrap();
        assert_eq!(
            e,
            "VMSTATE_STRUCT(dev, S, 1, vmstate_ipack_device, IPackDevice)"
        );
    }

    #[test]
    fn splits_calls_at_top_level_commas() {
        let (name, args) = call("VMSTATE_STRUCT(a.b, S, 0, vmstate_x, T)").unwrap();
        assert_eq!(name, "VMSTATE_STRUCT");
        assert_eq!(args, ["a.b", "S", "0", "vmstate_x", "T"]);
        assert_eq!(strip_comments("a /* b */ c // d\n\"/*\""), "a   c \n\"/*\"");
    }
}
