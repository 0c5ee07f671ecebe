//! The device of vmstate's demonstration.
//!
//! [`demo`] is a small device that uses the whole attribute language; the `demo`
//! example (`cargo run --release --example demo`) saves it in both formats, dumps
//! the BER and prints its ASN.1 module. [`constructs`] is a device that uses each
//! QEMU construct beyond the demo's; [`vmm`] is the state of a Rust VMM's devices in
//! ordinary Rust types, over three releases; [`kvm_vmm`] (Linux x86-64) is a reference VMM on
//! KVM and `vm-memory` that live-migrates its guest to stock QEMU, by default the
//! [`counter_guest`]. The mirrors of QEMU's devices are in the
//! `vmstate-qemu` crate.
#![deny(missing_docs)]

pub mod constructs;
pub mod counter_guest;
pub mod demo;
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
pub mod kvm_vmm;
pub mod vmm;

/// The README's Rust examples, compiled and run as doctests so that they cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
