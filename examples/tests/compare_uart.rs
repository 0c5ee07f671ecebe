//! docs/compare/uart: the same UART state in vmstate, versionize, serde and QEMU's
//! Rust bindings. The vmstate form is compiled and run here (it saves for release
//! 1, which loads it); the line counts docs/ATTRIBUTES.md gives are the files'.

use vmstate_runtime::VMState;

mod uart {
    use super::VMState;
    include!("../../docs/compare/uart/vmstate.rs");
}

#[test]
fn the_vmstate_form_saves_for_release_1_and_loads_back() {
    let state = uart::SerialState {
        baud_divisor_low: 12,
        scratch: 0x5a,
        in_buffer: b"ok".to_vec(),
        ..Default::default()
    };
    let v1 = uart::save_for(&state, 1).unwrap();
    assert_eq!(v1.len(), 9);
    let back = uart::load_from(&v1, 1).unwrap();
    assert_eq!(back.in_buffer, b"");
    assert_eq!(back.scratch, 0x5a);
    let v2 = uart::save_for(&state, 2).unwrap();
    assert_eq!(uart::load_from(&v2, 2).unwrap(), state);
}

/// Lines of code: not blank, not a comment.
fn loc(name: &str) -> usize {
    let path = format!(
        "{}/../docs/compare/uart/{name}.rs",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("//"))
        .count()
}

#[test]
fn the_documented_line_counts_are_the_files() {
    let doc = std::fs::read_to_string(format!(
        "{}/../docs/ATTRIBUTES.md",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    for (name, label) in [
        ("vmstate", "vmstate"),
        ("versionize", "versionize"),
        ("serde", "serde"),
        ("qemu", "QEMU's Rust bindings"),
    ] {
        let row = format!(
            "| {label} | [{name}.rs](compare/uart/{name}.rs) | {} |",
            loc(name)
        );
        assert!(doc.contains(&row), "docs/ATTRIBUTES.md lacks the row {row}");
    }
    // Of the forms that can save for an older release, vmstate's is the shortest.
    assert!(loc("vmstate") < loc("versionize"));
}
