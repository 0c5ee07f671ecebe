//! `x-ignore-shared` on real QEMU 7.2 and 10.0: the guest's RAM is a file-backed
//! memory backend with `share=on` (`-machine memory-backend=pc.ram`, the id that
//! keeps the block's name), so a migration sends no page of it, only each block's
//! guest address in the block list; the destination maps the same file. This is
//! the local live update that libvirt and KubeVirt build on it.
//!
//! The captured stream must read with its addresses, name the block it does not
//! hold when `dump --ram` is asked for a whole image, and convert to BER and back
//! to the same bytes. Through two bridges (BER between them) the destination
//! completes on the shared memory and runs on, the source stopped.
//!
//! `scripts/test.sh` sets `VMSTATE_REQUIRE_QEMU=1`; a plain `cargo test` without
//! QEMU skips with a note.

mod common;

use common::{
    destination_and_bridges, dump_ram, hand_over, kernel_file, start_guest, stream_listener, tmp,
    wait_filled,
};
use serde_json::json;
use std::path::{Path, PathBuf};
use vmstate_runtime::dump;
use vmstate_runtime::Format;
use vmstate_test_support::qmp::{Peer, Qemu};

const RAM_MIB: u32 = 32;

/// The arguments that put the guest's RAM in `file`, shared.
fn shared_ram(file: &Path) -> Vec<String> {
    vec![
        "-object".into(),
        format!(
            "memory-backend-file,id=pc.ram,size={RAM_MIB}M,mem-path={},share=on",
            file.display()
        ),
        "-machine".into(),
        "memory-backend=pc.ram".into(),
    ]
}

/// The counter guest of `peer` on RAM shared in a file, filled: its QEMU, the
/// RAM's arguments (a destination maps the same file), the file and the kernel.
fn shared_guest(peer: Peer, name: &str) -> (Qemu, Vec<String>, PathBuf, PathBuf) {
    let shm = tmp(&format!("{name}.shm"));
    let kernel = kernel_file(RAM_MIB);
    let args = shared_ram(&shm);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut s = start_guest(peer, name, RAM_MIB, &kernel, &refs);
    wait_filled(&mut s, RAM_MIB);
    (s, args, shm, kernel)
}

fn peers() -> impl Iterator<Item = Peer> {
    Peer::NEWEST.into_iter().filter(|p| p.release.available())
}

/// The block list entries of a stream's tree: name, length, address.
fn block_list(tree: &serde_json::Value) -> Vec<(String, u64, Option<u64>)> {
    let sections = tree["sections"].as_array().unwrap();
    let list = sections
        .iter()
        .filter_map(|s| s["ram"].as_array())
        .flatten()
        .find_map(|r| r["blocks"].as_array())
        .expect("a block list");
    list.iter()
        .map(|b| {
            let name = b["name"].as_str().unwrap().to_owned();
            (name, b["length"].as_u64().unwrap(), b["address"].as_u64())
        })
        .collect()
}

#[test]
fn a_stream_with_shared_memory_reads_and_converts_exactly() {
    for peer in peers() {
        let name = format!("shared-{}", peer.release.version());
        let (mut s, _, shm, _) = shared_guest(peer, &name);
        let (uri, reader) = stream_listener();
        s.migrate_with(&uri, &["x-ignore-shared"], json!({}))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        drop(s);
        let stream = reader.join().unwrap();

        let tree = dump::from_bytes(&stream).unwrap_or_else(|e| panic!("{name}: {e}"));
        let list = block_list(&tree);
        assert!(list.iter().all(|b| b.2.is_some()), "{name}: {list:?}");
        let pc = list.iter().find(|b| b.0 == "pc.ram").unwrap();
        assert_eq!(pc.1, u64::from(RAM_MIB) << 20, "{name}");
        assert_eq!(pc.2, Some(0), "{name}: pc.ram is mapped at 0");
        // No page of the shared block; the ROMs' pages are there.
        let pages_of = |block: &str| {
            tree["sections"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|s| s["ram"].as_array())
                .flatten()
                .filter(|r| r["block"] == block)
                .count()
        };
        assert_eq!(pages_of("pc.ram"), 0, "{name}");
        assert!(pages_of("pc.bios") > 0, "{name}");

        let ber = dump::convert(&stream, Format::Ber).unwrap();
        assert!(
            dump::convert(&ber, Format::Legacy).unwrap() == stream,
            "{name}"
        );
        assert!(
            dump::to_bytes(&tree, Format::Legacy).unwrap() == stream,
            "{name}: through the full tree"
        );
        // The BER tree has the same addresses.
        assert_eq!(block_list(&dump::from_bytes(&ber).unwrap()), list, "{name}");

        // A whole image is refused, naming the block and why it is not there.
        let (o, dir) = dump_ram(&name, &stream);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{name}");
        assert!(
            err.contains(
                "RAM block pc.ram (guest address 0x0) is not in the stream: it was saved \
                 with x-ignore-shared"
            ),
            "{name}: {err}"
        );
        assert!(!dir.join("pc.bios.bin").exists(), "{name}: no image left");
        std::fs::remove_file(&shm).ok();
    }
}

/// Through two bridges: the destination maps the same file and completes.
#[test]
fn a_migration_with_shared_memory_passes_through_two_bridges() {
    for peer in peers() {
        let name = format!("shared-bridge-{}", peer.release.version());
        let (mut s, args, shm, kernel) = shared_guest(peer, &name);
        let mut dst_args: Vec<&str> = args.iter().map(String::as_str).collect();
        dst_args.push("-S");
        let (mut d, to_ber, to_legacy, addr) = destination_and_bridges(
            peer,
            &name,
            RAM_MIB,
            &kernel,
            &dst_args,
            (&["x-ignore-shared"], &json!({})),
            &[],
        );
        s.migrate_with(&addr, &["x-ignore-shared"], json!({}))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let (ok_ber, ber_log) = to_ber.wait();
        let (ok_legacy, legacy_log) = to_legacy.wait();
        assert!(ok_ber && ok_legacy, "{name}: {ber_log} / {legacy_log}");
        let (status, reply) = d.wait_migration().unwrap();
        assert_eq!(status, "completed", "{name}: destination: {reply}");
        // Shared: the same memory, not a copy.
        hand_over(&mut s, &mut d, RAM_MIB, &name);
        drop((s, d));
        std::fs::remove_file(&shm).ok();
    }
}
