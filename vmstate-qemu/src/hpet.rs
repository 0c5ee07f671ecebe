//! `hpet` (hw/timer/hpet.c): the high-precision event timer, with its variable
//! number of comparators (QEMU's VMSTATE_STRUCT_VARRAY_UINT8).

use vmstate_runtime::{Timer, VMState};

/// Fewest comparators an HPET has.
pub const HPET_MIN_TIMERS: u8 = 3;
/// Most comparators an HPET has.
pub const HPET_MAX_TIMERS: usize = 32;

/// The HPET block, version 2 (reads version 1, which had no `num_timers`).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, PartialEq)]
#[vmstate(name = "hpet", version = 2, minimum_version = 1, pre_load = Hpet::pre_load)]
pub struct Hpet {
    /// General configuration register.
    pub config: u64,
    /// Interrupt status register.
    pub isr: u64,
    /// Main counter.
    pub hpet_counter: u64,
    /// Number of comparators on the wire.
    #[vmstate(version = 2.., validate = Hpet::validate_num_timers)]
    pub num_timers: u8,
    /// The comparators (QEMU's field is `timer`).
    #[vmstate(rename = "timer", len = num_timers, max = 32)]
    pub timers: Vec<HpetTimer>,
    /// Sent when the RTC interrupt line is high.
    #[vmstate(subsection)]
    pub rtc_irq_level: Option<HpetRtcIrqLevel>,
    /// Sent when the counter offset was saved.
    #[vmstate(subsection)]
    pub offset: Option<HpetOffset>,
}

impl Hpet {
    /// Version 1 streams had three comparators (QEMU's `hpet_pre_load`).
    fn pre_load(&mut self) -> Result<(), String> {
        self.num_timers = HPET_MIN_TIMERS;
        Ok(())
    }

    /// QEMU's `hpet_validate_num_timers`.
    fn validate_num_timers(&self, _version: u32) -> Result<(), String> {
        if (HPET_MIN_TIMERS..=HPET_MAX_TIMERS as u8).contains(&self.num_timers) {
            Ok(())
        } else {
            Err(format!(
                "num_timers {} outside {HPET_MIN_TIMERS}..={HPET_MAX_TIMERS}",
                self.num_timers
            ))
        }
    }
}

impl Default for Hpet {
    fn default() -> Self {
        Hpet {
            config: 0,
            isr: 0,
            hpet_counter: 0,
            num_timers: HPET_MIN_TIMERS,
            timers: vec![HpetTimer::default(); usize::from(HPET_MIN_TIMERS)],
            rtc_irq_level: None,
            offset: None,
        }
    }
}

/// One comparator.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "hpet_timer", version = 1)]
pub struct HpetTimer {
    /// Comparator number.
    pub tn: u8,
    /// Configuration and capabilities.
    pub config: u64,
    /// Comparator value.
    pub cmp: u64,
    /// FSB interrupt route.
    pub fsb: u64,
    /// Period for periodic mode.
    pub period: u64,
    /// Whether the 32-bit counter wrapped.
    pub wrap_flag: u8,
    /// The comparator's timer.
    pub qemu_timer: Timer,
}

/// `hpet/rtc_irq_level`.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "hpet/rtc_irq_level", version = 1)]
pub struct HpetRtcIrqLevel {
    /// RTC interrupt line level.
    pub rtc_irq_level: u8,
}

/// `hpet/offset`.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "hpet/offset", version = 1)]
pub struct HpetOffset {
    /// Counter offset against the virtual clock.
    pub hpet_offset: u64,
}
