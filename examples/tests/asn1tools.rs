//! The BER encoding checked by an independent ASN.1 implementation: asn1tools
//! (PyPI) compiles the module generated from the example types, decodes the bytes of
//! every example device at every version, and must find the Rust value (compared as
//! X.697 JSON); in the other direction, asn1tools encodes each JSON value and the
//! Rust decoder must read it back to the same value, from the same octets.
//!
//! `scripts/test.sh` installs asn1tools and sets `VMSTATE_REQUIRE_ASN1TOOLS=1`, so
//! the test fails there when it is missing; a plain `cargo test` skips with a note.

use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use vmstate_examples::catalog::{self, Device, Visitor};
use vmstate_runtime::ber::{self, asn1::Module};
use vmstate_runtime::legacy;

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// The JSON of `value` at `version` as the module's section type describes it.
fn section_json<T: Device>(value: &T, version: u32) -> Value {
    if ber::is_blob::<T>(version) {
        let legacy = legacy::to_bytes_at(value, version).unwrap();
        json!({ "legacy-blob": ber::octets_json(&legacy) })
    } else if T::DESC.ber_blob_until.is_some() {
        json!({ "structured": value.to_json_at(version) })
    } else {
        value.to_json_at(version)
    }
}

fn case_id(idstr: &str, instance: u32, version: u32) -> String {
    format!("{idstr}#{instance}@v{version}")
}

struct Cases<'m> {
    module: &'m Module,
    cases: Vec<Value>,
}

impl Visitor for Cases<'_> {
    fn visit<T: Device>(&mut self, idstr: &str, instance: u32, value: &T) {
        let ty = self.module.section_type(T::DESC).expect("type in module");
        for v in T::DESC.minimum_version..=T::DESC.version {
            self.cases.push(json!({
                "id": case_id(idstr, instance, v),
                "type": ty,
                "ber": hex(&ber::to_bytes_at(value, v).unwrap()),
                "json": section_json(value, v),
            }));
        }
    }
}

/// Checks asn1tools' encodings against ours and decodes them in Rust.
struct Back {
    encoded: HashMap<String, String>,
    checked: usize,
}

impl Visitor for Back {
    fn visit<T: Device>(&mut self, idstr: &str, instance: u32, value: &T) {
        for v in T::DESC.minimum_version..=T::DESC.version {
            let id = case_id(idstr, instance, v);
            let theirs = unhex(&self.encoded[&id]);
            assert_eq!(
                hex(&theirs),
                hex(&ber::to_bytes_at(value, v).unwrap()),
                "{id}: asn1tools encodes other octets than vmstate"
            );
            let back: T = ber::from_bytes(&theirs, v).unwrap_or_else(|e| panic!("{id}: {e}"));
            assert_eq!(section_json(&back, v), section_json(value, v), "{id}");
            self.checked += 1;
        }
    }
}

fn asn1tools_available() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import asn1tools"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var_os("VMSTATE_REQUIRE_ASN1TOOLS").is_none(),
            "VMSTATE_REQUIRE_ASN1TOOLS is set but python3 cannot import asn1tools"
        );
        eprintln!("note: skipping the asn1tools check: `pip install asn1tools` to run it");
    }
    ok
}

fn workdir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/asn1_check.py")
}

#[test]
fn asn1tools_decodes_and_encodes_every_example_device() {
    if !asn1tools_available() {
        return;
    }
    let module = catalog::asn1_module();
    let dir = workdir("asn1tools");
    let (asn, cases_path, out) = (
        dir.join("examples.asn"),
        dir.join("cases.json"),
        dir.join("out.json"),
    );
    std::fs::write(&asn, module.render().unwrap()).unwrap();
    let mut cases = Cases {
        module: &module,
        cases: Vec::new(),
    };
    catalog::visit_all(&mut cases);
    let n = cases.cases.len();
    std::fs::write(&cases_path, serde_json::to_string(&cases.cases).unwrap()).unwrap();
    let run = Command::new("python3")
        .arg(script())
        .args([&asn, &cases_path, &out])
        .output()
        .unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(run.status.success(), "asn1tools disagrees:\n{report}");
    eprintln!("{}", report.trim());
    let encoded: HashMap<String, String> =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let mut back = Back {
        encoded,
        checked: 0,
    };
    catalog::visit_all(&mut back);
    assert_eq!(back.checked, n);
    // demo-dma at versions 1 (a legacy blob), 2 and 3, and the 19 mirrored device
    // sections of pc-kvm-bios.mig at each version they save at.
    assert_eq!(n, 32, "cases");
}
