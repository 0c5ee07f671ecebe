//! Memory of a device's RAM block that its source does not send, by design: a
//! device section reports it ([`crate::VMState::unplugged_ram`]), a registry
//! hands it to the RAM section ([`crate::framing::IterativeSection::unplugged`]).

/// Memory of a device's RAM block that its source does not send: the blocks a
/// virtio-mem device has not plugged, which QEMU's migration skips (its
/// `RamDiscardManager`) and a destination discards, so that they read as zeros.
/// A device section reports it ([`VMState::unplugged_ram`]), a registry hands it
/// to the RAM loader, whose check that every page arrived then counts them.
///
/// [`VMState::unplugged_ram`]: crate::VMState::unplugged_ram
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UnpluggedRam {
    /// The length of the device's RAM block.
    pub size: u64,
    /// Byte ranges of the block that are not plugged, in order, apart.
    pub ranges: Vec<std::ops::Range<u64>>,
}

impl UnpluggedRam {
    /// The blocks of a plugged-bitmap (bit `i` of word `i / 64` set when block
    /// `i` is plugged, as QEMU's `unsigned long` bitmaps) whose bit is clear:
    /// `blocks` blocks of `block_size` bytes in a block of `size` bytes.
    pub fn from_bitmap(size: u64, block_size: u64, blocks: u32, bitmap: &[u64]) -> Self {
        let plugged = |i: u32| {
            bitmap
                .get(i as usize / 64)
                .is_some_and(|w| w >> (i % 64) & 1 == 1)
        };
        let mut ranges: Vec<std::ops::Range<u64>> = Vec::new();
        for i in (0..blocks).filter(|&i| !plugged(i)) {
            let start = u64::from(i).saturating_mul(block_size).min(size);
            let end = start.saturating_add(block_size).min(size);
            match ranges.last_mut() {
                Some(r) if r.end == start => r.end = end,
                _ if start < end => ranges.push(start..end),
                _ => {}
            }
        }
        UnpluggedRam { size, ranges }
    }
}

/// The device path of a section (`0000:00:04.0` of `0000:00:04.0/virtio-mem`;
/// empty for a section without one), as QEMU prefixes it to the device's idstrs.
pub fn device_path(idstr: &str) -> &str {
    idstr.rsplit_once('/').map_or("", |(path, _)| path)
}

/// Whether RAM block `block` is the device's at `device_path`: QEMU names it
/// `<device path>/<memory backend id>`.
pub fn is_block_of(block: &str, device_path: &str) -> bool {
    block
        .strip_prefix(device_path)
        .is_some_and(|rest| rest.starts_with('/'))
}
