//! multifd through two bridges (BER between them), live with real QEMU 7.2 and
//! 10.0, 2 and 4 channels, uncompressed, zlib and zstd (carried as QEMU
//! compressed them), while the guest writes its memory: each bridge takes
//! the source's main channel and every channel connection, opens one to the next
//! hop for each, and converts each channel to BER and back as its packets arrive.
//! The source completes, the destination completes with the source's RAM and runs
//! on, and exactly one guest runs. Each bridge counts the channels' pages in and
//! says no page is missing; the first bridge's taps (the main channel and each
//! channel beside it) dump to the guest's RAM as the destination holds it (zlib
//! and zstd pages unpacked as QEMU's receiver does).
//!
//! `scripts/test.sh` sets `VMSTATE_REQUIRE_QEMU=1`; a plain `cargo test` without
//! QEMU skips with a note.

mod common;

use common::{
    destination_and_bridges, hand_over, kernel_file, start_guest, tmp, wait_filled, Scratch,
};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::process::Command;
use vmstate_test_support::qmp::Peer;

const RAM_MIB: u32 = 32;

#[test]
fn multifd_passes_through_two_bridges() {
    for peer in Peer::NEWEST.into_iter().filter(|p| p.release.available()) {
        for (n, compression) in [(2, "none"), (4, "none"), (2, "zlib"), (2, "zstd")] {
            through_bridges(peer, n, compression);
        }
    }
}

fn through_bridges(peer: Peer, n: usize, compression: &str) {
    let name = format!(
        "multifd-bridge-{}-{n}-{compression}",
        peer.release.version()
    );
    let kernel = kernel_file(RAM_MIB);
    let mut s = start_guest(peer, &name, RAM_MIB, &kernel, &[]);
    wait_filled(&mut s, RAM_MIB);
    let tap = tmp(&format!("{name}.tap"));
    let _scratch_tap = Scratch(vec![tap.clone()]);
    let parameters = json!({ "multifd-channels": n, "multifd-compression": compression });
    let (mut d, mut to_ber, mut to_legacy, addr) = destination_and_bridges(
        peer,
        &name,
        RAM_MIB,
        &kernel,
        &["-S"],
        (&["multifd"], &parameters),
        &["--tap", tap.to_str().unwrap()],
    );
    let migrated = s.migrate_with(&addr, &["multifd"], parameters);
    if migrated.is_err() {
        // The bridges' logs say where it stopped.
        let _ = (to_ber.child.kill(), to_legacy.child.kill());
    }
    let (ok_ber, ber_log) = to_ber.wait();
    let (ok_legacy, legacy_log) = to_legacy.wait();
    let logs = format!("{ber_log} / {legacy_log}");
    migrated.unwrap_or_else(|e| panic!("{name}: {e}: {logs}"));
    assert!(ok_ber && ok_legacy, "{name}: {logs}");
    for log in [&ber_log, &legacy_log] {
        assert!(
            log.contains(&format!(", {n} multifd channels")),
            "{name}: every channel carried: {log}"
        );
        assert!(!log.contains("not sent"), "{name}: no page missing: {log}");
    }
    let (status, reply) = d.wait_migration().unwrap();
    assert_eq!(status, "completed", "{name}: destination: {reply}");
    let ram = [(0, 0xA_0000), (0x10_0000, u64::from(RAM_MIB) << 20)];
    let digests = d.memory_digests(&ram).unwrap();
    hand_over(&mut s, &mut d, RAM_MIB, &name);
    // What the first bridge kept: the main channel and a tap beside it for each
    // channel, which load as the destination loaded them.
    let dir = tmp(&format!("{name}-ram"));
    let _scratch_dir = Scratch(vec![dir.clone()]);
    let _ = std::fs::remove_dir_all(&dir);
    let mut dump = Command::new(env!("CARGO_BIN_EXE_vmstate"));
    dump.args(["dump", "--ram"]).arg(&dir);
    for i in 0..n {
        let mut channel = tap.clone().into_os_string();
        channel.push(format!(".channel{i}"));
        dump.arg("--channel").arg(channel);
    }
    let o = dump.arg(&tap).output().unwrap();
    assert!(
        o.status.success(),
        "{name}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let image = std::fs::read(dir.join("pc.ram.bin")).unwrap();
    for (&(start, end), digest) in ram.iter().zip(&digests) {
        let got = Sha256::digest(&image[start as usize..end as usize]).to_vec();
        assert_eq!(&got, digest, "{name}: the taps' RAM [{start:#x}, {end:#x})");
    }
}
