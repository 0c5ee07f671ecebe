//! `ide` (v3): the PIIX3/PIIX4 IDE function (00:01.1 on the i440FX): the PCI
//! function, two bus-master DMA engines, two buses and their four drives. QEMU:
//! `hw/ide/pci.c`, `hw/ide/core.c`.

use crate::PciDevice;
use vmstate_runtime::VMState;

/// Bytes of QEMU's PIO buffer (`IDE_DMA_BUF_SECTORS * 512 + 4`).
pub const IDE_IO_BUFFER_LEN: usize = 256 * 512 + 4;

/// The PCI IDE controller section.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "ide", version = 3, minimum_version = 0)]
pub struct PciIde {
    /// The PCI function.
    pub parent_obj: PciDevice,
    /// The bus-master DMA engine of each bus.
    pub bmdma: [Bmdma; 2],
    /// The two buses.
    #[vmstate(version = 1..)]
    pub bus: [IdeBus; 2],
    /// The drives of the primary bus.
    #[vmstate(rename = "bus[0].ifs", version = 3..)]
    pub bus0_ifs: [IdeDrive; 2],
    /// The drives of the secondary bus.
    #[vmstate(rename = "bus[1].ifs", version = 3..)]
    pub bus1_ifs: [IdeDrive; 2],
}

/// `ide bmdma`: one bus-master DMA engine.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "ide bmdma", version = 3, minimum_version = 0)]
#[allow(missing_docs)]
pub struct Bmdma {
    pub cmd: u8,
    pub migration_compat_status: u8,
    pub addr: u32,
    pub migration_retry_sector_num: i64,
    pub migration_retry_nsector: u32,
    pub migration_retry_unit: u8,
    /// Sent while a transfer is in progress.
    #[vmstate(subsection, nonstandard_name)]
    pub current: Option<BmdmaCurrent>,
    /// Sent when the status has bits the compatibility byte cannot hold.
    #[vmstate(subsection)]
    pub status: Option<BmdmaStatus>,
}

/// `ide bmdma_current` (its historical name lacks the `/`).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "ide bmdma_current", version = 1)]
#[allow(missing_docs)]
pub struct BmdmaCurrent {
    pub cur_addr: u32,
    pub cur_prd_last: u32,
    pub cur_prd_addr: u32,
    pub cur_prd_len: u32,
}

/// `ide bmdma/status`.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "ide bmdma/status", version = 1)]
pub struct BmdmaStatus {
    /// The status register.
    pub status: u8,
}

/// `ide_bus`: the selected drive and the last command.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "ide_bus", version = 1)]
pub struct IdeBus {
    /// The last command.
    pub cmd: u8,
    /// The selected drive.
    pub unit: u8,
    /// Sent after an I/O error, for the retry.
    #[vmstate(subsection)]
    pub error: Option<IdeBusError>,
}

/// `ide_bus/error`.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "ide_bus/error", version = 2, minimum_version = 1)]
#[allow(missing_docs)]
pub struct IdeBusError {
    pub error_status: i32,
    #[vmstate(version = 2..)]
    pub retry_sector_num: i64,
    #[vmstate(version = 2..)]
    pub retry_nsector: u32,
    #[vmstate(version = 2..)]
    pub retry_unit: u8,
}

/// `ide_drive`: one drive's registers (all zero for an empty position).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, PartialEq)]
#[vmstate(name = "ide_drive", version = 3, minimum_version = 0)]
#[allow(missing_docs)]
pub struct IdeDrive {
    pub mult_sectors: i32,
    pub identify_set: i32,
    /// The IDENTIFY answer, sent once the guest asked for it.
    #[vmstate(exists = IdeDrive::is_identify_set)]
    #[cfg_attr(feature = "serde", serde(with = "serde_big_array::BigArray"))]
    pub identify_data: [u8; 512],
    pub feature: u8,
    pub error: u8,
    pub nsector: u32,
    pub sector: u8,
    pub lcyl: u8,
    pub hcyl: u8,
    pub hob_feature: u8,
    pub hob_sector: u8,
    pub hob_nsector: u8,
    pub hob_lcyl: u8,
    pub hob_hcyl: u8,
    pub select: u8,
    pub status: u8,
    pub lba48: u8,
    pub sense_key: u8,
    pub asc: u8,
    #[vmstate(version = 3..)]
    pub cdrom_changed: u8,
    /// Sent while a PIO transfer is in progress.
    #[vmstate(subsection)]
    pub pio_state: Option<IdeDrivePio>,
    /// Sent for a CD-ROM whose tray is open or locked.
    #[vmstate(subsection)]
    pub tray_state: Option<IdeDriveTray>,
    /// Sent while media events are pending.
    #[vmstate(subsection)]
    pub gesn_state: Option<IdeDriveGesn>,
}

impl IdeDrive {
    fn is_identify_set(&self, _version: u32) -> bool {
        self.identify_set != 0
    }
}

impl Default for IdeDrive {
    fn default() -> Self {
        IdeDrive {
            mult_sectors: 0,
            identify_set: 0,
            identify_data: [0; 512],
            feature: 0,
            error: 0,
            nsector: 0,
            sector: 0,
            lcyl: 0,
            hcyl: 0,
            hob_feature: 0,
            hob_sector: 0,
            hob_nsector: 0,
            hob_lcyl: 0,
            hob_hcyl: 0,
            select: 0,
            status: 0,
            lba48: 0,
            sense_key: 0,
            asc: 0,
            cdrom_changed: 0,
            pio_state: None,
            tray_state: None,
            gesn_state: None,
        }
    }
}

/// A byte of the PIO buffer: QEMU sends the buffer as an array of `uint8`
/// (`VMSTATE_VARRAY_INT32` of `vmstate_info_uint8`), which its vmdesc describes
/// element by element, not as one `buffer`.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[vmstate(transparent)]
pub struct IoByte(pub u8);

/// `ide_drive/pio_state`: a PIO transfer in flight, with QEMU's whole I/O buffer.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, PartialEq)]
#[vmstate(name = "ide_drive/pio_state", version = 1)]
#[allow(missing_docs)]
pub struct IdeDrivePio {
    pub req_nb_sectors: i32,
    /// The buffer's size in the drive model (not migrated).
    #[vmstate(skip)]
    pub io_buffer_total_len: i32,
    /// QEMU's `io_buffer`, `io_buffer_total_len` bytes (declared from version 1,
    /// as an array of `uint8`, not a buffer).
    #[vmstate(len = io_buffer_total_len, max = 131076, version = 1..)]
    pub io_buffer: Vec<IoByte>,
    pub cur_io_buffer_offset: i32,
    pub cur_io_buffer_len: i32,
    pub end_transfer_fn_idx: u8,
    pub elementary_transfer_size: i32,
    pub packet_transfer_size: i32,
}

impl Default for IdeDrivePio {
    fn default() -> Self {
        IdeDrivePio {
            req_nb_sectors: 0,
            io_buffer: vec![IoByte(0); IDE_IO_BUFFER_LEN],
            cur_io_buffer_offset: 0,
            cur_io_buffer_len: 0,
            end_transfer_fn_idx: 0,
            elementary_transfer_size: 0,
            packet_transfer_size: 0,
            io_buffer_total_len: IDE_IO_BUFFER_LEN as i32,
        }
    }
}

/// `ide_drive/tray_state`.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "ide_drive/tray_state", version = 1)]
#[allow(missing_docs)]
pub struct IdeDriveTray {
    pub tray_open: bool,
    pub tray_locked: bool,
}

/// `ide_drive/atapi/gesn_state`.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "ide_drive/atapi/gesn_state", version = 1)]
#[allow(missing_docs)]
pub struct IdeDriveGesn {
    #[vmstate(rename = "events.new_media")]
    pub new_media: bool,
    #[vmstate(rename = "events.eject_request")]
    pub eject_request: bool,
}

/// Command slots of an AHCI port.
pub const AHCI_MAX_CMDS: usize = 32;
/// Ports of the ICH9 AHCI controller.
pub const ICH9_AHCI_PORTS: usize = 6;

/// `ich9_ahci` (v1): the Q35's SATA controller, 00:1f.2.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "ich9_ahci", version = 1, minimum_version = 0)]
pub struct Ich9Ahci {
    /// The PCI function.
    pub parent_obj: PciDevice,
    /// The AHCI controller.
    pub ahci: Ahci,
}

/// `sysbus-ahci` (v0): the AHCI controller on a system bus (ARM boards; QEMU 7.2's
/// x86 build has it too, 10.0's does not; no PC machine creates it), one port
/// unless its `num-ports` says otherwise.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, PartialEq)]
#[vmstate(name = "sysbus-ahci", version = 0)]
pub struct SysbusAhci {
    /// The AHCI controller.
    pub ahci: Ahci,
}

impl SysbusAhci {
    /// A controller of `ports` ports.
    pub fn with_ports(ports: usize) -> Self {
        let n = i32::try_from(ports).unwrap_or(i32::MAX);
        SysbusAhci {
            ahci: Ahci {
                nports: n,
                dev: vec![AhciPort::default(); ports],
                ports: n,
                ..Ahci::default()
            },
        }
    }
}

impl Default for SysbusAhci {
    /// One port, QEMU's default.
    fn default() -> Self {
        SysbusAhci::with_ports(1)
    }
}

/// `ahci`: the controller's registers and its ports.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, PartialEq)]
#[vmstate(name = "ahci", version = 1, minimum_version = 0)]
pub struct Ahci {
    /// The destination's port count, which sizes `dev` (QEMU reads the ports
    /// before it checks the stream's count, `ports` below, against its own).
    #[vmstate(skip)]
    pub nports: i32,
    /// The ports (behind a pointer in QEMU).
    #[vmstate(len = nports, max = 32)]
    pub dev: Vec<AhciPort>,
    /// Capabilities.
    #[vmstate(rename = "control_regs.cap")]
    pub cap: u32,
    /// Global host control.
    #[vmstate(rename = "control_regs.ghc")]
    pub ghc: u32,
    /// Interrupt status.
    #[vmstate(rename = "control_regs.irqstatus")]
    pub irqstatus: u32,
    /// Ports implemented.
    #[vmstate(rename = "control_regs.impl")]
    pub impl_: u32,
    /// Version.
    #[vmstate(rename = "control_regs.version")]
    pub version: u32,
    /// Index-data pair index.
    pub idp_index: u32,
    /// The port count, which must be the destination's.
    #[vmstate(equal)]
    pub ports: i32,
}

impl Default for Ahci {
    fn default() -> Self {
        Ahci {
            nports: ICH9_AHCI_PORTS as i32,
            dev: vec![AhciPort::default(); ICH9_AHCI_PORTS],
            cap: 0,
            ghc: 0,
            irqstatus: 0,
            impl_: 0,
            version: 0,
            idp_index: 0,
            ports: ICH9_AHCI_PORTS as i32,
        }
    }
}

/// `ahci port`: one SATA port, its IDE bus and drive, registers and NCQ slots.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "ahci port", version = 1, minimum_version = 0)]
#[allow(missing_docs)]
pub struct AhciPort {
    /// The port's IDE bus.
    #[vmstate(version = 1..)]
    pub port: IdeBus,
    /// The drive on it.
    #[vmstate(rename = "port.ifs[0]", version = 1..)]
    pub drive: IdeDrive,
    pub port_state: u32,
    pub finished: u32,
    #[vmstate(rename = "port_regs.lst_addr")]
    pub lst_addr: u32,
    #[vmstate(rename = "port_regs.lst_addr_hi")]
    pub lst_addr_hi: u32,
    #[vmstate(rename = "port_regs.fis_addr")]
    pub fis_addr: u32,
    #[vmstate(rename = "port_regs.fis_addr_hi")]
    pub fis_addr_hi: u32,
    #[vmstate(rename = "port_regs.irq_stat")]
    pub irq_stat: u32,
    #[vmstate(rename = "port_regs.irq_mask")]
    pub irq_mask: u32,
    #[vmstate(rename = "port_regs.cmd")]
    pub cmd: u32,
    #[vmstate(rename = "port_regs.tfdata")]
    pub tfdata: u32,
    #[vmstate(rename = "port_regs.sig")]
    pub sig: u32,
    #[vmstate(rename = "port_regs.scr_stat")]
    pub scr_stat: u32,
    #[vmstate(rename = "port_regs.scr_ctl")]
    pub scr_ctl: u32,
    #[vmstate(rename = "port_regs.scr_err")]
    pub scr_err: u32,
    #[vmstate(rename = "port_regs.scr_act")]
    pub scr_act: u32,
    #[vmstate(rename = "port_regs.cmd_issue")]
    pub cmd_issue: u32,
    pub done_first_drq: bool,
    pub busy_slot: i32,
    pub init_d2h_sent: bool,
    /// The native command queue's slots.
    #[vmstate(version = 1..)]
    pub ncq_tfs: [NcqTransfer; AHCI_MAX_CMDS],
}

/// `ncq state`: one native command queue slot.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Copy, Debug, Default, PartialEq)]
#[vmstate(name = "ncq state", version = 1, minimum_version = 0)]
#[allow(missing_docs)]
pub struct NcqTransfer {
    pub sector_count: u32,
    pub lba: u64,
    pub tag: u8,
    pub cmd: u8,
    pub slot: u8,
    pub used: bool,
    pub halt: bool,
}
