//! `uefi-vars-x64` / `uefi-vars-sysbus` (QEMU 10.0): the host-side UEFI variable
//! store a firmware built for it calls instead of keeping variables in flash.
//! QEMU: `hw/uefi/var-service-*.c`. The variables and variable policies go as
//! QEMU lists; the transfer buffer as its size says (at most `MAX_BUFFER_SIZE`,
//! 64 KiB, which QEMU caps it to).

use vmstate_runtime::{QTailQ, VMState};

/// `uefi-vars-sysbus` (v0).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "uefi-vars-sysbus", version = 0)]
pub struct UefiVarsSysbus {
    /// The variable service.
    pub state: UefiVars,
}

/// `uefi-vars` (v0): the service's registers, its transfer buffer, where boot
/// stands, and the variables.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "uefi-vars", version = 0)]
#[allow(missing_docs)]
pub struct UefiVars {
    pub sts: u16,
    pub buf_size: u32,
    pub buf_addr_lo: u32,
    pub buf_addr_hi: u32,
    pub pio_xfer_offset: u32,
    /// The buffer of port-I/O transfers.
    #[vmstate(len = buf_size, max = 65536)]
    pub pio_xfer_buffer: Vec<u8>,
    pub end_of_dxe: bool,
    pub ready_to_boot: bool,
    pub exit_boot_service: bool,
    pub policy_locked: bool,
    /// Bytes the variables take of the store.
    pub used_storage: u64,
    /// The variables.
    pub variables: QTailQ<UefiVariable>,
    /// The variable policies the firmware registered.
    pub var_policies: QTailQ<UefiVarPolicy>,
}

/// `uefi-variable` (v0).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "uefi-variable", version = 0)]
#[allow(missing_docs)]
pub struct UefiVariable {
    /// The vendor GUID.
    #[vmstate(rename = "guid.data", as_array)]
    pub guid: [u8; 16],
    pub name_size: u32,
    pub data_size: u32,
    pub attributes: u32,
    /// The UCS-2 name (at most the 64 KiB buffer it came through).
    #[vmstate(len = name_size, max = 65536)]
    pub name: Vec<u8>,
    /// The value (at most 1 MiB: QEMU's store is 256 KiB by default).
    #[vmstate(len = data_size, max = 1048576)]
    pub data: Vec<u8>,
    /// When an authenticated variable was written.
    pub time: UefiTime,
}

/// `uefi-time` (v0): `EFI_TIME`'s fields that QEMU keeps.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "uefi-time", version = 0)]
#[allow(missing_docs)]
pub struct UefiTime {
    pub year: u16,
    pub month: u8,
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
    pub nanosecond: u32,
}

/// `uefi-var-policy` (v0): a `VARIABLE_POLICY_ENTRY` as the firmware sent it.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "uefi-var-policy", version = 0)]
#[allow(missing_docs)]
pub struct UefiVarPolicy {
    pub entry_size: u32,
    /// The entry (at most the 64 KiB buffer it came through).
    #[vmstate(len = entry_size, max = 65536)]
    pub entry: Vec<u8>,
}
