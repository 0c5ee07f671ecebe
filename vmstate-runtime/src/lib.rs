//! # vmstate
//!
//! Describe a virtual device's migration state once, with `#[derive(VMState)]`, and
//! get codecs generated at compile time: the [`legacy`] format, byte for byte the
//! stream QEMU reads and writes, with its versions, subsections and vmdesc JSON; and
//! the [`ber`] format, ASN.1 BER in which every field is tagged, with a schema
//! ([`ber::asn1`]) that independent ASN.1 tools decode it with.
//!
//! ```
//! use vmstate_runtime::{legacy, Timer, Unused, VMState};
//!
//! #[derive(VMState, Clone, Debug, Default, PartialEq)]
//! #[vmstate(name = "mydev", version = 2, minimum_version = 1)]
//! pub struct MyDev {
//!     pub regs: [u32; 4],
//!     pub _pad: Unused<4>,
//!     pub timer: Timer,
//!     #[vmstate(version = 2..)]
//!     pub irq_level: u8,
//! }
//!
//! let dev = MyDev { regs: [1, 2, 3, 4], timer: Timer(-1), irq_level: 1, ..Default::default() };
//! let v2 = legacy::to_bytes(&dev).unwrap();
//! let v1 = legacy::to_bytes_at(&dev, 1).unwrap();
//! assert_eq!(v2.len(), 16 + 4 + 8 + 1);
//! assert_eq!(v1.len(), 16 + 4 + 8);
//! let back: MyDev = legacy::from_bytes(&v2, 2).unwrap();
//! assert_eq!(back, dev);
//! ```
//!
//! The attribute language mirrors QEMU's VMState concepts; see the derive's
//! documentation ([`VMState`](derive@VMState)) and `docs/ATTRIBUTES.md`.
#![deny(missing_docs)]
#![deny(unsafe_code)]

extern crate self as vmstate_runtime;

pub mod ber;
mod bitmap;
pub(crate) mod composite;
mod counted;
pub mod desc;
pub mod dump;
mod error;
mod field;
mod format;
pub mod framing;
#[doc(hidden)]
pub mod generated;
pub mod io;
pub mod json;
#[cfg(all(feature = "kvm", target_arch = "x86_64"))]
pub mod kvm;
pub mod legacy;
pub mod linked;
#[doc(hidden)]
pub mod nested;
mod octets;
#[doc(hidden)]
pub mod opaque;
pub mod ram;
pub mod snapshot;
pub mod stream;
#[cfg(test)]
mod tally;
mod types;
pub mod unplugged;
mod vmstate;
mod wire_as;

pub use counted::MAX_COUNT;
pub use error::{printable, Error, ErrorKind, PathSegment, Result};
pub use field::{slice_leaf, slice_leaves, slice_size, Field, VarLenField};
pub use format::Format;
pub use linked::{Chunks, GTree, KeyedList, MarkedList, QList, QTailQ, StructKey};
pub use types::{Timer, Unused};

/// Derives [`VMState`](trait@VMState) (for structs) or [`Field`] (for `#[repr(uN)]`
/// enums and `transparent` newtypes).
///
/// Most attributes at work, QEMU's concepts in Rust:
///
/// ```
/// use vmstate_runtime::{ber, legacy, ErrorKind, Unused, VMState};
///
/// #[derive(VMState, Clone, Debug, Default, PartialEq)]
/// #[vmstate(name = "uart", version = 3, minimum_version = 1, post_load = Uart::post_load)]
/// pub struct Uart {
///     pub divider: u16,
///     #[vmstate(equal)] // both ends must agree (VMSTATE_UINT8_EQUAL)
///     pub fifo_size: u8,
///     pub _pad: Unused<3>, // VMSTATE_UNUSED
///     #[vmstate(version = 2..)]
///     pub fifo_len: u8,
///     #[vmstate(version = 2.., len = fifo_len, max = 16)] // VMSTATE_VARRAY
///     pub fifo: Vec<u8>,
///     #[vmstate(skip)] // host-side, never migrated
///     pub host_fd: i32,
///     #[vmstate(subsection, needed = Uart::timeout_armed)]
///     pub timeout: UartTimeout,
/// }
///
/// #[derive(VMState, Clone, Debug, Default, PartialEq)]
/// #[vmstate(name = "uart/timeout", version = 1)]
/// pub struct UartTimeout {
///     pub deadline: i64,
/// }
///
/// impl Uart {
///     fn timeout_armed(&self) -> bool {
///         self.timeout.deadline != 0
///     }
///     fn post_load(&mut self, version: u32) -> Result<(), String> {
///         if version < 2 {
///             self.fifo.clear(); // version 1 had no FIFO
///         }
///         Ok(())
///     }
/// }
///
/// let uart = Uart {
///     divider: 12,
///     fifo_size: 16,
///     fifo_len: 2,
///     fifo: vec![0x41, 0x42],
///     timeout: UartTimeout { deadline: 5 },
///     ..Default::default()
/// };
/// // A destination configured like the source.
/// let mut dst = Uart { fifo_size: 16, host_fd: 3, ..Default::default() };
/// legacy::load_into(&mut dst, &legacy::to_bytes(&uart)?, 3)?;
/// assert_eq!(dst, Uart { host_fd: 3, ..uart.clone() });
/// ber::load_into(&mut dst, &ber::to_bytes_at(&uart, 1)?, 1)?; // an older peer
/// assert_eq!((dst.divider, dst.fifo.len()), (12, 0));
/// // A destination configured differently refuses the stream, and stays as it was.
/// let mut other = Uart { fifo_size: 64, ..Default::default() };
/// let e = legacy::load_into(&mut other, &legacy::to_bytes(&uart)?, 3).unwrap_err();
/// assert!(matches!(e.kind(), ErrorKind::NotEqual { .. }));
/// assert_eq!(e.path(), "uart.fifo_size");
/// assert_eq!(other.fifo_size, 64);
/// # Ok::<(), vmstate_runtime::Error>(())
/// ```
///
/// The reference (what each attribute means, its QEMU counterpart, the field types,
/// and what is checked at compile time) follows.
///
#[doc = include_str!("../ATTRIBUTES.md")]
pub use vmstate_macros::VMState;

pub use vmstate::VMState;

/// Support for generated code; not a public API.
#[doc(hidden)]
pub use crate::generated as __private;
