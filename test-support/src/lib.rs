//! What vmstate's tests, snapshots and benches share (not published).
//!
//! - [`catalog`]: every example device with a realistic value, and the QEMU fixtures
//!   in `test-support/fixtures`;
//! - [`fuzzing`]: the bodies of the fuzz targets, which the stable suite runs over
//!   the seeds and every past finding;
//! - [`testing`]: a seeded generator, guest images, RAM helpers, skip rules;
//! - [`qmp`]: starts a real QEMU and drives it over QMP;
//! - [`counter_guest`]: a guest kernel that keeps writing its memory, for live
//!   migrations;
//! - `kvm_guest` and `kvm_live` (x86-64 Linux): a small KVM VMM whose guest's every
//!   step depends on its registers and memory, saved, restored and live-migrated with
//!   vmstate; the `kvm-guest` binary runs it in a separate process;
//! - `link`: a rate- and latency-limited TCP relay, a real link on loopback.
#![deny(missing_docs)]

pub mod catalog;
pub use vmstate_examples::counter_guest;
pub mod fuzzing;

#[doc(hidden)]
pub use vmstate_examples as __examples;
#[doc(hidden)]
pub use vmstate_qemu as __qemu;
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
pub mod kvm_guest;
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
pub mod kvm_live;
pub mod link;
pub mod qmp;
pub mod testing;
