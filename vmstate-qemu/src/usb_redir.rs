//! `usb-redir`: a USB device redirected from a SPICE client (or a usbredir
//! server) over a chardev, as libvirt adds two of for every SPICE display.
//! QEMU: `hw/usb/redirect.c` (the same in 7.2 and 10.0). What libusbredirparser
//! serialises of its connection is one opaque buffer; the packets queued on
//! each endpoint and the ids of requests in flight are lists QEMU writes by
//! hand, each after its count.

use crate::UsbDevice;
use vmstate_runtime::{Timer, VMState};

/// `usb-redir` (v1).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, PartialEq)]
#[vmstate(name = "usb-redir", version = 1, minimum_version = 1)]
pub struct UsbRedir {
    /// The USB device state.
    pub dev: UsbDevice,
    /// The timer that attaches the device once the client described it.
    pub attach_timer: Timer,
    /// libusbredirparser's state: empty while no client is connected.
    pub parser: UsbRedirParserState,
    /// Per endpoint (16 in, 16 out): its type and buffered packets.
    #[vmstate(version = 1..)]
    pub endpoint: Box<[UsbRedirEndpoint; 32]>,
    /// Ids of requests cancelled, not yet answered by the client.
    #[vmstate(version = 1..)]
    pub cancelled: UsbRedirPacketIdQueue,
    /// Ids of requests in flight.
    #[vmstate(version = 1..)]
    pub already_in_flight: UsbRedirPacketIdQueue,
    /// The redirected device as the client announced it.
    #[vmstate(version = 1..)]
    pub device_info: UsbRedirDeviceInfo,
    /// Its interfaces.
    #[vmstate(version = 1..)]
    pub interface_info: UsbRedirInterfaceInfo,
}

impl Default for UsbRedir {
    fn default() -> Self {
        UsbRedir {
            dev: UsbDevice::default(),
            attach_timer: Timer::default(),
            parser: UsbRedirParserState::default(),
            endpoint: Box::new(std::array::from_fn(|_| UsbRedirEndpoint::default())),
            cancelled: UsbRedirPacketIdQueue::default(),
            already_in_flight: UsbRedirPacketIdQueue::default(),
            device_info: UsbRedirDeviceInfo::default(),
            interface_info: UsbRedirInterfaceInfo::default(),
        }
    }
}

/// The `usb-redir-parser` VMStateInfo.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(transparent, info = "usb-redir-parser")]
pub struct UsbRedirParserState(pub UsbRedirParser);

/// What `usbredir_put_parser` writes: the length of the serialised parser (0
/// without one), then its bytes.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "usb-redir-parser", version = 1)]
pub struct UsbRedirParser {
    /// Bytes that follow.
    pub len: u32,
    /// `usbredirparser_serialize`'s output, with the data it had yet to write
    /// (at most 64 MiB).
    #[vmstate(len = len, max = 67108864)]
    pub data: Vec<u8>,
}

/// `usb-redir-ep`: one endpoint.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "usb-redir-ep", version = 1, minimum_version = 1)]
#[allow(missing_docs)]
pub struct UsbRedirEndpoint {
    #[vmstate(rename = "type")]
    pub ep_type: u8,
    pub interval: u8,
    pub interface: u8,
    pub max_packet_size: u16,
    pub iso_started: u8,
    pub iso_error: u8,
    pub interrupt_started: u8,
    pub interrupt_error: u8,
    pub bufpq_prefilled: u8,
    pub bufpq_dropping_packets: u8,
    /// The packets buffered for the guest (isochronous, interrupt, bulk
    /// receiving).
    pub bufpq: UsbRedirBufpqState,
    pub bufpq_target_size: i32,
    /// Sent while bulk receiving runs.
    #[vmstate(subsection, needed = |s: &UsbRedirEndpoint| s.bulk_receiving.bulk_receiving_started != 0)]
    pub bulk_receiving: UsbRedirBulkReceiving,
    /// Sent with bulk streams.
    #[vmstate(subsection, needed = |s: &UsbRedirEndpoint| s.stream_state.max_streams != 0)]
    pub stream_state: UsbRedirStreamState,
}

/// The `usb-redir-bufpq` VMStateInfo.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(transparent, info = "usb-redir-bufpq")]
pub struct UsbRedirBufpqState(pub UsbRedirBufpq);

/// What `usbredir_put_bufpq` writes: the count, then each packet.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "usb-redir-bufpq", version = 1)]
pub struct UsbRedirBufpq {
    /// Packets that follow.
    pub bufpq_size: u32,
    /// The packets (at most 4096: QEMU drops packets beyond a few hundred).
    #[vmstate(len = bufpq_size, max = 4096)]
    pub packets: Vec<UsbRedirBufPacket>,
}

/// A buffered packet: what is left of it, its status, its bytes.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "usb-redir-buf-packet", version = 1)]
pub struct UsbRedirBufPacket {
    /// Bytes that follow.
    pub len: u32,
    /// The usbredir status of the transfer.
    pub status: u32,
    /// The data (at most 1 MiB).
    #[vmstate(len = len, max = 1048576)]
    pub data: Vec<u8>,
}

/// `usb-redir-ep/bulk-receiving`.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "usb-redir-ep/bulk-receiving", version = 1)]
#[allow(missing_docs)]
pub struct UsbRedirBulkReceiving {
    pub bulk_receiving_started: u8,
}

/// `usb-redir-ep/stream-state`.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "usb-redir-ep/stream-state", version = 1)]
#[allow(missing_docs)]
pub struct UsbRedirStreamState {
    pub max_streams: u32,
}

/// `usb-redir-packet-id-queue`.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "usb-redir-packet-id-queue", version = 1, minimum_version = 1)]
pub struct UsbRedirPacketIdQueue {
    /// The ids, as the `usb-redir-packet-id-q` VMStateInfo writes them.
    pub queue: UsbRedirPacketIdsState,
}

/// The `usb-redir-packet-id-q` VMStateInfo.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(transparent, info = "usb-redir-packet-id-q")]
pub struct UsbRedirPacketIdsState(pub UsbRedirPacketIds);

/// What `usbredir_put_packet_id_q` writes: the count, then each id.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "usb-redir-packet-ids", version = 1)]
pub struct UsbRedirPacketIds {
    /// Ids that follow.
    pub size: u32,
    /// The packet ids (at most 65536).
    #[vmstate(len = size, max = 65536)]
    pub ids: Vec<u64>,
}

/// `usb-redir-device-info`: the client's `usb_redir_device_connect_header`.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "usb-redir-device-info", version = 1, minimum_version = 1)]
#[allow(missing_docs)]
pub struct UsbRedirDeviceInfo {
    pub speed: u8,
    pub device_class: u8,
    pub device_subclass: u8,
    pub device_protocol: u8,
    pub vendor_id: u16,
    pub product_id: u16,
    pub device_version_bcd: u16,
}

/// `usb-redir-interface-info`: the client's `usb_redir_interface_info_header`.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "usb-redir-interface-info", version = 1, minimum_version = 1)]
#[allow(missing_docs)]
pub struct UsbRedirInterfaceInfo {
    pub interface_count: u32,
    #[vmstate(as_array)]
    pub interface: [u8; 32],
    #[vmstate(as_array)]
    pub interface_class: [u8; 32],
    #[vmstate(as_array)]
    pub interface_subclass: [u8; 32],
    #[vmstate(as_array)]
    pub interface_protocol: [u8; 32],
}
