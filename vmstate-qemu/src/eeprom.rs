//! `eeprom` (hw/nvram/eeprom93xx.c): the 93xx serial EEPROM of the tulip and
//! eepro100 NICs, registered beside its NIC's own section (`0000:00:04.0/eeprom`).

use vmstate_runtime::{Unused, VMState};

/// Words of the tulip's EEPROM (`eeprom93xx_new(dev, 64)`), eepro100's too.
pub const EEPROM_WORDS: u16 = 64;

/// The EEPROM, version 20061113. Version 20061112 (QEMU before 0.10, its size
/// sent as a 16-bit hack and a pad) is not loaded.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, PartialEq)]
#[vmstate(name = "eeprom", version = 20061113)]
pub struct Eeprom93xx {
    /// Clock ticks of the current command.
    pub tick: u8,
    /// Address being read or written.
    pub address: u8,
    /// The command being shifted in.
    pub command: u8,
    /// Whether writes are enabled.
    pub writable: u8,
    /// Chip select.
    pub eecs: u8,
    /// Serial clock.
    pub eesk: u8,
    /// Data out.
    pub eedo: u8,
    /// Address bits (6 for 64 words).
    pub addrbits: u8,
    /// Version 20061112's size (QEMU's VMSTATE_UINT16_HACK_TEST), never sent at the
    /// versions loaded; kept so that fields are named as QEMU names them (`size[1]`).
    #[vmstate(rename = "size", exists = Eeprom93xx::is_old)]
    pub size_old: u16,
    /// The pad after the old size.
    #[vmstate(exists = Eeprom93xx::is_old)]
    pub unused: Unused<1>,
    /// Words: the destination's own, which the stream must repeat.
    #[vmstate(equal)]
    pub size: u16,
    /// The data register.
    pub data: u16,
    /// The words (QEMU's VMSTATE_VARRAY_UINT16_UNSAFE: `size` of them).
    #[vmstate(len = size, max = 256)]
    pub contents: Vec<u16>,
}

impl Eeprom93xx {
    fn is_old(&self, version: u32) -> bool {
        version == 20061112
    }
}

impl Default for Eeprom93xx {
    fn default() -> Self {
        Eeprom93xx {
            tick: 0,
            address: 0,
            command: 0,
            writable: 0,
            eecs: 0,
            eesk: 0,
            eedo: 0,
            addrbits: 6,
            size_old: EEPROM_WORDS,
            unused: Unused,
            size: EEPROM_WORDS,
            data: 0,
            contents: vec![0; EEPROM_WORDS.into()],
        }
    }
}
