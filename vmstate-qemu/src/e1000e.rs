//! `e1000e` (v1): the Intel 82574L PCI Express NIC. QEMU: `hw/net/e1000e.c`.
//!
//! QEMU 10.0 sends as padding the two interrupt-pending fields 7.2 sent (the same
//! bytes; this mirror keeps 7.2's names, docs/QEMU-RELEASES.md), and adds `timadj`
//! for its newer machine types.

use crate::{Msix5, PciDevice};
use vmstate_runtime::{Timer, VMState};

/// 32-bit registers in the MAC register file.
pub const E1000E_MAC_SIZE: usize = 0x8000;
/// Pages of PHY registers.
pub const E1000E_PHY_PAGES: usize = 7;
/// Registers per PHY page.
pub const E1000E_PHY_PAGE_SIZE: usize = 0x20;
/// MSI-X vectors.
pub const E1000E_MSIX_VEC_NUM: usize = 5;

/// The e1000e function.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, PartialEq)]
#[vmstate(name = "e1000e", version = 1)]
#[allow(missing_docs)]
pub struct E1000e {
    /// The PCI Express function.
    pub parent_obj: PciDevice,
    /// Its MSI-X state.
    #[vmstate(rename = "parent_obj")]
    pub msix: Msix5,
    pub ioaddr: u32,
    #[vmstate(rename = "core.rxbuf_min_shift")]
    pub rxbuf_min_shift: u32,
    #[vmstate(rename = "core.rx_desc_len")]
    pub rx_desc_len: u8,
    #[vmstate(rename = "core.rxbuf_sizes")]
    pub rxbuf_sizes: [u32; 4],
    #[vmstate(rename = "core.rx_desc_buf_size")]
    pub rx_desc_buf_size: u32,
    #[vmstate(rename = "core.eeprom")]
    #[cfg_attr(feature = "serde", serde(with = "serde_big_array::BigArray"))]
    pub eeprom: [u16; 64],
    #[vmstate(rename = "core.phy")]
    pub phy: [[u16; E1000E_PHY_PAGE_SIZE]; E1000E_PHY_PAGES],
    /// The MAC register file.
    #[vmstate(rename = "core.mac")]
    pub mac: Box<MacRegs>,
    #[vmstate(rename = "core.permanent_mac", as_array)]
    pub permanent_mac: [u8; 6],
    #[vmstate(rename = "core.delayed_causes")]
    pub delayed_causes: u32,
    pub subsys: u16,
    pub subsys_ven: u16,
    #[vmstate(rename = "core.rdtr")]
    pub rdtr: IntrDelayTimer,
    #[vmstate(rename = "core.radv")]
    pub radv: IntrDelayTimer,
    #[vmstate(rename = "core.raid")]
    pub raid: IntrDelayTimer,
    #[vmstate(rename = "core.tadv")]
    pub tadv: IntrDelayTimer,
    #[vmstate(rename = "core.tidv")]
    pub tidv: IntrDelayTimer,
    #[vmstate(rename = "core.itr")]
    pub itr: IntrDelayTimer,
    /// QEMU 10.0 sends a zero byte here.
    #[vmstate(rename = "core.itr_intr_pending")]
    pub itr_intr_pending: bool,
    #[vmstate(rename = "core.eitr")]
    pub eitr: [IntrDelayTimer; E1000E_MSIX_VEC_NUM],
    /// QEMU 10.0 sends zero bytes here.
    #[vmstate(rename = "core.eitr_intr_pending")]
    pub eitr_intr_pending: [bool; E1000E_MSIX_VEC_NUM],
    #[vmstate(rename = "core.itr_guest_value")]
    pub itr_guest_value: u32,
    #[vmstate(rename = "core.eitr_guest_value")]
    pub eitr_guest_value: [u32; E1000E_MSIX_VEC_NUM],
    #[vmstate(rename = "core.vet")]
    pub vet: u16,
    #[vmstate(rename = "core.tx")]
    pub tx: [E1000eTx; 2],
    /// The PTP clock adjustment (QEMU 8.1's machine types and later).
    #[vmstate(rename = "core.timadj", exists = |s, _| s.migrate_timadj)]
    pub timadj: i64,
    /// Whether the machine type sends `timadj` (`migrate-timadj`; not migrated).
    #[vmstate(skip)]
    pub migrate_timadj: bool,
}

impl E1000e {
    /// The function as a destination of `machine_type` has it: `timadj` is sent by
    /// QEMU 8.1's machine types and later.
    pub fn for_machine(machine_type: &str) -> Self {
        let release = vmstate_runtime::stream::qemu_release(machine_type);
        E1000e {
            migrate_timadj: release.is_some_and(|r| r >= (8, 1)),
            ..E1000e::default()
        }
    }
}

impl Default for E1000e {
    /// As QEMU 10.0's machine types configure it.
    fn default() -> Self {
        E1000e {
            parent_obj: PciDevice::express(),
            msix: Msix5::default(),
            ioaddr: 0,
            rxbuf_min_shift: 0,
            rx_desc_len: 0,
            rxbuf_sizes: [0; 4],
            rx_desc_buf_size: 0,
            eeprom: [0; 64],
            phy: [[0; E1000E_PHY_PAGE_SIZE]; E1000E_PHY_PAGES],
            mac: Box::default(),
            permanent_mac: [0; 6],
            delayed_causes: 0,
            subsys: 0,
            subsys_ven: 0,
            rdtr: IntrDelayTimer::default(),
            radv: IntrDelayTimer::default(),
            raid: IntrDelayTimer::default(),
            tadv: IntrDelayTimer::default(),
            tidv: IntrDelayTimer::default(),
            itr: IntrDelayTimer::default(),
            itr_intr_pending: false,
            eitr: Default::default(),
            eitr_intr_pending: [false; E1000E_MSIX_VEC_NUM],
            itr_guest_value: 0,
            eitr_guest_value: [0; E1000E_MSIX_VEC_NUM],
            vet: 0,
            tx: Default::default(),
            timadj: 0,
            migrate_timadj: true,
        }
    }
}

/// The MAC register file, 32768 words.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, PartialEq, Eq)]
#[vmstate(transparent)]
pub struct MacRegs(
    #[cfg_attr(feature = "serde", serde(with = "serde_big_array::BigArray"))]
    pub  [u32; E1000E_MAC_SIZE],
);

impl Default for MacRegs {
    fn default() -> Self {
        MacRegs([0; E1000E_MAC_SIZE])
    }
}

/// `e1000e-intr-timer`: an interrupt delay timer.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "e1000e-intr-timer", version = 1)]
#[allow(missing_docs)]
pub struct IntrDelayTimer {
    pub timer: Timer,
    pub running: bool,
}

/// `e1000e-tx`: a transmit queue's offload context.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "e1000e-tx", version = 1)]
#[allow(missing_docs)]
pub struct E1000eTx {
    pub sum_needed: u8,
    #[vmstate(rename = "props.ipcss")]
    pub ipcss: u8,
    #[vmstate(rename = "props.ipcso")]
    pub ipcso: u8,
    #[vmstate(rename = "props.ipcse")]
    pub ipcse: u16,
    #[vmstate(rename = "props.tucss")]
    pub tucss: u8,
    #[vmstate(rename = "props.tucso")]
    pub tucso: u8,
    #[vmstate(rename = "props.tucse")]
    pub tucse: u16,
    #[vmstate(rename = "props.hdr_len")]
    pub hdr_len: u8,
    #[vmstate(rename = "props.mss")]
    pub mss: u16,
    #[vmstate(rename = "props.paylen")]
    pub paylen: u32,
    #[vmstate(rename = "props.ip")]
    pub ip: i8,
    #[vmstate(rename = "props.tcp")]
    pub tcp: i8,
    #[vmstate(rename = "props.tse")]
    pub tse: bool,
    pub cptse: bool,
    pub skip_cp: bool,
}
