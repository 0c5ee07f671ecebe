//! USB: the PIIX3 UHCI controller (`uhci`), EHCI (`ehci`), xHCI (`xhci`) and the USB tablet (`usb-ptr`), with the
//! state every USB device and HID pointer nests. QEMU: `hw/usb/hcd-uhci.c`,
//! `hw/usb/bus.c`, `hw/usb/dev-hid.c`, `hw/input/hid.c`.

use crate::{Msix16, PciDevice};
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

/// `xhci` (v1): the xHCI controller function (`qemu-xhci`, `nec-usb-xhci`), a PCI
/// Express function on Q35.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, PartialEq)]
#[vmstate(name = "xhci", version = 1, minimum_version = 0)]
pub struct XhciPci {
    /// The PCI function.
    pub parent_obj: PciDevice,
    /// Its MSI-X table and pending bits (`VMSTATE_MSIX`, named as the function).
    #[vmstate(rename = "parent_obj")]
    pub msix: Msix16,
    /// The controller.
    #[vmstate(version = 1..)]
    pub xhci: Xhci,
}

impl Default for XhciPci {
    fn default() -> Self {
        XhciPci {
            parent_obj: PciDevice::express(),
            msix: Msix16::default(),
            xhci: Xhci::default(),
        }
    }
}

/// Root ports an xHCI controller can have (QEMU's `XHCI_MAXPORTS`, 15 USB 2 and
/// 15 USB 3).
pub const XHCI_MAXPORTS: u32 = 30;
/// Device slots (`XHCI_MAXSLOTS`).
pub const XHCI_MAXSLOTS: u32 = 64;
/// Interrupters (`XHCI_MAXINTRS`).
pub const XHCI_MAXINTRS: u32 = 16;

/// `xhci-core`: the controller's ports, slots, interrupters and registers.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, PartialEq)]
#[vmstate(name = "xhci-core", version = 1, minimum_version = 0)]
#[allow(missing_docs)]
pub struct Xhci {
    /// Root ports of the controller (USB 2 and USB 3; not migrated).
    #[vmstate(skip)]
    pub numports: u32,
    /// Device slots (not migrated).
    #[vmstate(skip)]
    pub numslots: u32,
    /// Interrupters (not migrated).
    #[vmstate(skip)]
    pub numintrs: u32,
    #[vmstate(version = 1.., len = numports, max = 30)]
    pub ports: Vec<XhciPort>,
    #[vmstate(version = 1.., len = numslots, max = 64)]
    pub slots: Vec<XhciSlot>,
    #[vmstate(version = 1.., len = numintrs, max = 16)]
    pub intr: Vec<XhciIntr>,
    pub usbcmd: u32,
    pub usbsts: u32,
    pub dnctrl: u32,
    pub crcr_low: u32,
    pub crcr_high: u32,
    pub dcbaap_low: u32,
    pub dcbaap_high: u32,
    pub config: u32,
    pub mfindex_start: i64,
    pub mfwrap_timer: Timer,
    #[vmstate(version = 1..)]
    pub cmd_ring: XhciRing,
}

impl Default for Xhci {
    /// As `qemu-xhci` is by default: 4 USB 2 and 4 USB 3 ports, 64 slots, 16
    /// interrupters.
    fn default() -> Self {
        Xhci {
            numports: 8,
            numslots: 64,
            numintrs: 16,
            ports: vec![XhciPort::default(); 8],
            slots: vec![XhciSlot::default(); 64],
            intr: vec![XhciIntr::default(); 16],
            usbcmd: 0,
            usbsts: 0,
            dnctrl: 0,
            crcr_low: 0,
            crcr_high: 0,
            dcbaap_low: 0,
            dcbaap_high: 0,
            config: 0,
            mfindex_start: 0,
            mfwrap_timer: Timer::default(),
            cmd_ring: XhciRing::default(),
        }
    }
}

/// `xhci-port`.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "xhci-port", version = 1, minimum_version = 0)]
pub struct XhciPort {
    /// Port status and control.
    pub portsc: u32,
}

/// `xhci-slot`.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "xhci-slot", version = 1, minimum_version = 0)]
#[allow(missing_docs)]
pub struct XhciSlot {
    pub enabled: bool,
    pub addressed: bool,
}

/// `xhci-intr`: one interrupter.
///
/// Its overflow event queue is described but never sent: QEMU's `xhci_er_full`,
/// which decides, returns `false`. The fields are here (empty) so that the
/// description is QEMU's, and with it the vmdesc, which lists the interrupters one
/// by one because of them.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "xhci-intr", version = 1, minimum_version = 0)]
#[allow(missing_docs)]
pub struct XhciIntr {
    pub iman: u32,
    pub imod: u32,
    pub erstsz: u32,
    pub erstba_low: u32,
    pub erstba_high: u32,
    pub erdp_low: u32,
    pub erdp_high: u32,
    pub msix_used: bool,
    pub er_pcs: bool,
    pub er_start: u64,
    pub er_size: u32,
    pub er_ep_idx: u32,
    pub er_full_unused: bool,
    #[vmstate(exists = |_, _| false)]
    pub ev_buffer_put: u32,
    #[vmstate(exists = |_, _| false)]
    pub ev_buffer_get: u32,
    /// Events queued (not migrated; the queue, at most QEMU's `EV_QUEUE` = 5632,
    /// is never sent).
    #[vmstate(skip)]
    pub ev_buffer_len: u32,
    #[vmstate(version = 1.., len = ev_buffer_len, max = 5632, exists = |_, _| false)]
    pub ev_buffer: Vec<XhciEvent>,
}

/// `xhci-event`: a queued event.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "xhci-event", version = 1, minimum_version = 0)]
#[allow(missing_docs)]
pub struct XhciEvent {
    pub r#type: u32,
    pub ccode: u32,
    pub ptr: u64,
    pub length: u32,
    pub flags: u32,
    pub slotid: u8,
    pub epid: u8,
}

/// `xhci-ring`: the command ring's position.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "xhci-ring", version = 1, minimum_version = 0)]
#[allow(missing_docs)]
pub struct XhciRing {
    pub dequeue: u64,
    pub ccs: bool,
}
