//! Small sections: `timer`, `port92`, `pcspk`, `kvmclock`, `globalstate`.

use vmstate_runtime::{Timer, Unused, VMState};

/// `timer` (softmmu/cpu-timers.c): the virtual clock offsets.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "timer", version = 2, minimum_version = 1)]
pub struct Timers {
    /// Offset of the guest TSC.
    pub cpu_ticks_offset: i64,
    /// Formerly `dummy`.
    pub _pad: Unused<8>,
    /// Offset of the virtual clock.
    #[vmstate(version = 2..)]
    pub cpu_clock_offset: i64,
    /// Sent with `-icount`.
    #[vmstate(subsection)]
    pub icount: Option<IcountTimers>,
}

/// `timer/icount`.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "timer/icount", version = 1)]
pub struct IcountTimers {
    /// Instruction counter bias.
    pub qemu_icount_bias: i64,
    /// Instruction counter.
    pub qemu_icount: i64,
    /// Sent when the warp timer exists.
    #[vmstate(subsection)]
    pub warp_timer: Option<IcountWarpTimer>,
    /// Sent when the icount timers exist.
    #[vmstate(subsection)]
    pub timers: Option<IcountAdjustTimers>,
}

/// `timer/icount/warp_timer`.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "timer/icount/warp_timer", version = 1)]
pub struct IcountWarpTimer {
    /// Warp start.
    pub vm_clock_warp_start: i64,
    /// Warp timer.
    pub icount_warp_timer: Timer,
}

/// `timer/icount/timers`.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "timer/icount/timers", version = 1)]
pub struct IcountAdjustTimers {
    /// Real-time adjust timer.
    pub icount_rt_timer: Timer,
    /// Virtual-time adjust timer.
    pub icount_vm_timer: Timer,
}

/// `port92` (hw/i386/pc.c): the A20 gate port.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "port92", version = 1)]
pub struct Port92 {
    /// Port value.
    pub outport: u8,
}

/// `pcspk` (hw/audio/pcspk.c): the PC speaker.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "pcspk", version = 1)]
pub struct PcSpk {
    /// Speaker data.
    pub data_on: u8,
    /// Refresh clock toggle.
    pub dummy_refresh_clock: u8,
}

/// `kvmclock` (hw/i386/kvm/clock.c).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "kvmclock", version = 1)]
pub struct KvmClock {
    /// Clock value in ns.
    pub clock: u64,
    /// Sent when the host clock is stable.
    #[vmstate(subsection)]
    pub clock_is_reliable: Option<KvmClockReliable>,
}

/// `kvmclock/clock_is_reliable`.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "kvmclock/clock_is_reliable", version = 1)]
pub struct KvmClockReliable {
    /// Whether the clock is reliable.
    pub clock_is_reliable: bool,
}

/// `globalstate` (migration/global_state.c): the run state to resume in.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, PartialEq)]
#[vmstate(
    name = "globalstate",
    version = 1,
    pre_save = GlobalState::check_runstate,
    post_load = GlobalState::check_loaded
)]
pub struct GlobalState {
    /// Length of the run state name.
    pub size: u32,
    /// The run state name (`running`, `paused`...), NUL padded.
    #[cfg_attr(feature = "serde", serde(with = "serde_big_array::BigArray"))]
    pub runstate: [u8; 100],
}

impl GlobalState {
    /// A global state naming `runstate`.
    pub fn new(runstate: &str) -> Self {
        let mut g = GlobalState {
            size: 0,
            runstate: [0; 100],
        };
        let n = runstate.len().min(99);
        g.runstate[..n].copy_from_slice(&runstate.as_bytes()[..n]);
        g.size = n as u32 + 1;
        g
    }

    /// The run state name.
    pub fn runstate(&self) -> &str {
        let end = self.runstate.iter().position(|&b| b == 0).unwrap_or(100);
        std::str::from_utf8(&self.runstate[..end]).unwrap_or("")
    }

    /// A stream's run state must end within its buffer, as QEMU requires of one it
    /// loads (`global_state_post_load`, against a stream that would overflow its
    /// parse): what loads then saves.
    fn check_loaded(&mut self, _version: u32) -> Result<(), String> {
        self.check_runstate()
    }

    /// QEMU refuses to save a run state that is not NUL terminated.
    fn check_runstate(&self) -> Result<(), String> {
        if self.runstate.contains(&0) {
            Ok(())
        } else {
            Err("runstate is not NUL terminated".into())
        }
    }
}

impl Default for GlobalState {
    fn default() -> Self {
        GlobalState::new("")
    }
}
