//! PCI Express ports: the root ports (`pcie-root-port`, `ioh3420`) and the
//! switch's ports (`xio3130-*`), the bridges libvirt puts every device of a Q35 VM
//! behind. QEMU: `hw/pci-bridge/gen_pcie_root_port.c`, `ioh3420.c`,
//! `xio3130_upstream.c`, `xio3130_downstream.c`, `hw/pci/pcie_aer.c`.
//!
//! Each port also adds its secondary bus's `PCIBUS` section (no interrupt lines of
//! its own, see [`mirror`](crate::mirror)).

use crate::{Msix1, PciDevice};
use vmstate_runtime::VMState;

/// AER errors a port logs unless told otherwise (`aer_log_max`).
pub const PCIE_AER_LOG_MAX_DEFAULT: u16 = 8;
/// The most QEMU lets a port log.
pub const PCIE_AER_LOG_MAX_LIMIT: u16 = 128;

/// `PCIE_AER_ERROR` (v1): one logged error.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "PCIE_AER_ERROR", version = 1)]
pub struct PcieAerErr {
    /// Error status bits.
    pub status: u32,
    /// Requester id.
    pub source_id: u16,
    /// Flags (correctable, header and prefix valid).
    pub flags: u16,
    /// TLP header.
    pub header: [u32; 4],
    /// TLP prefix.
    pub prefix: [u32; 4],
}

/// `PCIE_AER_ERROR_LOG` (v1): the errors a port holds for the guest to read.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, PartialEq)]
#[vmstate(name = "PCIE_AER_ERROR_LOG", version = 1)]
pub struct PcieAerLog {
    /// Errors logged.
    pub log_num: u16,
    /// The destination's capacity (a property), which the stream must repeat.
    #[vmstate(equal, validate = PcieAerLog::check_log_num)]
    pub log_max: u16,
    /// The errors.
    #[vmstate(len = log_num, max = 128)]
    pub log: Vec<PcieAerErr>,
}

impl PcieAerLog {
    /// QEMU's `pcie_aer_state_log_num_valid` ("log_num <= log_max").
    fn check_log_num(&self, _version: u32) -> Result<(), String> {
        if self.log_num <= self.log_max {
            Ok(())
        } else {
            Err(format!(
                "log_num {} exceeds log_max {}",
                self.log_num, self.log_max
            ))
        }
    }
}

impl Default for PcieAerLog {
    fn default() -> Self {
        PcieAerLog {
            log_num: 0,
            log_max: PCIE_AER_LOG_MAX_DEFAULT,
            log: Vec::new(),
        }
    }
}

/// `pcie-root-port` (v1): QEMU's generic root port, libvirt's default.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, PartialEq)]
#[vmstate(name = "pcie-root-port", version = 1)]
pub struct PcieRootPort {
    /// The port's PCI Express function.
    #[vmstate(rename = "parent_obj.parent_obj.parent_obj")]
    pub pci: PciDevice,
    /// Its AER log.
    #[vmstate(rename = "parent_obj.parent_obj.parent_obj.exp.aer_log")]
    pub aer_log: PcieAerLog,
    /// Its one MSI-X vector, sent unless the machine type predates QEMU 3.1
    /// (`x-migrate-msix`).
    #[vmstate(
        rename = "parent_obj.parent_obj.parent_obj.parent_obj",
        exists = |s, _| s.migrate_msix
    )]
    pub msix: Msix1,
    /// `x-migrate-msix` (a property, not migrated).
    #[vmstate(skip)]
    pub migrate_msix: bool,
}

impl Default for PcieRootPort {
    fn default() -> Self {
        PcieRootPort {
            pci: PciDevice::express(),
            aer_log: PcieAerLog::default(),
            msix: Msix1::default(),
            migrate_msix: true,
        }
    }
}

/// Declares a port whose state is its function and AER log.
macro_rules! aer_port {
    ($(#[$doc:meta])* $name:ident, $vmsd:literal, $pci:literal, $aer:literal) => {
        $(#[$doc])*
        #[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
        #[derive(VMState, Clone, Debug, PartialEq)]
        #[vmstate(name = $vmsd, version = 1)]
        pub struct $name {
            /// The port's PCI Express function.
            #[vmstate(rename = $pci)]
            pub pci: PciDevice,
            /// Its AER log.
            #[vmstate(rename = $aer)]
            pub aer_log: PcieAerLog,
        }

        impl Default for $name {
            fn default() -> Self {
                $name {
                    pci: PciDevice::express(),
                    aer_log: PcieAerLog::default(),
                }
            }
        }
    };
}

aer_port!(
    /// `ioh-3240-express-root-port` (v1): the Intel X58 root port (`ioh3420`).
    Ioh3420,
    "ioh-3240-express-root-port",
    "parent_obj.parent_obj.parent_obj",
    "parent_obj.parent_obj.parent_obj.exp.aer_log"
);

aer_port!(
    /// `xio3130-express-downstream-port` (v1): a switch's downstream port.
    Xio3130Downstream,
    "xio3130-express-downstream-port",
    "parent_obj.parent_obj.parent_obj",
    "parent_obj.parent_obj.parent_obj.exp.aer_log"
);

aer_port!(
    /// `xio3130-express-upstream-port` (v1): a switch's upstream port.
    Xio3130Upstream,
    "xio3130-express-upstream-port",
    "parent_obj.parent_obj",
    "parent_obj.parent_obj.exp.aer_log"
);
