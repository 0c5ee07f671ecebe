//! The reference VMM (`vmstate_examples::kvm_vmm`) speaking vmstate's BER through
//! bridges to unmodified QEMU 10.0, both ways: QEMU -> `bridge --to ber` -> the VMM,
//! which runs the guest (its counters advance), then the VMM `--format ber` ->
//! `bridge --to legacy` -> a new QEMU, which runs it on.

#![cfg(all(target_os = "linux", target_arch = "x86_64"))]

mod common;

use common::{bridge, free_port, kernel_file, start_guest, wait_filled};
use std::io::BufWriter;
use std::net::TcpListener;
use std::time::{Duration, Instant};
use vm_memory::{Bytes, GuestAddress};
use vmstate_examples::counter_guest::FIRST;
use vmstate_examples::kvm_vmm::{incoming, qemu, Vm};
use vmstate_runtime::Format;
use vmstate_test_support::qmp::{connect_when_listening, Peer};
use vmstate_test_support::testing::kvm_available;

const MIB: u32 = 32;

/// The first connection to `l`, or a failed test after `limit` (not a hang).
fn accept_within(l: &TcpListener, limit: Duration) -> std::net::TcpStream {
    l.set_nonblocking(true).unwrap();
    let deadline = Instant::now() + limit;
    loop {
        match l.accept() {
            Ok((c, _)) => {
                c.set_nonblocking(false).unwrap();
                return c;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                assert!(Instant::now() < deadline, "nothing connected to the VMM");
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("accept: {e}"),
        }
    }
}

#[test]
fn the_vmm_takes_and_gives_a_guest_in_ber_through_bridges() {
    let peer = Peer::NEWEST[1];
    if !kvm_available() || !peer.release.available() {
        return;
    }
    let kernel = kernel_file(MIB);
    let mut src = start_guest(peer, "vmm-ber-src", MIB, &kernel, &[]);
    wait_filled(&mut src, MIB);

    // QEMU -> bridge (to BER) -> VMM.
    let vm_listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let vm_addr = vm_listener.local_addr().unwrap();
    let (to_ber, addr) = bridge(&[
        "--to",
        "ber",
        "tcp-listen:127.0.0.1:0",
        &format!("tcp:{vm_addr}"),
    ]);
    src.execute("migrate", serde_json::json!({ "uri": addr }))
        .unwrap();
    let mut conn = accept_within(&vm_listener, Duration::from_secs(60));
    let mut vm = Vm::new(MIB.into()).unwrap();
    let mut received = incoming::receive_any(&mut vm.ram().unwrap(), &mut conn).unwrap();
    drop(conn);
    let (ok, log) = to_ber.wait();
    assert!(ok, "{log}");
    assert_eq!(src.wait_migration().unwrap().0, "completed");
    received.apply(&vm).unwrap();
    let counter = |vm: &Vm| vm.mem.read_obj::<u32>(GuestAddress(FIRST + 4)).unwrap();
    let before = counter(&vm);
    let running = vm.run().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(counter(&vm) > before, "the guest runs in the VMM");
    drop(src);

    // VMM (BER) -> bridge (to legacy) -> a new QEMU.
    let port = free_port();
    let incoming_uri = format!("tcp:127.0.0.1:{port}");
    let mut dst = start_guest(
        peer,
        "vmm-ber-dst",
        MIB,
        &kernel,
        &["-incoming", &incoming_uri],
    );
    let (to_legacy, addr) = bridge(&["--to", "legacy", "tcp-listen:127.0.0.1:0", &incoming_uri]);
    let port_of = |a: &str| a.rsplit(':').next().unwrap().parse::<u16>().unwrap();
    let m = qemu::migrate(
        &mut vm,
        running,
        qemu::Origin::FromQemu(&mut received),
        BufWriter::new(connect_when_listening(port_of(&addr))),
        Format::Ber,
        |_| {},
    )
    .map_err(|(e, _)| e)
    .unwrap();
    assert!(m.bytes > u64::from(MIB) << 20);
    let (ok, log) = to_legacy.wait();
    assert!(ok, "{log}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while dst.status().unwrap() != "running" {
        assert!(Instant::now() < deadline, "QEMU: {}", dst.status().unwrap());
        std::thread::sleep(Duration::from_millis(50));
    }
    let a = dst.read_u32(FIRST + 4).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let b = dst.read_u32(FIRST + 4).unwrap();
    assert!(b > a, "the counter advances in QEMU: {a} -> {b}");
    assert!(a >= counter(&vm), "QEMU went on from the VMM's count");
}
