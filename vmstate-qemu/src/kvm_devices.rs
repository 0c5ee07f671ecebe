//! From KVM's in-kernel devices to QEMU's sections and back: the two PICs
//! (`i8259`), the I/O APIC (`ioapic`), the PIT (`i8254`), the local APIC (`apic`)
//! and the clock (`kvmclock`), as QEMU's `kvm_pic_get/put`, `kvm_ioapic_get/put`
//! (hw/i386/kvm/), `kvm_pit_get/put`, `kvm_get/put_apic_state` and kvmclock's
//! save and load do it (the same in QEMU 7.2 and 10.0).
//!
//! QEMU's sections hold times on its virtual clock (`QEMU_CLOCK_VIRTUAL`, in ns),
//! KVM's on the host's `CLOCK_MONOTONIC` (the PIT's load times): a conversion takes
//! the VMM's [`VirtualClock`], the offset between the two, which a VMM keeps as
//! QEMU does (its `timer` section). The APIC's timer fields are computed from "now"
//! on that clock, as QEMU computes them when it reads the APIC.

use super::cpu::Apic;
use super::ioapic::{Ioapic, IOAPIC_NUM_PINS};
use super::misc::{KvmClock, KvmClockReliable};
use super::pic::Pic;
use super::pit::{Pit, PitChannel};
use vmstate_runtime::kvm as k;

/// QEMU's virtual clock against the host's `CLOCK_MONOTONIC`, in ns: QEMU's
/// `kernel_clock_offset` (virtual minus monotonic), and the virtual clock's now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VirtualClock {
    /// Virtual-clock ns minus `CLOCK_MONOTONIC` ns.
    pub offset: i64,
    /// The virtual clock's value when the state was read (the APIC's timer
    /// fields are computed from it).
    pub now: i64,
}

/// Where QEMU's PC machines put the I/O APIC (`IO_APIC_DEFAULT_ADDRESS`).
pub const IOAPIC_BASE: u64 = 0xfec0_0000;
/// KVM's `KVM_PIT_FLAGS_HPET_LEGACY`: channel 0's interrupt is off.
const PIT_HPET_LEGACY: u32 = 1;
/// KVM's `KVM_CLOCK_TSC_STABLE`: what QEMU sends as `clock_is_reliable`.
const CLOCK_TSC_STABLE: u32 = 2;
/// The PIT's input clock, Hz.
const PIT_FREQ: u64 = 1_193_182;
/// The APIC's LVT timer entry: masked, periodic.
const LVT_MASKED: u32 = 1 << 16;
const LVT_PERIODIC: u32 = 1 << 17;

/// Copies the fields the two layouts share, by name.
macro_rules! same_fields {
    ($($to:ident)::+ { $($extra:tt)* } from $from:expr; $($f:ident),*) => {
        $($to)::+ { $($f: $from.$f,)* $($extra)* }
    };
}

impl Pic {
    /// QEMU's `i8259` of KVM's PIC (`kvm_pic_get`). KVM's PIC has no single mode
    /// nor level-triggered mode, so neither is set.
    pub fn from_kvm(p: &k::Pic) -> Pic {
        same_fields!(Pic { single_mode: 0, ltim: None } from p;
            last_irr, irr, imr, isr, priority_add, irq_base, read_reg_select, poll,
            special_mask, init_state, auto_eoi, rotate_on_auto_eoi,
            special_fully_nested_mode, init4, elcr)
    }

    /// KVM's PIC of QEMU's `i8259` (`kvm_pic_put`); `master` gives the ELCR mask
    /// QEMU's PC sets (0xf8 on the master, 0xde on the slave).
    pub fn to_kvm(&self, master: bool) -> k::Pic {
        same_fields!(k::Pic { elcr_mask: if master { 0xf8 } else { 0xde } } from self;
            last_irr, irr, imr, isr, priority_add, irq_base, read_reg_select, poll,
            special_mask, init_state, auto_eoi, rotate_on_auto_eoi,
            special_fully_nested_mode, init4, elcr)
    }
}

impl Ioapic {
    /// QEMU's `ioapic` of KVM's (`kvm_ioapic_get`): the id and the register select
    /// are 8-bit in QEMU.
    pub fn from_kvm(io: &k::Ioapic) -> Ioapic {
        Ioapic {
            id: io.id as u8,
            ioregsel: io.ioregsel as u8,
            irr: io.irr,
            ioredtbl: io.redirtbl,
            ..Ioapic::default()
        }
    }

    /// KVM's I/O APIC of QEMU's `ioapic` (`kvm_ioapic_put`), at QEMU's address.
    pub fn to_kvm(&self) -> k::Ioapic {
        k::Ioapic {
            base_address: IOAPIC_BASE,
            ioregsel: u32::from(self.ioregsel),
            id: u32::from(self.id),
            irr: self.irr,
            redirtbl: self.ioredtbl,
        }
    }
}

/// The ioredtbl's length is KVM's.
const _: () = assert!(IOAPIC_NUM_PINS == 24);

impl Pit {
    /// QEMU's `i8254` of KVM's PIT2 (`kvm_pit_get`): load times moved to the
    /// virtual clock, channel 0's next transition computed from its load time.
    pub fn from_kvm(p: &k::Pit, clock: VirtualClock) -> Pit {
        let mut channels: [PitChannel; 3] = Default::default();
        for (sc, kc) in channels.iter_mut().zip(&p.channels) {
            *sc = same_fields!(PitChannel {
                count: kc.count as i32,
                count_load_time: kc.count_load_time.wrapping_add(clock.offset),
                next_transition_time: 0,
            } from kc;
                latched_count, count_latched, status_latched, status, read_state,
                write_state, write_latch, rw_mode, mode, bcd, gate);
        }
        let c0 = &mut channels[0];
        c0.next_transition_time = next_transition(c0, c0.count_load_time);
        Pit {
            irq_disabled: u32::from(p.flags & PIT_HPET_LEGACY != 0),
            next_transition_time: c0.next_transition_time,
            channels,
        }
    }

    /// KVM's PIT2 of QEMU's `i8254` (`kvm_pit_put`).
    pub fn to_kvm(&self, clock: VirtualClock) -> k::Pit {
        let mut channels: [k::PitChannel; 3] = Default::default();
        for (kc, sc) in channels.iter_mut().zip(&self.channels) {
            *kc = same_fields!(k::PitChannel {
                count: sc.count as u32,
                count_load_time: sc.count_load_time.wrapping_sub(clock.offset),
            } from sc;
                latched_count, count_latched, status_latched, status, read_state,
                write_state, write_latch, rw_mode, mode, bcd, gate);
        }
        k::Pit {
            channels,
            flags: if self.irq_disabled != 0 {
                PIT_HPET_LEGACY
            } else {
                0
            },
        }
    }
}

/// QEMU's `pit_get_next_transition_time`: when the channel's output next changes,
/// on the virtual clock (-1: never).
fn next_transition(s: &PitChannel, now: i64) -> i64 {
    let ns = 1_000_000_000u128;
    let elapsed = now.wrapping_sub(s.count_load_time) as u64;
    let d = (u128::from(elapsed) * u128::from(PIT_FREQ) / ns) as u64;
    let count = s.count as u32 as u64;
    let next = match s.mode {
        2 | 3 if count == 0 => return -1, // a division by zero in QEMU; never loaded so
        2 => {
            let base = d / count * count;
            if d == base && d != 0 {
                base + count
            } else {
                base + count + 1
            }
        }
        3 => {
            let base = d / count * count;
            let half = (count + 1) >> 1;
            if d - base < half {
                base + half
            } else {
                base + count
            }
        }
        4 | 5 if d < count => count,
        4 | 5 if d == count => count + 1,
        4 | 5 => return -1,
        _ if d < count => count,
        _ => return -1,
    };
    let t = s
        .count_load_time
        .wrapping_add((u128::from(next) * ns / u128::from(PIT_FREQ)) as i64);
    if t <= now {
        now + 1
    } else {
        t
    }
}

/// A 32-bit register of KVM's APIC page (QEMU's `kvm_apic_get_reg`).
fn reg(l: &k::Lapic, i: usize) -> u32 {
    let at = i << 4;
    u32::from_ne_bytes([l.regs[at], l.regs[at + 1], l.regs[at + 2], l.regs[at + 3]])
}

fn set_reg(l: &mut k::Lapic, i: usize, v: u32) {
    let at = i << 4;
    l.regs[at..at + 4].copy_from_slice(&v.to_ne_bytes());
}

impl Apic {
    /// QEMU's `apic` of KVM's local APIC (`kvm_get_apic_state`) and the vCPU's APIC
    /// base (`sregs.apic_base`); the timer's load time is the clock's now, and its
    /// next expiry is computed from it (QEMU's `apic_next_timer`). An x2APIC's id
    /// is QEMU's initial APIC id, not in this section: the xAPIC's is kept.
    pub fn from_kvm(l: &k::Lapic, apic_base: u64, clock: VirtualClock) -> Apic {
        let divide_conf = reg(l, 0x3e);
        let v = (divide_conf & 3) | ((divide_conf >> 1) & 4);
        let mut a = Apic {
            apicbase: apic_base as u32,
            id: (reg(l, 0x2) >> 24) as u8,
            arb_id: reg(l, 0x9) as u8,
            tpr: reg(l, 0x8) as u8,
            spurious_vec: reg(l, 0xf),
            log_dest: (reg(l, 0xd) >> 24) as u8,
            dest_mode: (reg(l, 0xe) >> 28) as u8,
            esr: reg(l, 0x28),
            icr: [reg(l, 0x30), reg(l, 0x31)],
            divide_conf,
            count_shift: ((v + 1) & 7) as i32,
            initial_count: reg(l, 0x38),
            initial_count_load_time: clock.now,
            ..Apic::default()
        };
        for i in 0..8 {
            a.isr[i] = reg(l, 0x10 + i);
            a.tmr[i] = reg(l, 0x18 + i);
            a.irr[i] = reg(l, 0x20 + i);
        }
        for (i, lvt) in a.lvt.iter_mut().enumerate() {
            *lvt = reg(l, 0x32 + i);
        }
        a.next_timer(clock.now);
        a
    }

    /// QEMU's `apic_next_timer`: the timer's next expiry (-1: none), and
    /// `next_time` when there is one.
    fn next_timer(&mut self, now: i64) {
        self.timer_expiry = -1;
        let lvt = self.lvt[0];
        if lvt & LVT_MASKED != 0 {
            return;
        }
        let shift = self.count_shift.clamp(0, 63) as u32;
        let d = (now.wrapping_sub(self.initial_count_load_time) >> shift) as u64;
        let count = u64::from(self.initial_count);
        let d = if lvt & LVT_PERIODIC != 0 {
            if count == 0 {
                return;
            }
            (d / (count + 1) + 1).wrapping_mul(count + 1)
        } else {
            if d >= count {
                return;
            }
            count + 1
        };
        self.next_time = self
            .initial_count_load_time
            .wrapping_add((d << shift) as i64);
        self.timer_expiry = self.next_time;
    }

    /// KVM's local APIC of QEMU's `apic` (`kvm_put_apic_state`): the registers
    /// QEMU writes, the others zero (KVM recomputes the version, the priority and
    /// the current count). The APIC base goes into `sregs.apic_base`.
    pub fn to_kvm(&self) -> k::Lapic {
        let mut l = k::Lapic { regs: [0; 1024] };
        set_reg(&mut l, 0x2, u32::from(self.id) << 24);
        set_reg(&mut l, 0x8, u32::from(self.tpr));
        set_reg(&mut l, 0xd, u32::from(self.log_dest) << 24);
        set_reg(&mut l, 0xe, u32::from(self.dest_mode) << 28 | 0x0fff_ffff);
        set_reg(&mut l, 0xf, self.spurious_vec);
        for i in 0..8 {
            set_reg(&mut l, 0x10 + i, self.isr[i]);
            set_reg(&mut l, 0x18 + i, self.tmr[i]);
            set_reg(&mut l, 0x20 + i, self.irr[i]);
        }
        set_reg(&mut l, 0x28, self.esr);
        set_reg(&mut l, 0x30, self.icr[0]);
        set_reg(&mut l, 0x31, self.icr[1]);
        for (i, &lvt) in self.lvt.iter().enumerate() {
            set_reg(&mut l, 0x32 + i, lvt);
        }
        set_reg(&mut l, 0x38, self.initial_count);
        set_reg(&mut l, 0x3e, self.divide_conf);
        l
    }
}

impl KvmClock {
    /// QEMU's `kvmclock` of KVM's clock (`KVM_GET_CLOCK`): its value, and whether
    /// the host's TSC is stable (sent by every machine type since 2.9).
    pub fn from_kvm(c: &k::Clock) -> KvmClock {
        KvmClock {
            clock: c.clock,
            clock_is_reliable: Some(KvmClockReliable {
                clock_is_reliable: c.flags & CLOCK_TSC_STABLE != 0,
            }),
        }
    }

    /// KVM's clock of QEMU's `kvmclock`, to `KVM_SET_CLOCK` before the vCPUs run
    /// (the flags describe the source host and are not set).
    pub fn to_kvm(&self) -> k::Clock {
        k::Clock {
            clock: self.clock,
            flags: 0,
        }
    }
}
