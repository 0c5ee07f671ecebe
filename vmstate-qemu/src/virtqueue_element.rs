//! A request the device took from a queue and has not finished, as
//! `qemu_put_virtqueue_element` writes it (`hw/virtio/virtio.c`): QEMU's
//! `VirtQueueElementOld` C struct copied byte for byte, so in the host's byte order
//! (little-endian on x86), with the buffers' host addresses left zero.
//!
//! QEMU writes a `ndescs` word before it when the device offers packed rings (the
//! `packed=on` property, off by default); the mirrors cover the default.

use vmstate_runtime::{Unused, VMState};

/// Buffers a request may have (`VIRTQUEUE_MAX_SIZE`).
pub const VIRTQUEUE_MAX_SIZE: usize = 1024;

/// Declares a little-endian integer: the bytes of a C integer of an x86 host,
/// which QEMU copies out of memory as they are.
macro_rules! little_endian {
    ($(#[$doc:meta])* $name:ident, $int:ty, $n:literal) => {
        $(#[$doc])*
        #[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
        #[derive(VMState, Clone, Copy, Debug, Default, PartialEq)]
        #[vmstate(transparent)]
        pub struct $name(pub [u8; $n]);

        impl $name {
            /// The value.
            pub fn get(self) -> $int {
                <$int>::from_le_bytes(self.0)
            }
        }

        impl From<$int> for $name {
            fn from(v: $int) -> Self {
                $name(v.to_le_bytes())
            }
        }
    };
}

little_endian!(
    /// A little-endian `u32` (a C `unsigned int` of an x86 host).
    Le32, u32, 4
);
little_endian!(
    /// A little-endian `u64` (a guest address or a length of an x86 host).
    Le64, u64, 8
);

/// `VirtQueueElementOld`: the request's descriptor index and its buffers.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, PartialEq)]
#[vmstate(name = "VirtQueueElementOld", version = 1)]
pub struct VirtQueueElement {
    /// The head descriptor's index.
    pub index: Le32,
    /// Buffers the device reads.
    pub out_num: Le32,
    /// Buffers the device writes.
    pub in_num: Le32,
    /// The C struct's padding before the addresses.
    pub _pad: Unused<4>,
    /// Guest addresses of the `in_num` buffers (zero beyond).
    #[cfg_attr(feature = "serde", serde(with = "serde_big_array::BigArray"))]
    pub in_addr: [Le64; VIRTQUEUE_MAX_SIZE],
    /// Guest addresses of the `out_num` buffers (zero beyond).
    #[cfg_attr(feature = "serde", serde(with = "serde_big_array::BigArray"))]
    pub out_addr: [Le64; VIRTQUEUE_MAX_SIZE],
    /// The `in_num` buffers' lengths.
    #[cfg_attr(feature = "serde", serde(with = "serde_big_array::BigArray"))]
    pub in_sg: [IoVec; VIRTQUEUE_MAX_SIZE],
    /// The `out_num` buffers' lengths.
    #[cfg_attr(feature = "serde", serde(with = "serde_big_array::BigArray"))]
    pub out_sg: [IoVec; VIRTQUEUE_MAX_SIZE],
}

impl Default for VirtQueueElement {
    fn default() -> Self {
        VirtQueueElement {
            index: Le32::default(),
            out_num: Le32::default(),
            in_num: Le32::default(),
            _pad: Unused,
            in_addr: [Le64::default(); VIRTQUEUE_MAX_SIZE],
            out_addr: [Le64::default(); VIRTQUEUE_MAX_SIZE],
            in_sg: [IoVec::default(); VIRTQUEUE_MAX_SIZE],
            out_sg: [IoVec::default(); VIRTQUEUE_MAX_SIZE],
        }
    }
}

/// A `struct iovec` whose base QEMU does not save (it would leak QEMU's address
/// space layout; a load maps the buffer again).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Copy, Debug, Default, PartialEq)]
#[vmstate(name = "iovec", version = 1)]
pub struct IoVec {
    /// `iov_base`: zero.
    pub iov_base: Unused<8>,
    /// The buffer's length.
    pub iov_len: Le64,
}
