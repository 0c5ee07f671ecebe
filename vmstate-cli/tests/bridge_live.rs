//! Live migrations of a running guest between two unmodified QEMUs with BER on the
//! wire: `QEMU -> vmstate bridge --to ber -> TCP -> vmstate bridge --to legacy ->
//! QEMU -incoming`, over loopback. The guest ([`counter_guest`]) keeps writing
//! its memory, so RAM parts repeat while it runs. The destination completes;
//! after the source stopped, `pmemsave` of both sides is equal; the destination
//! runs on. For each release on its newest i440FX machine, and from QEMU 7.2 into
//! QEMU 10.0 (`-M pc-i440fx-7.2`). A bridge killed mid-migration makes the
//! destination fail its incoming migration: it exits with an error, never runs a
//! half-loaded guest.
//!
//! `scripts/test.sh` installs both QEMUs and sets `VMSTATE_REQUIRE_QEMU=1`; a plain
//! `cargo test` without them skips with a note.

mod common;

use common::{kernel_file, start_guest, wait_filled, Bridge};
use serde_json::json;
use std::path::Path;
use std::time::Duration;
use vmstate_test_support::counter_guest::{FIRST, HOT_END};
use vmstate_test_support::qmp::{Peer, Qemu, Release};

/// Guest RAM: enough pages that a migration takes many parts, small enough for CI.
const RAM_MIB: u32 = 256;

/// A guest of this test: the counter kernel in `RAM_MIB` MiB.
fn start(peer: Peer, name: &str, kernel: &Path, extra: &[&str]) -> Qemu {
    start_guest(peer, name, RAM_MIB, kernel, extra)
}

/// A destination paused after it loads (`-S`), and the bridges into it (the
/// one into BER given `ber_args`).
fn destination_and_bridges(
    dst: Peer,
    name: &str,
    kernel: &Path,
    ber_args: &[&str],
) -> (Qemu, Bridge, Bridge, String) {
    let no_capabilities = (&[][..], &json!({}));
    common::destination_and_bridges(
        dst,
        name,
        RAM_MIB,
        kernel,
        &["-S"],
        no_capabilities,
        ber_args,
    )
}

/// The number `back` words before `word` in a bridge's summary (`N pages in M
/// RAM parts`, `X MiB in, Y MiB out`).
fn number_before(summary: &str, word: &str, back: usize) -> f64 {
    let words: Vec<&str> = summary.split_whitespace().collect();
    let i = words
        .iter()
        .position(|x| x.trim_end_matches(',') == word)
        .unwrap();
    words[i - back].parse().unwrap()
}

/// `N pages in M RAM parts` from a bridge's summary.
fn pages_and_parts(summary: &str) -> (u64, u64) {
    let n = |w| number_before(summary, w, 1) as u64;
    (n("pages"), n("RAM"))
}

/// `X MiB in, Y MiB out` from a bridge's summary.
fn mib_in_and_out(summary: &str) -> (f64, f64) {
    (
        number_before(summary, "in", 2),
        number_before(summary, "out", 2),
    )
}

/// Migrates a running guest from `src` to `dst` through two bridges, the one
/// into BER given `ber_args`; returns both bridges' summaries (source side first).
fn migrate_through_bridges(
    src: Peer,
    dst: Peer,
    name: &str,
    ber_args: &[&str],
) -> (String, String) {
    let kernel = kernel_file(RAM_MIB);
    let mut s = start(src, &format!("{name}-src"), &kernel, &[]);
    wait_filled(&mut s, RAM_MIB);
    let (mut d, to_ber, to_legacy, addr) = destination_and_bridges(dst, name, &kernel, ber_args);
    s.execute(
        "migrate-set-parameters",
        json!({ "max-bandwidth": 8u64 << 30 }),
    )
    .unwrap();
    let counter = s.read_u32(FIRST + 4).unwrap();
    s.execute("migrate", json!({ "uri": addr })).unwrap();
    let (status, reply) = s.wait_migration().unwrap();
    assert_eq!(status, "completed", "{name}: source: {reply}");
    let (ok_ber, ber_log) = to_ber.wait();
    let (ok_legacy, legacy_log) = to_legacy.wait();
    assert!(ok_ber && ok_legacy, "{name}: {ber_log} / {legacy_log}");
    eprintln!("{name}: to BER: {ber_log}{name}: to legacy: {legacy_log}");
    let (status, reply) = d.wait_migration().unwrap();
    assert_eq!(status, "completed", "{name}: destination: {reply}");
    // The guest ran during the migration: its counters moved, and the pages it
    // kept writing went again, in parts after the first pass.
    assert_ne!(
        s.read_u32(FIRST + 4).unwrap(),
        counter,
        "{name}: the guest ran"
    );
    let (pages, parts) = pages_and_parts(&ber_log);
    let guest_pages = u64::from(RAM_MIB) << 8;
    assert!(pages > guest_pages && parts > 3, "{name}: {ber_log}");
    assert_eq!(pages_and_parts(&legacy_log), (pages, parts), "{name}");
    // Both sides stopped: the same RAM, by QEMU's own pmemsave (below the VGA
    // window and above the BIOS area, where guest-physical addresses are RAM).
    assert_eq!(d.status().unwrap(), "paused", "{name}");
    let ram = [(0, 0xA_0000), (0x10_0000, u64::from(RAM_MIB) << 20)];
    assert!(
        s.memory_digests(&ram).unwrap() == d.memory_digests(&ram).unwrap(),
        "{name}: guest memory differs"
    );
    // The destination runs the guest on.
    let counter = d.read_u32(FIRST + 4).unwrap();
    d.execute("cont", json!({})).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(d.status().unwrap(), "running", "{name}");
    assert_ne!(
        d.read_u32(FIRST + 4).unwrap(),
        counter,
        "{name}: the guest runs"
    );
    assert_ne!(d.read_u32(HOT_END - 4096 + 4).unwrap(), 0, "{name}");
    // Exactly one guest runs: the source stays stopped after its migration.
    assert_ne!(s.status().unwrap(), "running", "{name}: two guests run");
    (ber_log, legacy_log)
}

#[test]
fn a_running_guest_migrates_through_two_bridges_with_ber_on_the_wire() {
    for peer in Peer::NEWEST.into_iter().filter(|p| p.release.available()) {
        migrate_through_bridges(peer, peer, &format!("live-{}", peer.release.version()), &[]);
    }
}

/// `--compress` on the BER leg: the same guest arrives whole (pmemsave equal on
/// both sides, the destination runs on), the far bridge takes in what the near
/// one sent, and that is a fraction of the legacy stream it read (the counter
/// guest's pages are a pattern that zstd takes to a few percent).
#[test]
fn a_running_guest_migrates_through_compressing_bridges() {
    for peer in Peer::NEWEST.into_iter().filter(|p| p.release.available()) {
        let name = format!("live-compressed-{}", peer.release.version());
        let (ber_log, legacy_log) = migrate_through_bridges(peer, peer, &name, &["--compress"]);
        let (legacy_in, ber_out) = mib_in_and_out(&ber_log);
        let (ber_in, legacy_out) = mib_in_and_out(&legacy_log);
        assert_eq!(ber_in, ber_out, "{name}: {ber_log} / {legacy_log}");
        assert!(
            ber_out < legacy_in / 4.0,
            "{name}: not compressed: {ber_log}"
        );
        // The far bridge wrote QEMU a stream as large as the source's (the same
        // pages and devices; only QEMU's own framing of repeated blocks may differ).
        assert!(
            (legacy_out - legacy_in).abs() < legacy_in / 20.0,
            "{name}: {legacy_log}"
        );
    }
}

#[test]
fn a_running_guest_crosses_from_qemu_7_2_to_10_0_through_the_bridges() {
    let (old, new) = (
        Peer::on_7_2(Release::Qemu7_2),
        Peer::on_7_2(Release::Qemu10_0),
    );
    if old.release.available() && new.release.available() {
        migrate_through_bridges(old, new, "cross-7.2-10.0", &[]);
    }
}

#[test]
fn a_bridge_killed_mid_migration_fails_the_destination_cleanly() {
    let peer = Peer::NEWEST[0];
    if !peer.release.available() {
        return;
    }
    let kernel = kernel_file(RAM_MIB);
    let mut s = start(peer, "killed-src", &kernel, &[]);
    wait_filled(&mut s, RAM_MIB);
    let (mut d, mut to_ber, to_legacy, addr) =
        destination_and_bridges(peer, "killed", &kernel, &[]);
    // Slow enough to be cut in the middle of the first pass.
    s.execute(
        "migrate-set-parameters",
        json!({ "max-bandwidth": 32u64 << 20 }),
    )
    .unwrap();
    s.execute("migrate", json!({ "uri": addr })).unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    to_ber.child.kill().unwrap();
    let (ok, log) = to_legacy.wait();
    assert!(!ok, "the bridge into the destination must fail: {log}");
    assert!(
        log.contains("at byte") && log.contains("unexpected end of input"),
        "it names where its input ended: {log}"
    );
    let exit = d.wait_exit(Duration::from_secs(30));
    assert!(
        exit.is_some_and(|e| !e.success()),
        "the destination must fail its incoming migration: {exit:?}"
    );
    let (status, _) = s.wait_migration().unwrap();
    assert_eq!(status, "failed", "the source sees its migration fail");
    assert_eq!(s.status().unwrap(), "running", "the source guest runs on");
}
