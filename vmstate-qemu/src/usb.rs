//! USB: the PIIX3 UHCI controller (`uhci`) and the USB tablet (`usb-ptr`), with the
//! state every USB device and HID pointer nests. QEMU: `hw/usb/hcd-uhci.c`,
//! `hw/usb/bus.c`, `hw/usb/dev-hid.c`, `hw/input/hid.c`.

use crate::PciDevice;
use vmstate_runtime::{Timer, VMState};

/// Root ports of a UHCI controller.
pub const UHCI_PORTS: usize = 2;
/// Events a HID device queues.
pub const HID_QUEUE_LENGTH: usize = 16;

/// `uhci` (v3): a UHCI controller function (`piix3-usb-uhci`).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, PartialEq)]
#[vmstate(name = "uhci", version = 3, minimum_version = 1)]
#[allow(missing_docs)]
pub struct Uhci {
    /// The PCI function.
    pub dev: PciDevice,
    /// Must be the destination's port count.
    #[vmstate(equal)]
    pub num_ports_vmstate: u8,
    /// The root ports.
    #[vmstate(version = 1..)]
    pub ports: [UhciPort; UHCI_PORTS],
    pub cmd: u16,
    pub status: u16,
    pub intr: u16,
    pub frnum: u16,
    pub fl_base_addr: u32,
    pub sof_timing: u8,
    pub status2: u8,
    pub frame_timer: Timer,
    #[vmstate(version = 2..)]
    pub expire_time: i64,
    #[vmstate(version = 3..)]
    pub pending_int_mask: u32,
}

impl Default for Uhci {
    fn default() -> Self {
        Uhci {
            dev: PciDevice::conventional(),
            num_ports_vmstate: UHCI_PORTS as u8,
            ports: Default::default(),
            cmd: 0,
            status: 0,
            intr: 0,
            frnum: 0,
            fl_base_addr: 0,
            sof_timing: 0,
            status2: 0,
            frame_timer: Timer::default(),
            expire_time: 0,
            pending_int_mask: 0,
        }
    }
}

/// `uhci port`.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "uhci port", version = 1)]
pub struct UhciPort {
    /// Port status and control.
    pub ctrl: u16,
}

/// `USBDevice`: what every USB device migrates first (`VMSTATE_USB_DEVICE`).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "USBDevice", version = 1)]
#[allow(missing_docs)]
pub struct UsbDevice {
    pub addr: u8,
    pub state: i32,
    pub remote_wakeup: i32,
    pub setup_state: i32,
    pub setup_len: i32,
    pub setup_index: i32,
    #[vmstate(as_array)]
    pub setup_buf: [u8; 8],
}

/// `usb-ptr` (v1): the USB tablet or mouse.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "usb-ptr", version = 1)]
pub struct UsbPtr {
    /// The USB device.
    pub dev: UsbDevice,
    /// The HID pointer.
    pub hid: HidPointer,
}

/// `HIDPointerDevice`: a HID pointer's event queue.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "HIDPointerDevice", version = 1)]
#[allow(missing_docs)]
pub struct HidPointer {
    /// Queued events.
    #[vmstate(rename = "ptr.queue")]
    pub queue: [HidPointerEvent; HID_QUEUE_LENGTH],
    pub head: u32,
    pub n: u32,
    pub protocol: i32,
    pub idle: u8,
}

/// `HIDPointerEventQueue`: one pointer event.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Copy, Debug, Default, PartialEq)]
#[vmstate(name = "HIDPointerEventQueue", version = 1)]
#[allow(missing_docs)]
pub struct HidPointerEvent {
    pub xdx: i32,
    pub ydy: i32,
    pub dz: i32,
    pub buttons_state: i32,
}
