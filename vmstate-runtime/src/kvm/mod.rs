//! KVM register sections (feature `kvm`, x86-64): what a KVM-based VMM migrates
//! besides devices and RAM, captured from and restored to real vCPUs and VMs through
//! kvm-ioctls.
//!
//! [`capture`] / [`restore`] handle one vCPU, [`capture_vm`] / [`restore_vm`] the
//! VM-wide state. The restore order KVM needs is inside [`restore`]: MP state,
//! special registers before general ones (they set the mode), XSAVE and XCRs, debug
//! registers, MSRs after the special registers, then the local APIC and the pending
//! events last.
//!
//! ```no_run
//! use kvm_ioctls::Kvm;
//! use vmstate_runtime::Format;
//! use vmstate_runtime::kvm::{self, Host, VcpuState, VmWideState};
//! use vmstate_runtime::stream::Registry;
//!
//! // Source: a VM with an in-kernel irqchip and PIT, and its vCPU, stopped.
//! let kvm = Kvm::new().unwrap();
//! let vm = kvm.create_vm().unwrap();
//! vm.create_irq_chip().unwrap();
//! let vcpu = vm.create_vcpu(0).unwrap();
//! let host = Host::probe(&kvm, &vm)?;
//! let mut cpu = kvm::capture(&host, &vcpu)?;
//! let mut vm_state = kvm::capture_vm(&vm, true, false)?;
//! let mut reg = Registry::new("my-vmm-1.0");
//! reg.device("kvm-vcpu", 0, &mut cpu);
//! reg.device("kvm-vm", 0, &mut vm_state);
//! let bytes = reg.save(Format::Ber)?;
//! drop(reg);
//!
//! // Destination: a fresh VM of the same shape takes the state, in KVM's order.
//! let (mut cpu, mut vm_state) = (VcpuState::default(), VmWideState::default());
//! let mut reg = Registry::new("my-vmm-1.0");
//! reg.device("kvm-vcpu", 0, &mut cpu);
//! reg.device("kvm-vm", 0, &mut vm_state);
//! reg.load(&bytes)?;
//! drop(reg);
//! let vm2 = kvm.create_vm().unwrap();
//! vm2.create_irq_chip().unwrap();
//! let vcpu2 = vm2.create_vcpu(0).unwrap();
//! kvm::restore_vm(&vm2, &vm_state)?;
//! kvm::restore(&Host::probe(&kvm, &vm2)?, &vcpu2, &cpu)?;
//! # Ok::<(), vmstate_runtime::Error>(())
//! ```
//!
//! The byte views of KVM's structs and unions (`kvm_lapic_state`, the irqchip
//! union, IOAPIC redirection entries) go through zerocopy, which checks their layout
//! at compile time. The only `unsafe` is in `kvm/xsave.rs`: kvm-ioctls marks the XSAVE
//! calls unsafe because the kernel may copy beyond the legacy 4 KiB; each call there
//! passes a buffer of the size the kernel reports.

mod state;
mod xsave;

pub use self::state::*;

use crate::error::{Error, ErrorKind, Result};
use kvm_bindings::{
    kvm_debugregs, kvm_fpu, kvm_irqchip, kvm_lapic_state, kvm_mp_state, kvm_pic_state,
    kvm_pit_channel_state, kvm_pit_state2, kvm_regs, kvm_segment, kvm_sregs, kvm_vcpu_events,
    kvm_xcrs, Msrs as KvmMsrs, KVM_IRQCHIP_IOAPIC, KVM_IRQCHIP_PIC_MASTER, KVM_IRQCHIP_PIC_SLAVE,
};
use kvm_ioctls::{Cap, Kvm, VcpuFd, VmFd};
use zerocopy::{FromBytes, IntoBytes};

/// What the host's KVM offers that capture and restore need to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// The MSRs KVM saves and restores (`KVM_GET_MSR_INDEX_LIST`).
    pub msr_indices: Vec<u32>,
    /// Bytes of XSAVE state (`KVM_CAP_XSAVE2`; 4096 without extended features).
    pub xsave_size: usize,
}

/// `$ty { f: $src.f, ... }` for fields both structs name alike (KVM's structs and
/// ours), the rest from `Default` when `..` is given.
macro_rules! same_fields {
    ($ty:ident, $src:expr, [$($f:ident),* $(,)?]) => {
        $ty { $($f: $src.$f),* }
    };
    ($ty:ident, $src:expr, [$($f:ident),* $(,)?], ..) => {
        $ty { $($f: $src.$f,)* ..Default::default() }
    };
}

fn kvm_err(ioctl: &str, e: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::Io(format!("{ioctl}: {e}")), 0)
}

impl Host {
    /// Asks KVM (and a VM of it, for the XSAVE size).
    pub fn probe(kvm: &Kvm, vm: &VmFd) -> Result<Host> {
        let list = kvm
            .get_msr_index_list()
            .map_err(|e| kvm_err("KVM_GET_MSR_INDEX_LIST", e))?;
        let size = vm.check_extension_int(Cap::Xsave2);
        Ok(Host {
            msr_indices: list.as_slice().to_vec(),
            xsave_size: usize::try_from(size).unwrap_or(0).max(4096),
        })
    }
}

macro_rules! segment_fields {
    ($ty:ident, $src:expr $(, $rest:tt)?) => {
        same_fields!($ty, $src, [base, limit, selector, type_, present, dpl, db, s, l, g, avl, unusable] $(, $rest)?)
    };
}

fn segment(s: &kvm_segment) -> Segment {
    segment_fields!(Segment, s)
}

fn kvm_segment(s: &Segment) -> kvm_segment {
    segment_fields!(kvm_segment, s, ..)
}

fn dtable(d: &kvm_bindings::kvm_dtable) -> DTable {
    DTable {
        base: d.base,
        limit: d.limit,
    }
}

fn kvm_dtable(d: &DTable) -> kvm_bindings::kvm_dtable {
    kvm_bindings::kvm_dtable {
        base: d.base,
        limit: d.limit,
        ..Default::default()
    }
}

/// Special registers, converting segments and descriptor tables with `$seg`, `$dt`.
macro_rules! sregs_fields {
    ($ty:ident, $src:expr, $seg:ident, $dt:ident) => {
        $ty {
            cs: $seg(&$src.cs),
            ds: $seg(&$src.ds),
            es: $seg(&$src.es),
            fs: $seg(&$src.fs),
            gs: $seg(&$src.gs),
            ss: $seg(&$src.ss),
            tr: $seg(&$src.tr),
            ldt: $seg(&$src.ldt),
            gdt: $dt(&$src.gdt),
            idt: $dt(&$src.idt),
            cr0: $src.cr0,
            cr2: $src.cr2,
            cr3: $src.cr3,
            cr4: $src.cr4,
            cr8: $src.cr8,
            efer: $src.efer,
            apic_base: $src.apic_base,
            interrupt_bitmap: $src.interrupt_bitmap,
        }
    };
}

macro_rules! regs_fields {
    ($ty:ident, $src:expr) => {
        same_fields!(
            $ty,
            $src,
            [
                rax, rbx, rcx, rdx, rsi, rdi, rsp, rbp, r8, r9, r10, r11, r12, r13, r14, r15, rip,
                rflags
            ]
        )
    };
}

macro_rules! fpu_fields {
    ($ty:ident, $src:expr $(, $rest:tt)?) => {
        same_fields!($ty, $src, [fpr, fcw, fsw, ftwx, last_opcode, last_ip, last_dp, xmm, mxcsr] $(, $rest)?)
    };
}

macro_rules! pic_fields {
    ($ty:ident, $src:expr) => {
        same_fields!(
            $ty,
            $src,
            [
                last_irr,
                irr,
                imr,
                isr,
                priority_add,
                irq_base,
                read_reg_select,
                poll,
                special_mask,
                init_state,
                auto_eoi,
                rotate_on_auto_eoi,
                special_fully_nested_mode,
                init4,
                elcr,
                elcr_mask,
            ]
        )
    };
}

macro_rules! pit_channel_fields {
    ($ty:ident, $src:expr $(, $rest:tt)?) => {
        same_fields!($ty, $src, [
            count, latched_count, count_latched, status_latched, status, read_state,
            write_state, write_latch, rw_mode, mode, bcd, gate, count_load_time,
        ] $(, $rest)?)
    };
}

/// Reads the whole state of `vcpu`.
pub fn capture(host: &Host, vcpu: &VcpuFd) -> Result<VcpuState> {
    let r = vcpu.get_regs().map_err(|e| kvm_err("KVM_GET_REGS", e))?;
    let s = vcpu.get_sregs().map_err(|e| kvm_err("KVM_GET_SREGS", e))?;
    let f = vcpu.get_fpu().map_err(|e| kvm_err("KVM_GET_FPU", e))?;
    let x = vcpu.get_xcrs().map_err(|e| kvm_err("KVM_GET_XCRS", e))?;
    let l = vcpu.get_lapic().map_err(|e| kvm_err("KVM_GET_LAPIC", e))?;
    let ev = vcpu
        .get_vcpu_events()
        .map_err(|e| kvm_err("KVM_GET_VCPU_EVENTS", e))?;
    let d = vcpu
        .get_debug_regs()
        .map_err(|e| kvm_err("KVM_GET_DEBUGREGS", e))?;
    let mp = vcpu
        .get_mp_state()
        .map_err(|e| kvm_err("KVM_GET_MP_STATE", e))?;
    let tsc_khz = vcpu
        .get_tsc_khz()
        .map_err(|e| kvm_err("KVM_GET_TSC_KHZ", e))?;
    let nr_xcrs = x.nr_xcrs.min(16);
    let mut lapic = Lapic::default();
    lapic.regs.copy_from_slice(l.regs.as_bytes());
    Ok(VcpuState {
        regs: regs_fields!(Regs, r),
        sregs: sregs_fields!(Sregs, s, segment, dtable),
        fpu: fpu_fields!(Fpu, f),
        xsave: xsave::capture(host, vcpu)?,
        xcrs: Xcrs {
            flags: x.flags,
            nr_xcrs,
            xcrs: x.xcrs[..nr_xcrs as usize]
                .iter()
                .map(|c| Xcr {
                    xcr: c.xcr,
                    value: c.value,
                })
                .collect(),
        },
        msrs: capture_msrs(host, vcpu)?,
        lapic,
        events: VcpuEvents {
            exception_injected: ev.exception.injected,
            exception_nr: ev.exception.nr,
            exception_has_error_code: ev.exception.has_error_code,
            exception_pending: ev.exception.pending,
            exception_error_code: ev.exception.error_code,
            interrupt_injected: ev.interrupt.injected,
            interrupt_nr: ev.interrupt.nr,
            interrupt_soft: ev.interrupt.soft,
            interrupt_shadow: ev.interrupt.shadow,
            nmi_injected: ev.nmi.injected,
            nmi_pending: ev.nmi.pending,
            nmi_masked: ev.nmi.masked,
            sipi_vector: ev.sipi_vector,
            flags: ev.flags,
            smi_smm: ev.smi.smm,
            smi_pending: ev.smi.pending,
            smi_inside_nmi: ev.smi.smm_inside_nmi,
            smi_latched_init: ev.smi.latched_init,
            triple_fault_pending: ev.triple_fault.pending,
            exception_has_payload: ev.exception_has_payload,
            exception_payload: ev.exception_payload,
        },
        debugregs: DebugRegs {
            db: d.db,
            dr6: d.dr6,
            dr7: d.dr7,
            flags: d.flags,
        },
        mp_state: mp.mp_state,
        tsc_khz,
    })
}

fn capture_msrs(host: &Host, vcpu: &VcpuFd) -> Result<Msrs> {
    let entries: Vec<kvm_bindings::kvm_msr_entry> = host
        .msr_indices
        .iter()
        .map(|&index| kvm_bindings::kvm_msr_entry {
            index,
            ..Default::default()
        })
        .collect();
    let mut msrs = KvmMsrs::from_entries(&entries).map_err(|e| kvm_err("MSR list", e))?;
    let n = vcpu
        .get_msrs(&mut msrs)
        .map_err(|e| kvm_err("KVM_GET_MSRS", e))?;
    if n != entries.len() {
        let failed = entries.get(n).map_or(0, |e| e.index);
        return Err(kvm_err(
            "KVM_GET_MSRS",
            format!("read {n} of {} MSRs; MSR {failed:#x} failed", entries.len()),
        ));
    }
    let entries: Vec<Msr> = msrs
        .as_slice()
        .iter()
        .map(|e| Msr {
            index: e.index,
            data: e.data,
        })
        .collect();
    Ok(Msrs {
        count: entries.len() as u32,
        entries,
    })
}

/// Writes `state` into `vcpu`, in the order KVM needs.
pub fn restore(host: &Host, vcpu: &VcpuFd, state: &VcpuState) -> Result<()> {
    let mp = kvm_mp_state {
        mp_state: state.mp_state,
    };
    vcpu.set_mp_state(mp)
        .map_err(|e| kvm_err("KVM_SET_MP_STATE", e))?;
    let s = &state.sregs;
    let sregs = sregs_fields!(kvm_sregs, s, kvm_segment, kvm_dtable);
    vcpu.set_sregs(&sregs)
        .map_err(|e| kvm_err("KVM_SET_SREGS", e))?;
    let r = &state.regs;
    let regs = regs_fields!(kvm_regs, r);
    vcpu.set_regs(&regs)
        .map_err(|e| kvm_err("KVM_SET_REGS", e))?;
    let f = &state.fpu;
    let fpu = fpu_fields!(kvm_fpu, f, ..);
    vcpu.set_fpu(&fpu).map_err(|e| kvm_err("KVM_SET_FPU", e))?;
    // XSAVE after the FPU: it holds the same state, and more.
    xsave::restore(host, vcpu, &state.xsave)?;
    let mut xcrs = kvm_xcrs {
        nr_xcrs: state.xcrs.nr_xcrs,
        flags: state.xcrs.flags,
        ..Default::default()
    };
    for (dst, src) in xcrs.xcrs.iter_mut().zip(&state.xcrs.xcrs) {
        dst.xcr = src.xcr;
        dst.value = src.value;
    }
    vcpu.set_xcrs(&xcrs)
        .map_err(|e| kvm_err("KVM_SET_XCRS", e))?;
    let d = &state.debugregs;
    let debugregs = kvm_debugregs {
        db: d.db,
        dr6: d.dr6,
        dr7: d.dr7,
        flags: d.flags,
        ..Default::default()
    };
    vcpu.set_debug_regs(&debugregs)
        .map_err(|e| kvm_err("KVM_SET_DEBUGREGS", e))?;
    restore_msrs(vcpu, &state.msrs)?;
    if state.tsc_khz != 0 {
        let current = vcpu.get_tsc_khz().unwrap_or(0);
        if current != state.tsc_khz {
            vcpu.set_tsc_khz(state.tsc_khz)
                .map_err(|e| kvm_err("KVM_SET_TSC_KHZ", e))?;
        }
    }
    let mut lapic = kvm_lapic_state::default();
    lapic.regs.as_mut_bytes().copy_from_slice(&state.lapic.regs);
    vcpu.set_lapic(&lapic)
        .map_err(|e| kvm_err("KVM_SET_LAPIC", e))?;
    let e = &state.events;
    let mut events = kvm_vcpu_events::default();
    events.exception.injected = e.exception_injected;
    events.exception.nr = e.exception_nr;
    events.exception.has_error_code = e.exception_has_error_code;
    events.exception.pending = e.exception_pending;
    events.exception.error_code = e.exception_error_code;
    events.interrupt.injected = e.interrupt_injected;
    events.interrupt.nr = e.interrupt_nr;
    events.interrupt.soft = e.interrupt_soft;
    events.interrupt.shadow = e.interrupt_shadow;
    events.nmi.injected = e.nmi_injected;
    events.nmi.pending = e.nmi_pending;
    events.nmi.masked = e.nmi_masked;
    events.sipi_vector = e.sipi_vector;
    events.flags = e.flags;
    events.smi.smm = e.smi_smm;
    events.smi.pending = e.smi_pending;
    events.smi.smm_inside_nmi = e.smi_inside_nmi;
    events.smi.latched_init = e.smi_latched_init;
    events.triple_fault.pending = e.triple_fault_pending;
    events.exception_has_payload = e.exception_has_payload;
    events.exception_payload = e.exception_payload;
    vcpu.set_vcpu_events(&events)
        .map_err(|e| kvm_err("KVM_SET_VCPU_EVENTS", e))
}

fn restore_msrs(vcpu: &VcpuFd, msrs: &Msrs) -> Result<()> {
    let entries: Vec<kvm_bindings::kvm_msr_entry> = msrs
        .entries
        .iter()
        .map(|m| kvm_bindings::kvm_msr_entry {
            index: m.index,
            data: m.data,
            ..Default::default()
        })
        .collect();
    let list = KvmMsrs::from_entries(&entries).map_err(|e| kvm_err("MSR list", e))?;
    let n = vcpu
        .set_msrs(&list)
        .map_err(|e| kvm_err("KVM_SET_MSRS", e))?;
    if n != entries.len() {
        let failed = entries.get(n).map_or(0, |e| e.index);
        return Err(kvm_err(
            "KVM_SET_MSRS",
            format!(
                "wrote {n} of {} MSRs; MSR {failed:#x} was refused",
                entries.len()
            ),
        ));
    }
    Ok(())
}

fn chip(vm: &VmFd, id: u32) -> Result<kvm_irqchip> {
    let mut c = kvm_irqchip {
        chip_id: id,
        ..Default::default()
    };
    vm.get_irqchip(&mut c)
        .map_err(|e| kvm_err("KVM_GET_IRQCHIP", e))?;
    Ok(c)
}

/// The chip union's bytes (after `chip_id` and padding).
fn chip_bytes(c: &kvm_irqchip) -> &[u8] {
    &c.as_bytes()[8..]
}

fn pic(c: &kvm_irqchip) -> Result<Pic> {
    let p = kvm_bindings::kvm_pic_state::read_from_prefix(chip_bytes(c))
        .map_err(|_| kvm_err("KVM_GET_IRQCHIP", "short PIC state"))?
        .0;
    Ok(pic_fields!(Pic, p))
}

fn ioapic(c: &kvm_irqchip) -> Result<Ioapic> {
    let io = kvm_bindings::kvm_ioapic_state::read_from_prefix(chip_bytes(c))
        .map_err(|_| kvm_err("KVM_GET_IRQCHIP", "short IOAPIC state"))?
        .0;
    let mut redirtbl = [0u64; 24];
    for (dst, e) in redirtbl.iter_mut().zip(io.redirtbl.iter()) {
        *dst = u64::read_from_bytes(e.as_bytes()).unwrap_or(0);
    }
    Ok(Ioapic {
        base_address: io.base_address,
        ioregsel: io.ioregsel,
        id: io.id,
        irr: io.irr,
        redirtbl,
    })
}

/// Reads the VM-wide state; `irqchip` and `pit` say whether the VM has them.
pub fn capture_vm(vm: &VmFd, irqchip: bool, pit: bool) -> Result<VmWideState> {
    let c = vm.get_clock().map_err(|e| kvm_err("KVM_GET_CLOCK", e))?;
    let irqchip = if irqchip {
        Some(Irqchip {
            pic_master: pic(&chip(vm, KVM_IRQCHIP_PIC_MASTER)?)?,
            pic_slave: pic(&chip(vm, KVM_IRQCHIP_PIC_SLAVE)?)?,
            ioapic: ioapic(&chip(vm, KVM_IRQCHIP_IOAPIC)?)?,
        })
    } else {
        None
    };
    let pit = if pit {
        let p = vm.get_pit2().map_err(|e| kvm_err("KVM_GET_PIT2", e))?;
        let mut channels: [PitChannel; 3] = Default::default();
        for (dst, c) in channels.iter_mut().zip(p.channels.iter()) {
            *dst = pit_channel_fields!(PitChannel, c);
        }
        Some(Pit {
            channels,
            flags: p.flags,
        })
    } else {
        None
    };
    Ok(VmWideState {
        clock: Clock {
            clock: c.clock,
            flags: c.flags,
        },
        irqchip,
        pit,
    })
}

fn set_chip(vm: &VmFd, id: u32, bytes: &[u8]) -> Result<()> {
    let mut c = kvm_irqchip {
        chip_id: id,
        ..Default::default()
    };
    c.as_mut_bytes()[8..8 + bytes.len()].copy_from_slice(bytes);
    vm.set_irqchip(&c)
        .map_err(|e| kvm_err("KVM_SET_IRQCHIP", e))
}

/// Writes the VM-wide state: the irqchip and PIT (which the VM must have created)
/// before the clock.
pub fn restore_vm(vm: &VmFd, state: &VmWideState) -> Result<()> {
    if let Some(ic) = &state.irqchip {
        for (id, p) in [
            (KVM_IRQCHIP_PIC_MASTER, &ic.pic_master),
            (KVM_IRQCHIP_PIC_SLAVE, &ic.pic_slave),
        ] {
            let k = pic_fields!(kvm_pic_state, p);
            set_chip(vm, id, k.as_bytes())?;
        }
        let io = &ic.ioapic;
        let mut k = kvm_bindings::kvm_ioapic_state {
            base_address: io.base_address,
            ioregsel: io.ioregsel,
            id: io.id,
            irr: io.irr,
            ..Default::default()
        };
        for (dst, v) in k.redirtbl.iter_mut().zip(io.redirtbl) {
            dst.as_mut_bytes().copy_from_slice(&v.to_ne_bytes());
        }
        set_chip(vm, KVM_IRQCHIP_IOAPIC, k.as_bytes())?;
    }
    if let Some(p) = &state.pit {
        let mut k = kvm_pit_state2 {
            flags: p.flags,
            ..Default::default()
        };
        for (dst, c) in k.channels.iter_mut().zip(&p.channels) {
            *dst = pit_channel_fields!(kvm_pit_channel_state, c);
        }
        vm.set_pit2(&k).map_err(|e| kvm_err("KVM_SET_PIT2", e))?;
    }
    // The destination's clock continues from the source's value; the flags describe
    // the source host and are not set.
    let clock = kvm_bindings::kvm_clock_data {
        clock: state.clock.clock,
        ..Default::default()
    };
    vm.set_clock(&clock)
        .map_err(|e| kvm_err("KVM_SET_CLOCK", e))
}
