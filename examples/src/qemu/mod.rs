//! Mirrors of QEMU 7.2 device state, written with `#[derive(VMState)]`.
//!
//! Each type reproduces one VMStateDescription of QEMU 7.2 (names, versions, field
//! order and widths, subsections), so its section in a real QEMU stream decodes into
//! it and re-encodes byte for byte; `examples/tests/qemu_fixtures.rs` proves it on the
//! streams in `test-support/fixtures/qemu-7.2`.

mod cpu;
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
mod cpu_kvm;
mod dma;
mod fdc;
mod fw_cfg;
mod hpet;
mod ioapic;
mod kbd;
mod misc;
mod pic;
mod pit;
mod rtc;
mod serial;

pub use cpu::*;
pub use dma::*;
pub use fdc::*;
pub use fw_cfg::*;
pub use hpet::*;
pub use ioapic::*;
pub use kbd::*;
pub use misc::*;
pub use pic::*;
pub use pit::*;
pub use rtc::*;
pub use serial::*;
