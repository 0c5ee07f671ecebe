//! The ESP SCSI controller (hw/scsi/esp.c, esp-pci.c): `pciespscsi`, the state of
//! `am53c974` and `dc390`. Which of its fields are on the wire depends on a value
//! its parent sends first, `esp.mig_version_id`: the version of the ESP state the
//! source wrote (QEMU 7.2 writes 6, 10.0 writes 7). QEMU's tests read the
//! "effective version" `min(version, mig_version_id)`, its own version against the
//! source's; the mirror reads the fields the source wrote (`mig_version_id`
//! alone), which is what QEMU 7.2 does with 7.2's streams and 10.0 with 10.0's.
//! QEMU 10.0 reads `drq_state` whatever the source wrote, so it refuses 7.2's
//! streams; `vmstate verify` says so and `vmstate translate` carries them across
//! (docs/QEMU-RELEASES.md).

use crate::{Fifo8, PciDevice};
use vmstate_runtime::VMState;

/// Bytes of the ESP's FIFO (`ESP_FIFO_SZ`).
pub const ESP_FIFO_SZ: u32 = 16;
/// Bytes of its command FIFO (`ESP_CMDFIFO_SZ`).
pub const ESP_CMDFIFO_SZ: u32 = 32;
/// The ESP state's version QEMU 10.0 writes (7.2 writes 6).
pub const ESP_VERSION: u8 = 7;

/// `pciespscsi` (v2, loads from v1): the PCI function, its DMA engine's
/// registers and the ESP core.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, PartialEq)]
#[vmstate(
    name = "pciespscsi",
    version = 2,
    minimum_version = 1,
    pre_load = Self::fresh,
    prepare = Self::share_version
)]
pub struct PciEspScsi {
    /// The PCI function.
    pub parent_obj: PciDevice,
    /// The DMA engine's eight 32-bit registers, in the source's byte order
    /// (`VMSTATE_BUFFER_UNSAFE`).
    pub dma_regs: [u8; 32],
    /// The version of the ESP state that follows.
    #[vmstate(rename = "esp.mig_version_id", version = 2..)]
    pub mig_version_id: u8,
    /// The ESP core.
    #[vmstate(pre_load = Self::share_version)]
    pub esp: Esp,
}

/// A controller that sends the version of its ESP core before it
/// (`esp.mig_version_id`): the load hooks both controllers share.
trait EspVersion {
    /// The version and the core.
    fn version_and_core(&mut self) -> (&mut u8, &mut Esp);

    /// A version 1 stream has no `mig_version_id`: QEMU's is then a fresh
    /// device's, 0 (every field of the old layout).
    fn fresh(&mut self) -> Result<(), String> {
        *self.version_and_core().0 = 0;
        Ok(())
    }

    /// Gives the core the version its fields' tests read.
    fn share_version(&mut self) -> Result<(), String> {
        let (version, esp) = self.version_and_core();
        esp.mig_version_id = *version;
        Ok(())
    }
}

impl EspVersion for PciEspScsi {
    fn version_and_core(&mut self) -> (&mut u8, &mut Esp) {
        (&mut self.mig_version_id, &mut self.esp)
    }
}

impl Default for PciEspScsi {
    /// As QEMU 10.0 saves a fresh controller.
    fn default() -> Self {
        PciEspScsi {
            parent_obj: PciDevice::default(),
            dma_regs: [0; 32],
            mig_version_id: ESP_VERSION,
            esp: Esp::default(),
        }
    }
}

/// `sysbusespscsi` (v2, loads from v1): the ESP controller on a system bus,
/// which m68k's and SPARC's machines have (not `pc` or `q35`, whose `-dump-vmstate`
/// lists it all the same). Its core reads by the version its source wrote, as
/// [`PciEspScsi`]'s does.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, PartialEq)]
#[vmstate(
    name = "sysbusespscsi",
    version = 2,
    minimum_version = 1,
    pre_load = Self::fresh,
    prepare = Self::share_version
)]
pub struct SysBusEspScsi {
    /// The version of the ESP state that follows.
    #[vmstate(rename = "esp.mig_version_id", version = 2..)]
    pub mig_version_id: u8,
    /// The ESP core.
    #[vmstate(pre_load = Self::share_version)]
    pub esp: Esp,
}

impl EspVersion for SysBusEspScsi {
    fn version_and_core(&mut self) -> (&mut u8, &mut Esp) {
        (&mut self.mig_version_id, &mut self.esp)
    }
}

impl Default for SysBusEspScsi {
    /// As QEMU 10.0 saves a fresh controller.
    fn default() -> Self {
        SysBusEspScsi {
            mig_version_id: ESP_VERSION,
            esp: Esp::default(),
        }
    }
}

/// `esp` (v6, loads from v3): the ESP core, described as QEMU 7.2 describes it
/// (10.0: version 7, `data_in_ready` named `data_ready`, `ti_cmd` named
/// `mig_ti_cmd`), holding what either wrote.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, PartialEq)]
#[vmstate(name = "esp", version = 6, minimum_version = 3)]
#[allow(missing_docs)]
pub struct Esp {
    /// The parent's `esp.mig_version_id` (not sent here).
    #[vmstate(skip)]
    pub mig_version_id: u8,
    pub rregs: [u8; 16],
    pub wregs: [u8; 16],
    pub ti_size: i32,
    #[vmstate(exists = |s, _| s.written() < 5)]
    pub mig_ti_rptr: u32,
    #[vmstate(exists = |s, _| s.written() < 5)]
    pub mig_ti_wptr: u32,
    #[vmstate(exists = |s, _| s.written() < 5)]
    pub mig_ti_buf: [u8; 16],
    pub status: u32,
    #[vmstate(exists = |s, _| s.written() < 5)]
    pub mig_deferred_status: u32,
    #[vmstate(exists = |s, _| s.written() < 5)]
    pub mig_deferred_complete: bool,
    pub dma: u32,
    /// The command buffer's first 16 bytes.
    #[vmstate(exists = |s, _| s.written() < 5)]
    pub mig_cmdbuf: [u8; 16],
    /// Its last 16 bytes (field version 4, which the destination's own version
    /// always passes).
    #[vmstate(rename = "mig_cmdbuf", version = 4.., exists = |s, _| s.written() < 5)]
    pub mig_cmdbuf_tail: [u8; 16],
    #[vmstate(exists = |s, _| s.written() < 5)]
    pub mig_cmdlen: u32,
    pub do_cmd: u32,
    #[vmstate(exists = |s, _| s.written() < 5)]
    pub mig_dma_left: u32,
    #[vmstate(exists = |s, _| s.written() >= 5)]
    pub data_in_ready: bool,
    #[vmstate(exists = |s, _| s.written() >= 5)]
    pub cmdfifo_cdb_offset: u8,
    #[vmstate(exists = |s, _| s.written() >= 5)]
    pub fifo: Fifo8,
    #[vmstate(exists = |s, _| s.written() >= 5)]
    pub cmdfifo: Fifo8,
    /// Sent by QEMU 7.2 (versions 5 and 6), not by 10.0.
    #[vmstate(exists = |s, _| (5..=6).contains(&s.written()))]
    pub ti_cmd: u8,
    #[vmstate(exists = |s, _| s.written() >= 6)]
    pub lun: u8,
    /// The DMA request line, sent by QEMU 10.0 (version 7).
    #[vmstate(exists = |s, _| s.written() >= 7)]
    pub drq_state: bool,
    /// QEMU 7.2's pseudo-DMA callback, sent for a PDMA transfer of a system-bus
    /// ESP (never a PCI one); 10.0 has no such subsection.
    #[vmstate(subsection)]
    pub pdma: Option<EspPdma>,
}

/// `esp/pdma` (v0, QEMU 7.2): which pseudo-DMA callback a transfer resumes with.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "esp/pdma", version = 0)]
pub struct EspPdma {
    /// The callback's index.
    pub pdma_cb: u8,
}

impl Esp {
    /// The version of the ESP state its source wrote: its own, which its
    /// `esp_pre_save` gave `mig_version_id` (0 from a version 1 parent, whose
    /// stream has the oldest layout).
    fn written(&self) -> u8 {
        self.mig_version_id
    }
}

impl Default for Esp {
    fn default() -> Self {
        Esp {
            mig_version_id: ESP_VERSION,
            rregs: [0; 16],
            wregs: [0; 16],
            ti_size: 0,
            mig_ti_rptr: 0,
            mig_ti_wptr: 0,
            mig_ti_buf: [0; 16],
            status: 0,
            mig_deferred_status: 0,
            mig_deferred_complete: false,
            dma: 0,
            mig_cmdbuf: [0; 16],
            mig_cmdbuf_tail: [0; 16],
            mig_cmdlen: 0,
            do_cmd: 0,
            mig_dma_left: 0,
            data_in_ready: false,
            cmdfifo_cdb_offset: 0,
            fifo: Fifo8::with_capacity(ESP_FIFO_SZ),
            cmdfifo: Fifo8::with_capacity(ESP_CMDFIFO_SZ),
            ti_cmd: 0,
            lun: 0,
            drq_state: false,
            pdma: None,
        }
    }
}
