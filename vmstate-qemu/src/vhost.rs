//! Virtio devices whose queues a vhost back-end serves (a kernel module or a
//! vhost-user process): QEMU migrates their transport and queue indices, the
//! back-end keeps the rest (in flight requests drain before the stop). Only
//! `vhost-user-fs` carries the back-end's own state, in a subsection (QEMU 10.0;
//! 7.2's was unmigratable).

use crate::scsi::VIRTIO_SCSI_VQ_NUM_FIXED;
use crate::virtio::{virtio_section, VirtioStatelessSave};
use vmstate_runtime::{Chunks, VMState};

virtio_section!(
    /// `vhost-user-blk` (v1): a disk a vhost-user back-end serves (SPDK,
    /// `qemu-storage-daemon`).
    VhostUserBlk, "vhost-user-blk", 1, VhostUserBlkState, VirtioStatelessSave
);

impl VhostUserBlk {
    /// `vhost-user-blk-pci` with `queues` queues (QEMU's default: one per vCPU),
    /// an MSI-X vector each and one for configuration changes.
    pub fn with_queues(queues: u32) -> Self {
        VhostUserBlk {
            virtio: VhostUserBlkState(VirtioStatelessSave::with_vectors(queues + 1)),
        }
    }
}

virtio_section!(
    /// `virtio-vhost_scsi` (v1): `vhost-scsi`, a SCSI target of the host's kernel
    /// (LIO) behind a virtio SCSI controller.
    VhostScsi, "virtio-vhost_scsi", 1, VhostScsiState, VirtioStatelessSave
);

impl VhostScsi {
    /// `vhost-scsi-pci` with `queues` request queues (QEMU's default: one per
    /// vCPU), an MSI-X vector each and three more (control, event, config).
    pub fn with_queues(queues: u32) -> Self {
        VhostScsi {
            virtio: VhostScsiState(VirtioStatelessSave::with_vectors(
                queues + VIRTIO_SCSI_VQ_NUM_FIXED + 1,
            )),
        }
    }
}

virtio_section!(
    /// `virtio-vhost_vsock` (v0): `vhost-vsock`, host-guest sockets of the
    /// host's kernel. `vhost-vsock-pci` has three MSI-X vectors; after the load
    /// QEMU sends the guest a transport reset event, its connections are gone.
    VhostVsock, "virtio-vhost_vsock", 0, VhostVsockState, VirtioStatelessSave, vectors = 3
);

/// `vhost-user-fs` (v0): a file system a vhost-user back-end (virtiofsd) exports.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "vhost-user-fs", version = 0)]
pub struct VhostUserFs {
    /// The transport and queues, as one `virtio` field.
    pub virtio: VhostUserFsState,
    /// The back-end's state, which QEMU 10.0 asks of the back-end and sends
    /// (`vuf_is_internal_migration`, always so far). Its name lacks the `/`
    /// of QEMU's convention; QEMU's load matches the parent's name as a prefix.
    #[vmstate(subsection, nonstandard_name)]
    pub backend: Option<VhostUserFsBackend>,
}

/// `vhost-user-fs`'s `virtio` field.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, PartialEq)]
#[vmstate(transparent, info = "virtio")]
pub struct VhostUserFsState(pub VirtioStatelessSave);

impl Default for VhostUserFsState {
    /// `vhost-user-fs-pci` with its default request queue: an MSI-X vector each
    /// for it and the high-priority queue, one for configuration changes.
    fn default() -> Self {
        VhostUserFsState(VirtioStatelessSave::with_vectors(3))
    }
}

/// `vhost-user-fs-backend` (v0): virtiofsd's state, in its own format.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "vhost-user-fs-backend", version = 0)]
pub struct VhostUserFsBackend {
    /// The state as the back-end wrote it, in chunks.
    #[vmstate(rename = "back-end")]
    pub back_end: VhostUserFsBackEndState,
}

/// The `virtio-fs back-end state` VMStateInfo: chunks after their lengths.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(transparent, info = "virtio-fs back-end state")]
pub struct VhostUserFsBackEndState(pub Chunks);
