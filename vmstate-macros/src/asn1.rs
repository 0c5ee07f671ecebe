//! ASN.1 identifiers for fields, subsections and enum variants, decided here once so
//! that the runtime's schema and the generated JSON use the same names.

/// An ASN.1 identifier (lower-case start; letters, digits, single inner hyphens)
/// made from a Rust or QEMU name: `cmos_data` → `cmos-data`, `RunningFast` →
/// `running-fast`, `2nd` → `f2nd`.
pub fn identifier(name: &str) -> String {
    let mut out = String::new();
    let mut prev: Option<char> = None;
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            let boundary = c.is_ascii_uppercase()
                && prev.is_some_and(|p| p.is_ascii_lowercase() || p.is_ascii_digit());
            if boundary && !out.is_empty() && !out.ends_with('-') {
                out.push('-');
            }
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
        prev = Some(c);
    }
    while out.ends_with('-') {
        out.pop();
    }
    if !out.starts_with(|c: char| c.is_ascii_lowercase()) {
        out.insert(0, 'f');
    }
    out
}

/// Makes `names` unique (and distinct from `reserved`) by appending `-k`, k being
/// each name's tag.
pub fn dedup(names: &mut [(String, u32)], reserved: &[&str]) {
    let clashes: Vec<bool> = names
        .iter()
        .enumerate()
        .map(|(i, (name, _))| {
            reserved.contains(&name.as_str())
                || names
                    .iter()
                    .enumerate()
                    .any(|(j, n)| j != i && n.0 == *name)
        })
        .collect();
    for ((name, tag), clash) in names.iter_mut().zip(clashes) {
        if clash {
            *name = format!("{name}-{tag}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers() {
        assert_eq!(identifier("cmos_data"), "cmos-data");
        assert_eq!(identifier("RunningFast"), "running-fast");
        assert_eq!(identifier("PIT_channel"), "pit-channel");
        assert_eq!(identifier("2nd"), "f2nd");
        assert_eq!(identifier("_pad__x_"), "pad-x");
        assert_eq!(identifier("timer/icount"), "timer-icount");
        assert_eq!(identifier(""), "f");
    }

    #[test]
    fn dedup_appends_tags() {
        let mut v = vec![
            ("a".to_owned(), 0),
            ("a".to_owned(), 3),
            ("subsections".to_owned(), 4),
        ];
        dedup(&mut v, &["subsections"]);
        assert_eq!(v[0].0, "a-0");
        assert_eq!(v[1].0, "a-3");
        assert_eq!(v[2].0, "subsections-4");
    }
}
