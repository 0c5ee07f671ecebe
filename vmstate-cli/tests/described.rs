//! QEMU's own streams without a vmdesc trailer (`-machine suppress-vmdesc=on`),
//! on 7.2 and 10.0: the same VM (machine, memory, devices) saved by two QEMUs
//! that never ran it, the first with its trailer, the second without (QEMU does
//! not migrate a guest twice, and each QEMU's RTC starts from the host clock, so
//! the values differ where the layout does not). `vmstate dump` of the second
//! names what it lacks and the way out; with `--describe-with` the first, it
//! dumps, and converts to BER and back to QEMU's bytes.
//!
//! `scripts/test.sh` sets `VMSTATE_REQUIRE_QEMU=1`; a plain `cargo test` without
//! QEMU skips with a note.

mod common;

use common::tmp;
use std::process::{Command, Output};
use vmstate_test_support::qmp::Peer;

fn vmstate(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vmstate"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn a_stream_saved_without_its_trailer_reads_with_a_borrowed_description() {
    for peer in Peer::NEWEST.into_iter().filter(|p| p.release.available()) {
        let name = format!("no-vmdesc-{}", peer.release.version());
        let (described, bare) = (tmp(&format!("{name}-a.mig")), tmp(&format!("{name}-b.mig")));
        let devices = [
            "-S",
            "-device",
            "isa-serial,chardev=s0",
            "-chardev",
            "null,id=s0",
        ];
        let mut q = peer.start(&tmp(""), &format!("{name}-a"), 32, &devices);
        q.migrate_to_file(&described).unwrap();
        let mut bare_args = devices.to_vec();
        bare_args.extend(["-machine", "suppress-vmdesc=on"]);
        let mut q = peer.start(&tmp(""), &format!("{name}-b"), 32, &bare_args);
        q.migrate_to_file(&bare).unwrap();
        drop(q);
        let (a, b) = (
            std::fs::read(&described).unwrap(),
            std::fs::read(&bare).unwrap(),
        );
        let (at, _) = vmstate_runtime::framing::legacy::find_trailer(&a, 0).unwrap();
        assert_eq!(b.len(), at, "{name}: the same layout, without the trailer");
        assert_eq!(b.last(), Some(&0), "{name}: ends at EOF");

        let o = vmstate(&[&"dump", &bare]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{name}");
        assert!(
            err.contains("suppress-vmdesc=on") && err.contains("--describe-with"),
            "{name}: {err}"
        );
        let o = vmstate(&[&"dump", &"--describe-with", &described, &bare]);
        assert!(
            o.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(String::from_utf8_lossy(&o.stdout).contains("mc146818rtc"));
        let (ber, back) = (tmp(&format!("{name}.ber")), tmp(&format!("{name}.back")));
        let o = vmstate(&[
            &"convert",
            &"--to",
            &"ber",
            &"--describe-with",
            &described,
            &bare,
            &ber,
        ]);
        assert!(
            o.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let o = vmstate(&[&"convert", &"--to", &"legacy", &ber, &back]);
        assert!(
            o.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(std::fs::read(&back).unwrap() == b, "{name}: BER and back");
    }
}
