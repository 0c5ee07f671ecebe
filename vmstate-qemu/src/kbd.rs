//! `pckbd` (hw/input/pckbd.c) and `ps2kbd` / `ps2mouse` (hw/input/ps2.c).

use vmstate_runtime::VMState;

/// The ISA i8042 controller section: its state nested as a struct.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "pckbd", version = 3, minimum_version = 3)]
pub struct IsaKbd {
    /// The controller.
    pub kbd: KbdState,
}

/// The i8042 controller.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "pckbd", version = 3, minimum_version = 3)]
pub struct KbdState {
    /// Pending command.
    pub write_cmd: u8,
    /// Status register.
    pub status: u8,
    /// Mode (command byte).
    pub mode: u8,
    /// Pending data.
    pub pending_tmp: u8,
    /// QEMU named this one without the `/` (its loader only checks the prefix).
    #[vmstate(subsection, nonstandard_name)]
    pub outport: Option<KbdOutport>,
    /// Sent when the extended state is migrated.
    #[vmstate(subsection)]
    pub extended_state: Option<KbdExtendedState>,
}

/// `pckbd_outport`.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "pckbd_outport", version = 1)]
pub struct KbdOutport {
    /// Output port.
    pub outport: u8,
}

/// `pckbd/extended_state`.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "pckbd/extended_state", version = 0)]
pub struct KbdExtendedState {
    /// Migration flags.
    pub migration_flags: u32,
    /// Output buffer source.
    pub obsrc: u32,
    /// Output buffer data.
    pub obdata: u8,
    /// Controller buffer data.
    pub cbdata: u8,
}

/// State shared by the PS/2 keyboard and mouse.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, PartialEq)]
#[vmstate(name = "PS2 Common State", version = 3, minimum_version = 2)]
pub struct Ps2Common {
    /// Pending command.
    pub write_cmd: i32,
    /// Queue read pointer.
    #[vmstate(rename = "queue.rptr")]
    pub rptr: i32,
    /// Queue write pointer.
    #[vmstate(rename = "queue.wptr")]
    pub wptr: i32,
    /// Bytes queued.
    #[vmstate(rename = "queue.count")]
    pub count: i32,
    /// Queue bytes.
    #[vmstate(rename = "queue.data")]
    #[cfg_attr(feature = "serde", serde(with = "serde_big_array::BigArray"))]
    pub data: [u8; 256],
}

impl Default for Ps2Common {
    fn default() -> Self {
        Ps2Common {
            write_cmd: 0,
            rptr: 0,
            wptr: 0,
            count: 0,
            data: [0; 256],
        }
    }
}

/// The PS/2 keyboard.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "ps2kbd", version = 3, minimum_version = 2)]
pub struct Ps2Kbd {
    /// Common state.
    pub parent_obj: Ps2Common,
    /// Scanning enabled.
    pub scan_enabled: i32,
    /// Scancode translation.
    pub translate: i32,
    /// Scancode set.
    #[vmstate(version = 3..)]
    pub scancode_set: i32,
    /// Keyboard LEDs.
    #[vmstate(subsection)]
    pub ledstate: Option<Ps2KbdLedState>,
    /// Pending high bit.
    #[vmstate(subsection)]
    pub need_high_bit: Option<Ps2KbdNeedHighBit>,
    /// Command reply queue pointer.
    #[vmstate(subsection)]
    pub command_reply_queue: Option<Ps2KbdReplyQueue>,
}

/// `ps2kbd/ledstate`.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "ps2kbd/ledstate", version = 3, minimum_version = 2)]
pub struct Ps2KbdLedState {
    /// LED bits.
    pub ledstate: i32,
}

/// `ps2kbd/need_high_bit`.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "ps2kbd/need_high_bit", version = 1)]
pub struct Ps2KbdNeedHighBit {
    /// Set-1 translation pending.
    pub need_high_bit: bool,
}

/// `ps2kbd/command_reply_queue`.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "ps2kbd/command_reply_queue", version = 0)]
pub struct Ps2KbdReplyQueue {
    /// Command write pointer.
    #[vmstate(rename = "parent_obj.queue.cwptr")]
    pub cwptr: i32,
}

/// The PS/2 mouse.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "ps2mouse", version = 2, minimum_version = 2)]
pub struct Ps2Mouse {
    /// Common state.
    pub parent_obj: Ps2Common,
    /// Status.
    pub mouse_status: u8,
    /// Resolution.
    pub mouse_resolution: u8,
    /// Sample rate.
    pub mouse_sample_rate: u8,
    /// Wrap mode.
    pub mouse_wrap: u8,
    /// Mouse type (0 PS/2, 3 IMPS/2, 4 IMEX).
    pub mouse_type: u8,
    /// Type detection state.
    pub mouse_detect_state: u8,
    /// Pending X motion.
    pub mouse_dx: i32,
    /// Pending Y motion.
    pub mouse_dy: i32,
    /// Pending wheel motion.
    pub mouse_dz: i32,
    /// Buttons.
    pub mouse_buttons: u8,
}

/// Events the VMware mouse queues.
pub const VMMOUSE_QUEUE_SIZE: usize = 1024;

/// `vmmouse` (v0, hw/i386/vmmouse.c): the VMware absolute pointer's event queue.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, PartialEq)]
#[vmstate(name = "vmmouse", version = 0)]
pub struct Vmmouse {
    /// Must be the destination's queue size.
    #[vmstate(equal)]
    pub queue_size: i32,
    /// Queued event words.
    #[cfg_attr(feature = "serde", serde(with = "serde_big_array::BigArray"))]
    pub queue: [u32; VMMOUSE_QUEUE_SIZE],
    /// Words in the queue.
    pub nb_queue: u16,
    /// Status.
    pub status: u16,
    /// Absolute mode.
    pub absolute: u8,
}

impl Default for Vmmouse {
    fn default() -> Self {
        Vmmouse {
            queue_size: VMMOUSE_QUEUE_SIZE as i32,
            queue: [0; VMMOUSE_QUEUE_SIZE],
            nb_queue: 0,
            status: 0,
            absolute: 0,
        }
    }
}
