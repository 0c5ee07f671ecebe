//! From a KVM capture to QEMU's `cpu` section and back, so a Rust VMM can write its
//! vCPU in QEMU's layout (and read QEMU's). The mapping follows QEMU's own
//! `kvm_get_*` / `kvm_put_*` in `target/i386/kvm/kvm.c`: register order, segment
//! flag packing, the x87 tag word, where the MSRs and the YMM halves go.
//!
//! QEMU-internal fields with no KVM counterpart are derived the way QEMU derives them
//! (`hflags` from the segments and control registers) or set to QEMU's defaults
//! (`a20_mask` all ones, `smbase` 0x30000, `hflags2` with GIF set).

use super::cpu::{
    AsyncPfMsr, FeatureControl, Float80, FpReg, FpopIpDp, MiscEnable, MsrSmiCount, MtrrVar,
    PollControlMsr, PvEoiMsr, SegmentCache, SpecCtrl, StealTimeMsr, TscAdjust, TscDeadline, TscKhz,
    VirtSsbd, X86Cpu, XmmReg, Xss, YmmhReg,
};
use vmstate_runtime::kvm::{Msr, Segment, VcpuState};

/// MSR numbers the `cpu` section carries.
mod msr {
    pub const TSC: u32 = 0x10;
    pub const TSC_ADJUST: u32 = 0x3b;
    pub const FEATURE_CONTROL: u32 = 0x3a;
    pub const SPEC_CTRL: u32 = 0x48;
    pub const TSC_DEADLINE: u32 = 0x6e0;
    pub const SYSENTER_CS: u32 = 0x174;
    pub const SYSENTER_ESP: u32 = 0x175;
    pub const SYSENTER_EIP: u32 = 0x176;
    pub const MCG_CAP: u32 = 0x179;
    pub const MCG_STATUS: u32 = 0x17a;
    pub const MCG_CTL: u32 = 0x17b;
    pub const MISC_ENABLE: u32 = 0x1a0;
    pub const MTRR_PHYS_BASE0: u32 = 0x200;
    pub const MTRR_FIX64K: u32 = 0x250;
    pub const MTRR_FIX16K: [u32; 2] = [0x258, 0x259];
    pub const MTRR_FIX4K: u32 = 0x268;
    pub const PAT: u32 = 0x277;
    pub const MTRR_DEF_TYPE: u32 = 0x2ff;
    pub const MC0_CTL: u32 = 0x400;
    pub const XSS: u32 = 0xda0;
    pub const STAR: u32 = 0xc000_0081;
    pub const LSTAR: u32 = 0xc000_0082;
    pub const CSTAR: u32 = 0xc000_0083;
    pub const FMASK: u32 = 0xc000_0084;
    pub const KERNEL_GS_BASE: u32 = 0xc000_0102;
    pub const TSC_AUX: u32 = 0xc000_0103;
    pub const VIRT_SSBD: u32 = 0xc001_011f;
    pub const KVM_WALL_CLOCK: u32 = 0x4b56_4d00;
    pub const KVM_SYSTEM_TIME: u32 = 0x4b56_4d01;
    pub const KVM_ASYNC_PF_EN: u32 = 0x4b56_4d02;
    pub const KVM_STEAL_TIME: u32 = 0x4b56_4d03;
    pub const KVM_PV_EOI_EN: u32 = 0x4b56_4d04;
    pub const KVM_POLL_CONTROL: u32 = 0x4b56_4d05;
    pub const SMI_COUNT: u32 = 0x34;
}

/// The eleven fixed-range MTRRs in QEMU's order.
fn mtrr_fixed() -> [u32; 11] {
    let mut v = [0u32; 11];
    v[0] = msr::MTRR_FIX64K;
    v[1..3].copy_from_slice(&msr::MTRR_FIX16K);
    for (i, x) in v[3..].iter_mut().enumerate() {
        *x = msr::MTRR_FIX4K + i as u32;
    }
    v
}

/// QEMU's `SegmentCache.flags` packing of a KVM segment (`get_seg`).
fn seg_flags(s: &Segment) -> u32 {
    (u32::from(s.type_) << 8)
        | (u32::from(s.present != 0 && s.unusable == 0) << 15)
        | (u32::from(s.dpl) << 13)
        | (u32::from(s.db) << 22)
        | (u32::from(s.s) << 12)
        | (u32::from(s.l) << 21)
        | (u32::from(s.g) << 23)
        | (u32::from(s.avl) << 20)
}

fn seg(s: &Segment) -> SegmentCache {
    SegmentCache {
        selector: u32::from(s.selector),
        base: s.base,
        limit: s.limit,
        flags: seg_flags(s),
    }
}

/// The KVM segment QEMU's `set_seg` makes of a `SegmentCache`.
fn kvm_seg(c: &SegmentCache) -> Segment {
    let f = c.flags;
    let present = (f >> 15) & 1;
    Segment {
        base: c.base,
        limit: c.limit,
        selector: c.selector as u16,
        type_: ((f >> 8) & 15) as u8,
        present: present as u8,
        dpl: ((f >> 13) & 3) as u8,
        db: ((f >> 22) & 1) as u8,
        s: ((f >> 12) & 1) as u8,
        l: ((f >> 21) & 1) as u8,
        g: ((f >> 23) & 1) as u8,
        avl: ((f >> 20) & 1) as u8,
        unusable: u8::from(present == 0),
    }
}

fn u64_le(b: &[u8]) -> u64 {
    u64::from_le_bytes(b[..8].try_into().expect("8 bytes"))
}

/// Offset of the YMM upper halves in the standard XSAVE layout.
const XSAVE_YMMH: usize = 576;
/// Offset of XSTATE_BV in the XSAVE header.
const XSAVE_XSTATE_BV: usize = 512;

impl X86Cpu {
    /// QEMU's `cpu` section for a captured vCPU.
    pub fn from_kvm(k: &VcpuState) -> X86Cpu {
        let m = |index: u32| {
            k.msrs
                .entries
                .iter()
                .find(|e| e.index == index)
                .map_or(0, |e| e.data)
        };
        let r = &k.regs;
        let s = &k.sregs;
        let lma = (s.efer >> 10) & 1;
        let pe = s.cr0 & 1;
        // x86_update_hflags: CPL, CS32, SS32, PE, MP/EM/TS, LMA, CS64, OSFXSR.
        let hflags = u32::from(s.ss.dpl & 3)
            | (u32::from(s.cs.db) << 4)
            | (u32::from(s.ss.db) << 5)
            | ((pe as u32) << 7)
            | (((s.cr0 >> 1) & 7) as u32) << 9
            | ((lma as u32) << 14)
            | ((u32::from(s.cs.l) & lma as u32) << 15)
            | ((((s.cr4 >> 9) & 1) as u32) << 22);
        let mut fpregs: [FpReg; 8] = Default::default();
        for (dst, src) in fpregs.iter_mut().zip(&k.fpu.fpr) {
            dst.tmp = Float80 {
                mant: u64_le(&src[..8]),
                exp: u16::from_le_bytes([src[8], src[9]]),
            };
        }
        let mut xmm_regs: [XmmReg; 16] = Default::default();
        let mut ymmh_regs: [YmmhReg; 16] = Default::default();
        for i in 0..16 {
            xmm_regs[i] = XmmReg {
                q0: u64_le(&k.fpu.xmm[i][..8]),
                q1: u64_le(&k.fpu.xmm[i][8..]),
            };
            let y = &k.xsave.region[XSAVE_YMMH + 16 * i..XSAVE_YMMH + 16 * (i + 1)];
            ymmh_regs[i] = YmmhReg {
                q2: u64_le(&y[..8]),
                q3: u64_le(&y[8..]),
            };
        }
        let mut mtrr_var: [MtrrVar; 8] = Default::default();
        for (i, v) in mtrr_var.iter_mut().enumerate() {
            v.base = m(msr::MTRR_PHYS_BASE0 + 2 * i as u32);
            v.mask = m(msr::MTRR_PHYS_BASE0 + 2 * i as u32 + 1);
        }
        let mut mce_banks = [[0u64; 4]; 10];
        for (b, bank) in mce_banks.iter_mut().enumerate() {
            for (j, x) in bank.iter_mut().enumerate() {
                *x = m(msr::MC0_CTL + 4 * b as u32 + j as u32);
            }
        }
        let ev = &k.events;
        let some = |v: u64| (v != 0).then_some(v);
        X86Cpu {
            regs: [
                r.rax, r.rcx, r.rdx, r.rbx, r.rsp, r.rbp, r.rsi, r.rdi, r.r8, r.r9, r.r10, r.r11,
                r.r12, r.r13, r.r14, r.r15,
            ],
            eip: r.rip,
            eflags: r.rflags,
            hflags,
            fpuc: k.fpu.fcw,
            fpus_vmstate: k.fpu.fsw,
            fptag_vmstate: u16::from(k.fpu.ftwx),
            fpregs_format_vmstate: 0,
            fpregs,
            segs: [&s.es, &s.cs, &s.ss, &s.ds, &s.fs, &s.gs].map(seg),
            ldt: seg(&s.ldt),
            tr: seg(&s.tr),
            gdt: SegmentCache {
                base: s.gdt.base,
                limit: u32::from(s.gdt.limit),
                ..SegmentCache::default()
            },
            idt: SegmentCache {
                base: s.idt.base,
                limit: u32::from(s.idt.limit),
                ..SegmentCache::default()
            },
            sysenter_cs: m(msr::SYSENTER_CS) as u32,
            sysenter_esp: m(msr::SYSENTER_ESP),
            sysenter_eip: m(msr::SYSENTER_EIP),
            cr0: s.cr0,
            cr2: s.cr2,
            cr3: s.cr3,
            cr4: s.cr4,
            dr: [
                k.debugregs.db[0],
                k.debugregs.db[1],
                k.debugregs.db[2],
                k.debugregs.db[3],
                0,
                0,
                k.debugregs.dr6,
                k.debugregs.dr7,
            ],
            a20_mask: -1,
            mxcsr: k.fpu.mxcsr,
            xmm_regs,
            efer: s.efer,
            star: m(msr::STAR),
            lstar: m(msr::LSTAR),
            cstar: m(msr::CSTAR),
            fmask: m(msr::FMASK),
            kernelgsbase: m(msr::KERNEL_GS_BASE),
            smbase: 0x30000,
            pat: m(msr::PAT),
            hflags2: 1,
            mtrr_fixed: mtrr_fixed().map(m),
            mtrr_deftype: m(msr::MTRR_DEF_TYPE),
            mtrr_var,
            interrupt_injected: if ev.interrupt_injected != 0 {
                i32::from(ev.interrupt_nr)
            } else {
                -1
            },
            mp_state: k.mp_state,
            tsc: m(msr::TSC),
            exception_nr: if ev.exception_injected != 0 || ev.exception_pending != 0 {
                i32::from(ev.exception_nr)
            } else {
                -1
            },
            soft_interrupt: ev.interrupt_soft,
            nmi_injected: ev.nmi_injected,
            nmi_pending: ev.nmi_pending,
            has_error_code: ev.exception_has_error_code,
            sipi_vector: ev.sipi_vector,
            mcg_cap: m(msr::MCG_CAP),
            mcg_status: m(msr::MCG_STATUS),
            mcg_ctl: m(msr::MCG_CTL),
            mce_banks,
            tsc_aux: m(msr::TSC_AUX),
            system_time_msr: m(msr::KVM_SYSTEM_TIME),
            wall_clock_msr: m(msr::KVM_WALL_CLOCK),
            xcr0: k.xcrs.xcrs.first().map_or(1, |x| x.value),
            xstate_bv: u64_le(&k.xsave.region[XSAVE_XSTATE_BV..]),
            ymmh_regs,
            async_pf_msr: some(m(msr::KVM_ASYNC_PF_EN)).map(|value| AsyncPfMsr { value }),
            pv_eoi_msr: some(m(msr::KVM_PV_EOI_EN)).map(|value| PvEoiMsr { value }),
            steal_time_msr: some(m(msr::KVM_STEAL_TIME)).map(|value| StealTimeMsr { value }),
            poll_control_msr: k
                .msrs
                .entries
                .iter()
                .find(|e| e.index == msr::KVM_POLL_CONTROL && e.data != 1)
                .map(|e| PollControlMsr { value: e.data }),
            fpop_ip_dp: (k.fpu.last_opcode != 0 || k.fpu.last_ip != 0 || k.fpu.last_dp != 0)
                .then_some(FpopIpDp {
                    fpop: k.fpu.last_opcode,
                    fpip: k.fpu.last_ip,
                    fpdp: k.fpu.last_dp,
                }),
            tsc_adjust: some(m(msr::TSC_ADJUST)).map(|value| TscAdjust { value }),
            tsc_deadline: some(m(msr::TSC_DEADLINE)).map(|value| TscDeadline { value }),
            misc_enable: k
                .msrs
                .entries
                .iter()
                .find(|e| e.index == msr::MISC_ENABLE && e.data != 1)
                .map(|e| MiscEnable { value: e.data }),
            feature_control: some(m(msr::FEATURE_CONTROL)).map(|value| FeatureControl { value }),
            xss: some(m(msr::XSS)).map(|value| Xss { value }),
            tsc_khz: (k.tsc_khz != 0).then_some(TscKhz {
                tsc_khz: i64::from(k.tsc_khz),
            }),
            msr_smi_count: some(m(msr::SMI_COUNT)).map(|value| MsrSmiCount { value }),
            spec_ctrl: some(m(msr::SPEC_CTRL)).map(|value| SpecCtrl { value }),
            virt_ssbd: some(m(msr::VIRT_SSBD)).map(|value| VirtSsbd { value }),
            // SVM state (hsave, VMCB, intercepts), v_tpr and PKRU: not in a KVM capture.
            ..X86Cpu::default()
        }
    }

    /// Writes this section's state into `k` (a capture of the destination vCPU, or
    /// of the source): registers, segments, control and debug registers, x87/SSE,
    /// the YMM halves, events, MP state, TSC frequency, and every MSR the section
    /// carries that `k`'s MSR list holds. The local APIC is the `apic` section's.
    pub fn apply_to(&self, k: &mut VcpuState) {
        let g = &self.regs;
        let r = &mut k.regs;
        [
            r.rax, r.rcx, r.rdx, r.rbx, r.rsp, r.rbp, r.rsi, r.rdi, r.r8, r.r9, r.r10, r.r11,
            r.r12, r.r13, r.r14, r.r15,
        ] = *g;
        r.rip = self.eip;
        r.rflags = self.eflags;
        let s = &mut k.sregs;
        [s.es, s.cs, s.ss, s.ds, s.fs, s.gs] = [
            kvm_seg(&self.segs[0]),
            kvm_seg(&self.segs[1]),
            kvm_seg(&self.segs[2]),
            kvm_seg(&self.segs[3]),
            kvm_seg(&self.segs[4]),
            kvm_seg(&self.segs[5]),
        ];
        s.ldt = kvm_seg(&self.ldt);
        s.tr = kvm_seg(&self.tr);
        s.gdt.base = self.gdt.base;
        s.gdt.limit = self.gdt.limit as u16;
        s.idt.base = self.idt.base;
        s.idt.limit = self.idt.limit as u16;
        (s.cr0, s.cr2, s.cr3, s.cr4, s.efer) = (self.cr0, self.cr2, self.cr3, self.cr4, self.efer);
        let f = &mut k.fpu;
        f.fcw = self.fpuc;
        f.fsw = self.fpus_vmstate;
        f.ftwx = self.fptag_vmstate as u8;
        f.mxcsr = self.mxcsr;
        for (dst, src) in f.fpr.iter_mut().zip(&self.fpregs) {
            dst[..8].copy_from_slice(&src.tmp.mant.to_le_bytes());
            dst[8..10].copy_from_slice(&src.tmp.exp.to_le_bytes());
        }
        for (i, (x, y)) in self.xmm_regs.iter().zip(&self.ymmh_regs).enumerate() {
            f.xmm[i][..8].copy_from_slice(&x.q0.to_le_bytes());
            f.xmm[i][8..].copy_from_slice(&x.q1.to_le_bytes());
            // The XSAVE area holds the same state, and KVM loads it after the FPU.
            let legacy = 160 + 16 * i;
            k.xsave.region[legacy..legacy + 16].copy_from_slice(&f.xmm[i]);
            let at = XSAVE_YMMH + 16 * i;
            k.xsave.region[at..at + 8].copy_from_slice(&y.q2.to_le_bytes());
            k.xsave.region[at + 8..at + 16].copy_from_slice(&y.q3.to_le_bytes());
        }
        if let Some(p) = &self.fpop_ip_dp {
            (f.last_opcode, f.last_ip, f.last_dp) = (p.fpop, p.fpip, p.fpdp);
        }
        k.debugregs.db.copy_from_slice(&self.dr[..4]);
        (k.debugregs.dr6, k.debugregs.dr7) = (self.dr[6], self.dr[7]);
        let e = &mut k.events;
        e.interrupt_injected = u8::from(self.interrupt_injected >= 0);
        e.interrupt_nr = self.interrupt_injected.max(0) as u8;
        e.interrupt_soft = self.soft_interrupt;
        e.exception_injected = u8::from(self.exception_nr >= 0);
        e.exception_nr = self.exception_nr.max(0) as u8;
        e.exception_has_error_code = self.has_error_code;
        e.nmi_injected = self.nmi_injected;
        e.nmi_pending = self.nmi_pending;
        e.sipi_vector = self.sipi_vector;
        k.mp_state = self.mp_state;
        if let Some(t) = &self.tsc_khz {
            k.tsc_khz = t.tsc_khz as u32;
        }
        let mut set = |index: u32, data: u64| {
            if let Some(e) = k.msrs.entries.iter_mut().find(|e| e.index == index) {
                *e = Msr { index, data };
            }
        };
        for (index, data) in [
            (msr::SYSENTER_CS, u64::from(self.sysenter_cs)),
            (msr::SYSENTER_ESP, self.sysenter_esp),
            (msr::SYSENTER_EIP, self.sysenter_eip),
            (msr::STAR, self.star),
            (msr::LSTAR, self.lstar),
            (msr::CSTAR, self.cstar),
            (msr::FMASK, self.fmask),
            (msr::KERNEL_GS_BASE, self.kernelgsbase),
            (msr::PAT, self.pat),
            (msr::MTRR_DEF_TYPE, self.mtrr_deftype),
            (msr::TSC, self.tsc),
            (msr::MCG_STATUS, self.mcg_status),
            (msr::MCG_CTL, self.mcg_ctl),
            (msr::TSC_AUX, self.tsc_aux),
            (msr::KVM_SYSTEM_TIME, self.system_time_msr),
            (msr::KVM_WALL_CLOCK, self.wall_clock_msr),
            (
                msr::KVM_ASYNC_PF_EN,
                self.async_pf_msr.as_ref().map_or(0, |x| x.value),
            ),
            (
                msr::KVM_PV_EOI_EN,
                self.pv_eoi_msr.as_ref().map_or(0, |x| x.value),
            ),
            (
                msr::KVM_STEAL_TIME,
                self.steal_time_msr.as_ref().map_or(0, |x| x.value),
            ),
            (
                msr::KVM_POLL_CONTROL,
                self.poll_control_msr.as_ref().map_or(1, |x| x.value),
            ),
            (
                msr::TSC_ADJUST,
                self.tsc_adjust.as_ref().map_or(0, |x| x.value),
            ),
            (
                msr::TSC_DEADLINE,
                self.tsc_deadline.as_ref().map_or(0, |x| x.value),
            ),
            (
                msr::MISC_ENABLE,
                self.misc_enable.as_ref().map_or(1, |x| x.value),
            ),
            (
                msr::FEATURE_CONTROL,
                self.feature_control.as_ref().map_or(0, |x| x.value),
            ),
            (msr::XSS, self.xss.as_ref().map_or(0, |x| x.value)),
            (
                msr::SPEC_CTRL,
                self.spec_ctrl.as_ref().map_or(0, |x| x.value),
            ),
            (
                msr::VIRT_SSBD,
                self.virt_ssbd.as_ref().map_or(0, |x| x.value),
            ),
            (
                msr::SMI_COUNT,
                self.msr_smi_count.as_ref().map_or(0, |x| x.value),
            ),
        ] {
            set(index, data);
        }
        for (index, data) in mtrr_fixed().into_iter().zip(self.mtrr_fixed) {
            set(index, data);
        }
        for (i, v) in self.mtrr_var.iter().enumerate() {
            set(msr::MTRR_PHYS_BASE0 + 2 * i as u32, v.base);
            set(msr::MTRR_PHYS_BASE0 + 2 * i as u32 + 1, v.mask);
        }
        for (b, bank) in self.mce_banks.iter().enumerate() {
            for (j, &x) in bank.iter().enumerate() {
                set(msr::MC0_CTL + 4 * b as u32 + j as u32, x);
            }
        }
    }
}
