//! A real multifd migration of QEMU 7.2 and 10.0, captured whole: the main channel
//! and each multifd channel, kept by a listener that takes every connection.
//! `vmstate dump --ram` of the main channel alone never writes an image that
//! looks whole: 7.2's main channel holds the zero pages and no data page (the data
//! went over the other channels), 10.0's neither (its zero pages go over the
//! channels too, its `MULTIFD_FLUSH` marks the rounds), and `dump --ram` names the
//! pages it misses. With every channel (`--channel`, 2 and 4 of them) it writes
//! the guest's RAM as QEMU read it. A multifd channel given to `dump` is named as
//! one.
//!
//! `scripts/test.sh` sets `VMSTATE_REQUIRE_QEMU=1`; a plain `cargo test` without
//! QEMU skips with a note.

mod common;

use common::{kernel_file, start_guest, tmp, wait_filled, Scratch};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::io::Read;
use std::net::TcpListener;
use std::process::Command;
use std::time::Duration;
use vmstate_test_support::qmp::Peer;

const RAM_MIB: u32 = 64;

/// The guest-physical ranges of `pc.ram` compared with QEMU's own digests.
fn ranges() -> [(u64, u64); 2] {
    [(0, 0xA_0000), (0x10_0000, u64::from(RAM_MIB) << 20)]
}

/// Migrates a stopped guest of `peer` with multifd into a listener that keeps
/// every connection; returns what each sent, the main channel first, and the
/// digests of the guest's RAM ([`ranges`]) as QEMU read it.
fn capture(peer: Peer, n: usize) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let kernel = kernel_file(RAM_MIB);
    let name = format!("multifd-{}-{n}", peer.release.version());
    let mut s = start_guest(peer, &name, RAM_MIB, &kernel, &[]);
    wait_filled(&mut s, RAM_MIB);
    s.execute("stop", json!({})).unwrap();
    let digests = s.memory_digests(&ranges()).unwrap();
    s.set_migration(&["multifd"], &json!({ "multifd-channels": n }))
        .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let readers = std::thread::spawn(move || {
        let mut threads = Vec::new();
        for _ in 0..=n {
            let (mut c, _) = listener.accept().unwrap();
            threads.push(std::thread::spawn(move || {
                let mut bytes = Vec::new();
                c.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
                let _ = c.read_to_end(&mut bytes);
                bytes
            }));
        }
        threads
    });
    s.execute("migrate", json!({ "uri": format!("tcp:127.0.0.1:{port}") }))
        .unwrap();
    let (status, reply) = s.wait_migration().unwrap();
    assert_eq!(status, "completed", "{name}: {reply}");
    drop(s);
    let mut channels: Vec<Vec<u8>> = readers
        .join()
        .unwrap()
        .into_iter()
        .map(|t| t.join().unwrap())
        .collect();
    channels.sort_by_key(|c| !c.starts_with(b"QEVM"));
    assert!(channels[0].starts_with(b"QEVM"), "{name}: a main channel");
    (channels, digests)
}

fn vmstate(args: &[&dyn AsRef<std::ffi::OsStr>]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_vmstate"))
        .args(args.iter().map(|a| a.as_ref()))
        .output()
        .unwrap()
}

#[test]
fn dump_ram_of_a_multifd_main_channel_never_looks_whole() {
    for peer in Peer::NEWEST.into_iter().filter(|p| p.release.available()) {
        for n in [2, 4] {
            captured_whole(peer, n);
        }
    }
}

/// A migration of `peer` over `n` channels: the main channel alone, with
/// `--partial`, with every channel; a channel alone.
fn captured_whole(peer: Peer, n: usize) {
    let v = format!("{}-{n}", peer.release.version());
    let (channels, digests) = capture(peer, n);
    let main = tmp(&format!("multifd-main-{v}.mig"));
    let _scratch_main = Scratch(vec![main.clone()]);
    std::fs::write(&main, &channels[0]).unwrap();
    let dir = tmp(&format!("multifd-main-{v}-ram"));
    let _scratch_dir = Scratch(vec![dir.clone()]);
    let _ = std::fs::remove_dir_all(&dir);
    let o = vmstate(&[&"dump", &"--ram", &dir, &main]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{v}: {err}");
    assert!(err.contains("no RAM image written"), "{v}: {err}");
    let pages = u64::from(RAM_MIB) << 8;
    // Every page above 2 MiB is a data page of the counter guest (10.0 sends
    // its zero pages over the channels too).
    let data = pages - 512;
    let missing = err
        .split("RAM block pc.ram: ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or_else(|| panic!("{v}: {err}"));
    assert!(missing >= data, "{v}: {missing} of {pages}: {err}");
    assert!(err.contains(&format!("of its {pages} pages are not in the stream")));
    assert!(std::fs::read_dir(&dir).map_or(0, |d| d.count()) == 0, "{v}");
    // With --partial: what arrived is kept, the rest listed.
    let o = vmstate(&[&"dump", &"--ram", &dir, &"--partial", &main]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{v}: {err}");
    assert!(err.contains("missing: RAM block pc.ram"), "{v}: {err}");
    assert!(dir.join("missing-pages.txt").exists() && dir.join("pc.ram.bin").exists());
    // With every channel: the guest's RAM, as QEMU read it.
    let files: Vec<_> = channels[1..]
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let f = tmp(&format!("multifd-channel-{v}-{i}.bin"));
            std::fs::write(&f, c).unwrap();
            f
        })
        .collect();
    let _scratch_files = Scratch(files.clone());
    let _ = std::fs::remove_dir_all(&dir);
    let mut args: Vec<&dyn AsRef<std::ffi::OsStr>> = vec![&"dump", &"--ram", &dir];
    for f in &files {
        args.extend([&"--channel" as &dyn AsRef<std::ffi::OsStr>, f]);
    }
    args.push(&main);
    let o = vmstate(&args);
    assert!(
        o.status.success(),
        "{v}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let image = std::fs::read(dir.join("pc.ram.bin")).unwrap();
    for (&(start, end), digest) in ranges().iter().zip(&digests) {
        let got = Sha256::digest(&image[start as usize..end as usize]).to_vec();
        assert_eq!(
            &got, digest,
            "{v}: dump --ram --channel [{start:#x}, {end:#x})"
        );
    }
    // Each channel through BER and back, to the same octets.
    for f in &files {
        let (ber, back) = (f.with_extension("ber"), f.with_extension("back"));
        for (to, from, into) in [("ber", f, &ber), ("legacy", &ber, &back)] {
            let o = vmstate(&[&"convert", &"--to", &to, from, into]);
            assert!(
                o.status.success(),
                "{v}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
        assert!(
            std::fs::read(&back).unwrap() == std::fs::read(f).unwrap(),
            "{v}: {f:?}"
        );
    }
    // A multifd channel is named as one.
    let channel = &files[0];
    let o = vmstate(&[&"dump", &channel]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("a multifd channel (MultiFDInit_t, magic 0x11223344), not a main channel"),
        "{v}: {err}"
    );
}
