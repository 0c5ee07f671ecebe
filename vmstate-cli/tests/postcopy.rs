//! Postcopy through two bridges (BER between them), live with real QEMU 7.2 and
//! 10.0, and from 7.2 to 10.0: the counter guest keeps writing while pre-copy
//! moves its RAM (held slow so that the switch comes mid-way), then
//! `migrate-start-postcopy` as libvirt does. The source stops its guest and sends
//! the device state in a `PACKAGED` package (carried as QEMU's bytes); the
//! destination runs from there and faults in the pages it lacks over the return
//! path, which both bridges carry back. Both complete, the destination with the
//! source's RAM, and runs on; exactly one guest runs.
//!
//! `scripts/test.sh` sets `VMSTATE_REQUIRE_QEMU=1`; a plain `cargo test` without
//! QEMU skips with a note.

mod common;

use common::{
    bridges_into, destination_and_bridges, free_port, kernel_file, runs, start_guest, tmp,
    wait_filled, Scratch,
};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};
use vmstate_test_support::counter_guest::FIRST;
use vmstate_test_support::qmp::{Peer, Qemu, Release};

const RAM_MIB: u32 = 32;

/// Polls the source until pre-copy has moved some RAM.
fn wait_for_ram(q: &mut Qemu, name: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = q.execute("query-migrate", json!({})).unwrap();
        if r["ram"]["transferred"]
            .as_u64()
            .is_some_and(|n| n > 1 << 20)
        {
            return;
        }
        assert!(Instant::now() < deadline, "{name}: no RAM moved: {r}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Once pre-copy has moved some RAM, switches the source to postcopy as libvirt
/// does, and waits until it has (its status `postcopy-active`).
fn switch_to_postcopy(s: &mut Qemu, name: &str) {
    wait_for_ram(s, name);
    s.execute("migrate-start-postcopy", json!({})).unwrap();
    wait_status(s, &["active", "device", "setup"], "postcopy-active", name);
}

/// Polls `q`'s migration while its status is one of `passing` (or the one
/// wanted), until it is `wanted`; at most a minute.
fn wait_status(q: &mut Qemu, passing: &[&str], wanted: &str, name: &str) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = q.execute("query-migrate", json!({})).unwrap_or_else(|e| {
            panic!(
                "{name}: {e:?}, exit {:?}",
                q.wait_exit(Duration::from_secs(1))
            )
        });
        let status = r["status"].as_str().unwrap_or("none");
        if status == wanted {
            return r;
        }
        assert!(
            passing.contains(&status) && Instant::now() < deadline,
            "{name}: not {wanted}: {r}"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// The guest's counter (its first counted page's second word), read twice a
/// little apart: whether it moved.
fn counter_moves(q: &mut Qemu) -> bool {
    let before = q.read_u32(FIRST + 4).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    q.read_u32(FIRST + 4).unwrap() != before
}

/// A postcopy migration of the counter guest from `src` to `dst` through the
/// bridges, both QEMUs with `memory` (their RAM's backend, if any). `running`:
/// the destination runs from the switch on (faulting in the pages it writes,
/// `max-postcopy-bandwidth` keeping the rest slow), else it stays paused (`-S`)
/// and both RAMs are compared whole at the end.
fn postcopy_through_bridges(src: Peer, dst: Peer, name: &str, running: bool, memory: &[&str]) {
    let kernel = kernel_file(RAM_MIB);
    let mut s = start_guest(src, name, RAM_MIB, &kernel, memory);
    wait_filled(&mut s, RAM_MIB);
    let mut dst_args = memory.to_vec();
    if !running {
        dst_args.push("-S");
    }
    let tap = tmp(&format!("{name}.tap"));
    let _scratch_tap = Scratch(vec![tap.clone()]);
    let (mut d, to_ber, to_legacy, addr) = destination_and_bridges(
        dst,
        name,
        RAM_MIB,
        &kernel,
        &dst_args,
        (&["postcopy-ram"], &json!({})),
        &["--tap", tap.to_str().unwrap()],
    );
    // 8 MiB/s: a few seconds of pre-copy for 32 MiB, switched after the first;
    // 16 MiB/s of postcopy's own when the destination runs.
    let parameters = match running {
        true => json!({ "max-bandwidth": 8u64 << 20, "max-postcopy-bandwidth": 16u64 << 20 }),
        false => json!({ "max-bandwidth": 8u64 << 20 }),
    };
    s.set_migration(&["postcopy-ram"], &parameters).unwrap();
    s.execute("migrate", json!({ "uri": addr })).unwrap();
    switch_to_postcopy(&mut s, name);
    let (status, reply) = s.wait_migration().unwrap();
    let (ok_ber, ber_log) = to_ber.wait();
    let (ok_legacy, legacy_log) = to_legacy.wait();
    assert_eq!(
        status, "completed",
        "{name}: source: {reply}\n{ber_log}\n{legacy_log}"
    );
    assert!(ok_ber && ok_legacy, "{name}: {ber_log} / {legacy_log}");
    assert!(
        reply["ram"]["postcopy-bytes"].as_u64().unwrap_or(0) > 0,
        "{name}: {reply}"
    );
    let (status, dst_reply) = d.wait_migration().unwrap();
    assert_eq!(status, "completed", "{name}: destination: {dst_reply}");
    if running {
        // It asked for the pages it wrote, through both bridges.
        let requests = reply["ram"]["postcopy-requests"].as_u64().unwrap_or(0);
        assert!(requests > 0, "{name}: no page request came back: {reply}");
        assert!(counter_moves(&mut d), "{name}: the destination runs on");
        // Every page holds its address, as the guest wrote it on the source.
        for page in (FIRST..u64::from(RAM_MIB) << 20).step_by(257 * 4096) {
            assert_eq!(d.read_u32(page).unwrap(), page as u32, "{name}: {page:#x}");
        }
    } else {
        // Both stopped (the source since the switch, the destination by -S).
        let ram = [(0, 0xA_0000), (0x10_0000, u64::from(RAM_MIB) << 20)];
        let digests = s.memory_digests(&ram).unwrap();
        assert_eq!(digests, d.memory_digests(&ram).unwrap(), "{name}");
        d.execute("cont", json!({})).unwrap();
        check_tap(src, name, &kernel, &tap, &ram, &digests);
    }
    assert!(runs(&mut d), "{name}: the destination runs on");
    assert!(!runs(&mut s), "{name}: exactly one guest runs");
}

/// What `vmstate ARGS` prints, asserting that it succeeds.
fn vmstate(name: &str, args: &[&dyn AsRef<std::ffi::OsStr>]) -> Vec<u8> {
    let o = Command::new(env!("CARGO_BIN_EXE_vmstate"))
        .args(args)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "{name}: {err}");
    o.stdout
}

/// The source's stream as the bridge tapped it: QEMU sent no vmdesc, so it is read
/// with the description of another save of the same VM (`--describe-with`); its
/// RAM (`dump --ram`) is the guest's as both QEMUs hold it, the `PACKAGED`
/// package is in the tree as the records it holds, and it converts to BER and
/// back to the same bytes.
fn check_tap(
    src: Peer,
    name: &str,
    kernel: &std::path::Path,
    tap: &std::path::Path,
    ram: &[(u64, u64)],
    digests: &[Vec<u8>],
) {
    let described = tmp(&format!("{name}-described.mig"));
    let _scratch_described = Scratch(vec![described.clone()]);
    let mut q = start_guest(src, &format!("{name}-described"), RAM_MIB, kernel, &["-S"]);
    q.migrate_to_file(&described).unwrap();
    drop(q);
    let dir = tmp(&format!("{name}-ram"));
    let _scratch_dir = Scratch(vec![dir.clone()]);
    let _ = std::fs::remove_dir_all(&dir);
    let text = vmstate(
        name,
        &[
            &"dump",
            &"--ram",
            &dir,
            &"--describe-with",
            &described,
            &tap,
        ],
    );
    let text = String::from_utf8(text).unwrap();
    let packaged = text
        .lines()
        .find(|l| l.starts_with("command PACKAGED (7), data "))
        .unwrap_or_else(|| panic!("{name}: no PACKAGED command: {text}"));
    let announced = u32::from_str_radix(&packaged[27..35], 16).unwrap();
    assert!(
        packaged.ends_with(&format!(", a package of {announced} bytes:")),
        "{name}: {packaged}"
    );
    // The package as the stream it is: QEMU's postcopy_start writes LISTEN, the
    // devices with their fields, PING 3 and RUN into it.
    let package: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.starts_with("command PACKAGED"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter(|l| !l.starts_with("    "))
        .collect();
    assert_eq!(
        package.first(),
        Some(&"  command POSTCOPY_LISTEN (4)"),
        "{name}"
    );
    assert_eq!(
        package.last(),
        Some(&"  command POSTCOPY_RUN (5)"),
        "{name}"
    );
    assert!(
        package
            .iter()
            .any(|l| l.contains("] mc146818rtc#0 version"))
            && package.iter().any(|l| l.contains("] apic#0 version")),
        "{name}: {package:?}"
    );
    let image = std::fs::read(dir.join("pc.ram.bin")).unwrap();
    for (&(start, end), digest) in ram.iter().zip(digests) {
        let got = Sha256::digest(&image[start as usize..end as usize]).to_vec();
        assert_eq!(&got, digest, "{name}: dump --ram [{start:#x}, {end:#x})");
    }
    let (ber, back) = (
        tmp(&format!("{name}-tap.ber")),
        tmp(&format!("{name}-tap.back")),
    );
    vmstate(
        name,
        &[
            &"convert",
            &"--to",
            &"ber",
            &"--describe-with",
            &described,
            &tap,
            &ber,
        ],
    );
    vmstate(name, &[&"convert", &"--to", &"legacy", &ber, &back]);
    assert!(
        std::fs::read(&back).unwrap() == std::fs::read(tap).unwrap(),
        "{name}: the tap through BER and back"
    );
}

#[test]
fn postcopy_passes_through_two_bridges() {
    for peer in Peer::NEWEST.into_iter().filter(|p| p.release.available()) {
        let name = format!("postcopy-{}", peer.release.version());
        postcopy_through_bridges(peer, peer, &name, false, &[]);
    }
}

#[test]
fn a_running_destination_faults_pages_in_through_two_bridges() {
    for peer in Peer::NEWEST.into_iter().filter(|p| p.release.available()) {
        let name = format!("postcopy-faults-{}", peer.release.version());
        postcopy_through_bridges(peer, peer, &name, true, &[]);
    }
}

/// `n` 2 MiB hugepages reserved for the guests (as root, through
/// `/proc/sys/vm/nr_hugepages`), given back as they were when dropped.
struct Hugepages {
    before: u64,
}

const NR_HUGEPAGES: &str = "/proc/sys/vm/nr_hugepages";

fn nr_hugepages() -> u64 {
    std::fs::read_to_string(NR_HUGEPAGES)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

impl Hugepages {
    /// Reserves `n`, or `None` (and a skip note, or a failure under
    /// `VMSTATE_REQUIRE_QEMU`) when they cannot be.
    fn reserve(n: u64) -> Option<Hugepages> {
        let before = nr_hugepages();
        if before < n {
            let _ = std::fs::write(NR_HUGEPAGES, n.to_string());
        }
        if nr_hugepages() >= n {
            return Some(Hugepages { before });
        }
        assert!(
            std::env::var_os("VMSTATE_REQUIRE_QEMU").is_none(),
            "VMSTATE_REQUIRE_QEMU is set but {n} hugepages cannot be reserved (write \
             {NR_HUGEPAGES} as root)"
        );
        eprintln!("note: skipping: {n} hugepages cannot be reserved ({NR_HUGEPAGES})");
        None
    }
}

impl Drop for Hugepages {
    fn drop(&mut self) {
        let _ = std::fs::write(NR_HUGEPAGES, self.before.to_string());
    }
}

/// Guests whose RAM is backed by 2 MiB hugepages, as libvirt sets them up for
/// latency-sensitive VMs: in a postcopy migration QEMU sends each such block's
/// page size after its length in the block list (`POSTCOPY_ADVISE` announces
/// the sizes), and the destination faults in whole hugepages.
#[test]
fn hugepage_backed_ram_passes_in_postcopy_through_two_bridges() {
    let backend = format!("memory-backend-memfd,id=m,size={RAM_MIB}M,hugetlb=on,hugetlbsize=2M");
    let memory = ["-object", &backend, "-machine", "memory-backend=m"];
    // Two guests of 16 hugepages each, and room for QEMU's own.
    let Some(_reserved) = Hugepages::reserve(2 * u64::from(RAM_MIB) / 2 + 8) else {
        return;
    };
    for peer in Peer::NEWEST.into_iter().filter(|p| p.release.available()) {
        let name = format!("postcopy-hugepages-{}", peer.release.version());
        postcopy_through_bridges(peer, peer, &name, true, &memory);
    }
}

#[test]
fn postcopy_crosses_from_qemu_7_2_to_10_0_through_the_bridges() {
    let (old, new) = (
        Peer::on_7_2(Release::Qemu7_2),
        Peer::on_7_2(Release::Qemu10_0),
    );
    if old.release.available() && new.release.available() {
        postcopy_through_bridges(old, new, "postcopy-7.2-10.0", true, &[]);
        recovery_through_bridges(old, new, "postcopy-recovery-7.2-10.0");
    }
}

/// Postcopy recovery through the bridges: the link between them fails while the
/// destination runs in postcopy (faulting pages in), so both QEMUs pause
/// (`postcopy-paused`) and the bridges wait on their addresses; then, as QEMU's
/// docs say, `migrate-recover` on the destination (to the address it listened
/// on) and `migrate` with `resume` on the source (to the first bridge). The
/// source asks for each block's received bitmap, which comes back through both
/// bridges (in BER between them), resumes, and sends the rest: both complete,
/// the destination with every page the guest wrote, each bridge says it resumed
/// once, and exactly one guest runs.
fn recovery_through_bridges(src: Peer, dst: Peer, name: &str) {
    let kernel = kernel_file(RAM_MIB);
    let mut s = start_guest(src, name, RAM_MIB, &kernel, &[]);
    wait_filled(&mut s, RAM_MIB);
    let mut d = start_guest(
        dst,
        &format!("{name}-dst"),
        RAM_MIB,
        &kernel,
        &["-incoming", "defer"],
    );
    d.set_migration(&["postcopy-ram"], &json!({})).unwrap();
    let incoming = json!({ "uri": format!("tcp:127.0.0.1:{}", free_port()) });
    d.execute("migrate-incoming", incoming.clone()).unwrap();
    let port = incoming["uri"]
        .as_str()
        .unwrap()
        .rsplit(':')
        .next()
        .unwrap();
    let tap = tmp(&format!("{name}.tap"));
    let _scratch_tap = Scratch(vec![tap.clone()]);
    let (to_ber, to_legacy, addr, link) = bridges_into(
        port.parse().unwrap(),
        &["--tap", tap.to_str().unwrap()],
        true,
    );
    let link = link.unwrap();
    // Postcopy's background pages slow (1 MiB/s), so that the link fails mid-way.
    let parameters = json!({ "max-bandwidth": 8u64 << 20, "max-postcopy-bandwidth": 1u64 << 20 });
    s.set_migration(&["postcopy-ram"], &parameters).unwrap();
    s.execute("migrate", json!({ "uri": addr })).unwrap();
    switch_to_postcopy(&mut s, name);
    std::thread::sleep(Duration::from_millis(500));
    link.cut();
    let paused = "postcopy-paused";
    wait_status(&mut s, &["postcopy-active"], paused, name);
    wait_status(&mut d, &["postcopy-active"], paused, name);
    d.execute("migrate-recover", incoming).unwrap();
    s.execute(
        "migrate-set-parameters",
        json!({ "max-postcopy-bandwidth": 64u64 << 20 }),
    )
    .unwrap();
    s.execute("migrate", json!({ "uri": addr, "resume": true }))
        .unwrap();
    let going = [
        "postcopy-paused",
        "postcopy-recover",
        "postcopy-recover-setup",
        "postcopy-active",
    ];
    let reply = wait_status(&mut s, &going, "completed", name);
    wait_status(&mut d, &going, "completed", name);
    let (ok_ber, ber_log) = to_ber.wait();
    let (ok_legacy, legacy_log) = to_legacy.wait();
    assert!(ok_ber && ok_legacy, "{name}: {ber_log} / {legacy_log}");
    for log in [&ber_log, &legacy_log] {
        assert!(
            log.contains("vmstate bridge: postcopy paused: "),
            "{name}: {log}"
        );
        assert!(log.contains(", resumed 1 times"), "{name}: {log}");
    }
    assert!(
        reply["ram"]["postcopy-bytes"].as_u64().unwrap_or(0) > 0,
        "{name}: {reply}"
    );
    // The tap keeps the resumed connection beside the first: QEMU's bytes, with
    // no header, from the first RECV_BITMAP on. Both give the guest's RAM
    // (`dump --ram --resumed`): every page holds its address, whichever
    // connection carried it; the first alone lacks pages.
    let resumed = PathBuf::from(format!("{}.resumed1", tap.display()));
    let bytes = std::fs::read(&resumed).unwrap();
    assert_eq!(bytes[..3], [0x08, 0, 10], "{name}: RECV_BITMAP first");
    let dir = tmp(&format!("{name}-ram"));
    let _scratch_dir = Scratch(vec![dir.clone()]);
    let _ = std::fs::remove_dir_all(&dir);
    vmstate(
        name,
        &[&"dump", &"--ram", &dir, &"--resumed", &resumed, &tap],
    );
    let image = std::fs::read(dir.join("pc.ram.bin")).unwrap();
    for page in (FIRST..u64::from(RAM_MIB) << 20).step_by(257 * 4096) {
        let at = page as usize;
        let word = u32::from_le_bytes(image[at..at + 4].try_into().unwrap());
        assert_eq!(
            word, page as u32,
            "{name}: dump --ram --resumed at {page:#x}"
        );
    }
    let alone = Command::new(env!("CARGO_BIN_EXE_vmstate"))
        .args([
            "dump".as_ref(),
            "--ram".as_ref(),
            dir.as_os_str(),
            tap.as_os_str(),
        ])
        .output()
        .unwrap();
    assert!(
        !alone.status.success(),
        "{name}: the first connection alone"
    );
    assert!(counter_moves(&mut d), "{name}: the destination runs on");
    for page in (FIRST..u64::from(RAM_MIB) << 20).step_by(257 * 4096) {
        assert_eq!(d.read_u32(page).unwrap(), page as u32, "{name}: {page:#x}");
    }
    assert!(runs(&mut d), "{name}: the destination runs on");
    assert!(!runs(&mut s), "{name}: exactly one guest runs");
}

#[test]
fn a_paused_postcopy_migration_resumes_through_two_bridges() {
    for peer in Peer::NEWEST.into_iter().filter(|p| p.release.available()) {
        let name = format!("postcopy-recovery-{}", peer.release.version());
        recovery_through_bridges(peer, peer, &name);
    }
}
