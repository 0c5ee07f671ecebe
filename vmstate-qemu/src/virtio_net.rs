//! `virtio-net` (v11): the network device over virtio-pci. QEMU:
//! `hw/net/virtio-net.c` (`vmstate_virtio_net_device`), `hw/virtio/virtio-net-pci.c`.
//!
//! The device's own part is a `VMStateDescription` that `virtio_save` writes between
//! the queues and the `virtio` subsections. It tests the guest's features, which are
//! the transport's: [`VirtioNetSave`] hands them down before the part is saved or
//! loaded. Its queue pairs' `tx_waiting` flags come in two places: the first pair's
//! behind a pointer, the others in a temporary struct whose count (pairs in use but
//! one) is not sent.
//!
//! Not mirrored: `virtio-net-device/backend`, the opaque state of a vhost-user
//! back-end that supports migrating it (a load of a stream that has it fails naming
//! the subsection).

use crate::virtio::{VirtioPciTransport, VirtioSubsections};
use vmstate_runtime::VMState;

/// `VIRTIO_NET_F_CTRL_GUEST_OFFLOADS`: the guest may change the offloads.
const CTRL_GUEST_OFFLOADS: u32 = 1 << 2;
/// MAC filter entries the device holds (`MAC_TABLE_ENTRIES`).
pub const MAC_TABLE_ENTRIES: u32 = 64;

crate::virtio::virtio_section!(
    /// `virtio-net` (v11): the network device.
    VirtioNet, "virtio-net", 11, VirtioNetState, VirtioNetSave
);

/// What `virtio_save` writes for `virtio-net`.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, PartialEq)]
#[vmstate(name = "virtio-net-save", version = 1, prepare = Self::share_features)]
pub struct VirtioNetSave {
    /// The transport.
    pub transport: VirtioPciTransport,
    /// The network device's own state.
    #[vmstate(pre_load = Self::share_features)]
    pub device: VirtioNetDevice,
    /// The `virtio` subsections.
    pub virtio: VirtioSubsections,
}

impl VirtioNetSave {
    /// Gives the device part the feature bits the transport holds (QEMU's device
    /// part reads them from the common `VirtIODevice`).
    fn share_features(&mut self) -> Result<(), String> {
        self.device.guest_features = self.transport.guest_features_lo;
        Ok(())
    }
}

impl Default for VirtioNetSave {
    /// `virtio-net-pci` as QEMU builds it with one queue pair: four MSI-X vectors.
    fn default() -> Self {
        VirtioNetSave {
            transport: VirtioPciTransport::with_vectors(4),
            device: VirtioNetDevice::default(),
            virtio: VirtioSubsections::default(),
        }
    }
}

/// `virtio-net-device` (v11): the filters, the queue pairs, the offloads.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, PartialEq)]
#[vmstate(
    name = "virtio-net-device",
    version = 11,
    minimum_version = 11,
    prepare = Self::count_tx_waiting
)]
pub struct VirtioNetDevice {
    /// Feature bits 0 to 31 the guest accepted (the transport's, handed down by
    /// [`VirtioNetSave`]; not sent here).
    #[vmstate(skip)]
    pub guest_features: u32,
    /// The MAC address.
    pub mac: [u8; 6],
    /// The first queue pair's `tx_waiting` (behind a pointer in QEMU).
    pub vqs: Box<VirtioNetQueueTxWaiting>,
    /// Whether receive buffers may be merged.
    pub mergeable_rx_bufs: u32,
    /// The link status.
    pub status: u16,
    #[allow(missing_docs)]
    pub promisc: u8,
    #[allow(missing_docs)]
    pub allmulti: u8,
    /// MAC filter entries in use.
    #[vmstate(rename = "mac_table.in_use")]
    pub mac_table_in_use: u32,
    /// The MAC filter entries, six bytes each, when they fit the table.
    #[vmstate(
        rename = "mac_table.macs",
        len = mac_table_in_use,
        multiply = 6,
        max = 384,
        exists = |s, _| s.mac_table_in_use <= MAC_TABLE_ENTRIES
    )]
    pub mac_table_macs: Vec<u8>,
    /// The entries of a sender with a larger table (QEMU drops them and accepts all
    /// traffic: `VMSTATE_UNUSED_VARRAY_UINT32`).
    #[vmstate(
        rename = "unused",
        len = mac_table_in_use,
        multiply = 6,
        max = 65536,
        exists = |s, _| s.mac_table_in_use > MAC_TABLE_ENTRIES
    )]
    pub mac_table_dropped: Vec<u8>,
    /// The VLAN filter: a bit per VLAN id, as host-order 32-bit words (behind a
    /// pointer in QEMU: `VMSTATE_BUFFER_POINTER_UNSAFE`).
    #[cfg_attr(feature = "serde", serde(with = "serde_big_array::BigArray"))]
    pub vlans: [u8; 512],
    /// Whether the peer's packets carry a virtio-net header.
    #[vmstate(tmp)]
    pub has_vnet: VirtioNetVnet,
    #[allow(missing_docs)]
    #[vmstate(rename = "mac_table.multi_overflow")]
    pub mac_table_multi_overflow: u8,
    #[allow(missing_docs)]
    #[vmstate(rename = "mac_table.uni_overflow")]
    pub mac_table_uni_overflow: u8,
    #[allow(missing_docs)]
    pub alluni: u8,
    #[allow(missing_docs)]
    pub nomulti: u8,
    #[allow(missing_docs)]
    pub nouni: u8,
    #[allow(missing_docs)]
    pub nobcast: u8,
    /// Whether the peer takes UDP fragmentation offload.
    #[vmstate(tmp)]
    pub has_ufo: VirtioNetUfo,
    /// Queue pairs the device has (a property; sent, and checked, with more than one).
    #[vmstate(equal, exists = |s, _| s.max_queue_pairs > 1)]
    pub max_queue_pairs: u16,
    /// Queue pairs in use.
    #[vmstate(exists = |s, _| s.max_queue_pairs > 1)]
    pub curr_queue_pairs: u16,
    /// The other queue pairs' `tx_waiting`.
    #[vmstate(tmp, pre_load = Self::count_tx_waiting)]
    pub tx_waiting: VirtioNetTxWaiting,
    /// The offloads the guest chose.
    #[vmstate(exists = |s, _| s.guest_features & CTRL_GUEST_OFFLOADS != 0)]
    pub curr_guest_offloads: u64,
    /// Receive-side scaling, when the guest enabled it.
    #[vmstate(subsection)]
    pub rss: Option<Box<VirtioNetRss>>,
}

impl VirtioNetDevice {
    /// The temporary struct's count: the pairs in use but the first (QEMU's
    /// `virtio_net_tx_waiting_pre_save` / `_pre_load`), at most the device's.
    fn count_tx_waiting(&mut self) -> Result<(), String> {
        if self.curr_queue_pairs > self.max_queue_pairs {
            return Err(format!(
                "curr_queue_pairs {} > max_queue_pairs {}",
                self.curr_queue_pairs, self.max_queue_pairs
            ));
        }
        self.tx_waiting.curr_queue_pairs_1 = self.curr_queue_pairs.saturating_sub(1);
        Ok(())
    }
}

impl Default for VirtioNetDevice {
    /// One queue pair, no filters (a reset device's).
    fn default() -> Self {
        VirtioNetDevice {
            guest_features: 0,
            mac: [0; 6],
            vqs: Box::default(),
            mergeable_rx_bufs: 0,
            status: 0,
            promisc: 1,
            allmulti: 0,
            mac_table_in_use: 0,
            mac_table_macs: Vec::new(),
            mac_table_dropped: Vec::new(),
            vlans: [0; 512],
            has_vnet: VirtioNetVnet::default(),
            mac_table_multi_overflow: 0,
            mac_table_uni_overflow: 0,
            alluni: 0,
            nomulti: 0,
            nouni: 0,
            nobcast: 0,
            has_ufo: VirtioNetUfo::default(),
            max_queue_pairs: 1,
            curr_queue_pairs: 1,
            tx_waiting: VirtioNetTxWaiting::default(),
            curr_guest_offloads: 0,
            rss: None,
        }
    }
}

/// `virtio-net-queue-tx_waiting`: whether a queue pair waits to transmit.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "virtio-net-queue-tx_waiting", version = 1)]
pub struct VirtioNetQueueTxWaiting {
    #[allow(missing_docs)]
    pub tx_waiting: u32,
}

/// `virtio-net-vnet` (a temporary struct).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "virtio-net-vnet", version = 1)]
pub struct VirtioNetVnet {
    #[allow(missing_docs)]
    pub has_vnet_hdr: u32,
}

/// `virtio-net-ufo` (a temporary struct).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "virtio-net-ufo", version = 1)]
pub struct VirtioNetUfo {
    #[allow(missing_docs)]
    pub has_ufo: u8,
}

/// `virtio-net-tx_waiting` (a temporary struct): the second and later queue pairs'
/// `tx_waiting`.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "virtio-net-tx_waiting", version = 1)]
pub struct VirtioNetTxWaiting {
    /// Pairs in use but the first (computed, not sent).
    #[vmstate(skip)]
    pub curr_queue_pairs_1: u16,
    /// Their `tx_waiting`.
    #[vmstate(len = curr_queue_pairs_1, max = 511)]
    pub vqs_1: Vec<VirtioNetQueueTxWaiting>,
}

/// `virtio-net-device/rss`: receive-side scaling.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, PartialEq)]
#[vmstate(name = "virtio-net-device/rss", version = 1)]
#[allow(missing_docs)]
pub struct VirtioNetRss {
    #[vmstate(rename = "rss_data.enabled")]
    pub enabled: bool,
    #[vmstate(rename = "rss_data.redirect")]
    pub redirect: bool,
    #[vmstate(rename = "rss_data.populate_hash")]
    pub populate_hash: bool,
    #[vmstate(rename = "rss_data.hash_types")]
    pub hash_types: u32,
    #[vmstate(rename = "rss_data.indirections_len")]
    pub indirections_len: u16,
    #[vmstate(rename = "rss_data.default_queue")]
    pub default_queue: u16,
    #[vmstate(rename = "rss_data.key")]
    #[cfg_attr(feature = "serde", serde(with = "serde_big_array::BigArray"))]
    pub key: [u8; 40],
    /// The indirection table (`VIRTIO_NET_RSS_MAX_TABLE_LEN` entries at most).
    #[vmstate(rename = "rss_data.indirections_table", len = indirections_len, max = 128)]
    pub indirections_table: Vec<u16>,
}

impl Default for VirtioNetRss {
    fn default() -> Self {
        VirtioNetRss {
            enabled: false,
            redirect: false,
            populate_hash: false,
            hash_types: 0,
            indirections_len: 0,
            default_queue: 0,
            key: [0; 40],
            indirections_table: Vec::new(),
        }
    }
}
