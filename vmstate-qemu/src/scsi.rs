//! SCSI: the state every SCSI device migrates (`SCSIDevice`), the disk's
//! (`scsi-disk`, of `scsi-hd` and `scsi-cd`) and the virtio-scsi controller's,
//! the usual disks of a libvirt VM. QEMU: `hw/scsi/scsi-bus.c`,
//! `hw/scsi/scsi-disk.c`, `hw/scsi/virtio-scsi.c`.

use crate::virtio::{virtio_section, VirtioStatelessSave};
use vmstate_runtime::VMState;

/// Sense bytes QEMU sends in the device's fields (`SCSI_SENSE_BUF_SIZE_OLD`); the
/// rest of its 252 in a subsection.
pub const SCSI_SENSE_BUF_SIZE_OLD: usize = 96;
/// The sense buffer (`SCSI_SENSE_BUF_SIZE`).
pub const SCSI_SENSE_BUF_SIZE: usize = 252;

/// The requests in flight: QEMU's `scsi-requests` VMStateInfo, each request then a
/// 0 byte. QEMU drains requests when it stops a guest, so a stream holds none but
/// those a `werror=stop`/`rerror=stop` disk queued for retry, whose bytes depend on
/// the controller and the command; the mirror takes the end byte alone, and a
/// stream with a request in flight is refused by name (the generic path carries it).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq, Eq)]
#[vmstate(transparent, info = "scsi-requests")]
pub struct ScsiRequests(pub u8);

/// `SCSIDevice` (v1): unit attention and sense of a SCSI device.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, PartialEq)]
#[vmstate(name = "SCSIDevice", version = 1)]
pub struct ScsiDevice {
    /// Unit attention sense key.
    #[vmstate(rename = "unit_attention.key")]
    pub unit_attention_key: u8,
    /// Its additional sense code.
    #[vmstate(rename = "unit_attention.asc")]
    pub unit_attention_asc: u8,
    /// Its qualifier.
    #[vmstate(rename = "unit_attention.ascq")]
    pub unit_attention_ascq: u8,
    /// Whether the sense is the unit attention's.
    pub sense_is_ua: bool,
    /// The first 96 sense bytes.
    #[vmstate(as_array)]
    #[cfg_attr(feature = "serde", serde(with = "serde_big_array::BigArray"))]
    pub sense: [u8; SCSI_SENSE_BUF_SIZE_OLD],
    /// Sense bytes held.
    pub sense_len: u32,
    /// Requests in flight (none: see [`ScsiRequests`]).
    #[vmstate(validate = ScsiDevice::check_no_requests)]
    pub requests: ScsiRequests,
    /// The rest of the sense buffer, sent when it holds more than 96 bytes.
    #[vmstate(subsection)]
    pub sense_state: Option<ScsiSenseState>,
}

impl ScsiDevice {
    fn check_no_requests(&self, _version: u32) -> Result<(), String> {
        match self.requests.0 {
            0 => Ok(()),
            b => Err(format!(
                "a SCSI request in flight (marker {b}): its bytes depend on the controller and the command, which the typed mirror does not read; vmstate dump and convert carry it"
            )),
        }
    }
}

impl Default for ScsiDevice {
    fn default() -> Self {
        ScsiDevice {
            unit_attention_key: 0,
            unit_attention_asc: 0,
            unit_attention_ascq: 0,
            sense_is_ua: false,
            sense: [0; SCSI_SENSE_BUF_SIZE_OLD],
            sense_len: 0,
            requests: ScsiRequests(0),
            sense_state: None,
        }
    }
}

/// `SCSIDevice/sense` (v1): sense bytes 96 to 251.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, PartialEq)]
#[vmstate(name = "SCSIDevice/sense", version = 1)]
pub struct ScsiSenseState {
    /// The sense bytes past the first 96.
    #[vmstate(as_array)]
    #[cfg_attr(feature = "serde", serde(with = "serde_big_array::BigArray"))]
    pub sense: [u8; SCSI_SENSE_BUF_SIZE - SCSI_SENSE_BUF_SIZE_OLD],
}

impl Default for ScsiSenseState {
    fn default() -> Self {
        ScsiSenseState {
            sense: [0; SCSI_SENSE_BUF_SIZE - SCSI_SENSE_BUF_SIZE_OLD],
        }
    }
}

/// `scsi-disk` (v1): a SCSI disk or CD-ROM (`scsi-hd`, `scsi-cd`).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "scsi-disk", version = 1)]
pub struct ScsiDisk {
    /// The SCSI device.
    pub qdev: ScsiDevice,
    /// A medium change not reported yet.
    pub media_changed: bool,
    /// A media event pending.
    pub media_event: bool,
    /// An eject requested.
    pub eject_request: bool,
    /// Tray open (CD-ROM).
    pub tray_open: bool,
    /// Tray locked by the guest.
    pub tray_locked: bool,
}

virtio_section!(
    /// `virtio-scsi` (v1): the virtio SCSI controller. Its disks are sections of
    /// their own (`scsi-disk`).
    VirtioScsi, "virtio-scsi", 1, VirtioScsiState, VirtioStatelessSave
);

/// Queues of a virtio-scsi controller besides its request queues (control,
/// event: `VIRTIO_SCSI_VQ_NUM_FIXED`).
pub const VIRTIO_SCSI_VQ_NUM_FIXED: u32 = 2;

impl VirtioScsi {
    /// `virtio-scsi-pci` with `queues` request queues (QEMU's default: one per
    /// vCPU), an MSI-X vector each and three more (control, event, config).
    pub fn with_queues(queues: u32) -> Self {
        VirtioScsi {
            virtio: VirtioScsiState(VirtioStatelessSave::with_vectors(
                queues + VIRTIO_SCSI_VQ_NUM_FIXED + 1,
            )),
        }
    }
}
