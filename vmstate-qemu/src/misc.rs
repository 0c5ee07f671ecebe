//! Small sections: `timer`, `port92`, `pcspk`, `kvmclock`, `globalstate`, `cpu_common`,
//! `kvm-tpr-opt`, `i2c_bus`, `ipmi-bmc-sim`.

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

/// `cpu_common` (cpu.c): what every CPU migrates besides its architecture's state.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "cpu_common", version = 1)]
pub struct CpuCommon {
    /// Whether the CPU is halted.
    pub halted: u32,
    /// Pending interrupt requests (`CPU_INTERRUPT_*`).
    pub interrupt_request: u32,
    /// Sent when an exception is pending.
    #[vmstate(subsection)]
    pub exception_index: Option<CpuCommonExceptionIndex>,
    /// Sent after a guest crash.
    #[vmstate(subsection)]
    pub crash_occurred: Option<CpuCommonCrashOccurred>,
}

/// `cpu_common/exception_index`.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "cpu_common/exception_index", version = 1)]
pub struct CpuCommonExceptionIndex {
    /// The pending exception.
    pub exception_index: i32,
}

/// `cpu_common/crash_occurred`.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "cpu_common/crash_occurred", version = 1)]
pub struct CpuCommonCrashOccurred {
    /// The guest crashed.
    pub crash_occurred: bool,
}

/// `kvm-tpr-opt` (hw/i386/kvmvapic.c): the TPR access optimization for Windows
/// guests (the VAPIC option ROM's state).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "kvm-tpr-opt", version = 1)]
#[allow(missing_docs)]
pub struct KvmTprOpt {
    /// The option ROM's state block, as the guest sees it.
    pub rom_state: VapicGuestRom,
    pub state: u32,
    pub real_tpr_addr: u32,
    pub rom_state_vaddr: u32,
    pub vapic_paddr: u32,
    pub rom_state_paddr: u32,
}

/// `kvmvapic-guest-rom`.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "kvmvapic-guest-rom", version = 1)]
#[allow(missing_docs)]
pub struct VapicGuestRom {
    /// Formerly the ROM's signature.
    pub _signature: Unused<8>,
    pub vaddr: u32,
    pub fixup_start: u32,
    pub fixup_end: u32,
    pub vapic_vaddr: u32,
    pub vapic_size: u32,
    pub vcpu_shift: u32,
    pub real_tpr_addr: u32,
    /// Handlers for a uniprocessor guest.
    pub up: VapicHandlers,
    /// Handlers for a multiprocessor guest.
    pub mp: VapicHandlers,
}

/// `kvmvapic-handlers`.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "kvmvapic-handlers", version = 1)]
#[allow(missing_docs)]
pub struct VapicHandlers {
    pub set_tpr: u32,
    pub set_tpr_eax: u32,
    pub get_tpr: [u32; 8],
    pub get_tpr_stack: u32,
}

/// `i2c_bus` (hw/i2c/core.c): the address of the device the bus last talked to.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "i2c_bus", version = 1)]
pub struct I2cBus {
    /// QEMU computes it before saving (0xff: none).
    pub saved_address: u8,
}

/// `ipmi-bmc-sim` (v1; `hw/ipmi/ipmi_bmc_sim.c`, registered with
/// `vmstate_register`, so not in `-dump-vmstate`): the simulated BMC's global
/// enables, message flags, watchdog and its sensor. Its SDR, SEL and FRU are
/// not migrated (rebuilt from the command line).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "ipmi-bmc-sim", version = 1, minimum_version = 1)]
#[allow(missing_docs)]
pub struct IpmiBmcSim {
    pub bmc_global_enables: u8,
    pub msg_flags: u8,
    pub watchdog_initialized: bool,
    pub watchdog_use: u8,
    pub watchdog_action: u8,
    pub watchdog_pretimeout: u8,
    pub watchdog_expired: u8,
    pub watchdog_timeout: u16,
    pub watchdog_running: bool,
    pub watchdog_preaction_ran: bool,
    /// When the watchdog expires (virtual clock, ns).
    pub watchdog_expiry: i64,
    /// The event message buffer (`VMSTATE_UINT8_ARRAY`). The sensor fields that
    /// follow are named as the preprocessor expands them
    /// (`sensors[IPMI_WATCHDOG_SENSOR]`).
    #[vmstate(as_array)]
    pub evtbuf: [u8; 16],
    #[vmstate(rename = "sensors[0].status")]
    pub watchdog_sensor_status: u8,
    #[vmstate(rename = "sensors[0].reading")]
    pub watchdog_sensor_reading: u8,
    #[vmstate(rename = "sensors[0].states")]
    pub watchdog_sensor_states: u16,
    #[vmstate(rename = "sensors[0].assert_states")]
    pub watchdog_sensor_assert_states: u16,
    #[vmstate(rename = "sensors[0].deassert_states")]
    pub watchdog_sensor_deassert_states: u16,
    #[vmstate(rename = "sensors[0].assert_enable")]
    pub watchdog_sensor_assert_enable: u16,
}
