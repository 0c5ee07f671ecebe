//! The typed registry against running QEMUs, one per release (7.2 and 10.0, each
//! on its newest i440FX machine type): a guest that ran SeaBIOS migrates to a file;
//! a registry of typed mirrors loads every section of it (RAM into memory, each
//! device into its mirror, none generic); one CMOS byte is edited through the
//! `Rtc` mirror; the registry saves the whole VM, RAM in its own parts and id, the
//! devices under QEMU's ids; the same VM through BER (saved, loaded into fresh mirrors, saved
//! again) gives the same bytes. A second QEMU of the same release loads the stream
//! with `-incoming`, holds the guest's RAM, reads the edited CMOS byte on its RTC,
//! and runs on.
//!
//! `scripts/test.sh` installs both QEMUs and sets `VMSTATE_REQUIRE_QEMU=1`; a plain
//! `cargo test` without them skips with a note.

use serde_json::json;
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::time::Duration;
use vmstate_qemu::{Devices, Rtc, VirtioNet, VirtioSerial};
use vmstate_runtime::dump;
use vmstate_runtime::ram::RamSaver;
use vmstate_runtime::stream::Registry;
use vmstate_runtime::Format;
use vmstate_test_support::qmp::{Peer, I440FX_10_0_DEVICES};
use vmstate_test_support::testing::{load_typed, ram_blocks, ram_of, Ram};

/// A CMOS byte that neither QEMU nor SeaBIOS uses.
const CMOS_INDEX: usize = 0x6e;

fn dir() -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("live-typed");
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The whole VM saved by a typed registry in `format`.
fn save_typed(machine: &str, mem: &Ram, devices: &mut Devices, format: Format) -> Vec<u8> {
    let mut saver = RamSaver::new(ram_blocks(mem)).unwrap();
    let mut reg = Registry::new(machine);
    reg.iterative("ram", 0, &mut saver);
    devices.register(&mut reg);
    reg.save(format).unwrap()
}

/// The SHA-256 of `pc.ram` in the ranges backed by RAM (not the VGA/BIOS window).
fn pc_ram_digests(mem: &Ram) -> (Vec<(u64, u64)>, Vec<Vec<u8>>) {
    let pc = &mem.iter().find(|(n, _)| n == "pc.ram").unwrap().1;
    let ranges = vec![(0u64, 0xA0000u64), (0x100000, pc.len() as u64)];
    let digests = ranges
        .iter()
        .map(|&(s, e)| Sha256::digest(&pc[s as usize..e as usize]).to_vec())
        .collect();
    (ranges, digests)
}

/// A VM that `peer` ran with `extra` for a moment, migrated to a file and loaded
/// into typed mirrors (checked against the RAM QEMU sent); `edit` changes the
/// mirrors; the registry's legacy save of the result, checked to come back the same
/// through BER. Returns that save and the RAM.
fn typed_save_of(
    peer: &Peer,
    name: &str,
    extra: &[&str],
    edit: impl FnOnce(&mut Devices),
) -> (Vec<u8>, Ram) {
    let mut src = peer.start(&dir(), &format!("{name}-src"), 32, extra);
    std::thread::sleep(Duration::from_millis(700));
    let file = dir().join(format!("{name}-qemu.mig"));
    src.migrate_to_file(&file).unwrap();
    let original = std::fs::read(&file).unwrap();
    let s = dump::walk_legacy(&original).unwrap();
    let sent = ram_of(&original).unwrap();
    let (mem, mut devices) = load_typed(&original, &s, &sent).unwrap();
    assert!(mem == sent, "{name}: RAM");
    edit(&mut devices);

    let direct = save_typed(peer.machine, &mem, &mut devices, Format::Legacy);
    let ber = save_typed(peer.machine, &mem, &mut devices, Format::Ber);
    let (mem2, mut back) = load_typed(&ber, &s, &sent).unwrap();
    let via_ber = save_typed(peer.machine, &mem2, &mut back, Format::Legacy);
    assert!(via_ber == direct, "{name}: typed BER round trip differs");
    (direct, mem)
}

#[test]
fn qemu_loads_a_whole_vm_saved_by_typed_mirrors() {
    let peers: Vec<Peer> = Peer::NEWEST
        .into_iter()
        .filter(|p| p.release.available())
        .collect();
    for peer in peers {
        let name = format!("typed-{}", peer.release.version());
        let mut edited = 0;
        let (direct, mem) = typed_save_of(&peer, &name, &[], |devices| {
            let rtc: &mut Rtc = devices.get_mut("mc146818rtc", 0).unwrap();
            edited = rtc.cmos_data[CMOS_INDEX] ^ 0x5a;
            rtc.cmos_data[CMOS_INDEX] = edited;
        });

        let (ranges, digests) = pc_ram_digests(&mem);
        let mut dst = peer.incoming(&dir(), &name, 32, &[], &direct);
        assert_eq!(dst.read_cmos(CMOS_INDEX).unwrap(), edited, "{name}");
        assert_eq!(dst.memory_digests(&ranges).unwrap(), digests, "{name}: RAM");
        assert_eq!(dst.status().unwrap(), "paused");
        dst.execute("cont", json!({})).unwrap();
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(dst.status().unwrap(), "running", "{name}");
    }
}

/// QEMU 10.0 restores a mapped-ram file that a typed registry wrote
/// (`Registry::with_capability("mapped-ram")`: each block's pages in their slots)
/// with `migrate-incoming file:`, holds the guest's RAM and the edited CMOS byte,
/// and runs on; the file converts to BER and back byte for byte.
#[test]
fn qemu_10_0_restores_a_mapped_ram_file_saved_by_typed_mirrors() {
    let peer = Peer::NEWEST[1];
    if !peer.release.available() {
        return;
    }
    let name = "typed-mapped-ram-10.0";
    let mut src = peer.start(&dir(), &format!("{name}-src"), 32, &[]);
    std::thread::sleep(Duration::from_millis(700));
    let file = dir().join(format!("{name}-qemu.mig"));
    src.migrate_to_file(&file).unwrap();
    drop(src);
    let original = std::fs::read(&file).unwrap();
    let s = dump::walk_legacy(&original).unwrap();
    let sent = ram_of(&original).unwrap();
    let (mem, mut devices) = load_typed(&original, &s, &sent).unwrap();
    let rtc: &mut Rtc = devices.get_mut("mc146818rtc", 0).unwrap();
    let edited = rtc.cmos_data[CMOS_INDEX] ^ 0x5a;
    rtc.cmos_data[CMOS_INDEX] = edited;
    let mapped = {
        let mut saver = RamSaver::new(ram_blocks(&mem)).unwrap();
        let mut reg = Registry::new(peer.machine).with_capability("mapped-ram");
        reg.iterative("ram", 0, &mut saver);
        devices.register(&mut reg);
        reg.save(Format::Legacy).unwrap()
    };
    // Its BER form (1 MiB-aligned slots and all) comes back to the same bytes.
    let ber = dump::convert(&mapped, Format::Ber).unwrap();
    assert!(
        dump::convert(&ber, Format::Legacy).unwrap() == mapped,
        "{name}: via BER"
    );
    assert!(
        ber.len() * 4 < mapped.len(),
        "{name}: the BER form keeps no holes"
    );

    let (ranges, digests) = pc_ram_digests(&mem);
    let mut dst = peer.incoming_with(&dir(), name, 32, &[], &mapped, &["mapped-ram"]);
    assert_eq!(dst.read_cmos(CMOS_INDEX).unwrap(), edited, "{name}");
    assert_eq!(dst.memory_digests(&ranges).unwrap(), digests, "{name}: RAM");
    dst.execute("cont", json!({})).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(dst.status().unwrap(), "running", "{name}");
}

/// QEMU 10.0 with the devices of the `pc-i440fx-10.0-tcg-devices` fixture (virtio
/// net, block, serial, rng and balloon, e1000, user networking, USB, audio), two
/// ports on the virtio-serial device, and two vCPUs: every section typed, the
/// virtio-net MAC address edited through its mirror, and the destination's NIC has
/// the new address.
#[test]
fn qemu_10_0_loads_virtio_devices_saved_by_typed_mirrors() {
    let peer = Peer::NEWEST[1];
    if !peer.release.available() {
        return;
    }
    let name = "typed-devices-10.0";
    let mut extra = vec!["-smp", "2"];
    extra.extend(I440FX_10_0_DEVICES);
    // Two ports on the virtio-serial device: a console and a named port.
    extra.extend([
        "-chardev",
        "null,id=vc0",
        "-device",
        "virtconsole,chardev=vc0",
        "-chardev",
        "null,id=vp1",
        "-device",
        "virtserialport,chardev=vp1,name=org.vmstate.test",
    ]);
    let mac = [0x52, 0x54, 0x00, 0xab, 0xcd, 0xef];
    let (direct, mem) = typed_save_of(&peer, name, &extra, |devices| {
        let net: &mut VirtioNet = devices.get_mut("0000:00:02.0/virtio-net", 0).unwrap();
        let save = &mut net.virtio.0;
        assert_eq!(save.device.mac, [0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);
        save.device.mac = mac;
        // The configuration space starts with the MAC address too.
        save.transport.config[..6].copy_from_slice(&mac);
        let serial: &mut VirtioSerial = devices.get_mut("0000:00:05.0/virtio-console", 0).unwrap();
        let ports = &serial.virtio.0.ports;
        let ids: Vec<u32> = ports.iter().map(|p| p.id).collect();
        assert_eq!(ids, [0, 1], "{name}: virtio-serial ports");
        assert_eq!(serial.virtio.0.ports_map, [0b11]);
        // No driver opened them (SeaBIOS has none), no port holds a request.
        assert!(
            ports
                .iter()
                .all(|p| p.guest_connected == 0 && p.elem_popped == 0),
            "{ports:?}"
        );
    });

    let (ranges, digests) = pc_ram_digests(&mem);
    let mut dst = peer.incoming(&dir(), name, 32, &extra, &direct);
    assert_eq!(dst.memory_digests(&ranges).unwrap(), digests, "{name}: RAM");
    let filters = dst.execute("query-rx-filter", json!({})).unwrap();
    let macs: Vec<&str> = filters
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["main-mac"].as_str())
        .collect();
    assert!(macs.contains(&"52:54:00:ab:cd:ef"), "{name}: {macs:?}");
    dst.execute("cont", json!({})).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(dst.status().unwrap(), "running", "{name}");
}
