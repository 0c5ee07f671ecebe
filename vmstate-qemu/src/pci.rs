//! PCI: the `PCIDevice` state every PCI function nests, the host bridge's and bus's
//! own sections (`PCIHost`, `PCIBUS`), and the i440FX chipset functions (`I440FX`,
//! `PIIX3`). QEMU: `hw/pci/pci.c`, `hw/pci/pci_host.c`, `hw/pci-host/i440fx.c`,
//! `hw/isa/piix3.c`.

use vmstate_runtime::{Unused, VMState};

/// Bytes of a conventional PCI function's configuration space.
pub const PCI_CONFIG_SPACE_SIZE: usize = 256;
/// Bytes of a PCI Express function's configuration space.
pub const PCIE_CONFIG_SPACE_SIZE: usize = 4096;

/// A conventional function's configuration space: QEMU's `pci config` VMStateInfo
/// (loaded through the device's write masks; on the wire its 256 bytes).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, PartialEq, Eq)]
#[vmstate(transparent, info = "pci config")]
pub struct PciConfig(
    #[cfg_attr(feature = "serde", serde(with = "serde_big_array::BigArray"))]
    pub  [u8; PCI_CONFIG_SPACE_SIZE],
);

impl Default for PciConfig {
    fn default() -> Self {
        PciConfig([0; PCI_CONFIG_SPACE_SIZE])
    }
}

/// A PCI Express function's configuration space (`pci config`, 4096 bytes).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, PartialEq, Eq)]
#[vmstate(transparent, info = "pci config")]
pub struct PcieConfig(
    #[cfg_attr(feature = "serde", serde(with = "serde_big_array::BigArray"))]
    pub  [u8; PCIE_CONFIG_SPACE_SIZE],
);

impl Default for PcieConfig {
    fn default() -> Self {
        PcieConfig([0; PCIE_CONFIG_SPACE_SIZE])
    }
}

/// The level of the four interrupt pins, 0 or 1 each: QEMU's `pci irq state`
/// VMStateInfo (four big-endian 32-bit words).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq, Eq)]
#[vmstate(transparent, info = "pci irq state")]
pub struct PciIrqState(pub [u32; 4]);

/// `PCIDevice` (v2): what every PCI function migrates first (QEMU's
/// `VMSTATE_PCI_DEVICE`).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, PartialEq)]
#[vmstate(name = "PCIDevice", version = 2, minimum_version = 1)]
pub struct PciDevice {
    /// The layout version of the sender's PCI core: at most the destination's.
    #[vmstate(le)]
    pub version_id: i32,
    /// The configuration space of a conventional function.
    #[vmstate(rename = "config", exists = PciDevice::is_conventional)]
    pub config: PciConfig,
    /// The configuration space of a PCI Express function.
    #[vmstate(rename = "config", exists = PciDevice::is_express)]
    pub config_express: PcieConfig,
    /// Interrupt pin levels.
    #[vmstate(version = 2.., validate = PciDevice::check_irq_state)]
    pub irq_state: PciIrqState,
    /// Whether this is a PCI Express function (a property of the device model, not
    /// migrated): it decides which configuration space is on the wire.
    #[vmstate(skip)]
    pub express: bool,
}

impl PciDevice {
    /// A conventional function's state as a fresh QEMU device has it.
    pub fn conventional() -> Self {
        PciDevice {
            version_id: 2,
            config: PciConfig::default(),
            config_express: PcieConfig::default(),
            irq_state: PciIrqState::default(),
            express: false,
        }
    }

    /// A PCI Express function's.
    pub fn express() -> Self {
        PciDevice {
            express: true,
            ..PciDevice::conventional()
        }
    }

    fn is_conventional(&self, _version: u32) -> bool {
        !self.express
    }

    fn is_express(&self, _version: u32) -> bool {
        self.express
    }

    /// QEMU's `get_pci_irq_state`: each pin's level is 0 or 1.
    fn check_irq_state(&self, _version: u32) -> Result<(), String> {
        match self.irq_state.0.iter().find(|l| **l > 1) {
            Some(l) => Err(format!("irq state {l}: must be 0 or 1")),
            None => Ok(()),
        }
    }
}

impl Default for PciDevice {
    fn default() -> Self {
        PciDevice::conventional()
    }
}

/// `PCIHost` (v1): the host bridge's configuration address register (0xcf8).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "PCIHost", version = 1)]
pub struct PciHost {
    /// The last value written to the configuration address port.
    pub config_reg: u32,
}

/// `PCIBUS` (v1): the root bus's interrupt counts.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, PartialEq)]
#[vmstate(name = "PCIBUS", version = 1)]
pub struct PciBus {
    /// Interrupt lines of the bus (4 on the i440FX, 8 on the Q35).
    #[vmstate(equal)]
    pub nirq: i32,
    /// How many functions assert each line.
    #[vmstate(len = nirq, max = 256)]
    pub irq_count: Vec<i32>,
}

impl PciBus {
    /// A bus of `nirq` interrupt lines, none asserted.
    pub fn new(nirq: usize) -> Self {
        PciBus {
            nirq: nirq as i32,
            irq_count: vec![0; nirq],
        }
    }
}

impl Default for PciBus {
    /// The i440FX's root bus: four lines.
    fn default() -> Self {
        PciBus::new(4)
    }
}

/// `I440FX` (v3): the i440FX host bridge function, 00:00.0.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "I440FX", version = 3, minimum_version = 3)]
pub struct I440fx {
    /// The PCI function.
    pub parent_obj: PciDevice,
    /// Formerly `smm_enabled`.
    pub _smm: Unused<1>,
}

/// `PIIX3` (v3): the PIIX3 PCI-to-ISA bridge, 00:01.0.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "PIIX3", version = 3, minimum_version = 2)]
pub struct Piix3 {
    /// The PCI function.
    pub dev: PciDevice,
    /// The levels of PIRQ A..D (QEMU computes them before saving from its
    /// bitmap, `pci_irq_levels`).
    #[vmstate(version = 3..)]
    pub pci_irq_levels_vmstate: [i32; 4],
    /// The reset control register (0xcf9), sent when not zero.
    #[vmstate(subsection)]
    pub rcr: Option<Piix3Rcr>,
}

/// `PIIX3/rcr`.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "PIIX3/rcr", version = 1)]
pub struct Piix3Rcr {
    /// Reset control register.
    pub rcr: u8,
}

/// Declares the MSI-X state of a function with a given vector count: QEMU's
/// `VMSTATE_MSIX`, a struct `msix` (version 0) of one `msix state` VMStateInfo,
/// the table (16 bytes a vector) then the pending bits.
macro_rules! msix {
    ($(#[$doc:meta])* $name:ident, $state:ident, $vectors:literal) => {
        $(#[$doc])*
        #[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
        #[derive(vmstate_runtime::VMState, Clone, Debug, Default, PartialEq)]
        #[vmstate(name = "msix", version = 0)]
        pub struct $name {
            /// The table and pending bits.
            pub msix: $state,
        }

        #[doc = concat!("The bytes of a ", stringify!($vectors), "-vector MSI-X table and its pending bits.")]
        #[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
        #[derive(vmstate_runtime::VMState, Clone, Debug, PartialEq, Eq)]
        #[vmstate(transparent, info = "msix state")]
        pub struct $state(
            #[cfg_attr(feature = "serde", serde(with = "serde_big_array::BigArray"))]
            pub [u8; $vectors * 16 + ($vectors as usize).div_ceil(8)],
        );

        impl Default for $state {
            fn default() -> Self {
                $state([0; $vectors * 16 + ($vectors as usize).div_ceil(8)])
            }
        }
    };
}

pub(crate) use msix;

msix!(
    /// The MSI-X state of a function with 5 vectors (`e1000e`).
    Msix5,
    MsixState5,
    5
);

msix!(
    /// The MSI-X state of a function with 16 vectors (`xhci`, one per interrupter).
    Msix16,
    MsixState16,
    16
);

msix!(
    /// The MSI-X state of a function with one vector (`pcie-root-port`).
    Msix1,
    MsixState1,
    1
);
