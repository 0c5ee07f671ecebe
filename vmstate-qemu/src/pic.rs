//! `i8259` (hw/intc/i8259_common.c): one of the two interrupt controllers. QEMU 10.0
//! added the `i8259/ltim` subsection; 7.2 streams never hold it.

use vmstate_runtime::VMState;

/// One 8259 PIC (instance 0 is the master, 1 the slave).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "i8259", version = 1)]
pub struct Pic {
    /// Edge detection.
    pub last_irr: u8,
    /// Interrupt request register.
    pub irr: u8,
    /// Interrupt mask register.
    pub imr: u8,
    /// In-service register.
    pub isr: u8,
    /// Priority rotation.
    pub priority_add: u8,
    /// Vector base.
    pub irq_base: u8,
    /// Register read select.
    pub read_reg_select: u8,
    /// Poll mode.
    pub poll: u8,
    /// Special mask mode.
    pub special_mask: u8,
    /// Initialisation sequence state.
    pub init_state: u8,
    /// Automatic EOI.
    pub auto_eoi: u8,
    /// Rotate on automatic EOI.
    pub rotate_on_auto_eoi: u8,
    /// Special fully nested mode.
    pub special_fully_nested_mode: u8,
    /// ICW4 expected.
    pub init4: u8,
    /// Single (no cascade) mode.
    pub single_mode: u8,
    /// Edge/level control.
    pub elcr: u8,
    /// Level-triggered mode (ICW1.LTIM), sent since QEMU 10.0 when set: a QEMU 7.2
    /// destination cannot load a PIC in that mode.
    #[vmstate(subsection)]
    pub ltim: Option<PicLtim>,
}

/// `i8259/ltim` (QEMU 10.0): the PIC's level-triggered mode bit.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "i8259/ltim", version = 1)]
pub struct PicLtim {
    /// ICW1.LTIM.
    pub ltim: u8,
}
