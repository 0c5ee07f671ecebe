//! `vmbus-bridge`: Hyper-V's VMBus, through which a Windows (or Linux
//! `hv_vmbus`) guest finds paravirtual devices. QEMU: `hw/hyperv/vmbus.c`. It
//! needs KVM's Hyper-V SynIC and VP index, which a nested host may not offer; the
//! layout is proven on bytes laid out as QEMU writes them
//! (`tests/device_layouts.rs`).

use vmstate_runtime::{QTailQ, VMState};

/// `HV_MSG_QUEUE_LEN`: messages the bus queues for the guest.
const HV_MSG_QUEUE_LEN: usize = 16;

/// `vmbus-bridge` (v0): the bus behind its bridge (`VMSTATE_STRUCT_POINTER`).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "vmbus-bridge", version = 0)]
pub struct VmbusBridge {
    /// The bus.
    pub bus: Box<Vmbus>,
}

/// `vmbus` (v0): the connection's state and the guest's buffers the bus maps.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "vmbus", version = 0)]
pub struct Vmbus {
    /// Where the connection stands (`VMBUS_LISTEN` ... `VMBUS_STATE_MAX`).
    pub state: u8,
    /// The protocol version negotiated.
    pub version: u32,
    /// The vCPU that takes the bus's messages.
    pub target_vp: u32,
    /// The guest's interrupt page.
    pub int_page_gpa: u64,
    /// The guest page lists the bus holds (GPADLs).
    pub gpadl_list: QTailQ<VmbusGpadl>,
    /// Messages from the guest not yet handled.
    #[vmstate(subsection, needed = |s: &Vmbus| s.rx_queue.rx_queue_size != 0)]
    pub rx_queue: VmbusRxQueue,
}

/// `vmbus/gpadl` (v0): a guest page list.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "vmbus/gpadl", version = 0)]
#[allow(missing_docs)]
pub struct VmbusGpadl {
    pub id: u32,
    pub child_relid: u32,
    pub num_gfns: u32,
    pub seen_gfns: u32,
    /// The guest frame numbers (at most 4 GiB of pages).
    #[vmstate(len = num_gfns, max = 1048576)]
    pub gfns: Vec<u64>,
    pub state: u8,
}

/// `vmbus/rx_queue` (v0): the guest's posted messages, a ring.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "vmbus/rx_queue", version = 0)]
#[allow(missing_docs)]
pub struct VmbusRxQueue {
    pub rx_queue_head: u8,
    pub rx_queue_size: u8,
    pub rx_queue: [HypervPostMessageInput; HV_MSG_QUEUE_LEN],
}

/// `vmbus/hyperv_post_message_input` (v0): one posted message.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, PartialEq)]
#[vmstate(name = "vmbus/hyperv_post_message_input", version = 0)]
pub struct HypervPostMessageInput {
    /// Bytes of `payload` the message uses.
    pub payload_size: u32,
    /// `HV_MESSAGE_PAYLOAD_SIZE` bytes.
    #[vmstate(as_array)]
    #[cfg_attr(feature = "serde", serde(with = "serde_big_array::BigArray"))]
    pub payload: [u8; 240],
}

impl Default for HypervPostMessageInput {
    fn default() -> Self {
        HypervPostMessageInput {
            payload_size: 0,
            payload: [0; 240],
        }
    }
}
