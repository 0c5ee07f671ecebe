//! `piix4_pm` (v3): the PIIX4 power management function, 00:01.3 on the i440FX, with
//! its APM, SMBus, ACPI timer, GPE and hotplug state; and `acpi_build`. QEMU:
//! `hw/acpi/piix4.c`, `hw/acpi/pcihp.c`, `hw/acpi/memory_hotplug.c`,
//! `hw/acpi/cpu.c`, `hw/isa/apm.c`, `hw/i2c/pm_smbus.c`, `hw/i386/acpi-build.c`.

use crate::PciDevice;
use vmstate_runtime::{Timer, VMState};

/// PCI buses whose slots ACPI hotplug tracks.
pub const ACPI_PCIHP_MAX_HOTPLUG_BUS: usize = 256;
/// Bytes of an SMBus block transfer.
pub const PM_SMBUS_MAX_MSG_SIZE: usize = 32;

/// The power management function.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, PartialEq)]
#[vmstate(name = "piix4_pm", version = 3, minimum_version = 3)]
pub struct Piix4Pm {
    /// The PCI function.
    pub parent_obj: PciDevice,
    /// PM1 event status.
    #[vmstate(rename = "ar.pm1.evt.sts")]
    pub pm1_evt_sts: u16,
    /// PM1 event enable.
    #[vmstate(rename = "ar.pm1.evt.en")]
    pub pm1_evt_en: u16,
    /// PM1 control.
    #[vmstate(rename = "ar.pm1.cnt.cnt")]
    pub pm1_cnt: u16,
    /// Advanced power management ports.
    pub apm: Apm,
    /// The SMBus controller (sent by every machine type since QEMU 2.0).
    #[vmstate(version = 3.., exists = Piix4Pm::migrates_smbus)]
    pub smb: PmSmbus,
    /// The ACPI PM timer's overflow timer.
    #[vmstate(rename = "ar.tmr.timer")]
    pub tmr_timer: Timer,
    /// When the PM timer overflows next.
    #[vmstate(rename = "ar.tmr.overflow_time")]
    pub tmr_overflow_time: i64,
    /// General purpose events.
    #[vmstate(rename = "ar.gpe", version = 2..)]
    pub gpe: Gpe,
    /// The root bus's slot events, without the hotplug bridge.
    #[vmstate(
        rename = "acpi_pci_hotplug.acpi_pcihp_pci_status[0x0]",
        version = 2..,
        exists = Piix4Pm::without_hotplug_bridge
    )]
    pub pcihp_default: PciStatus,
    /// The bus selected through the hotplug registers.
    #[vmstate(
        rename = "acpi_pci_hotplug.hotplug_select",
        exists = Piix4Pm::with_hotplug_bridge
    )]
    pub pcihp_select: u32,
    /// Each bus's slot events.
    #[vmstate(
        rename = "acpi_pci_hotplug.acpi_pcihp_pci_status",
        version = 1..,
        exists = Piix4Pm::with_hotplug_bridge
    )]
    #[cfg_attr(feature = "serde", serde(with = "serde_big_array::BigArray"))]
    pub pcihp_status: [PciHpStatus; ACPI_PCIHP_MAX_HOTPLUG_BUS],
    /// The ACPI index register.
    #[vmstate(
        rename = "acpi_pci_hotplug.acpi_index",
        exists = Piix4Pm::migrates_acpi_index
    )]
    pub pcihp_acpi_index: u32,
    /// Memory hotplug, sent when enabled.
    #[vmstate(subsection, new = |s: &Piix4Pm| Piix4MemHotplug {
        acpi_memory_hotplug: MemHotplug::with_slots(s.memory_slots),
    })]
    pub memhp: Option<Piix4MemHotplug>,
    /// CPU hotplug (the modern interface), sent once the guest's ACPI switched to it.
    #[vmstate(subsection, new = |s: &Piix4Pm| Piix4CpuHotplug {
        cpuhp_state: CpuHotplug::with_cpus(s.possible_cpus),
    })]
    pub cpuhp: Option<Piix4CpuHotplug>,
    /// The machine's possible vCPUs (`-smp maxcpus`; not migrated): the CPU
    /// hotplug state has an entry each.
    #[vmstate(skip)]
    pub possible_cpus: u32,
    /// The machine's memory hotplug slots (`-m ...,slots=N`; not migrated).
    #[vmstate(skip)]
    pub memory_slots: u32,
    /// The machine's `acpi-pci-hotplug-with-bridge-support` (on by default).
    #[vmstate(skip)]
    pub use_acpi_hotplug_bridge: bool,
    /// Set by 6.2 and older machine types, which never sent `acpi_index`.
    #[vmstate(skip)]
    pub not_migrate_acpi_index: bool,
    /// Whether the machine type sends the SMBus state (`pm_smbus_vmstate_needed`).
    #[vmstate(skip)]
    pub smbus_migrated: bool,
}

impl Piix4Pm {
    fn migrates_smbus(&self, _version: u32) -> bool {
        self.smbus_migrated
    }

    fn with_hotplug_bridge(&self, _version: u32) -> bool {
        self.use_acpi_hotplug_bridge
    }

    fn without_hotplug_bridge(&self, _version: u32) -> bool {
        !self.use_acpi_hotplug_bridge
    }

    fn migrates_acpi_index(&self, _version: u32) -> bool {
        self.use_acpi_hotplug_bridge && !self.not_migrate_acpi_index
    }
}

impl Default for Piix4Pm {
    /// As the i440FX machine types of QEMU 7.0 and later configure it.
    fn default() -> Self {
        Piix4Pm {
            parent_obj: PciDevice::conventional(),
            pm1_evt_sts: 0,
            pm1_evt_en: 0,
            pm1_cnt: 0,
            apm: Apm::default(),
            smb: PmSmbus::default(),
            tmr_timer: Timer::default(),
            tmr_overflow_time: 0,
            gpe: Gpe::default(),
            pcihp_default: PciStatus::default(),
            pcihp_select: 0,
            pcihp_status: [PciHpStatus::default(); ACPI_PCIHP_MAX_HOTPLUG_BUS],
            pcihp_acpi_index: 0,
            memhp: None,
            cpuhp: None,
            possible_cpus: 1,
            memory_slots: 0,
            use_acpi_hotplug_bridge: true,
            not_migrate_acpi_index: false,
            smbus_migrated: true,
        }
    }
}

/// `APM State` (hw/isa/apm.c): the APM control and status ports.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "APM State", version = 1)]
pub struct Apm {
    /// Control port (0xb2).
    pub apmc: u8,
    /// Status port (0xb3).
    pub apms: u8,
}

/// `pmsmb` (hw/i2c/pm_smbus.c): the SMBus host controller.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, PartialEq)]
#[vmstate(name = "pmsmb", version = 1)]
#[allow(missing_docs)]
pub struct PmSmbus {
    pub smb_stat: u8,
    pub smb_ctl: u8,
    pub smb_cmd: u8,
    pub smb_addr: u8,
    pub smb_data0: u8,
    pub smb_data1: u8,
    pub smb_index: u32,
    #[vmstate(as_array)]
    pub smb_data: [u8; PM_SMBUS_MAX_MSG_SIZE],
    pub smb_auxctl: u8,
    pub smb_blkdata: u8,
    pub i2c_enable: bool,
    pub op_done: bool,
    pub in_i2c_block_read: bool,
    pub start_transaction_on_status_read: bool,
}

impl Default for PmSmbus {
    /// As `pm_smbus_init` leaves it: no operation pending.
    fn default() -> Self {
        PmSmbus {
            smb_stat: 0,
            smb_ctl: 0,
            smb_cmd: 0,
            smb_addr: 0,
            smb_data0: 0,
            smb_data1: 0,
            smb_index: 0,
            smb_data: [0; PM_SMBUS_MAX_MSG_SIZE],
            smb_auxctl: 0,
            smb_blkdata: 0,
            i2c_enable: false,
            op_done: true,
            in_i2c_block_read: false,
            start_transaction_on_status_read: false,
        }
    }
}

/// `gpe`: the general purpose event registers. QEMU sends each through a pointer
/// to its first byte (`VMSTATE_GPE_ARRAY`: one `uint16` behind a pointer), which on
/// the wire is a plain `uint16`.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "gpe", version = 1)]
pub struct Gpe {
    /// Status.
    pub sts: u16,
    /// Enable.
    pub en: u16,
}

/// `acpi_pcihp_pci_status`: one bus's pending slot events.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Copy, Debug, Default, PartialEq)]
#[vmstate(name = "acpi_pcihp_pci_status", version = 1)]
pub struct PciHpStatus {
    /// Slots with a device added.
    pub up: u32,
    /// Slots whose device is to be removed.
    pub down: u32,
}

/// `pci_status`: piix4's own description of the root bus's slot events, used
/// without the hotplug bridge (the layout of [`PciHpStatus`] under another name).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Copy, Debug, Default, PartialEq)]
#[vmstate(name = "pci_status", version = 1)]
pub struct PciStatus {
    /// Slots with a device added.
    pub up: u32,
    /// Slots whose device is to be removed.
    pub down: u32,
}

/// `piix4_pm/memhp`.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "piix4_pm/memhp", version = 1)]
pub struct Piix4MemHotplug {
    /// The memory hotplug controller.
    #[vmstate(version = 1..)]
    pub acpi_memory_hotplug: MemHotplug,
}

/// `memory hotplug state`: the selected slot and each slot's state.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "memory hotplug state", version = 1)]
pub struct MemHotplug {
    /// The selected slot.
    pub selector: u32,
    /// Memory slots of the machine (not migrated: both sides have the same).
    #[vmstate(skip)]
    pub dev_count: u32,
    /// One entry per memory slot (`-m ...,slots=N`), behind a pointer in QEMU
    /// (`VMSTATE_STRUCT_VARRAY_POINTER_UINT32`).
    #[vmstate(len = dev_count, max = 256)]
    pub devs: Vec<MemSlotStatus>,
}

impl MemHotplug {
    /// The controller of a machine with `slots` memory hotplug slots, all empty.
    pub fn with_slots(slots: u32) -> Self {
        MemHotplug {
            selector: 0,
            dev_count: slots,
            devs: vec![MemSlotStatus::default(); slots as usize],
        }
    }
}

/// `memory hotplug device state`.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "memory hotplug device state", version = 1)]
#[allow(missing_docs)]
pub struct MemSlotStatus {
    pub is_enabled: bool,
    pub is_inserting: bool,
    pub ost_event: u32,
    pub ost_status: u32,
}

/// `piix4_pm/cpuhp`.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "piix4_pm/cpuhp", version = 1)]
pub struct Piix4CpuHotplug {
    /// The CPU hotplug controller.
    #[vmstate(version = 1..)]
    pub cpuhp_state: CpuHotplug,
}

/// `CPU hotplug state`.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "CPU hotplug state", version = 1)]
pub struct CpuHotplug {
    /// The selected CPU.
    pub selector: u32,
    /// The last command.
    pub command: u8,
    /// Possible CPUs of the machine (not migrated).
    #[vmstate(skip)]
    pub dev_count: u32,
    /// One entry per possible CPU.
    #[vmstate(len = dev_count, max = 4096)]
    pub devs: Vec<CpuSlotStatus>,
}

impl CpuHotplug {
    /// The controller of a machine with `cpus` possible vCPUs.
    pub fn with_cpus(cpus: u32) -> Self {
        CpuHotplug {
            selector: 0,
            command: 0,
            dev_count: cpus,
            devs: vec![CpuSlotStatus::default(); cpus as usize],
        }
    }
}

/// `CPU hotplug device state`.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "CPU hotplug device state", version = 1)]
#[allow(missing_docs)]
pub struct CpuSlotStatus {
    pub is_inserting: bool,
    pub is_removing: bool,
    pub ost_event: u32,
    pub ost_status: u32,
}

/// `acpi_build` (hw/i386/acpi-build.c): whether the guest's ACPI tables were
/// patched (read through fw_cfg).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "acpi_build", version = 1)]
pub struct AcpiBuild {
    /// Tables patched.
    pub patched: u8,
}
