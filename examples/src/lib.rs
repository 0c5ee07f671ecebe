//! Example devices for vmstate.
//!
//! [`qemu`] holds mirrors of QEMU 7.2 devices: the proof that the derive describes
//! real device state exactly.
#![deny(missing_docs)]

pub mod qemu;
