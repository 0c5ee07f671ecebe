//! Live migration of a running KVM guest (`vmstate_test_support::kvm_live`), source and
//! destination in one process over loopback TCP, in both formats: the registry's
//! live save sends every page, then at least three dirty-log rounds while the guest
//! runs, then stops it and completes; the destination loads the stream as it arrives
//! and its guest continues exactly where the source's stopped. `scripts/test.sh` sets
//! `VMSTATE_REQUIRE_KVM=1`.

#![cfg(all(target_os = "linux", target_arch = "x86_64"))]

use std::net::TcpListener;
use vmstate_runtime::Format;
use vmstate_test_support::kvm_live;

#[test]
fn a_running_guest_migrates_live_in_both_formats() {
    if !vmstate_test_support::testing::kvm_available() {
        return;
    }
    for format in [Format::Legacy, Format::Ber] {
        let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let destination = std::thread::spawn(move || kvm_live::destination(listener, 500));
        let bar = indicatif::ProgressBar::hidden();
        let m = kvm_live::source(port, format, 3, &bar).unwrap();
        let after = destination.join().unwrap().unwrap();
        // Every page first, three dirty rounds or more, then the stop-and-copy part.
        assert!(m.parts.len() >= 5, "{format:?}: {:?}", m.parts);
        assert_eq!(
            m.parts[0].0, 256,
            "{format:?}: the first pass has every page"
        );
        assert!(
            !m.before.is_empty(),
            "{format:?}: the guest ran during the rounds"
        );
        assert_eq!(after.len(), 500);
        assert!(
            kvm_live::continues_exactly(&m.before, &after).unwrap(),
            "{format:?}: the destination diverged"
        );
    }
}
