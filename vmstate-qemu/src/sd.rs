//! `sd-card`: an SD (or SPI, or eMMC) card on an SD host controller's bus.
//! QEMU: `hw/sd/sd.c`. The card's write-protect bitmap has a bit per 2 MiB
//! group of the card's size plus one, which the destination computes from its
//! own drive and never reads from the stream.

use vmstate_runtime::{Timer, Unused, VMState};

/// `sd-card` (v2), described as QEMU 7.2 describes it (10.0 names the last byte,
/// 7.2's `enable`, `unused`; the same byte).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, PartialEq)]
#[vmstate(name = "sd-card", version = 2, minimum_version = 2)]
#[allow(missing_docs)]
pub struct SdCard {
    pub mode: u32,
    pub state: i32,
    #[vmstate(as_array)]
    pub cid: [u8; 16],
    #[vmstate(as_array)]
    pub csd: [u8; 16],
    pub rca: u16,
    pub card_status: u32,
    /// The first byte of the SD status (`VMSTATE_PARTIAL_BUFFER(sd_status, 1)`).
    pub sd_status: [u8; 1],
    pub vhs: u32,
    /// Write-protect groups of the card (QEMU's `wp_group_bits`: the card's
    /// size over 2 MiB, plus one; not sent).
    #[vmstate(skip)]
    pub wp_group_bits: u32,
    /// A bit per write-protect group (at most a 2 TiB card's, in whole words).
    #[vmstate(len = wp_group_bits, bitmap, max = 1048640)]
    pub wp_group_bmap: Vec<u64>,
    pub blk_len: u32,
    pub multi_blk_cnt: u32,
    pub erase_start: u32,
    pub erase_end: u32,
    #[vmstate(as_array)]
    pub pwd: [u8; 16],
    pub pwd_len: u32,
    #[vmstate(as_array)]
    pub function_group: [u8; 6],
    pub current_cmd: u8,
    pub expecting_acmd: bool,
    pub blk_written: u32,
    pub data_start: u64,
    pub data_offset: u32,
    #[vmstate(as_array)]
    #[cfg_attr(feature = "serde", serde(with = "serde_big_array::BigArray"))]
    pub data: [u8; 512],
    #[vmstate(version = 1..)]
    pub unused: Unused<512>,
    /// 7.2's `enable`; padding in 10.0, which writes 0.
    pub enable: bool,
    /// The operating conditions register and its power-up timer, while the
    /// card powers up.
    #[vmstate(subsection)]
    pub ocr_state: Option<SdCardOcrState>,
    /// An eMMC's modes (10.0).
    #[vmstate(subsection)]
    pub ext_csd_modes_state: Option<SdCardExtCsdModesState>,
}

impl SdCard {
    /// The card of a destination whose drive has `size` bytes (`0`: none).
    pub fn with_size(size: u64) -> Self {
        let groups = u32::try_from((size >> 21) + 1).unwrap_or(u32::MAX);
        SdCard {
            wp_group_bits: groups,
            wp_group_bmap: vec![0; groups.div_ceil(64) as usize],
            ..SdCard::default()
        }
    }
}

impl Default for SdCard {
    /// A card without a drive: one write-protect group.
    fn default() -> Self {
        SdCard {
            mode: 0,
            state: 0,
            cid: [0; 16],
            csd: [0; 16],
            rca: 0,
            card_status: 0,
            sd_status: [0],
            vhs: 0,
            wp_group_bits: 1,
            wp_group_bmap: vec![0],
            blk_len: 0,
            multi_blk_cnt: 0,
            erase_start: 0,
            erase_end: 0,
            pwd: [0; 16],
            pwd_len: 0,
            function_group: [0; 6],
            current_cmd: 0,
            expecting_acmd: false,
            blk_written: 0,
            data_start: 0,
            data_offset: 0,
            data: [0; 512],
            unused: Unused,
            enable: false,
            ocr_state: None,
            ext_csd_modes_state: None,
        }
    }
}

/// `sd-card/ocr-state`.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "sd-card/ocr-state", version = 1)]
#[allow(missing_docs)]
pub struct SdCardOcrState {
    pub ocr: u32,
    pub ocr_power_timer: Timer,
}

/// `sd-card/ext_csd_modes-state`: the writable part of an eMMC's EXT_CSD.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, PartialEq)]
#[vmstate(name = "sd-card/ext_csd_modes-state", version = 1)]
#[allow(missing_docs)]
pub struct SdCardExtCsdModesState {
    #[vmstate(as_array)]
    #[cfg_attr(feature = "serde", serde(with = "serde_big_array::BigArray"))]
    pub ext_csd_rw: [u8; 192],
}

impl Default for SdCardExtCsdModesState {
    fn default() -> Self {
        SdCardExtCsdModesState {
            ext_csd_rw: [0; 192],
        }
    }
}
