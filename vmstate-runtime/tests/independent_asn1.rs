//! The BER encoding checked by two independent ASN.1 implementations, on every
//! example device at every version, against the module generated from the types:
//!
//! - asn1tools (PyPI) decodes our bytes and must find the Rust value (compared as
//!   X.697 JSON); it encodes each JSON value, and those octets must equal ours and
//!   decode in Rust to the same value.
//! - asn1tools decodes a whole BER stream of a registry (RAM from a QEMU stream and
//!   three devices) with the registry's module alone: framing, device values and the
//!   RAM, rebuilt from the runs by Python, equal what was saved.
//! - The three QEMU 7.2 fixtures converted to BER decode with the module made from
//!   each stream's own description (no Rust types): asn1tools reads every section,
//!   re-encodes every device value to our octets and rebuilds QEMU's RAM; asn1c
//!   compiles each module without warnings and reads each stream.
//! - asn1c (Debian) compiles the module to C without warnings; the C decoder, built
//!   here, decodes our bytes with constraint checks and re-encodes them in DER,
//!   identical to ours.
//!
//! `scripts/test.sh` installs both and sets `VMSTATE_REQUIRE_ASN1TOOLS=1` and
//! `VMSTATE_REQUIRE_ASN1C=1`, so the tests fail there when a tool is missing; a
//! plain `cargo test` skips with a note.

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use vmstate_examples::demo::{sample, DemoDma};
use vmstate_qemu::{Hpet, Rtc};
use vmstate_runtime::ber::{self, asn1::Module};
use vmstate_runtime::dump;
use vmstate_runtime::framing::Configuration;
use vmstate_runtime::legacy;
use vmstate_runtime::ram::RamSaver;
use vmstate_runtime::stream::Registry;
use vmstate_runtime::Format;
use vmstate_runtime::VMState;
use vmstate_test_support::catalog::{self, Device, Visitor};
use vmstate_test_support::catalog::{fixture_streams, read_fixture};
use vmstate_test_support::testing::ram_blocks;

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

fn asn1tools_available() -> bool {
    available(
        Command::new("python3").args(["-c", "import asn1tools"]),
        "VMSTATE_REQUIRE_ASN1TOOLS",
        "`pip install asn1tools`",
    )
}

fn asn1c_available() -> bool {
    available(
        Command::new("asn1c").arg("-v"),
        "VMSTATE_REQUIRE_ASN1C",
        "`apt-get install asn1c gcc`",
    )
}

/// An empty directory for `name`'s files.
fn workdir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/asn1_check.py")
}

/// Decodes the BER stream `ber` with asn1tools against `module` (its types named by
/// `types`, see `scripts/asn1_stream.py`), in the work directory `name`; returns
/// what the script found.
fn asn1tools_stream(name: &str, module: &str, ber: &[u8], types: &Value) -> Value {
    let dir = workdir(name);
    let (asn, stream, types_path, out) = (
        dir.join("stream.asn"),
        dir.join("stream.ber"),
        dir.join("types.json"),
        dir.join("out.json"),
    );
    std::fs::write(&asn, module).unwrap();
    std::fs::write(&stream, ber).unwrap();
    std::fs::write(&types_path, types.to_string()).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/asn1_stream.py");
    let (_, report) = run_ok(
        Command::new("python3")
            .arg(script)
            .args([&asn, &stream, &types_path, &out]),
        &format!("{name}: asn1tools cannot decode the stream"),
    );
    eprintln!("{name}: {}", report.trim());
    serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap()
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
    // demo-dma at versions 1 (a legacy blob), 2 and 3, the tour at 1 and 2, the
    // VMM's serial at 1 and 2, virtio-blk at 1 to 3 and config at 1, and the 32
    // device sections of pc-kvm-bios.mig at each version they save at (cpu at 11
    // and 12, PIIX3 at 2 and 3, the PIIX IDE at 0 to 3, ...).
    assert_eq!(cases.cases.len(), 58, "cases");
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
    if !asn1tools_available() {
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

/// Compiles `asn` with asn1c in `dir` (which must hold nothing else), fails on any
/// warning, and builds its sample decoder; returns the decoder's path.
fn build_decoder(dir: &Path, asn: &Path, pdu: &str) -> PathBuf {
    // -fwide-types: uint64 values above i64::MAX need asn1c's big INTEGER_t.
    let (_, report) = run_ok(
        Command::new("asn1c")
            .args(["-fwide-types", "-pdu=all"])
            .arg(asn)
            .current_dir(dir),
        "asn1c fails on the module",
    );
    assert!(
        !report.to_lowercase().contains("warn"),
        "asn1c warned:\n{report}"
    );
    let _ = std::fs::remove_file(dir.join("Makefile.am.sample"));
    let sources: Vec<PathBuf> = std::fs::read_dir(dir)
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
                &format!("-DPDU={pdu}"),
                "-DASN_PDU_COLLECTION",
            ])
            .args(["-o", "decoder"])
            .args(&sources)
            .current_dir(dir),
        "the asn1c C code does not build",
    );
    dir.join("decoder")
}

#[test]
fn asn1c_compiles_the_module_and_its_decoder_reads_every_example_device() {
    if !asn1c_available() {
        return;
    }
    let dir = workdir("asn1c");
    let (asn, cases) = prepare(&dir);
    let decoder = build_decoder(&dir, &asn, "DemoDma");
    for case in &cases {
        let (id, ty) = (case["id"].as_str().unwrap(), case["type"].as_str().unwrap());
        let ours = unhex(case["ber"].as_str().unwrap());
        let input = dir.join("case.ber");
        std::fs::write(&input, &ours).unwrap();
        let (der, _) = run_ok(
            Command::new(&decoder)
                .args(["-p", ty, "-c", "-oder"])
                .arg(&input),
            &format!("{id}: asn1c rejects our octets"),
        );
        assert_eq!(hex(&der), hex(&ours), "{id}: asn1c's DER differs from ours");
    }
}

/// A registry's BER stream: the RAM, RTC and HPET of a real QEMU stream and the
/// demo device, with the registry's module and the saved values.
struct PcStream {
    module: Module,
    bytes: Vec<u8>,
    mem: Vec<(String, Vec<u8>)>,
    rtc: Rtc,
    hpet: Hpet,
    demo: DemoDma,
}

fn pc_stream() -> PcStream {
    let fixture = read_fixture("pc-kvm-bios.mig");
    let mem = vmstate_test_support::testing::ram_of(&fixture).unwrap();
    let s = dump::walk_legacy(&fixture).unwrap();
    let (mut rtc, mut hpet, mut demo) = (Rtc::default(), Hpet::default(), sample());
    dump::load_section(&mut rtc, s.device("mc146818rtc", 0).unwrap()).unwrap();
    dump::load_section(&mut hpet, s.device("hpet", 0).unwrap()).unwrap();
    let mut saver = RamSaver::new(ram_blocks(&mem)).unwrap();
    let (rtc0, hpet0, demo0) = (rtc.clone(), hpet.clone(), demo.clone());
    let mut reg = Registry::new("pc-i440fx-7.2");
    reg.iterative("ram", 0, &mut saver);
    reg.device("mc146818rtc", 0, &mut rtc);
    reg.device("hpet", 0, &mut hpet);
    reg.device("demo-dma", 0, &mut demo);
    let module = reg.asn1_module("VMState-Pc");
    let bytes = reg.save(Format::Ber).unwrap();
    drop(reg);
    drop(saver);
    PcStream {
        module,
        bytes,
        mem,
        rtc: rtc0,
        hpet: hpet0,
        demo: demo0,
    }
}

#[test]
fn asn1tools_decodes_a_whole_ber_stream_ram_included() {
    if !asn1tools_available() {
        return;
    }
    let PcStream {
        module,
        bytes,
        mem,
        rtc: rtc0,
        hpet: hpet0,
        demo: demo0,
    } = pc_stream();
    let ty = |d| module.section_type(d).unwrap();
    let types = json!({
        "configuration": ty(Configuration::DESC),
        "devices": {
            "mc146818rtc#0": ty(Rtc::DESC),
            "hpet#0": ty(Hpet::DESC),
            "demo-dma#0": ty(DemoDma::DESC),
        },
    });
    let got = asn1tools_stream(
        "asn1tools-stream",
        &module.render().unwrap(),
        &bytes,
        &types,
    );
    let items = got["items"].as_array().unwrap();

    assert_eq!(items[0], json!({"item": "header", "stream-version": 3}));
    let machine = b"pc-i440fx-7.2".to_vec();
    let cfg = Configuration {
        len: machine.len() as u32,
        name: machine,
        ..Configuration::default()
    };
    assert_eq!(
        items[1],
        json!({"item": "configuration", "value": cfg.to_json_at(1)})
    );
    // RAM START, PART, END, the description, then the three devices at their
    // current versions.
    let head = |i: usize| {
        let s = &items[i];
        (
            s["kind"].as_str().unwrap().to_owned(),
            s["section-id"].as_u64().unwrap(),
            s["idstr"].as_str().map(str::to_owned),
            s["version"].as_u64(),
        )
    };
    let sec = |k: &str, id, idstr: Option<&str>, v: Option<u64>| {
        (k.to_owned(), id, idstr.map(str::to_owned), v)
    };
    assert_eq!(items.len(), 3 + 6);
    // Section ids count from 1 (QEMU takes a PART or END of id 0 for its first
    // device's).
    assert_eq!(head(2), sec("start", 1, Some("ram"), Some(4)));
    assert_eq!(head(3), sec("part", 1, None, None));
    assert_eq!(head(4), sec("end", 1, None, None));
    assert_eq!(items[5]["item"], "description");
    assert!(items[5]["json"]["devices"].is_array());
    assert_eq!(head(6), sec("full", 2, Some("mc146818rtc"), Some(3)));
    assert_eq!(head(7), sec("full", 3, Some("hpet"), Some(2)));
    assert_eq!(head(8), sec("full", 4, Some("demo-dma"), Some(3)));
    assert_eq!(items[6]["value"], section_json(&rtc0, 3));
    assert_eq!(items[7]["value"], section_json(&hpet0, 2));
    assert_eq!(items[8]["value"], section_json(&demo0, 3));
    // asn1tools rebuilt every RAM block from the runs, byte for byte.
    let want: serde_json::Map<String, Value> = mem
        .iter()
        .map(|(name, m)| (name.clone(), json!(hex(&Sha256::digest(m)))))
        .collect();
    assert_eq!(got["ram"], Value::Object(want));
    for kind in ["mem-size", "zero-run", "data-run", "mixed-run"] {
        assert!(got["ram-kinds"][kind].as_u64() > Some(0), "no {kind}");
    }
}

/// Pages QEMU sends encoded, in a BER stream: an XBZRLE delta and a zlib page
/// (and a multifd sync point, and a hugepage block's page size) added to a
/// registry stream's RAM (through its tree). asn1tools decodes
/// their elements by the module, and the script rebuilds the RAM with its own
/// XBZRLE decoder and Python's zlib: the pages the deltas were made for.
#[test]
fn asn1tools_decodes_encoded_pages_and_rebuilds_their_ram() {
    if !asn1tools_available() {
        return;
    }
    let PcStream {
        module,
        bytes,
        mut mem,
        ..
    } = pc_stream();
    let pc = &mut mem.iter_mut().find(|(n, _)| n == "pc.ram").unwrap().1;
    let (a, b) = (0x20_0000usize, 0x20_1000usize);
    let mut changed = pc[a..a + 4096].to_vec();
    changed[16..24].copy_from_slice(b"vmstate!");
    let delta = vmstate_runtime::ram::xbzrle::encode(&pc[a..a + 4096], &changed).unwrap();
    let deflated: Vec<u8> = (0..4096u32).map(|i| (i / 100) as u8).collect();
    let zlib = vmstate_runtime::ram::Encoding::deflate(&deflated);
    pc[a..a + 4096].copy_from_slice(&changed);
    pc[b..b + 4096].copy_from_slice(&deflated);

    let mut tree = dump::from_bytes(&bytes).unwrap();
    let part = tree["sections"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .filter_map(|s| s.get_mut("ram")?.as_array_mut())
        .last()
        .unwrap();
    part.push(json!({"block": "pc.ram", "offset": a, "xbzrle": hex(&delta)}));
    part.push(json!({"block": "pc.ram", "offset": b, "zlib": hex(&zlib), "continue": true}));
    // And a multifd main channel's sync point.
    part.push(json!({"multifd_flush": true}));
    // And pc.ram backed by 2 MiB hugepages in a postcopy migration: its page
    // size in its block list entry, which POSTCOPY_ADVISE announces.
    let sections = tree["sections"].as_array_mut().unwrap();
    let first = sections
        .iter()
        .position(|s| s.get("ram").is_some())
        .unwrap();
    sections[first]["ram"][0]["blocks"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|b| b["name"] == "pc.ram")
        .unwrap()["page_size"] = json!(0x20_0000);
    let advise = [0x20_1000u64.to_be_bytes(), 4096u64.to_be_bytes()].concat();
    sections.insert(
        first,
        json!({"type": "command", "command": "POSTCOPY_ADVISE", "number": 3, "data": hex(&advise)}),
    );
    let ber = dump::to_bytes(&tree, Format::Ber).unwrap();
    let types = json!({
        "configuration": module.section_type(Configuration::DESC).unwrap(),
        "devices": {
            "mc146818rtc#0": module.section_type(Rtc::DESC).unwrap(),
            "hpet#0": module.section_type(Hpet::DESC).unwrap(),
            "demo-dma#0": module.section_type(DemoDma::DESC).unwrap(),
        },
    });
    let got = asn1tools_stream("asn1tools-encoded", &module.render().unwrap(), &ber, &types);
    let want: serde_json::Map<String, Value> = mem
        .iter()
        .map(|(name, m)| (name.clone(), json!(hex(&Sha256::digest(m)))))
        .collect();
    assert_eq!(got["ram"], Value::Object(want));
    assert_eq!(got["ram-kinds"]["xbzrle"], 1);
    assert_eq!(got["ram-kinds"]["zlib"], 1);
    assert_eq!(got["ram-kinds"]["multifd-flush"], 1);
}

/// What Python `script` prints (JSON) with asn1tools' `spec`, compiled from the
/// stream module, and the octets `ber` as `data`, in the work directory `name`.
fn asn1tools_python(name: &str, ber: &[u8], script: &str) -> Value {
    let dir = workdir(name);
    let (asn, input) = (dir.join("stream.asn"), dir.join("input.ber"));
    std::fs::write(&asn, Module::new("VMState").with_stream().render().unwrap()).unwrap();
    std::fs::write(&input, ber).unwrap();
    let head = "import asn1tools, json, sys\n\
                spec = asn1tools.compile_files(sys.argv[1], \"ber\")\n\
                data = open(sys.argv[2], \"rb\").read()\n";
    let (out, _) = run_ok(
        Command::new("python3")
            .args(["-c", &format!("{head}{script}")])
            .args([&asn, &input]),
        &format!("{name}: asn1tools cannot decode it"),
    );
    serde_json::from_slice(&out).unwrap()
}

/// The connection a postcopy migration resumes on, in BER: asn1tools decodes it
/// as `VMState-Resumed`, recovery's commands by QEMU's names.
#[test]
fn asn1tools_decodes_a_resumed_postcopy_stream() {
    use vmstate_runtime::framing::{ber as ber_records, Command};
    if !asn1tools_available() {
        return;
    }
    let mut w = vmstate_runtime::io::Writer::new(Vec::new());
    ber_records::put_resumed(&mut w).unwrap();
    let mut items = Vec::new();
    let bitmap = Command::from_name("RECV_BITMAP", [&[6u8][..], b"pc.ram"].concat()).unwrap();
    ber_records::put_command(&mut items, &bitmap);
    ber_records::put_command(
        &mut items,
        &Command::from_name("POSTCOPY_RESUME", vec![]).unwrap(),
    );
    w.put(&items).unwrap();
    ber_records::put_end(&mut w).unwrap();
    let got = asn1tools_python(
        "asn1tools-resumed",
        &w.into_inner(),
        r#"
items = spec.decode("VMState-Resumed", data)
print(json.dumps([[kind, v["number"], v.get("data", b"").hex()] for kind, v in items]))
"#,
    );
    assert_eq!(
        got,
        json!([
            ["command", "recv-bitmap", hex(&bitmap.data)],
            ["command", "postcopy-resume", ""]
        ])
    );
}

/// A multifd channel in BER, decoded by asn1tools as `VMState-Multifd-Channel`:
/// its packets' fields and pages as vmstate wrote them.
#[test]
fn asn1tools_decodes_a_multifd_channel() {
    use vmstate_test_support::testing::{multifd_init, multifd_packet};
    if !asn1tools_available() {
        return;
    }
    let legacy = [
        multifd_init(2),
        multifd_packet(0, 5, &[0x1000, 0x3000], &[0x2000]),
        multifd_packet(1, 6, &[], &[]),
    ]
    .concat();
    let ber = vmstate_runtime::ram::multifd::convert_channel(&legacy, Format::Ber)
        .unwrap()
        .unwrap();
    let got = asn1tools_python(
        "asn1tools-multifd",
        &ber,
        r#"
c = spec.decode("VMState-Multifd-Channel", data)
print(json.dumps({"id": c["init"][24], "packets": [
    [p["flags"], p["packet-num"], p["block"], p["normal"], p["zero"], len(p["data"]), p["data"][4096] if len(p["data"]) > 4096 else None]
    for p in c["packets"]]}))
"#,
    );
    assert_eq!(
        got,
        json!({"id": 2, "packets": [
            [0, 5, "pc.ram", [4096, 12288], [8192], 8192, 2],
            [1, 6, "pc.ram", [], [], 0, null]
        ]})
    );
}

/// The return path in BER, as a bridge carries it back: asn1tools decodes each
/// message as `VMState-Return-Message` of the stream module, type by QEMU's name,
/// data verbatim, `RECV_BITMAP`'s bitmap inside its message.
#[test]
fn asn1tools_decodes_the_return_path() {
    use vmstate_runtime::framing::return_path::{carry, ReturnMessage};
    if !asn1tools_available() {
        return;
    }
    let messages = [
        (7u16, vec![]),
        (3, [&[0u8; 8][..], &[0, 0, 16, 0], &[6], b"pc.ram"].concat()),
        (5, [&[6u8][..], b"pc.ram"].concat()),
        (1, vec![0, 0, 0, 0]),
    ];
    let bitmap = [0xffu8, 0x7f, 0, 0, 0, 0, 0, 0x01];
    let mut legacy = vmstate_runtime::io::Writer::new(Vec::new());
    for (kind, data) in &messages {
        let mut m = ReturnMessage::new(*kind, data.clone());
        if *kind == 5 {
            m.bitmap = bitmap.to_vec();
        }
        m.write(&mut legacy, Format::Legacy).unwrap();
    }
    let mut ber = Vec::new();
    carry(
        &mut &legacy.into_inner()[..],
        &mut ber,
        Format::Legacy,
        Format::Ber,
    )
    .unwrap();
    let got = asn1tools_python(
        "asn1tools-return-path",
        &ber,
        r#"
out = []
while data:
    m, n = spec.decode_with_length("VMState-Return-Message", data)
    out.append({"type": m["type"], "data": m.get("data", b"").hex(), "bitmap": m.get("bitmap", b"").hex()})
    data = data[n:]
print(json.dumps(out))
"#,
    );
    assert_eq!(
        got,
        json!([
            {"type": "switchover-ack", "data": "", "bitmap": ""},
            {"type": "req-pages-id", "data": hex(&messages[1].1), "bitmap": ""},
            {"type": "recv-bitmap", "data": hex(&messages[2].1), "bitmap": hex(&bitmap)},
            {"type": "shut", "data": "00000000", "bitmap": ""},
        ])
    );
}

/// A stream compressed for a slow link (`ram::ber::wire`), and the way back
/// of its leg: asn1tools decodes the whole stream with the stream module
/// (`delta-cache`, `zstd` groups whose contents are zstd frames), and the
/// far bridge's `VMState-Delivered` between return-path messages.
#[test]
fn asn1tools_decodes_a_compressed_stream_and_the_delivered_octets() {
    use vmstate_runtime::framing::return_path::{put_delivered, ReturnMessage};
    use vmstate_runtime::ram::ber::Compression;
    if !asn1tools_available() {
        return;
    }
    let legacy = std::fs::read(
        vmstate_test_support::catalog::fixtures_dir_of(
            vmstate_test_support::qmp::Release::Qemu10_0,
        )
        .join("pc-i440fx-10.0-kvm-bios.mig"),
    )
    .unwrap();
    let mut ber = Vec::new();
    let limits = dump::Limits::default();
    dump::convert_compressed(
        &mut &legacy[..],
        &mut ber,
        Compression::DEFAULT,
        &limits,
        &mut |_| {},
    )
    .unwrap();
    let got = asn1tools_python(
        "asn1tools-compressed",
        &ber,
        r#"
kinds, frames, octets = {}, 0, 0
def walk(v):
    global frames, octets
    if isinstance(v, tuple) and len(v) == 2 and isinstance(v[0], str):
        kinds[v[0]] = kinds.get(v[0], 0) + 1
        if v[0] == "zstd":
            frames += v[1]["zstd"][:4] == bytes([0x28, 0xb5, 0x2f, 0xfd])
            octets += v[1]["octets"]
        walk(v[1])
    elif isinstance(v, dict):
        for x in v.values():
            walk(x)
    elif isinstance(v, list):
        for x in v:
            walk(x)
walk(spec.decode("VMState-Stream", data))
print(json.dumps({"delta-cache": kinds.get("delta-cache", 0), "zstd": kinds.get("zstd", 0), "frames": frames, "octets": octets}))
"#,
    );
    assert_eq!(got["delta-cache"], 1, "{got}");
    assert!(got["zstd"].as_u64().unwrap() > 0, "{got}");
    assert_eq!(
        got["frames"], got["zstd"],
        "every group a zstd frame: {got}"
    );
    // The elements inside the groups are most of the stream.
    assert!(
        got["octets"].as_u64().unwrap() > legacy.len() as u64 / 2,
        "{got}"
    );

    let mut back = vmstate_runtime::io::Writer::new(Vec::new());
    ReturnMessage::new(7, vec![])
        .write(&mut back, Format::Ber)
        .unwrap();
    let mut way_back = back.into_inner();
    put_delivered(&mut way_back, 123 << 20);
    let got = asn1tools_python(
        "asn1tools-delivered",
        &way_back,
        r#"
m, n = spec.decode_with_length("VMState-Return-Message", data)
d = spec.decode("VMState-Delivered", data[n:])
print(json.dumps([m["type"], d["octets"]]))
"#,
    );
    assert_eq!(got, json!(["switchover-ack", 123u64 << 20]));
}

/// A stream whose RAM part is too large to hold while it is converted: 12 MiB of
/// data pages, which the converter writes as an open (indefinite-length) record.
/// Returns the module, the BER stream and the guest's `pc.ram`.
fn open_part_stream() -> (Module, Vec<u8>, Vec<u8>) {
    let mut page = 0u32;
    let ram: Vec<u8> = (0..12u32 << 20)
        .map(|i| {
            if i % 4096 == 0 {
                page = page.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            }
            (page >> 16) as u8 ^ i as u8 | 1
        })
        .collect();
    let mem = vec![("pc.ram".to_owned(), ram)];
    let mut saver = RamSaver::new(ram_blocks(&mem)).unwrap();
    let mut rtc = Rtc::default();
    let mut reg = Registry::new("pc-i440fx-7.2");
    reg.iterative("ram", 0, &mut saver);
    reg.device("mc146818rtc", 0, &mut rtc);
    let module = reg.asn1_module("VMState-Open");
    let legacy = reg.save(Format::Legacy).unwrap();
    drop(reg);
    let ber = dump::convert(&legacy, Format::Ber).unwrap();
    // `[APPLICATION 4]` with an indefinite length, its `[6]` too.
    assert!(
        ber.windows(2).any(|w| w == [0x64, 0x80]),
        "no open section record"
    );
    assert_eq!(dump::convert(&ber, Format::Legacy).unwrap(), legacy);
    let [(_, ram)]: [_; 1] = mem.try_into().unwrap();
    (module, ber, ram)
}

#[test]
fn asn1tools_and_asn1c_decode_a_ram_part_written_open() {
    if !asn1tools_available() || !asn1c_available() {
        return;
    }
    let (module, ber, ram) = open_part_stream();
    let types = json!({
        "configuration": module.section_type(Configuration::DESC).unwrap(),
        "devices": { "mc146818rtc#0": module.section_type(Rtc::DESC).unwrap() },
    });
    let got = asn1tools_stream("asn1tools-open", &module.render().unwrap(), &ber, &types);
    let want = json!({ "pc.ram": hex(&Sha256::digest(&ram)) });
    assert_eq!(got["ram"], want, "asn1tools rebuilt other RAM");
    let dir = workdir("asn1c-open");
    let (asn, path) = (dir.join("open.asn"), dir.join("open.ber"));
    std::fs::write(&asn, module.render().unwrap()).unwrap();
    std::fs::write(&path, &ber).unwrap();
    let decoder = build_decoder(&dir, &asn, "VMState_Stream");
    run_ok(
        Command::new(decoder)
            .args(["-p", "VMState-Stream", "-c", "-onull"])
            .arg(&path),
        "asn1c rejects the open part",
    );
}

#[test]
fn asn1c_decodes_a_whole_ber_stream_with_the_registrys_module() {
    if !asn1c_available() {
        return;
    }
    let dir = workdir("asn1c-stream");
    let pc = pc_stream();
    let (asn, ber) = (dir.join("pc.asn"), dir.join("pc.ber"));
    std::fs::write(&asn, pc.module.render().unwrap()).unwrap();
    std::fs::write(&ber, &pc.bytes).unwrap();
    let decoder = build_decoder(&dir, &asn, "VMState_Stream");
    // With constraint checks; XER out, to see what it found.
    let (xer, _) = run_ok(
        Command::new(decoder)
            .args(["-p", "VMState-Stream", "-c", "-oxer"])
            .arg(&ber),
        "asn1c rejects the stream",
    );
    let xer = String::from_utf8(xer).unwrap();
    for want in [
        "<stream-version>3</stream-version>",
        "<idstr>mc146818rtc</idstr>",
        "<idstr>demo-dma</idstr>",
        "<mem-size>",
        "<zero-run>",
        "<data-run>",
        "<mixed-run>",
    ] {
        assert!(xer.contains(want), "asn1c's decoding has no {want}");
    }
    assert_eq!(xer.matches("<section>").count(), 6);
}

/// Every fixture stream of both QEMU releases.
fn fixtures() -> Vec<String> {
    fixture_streams()
        .into_iter()
        .map(|(_, name, _)| name)
        .collect()
}

/// A QEMU fixture's BER form and the module made from its own description.
fn qemu_in_ber(fixture: &str) -> (Value, Vec<u8>, dump::asn1::StreamModule) {
    let tree = dump::from_bytes(&read_fixture(fixture)).unwrap();
    let ber = dump::to_bytes(&tree, Format::Ber).unwrap();
    let module = dump::asn1::module_of(&tree, "VMState-Qemu").unwrap();
    (tree, ber, module)
}

#[test]
fn asn1tools_decodes_qemu_streams_in_ber_by_their_own_description() {
    if !asn1tools_available() {
        return;
    }
    for fixture in fixtures() {
        let fixture = fixture.as_str();
        let (tree, ber, module) = qemu_in_ber(fixture);
        let devices: serde_json::Map<String, Value> = module
            .devices
            .iter()
            .map(|(idstr, inst, ty)| (format!("{idstr}#{inst}"), json!(ty)))
            .collect();
        let types = json!({"configuration": module.configuration, "devices": devices});
        let got = asn1tools_stream(&format!("asn1tools-{fixture}"), &module.text, &ber, &types);
        let items = got["items"].as_array().unwrap();
        let of =
            |item: &str| -> Vec<&Value> { items.iter().filter(|i| i["item"] == item).collect() };
        let (sections, commands) = (of("section"), of("command"));
        let all = tree["sections"].as_array().unwrap();
        let want: Vec<&Value> = all.iter().filter(|s| s["type"] != "command").collect();
        assert_eq!(sections.len(), want.len(), "{fixture}");
        // QEMU 10.0's SWITCHOVER_START, by the ENUMERATED's name.
        let want_commands: Vec<&Value> = all.iter().filter(|s| s["type"] == "command").collect();
        assert_eq!(commands.len(), want_commands.len(), "{fixture}");
        for (c, w) in commands.iter().zip(&want_commands) {
            let name = w["command"]
                .as_str()
                .unwrap()
                .to_lowercase()
                .replace('_', "-");
            assert_eq!(c["command"], json!(name), "{fixture}");
        }
        for (s, w) in sections.iter().zip(&want) {
            assert_eq!(s["kind"], w["type"], "{fixture}");
            assert_eq!(s["section-id"], w["section_id"], "{fixture}");
            if w["type"] == "full" {
                let at = format!("{fixture}: {}", w["idstr"]);
                // asn1tools' own encoding of what it decoded is our octets.
                assert_eq!(s["same-octets"], true, "{at}");
                assert_eq!(s["idstr"], w["idstr"], "{at}");
            }
        }
        // The RTC's CMOS bytes as asn1tools read them.
        let rtc = sections
            .iter()
            .find(|s| s["idstr"] == "mc146818rtc")
            .unwrap();
        let tree_rtc = want.iter().find(|s| s["idstr"] == "mc146818rtc").unwrap();
        assert_eq!(rtc["value"]["cmos-data"], tree_rtc["value"]["cmos_data"]);
        // And the RAM, rebuilt by Python from the runs, is QEMU's.
        let mem = vmstate_test_support::testing::ram_of(&read_fixture(fixture)).unwrap();
        let want_ram: serde_json::Map<String, Value> = mem
            .iter()
            .map(|(name, m)| (name.clone(), json!(hex(&Sha256::digest(m)))))
            .collect();
        assert_eq!(got["ram"], Value::Object(want_ram), "{fixture}");
    }
}

#[test]
fn asn1c_compiles_each_qemu_streams_module_and_reads_its_ber_form() {
    if !asn1c_available() {
        return;
    }
    for fixture in fixtures() {
        let fixture = fixture.as_str();
        let dir = workdir(&format!("asn1c-{fixture}"));
        let (tree, ber, module) = qemu_in_ber(fixture);
        let (asn, stream_path) = (dir.join("stream.asn"), dir.join("stream.ber"));
        std::fs::write(&asn, &module.text).unwrap();
        std::fs::write(&stream_path, &ber).unwrap();
        let decoder = build_decoder(&dir, &asn, "VMState_Stream");
        let (xer, _) = run_ok(
            Command::new(decoder)
                .args(["-p", "VMState-Stream", "-c", "-oxer"])
                .arg(&stream_path),
            &format!("{fixture}: asn1c rejects its BER form"),
        );
        let xer = String::from_utf8(xer).unwrap();
        let entries = tree["sections"].as_array().unwrap();
        let commands = entries.iter().filter(|s| s["type"] == "command").count();
        assert_eq!(
            xer.matches("<section>").count(),
            entries.len() - commands,
            "{fixture}"
        );
        assert_eq!(xer.matches("<command>").count(), commands, "{fixture}");
    }
}

#[test]
fn asn1tools_rebuilds_ram_of_64_kib_pages_from_a_ber_stream() {
    if !asn1tools_available() {
        return;
    }
    // A page size other than 4 KiB is in the block list, where the schema has it.
    let page = 64 << 10;
    let mut guest = vec![0u8; 4 << 20];
    for p in (0..guest.len() / page).step_by(3) {
        guest[p * page + p] = p as u8 | 1;
    }
    let mut saver = RamSaver::with_page_size(
        vec![vmstate_runtime::ram::RamBlock {
            name: "pc.ram",
            mem: &guest,
        }],
        page,
    )
    .unwrap();
    let mut reg = Registry::new("pc-i440fx-7.2");
    reg.iterative("ram", 0, &mut saver);
    let module = reg.asn1_module("VMState-Pages");
    let bytes = reg.save(Format::Ber).unwrap();
    drop(reg);
    let cfg = module.section_type(Configuration::DESC).unwrap();
    let types = json!({"configuration": cfg, "devices": {}});
    let got = asn1tools_stream("asn1tools-pages", &module.render().unwrap(), &bytes, &types);
    assert_eq!(got["ram"], json!({"pc.ram": hex(&Sha256::digest(&guest))}));
}

/// Our own typed BER stream decoded by asn1tools with the module made from nothing
/// but the stream's description (`dump::asn1::module_of`): the demo device with its
/// `[APPLICATION 16]` at version 3 and as the legacy blob it is at version 1, and
/// every mirror of `pc-kvm-bios.mig` (the `cpu`'s nested `mce_banks` among them).
/// asn1tools re-encodes each device to our octets: the generic description of a
/// typed stream is as exact as the derive's.
#[test]
fn asn1tools_decodes_our_typed_streams_by_their_own_description() {
    use vmstate_runtime::stream::{MachineTypes, SectionDevice};
    if !asn1tools_available() {
        return;
    }
    struct Collect(Vec<(String, u32, Box<dyn SectionDevice>)>);
    impl Visitor for Collect {
        fn visit<T: Device>(&mut self, idstr: &str, instance: u32, value: &T) {
            self.0
                .push((idstr.to_owned(), instance, Box::new(value.clone())));
        }
    }
    let mut c = Collect(Vec::new());
    catalog::visit_all(&mut c);
    c.0.push(("demo-dma-v1".into(), 0, Box::new(sample())));
    let table = MachineTypes::new().machine("m", &[("demo-dma-v1", 1)]);
    let mut reg = Registry::new("m").with_machine_types(table);
    for (idstr, instance, dev) in &mut c.0 {
        reg.device(idstr, *instance, dev.as_mut());
    }
    let ber = reg.save(Format::Ber).unwrap();
    drop(reg);
    let tree = dump::from_bytes(&ber).unwrap();
    let module = dump::asn1::module_of(&tree, "VMState-Ours").unwrap();
    assert!(module.text.contains("[APPLICATION 16] SEQUENCE"));
    let devices: serde_json::Map<String, Value> = module
        .devices
        .iter()
        .map(|(idstr, inst, ty)| (format!("{idstr}#{inst}"), json!(ty)))
        .collect();
    let types = json!({"configuration": module.configuration, "devices": devices});
    let got = asn1tools_stream("asn1tools-ours", &module.text, &ber, &types);
    let sections: Vec<&Value> = got["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["item"] == "section")
        .collect();
    assert_eq!(sections.len(), c.0.len());
    for s in &sections {
        assert_eq!(s["same-octets"], true, "{}", s["idstr"]);
    }
    let cpu = sections.iter().find(|s| s["idstr"] == "cpu").unwrap();
    // Ten banks of four registers: the nesting the derive sends, in the schema.
    let banks = cpu["value"]["env-mce-banks"].as_array().unwrap();
    assert_eq!(banks.len(), 10);
    assert!(banks.iter().all(|b| b.as_array().map(Vec::len) == Some(4)));
}

/// The versioned form of one device (`ber::to_bytes_versioned`) at each version it
/// saves at, a legacy blob included: asn1tools decodes it against the module's
/// `-Versioned` type to the name, the version and the value, and what asn1tools
/// encodes from that JSON loads back into the same value at the same version.
#[test]
fn asn1tools_decodes_a_versioned_device() {
    if !asn1tools_available() {
        return;
    }
    let module = Module::new("VMState-Versioned").with_versioned::<DemoDma>();
    let ty = module.versioned_type(DemoDma::DESC).unwrap().to_owned();
    let dir = workdir("asn1tools-versioned");
    let asn = dir.join("versioned.asn");
    std::fs::write(&asn, module.render().unwrap()).unwrap();
    let value = sample();
    let d = DemoDma::DESC;
    let cases: Vec<Value> = (d.minimum_version..=d.version)
        .map(|v| {
            json!({
                "id": format!("demo-dma@v{v}"),
                "type": ty,
                "ber": hex(&ber::to_bytes_versioned(&value, v).unwrap()),
                "json": { "name": d.name, "version": v, "body": section_json(&value, v) },
            })
        })
        .collect();
    let (cases_path, out) = (dir.join("cases.json"), dir.join("out.json"));
    std::fs::write(&cases_path, serde_json::to_string(&cases).unwrap()).unwrap();
    let (_, report) = run_ok(
        Command::new("python3")
            .arg(script())
            .args([&asn, &cases_path, &out]),
        "asn1tools disagrees on the versioned form",
    );
    eprintln!("{}", report.trim());
    let encoded: HashMap<String, String> =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    for v in d.minimum_version..=d.version {
        let theirs = unhex(&encoded[&format!("demo-dma@v{v}")]);
        let mut back = DemoDma::default();
        assert_eq!(ber::load_versioned(&mut back, &theirs).unwrap(), v);
        assert_eq!(
            ber::to_bytes_at(&back, v).unwrap(),
            ber::to_bytes_at(&value, v).unwrap(),
            "v{v}"
        );
    }
}
