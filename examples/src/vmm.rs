//! Device state as a Rust VMM keeps it, described with no hand-written wire
//! struct: a 16550A UART as vm-superio's `SerialState` holds it, a virtio-blk
//! device with its queues and in-flight requests, and a VMM's own bookkeeping in
//! ordinary Rust types (`String`, `Option`, an enum with data, `usize`, maps, a
//! generic ring, `Duration`).
//!
//! Three releases: release 1 had the UART without its input buffer and the
//! queues at version 1; release 2 added the buffer, the queues' `event_idx`
//! (queue version 2) and the blk device's `write_cache` subsection; release 3
//! (this code) added the in-flight requests. `to_bytes_at(&dev, v)` saves for
//! release `v` (the queues included), which `tests/vmm.rs` checks against the
//! older releases' declarations.

use std::collections::BTreeMap;
use std::num::Wrapping;
use std::time::Duration;
use vmstate_runtime::VMState;

/// vm-superio's `SerialState` (a 16550A's registers and its input FIFO).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "serial", version = 2, minimum_version = 1)]
pub struct Serial {
    /// Divisor latch, low byte.
    pub baud_divisor_low: u8,
    /// Divisor latch, high byte.
    pub baud_divisor_high: u8,
    /// IER.
    pub interrupt_enable: u8,
    /// IIR.
    pub interrupt_identification: u8,
    /// LCR.
    pub line_control: u8,
    /// LSR.
    pub line_status: u8,
    /// MCR.
    pub modem_control: u8,
    /// MSR.
    pub modem_status: u8,
    /// SCR.
    pub scratch: u8,
    /// Bytes received and not yet read by the guest (release 2 on).
    #[vmstate(version = 2..)]
    pub in_buffer: Vec<u8>,
}

/// One virtqueue as a VMM tracks it.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "virtq", version = 2, minimum_version = 1)]
pub struct QueueState {
    /// Largest size the device offers.
    pub max_size: u16,
    /// Size the driver chose.
    pub size: u16,
    /// Whether the driver enabled it.
    pub ready: bool,
    /// Guest addresses of the descriptor table and the rings.
    pub desc_table: u64,
    /// Available ring.
    pub avail_ring: u64,
    /// Used ring.
    pub used_ring: u64,
    /// Next available index to take.
    pub next_avail: Wrapping<u16>,
    /// Next used index to write.
    pub next_used: Wrapping<u16>,
    /// `VIRTIO_RING_F_EVENT_IDX` negotiated (queue version 2 on).
    #[vmstate(version = 2..)]
    pub event_idx: bool,
}

/// A request the device took from a queue and has not completed.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "virtio-blk/request", version = 1)]
pub struct Request {
    /// The queue it came from.
    pub queue: usize,
    /// Its head descriptor.
    pub head: u16,
    /// The chain's descriptor indices (chains differ in length).
    pub descs: Vec<u16>,
    /// First sector.
    pub sector: u64,
}

/// The write-cache mode the driver set (release 2 on, sent when not the default).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "virtio-blk/write-cache", version = 1)]
pub struct WriteCache {
    /// Write-back (true) or write-through.
    pub writeback: bool,
}

/// A virtio-blk device.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "virtio-blk", version = 3, minimum_version = 1)]
pub struct VirtioBlk {
    /// Features the device offers.
    pub avail_features: u64,
    /// Features the driver acked.
    pub acked_features: u64,
    /// Device status byte.
    pub status: u8,
    /// Config generation.
    pub config_generation: u8,
    /// The queues: at version 1 in releases 1, at version 2 from release 2.
    #[vmstate(struct_version(1 => 1, 2 => 2))]
    pub queues: Vec<QueueState>,
    /// Requests in flight (release 3 on).
    #[vmstate(version = 3..)]
    pub inflight: Vec<Request>,
    /// The driver's write-cache choice once it made one (release 2 on): an
    /// `Option` subsection, sent when `Some`.
    #[vmstate(subsection, version = 2..)]
    pub write_cache: Option<WriteCache>,
}

/// Where a disk's bytes come from: an enum with data.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
pub enum Backend {
    /// A host file, by a hash of its path (the path is host-side).
    File {
        /// Hash of the path.
        path_hash: u64,
        /// Opened read-only.
        read_only: bool,
    },
    /// Guest memory backed by a named host region.
    Memory(String, u64),
    /// No backing: reads return zeros.
    #[default]
    Null,
}

/// A ring whose size is a const parameter.
#[derive(VMState, Clone, Debug, PartialEq)]
#[vmstate(name = "event-ring", version = 1)]
pub struct Ring<const N: usize> {
    /// Next slot to write.
    pub head: usize,
    /// The slots.
    pub slots: [u64; N],
}

/// serde has no arrays of a generic length: the slots go as a sequence.
#[cfg(feature = "serde")]
impl<const N: usize> serde::Serialize for Ring<N> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (self.head, &self.slots[..]).serialize(s)
    }
}

#[cfg(feature = "serde")]
impl<'de, const N: usize> serde::Deserialize<'de> for Ring<N> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (head, slots): (usize, Vec<u64>) = serde::Deserialize::deserialize(d)?;
        let slots = slots
            .try_into()
            .map_err(|_| serde::de::Error::custom("wrong number of slots"))?;
        Ok(Ring { head, slots })
    }
}

impl<const N: usize> Default for Ring<N> {
    fn default() -> Self {
        Ring {
            head: 0,
            slots: [0; N],
        }
    }
}

/// The VMM's own state, in the types it keeps it in.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "vmm-config", version = 1)]
pub struct VmmConfig {
    /// The VM's id.
    pub id: String,
    /// Boot order, if set.
    pub boot_index: Option<u64>,
    /// The disk's backend.
    pub backend: Backend,
    /// vCPUs.
    pub vcpus: usize,
    /// MMIO windows by base address: their device names.
    pub mmio: BTreeMap<u64, String>,
    /// Recent events.
    pub events: Ring<4>,
    /// Time the guest has run.
    pub uptime: Duration,
    /// A host-side handle, never migrated.
    #[vmstate(skip)]
    pub host_fd: Option<i32>,
}

/// A populated example of each, as a running VMM would have them.
pub fn sample() -> (Serial, VirtioBlk, VmmConfig) {
    let serial = Serial {
        baud_divisor_low: 12,
        interrupt_enable: 0x0f,
        interrupt_identification: 0xc1,
        line_control: 0x03,
        line_status: 0x61,
        modem_control: 0x0b,
        modem_status: 0xb0,
        scratch: 0x5a,
        in_buffer: b"login: ".to_vec(),
        ..Serial::default()
    };
    let queue = |size: u16, at: u64| QueueState {
        max_size: 256,
        size,
        ready: true,
        desc_table: at,
        avail_ring: at + 0x1000,
        used_ring: at + 0x2000,
        next_avail: Wrapping(65530),
        next_used: Wrapping(65529),
        event_idx: true,
    };
    let blk = VirtioBlk {
        avail_features: 0x1_3000_0e54,
        acked_features: 0x1_3000_0e54,
        status: 0x0f,
        config_generation: 1,
        queues: vec![queue(256, 0x10_0000), queue(128, 0x20_0000)],
        inflight: vec![
            Request {
                queue: 0,
                head: 3,
                descs: vec![3, 4, 5],
                sector: 2048,
            },
            Request {
                queue: 1,
                head: 9,
                descs: vec![9, 10],
                sector: 77,
            },
        ],
        write_cache: Some(WriteCache { writeback: false }),
    };
    let config = VmmConfig {
        id: "vm-0042".into(),
        boot_index: Some(1),
        backend: Backend::File {
            path_hash: 0x9e37_79b9_7f4a_7c15,
            read_only: false,
        },
        vcpus: 2,
        mmio: [
            (0xd000_0000, "virtio-blk".to_owned()),
            (0xd000_1000, "serial".to_owned()),
        ]
        .into(),
        events: Ring {
            head: 2,
            slots: [5, 6, 0, 0],
        },
        uptime: Duration::new(3600, 250_000_000),
        host_fd: Some(7),
    };
    (serial, blk, config)
}
