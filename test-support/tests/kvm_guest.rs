//! A real KVM guest saved in one process and restored in another: the guest (a
//! 64-bit program in long mode with paging, whose every step depends on its
//! registers and on memory it wrote 64 steps earlier through a page-table alias) runs
//! N steps, vCPU + VM + RAM go into a stream (both formats), a second process loads
//! it into a fresh VM and runs M more steps: the reports equal an uninterrupted
//! run's. Without the ring's page it diverges; without its page table it cannot run.
//! `scripts/test.sh` sets `VMSTATE_REQUIRE_KVM=1`.

#![cfg(all(target_os = "linux", target_arch = "x86_64"))]

use std::path::PathBuf;
use std::process::Command;

/// `kvm-guest args`: its report lines, or its error output when it fails.
fn try_guest(args: &[&str]) -> Result<Vec<String>, String> {
    let out = Command::new(env!("CARGO_BIN_EXE_kvm-guest"))
        .args(args)
        .output()
        .expect("runs kvm-guest");
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect())
}

fn guest(args: &[&str]) -> Vec<String> {
    try_guest(args).unwrap_or_else(|e| panic!("kvm-guest {args:?}: {e}"))
}

/// The saved stream `file` with the data page at guest-physical `offset` sent as
/// zeros, written beside it as `name`.
fn without_page(file: &std::path::Path, offset: u64, name: &str) -> PathBuf {
    let mut tree = vmstate_runtime::dump::from_bytes(&std::fs::read(file).unwrap()).unwrap();
    let mut hit = 0;
    for sec in tree["sections"].as_array_mut().unwrap() {
        for rec in sec
            .get_mut("ram")
            .and_then(|r| r.as_array_mut())
            .into_iter()
            .flatten()
        {
            if rec["offset"] == offset && rec.get("data").is_some() {
                rec["data"] = "00".repeat(4096).into();
                hit += 1;
            }
        }
    }
    assert_eq!(hit, 1, "page {offset:#x} is one data page");
    let edited = vmstate_runtime::dump::to_bytes(&tree, vmstate_runtime::Format::Legacy).unwrap();
    let path = file.with_file_name(name);
    std::fs::write(&path, edited).unwrap();
    path
}

#[test]
fn a_guest_restored_in_another_process_runs_on_exactly() {
    if !vmstate_test_support::testing::kvm_available() {
        return;
    }
    const N: usize = 700;
    const M: usize = 900;
    let whole = guest(&["run", &(N + M).to_string()]);
    assert_eq!(whole.len(), N + M);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    for format in ["legacy", "ber"] {
        let file = dir.join(format!("kvm-guest.{format}"));
        let file = file.to_str().unwrap();
        let mut split = guest(&["save", &N.to_string(), file, format]);
        split.extend(guest(&["restore", file, &M.to_string()]));
        assert_eq!(split, whole, "{format}: the restored guest diverged");
    }
    // The restored guest depends on the migrated memory: with the ring's page
    // (guest-physical 0x2000) sent as zeros instead, it runs but diverges...
    let saved = dir.join("kvm-guest.legacy");
    let lost = without_page(&saved, 0x2000, "kvm-guest.lost-ring");
    let rest = guest(&["restore", lost.to_str().unwrap(), &M.to_string()]);
    assert_ne!(rest, whole[N..], "a guest without its memory must diverge");
    // ...and on its paging: without its page table (0xb000) it cannot fetch an
    // instruction (the vCPU shuts down).
    let lost = without_page(&saved, 0xb000, "kvm-guest.lost-page-table");
    let e = try_guest(&["restore", lost.to_str().unwrap(), &M.to_string()]).unwrap_err();
    assert!(e.contains("unexpected exit Shutdown"), "{e}");
}
