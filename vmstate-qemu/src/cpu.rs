//! QEMU 7.2's x86 `cpu` section (`vmstate_x86_cpu`, version 12) and `apic` (v3).
//!
//! The 66 top-level fields in QEMU's order with its names (`env.regs`, `env.cr[0]`;
//! the two `env.xmm_regs` fields become `[0]` and `[1]` in the vmdesc, as QEMU's do),
//! the 80-bit x87 registers as QEMU's `fpreg_tmp` (mantissa, exponent), segment
//! caches, XMM / YMMH halves and variable MTRRs as nested structs, and the common
//! subsections as `Option`s: sent exactly when the stream had them.

use vmstate_runtime::ber::{self, Decoder, Header, Tag};
use vmstate_runtime::desc::TypeDesc;
use vmstate_runtime::io::{Input, Writer};
use vmstate_runtime::json::JsonWriter;
use vmstate_runtime::{Field, Result, VMState};

/// An x87 register in its 80-bit form, as QEMU migrates it (`VMSTATE_WITH_TMP` over
/// `fpreg_tmp`): the 64-bit mantissa, then the sign and exponent.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Float80 {
    /// Mantissa (the MMX register, in MMX use).
    pub mant: u64,
    /// Sign and exponent.
    pub exp: u16,
}

impl Float80 {
    fn bytes(&self) -> [u8; 10] {
        let mut b = [0u8; 10];
        b[..8].copy_from_slice(&self.mant.to_be_bytes());
        b[8..].copy_from_slice(&self.exp.to_be_bytes());
        b
    }

    fn from_bytes(b: [u8; 10]) -> Float80 {
        Float80 {
            mant: u64::from_be_bytes(b[..8].try_into().expect("8 bytes")),
            exp: u16::from_be_bytes([b[8], b[9]]),
        }
    }
}

/// Ten bytes on the wire; in BER one OCTET STRING of the same ten bytes; in the vmdesc
/// QEMU's inline `fpreg_tmp` description.
impl Field for Float80 {
    const TYPE: TypeDesc = TypeDesc::Scalar {
        name: "tmp",
        size: 10,
    };
    const BER_TAG: Tag = Tag::OCTET_STRING;

    fn legacy_put<W: std::io::Write>(&self, w: &mut Writer<W>) -> Result<()> {
        w.put(&self.bytes())
    }

    fn legacy_get<I: Input + ?Sized>(&mut self, r: &mut I) -> Result<()> {
        *self = Float80::from_bytes(r.read_array()?);
        Ok(())
    }

    fn legacy_size(&self) -> usize {
        10
    }

    fn vmdesc_leaf(&self, _leaf: usize, _suffix: &str, j: &mut JsonWriter) {
        j.string("type", "tmp");
        j.string("vmsd_name", "fpreg_tmp");
        j.int("version", 0);
        j.begin_array("fields");
        for (name, ty, size) in [("tmp_mant", "uint64", 8), ("tmp_exp", "uint16", 2)] {
            j.begin_object(None);
            j.string("name", name);
            j.string("type", ty);
            j.int("size", size);
            j.end_object();
        }
        j.end_array();
        j.int("size", 10);
    }

    fn ber_put(&self, e: &mut ber::Encoder) -> Result<()> {
        e.put(&self.bytes());
        Ok(())
    }

    fn ber_get<I: Input + ?Sized>(&mut self, d: &mut Decoder<'_, I>, h: &Header) -> Result<()> {
        let mut b = [0u8; 10];
        d.octets(h, 10, &mut |input, pos, n| {
            input.read_exact(&mut b[pos..pos + n])
        })?;
        *self = Float80::from_bytes(b);
        Ok(())
    }

    fn ber_scan(&mut self, s: &mut ber::Scan<'_>, id: ber::Id) -> bool {
        let b = s.octets(id, 10).and_then(|b| b.try_into().ok());
        b.map(|b| *self = Float80::from_bytes(b)).is_some()
    }

    fn to_json(&self) -> vmstate_runtime::json::Value {
        ber::octets_json(&self.bytes())
    }
}

/// `fpreg`: one x87 register (QEMU gives it no version: 0).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq, Eq)]
#[vmstate(name = "fpreg", version = 0)]
pub struct FpReg {
    /// The register.
    pub tmp: Float80,
}

/// `segment`: a segment register's cache.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq, Eq)]
#[vmstate(name = "segment", version = 1)]
#[allow(missing_docs)]
pub struct SegmentCache {
    pub selector: u32,
    pub base: u64,
    pub limit: u32,
    pub flags: u32,
}

/// `xmm_reg`: the low 128 bits of a vector register.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq, Eq)]
#[vmstate(name = "xmm_reg", version = 1)]
#[allow(missing_docs)]
pub struct XmmReg {
    #[vmstate(rename = "_q_ZMMReg[0]")]
    pub q0: u64,
    #[vmstate(rename = "_q_ZMMReg[1]")]
    pub q1: u64,
}

/// `ymmh_reg`: bits 128 to 255 of a vector register.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq, Eq)]
#[vmstate(name = "ymmh_reg", version = 1)]
#[allow(missing_docs)]
pub struct YmmhReg {
    #[vmstate(rename = "_q_ZMMReg[2]")]
    pub q2: u64,
    #[vmstate(rename = "_q_ZMMReg[3]")]
    pub q3: u64,
}

/// `mtrr_var`: one variable-range MTRR.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq, Eq)]
#[vmstate(name = "mtrr_var", version = 1)]
#[allow(missing_docs)]
pub struct MtrrVar {
    pub base: u64,
    pub mask: u64,
}

macro_rules! msr_subsection {
    ($($(#[$doc:meta])* $ty:ident = $name:literal, $field:literal;)*) => {$(
        $(#[$doc])*
        #[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
        #[derive(VMState, Clone, Debug, Default, PartialEq, Eq)]
        #[vmstate(name = $name, version = 1)]
        pub struct $ty {
            /// The value.
            #[vmstate(rename = $field)]
            pub value: u64,
        }
    )*};
}

msr_subsection! {
    /// `cpu/async_pf_msr`.
    AsyncPfMsr = "cpu/async_pf_msr", "env.async_pf_en_msr";
    /// `cpu/async_pv_eoi_msr`.
    PvEoiMsr = "cpu/async_pv_eoi_msr", "env.pv_eoi_en_msr";
    /// `cpu/steal_time_msr`.
    StealTimeMsr = "cpu/steal_time_msr", "env.steal_time_msr";
    /// `cpu/poll_control_msr`.
    PollControlMsr = "cpu/poll_control_msr", "env.poll_control_msr";
    /// `cpu/msr_tsc_adjust`.
    TscAdjust = "cpu/msr_tsc_adjust", "env.tsc_adjust";
    /// `cpu/msr_tscdeadline`.
    TscDeadline = "cpu/msr_tscdeadline", "env.tsc_deadline";
    /// `cpu/msr_ia32_misc_enable`.
    MiscEnable = "cpu/msr_ia32_misc_enable", "env.msr_ia32_misc_enable";
    /// `cpu/msr_ia32_feature_control`.
    FeatureControl = "cpu/msr_ia32_feature_control", "env.msr_ia32_feature_control";
    /// `cpu/xss`.
    Xss = "cpu/xss", "env.xss";
    /// `cpu/spec_ctrl`.
    SpecCtrl = "cpu/spec_ctrl", "env.spec_ctrl";
    /// `cpu/virt_ssbd`.
    VirtSsbd = "cpu/virt_ssbd", "env.virt_ssbd";
    /// `cpu/msr_smi_count`.
    MsrSmiCount = "cpu/msr_smi_count", "env.msr_smi_count";
}

/// `cpu/fpop_ip_dp`: the last x87 instruction's opcode and pointers.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq, Eq)]
#[vmstate(name = "cpu/fpop_ip_dp", version = 1)]
#[allow(missing_docs)]
pub struct FpopIpDp {
    #[vmstate(rename = "env.fpop")]
    pub fpop: u16,
    #[vmstate(rename = "env.fpip")]
    pub fpip: u64,
    #[vmstate(rename = "env.fpdp")]
    pub fpdp: u64,
}

/// `cpu/tsc_khz`: the guest TSC frequency.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq, Eq)]
#[vmstate(name = "cpu/tsc_khz", version = 1)]
pub struct TscKhz {
    /// kHz.
    #[vmstate(rename = "env.tsc_khz")]
    pub tsc_khz: i64,
}

/// `cpu/pkru`: the protection-key rights register.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq, Eq)]
#[vmstate(name = "cpu/pkru", version = 1)]
pub struct Pkru {
    /// PKRU.
    #[vmstate(rename = "env.pkru")]
    pub pkru: u32,
}

/// QEMU 7.2's `cpu` section.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq, Eq)]
#[vmstate(name = "cpu", version = 12, minimum_version = 11)]
#[allow(missing_docs)]
pub struct X86Cpu {
    #[vmstate(rename = "env.regs")]
    pub regs: [u64; 16],
    #[vmstate(rename = "env.eip")]
    pub eip: u64,
    #[vmstate(rename = "env.eflags")]
    pub eflags: u64,
    #[vmstate(rename = "env.hflags")]
    pub hflags: u32,
    #[vmstate(rename = "env.fpuc")]
    pub fpuc: u16,
    #[vmstate(rename = "env.fpus_vmstate")]
    pub fpus_vmstate: u16,
    #[vmstate(rename = "env.fptag_vmstate")]
    pub fptag_vmstate: u16,
    #[vmstate(rename = "env.fpregs_format_vmstate")]
    pub fpregs_format_vmstate: u16,
    #[vmstate(rename = "env.fpregs")]
    pub fpregs: [FpReg; 8],
    #[vmstate(rename = "env.segs")]
    pub segs: [SegmentCache; 6],
    #[vmstate(rename = "env.ldt")]
    pub ldt: SegmentCache,
    #[vmstate(rename = "env.tr")]
    pub tr: SegmentCache,
    #[vmstate(rename = "env.gdt")]
    pub gdt: SegmentCache,
    #[vmstate(rename = "env.idt")]
    pub idt: SegmentCache,
    #[vmstate(rename = "env.sysenter_cs")]
    pub sysenter_cs: u32,
    #[vmstate(rename = "env.sysenter_esp")]
    pub sysenter_esp: u64,
    #[vmstate(rename = "env.sysenter_eip")]
    pub sysenter_eip: u64,
    #[vmstate(rename = "env.cr[0]")]
    pub cr0: u64,
    #[vmstate(rename = "env.cr[2]")]
    pub cr2: u64,
    #[vmstate(rename = "env.cr[3]")]
    pub cr3: u64,
    #[vmstate(rename = "env.cr[4]")]
    pub cr4: u64,
    #[vmstate(rename = "env.dr")]
    pub dr: [u64; 8],
    #[vmstate(rename = "env.a20_mask")]
    pub a20_mask: i32,
    #[vmstate(rename = "env.mxcsr")]
    pub mxcsr: u32,
    #[vmstate(rename = "env.xmm_regs")]
    pub xmm_regs: [XmmReg; 16],
    #[vmstate(rename = "env.efer")]
    pub efer: u64,
    #[vmstate(rename = "env.star")]
    pub star: u64,
    #[vmstate(rename = "env.lstar")]
    pub lstar: u64,
    #[vmstate(rename = "env.cstar")]
    pub cstar: u64,
    #[vmstate(rename = "env.fmask")]
    pub fmask: u64,
    #[vmstate(rename = "env.kernelgsbase")]
    pub kernelgsbase: u64,
    #[vmstate(rename = "env.smbase")]
    pub smbase: u32,
    #[vmstate(rename = "env.pat")]
    pub pat: u64,
    #[vmstate(rename = "env.hflags2")]
    pub hflags2: u32,
    #[vmstate(rename = "env.vm_hsave")]
    pub vm_hsave: u64,
    #[vmstate(rename = "env.vm_vmcb")]
    pub vm_vmcb: u64,
    #[vmstate(rename = "env.tsc_offset")]
    pub tsc_offset: u64,
    #[vmstate(rename = "env.intercept")]
    pub intercept: u64,
    #[vmstate(rename = "env.intercept_cr_read")]
    pub intercept_cr_read: u16,
    #[vmstate(rename = "env.intercept_cr_write")]
    pub intercept_cr_write: u16,
    #[vmstate(rename = "env.intercept_dr_read")]
    pub intercept_dr_read: u16,
    #[vmstate(rename = "env.intercept_dr_write")]
    pub intercept_dr_write: u16,
    #[vmstate(rename = "env.intercept_exceptions")]
    pub intercept_exceptions: u32,
    #[vmstate(rename = "env.v_tpr")]
    pub v_tpr: u8,
    #[vmstate(rename = "env.mtrr_fixed")]
    pub mtrr_fixed: [u64; 11],
    #[vmstate(rename = "env.mtrr_deftype")]
    pub mtrr_deftype: u64,
    #[vmstate(rename = "env.mtrr_var", version = 8..)]
    pub mtrr_var: [MtrrVar; 8],
    #[vmstate(rename = "env.interrupt_injected")]
    pub interrupt_injected: i32,
    #[vmstate(rename = "env.mp_state")]
    pub mp_state: u32,
    #[vmstate(rename = "env.tsc")]
    pub tsc: u64,
    #[vmstate(rename = "env.exception_nr")]
    pub exception_nr: i32,
    #[vmstate(rename = "env.soft_interrupt")]
    pub soft_interrupt: u8,
    #[vmstate(rename = "env.nmi_injected")]
    pub nmi_injected: u8,
    #[vmstate(rename = "env.nmi_pending")]
    pub nmi_pending: u8,
    #[vmstate(rename = "env.has_error_code")]
    pub has_error_code: u8,
    #[vmstate(rename = "env.sipi_vector")]
    pub sipi_vector: u32,
    #[vmstate(rename = "env.mcg_cap")]
    pub mcg_cap: u64,
    #[vmstate(rename = "env.mcg_status")]
    pub mcg_status: u64,
    #[vmstate(rename = "env.mcg_ctl")]
    pub mcg_ctl: u64,
    #[vmstate(rename = "env.mce_banks")]
    /// Ten banks of four MSRs (CTL, STATUS, ADDR, MISC): 40 `uint64` in the vmdesc.
    pub mce_banks: [[u64; 4]; 10],
    #[vmstate(rename = "env.tsc_aux")]
    pub tsc_aux: u64,
    #[vmstate(rename = "env.system_time_msr")]
    pub system_time_msr: u64,
    #[vmstate(rename = "env.wall_clock_msr")]
    pub wall_clock_msr: u64,
    #[vmstate(rename = "env.xcr0", version = 12..)]
    pub xcr0: u64,
    #[vmstate(rename = "env.xstate_bv", version = 12..)]
    pub xstate_bv: u64,
    #[vmstate(rename = "env.xmm_regs", version = 12..)]
    pub ymmh_regs: [YmmhReg; 16],
    #[vmstate(subsection)]
    pub async_pf_msr: Option<AsyncPfMsr>,
    #[vmstate(subsection)]
    pub pv_eoi_msr: Option<PvEoiMsr>,
    #[vmstate(subsection)]
    pub steal_time_msr: Option<StealTimeMsr>,
    #[vmstate(subsection)]
    pub poll_control_msr: Option<PollControlMsr>,
    #[vmstate(subsection)]
    pub fpop_ip_dp: Option<FpopIpDp>,
    #[vmstate(subsection)]
    pub tsc_adjust: Option<TscAdjust>,
    #[vmstate(subsection)]
    pub tsc_deadline: Option<TscDeadline>,
    #[vmstate(subsection)]
    pub misc_enable: Option<MiscEnable>,
    #[vmstate(subsection)]
    pub feature_control: Option<FeatureControl>,
    #[vmstate(subsection)]
    pub xss: Option<Xss>,
    #[vmstate(subsection)]
    pub tsc_khz: Option<TscKhz>,
    #[vmstate(subsection)]
    pub msr_smi_count: Option<MsrSmiCount>,
    #[vmstate(subsection)]
    pub pkru: Option<Pkru>,
    #[vmstate(subsection)]
    pub spec_ctrl: Option<SpecCtrl>,
    #[vmstate(subsection)]
    pub virt_ssbd: Option<VirtSsbd>,
}

/// QEMU 7.2's local APIC (`apic`, version 3).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq, Eq)]
#[vmstate(name = "apic", version = 3, minimum_version = 3)]
#[allow(missing_docs)]
pub struct Apic {
    pub apicbase: u32,
    pub id: u8,
    pub arb_id: u8,
    pub tpr: u8,
    pub spurious_vec: u32,
    pub log_dest: u8,
    pub dest_mode: u8,
    pub isr: [u32; 8],
    pub tmr: [u32; 8],
    pub irr: [u32; 8],
    pub lvt: [u32; 6],
    pub esr: u32,
    pub icr: [u32; 2],
    pub divide_conf: u32,
    pub count_shift: i32,
    pub initial_count: u32,
    pub initial_count_load_time: i64,
    pub next_time: i64,
    pub timer_expiry: i64,
}
