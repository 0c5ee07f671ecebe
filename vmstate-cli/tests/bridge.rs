//! `vmstate bridge` between sockets: two bridges (legacy -> BER over TCP -> legacy)
//! carry QEMU's streams exactly and keep a tap of what arrived; a source that
//! breaks off makes both bridges fail, naming the byte, and the destination gets
//! a stream cut short, never a complete one.

mod common;

use common::{bridge, tmp, Bridge};
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::Path;
use vmstate_runtime::dump;
use vmstate_test_support::catalog::{fixture_streams, read_fixture};

/// Source -> A (unix socket in, TCP out, BER) -> B (TCP in, file out, legacy).
fn two_bridges(name: &str, tap: &Path, out: &Path) -> (Bridge, Bridge, UnixStream) {
    let (b, b_addr) = bridge(&[
        "--to",
        "legacy",
        "tcp-listen:127.0.0.1:0",
        out.to_str().unwrap(),
    ]);
    let sock = tmp(&format!("{name}.sock"));
    let (a, _) = bridge(&[
        "--to",
        "ber",
        "--tap",
        tap.to_str().unwrap(),
        &format!("unix-listen:{}", sock.display()),
        &b_addr,
    ]);
    let source = UnixStream::connect(&sock).unwrap();
    (a, b, source)
}

#[test]
fn two_bridges_carry_qemus_streams_exactly_and_tap_them() {
    for (_, name, _) in fixture_streams().into_iter().take(3) {
        let stream = read_fixture(&name);
        let (tap, out) = (tmp(&format!("{name}.tap")), tmp(&format!("{name}.out")));
        let (a, b, mut source) = two_bridges(&name, &tap, &out);
        source.write_all(&stream).unwrap();
        drop(source);
        let (a_ok, a_err) = a.wait();
        let (b_ok, b_err) = b.wait();
        assert!(a_ok && b_ok, "{name}: {a_err} / {b_err}");
        assert!(std::fs::read(&out).unwrap() == stream, "{name}: changed");
        assert!(std::fs::read(&tap).unwrap() == stream, "{name}: tap");
        // Each reports what passed: A's BER out is B's in.
        let ber = dump::convert(&stream, vmstate_runtime::Format::Ber).unwrap();
        let mib = |n: usize| format!("{:.1} MiB", n as f64 / f64::from(1 << 20));
        assert!(a_err.contains(&format!("{} in, {} out", mib(stream.len()), mib(ber.len()))));
        assert!(b_err.contains(&format!("{} in, {} out", mib(ber.len()), mib(stream.len()))));
    }
}

#[test]
fn a_source_that_breaks_off_fails_both_bridges() {
    let (_, name, _) = &fixture_streams()[0];
    let stream = read_fixture(name);
    let (tap, out) = (tmp("cut.tap"), tmp("cut.out"));
    let (a, b, mut source) = two_bridges("cut", &tap, &out);
    let cut = stream.len() * 2 / 3;
    source.write_all(&stream[..cut]).unwrap();
    drop(source);
    let (a_ok, a_err) = a.wait();
    let (b_ok, b_err) = b.wait();
    assert!(!a_ok && !b_ok, "{a_err} / {b_err}");
    assert!(
        a_err.contains("unexpected end of input") && a_err.contains("byte"),
        "A names where the input ended: {a_err}"
    );
    assert!(b_err.contains("unexpected end of input"), "{b_err}");
    // What reached the destination is not a stream that loads.
    let got = std::fs::read(&out).unwrap();
    assert!(got.len() < stream.len());
    assert!(dump::from_bytes(&got).is_err());
    assert_eq!(std::fs::read(&tap).unwrap(), stream[..cut]);
}

/// A destination that breaks off (it accepts, then closes) fails the bridge with a
/// one-line error naming it, and a non-zero exit.
#[test]
fn a_destination_that_breaks_off_fails_the_bridge() {
    use vmstate_runtime::ram::RamSaver;
    use vmstate_runtime::stream::Registry;
    // 16 MiB of data pages: more than the socket and the bridge's buffers hold.
    let ram: Vec<u8> = (0..16u32 << 20).map(|i| (i / 4096) as u8 | 1).collect();
    let mem = vec![("pc.ram".to_owned(), ram)];
    let mut saver = RamSaver::new(vmstate_test_support::testing::ram_blocks(&mem)).unwrap();
    let mut reg = Registry::new("pc-i440fx-7.2");
    reg.iterative("ram", 0, &mut saver);
    let stream = reg.save(vmstate_runtime::Format::Legacy).unwrap();
    drop(reg);
    let input = tmp("broken-destination.mig");
    std::fs::write(&input, &stream).unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = format!("tcp:{}", listener.local_addr().unwrap());
    let closer = std::thread::spawn(move || drop(listener.accept().unwrap()));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vmstate"))
        .args(["bridge", "--to", "ber", input.to_str().unwrap(), &addr])
        .output()
        .unwrap();
    closer.join().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&addr),
        "the error names the destination: {err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
}
