//! The reference VMM (`kvm_vmm`) and stock QEMU migrate a running guest both ways.
//! The VMM boots the counter guest on KVM and live-migrates it into QEMU started
//! with `-incoming` on the same machine type; and a guest QEMU booted migrates to
//! the VMM, runs there, and migrates on into a new QEMU. QEMU runs it on without
//! `cont`: QMP says `running`, every page holds what the guest wrote, and the
//! counters advance. The guest increments the hot pages'
//! counters in order, round after round, so at any stop they differ by at most one:
//! a page that did not travel after its last write would lag by the rounds it
//! missed, for ever.

#![cfg(all(target_os = "linux", target_arch = "x86_64"))]

use std::io::BufWriter;
use std::net::TcpListener;
use std::time::{Duration, Instant};
use vm_memory::{Bytes, GuestAddress};
use vmstate_examples::counter_guest::{self, FIRST, HOT_END};
use vmstate_examples::kvm_vmm::{incoming, qemu, Vm};
use vmstate_runtime::Format;
use vmstate_test_support::qmp::{connect_when_listening, free_port, Peer, Qemu, Release};
use vmstate_test_support::testing::kvm_available;

const MIB: u32 = 32;
const PAGE: usize = 4096;

/// The counter of page `addr` (the guest's second word of each hot page).
fn counter(mem: &[u8], addr: u64) -> u32 {
    let at = addr as usize + 4;
    u32::from_le_bytes(mem[at..at + 4].try_into().unwrap())
}

/// QEMU's RAM, as `pmemsave` writes it.
fn qemu_ram(q: &mut Qemu, dir: &std::path::Path) -> Vec<u8> {
    let file = dir.join("ram.bin");
    q.execute(
        "pmemsave",
        serde_json::json!({ "val": 0, "size": u64::from(MIB) << 20, "filename": file }),
    )
    .unwrap();
    std::fs::read(&file).unwrap()
}

/// The destination QEMU runs the guest on: `running`, every page as the guest
/// wrote it, the hot pages' counters consistent and at least `at_stop`'s (the
/// source's copy when its vCPU stopped), and advancing.
fn runs_on(q: &mut Qemu, dir: &std::path::Path, at_stop: &[u8], kernel: &[u8], pages: &[u64]) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while q.status().unwrap() != "running" {
        assert!(Instant::now() < deadline, "QEMU: {}", q.status().unwrap());
        std::thread::sleep(Duration::from_millis(50));
    }
    // Stopped for the copy, so that it is of one instant.
    q.execute("stop", serde_json::json!({})).unwrap();
    let ram = qemu_ram(q, dir);
    q.execute("cont", serde_json::json!({})).unwrap();
    let loaded = &ram[0x10_0000..0x10_0000 + kernel.len()];
    assert_eq!(loaded, kernel, "the kernel in QEMU's RAM");
    for addr in (FIRST..u64::from(MIB) << 20).step_by(PAGE) {
        let word = u32::from_le_bytes(ram[addr as usize..addr as usize + 4].try_into().unwrap());
        assert_eq!(u64::from(word), addr, "page {addr:#x}'s first word");
    }
    let counters = |mem: &[u8]| {
        let c: Vec<u32> = (FIRST..HOT_END)
            .step_by(PAGE)
            .map(|a| counter(mem, a))
            .collect();
        (*c.iter().min().unwrap(), *c.iter().max().unwrap())
    };
    let (stop_min, stop_max) = counters(at_stop);
    let (min, max) = counters(&ram);
    assert!(
        stop_max - stop_min <= 1,
        "the VMM's copy: {stop_min}..={stop_max}"
    );
    assert!(
        max - min <= 1,
        "QEMU's copy: {min}..={max} (pages {:?})",
        pages
    );
    assert!(
        min >= stop_min,
        "QEMU went on from the VMM's {stop_min}: {min}"
    );
    let before = q.read_u32(FIRST + 4).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let after = q.read_u32(FIRST + 4).unwrap();
    assert!(
        after > before,
        "the counter advances in QEMU: {before} -> {after}"
    );
    assert_eq!(q.status().unwrap(), "running");
}

fn vmm_to(peer: Peer) {
    let dir = std::env::temp_dir().join(format!(
        "vmstate-vmm-to-qemu-{}-{}",
        peer.machine,
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let port = free_port();
    let incoming = format!("tcp:127.0.0.1:{port}");
    let mut q = peer.start(&dir, "dest", MIB, &["-smp", "1", "-incoming", &incoming]);

    let mut vm = Vm::new(MIB.into()).unwrap();
    let kernel = counter_guest::kernel(MIB);
    vm.load_kernel(&kernel).unwrap();
    let running = vm.run().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let conn = connect_when_listening(port);
    let m = qemu::migrate(
        &mut vm,
        running,
        qemu::Origin::Booted(peer.machine),
        BufWriter::new(conn),
        Format::Legacy,
        |_| {},
    )
    .map_err(|(e, _)| e)
    .unwrap();
    assert_eq!(
        m.pages[0],
        u64::from(MIB) * 256,
        "the first pass: every page"
    );
    assert!(m.pages.len() >= 3, "dirty rounds: {:?}", m.pages);

    // The VMM's copy as its vCPU stopped: the guest ran there.
    let at_stop = vmm_ram(&vm);
    assert!(counter(&at_stop, FIRST) > 0, "the guest ran in the VMM");

    runs_on(&mut q, &dir, &at_stop, &kernel, &m.pages);
    drop(q);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The VMM's copy of its RAM, its vCPU stopped.
fn vmm_ram(vm: &Vm) -> Vec<u8> {
    let mut ram = vec![0u8; (MIB as usize) << 20];
    vm.mem.read_slice(&mut ram, GuestAddress(0)).unwrap();
    ram
}

/// QEMU of `peer` boots the counter guest and migrates it to the VMM, which runs
/// it (its counters advance) and migrates it on into a new QEMU.
fn qemu_to_vmm_to_qemu(peer: Peer) {
    let dir = std::env::temp_dir().join(format!(
        "vmstate-qemu-vmm-qemu-{}-{}",
        peer.machine,
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let kernel = counter_guest::kernel(MIB);
    let kernel_file = dir.join("counter.kernel");
    std::fs::write(&kernel_file, &kernel).unwrap();
    let k = kernel_file.to_str().unwrap();
    let mut src = peer.start(&dir, "src", MIB, &["-smp", "1", "-kernel", k]);
    let last = (u64::from(MIB) << 20) - PAGE as u64;
    let deadline = Instant::now() + Duration::from_secs(120);
    while src.read_u32(last).unwrap() != last as u32 {
        assert!(Instant::now() < deadline, "the guest did not fill its RAM");
        std::thread::sleep(Duration::from_millis(50));
    }

    // QEMU -> VMM.
    let mut vm = Vm::new(MIB.into()).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let uri = format!("tcp:{}", listener.local_addr().unwrap());
    src.execute("migrate", serde_json::json!({ "uri": uri }))
        .unwrap();
    let (mut conn, _) = listener.accept().unwrap();
    let mut received = incoming::receive(&mut vm.ram().unwrap(), &mut conn).unwrap();
    drop(conn);
    assert_eq!(received.machine, peer.machine);
    let (status, _) = src.wait_migration().unwrap();
    assert_eq!(status, "completed");
    assert_ne!(
        src.status().unwrap(),
        "running",
        "one guest runs: the VMM's"
    );
    let arrived = vmm_ram(&vm);
    assert_eq!(&arrived[0x10_0000..0x10_0000 + kernel.len()], &kernel[..]);
    received.apply(&vm).unwrap();
    let running = vm.run().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let vcpu = running.stop().unwrap();
    vm.stopped(vcpu);
    let ran = vmm_ram(&vm);
    let hot = |mem: &[u8]| {
        let c: Vec<u32> = (FIRST..HOT_END)
            .step_by(PAGE)
            .map(|a| counter(mem, a))
            .collect();
        (*c.iter().min().unwrap(), *c.iter().max().unwrap())
    };
    let ((a_min, a_max), (r_min, r_max)) = (hot(&arrived), hot(&ran));
    assert!(a_max - a_min <= 1, "as QEMU sent it: {a_min}..={a_max}");
    assert!(r_max - r_min <= 1, "in the VMM: {r_min}..={r_max}");
    assert!(
        r_min > a_max,
        "the guest ran on in the VMM: {a_max} -> {r_min}"
    );
    drop(src);

    // VMM -> a new QEMU.
    let port = free_port();
    let incoming_uri = format!("tcp:127.0.0.1:{port}");
    let mut dst = peer.start(
        &dir,
        "dst",
        MIB,
        &["-smp", "1", "-kernel", k, "-incoming", &incoming_uri],
    );
    let running = vm.run().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let conn = connect_when_listening(port);
    let m = qemu::migrate(
        &mut vm,
        running,
        qemu::Origin::FromQemu(&mut received),
        BufWriter::new(conn),
        Format::Legacy,
        |_| {},
    )
    .map_err(|(e, _)| e)
    .unwrap();
    runs_on(&mut dst, &dir, &vmm_ram(&vm), &kernel, &m.pages);
    drop(dst);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_guest_moves_from_qemu_10_0_to_the_vmm_and_back() {
    if !kvm_available() || !Release::Qemu10_0.available() {
        return;
    }
    qemu_to_vmm_to_qemu(Peer::NEWEST[1]);
}

#[test]
fn a_q35_guest_moves_from_qemu_10_0_to_the_vmm_and_back() {
    if !kvm_available() || !Release::Qemu10_0.available() {
        return;
    }
    qemu_to_vmm_to_qemu(Peer {
        release: Release::Qemu10_0,
        machine: "pc-q35-10.0",
    });
}

#[test]
fn a_guest_moves_from_qemu_7_2_to_the_vmm_and_back() {
    if !kvm_available() || !Release::Qemu7_2.available() {
        return;
    }
    qemu_to_vmm_to_qemu(Peer::NEWEST[0]);
}

#[test]
fn a_guest_booted_by_the_vmm_runs_on_in_qemu_10_0() {
    if !kvm_available() || !Release::Qemu10_0.available() {
        return;
    }
    vmm_to(Peer::NEWEST[1]);
}

#[test]
fn a_guest_booted_by_the_vmm_runs_on_in_qemu_7_2() {
    if !kvm_available() || !Release::Qemu7_2.available() {
        return;
    }
    vmm_to(Peer::NEWEST[0]);
}
