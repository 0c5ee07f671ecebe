//! `fw_cfg` (hw/nvram/fw_cfg.c): the firmware configuration interface.

use vmstate_runtime::VMState;

/// fw_cfg, version 2 (reads version 1, whose offset was 16 bits).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "fw_cfg", version = 2, minimum_version = 1)]
pub struct FwCfg {
    /// Selected entry.
    pub cur_entry: u16,
    /// Version 1's 16-bit offset (QEMU's VMSTATE_UINT16_HACK over `cur_offset`).
    #[vmstate(rename = "cur_offset", exists = FwCfg::is_version_1)]
    pub cur_offset_v1: u16,
    /// Offset in the selected entry.
    #[vmstate(version = 2..)]
    pub cur_offset: u32,
    /// Sent when DMA is enabled.
    #[vmstate(subsection)]
    pub dma: Option<FwCfgDma>,
    /// Sent when ACPI tables are in memory regions.
    #[vmstate(subsection)]
    pub acpi_mr: Option<FwCfgAcpiMr>,
}

impl FwCfg {
    fn is_version_1(&self, version: u32) -> bool {
        version == 1
    }
}

/// `fw_cfg/dma`.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "fw_cfg/dma", version = 0)]
pub struct FwCfgDma {
    /// DMA address register.
    pub dma_addr: u64,
}

/// `fw_cfg/acpi_mr`.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "fw_cfg/acpi_mr", version = 1)]
pub struct FwCfgAcpiMr {
    /// Size of the ACPI tables region.
    pub table_mr_size: u64,
    /// Size of the table loader region.
    pub linker_mr_size: u64,
    /// Size of the RSDP region.
    pub rsdp_mr_size: u64,
}
