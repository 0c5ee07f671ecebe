//! `dma` (hw/dma/i8257.c): the two ISA DMA controllers.

use vmstate_runtime::VMState;

/// One 8237 DMA controller (instance 0 is 8-bit, 1 is 16-bit).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "dma", version = 1)]
pub struct Dma {
    /// Command register.
    pub command: u8,
    /// Channel mask.
    pub mask: u8,
    /// Byte pointer flip-flop.
    pub flip_flop: u8,
    /// Address shift (0 or 1).
    pub dshift: i32,
    /// The four channels.
    #[vmstate(version = 1..)]
    pub regs: [DmaRegs; 4],
}

/// One DMA channel.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "dma_regs", version = 1)]
pub struct DmaRegs {
    /// Current address and count.
    pub now: [i32; 2],
    /// Base address and count.
    pub base: [u16; 2],
    /// Mode register.
    pub mode: u8,
    /// Page register.
    pub page: u8,
    /// High page register.
    pub pageh: u8,
    /// DACK level.
    pub dack: u8,
    /// EOP level.
    pub eop: u8,
}
