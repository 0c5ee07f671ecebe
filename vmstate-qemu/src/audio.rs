//! Intel HD Audio: the controller function (`intel-hda`) and its codec
//! (`hda-audio`: `hda-duplex`, `hda-output`, `hda-micro`). QEMU:
//! `hw/audio/intel-hda.c`, `hw/audio/hda-codec.c`.

use crate::PciDevice;
use vmstate_runtime::{Timer, VMState};

/// Bytes of a codec stream's compatibility buffer (`HDA_BUFFER_SIZE`).
pub const HDA_BUFFER_SIZE: usize = 256;
/// Bytes of a codec stream's timer-driven buffer.
pub const HDA_STREAM_BUFFER_SIZE: usize = 8192;

/// `intel-hda` (v1): the controller.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "intel-hda", version = 1, minimum_version = 0)]
#[allow(missing_docs)]
pub struct IntelHda {
    /// The PCI function.
    pub pci: PciDevice,
    pub g_ctl: u32,
    pub wake_en: u32,
    pub state_sts: u32,
    pub int_ctl: u32,
    pub int_sts: u32,
    pub wall_clk: u32,
    pub corb_lbase: u32,
    pub corb_ubase: u32,
    pub corb_rp: u32,
    pub corb_wp: u32,
    pub corb_ctl: u32,
    pub corb_sts: u32,
    pub corb_size: u32,
    pub rirb_lbase: u32,
    pub rirb_ubase: u32,
    pub rirb_wp: u32,
    pub rirb_cnt: u32,
    pub rirb_ctl: u32,
    pub rirb_sts: u32,
    pub rirb_size: u32,
    pub dp_lbase: u32,
    pub dp_ubase: u32,
    pub icw: u32,
    pub irr: u32,
    pub ics: u32,
    /// The stream descriptors.
    pub st: [IntelHdaStream; 8],
    pub rirb_count: u32,
    pub wall_base_ns: i64,
}

/// `intel-hda-stream`: one stream descriptor.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "intel-hda-stream", version = 1, minimum_version = 0)]
#[allow(missing_docs)]
pub struct IntelHdaStream {
    pub ctl: u32,
    pub lpib: u32,
    pub cbl: u32,
    pub lvi: u32,
    pub fmt: u32,
    pub bdlp_lbase: u32,
    pub bdlp_ubase: u32,
}

/// `hda-audio` (v2): the codec.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "hda-audio", version = 2, minimum_version = 0)]
pub struct HdaAudio {
    /// The codec's streams.
    pub st: [HdaAudioStream; 4],
    /// Which streams run (the version 1 layout, kept for older QEMUs).
    pub running_compat: [bool; 16],
    /// Which streams run, input and output apart.
    #[vmstate(version = 2..)]
    pub running_real: [bool; 32],
}

/// `hda-audio-stream`: one codec stream.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, PartialEq)]
#[vmstate(name = "hda-audio-stream", version = 1, minimum_version = 0)]
#[allow(missing_docs)]
pub struct HdaAudioStream {
    pub stream: u32,
    pub channel: u32,
    pub format: u32,
    pub gain_left: u32,
    pub gain_right: u32,
    pub mute_left: bool,
    pub mute_right: bool,
    pub compat_bpos: u32,
    #[cfg_attr(feature = "serde", serde(with = "serde_big_array::BigArray"))]
    pub compat_buf: [u8; HDA_BUFFER_SIZE],
    /// The timer-driven buffer, sent for the streams of a codec that uses it.
    #[vmstate(subsection)]
    pub buffer: Option<Box<HdaAudioStreamBuffer>>,
}

impl Default for HdaAudioStream {
    fn default() -> Self {
        HdaAudioStream {
            stream: 0,
            channel: 0,
            format: 0,
            gain_left: 0,
            gain_right: 0,
            mute_left: false,
            mute_right: false,
            compat_bpos: 0,
            compat_buf: [0; HDA_BUFFER_SIZE],
            buffer: None,
        }
    }
}

/// `hda-audio-stream/buffer`.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, PartialEq)]
#[vmstate(name = "hda-audio-stream/buffer", version = 1, minimum_version = 0)]
#[allow(missing_docs)]
pub struct HdaAudioStreamBuffer {
    #[cfg_attr(feature = "serde", serde(with = "serde_big_array::BigArray"))]
    pub buf: [u8; HDA_STREAM_BUFFER_SIZE],
    pub rpos: i64,
    pub wpos: i64,
    pub buft: Timer,
    pub buft_start: i64,
}

impl Default for HdaAudioStreamBuffer {
    fn default() -> Self {
        HdaAudioStreamBuffer {
            buf: [0; HDA_STREAM_BUFFER_SIZE],
            rpos: 0,
            wpos: 0,
            buft: Timer::default(),
            buft_start: 0,
        }
    }
}
