//! `vmstate translate` across QEMU's own break: QEMU 10.0 refuses a QEMU 7.2
//! stream of a VM with an ESP SCSI controller (am53c974: 10.0 reads `drq_state`,
//! which 7.2 never sends: "Missing section footer"). Translated, 10.0 loads the
//! same stream and the guest runs on; translated back, it is 7.2's stream byte for
//! byte.
//!
//! `scripts/test.sh` sets `VMSTATE_REQUIRE_QEMU=1`; a plain `cargo test` without
//! QEMU skips with a note.

mod common;

use common::tmp;
use serde_json::json;
use std::process::Command;
use vmstate_test_support::qmp::{Peer, Release};

fn translate(release: &str, from: &std::path::Path, to: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_vmstate"))
        .args(["translate", "--release", release])
        .arg(from)
        .arg(to)
        .output()
        .unwrap()
}

#[test]
fn a_7_2_esp_vm_loads_in_10_0_once_translated_and_runs_on() {
    if !Release::Qemu7_2.available() || !Release::Qemu10_0.available() {
        return;
    }
    let dir = tmp("translate");
    std::fs::create_dir_all(&dir).unwrap();
    let esp = ["-device", "am53c974"];
    let source = Peer::on_7_2(Release::Qemu7_2);
    let mut src = source.start(&dir, "esp-src", 32, &esp);
    std::thread::sleep(std::time::Duration::from_millis(500));
    let stream = dir.join("esp-7.2.mig");
    let reply = src.migrate_to_file(&stream).unwrap();
    assert_eq!(reply["status"], "completed", "{reply}");
    drop(src);

    let destination = Peer::on_7_2(Release::Qemu10_0);
    let mut incoming = ["-device", "am53c974", "-incoming", "defer"].to_vec();
    let mut direct = destination.start(&dir, "esp-direct", 32, &incoming);
    assert_eq!(
        direct.incoming_from_file(&stream),
        "failed",
        "QEMU 10.0 loaded 7.2's ESP as it is"
    );
    drop(direct);

    let translated = dir.join("esp-10.0.mig");
    let o = translate("10.0", &stream, &translated);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    incoming.truncate(2);
    incoming.extend(["-incoming", "defer"]);
    let mut dst = destination.start(&dir, "esp-dst", 32, &incoming);
    assert_eq!(dst.incoming_from_file(&translated), "completed");
    dst.execute("cont", json!({})).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let status = dst.execute("query-status", json!({})).unwrap();
    assert_eq!(status["status"], "running", "{status}");

    let back = dir.join("esp-back.mig");
    let o = translate("7.2", &translated, &back);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        std::fs::read(&back).unwrap() == std::fs::read(&stream).unwrap(),
        "the round trip changed the stream"
    );
}

#[test]
fn what_7_2_cannot_load_is_refused_by_name() {
    // A QEMU 10.0 machine type's stream has no 7.2 form.
    let q35 = vmstate_test_support::catalog::fixture_path("pc-q35-10.0-libvirt.mig");
    let out = tmp("translate-refused.mig");
    let o = translate("7.2", &q35, &out);
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("machine type pc-q35-10.0: QEMU 7.2 does not have it"),
        "{err}"
    );
    assert!(
        !out.exists(),
        "a refused translation wrote {}",
        out.display()
    );
    // A 10.0 stream of a 7.2 machine type with a Sound Blaster: 10.0 sent its
    // resources as zeros.
    let sb16 = vmstate_test_support::catalog::fixture_path("pc-i440fx-10.0-catalog.mig");
    let o = translate("7.2", &sb16, &out);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("machine type pc-i440fx-10.0"), "{err}");
}

/// QEMU 10.0 sends an SD card's old `enable` byte as padding, a 0 that QEMU 7.2
/// loads as a disabled card (the card then answers nothing). Translated, the
/// card is enabled, as every 10.0 card is, and 7.2 loads it and runs on.
#[test]
fn a_10_0_sd_card_is_enabled_for_7_2() {
    if !Release::Qemu7_2.available() || !Release::Qemu10_0.available() {
        return;
    }
    let dir = tmp("translate");
    std::fs::create_dir_all(&dir).unwrap();
    let sd = [
        "-device",
        "sdhci-pci",
        "-blockdev",
        "driver=null-co,node-name=sd0,size=1048576",
        "-device",
        "sd-card,drive=sd0,bus=sd-bus",
    ];
    let mut src = Peer::on_7_2(Release::Qemu10_0).start(&dir, "sd-src", 32, &sd);
    std::thread::sleep(std::time::Duration::from_millis(500));
    let stream = dir.join("sd-10.0.mig");
    let reply = src.migrate_to_file(&stream).unwrap();
    assert_eq!(reply["status"], "completed", "{reply}");
    drop(src);
    let enable = |file: &std::path::Path| {
        let o = Command::new(env!("CARGO_BIN_EXE_vmstate"))
            .args(["dump", "--json"])
            .arg(file)
            .output()
            .unwrap();
        let tree: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let sections = tree["sections"].as_array().unwrap();
        let card = sections.iter().find(|s| s["idstr"] == "sd-card").unwrap();
        (
            card["value"]["enable"].clone(),
            card["value"]["unused[1]"].clone(),
        )
    };
    assert_eq!(enable(&stream), (serde_json::Value::Null, json!("00")));

    let translated = dir.join("sd-7.2.mig");
    let o = translate("7.2", &stream, &translated);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let said = String::from_utf8_lossy(&o.stderr);
    assert!(said.contains("sd-card#0: enabled"), "{said}");
    assert_eq!(enable(&translated), (json!(true), serde_json::Value::Null));
    let incoming = [&sd[..], &["-incoming", "defer"]].concat();
    let mut dst = Peer::on_7_2(Release::Qemu7_2).start(&dir, "sd-dst", 32, &incoming);
    assert_eq!(dst.incoming_from_file(&translated), "completed");
    dst.execute("cont", json!({})).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let status = dst.execute("query-status", json!({})).unwrap();
    assert_eq!(status["status"], "running", "{status}");
}
