//! What the reference VMM reads of QEMU's streams (`kvm_vmm::incoming::receive`),
//! without KVM: real QEMU 10.0 saves of a KVM guest on `pc-i440fx-10.0` and
//! `pc-i440fx-7.2`, their RAM into a 32 MiB `pc.ram`, the other blocks kept, every
//! device section typed; and what it refuses.

#![cfg(all(target_os = "linux", target_arch = "x86_64"))]

use vmstate_examples::kvm_vmm::incoming::{receive, receive_any};
use vmstate_qemu::{Apic, X86Cpu};
use vmstate_runtime::framing::SectionKind;
use vmstate_runtime::{dump, Format};
use vmstate_test_support::catalog::read_fixture;
use vmstate_test_support::testing::ram_of;

#[test]
fn qemus_streams_arrive_whole_and_typed() {
    for (fixture, machine) in [
        ("pc-i440fx-10.0-kvm-bios.mig", "pc-i440fx-10.0"),
        ("pc-i440fx-7.2-kvm-bios.mig", "pc-i440fx-7.2"),
    ] {
        let bytes = read_fixture(fixture);
        let mut ram = vec![0u8; 32 << 20];
        let mut r = receive(&mut ram, &mut &bytes[..]).unwrap();
        assert_eq!(r.machine, machine);
        // pc.ram is the VM's; QEMU's other blocks are kept as they came.
        let names: Vec<&str> = r.blocks.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names[0], "pc.ram");
        assert!(names.contains(&"pc.bios"), "{names:?}");
        let bios = &r.blocks.iter().find(|(n, _)| n == "pc.bios").unwrap().1;
        assert_eq!(bios.len(), 256 << 10);
        // The RAM is the stream's, as the test suite's own loader assembles it.
        let images = ram_of(&bytes).unwrap();
        assert_eq!(images.iter().find(|(n, _)| n == "pc.ram").unwrap().1, ram);
        assert_eq!(
            images.iter().find(|(n, _)| n == "pc.bios").unwrap().1,
            *bios
        );
        // Every device section, typed: those KVM holds among them.
        let walked = dump::walk_legacy(&bytes).unwrap();
        let sections = walked
            .sections
            .iter()
            .filter(|s| s.kind == SectionKind::Full)
            .count();
        assert_eq!(r.devices.sections.len(), sections);
        let cpu = r.devices.get_mut::<X86Cpu>("cpu", 0).unwrap().clone();
        assert_ne!(cpu.cr0 & 1, 0, "SeaBIOS left the vCPU in protected mode");
        assert!(r.devices.get_mut::<Apic>("apic", 0).is_some());
    }
}

/// vmstate's BER form of the same stream (what a `vmstate bridge --to ber` sends)
/// arrives as QEMU's does.
#[test]
fn the_ber_form_arrives_as_qemus_stream_does() {
    let bytes = read_fixture("pc-i440fx-10.0-kvm-bios.mig");
    let mut ber = Vec::new();
    dump::convert_stream(
        &mut &bytes[..],
        &mut ber,
        Format::Ber,
        &dump::Limits::default(),
        &mut |_| {},
    )
    .unwrap();
    let (mut a, mut b) = (vec![0u8; 32 << 20], vec![0u8; 32 << 20]);
    let mut from_legacy = receive_any(&mut a, &mut &bytes[..]).unwrap();
    let mut from_ber = receive_any(&mut b, &mut &ber[..]).unwrap();
    assert!(a == b, "pc.ram differs");
    assert_eq!(from_legacy.blocks, from_ber.blocks);
    let ids = |r: &vmstate_examples::kvm_vmm::incoming::Received| -> Vec<(String, u32)> {
        r.devices
            .sections
            .iter()
            .map(|s| (s.idstr.clone(), s.instance))
            .collect()
    };
    assert_eq!(ids(&from_legacy), ids(&from_ber));
    assert_eq!(
        from_legacy.devices.get_mut::<X86Cpu>("cpu", 0),
        from_ber.devices.get_mut::<X86Cpu>("cpu", 0)
    );
    // Neither format: refused, saying so.
    let e = receive_any(&mut a, &mut &b"GARBAGE!"[..])
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("neither"), "{e}");
}

#[test]
fn a_stream_it_cannot_take_is_refused_by_name() {
    let bytes = read_fixture("pc-i440fx-10.0-kvm-bios.mig");
    // A VM of another size.
    let mut small = vec![0u8; 16 << 20];
    let e = receive(&mut small, &mut &bytes[..])
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("pc.ram"), "{e}");
    // A stream cut short in its RAM.
    let mut ram = vec![0u8; 32 << 20];
    let e = receive(&mut ram, &mut &bytes[..bytes.len() / 2])
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("end") || e.contains("short"), "{e}");
}
