//! A real XBZRLE migration of QEMU 7.2 and 10.0: the counter guest keeps writing
//! 1024 pages while it migrates with the `xbzrle` capability, held in pre-copy
//! (a downtime limit it cannot meet) until QEMU has sent pages as XBZRLE deltas,
//! then let complete. The captured stream must hold XBZRLE pages; `vmstate dump
//! --ram` and the RAM loader must rebuild the guest's memory as the source holds
//! it at the end (`pmemsave`), and the stream must convert to BER and back to the
//! same bytes.
//!
//! `scripts/test.sh` sets `VMSTATE_REQUIRE_QEMU=1`; a plain `cargo test` without
//! QEMU skips with a note.

mod common;

use common::{
    destination_and_bridges, kernel_file, runs, set_migration, start_guest, tmp, wait_filled,
};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::io::Read;
use std::net::TcpListener;
use std::process::Command;
use std::time::{Duration, Instant};
use vmstate_runtime::dump::{self, RamParts};
use vmstate_runtime::ram::RamRecord;
use vmstate_runtime::Format;
use vmstate_test_support::qmp::{Peer, Qemu};
use vmstate_test_support::testing::ram_of;

const RAM_MIB: u32 = 32;

/// Migrates `s` to `uri` with XBZRLE: held in pre-copy by a downtime limit it
/// cannot meet (the pages the guest writes go again and again, from the second
/// pass on as XBZRLE deltas) until QEMU has sent XBZRLE pages, then let complete.
fn migrate_with_xbzrle(s: &mut Qemu, uri: &str, name: &str) {
    set_migration(
        s,
        &["xbzrle"],
        &json!({ "downtime-limit": 1, "max-bandwidth": 256u64 << 20 }),
    );
    s.execute("migrate", json!({ "uri": uri })).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = s.execute("query-migrate", json!({})).unwrap();
        let ended = matches!(
            r["status"].as_str(),
            Some("completed" | "failed" | "cancelled")
        );
        if r["xbzrle-cache"]["pages"].as_u64().unwrap_or(0) > 0 || ended {
            break;
        }
        assert!(Instant::now() < deadline, "{name}: no XBZRLE pages: {r}");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Still iterating, or done already (the guest's writes may fit the limit).
    let _ = s.execute(
        "migrate-set-parameters",
        json!({ "downtime-limit": 20000, "max-bandwidth": 4u64 << 30 }),
    );
    let (status, reply) = s.wait_migration().unwrap();
    assert_eq!(status, "completed", "{name}: {reply}");
}

/// Migrates the running counter guest of `peer` with XBZRLE into a listener;
/// returns the stream and the digest of the source's RAM once it completed.
fn capture(peer: Peer) -> (Vec<u8>, Vec<u8>) {
    let kernel = kernel_file(RAM_MIB);
    let name = format!("xbzrle-{}", peer.release.version());
    let mut s = start_guest(peer, &name, RAM_MIB, &kernel, &[]);
    wait_filled(&mut s, RAM_MIB);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let reader = std::thread::spawn(move || {
        let (mut c, _) = listener.accept().unwrap();
        c.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
        let mut bytes = Vec::new();
        let _ = c.read_to_end(&mut bytes);
        bytes
    });
    migrate_with_xbzrle(&mut s, &format!("tcp:127.0.0.1:{port}"), &name);
    // The source is paused now: its RAM is what the stream leaves.
    let ram = u64::from(RAM_MIB) << 20;
    let digest = s.memory_digests(&[(0, ram)]).unwrap().remove(0);
    drop(s);
    (reader.join().unwrap(), digest)
}

#[test]
fn an_xbzrle_migration_dumps_loads_and_converts_exactly() {
    for peer in Peer::NEWEST.into_iter().filter(|p| p.release.available()) {
        let v = peer.release.version();
        let (stream, digest) = capture(peer);
        let mut xbzrle = 0;
        let tree = dump::from_bytes_with(
            &stream,
            RamParts::Summary(&mut |r| {
                xbzrle += u64::from(matches!(r, RamRecord::Xbzrle { .. }));
                Ok(())
            }),
        )
        .unwrap_or_else(|e| panic!("{v}: {e}"));
        assert!(xbzrle > 0, "{v}: no XBZRLE page in the stream");
        let summed: u64 = tree["sections"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|s| s["ram_summary"]["xbzrle_pages"].as_u64())
            .sum();
        assert_eq!(summed, xbzrle, "{v}");

        // The RAM loader, from the stream's parts in order.
        let blocks = ram_of(&stream).unwrap();
        let pc = &blocks.iter().find(|(n, _)| n == "pc.ram").unwrap().1;
        assert_eq!(Sha256::digest(pc).to_vec(), digest, "{v}: the loader");

        // `vmstate dump --ram`, block files written page by page.
        let file = tmp(&format!("xbzrle-{v}.mig"));
        std::fs::write(&file, &stream).unwrap();
        let dir = tmp(&format!("xbzrle-{v}-ram"));
        let _ = std::fs::remove_dir_all(&dir);
        let o = Command::new(env!("CARGO_BIN_EXE_vmstate"))
            .args(["dump", "--ram"])
            .args([&dir, &file])
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{v}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let image = std::fs::read(dir.join("pc.ram.bin")).unwrap();
        assert_eq!(Sha256::digest(&image).to_vec(), digest, "{v}: dump --ram");

        // To BER and back, the same bytes; the BER stream loads to the same RAM.
        let ber = dump::convert(&stream, Format::Ber).unwrap();
        assert!(
            dump::convert(&ber, Format::Legacy).unwrap() == stream,
            "{v}"
        );
        let tree_back = dump::to_bytes(&dump::from_bytes(&stream).unwrap(), Format::Legacy);
        assert!(tree_back.unwrap() == stream, "{v}: through the full tree");
    }
}

/// A live XBZRLE migration through two bridges (BER between them): the
/// destination completes with the source's RAM and runs on.
#[test]
fn an_xbzrle_migration_passes_through_two_bridges() {
    for peer in Peer::NEWEST.into_iter().filter(|p| p.release.available()) {
        let v = peer.release.version();
        let name = format!("xbzrle-bridge-{v}");
        let kernel = kernel_file(RAM_MIB);
        let mut s = start_guest(peer, &name, RAM_MIB, &kernel, &[]);
        wait_filled(&mut s, RAM_MIB);
        let (mut d, to_ber, to_legacy, addr) =
            destination_and_bridges(peer, &name, RAM_MIB, &kernel, &["-S"], &["xbzrle"]);
        migrate_with_xbzrle(&mut s, &addr, &name);
        let (ok_ber, ber_log) = to_ber.wait();
        let (ok_legacy, legacy_log) = to_legacy.wait();
        assert!(ok_ber && ok_legacy, "{name}: {ber_log} / {legacy_log}");
        let (status, reply) = d.wait_migration().unwrap();
        assert_eq!(status, "completed", "{name}: destination: {reply}");
        let xbzrle = s.execute("query-migrate", json!({})).unwrap()["xbzrle-cache"]["pages"]
            .as_u64()
            .unwrap_or(0);
        assert!(xbzrle > 0, "{name}: no XBZRLE page went through");
        // Both stopped: the same RAM (below the VGA window, above the BIOS area).
        let ram = [(0, 0xA_0000), (0x10_0000, u64::from(RAM_MIB) << 20)];
        assert_eq!(
            s.memory_digests(&ram).unwrap(),
            d.memory_digests(&ram).unwrap(),
            "{name}"
        );
        d.execute("cont", json!({})).unwrap();
        assert!(runs(&mut d), "{name}: the destination runs on");
    }
}
