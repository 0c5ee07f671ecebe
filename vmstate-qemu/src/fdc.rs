//! `fdc` (hw/block/fdc.c and fdc-isa.c): the floppy controller, with subsections in
//! a nested struct array (its drives).

use vmstate_runtime::{Timer, VMState};

/// Drives per controller.
pub const MAX_FD: usize = 2;

/// The ISA floppy controller section.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "fdc", version = 2, minimum_version = 2)]
pub struct IsaFdc {
    /// The controller.
    pub state: Fdc,
}

/// The controller.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, PartialEq)]
#[vmstate(name = "fdc", version = 2, minimum_version = 2)]
pub struct Fdc {
    /// Status register A.
    pub sra: u8,
    /// Status register B.
    pub srb: u8,
    /// Digital output register.
    pub dor_vmstate: u8,
    /// Tape drive register.
    pub tdr: u8,
    /// Data rate select.
    pub dsr: u8,
    /// Main status register.
    pub msr: u8,
    /// Status register 0.
    pub status0: u8,
    /// Status register 1.
    pub status1: u8,
    /// Status register 2.
    pub status2: u8,
    /// Command/data FIFO (QEMU's VMSTATE_UINT8_ARRAY).
    #[vmstate(as_array)]
    #[cfg_attr(feature = "serde", serde(with = "serde_big_array::BigArray"))]
    pub fifo: [u8; 512],
    /// FIFO position.
    pub data_pos: u32,
    /// FIFO length.
    pub data_len: u32,
    /// Transfer state.
    pub data_state: u8,
    /// Transfer direction.
    pub data_dir: u8,
    /// End of track.
    pub eot: u8,
    /// Timer 0.
    pub timer0: u8,
    /// Timer 1.
    pub timer1: u8,
    /// Precompensation track.
    pub precomp_trk: u8,
    /// Configuration.
    pub config: u8,
    /// Lock.
    pub lock: u8,
    /// Power down.
    pub pwrd: u8,
    /// Must match the destination's drive count.
    #[vmstate(equal)]
    pub num_floppies: u8,
    /// The drives.
    #[vmstate(version = 1..)]
    pub drives: [Fdrive; MAX_FD],
    /// Sent when a reset sense is pending.
    #[vmstate(subsection)]
    pub reset_sensei: Option<FdcResetSensei>,
    /// Sent when the result timer is pending.
    #[vmstate(subsection)]
    pub result_timer: Option<FdcResultTimer>,
    /// Sent when the phase cannot be reconstructed.
    #[vmstate(subsection)]
    pub phase: Option<FdcPhase>,
}

impl Default for Fdc {
    fn default() -> Self {
        Fdc {
            sra: 0,
            srb: 0,
            dor_vmstate: 0,
            tdr: 0,
            dsr: 0,
            msr: 0,
            status0: 0,
            status1: 0,
            status2: 0,
            fifo: [0; 512],
            data_pos: 0,
            data_len: 0,
            data_state: 0,
            data_dir: 0,
            eot: 0,
            timer0: 0,
            timer1: 0,
            precomp_trk: 0,
            config: 0,
            lock: 0,
            pwrd: 0,
            num_floppies: MAX_FD as u8,
            drives: Default::default(),
            reset_sensei: None,
            result_timer: None,
            phase: None,
        }
    }
}

/// One drive.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "fdrive", version = 1)]
pub struct Fdrive {
    /// Head.
    pub head: u8,
    /// Track.
    pub track: u8,
    /// Sector.
    pub sect: u8,
    /// Media changed line.
    #[vmstate(subsection)]
    pub media_changed: Option<FdriveMediaChanged>,
    /// Media data rate.
    #[vmstate(subsection)]
    pub media_rate: Option<FdriveMediaRate>,
    /// Perpendicular mode.
    #[vmstate(subsection)]
    pub perpendicular: Option<FdrivePerpendicular>,
}

/// `fdrive/media_changed`.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "fdrive/media_changed", version = 1)]
pub struct FdriveMediaChanged {
    /// Media changed.
    pub media_changed: u8,
}

/// `fdrive/media_rate`.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "fdrive/media_rate", version = 1)]
pub struct FdriveMediaRate {
    /// Data rate.
    pub media_rate: u8,
}

/// `fdrive/perpendicular`.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "fdrive/perpendicular", version = 1)]
pub struct FdrivePerpendicular {
    /// Perpendicular mode.
    pub perpendicular: u8,
}

/// `fdc/reset_sensei`.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "fdc/reset_sensei", version = 1)]
pub struct FdcResetSensei {
    /// Pending sense interrupts after reset.
    pub reset_sensei: i32,
}

/// `fdc/result_timer`.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "fdc/result_timer", version = 1)]
pub struct FdcResultTimer {
    /// Result phase timer.
    pub result_timer: Timer,
}

/// `fdc/phase`.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "fdc/phase", version = 1)]
pub struct FdcPhase {
    /// Command phase.
    pub phase: u8,
}
