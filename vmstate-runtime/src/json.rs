//! A small JSON writer that reproduces QEMU's output byte for byte: its compact
//! `JSONWriter` (`{"a": 1, "b": [...]}`, the vmdesc trailer) and an indented form
//! (the `-dump-vmstate` layout). serde_json's formatting differs in separators, and
//! the vmdesc trailer must match QEMU's bytes exactly.

/// The JSON value of [`Field::to_json`](crate::Field::to_json) and the dump tree
/// (serde_json's), re-exported so a hand-written `Field` needs no dependency of its own.
pub use serde_json::Value;

/// How a QEMU release lists the elements of an array it cannot compress (structs
/// with subsections, say) in the vmdesc trailer: an entry per element, with `index`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VmdescArrays {
    /// QEMU 7.2: every entry has its `index`.
    #[default]
    Qemu7_2,
    /// QEMU 10.0: the last entry has none (QEMU describes each element with the
    /// count of those left, and one element is not an array).
    Qemu10_0,
}

/// Incremental JSON writer.
#[derive(Debug)]
pub struct JsonWriter {
    out: String,
    /// Per open container: whether it has a member yet.
    has_member: Vec<bool>,
    pretty: bool,
    ber_tags: bool,
    arrays: VmdescArrays,
}

impl JsonWriter {
    /// QEMU's compact style, as in the vmdesc trailer of a migration stream.
    pub fn compact() -> Self {
        JsonWriter {
            out: String::new(),
            has_member: Vec::new(),
            pretty: false,
            ber_tags: false,
            arrays: VmdescArrays::Qemu7_2,
        }
    }

    /// Indented style, two spaces per level.
    pub fn pretty() -> Self {
        JsonWriter {
            pretty: true,
            ..Self::compact()
        }
    }

    /// Also write each field's and subsection's BER tag (`"tag": n`) in vmdesc
    /// objects: the description a vmstate BER stream carries.
    #[must_use]
    pub fn with_ber_tags(mut self) -> Self {
        self.ber_tags = true;
        self
    }

    /// Whether BER tags are written.
    pub fn ber_tags(&self) -> bool {
        self.ber_tags
    }

    /// Runs `f` writing as for a legacy vmdesc (no BER tags), then restores.
    pub fn without_ber_tags<R>(&mut self, f: impl FnOnce(&mut Self) -> R) -> R {
        let ber_tags = std::mem::replace(&mut self.ber_tags, false);
        let r = f(self);
        self.ber_tags = ber_tags;
        r
    }

    /// Lists uncompressed arrays in vmdesc objects as `release` does.
    #[must_use]
    pub fn with_arrays(mut self, release: VmdescArrays) -> Self {
        self.arrays = release;
        self
    }

    /// How uncompressed arrays are listed.
    pub fn arrays(&self) -> VmdescArrays {
        self.arrays
    }

    /// The text written so far.
    pub fn finish(self) -> String {
        self.out
    }

    fn separator(&mut self) {
        if let Some(has) = self.has_member.last_mut() {
            if *has {
                self.out.push(',');
                if !self.pretty {
                    self.out.push(' ');
                }
            }
            *has = true;
            if self.pretty {
                self.out.push('\n');
                for _ in 0..self.has_member.len() {
                    self.out.push_str("  ");
                }
            }
        }
    }

    fn key(&mut self, key: Option<&str>) {
        self.separator();
        if let Some(k) = key {
            self.quoted(k);
            self.out.push_str(": ");
        }
    }

    fn quoted(&mut self, s: &str) {
        self.out.push('"');
        for c in s.chars() {
            match c {
                '"' => self.out.push_str("\\\""),
                '\\' => self.out.push_str("\\\\"),
                '\n' => self.out.push_str("\\n"),
                '\r' => self.out.push_str("\\r"),
                '\t' => self.out.push_str("\\t"),
                '\u{8}' => self.out.push_str("\\b"),
                '\u{c}' => self.out.push_str("\\f"),
                c if (c as u32) < 0x20 || c == '\u{7f}' => {
                    self.out.push_str(&format!("\\u{:04X}", c as u32))
                }
                c => self.out.push(c),
            }
        }
        self.out.push('"');
    }

    fn close(&mut self, bracket: char) {
        let had = self.has_member.pop().unwrap_or(false);
        if self.pretty && had {
            self.out.push('\n');
            for _ in 0..self.has_member.len() {
                self.out.push_str("  ");
            }
        }
        self.out.push(bracket);
    }

    /// Opens an object, as a member `key` of the enclosing object or as an element.
    pub fn begin_object(&mut self, key: Option<&str>) {
        self.key(key);
        self.out.push('{');
        self.has_member.push(false);
    }

    /// Closes the innermost object.
    pub fn end_object(&mut self) {
        self.close('}');
    }

    /// Opens an array member `key`.
    pub fn begin_array(&mut self, key: &str) {
        self.key(Some(key));
        self.out.push('[');
        self.has_member.push(false);
    }

    /// Closes the innermost array.
    pub fn end_array(&mut self) {
        self.close(']');
    }

    /// A string member.
    pub fn string(&mut self, key: &str, value: &str) {
        self.key(Some(key));
        self.quoted(value);
    }

    /// An integer member.
    pub fn int(&mut self, key: &str, value: i64) {
        self.key(Some(key));
        self.out.push_str(&value.to_string());
    }

    /// Any JSON value, as member `key` of the enclosing object or as an element,
    /// members in their order: QEMU's formatting of a tree read from elsewhere.
    pub fn value(&mut self, key: Option<&str>, v: &serde_json::Value) {
        use serde_json::Value;
        match v {
            Value::Object(m) => {
                self.begin_object(key);
                for (k, x) in m {
                    self.value(Some(k), x);
                }
                self.end_object();
            }
            Value::Array(items) => {
                self.key(key);
                self.out.push('[');
                self.has_member.push(false);
                for x in items {
                    self.value(None, x);
                }
                self.end_array();
            }
            Value::String(text) => {
                self.key(key);
                self.quoted(text);
            }
            other => {
                self.key(key);
                self.out.push_str(&other.to_string());
            }
        }
    }

    /// A boolean member.
    pub fn boolean(&mut self, key: &str, value: bool) {
        self.key(Some(key));
        self.out.push_str(if value { "true" } else { "false" });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_matches_qemu_separators() {
        let mut j = JsonWriter::compact();
        j.begin_object(None);
        j.string("name", "a\"b");
        j.begin_array("fields");
        j.begin_object(None);
        j.int("size", 8);
        j.end_object();
        j.begin_object(None);
        j.end_object();
        j.end_array();
        j.end_object();
        assert_eq!(
            j.finish(),
            r#"{"name": "a\"b", "fields": [{"size": 8}, {}]}"#
        );
    }

    #[test]
    fn pretty_indents() {
        let mut j = JsonWriter::pretty();
        j.begin_object(None);
        j.boolean("x", true);
        j.begin_array("l");
        j.end_array();
        j.end_object();
        assert_eq!(j.finish(), "{\n  \"x\": true,\n  \"l\": []\n}");
    }
}
