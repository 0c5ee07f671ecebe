//! USB: the PIIX3 UHCI controller (`uhci`), EHCI (`ehci`) and the USB tablet (`usb-ptr`), with the
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

/// Root ports of an EHCI controller.
pub const EHCI_PORTS: usize = 6;

/// `ehci` (v2): an EHCI controller function (`ich9-usb-ehci1`, `usb-ehci`).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "ehci", version = 2, minimum_version = 1)]
pub struct EhciPci {
    /// The PCI function.
    pub pcidev: PciDevice,
    /// The controller.
    #[vmstate(version = 2..)]
    pub ehci: Ehci,
}

/// `ehci-core`: the EHCI registers and schedule state.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "ehci-core", version = 2, minimum_version = 1)]
#[allow(missing_docs)]
pub struct Ehci {
    pub usbcmd: u32,
    pub usbsts: u32,
    #[vmstate(version = 2..)]
    pub usbsts_pending: u32,
    #[vmstate(version = 2..)]
    pub usbsts_frindex: u32,
    pub usbintr: u32,
    pub frindex: u32,
    pub ctrldssegment: u32,
    pub periodiclistbase: u32,
    pub asynclistaddr: u32,
    pub configflag: u32,
    /// Port status and control, one field per port in QEMU (`portsc[0]`..).
    #[vmstate(rename = "portsc[0]")]
    pub portsc0: u32,
    #[vmstate(rename = "portsc[1]")]
    pub portsc1: u32,
    #[vmstate(rename = "portsc[2]")]
    pub portsc2: u32,
    #[vmstate(rename = "portsc[3]")]
    pub portsc3: u32,
    #[vmstate(rename = "portsc[4]")]
    pub portsc4: u32,
    #[vmstate(rename = "portsc[5]")]
    pub portsc5: u32,
    pub frame_timer: Timer,
    pub last_run_ns: u64,
    pub async_stepdown: u32,
    pub astate: u32,
    pub pstate: u32,
    pub a_fetch_addr: u32,
    pub p_fetch_addr: u32,
}
