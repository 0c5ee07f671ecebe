//! What an iterative section (RAM, dirty bitmaps...) promises a stream, and what a
//! stream hands it back: the contract between the framing and the sections that
//! implement it ([`crate::ram`]), below both.

use super::SectionKind;
use crate::error::Result;
use crate::format::Format;
use crate::io::StreamInput;
use crate::unplugged::UnpluggedRam;

/// An iterative section: saved in parts while the VM may still run (START, then
/// PARTs until it says it is done), finished with an END part once the VM is
/// stopped; loaded part by part, in place.
pub trait IterativeSection {
    /// The version its parts are saved at.
    fn version(&self) -> u32;
    /// Writes the START part's body.
    fn save_setup(&mut self, format: Format, out: &mut Vec<u8>) -> Result<()>;
    /// Writes one PART's body; returns `true` once nothing is left for the live phase.
    fn save_iterate(&mut self, format: Format, out: &mut Vec<u8>) -> Result<bool>;
    /// Writes the END part's body.
    fn save_complete(&mut self, format: Format, out: &mut Vec<u8>) -> Result<()>;
    /// Loads one part saved at `version`.
    fn load_part(&mut self, kind: SectionKind, part: Part<'_, '_>, version: u32) -> Result<()>;
    /// Takes the stream's configuration (`None`: it has none) before its first
    /// part, loaded or saved: QEMU's capabilities that it lists change what the
    /// parts hold (a handler refuses one it cannot write).
    fn configure(&mut self, c: Option<&super::Configuration>) -> Result<()> {
        let _ = c;
        Ok(())
    }
    /// Takes the stream offset at which the next saved part's body starts, before
    /// it is saved (legacy streams): a body that holds offsets of the file, as a
    /// mapped-ram block list does, needs it.
    fn save_at(&mut self, offset: u64) {
        let _ = offset;
    }
    /// Checks, at the end of a whole stream (`offset`), that what its parts
    /// loaded is whole: RAM fails when pages of a block never arrived.
    fn load_complete(&self, offset: u64) -> Result<()> {
        let _ = offset;
        Ok(())
    }
    /// Takes, at the end of a whole stream and before [`load_complete`], memory
    /// of the RAM block of the device at `device_path` (QEMU names such a block
    /// `<device path>/<memory backend id>`) that the source does not send.
    ///
    /// [`load_complete`]: Self::load_complete
    fn unplugged(&mut self, device_path: &str, ram: &UnpluggedRam) -> Result<()> {
        let _ = (device_path, ram);
        Ok(())
    }
}

/// One part of an iterative section, as a stream hands it to
/// [`IterativeSection::load_part`].
pub enum Part<'p, 'a> {
    /// A legacy part, to read from the stream up to its own end marker (it has no
    /// length on the wire): from memory, or as it arrives.
    Legacy(&'p mut StreamInput<'a>),
    /// A BER part: all of `body` (the contents of its section's `[6]`), found at
    /// stream offset `base`.
    Ber {
        /// The part.
        body: &'p [u8],
        /// Its offset in the stream.
        base: u64,
    },
}
