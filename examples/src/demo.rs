//! A small virtual device that uses every part of the attribute language: the one the
//! README and the `demo` example show.

use vmstate_runtime::{Timer, Unused, VMState};

/// The device's operating mode: one byte on the wire; a load rejects other values.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(u8)]
pub enum Mode {
    /// Powered down.
    #[default]
    Off = 0,
    /// Polling.
    Polled = 1,
    /// Interrupt driven.
    Irq = 4,
}

/// A guest-physical address, migrated as its `u64`.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[vmstate(transparent)]
pub struct Gpa(pub u64);

/// One DMA descriptor.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "demo-desc", version = 1)]
pub struct Descriptor {
    /// Buffer address.
    pub addr: Gpa,
    /// Buffer length.
    pub len: u32,
    /// Flags.
    pub flags: u16,
}

/// Queue depth the device is built with (checked on load with `equal`).
pub const QUEUE_SIZE: u32 = 16;

/// A demo DMA engine, version 3; reads versions 1 and 2.
///
/// In BER it is `[APPLICATION 16]`, and version 1 goes as a legacy blob: the path
/// for a device whose old senders wrote it opaquely.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, PartialEq)]
#[vmstate(
    name = "demo-dma",
    version = 3,
    minimum_version = 1,
    post_load = DemoDma::post_load,
    ber_tag = 16,
    ber_blob_until = 1
)]
pub struct DemoDma {
    /// Mode register.
    pub mode: Mode,
    /// Queue depth: source and destination must agree.
    #[vmstate(equal)]
    pub queue_size: u32,
    /// Version 1 had a 16-bit status; later versions dropped it.
    #[vmstate(version = ..=1)]
    pub legacy_status: u16,
    /// Reserved bytes kept for layout compatibility.
    pub _reserved: Unused<4>,
    /// Completion timer.
    pub timer: Timer,
    /// Descriptors in flight.
    #[vmstate(version = 2.., validate = DemoDma::check_pending)]
    pub pending: u8,
    /// The descriptors in flight (only `pending` of them are sent).
    #[vmstate(version = 2.., len = pending, max = 16)]
    pub ring: Vec<Descriptor>,
    /// Statistics, only sent while the device is on.
    #[vmstate(version = 3.., exists = DemoDma::is_on)]
    pub completed: u64,
    /// Smoothed load average (an `f64`: IEEE bits on the wire).
    #[vmstate(version = 3..)]
    pub load: f64,
    /// Host-side cache, never migrated.
    #[vmstate(skip)]
    pub cache_hits: u64,
    /// Sent only when an error is latched.
    #[vmstate(subsection, needed = DemoDma::has_error)]
    pub error: DemoError,
}

impl DemoDma {
    fn is_on(&self, _version: u32) -> bool {
        self.mode != Mode::Off
    }

    fn has_error(&self) -> bool {
        self.error.code != 0
    }

    fn check_pending(&self, _version: u32) -> Result<(), String> {
        if u32::from(self.pending) <= self.queue_size {
            Ok(())
        } else {
            Err(format!(
                "{} pending > queue size {}",
                self.pending, self.queue_size
            ))
        }
    }

    fn post_load(&mut self, version: u32) -> Result<(), String> {
        if version < 2 {
            // Version 1 had no ring: nothing was in flight.
            self.pending = 0;
            self.ring.clear();
        }
        self.cache_hits = 0;
        Ok(())
    }
}

impl Default for DemoDma {
    fn default() -> Self {
        DemoDma {
            mode: Mode::Off,
            queue_size: QUEUE_SIZE,
            legacy_status: 0,
            _reserved: Unused,
            timer: Timer::DISARMED,
            pending: 0,
            ring: Vec::new(),
            completed: 0,
            load: 0.0,
            cache_hits: 0,
            error: DemoError::default(),
        }
    }
}

/// `demo-dma/error`.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "demo-dma/error", version = 1)]
pub struct DemoError {
    /// Error code.
    pub code: u32,
    /// Faulting address.
    pub addr: Gpa,
}

/// A busy device with two descriptors in flight and an error latched.
pub fn sample() -> DemoDma {
    DemoDma {
        mode: Mode::Irq,
        pending: 2,
        ring: vec![
            Descriptor {
                addr: Gpa(0x1000),
                len: 512,
                flags: 1,
            },
            Descriptor {
                addr: Gpa(0x2000),
                len: 64,
                flags: 3,
            },
        ],
        timer: Timer(1_000_000),
        completed: 41,
        load: 0.75,
        cache_hits: 7,
        error: DemoError {
            code: 5,
            addr: Gpa(0xffff_ffff_dead_0000),
        },
        ..DemoDma::default()
    }
}
