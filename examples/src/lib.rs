//! Example devices for vmstate.
//!
//! [`demo`] is a small device that uses the whole attribute language; [`qemu`]
//! holds mirrors of QEMU 7.2 devices: the proof that the derive describes
//! real device state exactly. [`catalog`] hands all of them, with realistic values, to
//! tests and benches.
#![deny(missing_docs)]

pub mod catalog;
pub mod demo;
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
pub mod kvm_guest;
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
pub mod kvm_live;
pub mod qemu;
pub mod qmp;
pub mod testing;

/// The README's Rust examples, compiled and run as doctests so that they cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
