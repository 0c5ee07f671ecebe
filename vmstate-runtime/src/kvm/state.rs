//! The x86-64 KVM register state as VMState types: each derives both codecs, its
//! description and its ASN.1 type like any device. Field names follow KVM's structs.

use crate::VMState;

/// General registers (`kvm_regs`).
#[derive(VMState, Clone, Debug, Default, PartialEq, Eq)]
#[vmstate(name = "kvm/regs", version = 1)]
#[allow(missing_docs)]
pub struct Regs {
    pub rax: u64,
    pub rbx: u64,
    pub rcx: u64,
    pub rdx: u64,
    pub rsi: u64,
    pub rdi: u64,
    pub rsp: u64,
    pub rbp: u64,
    pub r8: u64,
    pub r9: u64,
    pub r10: u64,
    pub r11: u64,
    pub r12: u64,
    pub r13: u64,
    pub r14: u64,
    pub r15: u64,
    pub rip: u64,
    pub rflags: u64,
}

/// A segment register with its hidden part (`kvm_segment`).
#[derive(VMState, Clone, Debug, Default, PartialEq, Eq)]
#[vmstate(name = "kvm/segment", version = 1)]
#[allow(missing_docs)]
pub struct Segment {
    pub base: u64,
    pub limit: u32,
    pub selector: u16,
    pub type_: u8,
    pub present: u8,
    pub dpl: u8,
    pub db: u8,
    pub s: u8,
    pub l: u8,
    pub g: u8,
    pub avl: u8,
    pub unusable: u8,
}

/// A descriptor table register (`kvm_dtable`).
#[derive(VMState, Clone, Debug, Default, PartialEq, Eq)]
#[vmstate(name = "kvm/dtable", version = 1)]
#[allow(missing_docs)]
pub struct DTable {
    pub base: u64,
    pub limit: u16,
}

/// Special registers (`kvm_sregs`): segments, descriptor tables, control registers,
/// EFER, APIC base and the pending-interrupt bitmap.
#[derive(VMState, Clone, Debug, Default, PartialEq, Eq)]
#[vmstate(name = "kvm/sregs", version = 1)]
#[allow(missing_docs)]
pub struct Sregs {
    pub cs: Segment,
    pub ds: Segment,
    pub es: Segment,
    pub fs: Segment,
    pub gs: Segment,
    pub ss: Segment,
    pub tr: Segment,
    pub ldt: Segment,
    pub gdt: DTable,
    pub idt: DTable,
    pub cr0: u64,
    pub cr2: u64,
    pub cr3: u64,
    pub cr4: u64,
    pub cr8: u64,
    pub efer: u64,
    pub apic_base: u64,
    pub interrupt_bitmap: [u64; 4],
}

/// x87 and SSE state (`kvm_fpu`).
#[derive(VMState, Clone, Debug, Default, PartialEq, Eq)]
#[vmstate(name = "kvm/fpu", version = 1)]
#[allow(missing_docs)]
pub struct Fpu {
    pub fpr: [[u8; 16]; 8],
    pub fcw: u16,
    pub fsw: u16,
    pub ftwx: u8,
    pub last_opcode: u16,
    pub last_ip: u64,
    pub last_dp: u64,
    pub xmm: [[u8; 16]; 16],
    pub mxcsr: u32,
}

/// The XSAVE area: the legacy 4 KiB (`kvm_xsave.region`), and what lies beyond it on
/// hosts with dynamically enabled features (`KVM_GET_XSAVE2`), in a subsection.
#[derive(VMState, Clone, Debug, PartialEq, Eq)]
#[vmstate(name = "kvm/xsave", version = 1)]
pub struct Xsave {
    /// The first 4096 bytes, as the CPU lays them out.
    pub region: [u8; 4096],
    /// The bytes after them, when the host has any.
    #[vmstate(subsection)]
    pub extended: Option<XsaveExtended>,
}

impl Default for Xsave {
    fn default() -> Self {
        Xsave {
            region: [0; 4096],
            extended: None,
        }
    }
}

/// `kvm/xsave/extended`: XSAVE state beyond the legacy area (AMX tiles...).
#[derive(VMState, Clone, Debug, Default, PartialEq, Eq)]
#[vmstate(name = "kvm/xsave/extended", version = 1)]
pub struct XsaveExtended {
    /// Its length.
    pub len: u32,
    /// The bytes.
    #[vmstate(len = len, max = 65536)]
    pub bytes: Vec<u8>,
}

/// One extended control register.
#[derive(VMState, Clone, Debug, Default, PartialEq, Eq)]
#[vmstate(name = "kvm/xcr", version = 1)]
#[allow(missing_docs)]
pub struct Xcr {
    pub xcr: u32,
    pub value: u64,
}

/// Extended control registers (`kvm_xcrs`).
#[derive(VMState, Clone, Debug, Default, PartialEq, Eq)]
#[vmstate(name = "kvm/xcrs", version = 1)]
#[allow(missing_docs)]
pub struct Xcrs {
    pub flags: u32,
    pub nr_xcrs: u32,
    #[vmstate(len = nr_xcrs, max = 16)]
    pub xcrs: Vec<Xcr>,
}

/// One model-specific register.
#[derive(VMState, Clone, Debug, Default, PartialEq, Eq)]
#[vmstate(name = "kvm/msr", version = 1)]
#[allow(missing_docs)]
pub struct Msr {
    pub index: u32,
    pub data: u64,
}

/// The MSRs KVM reports as saveable (`KVM_GET_MSR_INDEX_LIST`).
#[derive(VMState, Clone, Debug, Default, PartialEq, Eq)]
#[vmstate(name = "kvm/msrs", version = 1)]
#[allow(missing_docs)]
pub struct Msrs {
    pub count: u32,
    #[vmstate(len = count, max = 4096)]
    pub entries: Vec<Msr>,
}

/// Local APIC registers (`kvm_lapic_state`), as the APIC page lays them out.
#[derive(VMState, Clone, Debug, PartialEq, Eq)]
#[vmstate(name = "kvm/lapic", version = 1)]
#[allow(missing_docs)]
pub struct Lapic {
    pub regs: [u8; 1024],
}

impl Default for Lapic {
    fn default() -> Self {
        Lapic { regs: [0; 1024] }
    }
}

/// Pending exceptions, interrupts, NMIs and SMIs (`kvm_vcpu_events`).
#[derive(VMState, Clone, Debug, Default, PartialEq, Eq)]
#[vmstate(name = "kvm/events", version = 1)]
#[allow(missing_docs)]
pub struct VcpuEvents {
    pub exception_injected: u8,
    pub exception_nr: u8,
    pub exception_has_error_code: u8,
    pub exception_pending: u8,
    pub exception_error_code: u32,
    pub interrupt_injected: u8,
    pub interrupt_nr: u8,
    pub interrupt_soft: u8,
    pub interrupt_shadow: u8,
    pub nmi_injected: u8,
    pub nmi_pending: u8,
    pub nmi_masked: u8,
    pub sipi_vector: u32,
    pub flags: u32,
    pub smi_smm: u8,
    pub smi_pending: u8,
    pub smi_inside_nmi: u8,
    pub smi_latched_init: u8,
    pub triple_fault_pending: u8,
    pub exception_has_payload: u8,
    pub exception_payload: u64,
}

/// Debug registers (`kvm_debugregs`).
#[derive(VMState, Clone, Debug, Default, PartialEq, Eq)]
#[vmstate(name = "kvm/debugregs", version = 1)]
#[allow(missing_docs)]
pub struct DebugRegs {
    pub db: [u64; 4],
    pub dr6: u64,
    pub dr7: u64,
    pub flags: u64,
}

/// Everything KVM keeps for one x86-64 vCPU.
#[derive(VMState, Clone, Debug, Default, PartialEq, Eq)]
#[vmstate(name = "kvm-vcpu", version = 1)]
#[allow(missing_docs)]
pub struct VcpuState {
    pub regs: Regs,
    pub sregs: Sregs,
    pub fpu: Fpu,
    pub xsave: Xsave,
    pub xcrs: Xcrs,
    pub msrs: Msrs,
    pub lapic: Lapic,
    pub events: VcpuEvents,
    pub debugregs: DebugRegs,
    /// `kvm_mp_state`: runnable, halted, waiting for SIPI...
    pub mp_state: u32,
    /// The guest TSC frequency in kHz.
    pub tsc_khz: u32,
}

/// The KVM clock (`kvm_clock_data`).
#[derive(VMState, Clone, Debug, Default, PartialEq, Eq)]
#[vmstate(name = "kvm/clock", version = 1)]
#[allow(missing_docs)]
pub struct Clock {
    pub clock: u64,
    pub flags: u32,
}

/// One 8259 PIC (`kvm_pic_state`).
#[derive(VMState, Clone, Debug, Default, PartialEq, Eq)]
#[vmstate(name = "kvm/pic", version = 1)]
#[allow(missing_docs)]
pub struct Pic {
    pub last_irr: u8,
    pub irr: u8,
    pub imr: u8,
    pub isr: u8,
    pub priority_add: u8,
    pub irq_base: u8,
    pub read_reg_select: u8,
    pub poll: u8,
    pub special_mask: u8,
    pub init_state: u8,
    pub auto_eoi: u8,
    pub rotate_on_auto_eoi: u8,
    pub special_fully_nested_mode: u8,
    pub init4: u8,
    pub elcr: u8,
    pub elcr_mask: u8,
}

/// The IOAPIC (`kvm_ioapic_state`).
#[derive(VMState, Clone, Debug, Default, PartialEq, Eq)]
#[vmstate(name = "kvm/ioapic", version = 1)]
#[allow(missing_docs)]
pub struct Ioapic {
    pub base_address: u64,
    pub ioregsel: u32,
    pub id: u32,
    pub irr: u32,
    pub redirtbl: [u64; 24],
}

/// The in-kernel interrupt controllers.
#[derive(VMState, Clone, Debug, Default, PartialEq, Eq)]
#[vmstate(name = "kvm-vm/irqchip", version = 1)]
#[allow(missing_docs)]
pub struct Irqchip {
    pub pic_master: Pic,
    pub pic_slave: Pic,
    pub ioapic: Ioapic,
}

/// One 8254 PIT channel (`kvm_pit_channel_state`).
#[derive(VMState, Clone, Debug, Default, PartialEq, Eq)]
#[vmstate(name = "kvm/pit-channel", version = 1)]
#[allow(missing_docs)]
pub struct PitChannel {
    pub count: u32,
    pub latched_count: u16,
    pub count_latched: u8,
    pub status_latched: u8,
    pub status: u8,
    pub read_state: u8,
    pub write_state: u8,
    pub write_latch: u8,
    pub rw_mode: u8,
    pub mode: u8,
    pub bcd: u8,
    pub gate: u8,
    pub count_load_time: i64,
}

/// The in-kernel PIT (`kvm_pit_state2`).
#[derive(VMState, Clone, Debug, Default, PartialEq, Eq)]
#[vmstate(name = "kvm-vm/pit", version = 1)]
#[allow(missing_docs)]
pub struct Pit {
    pub channels: [PitChannel; 3],
    pub flags: u32,
}

/// VM-wide KVM state: the clock, and the in-kernel irqchip and PIT when the VM has
/// them.
#[derive(VMState, Clone, Debug, Default, PartialEq, Eq)]
#[vmstate(name = "kvm-vm", version = 1)]
#[allow(missing_docs)]
pub struct VmWideState {
    pub clock: Clock,
    #[vmstate(subsection)]
    pub irqchip: Option<Irqchip>,
    #[vmstate(subsection)]
    pub pit: Option<Pit>,
}
