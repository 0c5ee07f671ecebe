//! Example devices for vmstate.
//!
//! [`demo`] is a small device that uses the whole attribute language; [`qemu`]
//! holds mirrors of QEMU 7.2 devices: the proof that the derive describes
//! real device state exactly. [`catalog`] hands all of them, with realistic values, to
//! tests and benches.
#![deny(missing_docs)]

pub mod catalog;
pub mod demo;
pub mod qemu;
pub mod qmp;
pub mod testing;
