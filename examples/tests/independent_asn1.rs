//! The BER encoding checked by two independent ASN.1 implementations, on every
//! example device at every version, against the module generated from the types:
//!
//! - asn1tools (PyPI) decodes our bytes and must find the Rust value (compared as
//!   X.697 JSON); it encodes each JSON value, and those octets must equal ours and
//!   decode in Rust to the same value.
//! - asn1c (Debian) compiles the module to C without warnings; the C decoder, built
//!   here, decodes our bytes with constraint checks and re-encodes them in DER,
//!   identical to ours.
//!
//! `scripts/test.sh` installs both and sets `VMSTATE_REQUIRE_ASN1TOOLS=1` and
//! `VMSTATE_REQUIRE_ASN1C=1`, so the tests fail there when a tool is missing; a
//! plain `cargo test` skips with a note.

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

/// Whether `probe` runs; if not, fails when `require` is set, else notes the skip.
fn available(probe: &mut Command, require: &str, install: &str) -> bool {
    let ok = probe.output().is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var_os(require).is_none(),
            "{require} is set but {probe:?} fails; {install}"
        );
        eprintln!("note: skipping: {probe:?} fails; {install} to run this test");
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

/// Writes the module into `dir`; returns its path and the cases.
fn prepare(dir: &Path) -> (PathBuf, Vec<Value>) {
    let module = catalog::asn1_module();
    let asn = dir.join("examples.asn");
    std::fs::write(&asn, module.render().unwrap()).unwrap();
    let mut cases = Cases {
        module: &module,
        cases: Vec::new(),
    };
    catalog::visit_all(&mut cases);
    // demo-dma at versions 1 (a legacy blob), 2 and 3, and the 21 mirrored device
    // sections of pc-kvm-bios.mig at each version they save at (cpu at 11 and 12).
    assert_eq!(cases.cases.len(), 35, "cases");
    (asn, cases.cases)
}

/// Runs `cmd`, which must succeed (else the test fails with `what` and its output);
/// returns its stdout and its whole output as text.
fn run_ok(cmd: &mut Command, what: &str) -> (Vec<u8>, String) {
    let o = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: {cmd:?}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.success(), "{what}:\n{text}");
    (o.stdout, text)
}

#[test]
fn asn1tools_decodes_and_encodes_every_example_device() {
    let probe = &mut Command::new("python3");
    probe.args(["-c", "import asn1tools"]);
    if !available(
        probe,
        "VMSTATE_REQUIRE_ASN1TOOLS",
        "`pip install asn1tools`",
    ) {
        return;
    }
    let dir = workdir("asn1tools");
    let (asn, cases) = prepare(&dir);
    let (cases_path, out) = (dir.join("cases.json"), dir.join("out.json"));
    let n = cases.len();
    std::fs::write(&cases_path, serde_json::to_string(&cases).unwrap()).unwrap();
    let (_, report) = run_ok(
        Command::new("python3")
            .arg(script())
            .args([&asn, &cases_path, &out]),
        "asn1tools disagrees",
    );
    eprintln!("{}", report.trim());
    let encoded: HashMap<String, String> =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let mut back = Back {
        encoded,
        checked: 0,
    };
    catalog::visit_all(&mut back);
    assert_eq!(back.checked, n);
}

#[test]
fn asn1c_compiles_the_module_and_its_decoder_reads_every_example_device() {
    let probe = &mut Command::new("asn1c");
    probe.arg("-v");
    if !available(
        probe,
        "VMSTATE_REQUIRE_ASN1C",
        "`apt-get install asn1c gcc`",
    ) {
        return;
    }
    let dir = workdir("asn1c");
    for e in std::fs::read_dir(&dir).unwrap() {
        std::fs::remove_file(e.unwrap().path()).unwrap();
    }
    let (asn, cases) = prepare(&dir);
    // -fwide-types: uint64 values above i64::MAX need asn1c's big INTEGER_t.
    let (_, report) = run_ok(
        Command::new("asn1c")
            .args(["-fwide-types", "-pdu=all"])
            .arg(&asn)
            .current_dir(&dir),
        "asn1c fails on the module",
    );
    assert!(
        !report.to_lowercase().contains("warn"),
        "asn1c warned:\n{report}"
    );
    let _ = std::fs::remove_file(dir.join("Makefile.am.sample"));
    let sources: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "c"))
        .collect();
    run_ok(
        Command::new("cc")
            .args([
                "-w",
                "-O0",
                "-I.",
                "-DPDU=DemoDma",
                "-DASN_PDU_COLLECTION",
                "-o",
                "decoder",
            ])
            .args(&sources)
            .current_dir(&dir),
        "the asn1c C code does not build",
    );
    for case in &cases {
        let (id, ty) = (case["id"].as_str().unwrap(), case["type"].as_str().unwrap());
        let ours = unhex(case["ber"].as_str().unwrap());
        let input = dir.join("case.ber");
        std::fs::write(&input, &ours).unwrap();
        let (der, _) = run_ok(
            Command::new(dir.join("decoder"))
                .args(["-p", ty, "-c", "-oder"])
                .arg(&input),
            &format!("{id}: asn1c rejects our octets"),
        );
        assert_eq!(hex(&der), hex(&ours), "{id}: asn1c's DER differs from ours");
    }
}
