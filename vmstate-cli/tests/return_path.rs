//! The return path through two bridges (BER between them), live with real QEMU
//! 7.2 and 10.0: `return-path` (both releases) and `switchover-ack` (10.0, with
//! the return path it needs), as libvirt turns them on. The destination's
//! messages (`SHUT` at the end, `SWITCHOVER_ACK` before the source stops its
//! guest) travel back through both bridges, converted to BER and back; the source
//! completes, the destination completes with the source's RAM and runs on, and
//! exactly one guest runs.
//!
//! `scripts/test.sh` sets `VMSTATE_REQUIRE_QEMU=1`; a plain `cargo test` without
//! QEMU skips with a note.

mod common;

use common::{
    destination_and_bridges, dump_ram, hand_over, kernel_file, start_guest, tmp, wait_filled,
    Scratch,
};
use serde_json::json;
use vmstate_test_support::qmp::{Peer, Release};

const RAM_MIB: u32 = 32;

#[test]
fn the_return_path_travels_back_through_two_bridges() {
    for peer in Peer::NEWEST.into_iter().filter(|p| p.release.available()) {
        let mut cases: Vec<&[&str]> = vec![&["return-path"]];
        if peer.release == Release::Qemu10_0 {
            cases.push(&["return-path", "switchover-ack"]);
        }
        for capabilities in cases {
            let name = format!("rp-{}-{}", capabilities.join("+"), peer.release.version());
            let kernel = kernel_file(RAM_MIB);
            let mut s = start_guest(peer, &name, RAM_MIB, &kernel, &[]);
            wait_filled(&mut s, RAM_MIB);
            let tap = tmp(&format!("{name}.tap"));
            let _scratch_tap = Scratch(vec![tap.clone()]);
            let (mut d, to_ber, to_legacy, addr) = destination_and_bridges(
                peer,
                &name,
                RAM_MIB,
                &kernel,
                &["-S"],
                (capabilities, &json!({})),
                &["--tap", tap.to_str().unwrap()],
            );
            s.migrate_with(&addr, capabilities, json!({}))
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            let (ok_ber, ber_log) = to_ber.wait();
            let (ok_legacy, legacy_log) = to_legacy.wait();
            assert!(ok_ber && ok_legacy, "{name}: {ber_log} / {legacy_log}");
            // SHUT at least, and SWITCHOVER_ACK with switchover-ack, both ways.
            let least = capabilities.len();
            for log in [&ber_log, &legacy_log] {
                let n: usize = log
                    .split(" return-path messages")
                    .next()
                    .and_then(|head| head.rsplit(", ").next())
                    .and_then(|n| n.parse().ok())
                    .unwrap_or_else(|| panic!("{name}: {log}"));
                assert!(n >= least, "{name}: {log}");
            }
            let (status, reply) = d.wait_migration().unwrap();
            assert_eq!(status, "completed", "{name}: destination: {reply}");
            hand_over(&mut s, &mut d, RAM_MIB, &name);
            // The source's stream as the first bridge kept it: the command that
            // opened the return path in the tree, and the RAM whole.
            let (o, _) = dump_ram(&format!("{name}-tap"), &std::fs::read(&tap).unwrap());
            let text = String::from_utf8_lossy(&o.stdout);
            assert!(o.status.success(), "{name}: {o:?}");
            assert!(
                text.contains("command OPEN_RETURN_PATH (1)"),
                "{name}: {text}"
            );
        }
    }
}
