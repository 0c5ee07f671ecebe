//! The `vmstate` binary on the real QEMU 7.2 streams: dump (text, JSON, RAM blocks
//! that hash as QEMU's own `pmemsave`), lossless conversion, diff and check-compat,
//! and one-line errors with exit code 2.

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use vmstate_qemu::Rtc;
use vmstate_runtime::VMState;
use vmstate_test_support::catalog::{fixture_path, fixture_streams, read_fixture};

mod common;
use common::{tmp, Scratch};

fn vmstate(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vmstate"))
        .args(args.iter().map(|a| a.as_ref()))
        .output()
        .expect("runs vmstate")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn fixture(name: &str) -> PathBuf {
    fixture_path(name)
}

/// `vmstate dump --json` of the fixture `name`.
fn json_tree(name: &str) -> serde_json::Value {
    let o = vmstate(&[&"dump", &"--json", &fixture(name)]);
    serde_json::from_slice(&o.stdout).unwrap()
}

/// The RAM records of a tree, to edit.
fn ram_records(tree: &mut serde_json::Value) -> impl Iterator<Item = &mut serde_json::Value> {
    tree["sections"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .filter_map(|s| s.get_mut("ram").and_then(|r| r.as_array_mut()))
        .flatten()
}

/// `tree` written as `NAME.json` and converted to the legacy stream `NAME.mig`;
/// returns both paths.
fn write_tree(tree: &serde_json::Value, name: &str) -> (PathBuf, PathBuf) {
    let json = tmp(&format!("{name}.json"));
    std::fs::write(&json, serde_json::to_vec(tree).unwrap()).unwrap();
    let mig = tmp(&format!("{name}.mig"));
    let o = vmstate(&[&"convert", &"--to", &"legacy", &json, &mig]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    (json, mig)
}

/// The fixture `name` converted to BER by `vmstate convert`, in a file of the
/// calling test's own (tests run in parallel and would overwrite a shared one).
fn ber_of(name: &str) -> PathBuf {
    let test = std::thread::current()
        .name()
        .unwrap_or("main")
        .replace("::", "-");
    let ber = tmp(&format!("{name}-{test}.ber"));
    let o = vmstate(&[&"convert", &"--to", &"ber", &fixture(name), &ber]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    ber
}

#[test]
fn dump_prints_devices_and_fields() {
    let o = vmstate(&[&"dump", &fixture("pc-kvm-bios.mig")]);
    assert!(o.status.success());
    let text = stdout(&o);
    assert!(
        text.starts_with("stream version 3, machine type pc-i440fx-7.2\n"),
        "{text}"
    );
    assert!(
        text.contains("] mc146818rtc#0 version 3\n  cmos_data = 29004000"),
        "{text}"
    );
    assert!(
        text.contains("] ram (part): 8214 zero pages, 108 data pages"),
        "{text}"
    );
}

#[test]
fn dump_json_is_the_tree_and_ram_blocks_match_qemus_pmemsave() {
    for (_, name, entry) in fixture_streams() {
        let (name, entry) = (name.as_str(), &entry);
        let ber = ber_of(name);
        // A multifd capture's channels, QEMU's and in BER.
        let channels = channels_of(entry);
        let ber_channels: Vec<PathBuf> = channels.iter().map(|c| channel_ber(c)).collect();
        // The JSON tree's records, and the text dump's record-by-record path, from
        // QEMU's stream and from its BER form.
        for (input, json, channels) in [
            (fixture(name), true, &channels),
            (fixture(name), false, &channels),
            (ber.clone(), true, &ber_channels),
            (ber, false, &ber_channels),
        ] {
            let dir = tmp(&format!("ram-{name}-{json}"));
            let _ = std::fs::remove_dir_all(&dir);
            let mut args: Vec<&dyn AsRef<std::ffi::OsStr>> = vec![&"dump", &"--ram", &dir];
            for c in channels {
                args.extend([&"--channel" as &dyn AsRef<std::ffi::OsStr>, c]);
            }
            args.push(&input);
            if json {
                args.insert(1, &"--json");
            }
            let o = vmstate(&args);
            let at = format!("{} (json: {json})", input.display());
            assert!(
                o.status.success(),
                "{at}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            if json {
                let tree: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
                assert!(tree["sections"].as_array().map_or(0, Vec::len) > 10);
            }
            check_ram(entry, &dir, &at);
        }
    }
}

/// The fixtures QEMU saved without a vmdesc (postcopy, `suppress-vmdesc=on`),
/// read with the save of the same VM the manifest names: `dump --ram` is the
/// source's RAM as `pmemsave` dumped it (once a postcopy migration completed),
/// a postcopy package shows its devices, and each stream converts to BER and
/// back to the same bytes.
#[test]
fn fixtures_without_a_trailer_read_with_their_description() {
    let fixtures = vmstate_test_support::catalog::described_fixture_streams();
    assert!(
        fixtures.len() >= 4,
        "postcopy and suppress-vmdesc of each release"
    );
    for (_, name, entry) in fixtures {
        let described = fixture(entry["described_by"].as_str().unwrap());
        let dir = tmp(&format!("ram-{name}"));
        let _ = std::fs::remove_dir_all(&dir);
        let o = vmstate(&[
            &"dump",
            &"--ram",
            &dir,
            &"--describe-with",
            &described,
            &fixture(&name),
        ]);
        assert!(
            o.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        check_ram(&entry, &dir, &name);
        let text = stdout(&o);
        let rtc = |l: &&str| l.contains("] mc146818rtc#0");
        if entry["capability"] == "postcopy-ram" {
            // The devices are in the package, indented under its command.
            let package: Vec<&str> = text
                .lines()
                .skip_while(|l| !l.starts_with("command PACKAGED"))
                .skip(1)
                .take_while(|l| l.starts_with("  "))
                .collect();
            assert!(package.iter().any(rtc), "{name}: {text}");
        } else {
            assert!(!text.contains("PACKAGED"), "{name}");
            assert!(
                text.lines().any(|l| l.starts_with('[') && rtc(&l)),
                "{name}"
            );
        }
        let (ber, back) = (tmp(&format!("{name}.ber")), tmp(&format!("{name}.back")));
        // The BER stream carries the description given; back to QEMU's bytes.
        let to_ber = vmstate(&[
            &"convert",
            &"--to",
            &"ber",
            &"--describe-with",
            &described,
            &fixture(&name),
            &ber,
        ]);
        let to_legacy = vmstate(&[&"convert", &"--to", &"legacy", &ber, &back]);
        for o in [to_ber, to_legacy] {
            assert!(
                o.status.success(),
                "{name}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
        assert!(
            std::fs::read(&back).unwrap() == read_fixture(&name),
            "{name}"
        );
    }
}

/// The multifd channels of a fixture's capture, per the manifest.
fn channels_of(entry: &serde_json::Value) -> Vec<PathBuf> {
    let names = entry["channels"].as_array().into_iter().flatten();
    names.map(|c| fixture(c.as_str().unwrap())).collect()
}

/// A multifd channel converted to BER, checked to convert back to its bytes.
fn channel_ber(channel: &Path) -> PathBuf {
    let name = channel.file_name().unwrap().to_string_lossy();
    let (ber, back) = (tmp(&format!("{name}.ber")), tmp(&format!("{name}.back")));
    for (to, from, into) in [("ber", channel, &ber), ("legacy", &ber, &back)] {
        let o = vmstate(&[&"convert", &"--to", &to, &from, into]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    assert!(
        std::fs::read(&back).unwrap() == std::fs::read(channel).unwrap(),
        "{name} through BER"
    );
    ber
}

/// The guest's RAM block in `dir` hashes as QEMU's own `pmemsave` did, per the
/// manifest.
fn check_ram(entry: &serde_json::Value, dir: &Path, at: &str) {
    {
        let block = entry["ram_block"].as_str().unwrap();
        let ram = std::fs::read(dir.join(format!("{block}.bin"))).unwrap();
        for range in entry["ram_ranges_sha256"].as_array().unwrap() {
            let (start, end) = (
                range["start"].as_u64().unwrap() as usize,
                range["end"].as_u64().unwrap() as usize,
            );
            let digest = Sha256::digest(&ram[start..end]);
            let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(
                hex,
                range["sha256"].as_str().unwrap(),
                "{at} [{start:#x}, {end:#x})"
            );
        }
    }
}

#[test]
fn convert_round_trips_every_fixture() {
    for (_, name, _) in fixture_streams() {
        let name = name.as_str();
        let (ber, back) = (tmp(&format!("{name}.ber")), tmp(&format!("{name}.back")));
        assert!(
            vmstate(&[&"convert", &"--to", &"ber", &fixture(name), &ber])
                .status
                .success()
        );
        assert!(vmstate(&[&"convert", &"--to", &"legacy", &ber, &back])
            .status
            .success());
        assert!(
            std::fs::read(&back).unwrap() == read_fixture(name),
            "{name}"
        );
        // The BER stream dumps the same as the original, and differs in nothing.
        let (a, b) = (
            vmstate(&[&"dump", &fixture(name)]),
            vmstate(&[&"dump", &ber]),
        );
        assert_eq!(stdout(&a), stdout(&b), "{name}");
        let d = vmstate(&[&"diff", &fixture(name), &ber]);
        assert_eq!(
            (d.status.code(), stdout(&d)),
            (Some(0), String::new()),
            "{name}"
        );
        // QEMU 10.0's command record is shown by name where the stream has it.
        let machine = stdout(&a).lines().next().unwrap_or("").to_owned();
        let ten = machine.ends_with("-10.0");
        assert_eq!(
            stdout(&a).contains("command SWITCHOVER_START (11)"),
            ten,
            "{name}"
        );
        // Its ASN.1 module is made from the stream's own description.
        let m = vmstate(&[&"asn1", &fixture(name)]);
        assert!(
            m.status.success() && stdout(&m).contains("VMState-Command ::="),
            "{name}"
        );
    }
}

/// A copy of pc-kvm-bios.mig with CMOS byte 0x38 set to 0xab, through the JSON tree;
/// and the byte's old value.
fn edited_stream() -> (PathBuf, String) {
    let mut tree = json_tree("pc-kvm-bios.mig");
    let rtc = tree["sections"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|s| s["idstr"] == "mc146818rtc")
        .unwrap();
    let cmos = rtc["value"]["cmos_data"].as_str().unwrap().to_owned();
    let old = cmos[2 * 0x38..2 * 0x39].to_lowercase();
    rtc["value"]["cmos_data"] = format!("{}AB{}", &cmos[..2 * 0x38], &cmos[2 * 0x39..]).into();
    (write_tree(&tree, "edited").1, old)
}

#[test]
fn diff_names_device_field_and_both_values() {
    let same = vmstate(&[
        &"diff",
        &fixture("pc-kvm-bios.mig"),
        &fixture("pc-kvm-bios.mig"),
    ]);
    assert_eq!(
        (same.status.code(), stdout(&same)),
        (Some(0), String::new())
    );
    let (edited, old) = edited_stream();
    let o = vmstate(&[&"diff", &fixture("pc-kvm-bios.mig"), &edited]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stdout(&o),
        format!("mc146818rtc#0.cmos_data[0x38]: 0x{old} -> 0xab\n")
    );
    let o = vmstate(&[
        &"diff",
        &fixture("pc-tcg-reset.mig"),
        &fixture("pc-kvm-bios.mig"),
    ]);
    let text = stdout(&o);
    assert!(
        !text.contains("configuration.machine_type"),
        "same machine type"
    );
    assert!(
        text.contains("ram pc.ram: 32 MiB")
            || text.contains("ram pc.ram: 16777216 bytes -> 33554432 bytes"),
        "{text}"
    );
    assert!(
        text.contains("serial#0: only in the second stream"),
        "{text}"
    );
}

#[test]
fn diff_compares_ram_page_by_page_across_formats() {
    // A stream and its BER form hold the same state.
    let ber = ber_of("pc-kvm-bios.mig");
    let o = vmstate(&[&"diff", &fixture("pc-kvm-bios.mig"), &ber]);
    assert_eq!((o.status.code(), stdout(&o)), (Some(0), String::new()));
    // One data page changed in the JSON tree: diff names that page, whichever form.
    let mut tree = json_tree("pc-kvm-bios.mig");
    let page = ram_records(&mut tree)
        .find(|r| r.get("data").is_some() && r["block"] == "pc.ram")
        .unwrap();
    let offset = page["offset"].as_u64().unwrap();
    let data = page["data"].as_str().unwrap();
    let flipped = if data.starts_with("00") { "01" } else { "00" };
    page["data"] = format!("{flipped}{}", &data[2..]).into();
    let (json, edited) = write_tree(&tree, "diff-page");
    for b in [&json, &edited] {
        let o = vmstate(&[&"diff", &ber, b]);
        assert_eq!(o.status.code(), Some(1));
        assert_eq!(
            stdout(&o),
            format!("ram pc.ram: 1 pages differ: {offset:#x}\n")
        );
    }
}

fn write_json(name: &str, v: &serde_json::Value) -> PathBuf {
    let p = tmp(name);
    std::fs::write(&p, serde_json::to_vec_pretty(v).unwrap()).unwrap();
    p
}

#[test]
fn check_compat_of_descriptions() {
    // Our RTC mirror against QEMU 7.2's whole -dump-vmstate: compatible.
    let ours: serde_json::Value = serde_json::from_str(&Rtc::dump_vmstate_json()).unwrap();
    let ours_path = write_json("rtc.json", &ours);
    let qemu = fixture("pc-i440fx-7.2.vmstate.json");
    let o = vmstate(&[&"check-compat", &ours_path, &qemu]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    // A destination whose RTC lost a field, changed a size and dropped a subsection.
    let mut broken = ours.clone();
    let fields = broken["Fields"].as_array_mut().unwrap();
    fields[1]["size"] = 2.into();
    fields.remove(2);
    broken["Subsections"] = serde_json::json!([]);
    let broken_path = write_json("rtc-broken.json", &broken);
    let o = vmstate(&[&"check-compat", &ours_path, &broken_path]);
    assert_eq!(o.status.code(), Some(1));
    let text = stdout(&o);
    assert!(
        text.contains("ERROR mc146818rtc.cmos_index: size 1 -> 2"),
        "{text}"
    );
    assert!(
        text.contains("ERROR mc146818rtc.unused: 28 bytes of padding on one side, 40 bytes of fields on the other"),
        "{text}"
    );
    // A newer source than the destination loads.
    let mut newer = ours.clone();
    newer["version_id"] = 4.into();
    let o = vmstate(&[
        &"check-compat",
        &write_json("rtc-v4.json", &newer),
        &ours_path,
    ]);
    assert!(stdout(&o).contains("ERROR mc146818rtc: OLD saves version 4, NEW loads at most 3"));
}

#[test]
fn errors_are_one_line_with_exit_code_2() {
    let garbage = tmp("garbage.bin");
    std::fs::write(&garbage, b"not a stream").unwrap();
    let o = vmstate(&[&"dump", &garbage]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("neither a QEVM stream nor a vmstate BER stream"));
    // A truncated stream names the offset.
    let mut cut = read_fixture("pc-kvm-bios.mig");
    cut.truncate(1000);
    let cut_path = tmp("cut.mig");
    std::fs::write(&cut_path, &cut).unwrap();
    let o = vmstate(&[&"dump", &cut_path]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("at byte"));
    let missing = vmstate(&[&"dump", &Path::new("/nonexistent/x.mig")]);
    assert_eq!(missing.status.code(), Some(2));
}

#[test]
fn asn1_gives_the_module_of_a_streams_ber_form() {
    // The same module for the QEMU stream and its BER form: both carry the vmdesc.
    let ber = ber_of("pc-kvm-bios.mig");
    let a = vmstate(&[&"asn1", &fixture("pc-kvm-bios.mig")]);
    let b = vmstate(&[&"asn1", &ber]);
    assert!(a.status.success() && b.status.success());
    let text = stdout(&a);
    assert_eq!(text, stdout(&b));
    assert!(text.starts_with("-- Generated by vmstate"), "{text}");
    for want in [
        "VMState-Stream-Types DEFINITIONS IMPLICIT TAGS ::=",
        "VMState-Stream ::= [APPLICATION 0] SEQUENCE OF VMState-Stream-Item",
        "--   mc146818rtc instance 0: Dev-Mc146818rtc\n",
        "Dev-Mc146818rtc ::= SEQUENCE {\n    cmos-data [0] OCTET STRING (SIZE (128)),",
    ] {
        assert!(text.contains(want), "no {want:?}");
    }
    assert!(text.ends_with("END\n"));
}

#[test]
fn dash_reads_standard_input() {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_vmstate"))
        .args(["dump", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let bytes = read_fixture("pc-kvm-bios.mig");
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(&bytes));
    let o = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(o.status.success());
    assert_eq!(
        stdout(&o),
        stdout(&vmstate(&[&"dump", &fixture("pc-kvm-bios.mig")]))
    );
}

/// A block list is untrusted: a stream claiming a 1 PiB block makes `diff` and
/// `dump --ram` allocate for the pages it sends, not for the length it claims.
#[test]
fn a_huge_claimed_block_allocates_nothing() {
    let mut tree = json_tree("pc-tcg-reset.mig");
    let setup = ram_records(&mut tree)
        .find(|r| r.get("mem_size").is_some())
        .unwrap();
    let block = setup["blocks"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|b| b["name"] == "pc.ram")
        .unwrap();
    let old = block["length"].as_u64().unwrap();
    block["length"] = (1u64 << 50).into();
    setup["mem_size"] = (setup["mem_size"].as_u64().unwrap() - old + (1 << 50)).into();
    let (_, huge) = write_tree(&tree, "huge");
    let o = vmstate(&[&"diff", &huge, &huge]);
    assert_eq!((o.status.code(), stdout(&o)), (Some(0), String::new()));
    // Writing the block out either works (a sparse file) or fails in one line.
    let dir = tmp("huge-ram");
    let o = vmstate(&[&"dump", &"--ram", &dir, &huge]);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(matches!(o.status.code(), Some(0 | 2)), "{o:?}");
    assert_eq!(String::from_utf8_lossy(&o.stderr).lines().count(), 1);
}

/// `check-compat` between QEMU 7.2's and QEMU 10.0's `-dump-vmstate` for
/// `pc-i440fx-7.2`, both ways, is the verdict `docs/QEMU-RELEASES.md` reports (kept in
/// `docs/compat/`); and the mirrored devices' findings are the ones it explains.
#[test]
fn check_compat_between_qemu_releases_is_the_documented_verdict() {
    use vmstate_test_support::catalog::fixtures_dir_of;
    use vmstate_test_support::qmp::Release::{Qemu10_0, Qemu7_2};
    let docs = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/compat");
    for (old, new, file) in [
        (Qemu7_2, Qemu10_0, "pc-i440fx-7.2.qemu-7.2-to-10.0.txt"),
        (Qemu10_0, Qemu7_2, "pc-i440fx-7.2.qemu-10.0-to-7.2.txt"),
    ] {
        let dump = |r| fixtures_dir_of(r).join("pc-i440fx-7.2.vmstate.json");
        let o = vmstate(&[&"check-compat", &dump(old), &dump(new)]);
        // Devices that no longer exist (or do not yet) are errors both ways.
        assert_eq!(o.status.code(), Some(1));
        let want = std::fs::read_to_string(docs.join(file)).unwrap();
        assert_eq!(
            stdout(&o),
            want,
            "{file}: regenerate it and review docs/QEMU-RELEASES.md"
        );
    }
    let up = std::fs::read_to_string(docs.join("pc-i440fx-7.2.qemu-7.2-to-10.0.txt")).unwrap();
    let down = std::fs::read_to_string(docs.join("pc-i440fx-7.2.qemu-10.0-to-7.2.txt")).unwrap();
    // HPET's renamed field loads (the wire is positional); the PIC's new subsection
    // breaks 10.0 -> 7.2 only when sent (level-triggered mode).
    assert!(up.contains("WARNING hpet.num_timers: renamed to num_timers_save"));
    assert!(down.contains("WARNING i8259/ltim: NEW does not know this subsection"));
    assert!(!up.contains("i8259"), "7.2 -> 10.0: the PIC is compatible");
}

/// The files `dump --ram` left in `dir`.
fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// The ranges `missing-pages.txt` lists (`block start end` a line, hex offsets).
fn missing_ranges(dir: &Path) -> Vec<(String, usize, usize)> {
    std::fs::read_to_string(dir.join("missing-pages.txt"))
        .unwrap()
        .lines()
        .map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            let hex = |h: &str| usize::from_str_radix(h.trim_start_matches("0x"), 16).unwrap();
            (w[0].to_owned(), hex(w[1]), hex(w[2]))
        })
        .collect()
}

/// Pages missing per `missing-pages.txt`.
fn listed_missing_pages(dir: &Path) -> u64 {
    missing_ranges(dir)
        .iter()
        .map(|(_, start, end)| ((end - start) / 4096) as u64)
        .sum()
}

/// A multifd main channel of QEMU 7.2 holds the zero pages and no data page (those
/// travel over the other channels): its RAM image is refused, naming the pages it
/// misses, unless asked for as partial, when they are listed.
#[test]
fn dump_ram_of_a_multifd_main_channel_names_the_missing_pages() {
    let mut tree = json_tree("pc-kvm-bios.mig");
    // The pages of each block sent as data and never as a zero page.
    let (mut data, mut zero) = (
        std::collections::BTreeSet::new(),
        std::collections::BTreeSet::new(),
    );
    for s in tree["sections"].as_array_mut().unwrap() {
        if let Some(records) = s.get_mut("ram").and_then(|r| r.as_array_mut()) {
            for r in records.iter() {
                let page = (r["block"].to_string(), r["offset"].as_u64());
                if r.get("data").is_some() {
                    data.insert(page);
                } else if r.get("fill").is_some() {
                    zero.insert(page);
                }
            }
            records.retain(|r| r.get("data").is_none());
            for r in records.iter_mut().filter_map(|r| r.as_object_mut()) {
                r.remove("continue");
            }
        }
    }
    let missing: Vec<_> = data.difference(&zero).collect();
    let all_pages = missing.len() as u64;
    let data_pages = missing.iter().filter(|(b, _)| b == "\"pc.ram\"").count();
    assert!(data_pages > 50);
    let (_, main_channel) = write_tree(&tree, "multifd-main-channel");
    let dir = tmp("multifd-main-ram");
    let _ = std::fs::remove_dir_all(&dir);
    let o = vmstate(&[&"dump", &"--ram", &dir, &main_channel]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!(
            "RAM block pc.ram: {data_pages} of its 8192 pages are not in the stream"
        )) && err.contains("no RAM image written (--partial writes the pages"),
        "{err}"
    );
    assert!(files_in(&dir).is_empty(), "{:?}", files_in(&dir));
    let o = vmstate(&[&"dump", &"--ram", &dir, &"--partial", &main_channel]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains(&format!(
        "missing: RAM block pc.ram: {data_pages} of its 8192 pages"
    )));
    assert_eq!(listed_missing_pages(&dir), all_pages);
    assert!(files_in(&dir).contains(&"pc.ram.bin".to_owned()));
}

/// A stream cut at every 64 KiB boundary: `dump --ram` never leaves an image that
/// looks whole. Without --partial it fails (exit 2) and writes nothing; with it,
/// the image holds exactly the pages that arrived (equal to the whole stream's
/// there) and lists the others, fewer the later the cut, none once the RAM is
/// whole.
#[test]
fn dump_ram_of_every_cut_of_a_stream_errors_or_lists_the_missing_pages() {
    let name = "pc-kvm-bios.mig";
    let whole = read_fixture(name);
    let full_dir = tmp("cut-full");
    let _scratch_full_dir = Scratch(vec![full_dir.clone()]);
    let _ = std::fs::remove_dir_all(&full_dir);
    assert!(vmstate(&[&"dump", &"--ram", &full_dir, &fixture(name)])
        .status
        .success());
    let full = std::fs::read(full_dir.join("pc.ram.bin")).unwrap();
    let mut last_missing = u64::MAX;
    for cut in (1..).map(|k| k * 65536).take_while(|&c| c < whole.len()) {
        let file = tmp(&format!("cut-{cut}.mig"));
        let _scratch_file = Scratch(vec![file.clone()]);
        std::fs::write(&file, &whole[..cut]).unwrap();
        let dir = tmp(&format!("cut-{cut}-ram"));
        let _scratch_dir = Scratch(vec![dir.clone()]);
        let _ = std::fs::remove_dir_all(&dir);
        let o = vmstate(&[&"dump", &"--ram", &dir, &file]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "cut {cut}: {err}");
        assert!(err.contains("no RAM image written"), "cut {cut}: {err}");
        assert!(files_in(&dir).is_empty(), "cut {cut}");
        let o = vmstate(&[&"dump", &"--ram", &dir, &"--partial", &file]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "cut {cut}: {err}");
        assert!(err.contains("the stream ends early"), "cut {cut}: {err}");
        let missing = listed_missing_pages(&dir);
        assert!(missing <= last_missing, "cut {cut}");
        last_missing = missing;
        let image = std::fs::read(dir.join("pc.ram.bin")).unwrap();
        let holes: Vec<(usize, usize)> = missing_ranges(&dir)
            .into_iter()
            .filter(|(block, ..)| block == "pc.ram")
            .map(|(_, start, end)| (start, end))
            .collect();
        let mut at = 0;
        for (start, end) in holes.iter().copied().chain([(full.len(), full.len())]) {
            assert!(
                image[at..start] == full[at..start],
                "cut {cut}: pages that arrived"
            );
            assert!(
                image[start..end].iter().all(|&b| b == 0),
                "cut {cut}: holes"
            );
            at = end;
        }
        if cut == 65536 {
            let pages = (full.len() / 4096) as u64;
            assert!(
                missing > pages / 2,
                "the first cut misses most pages: {missing}"
            );
        }
    }
    assert_eq!(last_missing, 0, "the last cuts have every page");
}

/// A block name with terminal control characters (an escape sequence, a NUL) is
/// printed escaped by `dump`, in its tree and in its errors.
#[test]
fn stream_names_print_escaped() {
    let mut tree = json_tree("pc-tcg-reset.mig");
    let name = "pc\u{1b}[2J\u{0}.ram";
    for r in ram_records(&mut tree) {
        if r["block"] == "pc.ram" {
            r["block"] = name.into();
        }
        for b in r
            .get_mut("blocks")
            .and_then(|b| b.as_array_mut())
            .into_iter()
            .flatten()
        {
            if b["name"] == "pc.ram" {
                b["name"] = name.into();
            }
        }
    }
    let (_, mig) = write_tree(&tree, "escaped-names");
    let o = vmstate(&[&"dump", &mig]);
    assert!(o.status.success());
    let text = stdout(&o);
    assert!(text.contains(r"blocks pc\u{1b}[2J\0.ram 16 MiB"), "{text}");
    assert!(!text.chars().any(|c| c.is_control() && c != '\n'));
    // And in an error: a page of it past its end.
    let mut bytes = std::fs::read(&mig).unwrap();
    let at = bytes
        .windows(name.len() + 1)
        .enumerate()
        .filter(|(_, w)| w[0] as usize == name.len() && &w[1..] == name.as_bytes())
        .nth(1)
        .map(|(i, _)| i)
        .unwrap();
    bytes[at - 8] = 0xff; // the page address's top octet
    let bad = tmp("escaped-names-bad.mig");
    std::fs::write(&bad, &bytes).unwrap();
    let o = vmstate(&[&"dump", &bad]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains(r"pc\u{1b}[2J\0.ram"), "{err}");
    assert!(!err.trim_end().chars().any(char::is_control), "{err:?}");
}

/// A libvirt save image (`virsh save`): libvirt's header and the domain XML, then
/// QEMU's stream. Written uncompressed, `dump` and `convert` read through it; a
/// compressed one is named, with the command that takes the stream out.
#[test]
fn a_libvirt_save_image_is_read_through_or_named() {
    let stream = read_fixture("pc-tcg-reset.mig");
    let xml = b"<domain type='kvm'><name>guest</name></domain>\n\0";
    let image = |compressed: u32| {
        let mut out = b"LibvirtQemudSave".to_vec();
        for word in [2u32, xml.len() as u32, 1, compressed] {
            out.extend(word.to_le_bytes());
        }
        out.resize(92, 0);
        out.extend(xml);
        out.extend(&stream);
        out
    };
    let raw = tmp("libvirt-raw.save");
    std::fs::write(&raw, image(0)).unwrap();
    let o = vmstate(&[&"dump", &raw]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains(&format!(
        "a libvirt save image: QEMU's stream from byte {} (offsets count from there)",
        92 + xml.len()
    )));
    assert_eq!(
        stdout(&o),
        stdout(&vmstate(&[&"dump", &fixture("pc-tcg-reset.mig")]))
    );
    let back = tmp("libvirt-raw.mig");
    assert!(vmstate(&[&"convert", &"--to", &"legacy", &raw, &back])
        .status
        .success());
    assert_eq!(std::fs::read(&back).unwrap(), stream);
    let gz = tmp("libvirt-gzip.save");
    std::fs::write(&gz, image(1)).unwrap();
    let o = vmstate(&[&"dump", &gz]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        format!(
            "vmstate: {}: at byte 0: bad stream framing: a libvirt save image: a 92-octet \
             header and the domain XML, then QEMU's stream from byte {}; take it out with \
             tail -c +{} FILE | gzip -d > state.mig\n",
            gz.display(),
            92 + xml.len(),
            93 + xml.len()
        )
    );
}

/// A Rust VMM's devices (`vmstate_examples::vmm`: a UART, virtio-blk with its
/// queues and in-flight requests, a config of `String`, `Option`, an enum with
/// data, maps, a generic ring) dump by their description alone, in text and JSON,
/// in both formats, and convert back to the bytes the VMM saved.
#[test]
fn dump_reads_a_rust_vmms_devices_by_their_description() {
    use vmstate_runtime::stream::Registry;
    use vmstate_test_support::__examples::vmm::sample;
    let (mut serial, mut blk, mut config) = sample();
    let mut reg = Registry::new("pc-q35-10.0");
    reg.device("vmm-serial", 0, &mut serial);
    reg.device("vmm-blk", 0, &mut blk);
    reg.device("vmm-config", 0, &mut config);
    let legacy = reg.save(vmstate_runtime::Format::Legacy).unwrap();
    let ber = reg.save(vmstate_runtime::Format::Ber).unwrap();
    drop(reg);
    for (name, bytes) in [("vmm.mig", &legacy), ("vmm.ber", &ber)] {
        let path = tmp(name);
        std::fs::write(&path, bytes).unwrap();
        let o = vmstate(&[&"dump", &path]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let text = stdout(&o);
        for needle in [
            "vmm-blk",
            "inflight",
            "descs",
            "backend",
            "path_hash",
            "uptime",
        ] {
            assert!(text.contains(needle), "{name}: no {needle} in\n{text}");
        }
        let o = vmstate(&[&"dump", &"--json", &path]);
        let tree: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let config = tree["sections"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["idstr"] == "vmm-config")
            .unwrap();
        assert_eq!(config["value"]["id"]["elems"], "766D2D30303432", "{name}");
        let back = tmp(&format!("{name}.legacy"));
        let o = vmstate(&[&"convert", &"--to", &"legacy", &path, &back]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert!(std::fs::read(&back).unwrap() == legacy, "{name}");
    }
}

/// A virtio-mem device's unplugged blocks are not in the stream (QEMU's migration
/// skips them, its destination discards them): `dump --ram` writes them as zeros
/// from either layout (the bitmap in the device section of a 7.2 machine type, in
/// the early section of a 10.0 one) and from BER, and `convert` notes nothing
/// missing. A bitmap that says a block is plugged whose pages never came leaves
/// that block's hole, and the image is refused.
#[test]
fn dump_ram_of_virtio_mem_writes_its_unplugged_blocks_as_zeros() {
    const VMEM: &str = "0000:00:01.0:00.0_vmem0.bin";
    for name in [
        "pc-q35-7.2-virtio-mem.mig",
        "pc-q35-10.0-virtio-mem.mig",
        "pc-q35-7.2-virtio-mem-by-10.0.mig",
    ] {
        for input in [fixture(name), ber_of(name)] {
            let dir = tmp(&format!(
                "vmem-{}",
                input.file_name().unwrap().to_string_lossy()
            ));
            let _scratch = Scratch(vec![dir.clone()]);
            let _ = std::fs::remove_dir_all(&dir);
            let o = vmstate(&[&"dump", &"--ram", &dir, &input]);
            let err = String::from_utf8_lossy(&o.stderr);
            assert!(o.status.success(), "{name}: {err}");
            let vmem = std::fs::read(dir.join(VMEM)).unwrap();
            assert_eq!(vmem.len(), 128 << 20, "{name}");
            assert!(vmem.iter().all(|b| *b == 0), "{name}");
        }
        let out = tmp(&format!("{name}.converted.ber"));
        let _scratch = Scratch(vec![out.clone()]);
        let o = vmstate(&[&"convert", &"--to", &"ber", &fixture(name), &out]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            o.status.success() && !err.contains("note:"),
            "{name}: {err}"
        );
    }
    // Block 0 plugged: the bitmap's first word, just before the device's first
    // subsection (`virtio/64bit_features`).
    let mut bytes = read_fixture("pc-q35-7.2-virtio-mem.mig");
    let marker = b"\x05\x15virtio/64bit_features";
    let sub = bytes
        .windows(marker.len())
        .position(|w| w == marker)
        .unwrap();
    assert_eq!(bytes[sub - 8..sub], [0; 8]);
    bytes[sub - 1] = 1;
    let (edited, dir) = (tmp("virtio-mem-plugged.mig"), tmp("virtio-mem-plugged-ram"));
    let _scratch = Scratch(vec![edited.clone(), dir.clone()]);
    std::fs::write(&edited, &bytes).unwrap();
    let o = vmstate(&[&"dump", &"--ram", &dir, &edited]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains(
            "RAM block 0000:00:01.0:00.0/vmem0: 512 of its 32768 pages are not in the stream"
        ),
        "{err}"
    );
}
