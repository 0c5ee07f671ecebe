//! `vmstate verify` against the truth: QEMU `-incoming`. For every fixture with a
//! description that a release has the machine type of, the release's QEMU started
//! with the fixture's own arguments loads it exactly when `verify --release` says
//! it will; and for streams edited the ways a destination refuses (an `equal`
//! field changed, a `validate` rule broken, a subsection the destination does not
//! know, a section newer than the destination's), both refuse, `verify` naming
//! the section.
//!
//! `scripts/test.sh` sets `VMSTATE_REQUIRE_QEMU=1`; a plain `cargo test` without
//! QEMU skips with a note.

mod common;

use common::tmp;
use std::process::Command;
use vmstate_runtime::dump;
use vmstate_test_support::catalog::{fixture_path, fixture_streams};
use vmstate_test_support::qmp::{Qemu, Release};

/// `vmstate verify --release R FILE`: whether it says the release loads the
/// stream, and what it printed.
fn verify(release: Release, file: &std::path::Path) -> (bool, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_vmstate"))
        .args(["verify", "--release", release.version()])
        .arg(file)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    match o.status.code() {
        Some(0) => (true, text),
        Some(1) => (false, text),
        _ => panic!("{}: {}", file.display(), String::from_utf8_lossy(&o.stderr)),
    }
}

/// Whether `release`'s QEMU, started with the fixture's arguments `entry`, loads
/// `file` with `-incoming`.
fn qemu_loads(
    release: Release,
    entry: &serde_json::Value,
    file: &std::path::Path,
    name: &str,
) -> bool {
    // Short names: a QMP socket's path must fit in 108 bytes.
    let dir = tmp("verify");
    std::fs::create_dir_all(&dir).unwrap();
    let mut args: Vec<String> = entry["qemu_args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect();
    let m = match entry["memory_slots"].as_u64().unwrap_or(0) {
        0 => entry["mem_mb"].to_string(),
        slots => format!("{},slots={slots},maxmem=1G", entry["mem_mb"]),
    };
    args.extend(["-m".into(), m, "-incoming".into(), "defer".into()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut q =
        Qemu::start_release(release, &dir, name, &args).unwrap_or_else(|e| panic!("{name}: {e}"));
    q.incoming_from_file(file) == "completed"
}

/// The fixtures a destination loads from a file: described, no capability the
/// destination must also have.
fn plain_fixtures() -> Vec<(String, serde_json::Value)> {
    fixture_streams()
        .into_iter()
        .filter(|(_, _, e)| {
            e["capability"].is_null() && !e["qemu_args"].to_string().contains("suppress-vmdesc")
        })
        .map(|(_, n, e)| (n, e))
        .collect()
}

fn machine_version(entry: &serde_json::Value) -> (u32, u32) {
    let args = entry["qemu_args"].as_array().unwrap();
    let m = args[args.iter().position(|a| a == "-M").unwrap() + 1]
        .as_str()
        .unwrap();
    let (a, b) = m.rsplit('-').next().unwrap().split_once('.').unwrap();
    (a.parse().unwrap(), b.parse().unwrap())
}

/// Fixtures a later release refuses: QEMU 10.0 reads `drq_state` in 7.2's ESP
/// state (`vmstate translate` carries them across, tests/translate.rs).
const REFUSED_ACROSS_RELEASES: [(&str, Release); 1] =
    [("pc-i440fx-7.2-esp.mig", Release::Qemu10_0)];

#[test]
fn verify_says_what_qemu_incoming_does_for_every_fixture() {
    let mut checked = 0;
    for release in Release::ALL {
        if !release.available() {
            continue;
        }
        let release_version = match release {
            Release::Qemu7_2 => (7, 2),
            Release::Qemu10_0 => (10, 0),
        };
        for (name, entry) in plain_fixtures() {
            if machine_version(&entry) > release_version {
                continue;
            }
            let file = fixture_path(&name);
            let (ours, report) = verify(release, &file);
            let theirs = qemu_loads(release, &entry, &file, &format!("v{checked}"));
            assert_eq!(
                ours,
                theirs,
                "QEMU {} and verify disagree on {name}:\n{report}",
                release.version()
            );
            let refused = REFUSED_ACROSS_RELEASES.contains(&(name.as_str(), release));
            assert_eq!(
                ours,
                !refused,
                "{name} on QEMU {}: {report}",
                release.version()
            );
            checked += 1;
        }
    }
    if checked > 0 {
        eprintln!("{checked} fixture loads agree");
    }
}

/// Edits `name` at the body of section `idstr#0` (or its header, `before` bytes
/// earlier); returns the edited file.
fn edited(
    name: &str,
    tag: &str,
    edit: impl FnOnce(&mut Vec<u8>, &dump::LegacyStream<'_>),
) -> std::path::PathBuf {
    let bytes = std::fs::read(fixture_path(name)).unwrap();
    let mut out = bytes.clone();
    let s = dump::walk_legacy(&bytes).unwrap();
    edit(&mut out, &s);
    let dir = tmp("verify");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{tag}.mig"));
    std::fs::write(&path, &out).unwrap();
    path
}

/// Where section `idstr#0`'s body begins.
fn body_of(s: &dump::LegacyStream<'_>, idstr: &str) -> usize {
    s.device(idstr, 0)
        .unwrap_or_else(|| panic!("no {idstr}"))
        .body_offset as usize
}

#[test]
fn verify_refuses_what_qemu_incoming_refuses() {
    let release = Release::Qemu7_2;
    if !release.available() {
        return;
    }
    let catalog = "pc-i440fx-7.2-catalog.mig";
    let cases: Vec<(&str, &str, std::path::PathBuf, &str)> = vec![
        (
            "equal",
            catalog,
            // The root bus's interrupt lines: 4 on the i440FX, checked equal.
            edited(catalog, "equal", |b, s| {
                let at = body_of(s, "PCIBUS");
                b[at..at + 4].copy_from_slice(&5i32.to_be_bytes());
            }),
            "PCIBUS#0",
        ),
        (
            "validate",
            catalog,
            // An interrupt pin level of 2 (QEMU's get_pci_irq_state: 0 or 1).
            edited(catalog, "validate", |b, s| {
                let at = body_of(s, "0000:00:02.0/rtl8139") + 4 + 256;
                b[at..at + 4].copy_from_slice(&2u32.to_be_bytes());
            }),
            "0000:00:02.0/rtl8139#0",
        ),
        (
            "subsection",
            "pc-i440fx-7.2-hotplug.mig",
            // The CPU hotplug subsection renamed to one piix4_pm does not have.
            edited("pc-i440fx-7.2-hotplug.mig", "subsection", |b, s| {
                let at = body_of(s, "0000:00:01.3/piix4_pm");
                let name = b"piix4_pm/cpuhp";
                let i = b[at..].windows(name.len()).position(|w| w == name).unwrap();
                b[at + i + name.len() - 1] = b'q';
            }),
            "0000:00:01.3/piix4_pm#0",
        ),
        (
            "version",
            catalog,
            // port92 at version 2 (the destination's is 1): the header's version.
            edited(catalog, "version", |b, s| {
                let at = body_of(s, "port92") - 4;
                b[at..at + 4].copy_from_slice(&2u32.to_be_bytes());
            }),
            "port92#0",
        ),
    ];
    for (what, fixture, file, section) in cases {
        let entry = fixture_streams()
            .into_iter()
            .find(|(_, n, _)| n == fixture)
            .unwrap()
            .2;
        let (ours, report) = verify(release, &file);
        let theirs = qemu_loads(release, &entry, &file, &format!("edit-{what}"));
        assert!(!theirs, "{what}: QEMU loaded the edited stream");
        assert!(!ours, "{what}: verify says it loads:\n{report}");
        let refusal = report
            .lines()
            .find(|l| l.starts_with("refused"))
            .unwrap_or("");
        assert!(refusal.contains(section), "{what}: {refusal}");
    }
}
