//! `e1000` (v2): the Intel 82540EM NIC. QEMU: `hw/net/e1000.c`.
//!
//! QEMU sends single MAC registers by name (`mac_reg[CTRL]`), three parts of the
//! register file as sub-arrays (`VMSTATE_UINT32_SUB_ARRAY`: the receive addresses,
//! the multicast and the VLAN tables), and, on current machine types, the whole
//! register file again in a subsection. The mirror has a field for each, as the
//! wire does.

use crate::PciDevice;
use vmstate_runtime::{Unused, VMState};

/// 32-bit registers in the MAC register file.
pub const E1000_MAC_REGS: usize = 0x8000;

/// The e1000 function.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, PartialEq)]
#[vmstate(name = "e1000", version = 2, minimum_version = 1)]
#[allow(missing_docs)]
pub struct E1000 {
    /// The PCI function.
    pub parent_obj: PciDevice,
    /// Formerly the instance id (version 1 only).
    #[vmstate(version = ..=1)]
    pub _instance_id: Unused<4>,
    /// Formerly `mmio_base`.
    pub _mmio_base: Unused<4>,
    pub rxbuf_size: u32,
    pub rxbuf_min_shift: u32,
    #[vmstate(rename = "eecd_state.val_in")]
    pub eecd_val_in: u32,
    #[vmstate(rename = "eecd_state.bitnum_in")]
    pub eecd_bitnum_in: u16,
    #[vmstate(rename = "eecd_state.bitnum_out")]
    pub eecd_bitnum_out: u16,
    #[vmstate(rename = "eecd_state.reading")]
    pub eecd_reading: u16,
    #[vmstate(rename = "eecd_state.old_eecd")]
    pub eecd_old_eecd: u32,
    /// The offload properties of the last context descriptor (QEMU fills them in
    /// `pre_save` from the TSO or the plain context).
    #[vmstate(rename = "mig_props.ipcss")]
    pub ipcss: u8,
    #[vmstate(rename = "mig_props.ipcso")]
    pub ipcso: u8,
    #[vmstate(rename = "mig_props.ipcse")]
    pub ipcse: u16,
    #[vmstate(rename = "mig_props.tucss")]
    pub tucss: u8,
    #[vmstate(rename = "mig_props.tucso")]
    pub tucso: u8,
    #[vmstate(rename = "mig_props.tucse")]
    pub tucse: u16,
    #[vmstate(rename = "mig_props.paylen")]
    pub paylen: u32,
    #[vmstate(rename = "mig_props.hdr_len")]
    pub hdr_len: u8,
    #[vmstate(rename = "mig_props.mss")]
    pub mss: u16,
    #[vmstate(rename = "tx.size")]
    pub tx_size: u16,
    #[vmstate(rename = "tx.tso_frames")]
    pub tx_tso_frames: u16,
    #[vmstate(rename = "tx.sum_needed")]
    pub tx_sum_needed: u8,
    #[vmstate(rename = "mig_props.ip")]
    pub ip: i8,
    #[vmstate(rename = "mig_props.tcp")]
    pub tcp: i8,
    /// The packet header being assembled.
    #[vmstate(rename = "tx.header")]
    #[cfg_attr(feature = "serde", serde(with = "serde_big_array::BigArray"))]
    pub tx_header: [u8; 256],
    /// The packet being assembled.
    #[vmstate(rename = "tx.data")]
    pub tx_data: Box<TxData>,
    #[cfg_attr(feature = "serde", serde(with = "serde_big_array::BigArray"))]
    pub eeprom_data: [u16; 64],
    pub phy_reg: [u16; 0x20],
    #[vmstate(rename = "mac_reg[CTRL]")]
    pub ctrl: u32,
    #[vmstate(rename = "mac_reg[EECD]")]
    pub eecd: u32,
    #[vmstate(rename = "mac_reg[EERD]")]
    pub eerd: u32,
    #[vmstate(rename = "mac_reg[GPRC]")]
    pub gprc: u32,
    #[vmstate(rename = "mac_reg[GPTC]")]
    pub gptc: u32,
    #[vmstate(rename = "mac_reg[ICR]")]
    pub icr: u32,
    #[vmstate(rename = "mac_reg[ICS]")]
    pub ics: u32,
    #[vmstate(rename = "mac_reg[IMC]")]
    pub imc: u32,
    #[vmstate(rename = "mac_reg[IMS]")]
    pub ims: u32,
    #[vmstate(rename = "mac_reg[LEDCTL]")]
    pub ledctl: u32,
    #[vmstate(rename = "mac_reg[MANC]")]
    pub manc: u32,
    #[vmstate(rename = "mac_reg[MDIC]")]
    pub mdic: u32,
    #[vmstate(rename = "mac_reg[MPC]")]
    pub mpc: u32,
    #[vmstate(rename = "mac_reg[PBA]")]
    pub pba: u32,
    #[vmstate(rename = "mac_reg[RCTL]")]
    pub rctl: u32,
    #[vmstate(rename = "mac_reg[RDBAH]")]
    pub rdbah: u32,
    #[vmstate(rename = "mac_reg[RDBAL]")]
    pub rdbal: u32,
    #[vmstate(rename = "mac_reg[RDH]")]
    pub rdh: u32,
    #[vmstate(rename = "mac_reg[RDLEN]")]
    pub rdlen: u32,
    #[vmstate(rename = "mac_reg[RDT]")]
    pub rdt: u32,
    #[vmstate(rename = "mac_reg[STATUS]")]
    pub status: u32,
    #[vmstate(rename = "mac_reg[SWSM]")]
    pub swsm: u32,
    #[vmstate(rename = "mac_reg[TCTL]")]
    pub tctl: u32,
    #[vmstate(rename = "mac_reg[TDBAH]")]
    pub tdbah: u32,
    #[vmstate(rename = "mac_reg[TDBAL]")]
    pub tdbal: u32,
    #[vmstate(rename = "mac_reg[TDH]")]
    pub tdh: u32,
    #[vmstate(rename = "mac_reg[TDLEN]")]
    pub tdlen: u32,
    #[vmstate(rename = "mac_reg[TDT]")]
    pub tdt: u32,
    #[vmstate(rename = "mac_reg[TORH]")]
    pub torh: u32,
    #[vmstate(rename = "mac_reg[TORL]")]
    pub torl: u32,
    #[vmstate(rename = "mac_reg[TOTH]")]
    pub toth: u32,
    #[vmstate(rename = "mac_reg[TOTL]")]
    pub totl: u32,
    #[vmstate(rename = "mac_reg[TPR]")]
    pub tpr: u32,
    #[vmstate(rename = "mac_reg[TPT]")]
    pub tpt: u32,
    #[vmstate(rename = "mac_reg[TXDCTL]")]
    pub txdctl: u32,
    #[vmstate(rename = "mac_reg[WUFC]")]
    pub wufc: u32,
    #[vmstate(rename = "mac_reg[VET]")]
    pub vet: u32,
    /// Receive addresses (`mac_reg[RA..]`).
    #[vmstate(rename = "mac_reg")]
    pub ra: [u32; 32],
    /// Multicast table (`mac_reg[MTA..]`).
    #[vmstate(rename = "mac_reg")]
    #[cfg_attr(feature = "serde", serde(with = "serde_big_array::BigArray"))]
    pub mta: [u32; 128],
    /// VLAN filter table (`mac_reg[VFTA..]`).
    #[vmstate(rename = "mac_reg")]
    #[cfg_attr(feature = "serde", serde(with = "serde_big_array::BigArray"))]
    pub vfta: [u32; 128],
    /// Interrupt mitigation, sent by every machine type since QEMU 2.x.
    #[vmstate(subsection, needed = |e: &E1000| e.mit_migrated)]
    pub mit_state: E1000MitState,
    /// The whole register file, sent by machine types since QEMU 2.7.
    #[vmstate(subsection)]
    pub full_mac_state: Option<Box<E1000FullMacState>>,
    /// The TSO context, sent by machine types since QEMU 2.11.
    #[vmstate(subsection)]
    pub tx_tso_state: Option<E1000TxTsoState>,
    /// Whether the machine type sends `mit_state` (not migrated; QEMU 10.0 always
    /// does).
    #[vmstate(skip)]
    pub mit_migrated: bool,
}

/// A transmit buffer, 64 KiB.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, PartialEq, Eq)]
#[vmstate(transparent)]
pub struct TxData(
    #[cfg_attr(feature = "serde", serde(with = "serde_big_array::BigArray"))] pub [u8; 65536],
);

impl Default for TxData {
    fn default() -> Self {
        TxData([0; 65536])
    }
}

impl Default for E1000 {
    fn default() -> Self {
        E1000 {
            parent_obj: PciDevice::conventional(),
            _instance_id: Unused,
            _mmio_base: Unused,
            rxbuf_size: 0,
            rxbuf_min_shift: 0,
            eecd_val_in: 0,
            eecd_bitnum_in: 0,
            eecd_bitnum_out: 0,
            eecd_reading: 0,
            eecd_old_eecd: 0,
            ipcss: 0,
            ipcso: 0,
            ipcse: 0,
            tucss: 0,
            tucso: 0,
            tucse: 0,
            paylen: 0,
            hdr_len: 0,
            mss: 0,
            tx_size: 0,
            tx_tso_frames: 0,
            tx_sum_needed: 0,
            ip: 0,
            tcp: 0,
            tx_header: [0; 256],
            tx_data: Box::default(),
            eeprom_data: [0; 64],
            phy_reg: [0; 0x20],
            ctrl: 0,
            eecd: 0,
            eerd: 0,
            gprc: 0,
            gptc: 0,
            icr: 0,
            ics: 0,
            imc: 0,
            ims: 0,
            ledctl: 0,
            manc: 0,
            mdic: 0,
            mpc: 0,
            pba: 0,
            rctl: 0,
            rdbah: 0,
            rdbal: 0,
            rdh: 0,
            rdlen: 0,
            rdt: 0,
            status: 0,
            swsm: 0,
            tctl: 0,
            tdbah: 0,
            tdbal: 0,
            tdh: 0,
            tdlen: 0,
            tdt: 0,
            torh: 0,
            torl: 0,
            toth: 0,
            totl: 0,
            tpr: 0,
            tpt: 0,
            txdctl: 0,
            wufc: 0,
            vet: 0,
            ra: [0; 32],
            mta: [0; 128],
            vfta: [0; 128],
            mit_state: E1000MitState::default(),
            full_mac_state: None,
            tx_tso_state: None,
            mit_migrated: true,
        }
    }
}

/// `e1000/mit_state`: interrupt mitigation.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "e1000/mit_state", version = 1)]
#[allow(missing_docs)]
pub struct E1000MitState {
    #[vmstate(rename = "mac_reg[RDTR]")]
    pub rdtr: u32,
    #[vmstate(rename = "mac_reg[RADV]")]
    pub radv: u32,
    #[vmstate(rename = "mac_reg[TADV]")]
    pub tadv: u32,
    #[vmstate(rename = "mac_reg[ITR]")]
    pub itr: u32,
    pub mit_irq_level: bool,
}

/// `e1000/full_mac_state`: the whole MAC register file.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, PartialEq)]
#[vmstate(name = "e1000/full_mac_state", version = 1)]
pub struct E1000FullMacState {
    /// The registers.
    #[cfg_attr(feature = "serde", serde(with = "serde_big_array::BigArray"))]
    pub mac_reg: [u32; E1000_MAC_REGS],
}

impl Default for E1000FullMacState {
    fn default() -> Self {
        E1000FullMacState {
            mac_reg: [0; E1000_MAC_REGS],
        }
    }
}

/// `e1000/tx_tso_state`: the TCP segmentation offload context.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "e1000/tx_tso_state", version = 1)]
#[allow(missing_docs)]
pub struct E1000TxTsoState {
    #[vmstate(rename = "tx.tso_props.ipcss")]
    pub ipcss: u8,
    #[vmstate(rename = "tx.tso_props.ipcso")]
    pub ipcso: u8,
    #[vmstate(rename = "tx.tso_props.ipcse")]
    pub ipcse: u16,
    #[vmstate(rename = "tx.tso_props.tucss")]
    pub tucss: u8,
    #[vmstate(rename = "tx.tso_props.tucso")]
    pub tucso: u8,
    #[vmstate(rename = "tx.tso_props.tucse")]
    pub tucse: u16,
    #[vmstate(rename = "tx.tso_props.paylen")]
    pub paylen: u32,
    #[vmstate(rename = "tx.tso_props.hdr_len")]
    pub hdr_len: u8,
    #[vmstate(rename = "tx.tso_props.mss")]
    pub mss: u16,
    #[vmstate(rename = "tx.tso_props.ip")]
    pub ip: i8,
    #[vmstate(rename = "tx.tso_props.tcp")]
    pub tcp: i8,
}
