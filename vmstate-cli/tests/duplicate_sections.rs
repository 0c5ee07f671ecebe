//! A device section QEMU sends more than once under one idstr and instance:
//! QEMU 7.2 registers every `-netdev user` as `slirp` instance 0 (10.0 numbers
//! them), so a 7.2 VM with two user networks sends `slirp#0` twice, and its
//! vmdesc describes both, in stream order. QEMU loads such a stream (its loader
//! takes the first registered entry of that name each time); `vmstate dump`
//! shows both sections, each with its own description, and `convert` takes the
//! stream to BER and back to QEMU's bytes. Before, dump said `section slirp#0
//! sent twice` and convert `vmdesc describes slirp (0) twice` (issue 27).
//!
//! `scripts/test.sh` sets `VMSTATE_REQUIRE_QEMU=1`; a plain `cargo test` without
//! QEMU skips with a note.

mod common;

use common::tmp;
use std::process::{Command, Output};
use vmstate_test_support::qmp::{Peer, Release};

fn vmstate(name: &str, args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
    let o = Command::new(env!("CARGO_BIN_EXE_vmstate"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{name}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

#[test]
fn a_device_section_sent_twice_dumps_and_converts_exactly() {
    let peer = Peer::on_7_2(Release::Qemu7_2);
    if !peer.release.available() {
        return;
    }
    let name = "slirp-twice-7.2";
    let file = tmp(&format!("{name}.mig"));
    let args = [
        "-S",
        "-netdev",
        "user,id=n0",
        "-device",
        "e1000,netdev=n0",
        "-netdev",
        "user,id=n1",
        "-device",
        "e1000,netdev=n1",
    ];
    let mut q = peer.start(&tmp(""), name, 32, &args);
    q.migrate_to_file(&file).unwrap();
    drop(q);
    let o = vmstate(name, &[&"dump", &"--json", &file]);
    let tree: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let slirps: Vec<&serde_json::Value> = tree["sections"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["idstr"] == "slirp")
        .collect();
    assert_eq!(slirps.len(), 2, "{name}: slirp#0 twice");
    assert!(
        slirps
            .iter()
            .all(|s| s["instance_id"] == 0 && s["value"].is_object()),
        "{name}: {slirps:?}"
    );
    let (ber, back) = (tmp(&format!("{name}.ber")), tmp(&format!("{name}.back")));
    vmstate(name, &[&"convert", &"--to", &"ber", &file, &ber]);
    vmstate(name, &[&"convert", &"--to", &"legacy", &ber, &back]);
    assert!(
        std::fs::read(&back).unwrap() == std::fs::read(&file).unwrap(),
        "{name}: BER and back to other bytes"
    );
    // The BER form reads as the same tree.
    let o = vmstate(name, &[&"dump", &"--json", &ber]);
    let from_ber: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(from_ber["sections"], tree["sections"], "{name}");
}
