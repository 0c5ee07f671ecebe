//! What the generic decoder accepts from a stream: bounds on what an input may
//! declare that would cost more memory or time than its own bytes. The defaults are
//! far above QEMU's PC streams and far below what a machine can afford; a tool that
//! reads larger (or more suspect) streams sets its own.

use crate::error::{Error, ErrorKind, Result};

/// The bounds of one decode (see [`from_bytes_with_limits`](super::from_bytes_with_limits)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Elements (fields, array elements, nested ones) the description may declare
    /// over all its devices. QEMU's PC streams declare tens of thousands.
    pub described_elements: u64,
    /// Bytes of padding (`unused_buffer`) the description may declare: a BER stream
    /// leaves zero padding out and the decoder restores it from the description
    /// alone. QEMU's PC streams declare a few hundred.
    pub described_padding: u64,
    /// RAM pages a tree may hold from BER runs, whose size does not grow with
    /// their length (a legacy page costs at least 9 bytes of input). 16 GiB of
    /// 4 KiB pages; larger guests are read with `RamParts::Summary`.
    pub tree_pages: u64,
    /// Section and command records a stream may hold.
    pub sections: u64,
    /// Octets a conversion of a stream as it arrives holds of a legacy stream's
    /// device sections and trailer (which must wait for the vmdesc at its end), or
    /// of one BER device section. QEMU's PC streams hold under 2 MiB.
    pub held_tail: u64,
    /// Octets of one BER RAM element a conversion of a stream as it arrives holds
    /// (vmstate's writers make them at most 4 MiB and a few octets).
    pub ram_element: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            described_elements: 1 << 22,
            described_padding: 1 << 20,
            tree_pages: 1 << 22,
            sections: 1 << 20,
            held_tail: 64 << 20,
            ram_element: 16 << 20,
        }
    }
}

impl Limits {
    /// An error naming `limit` when `value` exceeds `max`.
    pub(crate) fn check(limit: &'static str, value: u64, max: u64, offset: u64) -> Result<()> {
        if value > max {
            return Err(Error::new(
                ErrorKind::LimitExceeded { limit, value, max },
                offset,
            ));
        }
        Ok(())
    }
}
