//! `i8254` (hw/timer/i8254_common.c): the programmable interval timer.

use vmstate_runtime::VMState;

/// The PIT, version 3 (reads version 2).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "i8254", version = 3, minimum_version = 2)]
pub struct Pit {
    /// Channel 0's interrupt is disabled (HPET legacy replacement).
    #[vmstate(version = 3.., rename = "channels[0].irq_disabled")]
    pub irq_disabled: u32,
    /// The three channels.
    #[vmstate(version = 2..)]
    pub channels: [PitChannel; 3],
    /// Channel 0's next transition (formerly the IRQ timer).
    #[vmstate(rename = "channels[0].next_transition_time")]
    pub next_transition_time: i64,
}

/// One PIT channel.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "pit channel", version = 2, minimum_version = 2)]
pub struct PitChannel {
    /// Reload value.
    pub count: i32,
    /// Latched count.
    pub latched_count: u16,
    /// Whether the count is latched.
    pub count_latched: u8,
    /// Whether the status is latched.
    pub status_latched: u8,
    /// Status byte.
    pub status: u8,
    /// Read state machine.
    pub read_state: u8,
    /// Write state machine.
    pub write_state: u8,
    /// Write latch.
    pub write_latch: u8,
    /// Read/write mode.
    pub rw_mode: u8,
    /// Counter mode.
    pub mode: u8,
    /// BCD counting.
    pub bcd: u8,
    /// Gate input.
    pub gate: u8,
    /// When the count was loaded.
    pub count_load_time: i64,
    /// Next output transition.
    pub next_transition_time: i64,
}
