//! KVM's in-kernel devices in QEMU's sections and back, on real VMs: a VM's PICs,
//! I/O APIC, PIT, clock and local APIC, set to a state a running guest could have,
//! are captured, converted to QEMU's `i8259` x2, `ioapic`, `i8254`, `kvmclock` and
//! `apic`, encoded as QEMU encodes them, decoded, converted back and restored into a
//! second VM, whose capture converts to the same sections.

#![cfg(all(target_os = "linux", target_arch = "x86_64"))]

use vmstate_qemu::{Apic, Ioapic, KvmClock, Pic, Pit, VirtualClock, IOAPIC_BASE};
use vmstate_runtime::kvm::{self as k, VmWideState};
use vmstate_runtime::{legacy, VMState};
use vmstate_test_support::kvm_guest::Guest;

/// Through QEMU's bytes: encoded at `version`, decoded.
fn through_bytes<T: VMState + Default>(value: &T, version: u32) -> T {
    let bytes = legacy::to_bytes_at(value, version).unwrap();
    legacy::from_bytes(&bytes, version).unwrap()
}

/// A VM-wide state a guest that programmed its chipset has: PICs initialised
/// (vector bases 0x20 and 0x28, some lines masked, level-triggered IRQ 9 and 11),
/// an I/O APIC with routed and masked pins, and the PIT's channel 0 as a periodic
/// 100 Hz timer, channel 2 as a square wave with its gate low.
fn programmed(mut s: VmWideState) -> VmWideState {
    let ic = s.irqchip.as_mut().expect("an irqchip");
    ic.pic_master.irq_base = 0x20;
    ic.pic_master.imr = 0xb8;
    ic.pic_master.init4 = 1;
    ic.pic_slave.irq_base = 0x28;
    ic.pic_slave.imr = 0xf5;
    ic.pic_slave.elcr = 0x0a;
    ic.pic_slave.init4 = 1;
    ic.ioapic.ioregsel = 0x12;
    ic.ioapic.redirtbl[2] = 0x30; // IRQ0 through pin 2: vector 0x30, edge
    ic.ioapic.redirtbl[9] = 0x1_a039; // masked, level, vector 0x39
    let pit = s.pit.as_mut().expect("a PIT");
    let c0 = &mut pit.channels[0];
    (c0.count, c0.rw_mode, c0.mode, c0.gate, c0.write_state) = (11932, 3, 2, 1, 3);
    let c2 = &mut pit.channels[2];
    (c2.count, c2.rw_mode, c2.mode, c2.gate, c2.write_state) = (1193, 3, 3, 0, 3);
    s
}

/// QEMU's sections of a VM's devices, through QEMU's bytes.
fn sections(s: &VmWideState, clock: VirtualClock) -> (Pic, Pic, Ioapic, Pit, KvmClock) {
    let ic = s.irqchip.as_ref().expect("an irqchip");
    (
        through_bytes(&Pic::from_kvm(&ic.pic_master), 1),
        through_bytes(&Pic::from_kvm(&ic.pic_slave), 1),
        through_bytes(&Ioapic::from_kvm(&ic.ioapic), 3),
        through_bytes(&Pit::from_kvm(s.pit.as_ref().expect("a PIT"), clock), 3),
        through_bytes(&KvmClock::from_kvm(&s.clock), 1),
    )
}

/// KVM's VM-wide state of QEMU's sections.
fn to_kvm(
    (master, slave, ioapic, pit, clock): &(Pic, Pic, Ioapic, Pit, KvmClock),
    vclock: VirtualClock,
) -> VmWideState {
    VmWideState {
        clock: clock.to_kvm(),
        irqchip: Some(k::Irqchip {
            pic_master: master.to_kvm(true),
            pic_slave: slave.to_kvm(false),
            ioapic: ioapic.to_kvm(),
        }),
        pit: Some(pit.to_kvm(vclock)),
    }
}

/// KVM reloads each PIT channel's count when it is set (`kvm_pit_load_count`),
/// which restarts it: the load times, and the transition computed from them, are
/// the moment of the restore (QEMU's PIT in KVM has the same property).
fn without_load_times(mut p: Pit) -> Pit {
    for c in &mut p.channels {
        c.count_load_time = 0;
        c.next_transition_time = 0;
    }
    p.next_transition_time = 0;
    p
}

#[test]
fn pic_ioapic_pit_and_clock_round_trip_through_qemus_sections() {
    if !vmstate_test_support::testing::kvm_available() {
        return;
    }
    let a = Guest::new(false).unwrap();
    let (_, initial) = a.capture().unwrap();
    k::restore_vm(&a.vm, &programmed(initial)).unwrap();
    let (_, captured) = a.capture().unwrap();
    let vclock = VirtualClock {
        offset: 123_456_789,
        now: 0,
    };
    let qemu = sections(&captured, vclock);
    let (master, slave, ioapic, pit, clock) = &qemu;
    // What the guest programmed is in QEMU's sections.
    assert_eq!((master.irq_base, master.imr), (0x20, 0xb8));
    assert_eq!((slave.irq_base, slave.elcr), (0x28, 0x0a));
    assert_eq!(ioapic.ioredtbl[9], 0x1_a039);
    assert_eq!(ioapic.ioregsel, 0x12);
    assert_eq!((pit.channels[0].count, pit.channels[0].mode), (11932, 2));
    assert_eq!(pit.channels[2].gate, 0);
    // QEMU's PIT times are the kernel's moved to the virtual clock.
    let kpit = captured.pit.as_ref().unwrap();
    assert_eq!(
        pit.channels[0].count_load_time,
        kpit.channels[0].count_load_time + vclock.offset
    );
    // Mode 2, loaded now: the output next changes after count + 1 input ticks.
    let period = (11932 + 1) * 1_000_000_000 / 1_193_182;
    assert_eq!(
        pit.next_transition_time - pit.channels[0].count_load_time,
        period
    );
    assert_eq!(pit.to_kvm(vclock).channels, kpit.channels);

    let b = Guest::new(false).unwrap();
    k::restore_vm(&b.vm, &to_kvm(&qemu, vclock)).unwrap();
    let (_, restored) = b.capture().unwrap();
    let again = sections(&restored, vclock);
    assert_eq!((&again.0, &again.1, &again.2), (master, slave, ioapic));
    assert_eq!(
        without_load_times(again.3.clone()),
        without_load_times(pit.clone())
    );
    // The clock went on from the value carried (not from the new VM's zero).
    assert!(again.4.clock >= clock.clock, "{again:?}");
    assert!(again.4.clock - clock.clock < 60_000_000_000, "{again:?}");
    assert_eq!(again.4.clock_is_reliable, clock.clock_is_reliable);
}

#[test]
fn local_apic_round_trips_through_qemus_section() {
    if !vmstate_test_support::testing::kvm_available() {
        return;
    }
    let mut a = Guest::new(false).unwrap();
    a.boot().unwrap();
    let (mut vcpu, vm) = a.capture().unwrap();
    // An APIC a guest enabled: TPR, spurious vector with the enable bit, LINT0 as
    // ExtINT, a periodic timer counting with divide-by-16, a logical destination.
    let mut apic = Apic::from_kvm(&vcpu.lapic, vcpu.sregs.apic_base, VirtualClock::default());
    apic.tpr = 0x20;
    apic.spurious_vec = 0x1ff;
    apic.log_dest = 1;
    apic.dest_mode = 0xf;
    apic.lvt[0] = 0x2_00ef; // timer: periodic, vector 0xef
    apic.lvt[3] = 0x700; // LINT0: ExtINT
    apic.divide_conf = 0x3;
    apic.initial_count = 0x10_0000;
    vcpu.lapic = apic.to_kvm();
    a.restore(&vcpu, &vm).unwrap();
    let (captured, _) = a.capture().unwrap();

    let clock = VirtualClock {
        offset: 0,
        now: 5_000_000_000,
    };
    let qemu: Apic = through_bytes(
        &Apic::from_kvm(&captured.lapic, captured.sregs.apic_base, clock),
        3,
    );
    assert_eq!((qemu.tpr, qemu.spurious_vec), (0x20, 0x1ff));
    assert_eq!((qemu.lvt[0], qemu.lvt[3]), (0x2_00ef, 0x700));
    assert_eq!((qemu.initial_count, qemu.divide_conf), (0x10_0000, 3));
    assert_eq!(qemu.count_shift, 4, "divide by 16");
    assert_eq!(
        u64::from(qemu.apicbase),
        captured.sregs.apic_base & 0xffff_ffff
    );
    // A periodic timer loaded now next fires after initial_count + 1 ticks of 16 ns
    // (QEMU's apic_next_timer).
    assert_eq!(qemu.initial_count_load_time, clock.now);
    assert_eq!(qemu.next_time, clock.now + ((0x10_0000 + 1) << 4));
    assert_eq!(qemu.timer_expiry, qemu.next_time);

    let mut b = Guest::new(false).unwrap();
    let mut restored = captured.clone();
    restored.lapic = qemu.to_kvm();
    b.restore(&restored, &vm).unwrap();
    let (again, _) = b.capture().unwrap();
    let back = Apic::from_kvm(&again.lapic, again.sregs.apic_base, clock);
    assert_eq!(back, qemu);
    assert_eq!(IOAPIC_BASE, captured_ioapic_base(&b));
}

/// Where KVM put the I/O APIC of a fresh VM: QEMU's address.
fn captured_ioapic_base(g: &Guest) -> u64 {
    let (_, vm) = g.capture().unwrap();
    vm.irqchip.unwrap().ioapic.base_address
}
