//! The Q35 chipset functions: `mch` (the host bridge, 00:00.0), `ICH9LPC` (the
//! LPC bridge with the ICH9 power management, 00:1f.0) and `ich9_smb` (the SMBus
//! controller, 00:1f.3). QEMU: `hw/pci-host/q35.c`, `hw/isa/lpc_ich9.c`,
//! `hw/acpi/ich9.c`, `hw/acpi/tco.c`, `hw/i2c/smbus_ich9.c`.

use crate::CpuHotplug;
use crate::{Apm, MemHotplug, PciDevice, PciHpStatus, PmSmbus, ACPI_PCIHP_MAX_HOTPLUG_BUS};
use vmstate_runtime::{Timer, Unused, VMState};

/// Bytes of the ICH9 chipset configuration registers.
pub const ICH9_CC_SIZE: usize = 16 * 1024;
/// Bytes of each of the GPE0 status and enable blocks.
pub const ICH9_PMIO_GPE0_LEN: usize = 16;

/// `mch` (v1): the Q35 host bridge function.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "mch", version = 1)]
pub struct Mch {
    /// The PCI function.
    pub parent_obj: PciDevice,
    /// Formerly `smm_enabled`.
    pub _smm: Unused<1>,
}

/// `ICH9LPC` (v1): the LPC bridge.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, PartialEq)]
#[vmstate(name = "ICH9LPC", version = 1)]
pub struct Ich9Lpc {
    /// The PCI function.
    pub d: PciDevice,
    /// Advanced power management ports.
    pub apm: Apm,
    /// Power management.
    pub pm: Ich9Pm,
    /// Chipset configuration registers (RCRB).
    #[vmstate(as_array)]
    #[cfg_attr(feature = "serde", serde(with = "serde_big_array::BigArray"))]
    pub chip_config: [u8; ICH9_CC_SIZE],
    /// SCI level.
    pub sci_level: u32,
    /// Reset control, sent when not zero.
    #[vmstate(subsection, needed = |s: &Ich9Lpc| s.rst_cnt.rst_cnt != 0)]
    pub rst_cnt: Ich9LpcRstCnt,
    /// SMI features negotiated with the firmware, sent when there are any.
    #[vmstate(subsection)]
    pub smi_feat: Option<Ich9LpcSmiFeat>,
}

impl Default for Ich9Lpc {
    fn default() -> Self {
        Ich9Lpc {
            d: PciDevice::conventional(),
            apm: Apm::default(),
            pm: Ich9Pm::default(),
            chip_config: [0; ICH9_CC_SIZE],
            sci_level: 0,
            rst_cnt: Ich9LpcRstCnt::default(),
            smi_feat: None,
        }
    }
}

/// `ICH9LPC/rst_cnt`.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "ICH9LPC/rst_cnt", version = 1)]
pub struct Ich9LpcRstCnt {
    /// Reset control register (0xcf9).
    pub rst_cnt: u8,
}

/// `ICH9LPC/smi_feat`.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "ICH9LPC/smi_feat", version = 1)]
pub struct Ich9LpcSmiFeat {
    /// The features the guest asked for, little-endian.
    #[vmstate(as_array)]
    pub smi_guest_features_le: [u8; 8],
    /// Whether they were accepted.
    pub smi_features_ok: u8,
    /// The features in use.
    pub smi_negotiated_features: u64,
}

/// `ich9_pm` (v1): the ICH9 ACPI registers.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, PartialEq)]
#[vmstate(name = "ich9_pm", version = 1)]
pub struct Ich9Pm {
    /// PM1 event status.
    #[vmstate(rename = "acpi_regs.pm1.evt.sts")]
    pub pm1_evt_sts: u16,
    /// PM1 event enable.
    #[vmstate(rename = "acpi_regs.pm1.evt.en")]
    pub pm1_evt_en: u16,
    /// PM1 control.
    #[vmstate(rename = "acpi_regs.pm1.cnt.cnt")]
    pub pm1_cnt: u16,
    /// The ACPI PM timer's overflow timer.
    #[vmstate(rename = "acpi_regs.tmr.timer")]
    pub tmr_timer: Timer,
    /// When the PM timer overflows next.
    #[vmstate(rename = "acpi_regs.tmr.overflow_time")]
    pub tmr_overflow_time: i64,
    /// GPE0 status (behind a pointer in QEMU: `VMSTATE_GPE_ARRAY`).
    #[vmstate(rename = "acpi_regs.gpe.sts", as_array)]
    pub gpe_sts: [u8; ICH9_PMIO_GPE0_LEN],
    /// GPE0 enable.
    #[vmstate(rename = "acpi_regs.gpe.en", as_array)]
    pub gpe_en: [u8; ICH9_PMIO_GPE0_LEN],
    /// SMI enable.
    pub smi_en: u32,
    /// SMI status.
    pub smi_sts: u32,
    /// Memory hotplug, sent when enabled.
    #[vmstate(subsection, new = |s: &Ich9Pm| Ich9PmMemHotplug {
        acpi_memory_hotplug: MemHotplug::with_slots(s.memory_slots),
    })]
    pub memhp: Option<Ich9PmMemHotplug>,
    /// The TCO watchdog, sent when enabled (by default).
    #[vmstate(subsection, needed = |s: &Ich9Pm| s.enable_tco)]
    pub tco: Ich9PmTco,
    /// CPU hotplug (the modern interface), sent once the guest's ACPI switched to it.
    #[vmstate(subsection, new = |s: &Ich9Pm| Ich9PmCpuHotplug {
        cpuhp_state: CpuHotplug::with_cpus(s.possible_cpus),
    })]
    pub cpuhp: Option<Ich9PmCpuHotplug>,
    /// ACPI PCI hotplug, sent when in use (by default since QEMU 6.1).
    #[vmstate(subsection, needed = |s: &Ich9Pm| s.use_acpi_hotplug_bridge)]
    pub pcihp: Ich9PmPciHotplug,
    /// The machine's `enable_tco` (on by default; not migrated).
    #[vmstate(skip)]
    pub enable_tco: bool,
    /// The machine's `acpi-pci-hotplug-with-bridge-support` (not migrated).
    #[vmstate(skip)]
    pub use_acpi_hotplug_bridge: bool,
    /// The machine's possible vCPUs (`-smp maxcpus`; not migrated).
    #[vmstate(skip)]
    pub possible_cpus: u32,
    /// The machine's memory hotplug slots (`-m ...,slots=N`; not migrated).
    #[vmstate(skip)]
    pub memory_slots: u32,
}

impl Default for Ich9Pm {
    /// As the Q35 machine types of QEMU 7.2 and 10.0 configure it.
    fn default() -> Self {
        Ich9Pm {
            pm1_evt_sts: 0,
            pm1_evt_en: 0,
            pm1_cnt: 0,
            tmr_timer: Timer::default(),
            tmr_overflow_time: 0,
            gpe_sts: [0; ICH9_PMIO_GPE0_LEN],
            gpe_en: [0; ICH9_PMIO_GPE0_LEN],
            smi_en: 0,
            smi_sts: 0,
            memhp: None,
            tco: Ich9PmTco::default(),
            cpuhp: None,
            pcihp: Ich9PmPciHotplug::default(),
            enable_tco: true,
            use_acpi_hotplug_bridge: true,
            possible_cpus: 1,
            memory_slots: 0,
        }
    }
}

/// `ich9_pm/memhp`.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "ich9_pm/memhp", version = 1)]
pub struct Ich9PmMemHotplug {
    /// The memory hotplug controller.
    #[vmstate(version = 1..)]
    pub acpi_memory_hotplug: MemHotplug,
}

/// `ich9_pm/tco`.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "ich9_pm/tco", version = 1)]
pub struct Ich9PmTco {
    /// The TCO registers.
    #[vmstate(version = 1..)]
    pub tco_regs: TcoRegs,
}

/// `tco io device status`: the TCO watchdog.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "tco io device status", version = 1)]
#[allow(missing_docs)]
pub struct TcoRegs {
    #[vmstate(rename = "tco.rld")]
    pub rld: u16,
    #[vmstate(rename = "tco.din")]
    pub din: u8,
    #[vmstate(rename = "tco.dout")]
    pub dout: u8,
    #[vmstate(rename = "tco.sts1")]
    pub sts1: u16,
    #[vmstate(rename = "tco.sts2")]
    pub sts2: u16,
    #[vmstate(rename = "tco.cnt1")]
    pub cnt1: u16,
    #[vmstate(rename = "tco.cnt2")]
    pub cnt2: u16,
    #[vmstate(rename = "tco.msg1")]
    pub msg1: u8,
    #[vmstate(rename = "tco.msg2")]
    pub msg2: u8,
    #[vmstate(rename = "tco.wdcnt")]
    pub wdcnt: u8,
    #[vmstate(rename = "tco.tmr")]
    pub tmr: u16,
    pub sw_irq_gen: u8,
    pub tco_timer: Timer,
    pub expire_time: i64,
    pub timeouts_no: u8,
}

/// `ich9_pm/cpuhp`.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "ich9_pm/cpuhp", version = 1)]
pub struct Ich9PmCpuHotplug {
    /// The CPU hotplug controller.
    #[vmstate(version = 1..)]
    pub cpuhp_state: CpuHotplug,
}

/// `ich9_pm/pcihp`.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, PartialEq)]
#[vmstate(name = "ich9_pm/pcihp", version = 1)]
pub struct Ich9PmPciHotplug {
    /// The bus selected through the hotplug registers.
    #[vmstate(rename = "acpi_pci_hotplug.hotplug_select")]
    pub hotplug_select: u32,
    /// Each bus's slot events.
    #[vmstate(rename = "acpi_pci_hotplug.acpi_pcihp_pci_status", version = 1..)]
    #[cfg_attr(feature = "serde", serde(with = "serde_big_array::BigArray"))]
    pub pci_status: [PciHpStatus; ACPI_PCIHP_MAX_HOTPLUG_BUS],
    /// The ACPI index register.
    #[vmstate(rename = "acpi_pci_hotplug.acpi_index")]
    pub acpi_index: u32,
}

impl Default for Ich9PmPciHotplug {
    fn default() -> Self {
        Ich9PmPciHotplug {
            hotplug_select: 0,
            pci_status: [PciHpStatus::default(); ACPI_PCIHP_MAX_HOTPLUG_BUS],
            acpi_index: 0,
        }
    }
}

/// `ich9_smb` (v1): the ICH9 SMBus controller function.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, PartialEq)]
#[vmstate(name = "ich9_smb", version = 1)]
pub struct Ich9Smb {
    /// The PCI function.
    pub dev: PciDevice,
    /// Whether the SMBus interrupt is enabled.
    #[vmstate(exists = |s, _| s.smbus_migrated)]
    pub irq_enabled: bool,
    /// The SMBus controller.
    #[vmstate(version = 1.., exists = |s, _| s.smbus_migrated)]
    pub smb: PmSmbus,
    /// Whether the machine type sends the SMBus state (`pm_smbus_vmstate_needed`).
    #[vmstate(skip)]
    pub smbus_migrated: bool,
}

impl Default for Ich9Smb {
    fn default() -> Self {
        Ich9Smb {
            dev: PciDevice::conventional(),
            irq_enabled: false,
            smb: PmSmbus::default(),
            smbus_migrated: true,
        }
    }
}
