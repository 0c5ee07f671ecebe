//! A device that uses each of QEMU's VMState constructs beyond the demo's, one
//! field or attribute each, as the mirrors of whole QEMU machines needed them:
//! computed state (`prepare`, `tmp`, a field's `pre_load`), pointers (`Box`), custom `VMStateInfo`s
//! (`info`), `_POSITIVE_LE` (`le`), parts of arrays (`elements`), scaled counts
//! (`multiply`), bitmaps, nested structs at a fixed version (`struct_version`),
//! linked containers ([`QTailQ`], [`GTree`]), closures for predicates and hooks,
//! and the section's own traits (`priority`, `dev_unplug_pending`).
//! `docs/ATTRIBUTES.md` maps every `VMSTATE_*` macro of QEMU to these.

use vmstate_runtime::{GTree, QTailQ, VMState};

/// The layout version of the device core, as QEMU's `PCIDevice.version_id`.
pub const CORE_VERSION: i32 = 2;

/// An opaque register block, as QEMU's `pci config`: its 8 bytes under a type name
/// of its own.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[vmstate(transparent, info = "tour regs")]
pub struct OpaqueRegs(pub [u8; 8]);

/// Registers behind a pointer in the C device (`VMSTATE_STRUCT_POINTER`).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "tour-regs", version = 2, minimum_version = 1)]
pub struct Regs {
    /// Control.
    pub ctrl: u32,
    /// Status, since version 2.
    #[vmstate(version = 2..)]
    pub status: u16,
}

/// The temporary struct QEMU would fill in `pre_save` and apply in `post_load`
/// (`VMSTATE_WITH_TMP`).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "tour-levels", version = 1)]
pub struct Levels {
    /// The interrupt levels as four words, one per pin.
    pub pins: [u32; 4],
}

/// The heads of every queue but the first: QEMU sends them in a temporary struct
/// whose count its `pre_load` takes from the device (`VMSTATE_WITH_TMP` around a
/// `VMSTATE_VARRAY`, as virtio-net's `tx_waiting` flags).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "tour-heads", version = 1)]
pub struct Heads {
    /// Queues but the first (computed from `nqueues`, not sent).
    #[vmstate(skip)]
    pub count: u32,
    /// Their heads.
    #[vmstate(len = count, max = 15)]
    pub heads: Vec<u16>,
}

/// One request of the device's queue (`VMSTATE_QTAILQ_V`).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "tour-request", version = 1)]
pub struct Request {
    /// Request id.
    pub id: u16,
    /// Sector.
    pub sector: u64,
}

/// One mapping of the device's tree (`VMSTATE_GTREE_DIRECT_KEY_V`).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "tour-mapping", version = 1)]
pub struct Mapping {
    /// Size of the mapping.
    pub size: u64,
    /// Permissions.
    pub perm: u8,
}

/// `tour/extra`: sent when the device has extra state (a closure decides).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "tour/extra", version = 1)]
pub struct Extra {
    /// The extra byte.
    pub value: u8,
}

/// The device.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, PartialEq)]
#[vmstate(
    name = "tour",
    version = 2,
    minimum_version = 1,
    prepare = Tour::prepare,
    post_load = Tour::apply,
    priority = "pci_bus",
    dev_unplug_pending = |t: &Tour| t.unplugging
)]
pub struct Tour {
    /// At most the destination's core version (`VMSTATE_INT32_POSITIVE_LE`).
    #[vmstate(le)]
    pub core_version: i32,
    /// An opaque `VMStateInfo`.
    pub opaque: OpaqueRegs,
    /// Registers behind a pointer.
    pub regs: Box<Regs>,
    /// Elements 2 to 5 of a window (`VMSTATE_UINT16_SUB_ARRAY`).
    #[vmstate(elements = 2..6)]
    pub window: [u16; 8],
    /// The bytes of a buffer from the fourth on (`VMSTATE_BUFFER_START_MIDDLE`).
    #[vmstate(elements = 4..)]
    pub tail: [u8; 16],
    /// Queues in use.
    pub nqueues: u32,
    /// Two words per queue (`VMSTATE_VARRAY_MULTIPLY`).
    #[vmstate(len = nqueues, multiply = 2, max = 16)]
    pub queue_words: Vec<u32>,
    /// The other queues' heads, counted before they are read (a field's
    /// `pre_load`: the temporary struct's, which sees the device).
    #[vmstate(tmp, pre_load = Tour::count_heads)]
    pub other_heads: Heads,
    /// Bits in the dirty bitmap.
    pub nbits: i32,
    /// The dirty bitmap (`VMSTATE_BITMAP`).
    #[vmstate(len = nbits, bitmap, max = 256)]
    pub dirty: Vec<u64>,
    /// The levels, computed by `prepare` from `irq_levels` and applied back after a
    /// load (`VMSTATE_WITH_TMP`).
    #[vmstate(tmp)]
    pub levels: Levels,
    /// Old-format registers, always at their version 1 (`VMSTATE_VSTRUCT`).
    #[vmstate(struct_version = 1, version = 2..)]
    pub old_regs: Regs,
    /// Sent at version 2 when a queue is in use (`field_exists`, as a closure).
    #[vmstate(version = 2.., exists = |t, _| t.nqueues > 0)]
    pub queue_head: u16,
    /// The request queue.
    pub requests: QTailQ<Request>,
    /// Mappings by guest address.
    pub mappings: GTree<u64, Mapping>,
    /// Extra state, sent when not zero (`needed`, as a closure).
    #[vmstate(subsection, needed = |t: &Tour| t.extra.value != 0)]
    pub extra: Extra,
    /// The interrupt levels as the device model keeps them (not migrated).
    #[vmstate(skip)]
    pub irq_levels: u8,
    /// Whether an unplug was requested (not migrated): no save until it is done.
    #[vmstate(skip)]
    pub unplugging: bool,
}

impl Tour {
    /// Fills the temporary structs from the device model (QEMU's `pre_save`).
    fn prepare(&mut self) -> Result<(), String> {
        self.levels.pins = std::array::from_fn(|i| u32::from(self.irq_levels >> i & 1));
        self.count_heads()
    }

    /// The other queues' count, from the queues in use.
    fn count_heads(&mut self) -> Result<(), String> {
        self.other_heads.count = self.nqueues.saturating_sub(1);
        Ok(())
    }

    /// Applies the temporary struct to the device model.
    fn apply(&mut self, _version: u32) -> Result<(), String> {
        match self.levels.pins.iter().find(|p| **p > 1) {
            Some(p) => Err(format!("pin level {p}: must be 0 or 1")),
            None => {
                self.irq_levels = (0..4).fold(0, |l, i| l | (self.levels.pins[i] as u8) << i);
                Ok(())
            }
        }
    }
}

impl Default for Tour {
    fn default() -> Self {
        Tour {
            core_version: CORE_VERSION,
            opaque: OpaqueRegs::default(),
            regs: Box::default(),
            window: [0; 8],
            tail: [0; 16],
            nqueues: 0,
            queue_words: Vec::new(),
            other_heads: Heads::default(),
            nbits: 0,
            dirty: Vec::new(),
            levels: Levels::default(),
            old_regs: Regs::default(),
            queue_head: 0,
            requests: QTailQ::default(),
            mappings: GTree::default(),
            extra: Extra::default(),
            irq_levels: 0,
            unplugging: false,
        }
    }
}

/// A tour device with every field in use.
pub fn sample() -> Tour {
    Tour {
        core_version: CORE_VERSION,
        opaque: OpaqueRegs(*b"regs\0\0\0\x01"),
        regs: Box::new(Regs {
            ctrl: 0x8000_0001,
            status: 0x42,
        }),
        window: [9, 9, 0x102, 0x203, 0x304, 0x405, 9, 9],
        tail: std::array::from_fn(|i| i as u8),
        nqueues: 2,
        queue_words: vec![1, 2, 3, 4],
        other_heads: Heads {
            count: 1,
            heads: vec![0x77],
        },
        nbits: 70,
        dirty: vec![0x8000_0000_0000_0001, 0x3f],
        levels: Levels::default(),
        old_regs: Regs { ctrl: 7, status: 0 },
        queue_head: 5,
        requests: QTailQ(vec![
            Request { id: 1, sector: 100 },
            Request { id: 2, sector: 200 },
        ]),
        mappings: GTree(
            [
                (
                    0x1000,
                    Mapping {
                        size: 0x2000,
                        perm: 3,
                    },
                ),
                (
                    0x8000,
                    Mapping {
                        size: 0x1000,
                        perm: 1,
                    },
                ),
            ]
            .into_iter()
            .collect(),
        ),
        extra: Extra { value: 0x5a },
        irq_levels: 0b1010,
        unplugging: false,
    }
}
