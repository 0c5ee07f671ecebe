//! A bridge never leaves two running guests. Live, with real QEMU 7.2 and 10.0
//! through two bridges (BER between them), the guests counted by QMP
//! `query-status` of both QEMUs afterwards:
//!
//! - a migration that needs more than the bridges carry (COLO, whose
//!   `ENABLE_COLO` comes before any RAM) is refused: the source's migration
//!   fails, its guest runs on, the destination never runs, and the bridge names
//!   what it refused (`return_path.rs`, `postcopy.rs` and `multifd_bridge.rs`
//!   carry the return path, postcopy and multifd);
//! - a bridge killed at several points of a plain migration, down to the moment
//!   the destination has the last byte: at most one guest runs, and where none
//!   does, the source is paused after a completed migration (`postmigrate`) and
//!   `cont` takes its guest back.
//!
//! The destinations start without `-S`: one that completed would run at once.
//! `scripts/test.sh` sets `VMSTATE_REQUIRE_QEMU=1`; a plain `cargo test` without
//! QEMU skips with a note.

mod common;

use common::{destination_and_bridges, kernel_file, runs, start_guest, wait_filled};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use vmstate_test_support::counter_guest::FIRST;
use vmstate_test_support::qmp::{Peer, Qemu};

/// Small guests: what is counted is who runs, not how much moved.
const RAM_MIB: u32 = 64;

/// A migration QEMU users turn on that a bridge cannot carry.
struct Case {
    name: &'static str,
    capabilities: &'static [&'static str],
    parameters: Value,
    /// What the source-side bridge's refusal names.
    named: &'static str,
}

fn cases() -> Vec<Case> {
    vec![Case {
        name: "colo",
        capabilities: &["x-colo"],
        parameters: json!({}),
        // Sent right after the header, before any RAM.
        named: "command ENABLE_COLO (8), from the migration capability x-colo, is not supported",
    }]
}

/// The guest's counter, read twice a little apart: whether it moved.
fn counter_moves(q: &mut Qemu) -> bool {
    let before = q.read_u32(FIRST + 4).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    q.read_u32(FIRST + 4).unwrap() != before
}

/// A source guest, filled, with `capabilities` and `parameters` set; a destination
/// with the same capabilities (as libvirt sets them), and the bridges.
fn setup(
    peer: Peer,
    name: &str,
    capabilities: &[&str],
    parameters: &Value,
) -> (Qemu, Qemu, common::Bridge, common::Bridge, String) {
    let kernel = kernel_file(RAM_MIB);
    let mut s = start_guest(peer, &format!("{name}-src"), RAM_MIB, &kernel, &[]);
    wait_filled(&mut s, RAM_MIB);
    s.set_migration(capabilities, parameters).unwrap();
    let (d, to_ber, to_legacy, addr) = destination_and_bridges(
        peer,
        name,
        RAM_MIB,
        &kernel,
        &[],
        (capabilities, parameters),
        &[],
    );
    (s, d, to_ber, to_legacy, addr)
}

/// The end of a refused migration: the bridge into the destination fails, the
/// destination fails its incoming migration and exits (one waiting for its
/// multifd channels waits on, never running), and exactly one guest runs: the
/// source's, on.
fn source_runs_on(
    name: &str,
    s: &mut Qemu,
    d: &mut Qemu,
    to_legacy: common::Bridge,
    reply: &Value,
) {
    let (ok, log) = to_legacy.wait();
    assert!(!ok, "{name}: the bridge into the destination fails: {log}");
    match d.wait_exit(Duration::from_secs(10)) {
        Some(exit) => assert!(!exit.success(), "{name}: {exit:?}"),
        None => assert_eq!(d.status().unwrap(), "inmigrate", "{name}"),
    }
    assert!(
        runs(s) && !runs(d),
        "{name}: source {:?}, {reply}",
        s.status()
    );
    assert!(counter_moves(s), "{name}: the source guest runs");
}

#[test]
fn capabilities_the_bridges_cannot_carry_are_refused_with_the_source_running() {
    for peer in Peer::NEWEST.into_iter().filter(|p| p.release.available()) {
        for case in cases() {
            let name = format!("safe-{}-{}", case.name, peer.release.version());
            let (mut s, mut d, to_ber, to_legacy, addr) =
                setup(peer, &name, case.capabilities, &case.parameters);
            s.execute("migrate", json!({ "uri": addr })).unwrap();
            let (status, reply) = s.wait_migration().unwrap();
            assert_eq!(status, "failed", "{name}: source: {reply}");
            let (ok, log) = to_ber.wait();
            assert!(!ok && log.contains(case.named), "{name}: {log}");
            assert!(
                !log.contains("MiB in"),
                "{name}: nothing was converted: {log}"
            );
            source_runs_on(&name, &mut s, &mut d, to_legacy, &reply);
        }
    }
}

/// `postcopy-preempt` opens one more connection that sends nothing until
/// postcopy runs, and no bridge carries it. QEMU 7.2 opens it when the
/// migration starts: the source-side bridge refuses it by name. QEMU 10.0 opens
/// it just before the switch, when a refusal would come too late (its source
/// then stays in `device`, its guest stopped): the bridge stops listening once
/// RAM flows (multifd channels connect before), so the system refuses the
/// connection and the source fails before it stops its guest. Either way the
/// source fails its migration and runs on; the destination never runs. (Before,
/// a 7.2 source was left paused in postcopy and its destination not running.)
#[test]
fn postcopy_preempt_is_refused_before_the_source_stops_its_guest() {
    for peer in Peer::NEWEST.into_iter().filter(|p| p.release.available()) {
        let name = format!("safe-preempt-{}", peer.release.version());
        let capabilities = ["postcopy-ram", "postcopy-preempt"];
        let parameters = json!({ "max-bandwidth": 8u64 << 20 });
        let (mut s, mut d, to_ber, to_legacy, addr) =
            setup(peer, &name, &capabilities, &parameters);
        s.execute("migrate", json!({ "uri": addr })).unwrap();
        std::thread::sleep(Duration::from_millis(500));
        // 7.2's migration may have failed already.
        let _ = s.execute("migrate-start-postcopy", json!({}));
        let (status, reply) = s.wait_migration().unwrap();
        assert_eq!(status, "failed", "{name}: source: {reply}");
        let (ok, log) = to_ber.wait();
        // 7.2: the bridge refused the channel; 10.0: the source could not
        // connect it, which the bridge points at.
        assert!(
            !ok && log.contains("postcopy-preempt channel") && log.contains("postcopy-preempt=off"),
            "{name}: {log} / {reply}"
        );
        source_runs_on(&name, &mut s, &mut d, to_legacy, &reply);
    }
}

/// Where a bridge is killed in a plain migration.
#[derive(Debug, Clone, Copy)]
enum Kill {
    /// The source-side bridge, this long after the migration started.
    SourceSideAfter(u64),
    /// The destination-side bridge, this long after.
    DestinationSideAfter(u64),
    /// The destination-side bridge, the moment the source reports `completed`.
    DestinationSideWhenSourceCompleted,
    /// The source-side bridge, the moment the destination reports `completed`:
    /// it has received the last byte.
    SourceSideWhenDestinationCompleted,
}

/// Polls `query-migrate` of `q` every 2 ms until it leaves the active states.
fn poll_until_done(q: &mut Qemu) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let r = q.execute("query-migrate", json!({})).unwrap_or_default();
        if matches!(
            r["status"].as_str(),
            Some("completed" | "failed" | "cancelled")
        ) {
            return;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn a_bridge_killed_anywhere_never_leaves_two_running_guests() {
    for peer in Peer::NEWEST.into_iter().filter(|p| p.release.available()) {
        for kill in [
            Kill::SourceSideAfter(300),
            Kill::DestinationSideAfter(1000),
            Kill::DestinationSideWhenSourceCompleted,
            Kill::SourceSideWhenDestinationCompleted,
        ] {
            let name = format!("kill-{kill:?}-{}", peer.release.version());
            // Slow enough that the early kills fall inside the first pass.
            let (mut s, mut d, mut to_ber, mut to_legacy, addr) =
                setup(peer, &name, &[], &json!({ "max-bandwidth": 32u64 << 20 }));
            s.execute("migrate", json!({ "uri": addr })).unwrap();
            match kill {
                Kill::SourceSideAfter(ms) => {
                    std::thread::sleep(Duration::from_millis(ms));
                    let _ = to_ber.child.kill();
                }
                Kill::DestinationSideAfter(ms) => {
                    std::thread::sleep(Duration::from_millis(ms));
                    let _ = to_legacy.child.kill();
                }
                Kill::DestinationSideWhenSourceCompleted => {
                    poll_until_done(&mut s);
                    let _ = to_legacy.child.kill();
                }
                Kill::SourceSideWhenDestinationCompleted => {
                    poll_until_done(&mut d);
                    let _ = to_ber.child.kill();
                }
            }
            let (source, _) = s.wait_migration().unwrap();
            let _ = to_ber.child.kill();
            let _ = to_legacy.child.kill();
            // The destination either exits (failed) or completed and runs.
            let _ = d.wait_exit(Duration::from_secs(10));
            std::thread::sleep(Duration::from_millis(300));
            let (src_runs, dst_runs) = (runs(&mut s), runs(&mut d));
            assert!(!(src_runs && dst_runs), "{name}: two running guests");
            if dst_runs {
                assert_eq!(source, "completed", "{name}");
                assert_eq!(s.status().unwrap(), "postmigrate", "{name}");
            } else if !src_runs {
                // Neither runs: the source completed into a destination that did
                // not; it holds the guest, paused, and takes it back.
                assert_eq!(s.status().unwrap(), "postmigrate", "{name}");
                s.execute("cont", json!({})).unwrap();
                assert!(
                    counter_moves(&mut s),
                    "{name}: the source takes its guest back"
                );
            } else {
                assert_eq!(source, "failed", "{name}");
                assert!(counter_moves(&mut s), "{name}");
            }
            eprintln!(
                "{name}: source {source}, running: source {src_runs}, destination {dst_runs}"
            );
        }
    }
}
