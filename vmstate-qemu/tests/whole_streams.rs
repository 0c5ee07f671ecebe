//! Whole QEMU streams through a registry of typed mirrors, no device generic: the
//! registry loads every section of a fixture into its mirror (and the guest's RAM
//! into memory), then saves the VM again. Everything after the RAM (every device
//! section with QEMU's section ids and footers, the vmdesc trailer) is QEMU's bytes
//! exactly; the RAM holds the same pages. For QEMU 10.0 the trailer is compared
//! after the description-only changes of 10.0 (`VMDESC_CHANGES_IN_10_0`), which the
//! mirrors, written to 7.2's descriptions, do not make. The same VM also goes
//! through BER and back unchanged.

use vmstate_qemu::Devices;
use vmstate_runtime::dump::{self, LegacyStream, Section};
use vmstate_runtime::json::VmdescArrays;
use vmstate_runtime::ram::RamSaver;
use vmstate_runtime::stream::{Registry, SectionKind};
use vmstate_runtime::Format;
use vmstate_test_support::catalog::{
    as_qemu_10_0_describes, fixture_streams, read_fixture, without_linked_elements,
};
use vmstate_test_support::qmp::Release;
use vmstate_test_support::testing::{load_typed, ram_blocks, ram_of, Ram};

/// Every fixture (every section of each has a typed mirror): three of QEMU 7.2 (the
/// Q35 one with e1000e, AHCI and virtio-rng), four of 10.0 (two with virtio-net,
/// virtio-blk, virtio-serial, user networking, USB, audio and more).
const TYPED_WHOLE: [&str; 44] = [
    "pc-tcg-reset.mig",
    "pc-kvm-bios.mig",
    "q35-tcg-devices.mig",
    "pc-i440fx-7.2-kvm-bios.mig",
    "pc-i440fx-10.0-kvm-bios.mig",
    "pc-i440fx-10.0-tcg-devices.mig",
    "pc-q35-10.0-kvm-devices.mig",
    "pc-i440fx-7.2-catalog.mig",
    "pc-i440fx-10.0-catalog.mig",
    "pc-q35-7.2-libvirt.mig",
    "pc-q35-10.0-libvirt.mig",
    "pc-i440fx-7.2-hotplug.mig",
    "pc-q35-7.2-hotplug.mig",
    "pc-i440fx-10.0-hotplug.mig",
    "pc-q35-10.0-hotplug.mig",
    "pc-q35-10.0-new-devices.mig",
    "pc-i440fx-7.2-displays.mig",
    "pc-i440fx-10.0-displays.mig",
    "pc-q35-7.2-uefi.mig",
    "pc-q35-10.0-uefi.mig",
    "pc-i440fx-7.2-vmware.mig",
    "pc-q35-7.2-vmware.mig",
    "pc-i440fx-10.0-vmware.mig",
    "pc-q35-10.0-vmware.mig",
    "pc-q35-7.2-9p.mig",
    "pc-q35-10.0-9p.mig",
    "pc-i440fx-7.2-esp.mig",
    "pc-i440fx-10.0-esp.mig",
    "pc-q35-7.2-virtio-gpu.mig",
    "pc-q35-10.0-virtio-gpu.mig",
    "pc-q35-7.2-virtio-iommu.mig",
    "pc-q35-10.0-virtio-iommu.mig",
    "pc-q35-7.2-virtio-mem.mig",
    "pc-q35-10.0-virtio-mem.mig",
    "pc-q35-7.2-virtio-mem-by-10.0.mig",
    "pc-q35-7.2-vhost-user-blk.mig",
    "pc-q35-10.0-vhost-user-blk.mig",
    "pc-i440fx-7.2-ipmi-can.mig",
    "pc-i440fx-10.0-ipmi-can.mig",
    "pc-q35-7.2-usb-redir.mig",
    "pc-q35-10.0-usb-redir.mig",
    "pc-i440fx-7.2-sd-card.mig",
    "pc-i440fx-10.0-sd-card.mig",
    "pc-q35-10.0-uefi-vars.mig",
];

/// A record's start: its body less its header (type, section id, idstr, instance
/// id, version).
fn record_start(x: &Section<'_>) -> usize {
    x.body_offset as usize - (1 + 4 + 1 + x.ident.idstr.len() + 4 + 4)
}

/// Where the device sections saved after RAM begin: the first full section after
/// the last RAM part (an `early_setup` one, virtio-mem's, comes with RAM's START).
fn devices_start(s: &LegacyStream<'_>) -> usize {
    let last_ram = s.sections.iter().rposition(|x| x.kind != SectionKind::Full);
    let first = s
        .sections
        .iter()
        .skip(last_ram.map_or(0, |i| i + 1))
        .find(|x| x.kind == SectionKind::Full)
        .unwrap();
    record_start(first)
}

/// The records of the device sections saved before RAM's parts (`early_setup`).
fn early_records<'s>(s: &LegacyStream<'s>, bytes: &'s [u8]) -> Vec<&'s [u8]> {
    let last_ram = s.sections.iter().rposition(|x| x.kind != SectionKind::Full);
    s.sections[..last_ram.unwrap_or(0)]
        .iter()
        .filter(|x| x.kind == SectionKind::Full)
        .map(|x| &bytes[record_start(x)..x.body_offset as usize + x.body.len()])
        .collect()
}

/// Fixture `name`: its bytes, the QEMU release that wrote it, and its RAM as QEMU
/// sent it.
fn fixture(name: &str) -> (Vec<u8>, Release, Ram) {
    let original = read_fixture(name);
    let sent = ram_of(&original).unwrap();
    (original, writer_of(name), sent)
}

/// The QEMU release that wrote fixture `name`.
fn writer_of(name: &str) -> Release {
    fixture_streams()
        .into_iter()
        .find(|(_, n, _)| n == name)
        .map(|(r, _, _)| r)
        .unwrap()
}

/// Saves the VM in `format`, RAM first, with QEMU's section ids taken from `like`
/// and arrays listed in the vmdesc as `release` lists them.
fn save_typed(
    mem: &Ram,
    devices: &mut Devices,
    like: &LegacyStream<'_>,
    release: Release,
    format: Format,
) -> Vec<u8> {
    let ram = like
        .sections
        .iter()
        .find(|x| x.ident.idstr == "ram")
        .unwrap();
    let mut saver = RamSaver::new(ram_blocks(mem)).unwrap();
    let arrays = match release {
        Release::Qemu7_2 => VmdescArrays::Qemu7_2,
        Release::Qemu10_0 => VmdescArrays::Qemu10_0,
    };
    let mut reg = Registry::new(&like.machine_type()).with_vmdesc_arrays(arrays);
    reg.iterative("ram", 0, &mut saver);
    reg.set_section_id("ram", 0, ram.section_id).unwrap();
    devices.register(&mut reg);
    reg.save(format).unwrap()
}

#[test]
fn typed_registries_save_every_device_as_qemu_did() {
    for name in TYPED_WHOLE {
        let (original, release, sent) = fixture(name);
        let s = dump::walk_legacy(&original).unwrap();
        let (mem, mut devices) = load_typed(&original, &s, &sent).unwrap();
        assert!(mem == sent, "{name}: the RAM loaded is not the RAM sent");
        assert_eq!(
            devices.sections.len(),
            s.sections
                .iter()
                .filter(|x| x.kind == SectionKind::Full)
                .count()
        );
        let ours = save_typed(&mem, &mut devices, &s, release, Format::Legacy);
        let o = dump::walk_legacy(&ours).unwrap();
        assert_eq!(
            ours[..17],
            original[..17],
            "{name}: header and configuration"
        );
        assert!(ram_of(&ours).unwrap() == mem, "{name}: RAM differs");
        assert_eq!(o.commands.len(), s.commands.len(), "{name}: commands");
        assert_eq!(
            early_records(&o, &ours),
            early_records(&s, &original),
            "{name}: the sections saved before RAM's parts"
        );
        // From the first device section after RAM to the trailer's description
        // (and its length).
        let (ours_desc, qemu_desc) = (
            ours.len() - o.vmdesc.len() - 4,
            original.len() - s.vmdesc.len() - 4,
        );
        let (a, b) = (
            &ours[devices_start(&o)..ours_desc],
            &original[devices_start(&s)..qemu_desc],
        );
        if let Some(i) = (0..a.len().min(b.len()))
            .find(|i| a[*i] != b[*i])
            .or((a.len() != b.len()).then_some(a.len().min(b.len())))
        {
            let at = (devices_start(&s) + i) as u64;
            let section = s.sections.iter().rev().find(|x| x.body_offset <= at);
            panic!(
                "{name}: the device sections differ from QEMU's at byte {at}, in {:?} (body from {:?})",
                section.map(|x| &x.ident.idstr),
                section.map(|x| x.body_offset)
            );
        }
        let described = match release {
            Release::Qemu7_2 => o.vmdesc.to_owned(),
            Release::Qemu10_0 => as_qemu_10_0_describes(o.vmdesc),
        };
        // QEMU repeats each element's description inside a linked container's
        // entry; the mirrors write the entry without them (`uefi-vars`' lists).
        assert_eq!(
            described,
            without_linked_elements(s.vmdesc),
            "{name}: vmdesc"
        );
        if release == Release::Qemu7_2 {
            assert!(ours[devices_start(&o)..] == original[devices_start(&s)..]);
        }
    }
}

/// The typed VM saved in BER loads back into fresh mirrors, which save QEMU's
/// legacy bytes again.
#[test]
fn typed_registries_carry_a_whole_vm_through_ber() {
    for name in TYPED_WHOLE {
        let (original, release, sent) = fixture(name);
        let s = dump::walk_legacy(&original).unwrap();
        let (mem, mut devices) = load_typed(&original, &s, &sent).unwrap();
        let legacy = save_typed(&mem, &mut devices, &s, release, Format::Legacy);
        let ber = save_typed(&mem, &mut devices, &s, release, Format::Ber);
        let (mem2, mut back) = load_typed(&ber, &s, &sent).unwrap();
        assert!(mem2 == mem, "{name}: RAM through BER");
        let again = save_typed(&mem2, &mut back, &s, release, Format::Legacy);
        assert!(again == legacy, "{name}: legacy -> BER -> legacy differs");
    }
}
