//! Example devices for vmstate.
//!
//! [`demo`] is a small device that uses the whole attribute language; [`qemu`]
//! holds mirrors of QEMU 7.2 devices: the proof that the derive describes
//! real device state exactly.
#![deny(missing_docs)]

pub mod demo;
pub mod qemu;
