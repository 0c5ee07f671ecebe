//! `virtio-blk` (v2): the block device over virtio-pci. QEMU: `hw/block/virtio-blk.c`
//! (`virtio_blk_save_device`), `hw/virtio/virtio-blk-pci.c`.
//!
//! The device's own part is the list of requests in flight, each preceded by a byte
//! 1, the list ended by a byte 0: QEMU's `QTAILQ` bytes. With more than one queue
//! each request first names its queue. The device has as many queues as the machine
//! has vCPUs unless told otherwise, all in use, so the transport's count of queues in
//! use, sent before the list, says which form follows.

use crate::virtio::{VirtioPciTransport, VirtioSubsections};
use crate::VirtQueueElement;
use vmstate_runtime::{QTailQ, VMState};

crate::virtio::virtio_section!(
    /// `virtio-blk` (v2): the block device.
    VirtioBlk, "virtio-blk", 2, VirtioBlkState, VirtioBlkSave
);

/// What `virtio_save` writes for `virtio-blk`.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, PartialEq)]
#[vmstate(name = "virtio-blk-save", version = 1)]
pub struct VirtioBlkSave {
    /// The transport.
    pub transport: VirtioPciTransport,
    /// The requests in flight, with one queue.
    #[vmstate(exists = |s, _| s.transport.num_queues <= 1)]
    pub requests: QTailQ<VirtioBlkRequest>,
    /// The requests in flight, with more queues (each on one of them, as QEMU's
    /// load checks).
    #[vmstate(exists = |s, _| s.transport.num_queues > 1, validate = Self::check_queues)]
    pub mq_requests: QTailQ<VirtioBlkMqRequest>,
    /// The `virtio` subsections.
    pub virtio: VirtioSubsections,
}

impl VirtioBlkSave {
    /// Every request names one of the device's queues.
    fn check_queues(&self, _version: u32) -> Result<(), String> {
        match self
            .mq_requests
            .0
            .iter()
            .find(|r| r.vq_idx >= self.transport.num_queues)
        {
            Some(r) => Err(format!(
                "invalid virtqueue index in request list: {:#x}",
                r.vq_idx
            )),
            None => Ok(()),
        }
    }

    /// `virtio-blk-pci` with `queues` queues (QEMU's default: one per vCPU): an MSI-X
    /// vector per queue and one for configuration changes.
    pub fn with_queues(queues: u32) -> Self {
        VirtioBlkSave {
            transport: VirtioPciTransport::with_vectors(queues + 1),
            requests: QTailQ::default(),
            mq_requests: QTailQ::default(),
            virtio: VirtioSubsections::default(),
        }
    }
}

impl Default for VirtioBlkSave {
    /// One queue (a machine with one vCPU).
    fn default() -> Self {
        VirtioBlkSave::with_queues(1)
    }
}

impl VirtioBlk {
    /// The device with `queues` queues (see [`VirtioBlkSave::with_queues`]).
    pub fn with_queues(queues: u32) -> Self {
        VirtioBlk {
            virtio: VirtioBlkState(VirtioBlkSave::with_queues(queues)),
        }
    }
}

/// A request in flight on the device's one queue.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "virtio-blk-request", version = 1)]
pub struct VirtioBlkRequest {
    /// The request as the queue gave it.
    pub elem: VirtQueueElement,
}

/// A request in flight on one of several queues.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "virtio-blk-mq-request", version = 1)]
pub struct VirtioBlkMqRequest {
    /// The queue's index.
    pub vq_idx: u32,
    /// The request as the queue gave it.
    pub elem: VirtQueueElement,
}
