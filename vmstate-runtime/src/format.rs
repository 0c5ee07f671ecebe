//! The two wire formats. At the bottom of the crate: codecs, RAM, streams and the
//! dump all take a format, and none of them owns the choice.

/// A stream's wire format, chosen per save and detected on load
/// ([`framing::detect`](crate::framing::detect)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// QEMU's `QEVM` v3 stream.
    Legacy,
    /// vmstate's BER stream.
    Ber,
}
