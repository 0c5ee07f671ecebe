//! `ioapic` (hw/intc/ioapic_common.c).

use vmstate_runtime::{Unused, VMState};

/// Redirection table entries.
pub const IOAPIC_NUM_PINS: usize = 24;

/// The I/O APIC, version 3 (reads version 1).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "ioapic", version = 3, minimum_version = 1)]
pub struct Ioapic {
    /// APIC id.
    pub id: u8,
    /// Selected register.
    pub ioregsel: u8,
    /// Formerly the `unused` timer fields.
    #[vmstate(version = 2..)]
    pub _pad: Unused<8>,
    /// Interrupt request register.
    #[vmstate(version = 2..)]
    pub irr: u32,
    /// Redirection table.
    pub ioredtbl: [u64; IOAPIC_NUM_PINS],
}
