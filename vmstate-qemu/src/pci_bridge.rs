//! Conventional PCI bridges with hotplug: `pci-bridge` and `pcie-pci-bridge`,
//! whose state is the function and its SHPC (standard hot-plug controller)
//! registers. QEMU: `hw/pci-bridge/pci_bridge_dev.c`, `pcie_pci_bridge.c`,
//! `hw/pci/shpc.c`.
//!
//! Each also adds its secondary bus's `PCIBUS` section (no interrupt lines of its
//! own).

use crate::PciDevice;
use vmstate_runtime::VMState;

/// Bytes of the SHPC registers QEMU migrates: `SHPC_SIZEOF`, the slot registers
/// of its 31 slots (`SHPC_SLOT_REG(31)`).
pub const SHPC_SIZE: usize = 0x24 + 31 * 4;

/// The SHPC registers: QEMU's `shpc` VMStateInfo (`shpc_save`, `SHPC_SIZE`
/// bytes).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, PartialEq, Eq)]
#[vmstate(transparent, info = "shpc")]
pub struct Shpc(
    #[cfg_attr(feature = "serde", serde(with = "serde_big_array::BigArray"))] pub [u8; SHPC_SIZE],
);

impl Default for Shpc {
    fn default() -> Self {
        Shpc([0; SHPC_SIZE])
    }
}

/// `pci_bridge` (v0): QEMU's `pci-bridge`.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, PartialEq)]
#[vmstate(name = "pci_bridge", version = 0)]
pub struct PciBridgeDev {
    /// The bridge's function.
    pub parent_obj: PciDevice,
    /// The hot-plug controller, when the bridge has one (`shpc=on`, the default).
    #[vmstate(exists = |s, _| s.shpc_present)]
    pub shpc: Shpc,
    /// The `shpc` property (not migrated).
    #[vmstate(skip)]
    pub shpc_present: bool,
}

impl Default for PciBridgeDev {
    fn default() -> Self {
        PciBridgeDev {
            parent_obj: PciDevice::conventional(),
            shpc: Shpc::default(),
            shpc_present: true,
        }
    }
}

/// `pcie-pci-bridge` (v0): a PCI Express to conventional PCI bridge, with its
/// hot-plug controller always.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, PartialEq)]
#[vmstate(name = "pcie-pci-bridge", version = 0)]
pub struct PciePciBridge {
    /// The bridge's PCI Express function.
    pub parent_obj: PciDevice,
    /// The hot-plug controller.
    pub shpc: Shpc,
}

impl Default for PciePciBridge {
    fn default() -> Self {
        PciePciBridge {
            parent_obj: PciDevice::express(),
            shpc: Shpc::default(),
        }
    }
}
