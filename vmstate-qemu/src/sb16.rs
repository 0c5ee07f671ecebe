//! `sb16` (hw/audio/sb16.c): the ISA Sound Blaster 16.

use vmstate_runtime::VMState;

/// `sb16` (v1): the Sound Blaster 16. Written from the generator's output by hand
/// for one change: QEMU 7.2 sends the card's resources (irq, dma, hdma, port,
/// version) where 10.0 sends 20 bytes of padding. The mirror keeps them, so a 7.2
/// stream saves back as it came and a 7.2 destination gets the values it loads;
/// 10.0 ignores them.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, PartialEq)]
#[vmstate(name = "sb16", version = 1)]
pub struct Sb16 {
    /// ISA interrupt (QEMU 7.2's `irq`; 10.0's padding).
    pub irq: u32,
    /// 8-bit DMA channel.
    pub dma: u32,
    /// 16-bit DMA channel.
    pub hdma: u32,
    /// I/O base.
    pub port: u32,
    /// DSP version.
    pub ver: u32,
    /// QEMU's `in_index` (`VMSTATE_INT32`).
    pub in_index: i32,
    /// QEMU's `out_data_len` (`VMSTATE_INT32`).
    pub out_data_len: i32,
    /// QEMU's `fmt_stereo` (`VMSTATE_INT32`).
    pub fmt_stereo: i32,
    /// QEMU's `fmt_signed` (`VMSTATE_INT32`).
    pub fmt_signed: i32,
    /// QEMU's `fmt_bits` (`VMSTATE_INT32`).
    pub fmt_bits: i32,
    /// QEMU's `fmt` (`VMSTATE_UINT32`).
    pub fmt: u32,
    /// QEMU's `dma_auto` (`VMSTATE_INT32`).
    pub dma_auto: i32,
    /// QEMU's `block_size` (`VMSTATE_INT32`).
    pub block_size: i32,
    /// QEMU's `fifo` (`VMSTATE_INT32`).
    pub fifo: i32,
    /// QEMU's `freq` (`VMSTATE_INT32`).
    pub freq: i32,
    /// QEMU's `time_const` (`VMSTATE_INT32`).
    pub time_const: i32,
    /// QEMU's `speaker` (`VMSTATE_INT32`).
    pub speaker: i32,
    /// QEMU's `needed_bytes` (`VMSTATE_INT32`).
    pub needed_bytes: i32,
    /// QEMU's `cmd` (`VMSTATE_INT32`).
    pub cmd: i32,
    /// QEMU's `use_hdma` (`VMSTATE_INT32`).
    pub use_hdma: i32,
    /// QEMU's `highspeed` (`VMSTATE_INT32`).
    pub highspeed: i32,
    /// QEMU's `can_write` (`VMSTATE_INT32`).
    pub can_write: i32,
    /// QEMU's `v2x6` (`VMSTATE_INT32`).
    pub v2x6: i32,
    /// QEMU's `csp_param` (`VMSTATE_UINT8`).
    pub csp_param: u8,
    /// QEMU's `csp_value` (`VMSTATE_UINT8`).
    pub csp_value: u8,
    /// QEMU's `csp_mode` (`VMSTATE_UINT8`).
    pub csp_mode: u8,
    /// QEMU's `csp_param` (`VMSTATE_UINT8`).
    #[vmstate(rename = "csp_param")]
    pub csp_param_2: u8,
    /// QEMU's `csp_regs` (`VMSTATE_BUFFER`).
    #[cfg_attr(feature = "serde", serde(with = "serde_big_array::BigArray"))]
    pub csp_regs: [u8; 256],
    /// QEMU's `csp_index` (`VMSTATE_UINT8`).
    pub csp_index: u8,
    /// QEMU's `csp_reg83` (`VMSTATE_BUFFER`).
    pub csp_reg83: [u8; 4],
    /// QEMU's `csp_reg83r` (`VMSTATE_INT32`).
    pub csp_reg83r: i32,
    /// QEMU's `csp_reg83w` (`VMSTATE_INT32`).
    pub csp_reg83w: i32,
    /// QEMU's `in2_data` (`VMSTATE_BUFFER`).
    pub in2_data: [u8; 10],
    /// QEMU's `out_data` (`VMSTATE_BUFFER`).
    #[cfg_attr(feature = "serde", serde(with = "serde_big_array::BigArray"))]
    pub out_data: [u8; 50],
    /// QEMU's `test_reg` (`VMSTATE_UINT8`).
    pub test_reg: u8,
    /// QEMU's `last_read_byte` (`VMSTATE_UINT8`).
    pub last_read_byte: u8,
    /// QEMU's `nzero` (`VMSTATE_INT32`).
    pub nzero: i32,
    /// QEMU's `left_till_irq` (`VMSTATE_INT32`).
    pub left_till_irq: i32,
    /// QEMU's `dma_running` (`VMSTATE_INT32`).
    pub dma_running: i32,
    /// QEMU's `bytes_per_second` (`VMSTATE_INT32`).
    pub bytes_per_second: i32,
    /// QEMU's `align` (`VMSTATE_INT32`).
    pub align: i32,
    /// QEMU's `mixer_nreg` (`VMSTATE_INT32`).
    pub mixer_nreg: i32,
    /// QEMU's `mixer_regs` (`VMSTATE_BUFFER`).
    #[cfg_attr(feature = "serde", serde(with = "serde_big_array::BigArray"))]
    pub mixer_regs: [u8; 256],
}

impl Default for Sb16 {
    fn default() -> Self {
        Sb16 {
            irq: 5,
            dma: 1,
            hdma: 5,
            port: 0x220,
            ver: 0x405,
            in_index: 0,
            out_data_len: 0,
            fmt_stereo: 0,
            fmt_signed: 0,
            fmt_bits: 0,
            fmt: 0,
            dma_auto: 0,
            block_size: 0,
            fifo: 0,
            freq: 0,
            time_const: 0,
            speaker: 0,
            needed_bytes: 0,
            cmd: 0,
            use_hdma: 0,
            highspeed: 0,
            can_write: 0,
            v2x6: 0,
            csp_param: 0,
            csp_value: 0,
            csp_mode: 0,
            csp_param_2: 0,
            csp_regs: [0; 256],
            csp_index: 0,
            csp_reg83: [0; 4],
            csp_reg83r: 0,
            csp_reg83w: 0,
            in2_data: [0; 10],
            out_data: [0; 50],
            test_reg: 0,
            last_read_byte: 0,
            nzero: 0,
            left_till_irq: 0,
            dma_running: 0,
            bytes_per_second: 0,
            align: 0,
            mixer_nreg: 0,
            mixer_regs: [0; 256],
        }
    }
}
