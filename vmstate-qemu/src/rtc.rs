//! `mc146818rtc` (hw/rtc/mc146818rtc.c): the CMOS real-time clock.

use vmstate_runtime::{Timer, Unused, VMState};

/// The RTC's state, version 3 (reads versions 1 and up).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, PartialEq)]
#[vmstate(name = "mc146818rtc", version = 3, minimum_version = 1)]
pub struct Rtc {
    /// The 128 CMOS bytes.
    #[cfg_attr(feature = "serde", serde(with = "serde_big_array::BigArray"))]
    pub cmos_data: [u8; 128],
    /// The selected CMOS index (port 0x70).
    pub cmos_index: u8,
    /// Fields of version 1 that later versions dropped.
    pub _pad0: Unused<28>,
    /// Periodic interrupt timer.
    pub periodic_timer: Timer,
    /// When the next periodic interrupt is due.
    pub next_periodic_time: i64,
    /// More dropped version-1 fields.
    pub _pad1: Unused<24>,
    /// Interrupts coalesced while the guest did not acknowledge them.
    #[vmstate(version = 2..)]
    pub irq_coalesced: u32,
    /// Periodic rate.
    #[vmstate(version = 2..)]
    pub period: u32,
    /// RTC base, in seconds.
    #[vmstate(version = 3..)]
    pub base_rtc: u64,
    /// Last update time.
    #[vmstate(version = 3..)]
    pub last_update: u64,
    /// Offset within the second.
    #[vmstate(version = 3..)]
    pub offset: i64,
    /// Update-ended timer.
    #[vmstate(version = 3..)]
    pub update_timer: Timer,
    /// Next alarm.
    #[vmstate(version = 3..)]
    pub next_alarm_time: u64,
    /// Sent only while some reinjection is pending.
    #[vmstate(subsection, needed = Rtc::reinject_needed)]
    pub reinject: RtcReinject,
}

impl Rtc {
    /// QEMU's `rtc_irq_reinject_on_ack_count_needed`.
    pub fn reinject_needed(&self) -> bool {
        self.reinject.irq_reinject_on_ack_count != 0
    }
}

impl Default for Rtc {
    fn default() -> Self {
        Rtc {
            cmos_data: [0; 128],
            cmos_index: 0,
            _pad0: Unused,
            periodic_timer: Timer::DISARMED,
            next_periodic_time: 0,
            _pad1: Unused,
            irq_coalesced: 0,
            period: 0,
            base_rtc: 0,
            last_update: 0,
            offset: 0,
            update_timer: Timer::DISARMED,
            next_alarm_time: 0,
            reinject: RtcReinject::default(),
        }
    }
}

/// `mc146818rtc/irq_reinject_on_ack_count`.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "mc146818rtc/irq_reinject_on_ack_count", version = 1)]
pub struct RtcReinject {
    /// Interrupts to reinject when the guest acknowledges.
    pub irq_reinject_on_ack_count: u16,
}
