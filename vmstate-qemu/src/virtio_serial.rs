//! `virtio-console` (v3): the `virtio-serial` multiport console device over
//! virtio-pci. QEMU: `hw/char/virtio-serial-bus.c` (`virtio_serial_save_device`),
//! `hw/virtio/virtio-serial-pci.c`.
//!
//! The device's own part: its configuration (which a load reads and ignores), the
//! map of the ports in use (which must be the destination's), and each active port's
//! connection state, with the request a throttled port holds.

use crate::virtio::{VirtioPciTransport, VirtioSubsections};
use crate::VirtQueueElement;
use vmstate_runtime::VMState;

/// Ports a `virtio-serial` device has unless told otherwise (`max_ports`).
pub const VIRTIO_SERIAL_MAX_PORTS: u32 = 31;

crate::virtio::virtio_section!(
    /// `virtio-console` (v3): the multiport console device.
    VirtioSerial, "virtio-console", 3, VirtioSerialState, VirtioSerialSave
);

/// What `virtio_save` writes for `virtio-serial`.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, PartialEq)]
#[vmstate(name = "virtio-serial-save", version = 1)]
pub struct VirtioSerialSave {
    /// The transport.
    pub transport: VirtioPciTransport,
    /// The configuration's columns (in the guest's byte order, as the configuration
    /// space holds them).
    pub cols: u16,
    /// The configuration's rows (likewise).
    pub rows: u16,
    /// The configuration's port count (likewise).
    pub max_nr_ports: u32,
    /// Words of the ports map: one per 32 ports (the `max_ports` property; not
    /// sent).
    #[vmstate(skip)]
    pub ports_map_words: u32,
    /// A bit per port in use.
    #[vmstate(len = ports_map_words, max = 16)]
    pub ports_map: Vec<u32>,
    /// Ports the guest or the host uses.
    pub nr_active_ports: u32,
    /// Their state.
    #[vmstate(len = nr_active_ports, max = 512)]
    pub ports: Vec<VirtioSerialPort>,
    /// The `virtio` subsections.
    pub virtio: VirtioSubsections,
}

impl VirtioSerialSave {
    /// `virtio-serial-pci` with `max_ports` ports: two MSI-X vectors.
    pub fn with_ports(max_ports: u32) -> Self {
        let words = max_ports.div_ceil(32);
        VirtioSerialSave {
            transport: VirtioPciTransport::with_vectors(2),
            cols: 0,
            rows: 0,
            max_nr_ports: 0,
            ports_map_words: words,
            ports_map: vec![0; words as usize],
            nr_active_ports: 0,
            ports: Vec::new(),
            virtio: VirtioSubsections::default(),
        }
    }
}

impl Default for VirtioSerialSave {
    /// QEMU's default of [`VIRTIO_SERIAL_MAX_PORTS`] ports.
    fn default() -> Self {
        VirtioSerialSave::with_ports(VIRTIO_SERIAL_MAX_PORTS)
    }
}

/// One active port (a `VirtIOSerialPort`'s migrated items).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "virtio-serial-port", version = 1)]
pub struct VirtioSerialPort {
    /// The port's number.
    pub id: u32,
    /// Whether the guest opened it.
    pub guest_connected: u8,
    /// Whether the host side is open.
    pub host_connected: u8,
    /// Whether the port holds a request it took from the guest (throttled).
    pub elem_popped: u32,
    /// The buffer of the request the port was writing out.
    #[vmstate(exists = |p, _| p.elem_popped != 0)]
    pub iov_idx: u32,
    /// How far into that buffer.
    #[vmstate(exists = |p, _| p.elem_popped != 0)]
    pub iov_offset: u64,
    /// The request.
    #[vmstate(exists = |p, _| p.elem_popped != 0)]
    pub elem: Box<VirtQueueElement>,
}
