//! virtio over PCI: the state `virtio_save` writes for every virtio-pci device, as
//! the one field QEMU's `VMSTATE_VIRTIO_DEVICE` declares (a `virtio` VMStateInfo:
//! one vmdesc entry of its bytes), `virtio-rng` and `virtio-balloon`. QEMU: `hw/virtio/virtio.c`,
//! `hw/virtio/virtio-pci.c`, `hw/pci/msix.c`, `hw/virtio/virtio-rng.c`.
//!
//! In order: the PCI function, its MSI-X table and pending bits, the configuration
//! vector; the transport's status, ISR, queue selector, low feature bits and the
//! device's configuration space; the queues in use, each with its size, descriptor
//! address, last index and vector; the device's own state (none for `virtio-rng`);
//! then the subsections of QEMU's `virtio` description, among them every queue's
//! ring addresses (1024 of them, in use or not) and virtio-pci's modern state.

use crate::PciDevice;
use vmstate_runtime::VMState;

/// Queues a virtio device has room for (`VIRTIO_QUEUE_MAX`).
pub const VIRTIO_QUEUE_MAX: usize = 1024;

/// What `virtio_save` writes before the device's own state.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, PartialEq)]
#[vmstate(name = "virtio-pci-transport", version = 1)]
pub struct VirtioPciTransport {
    /// The PCI function (`pci_device_save`).
    pub pci: PciDevice,
    /// MSI-X vectors of the function (not migrated; a property of the device).
    #[vmstate(skip)]
    pub vectors: u32,
    /// The MSI-X table, 16 bytes a vector (`msix_save`).
    #[vmstate(len = vectors, multiply = 16, max = 32768)]
    pub msix_table: Vec<u8>,
    /// Bytes of pending bits, one bit a vector (not migrated).
    #[vmstate(skip)]
    pub pba_len: u32,
    /// The MSI-X pending bits.
    #[vmstate(len = pba_len, max = 256)]
    pub msix_pba: Vec<u8>,
    /// The configuration change vector, with MSI-X.
    #[vmstate(exists = |s, _| s.vectors > 0)]
    pub config_vector: u16,
    /// Device status.
    pub status: u8,
    /// Interrupt status.
    pub isr: u8,
    /// The selected queue.
    pub queue_sel: u16,
    /// Feature bits 0 to 31 the guest accepted.
    pub guest_features_lo: u32,
    /// Bytes of the device's configuration space.
    pub config_len: u32,
    /// The device's configuration space.
    #[vmstate(len = config_len, max = 4096)]
    pub config: Vec<u8>,
    /// Queues in use (those before the first of size 0).
    pub num_queues: u32,
    /// The queues in use, each with its MSI-X vector (`virtio_pci_save_queue`).
    #[vmstate(len = num_queues, max = 1024, exists = |s, _| s.vectors > 0)]
    pub queues: Vec<VirtioQueue>,
    /// The queues in use of a function without MSI-X (QEMU 7.2's balloon): no
    /// vector each.
    #[vmstate(
        rename = "queues",
        len = num_queues,
        max = 1024,
        exists = |s, _| s.vectors == 0
    )]
    pub queues_intx: Vec<VirtioQueueIntx>,
}

impl VirtioPciTransport {
    /// A fresh function with `vectors` MSI-X vectors.
    pub fn with_vectors(vectors: u32) -> Self {
        VirtioPciTransport {
            pci: PciDevice::conventional(),
            vectors,
            msix_table: vec![0; vectors as usize * 16],
            pba_len: vectors.div_ceil(8),
            msix_pba: vec![0; vectors.div_ceil(8) as usize],
            config_vector: 0,
            status: 0,
            isr: 0,
            queue_sel: 0,
            guest_features_lo: 0,
            config_len: 0,
            config: Vec::new(),
            num_queues: 0,
            queues: Vec::new(),
            queues_intx: Vec::new(),
        }
    }
}

/// One queue in use, as `virtio_save` writes it (with MSI-X: its vector).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "virtio-pci-queue", version = 1)]
pub struct VirtioQueue {
    /// Queue size.
    pub num: u32,
    /// Guest address of the descriptor table.
    pub desc: u64,
    /// The last available index the device took.
    pub last_avail_idx: u16,
    /// The queue's MSI-X vector.
    pub vector: u16,
}

/// One queue in use of a function without MSI-X.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "virtio-pci-queue-intx", version = 1)]
pub struct VirtioQueueIntx {
    /// Queue size.
    pub num: u32,
    /// Guest address of the descriptor table.
    pub desc: u64,
    /// The last available index the device took.
    pub last_avail_idx: u16,
}

/// `virtio`: the subsections `virtio_save` ends with.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "virtio", version = 1)]
#[allow(missing_docs)]
pub struct VirtioSubsections {
    #[vmstate(subsection)]
    pub device_endian: Option<VirtioDeviceEndian>,
    #[vmstate(subsection)]
    pub features_64bit: Option<Virtio64BitFeatures>,
    #[vmstate(subsection)]
    pub virtqueues: Option<Box<VirtioVirtqueues>>,
    #[vmstate(subsection)]
    pub ringsize: Option<Box<VirtioRingsize>>,
    #[vmstate(subsection)]
    pub broken: Option<VirtioBroken>,
    #[vmstate(subsection)]
    pub extra_state: Option<Box<VirtioExtraState>>,
    #[vmstate(subsection)]
    pub started: Option<VirtioStarted>,
    #[vmstate(subsection)]
    pub packed_virtqueues: Option<Box<VirtioPackedVirtqueues>>,
    #[vmstate(subsection)]
    pub disabled: Option<VirtioDisabled>,
}

/// Declares a subsection of `virtio` that holds one entry of every queue
/// (`VMSTATE_STRUCT_VARRAY_POINTER_KNOWN` of `VIRTIO_QUEUE_MAX`).
macro_rules! queue_array_subsection {
    ($(#[$doc:meta])* $ty:ident, $name:literal, $elem:ty) => {
        $(#[$doc])*
        #[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
        #[derive(VMState, Clone, Debug, PartialEq)]
        #[vmstate(name = $name, version = 1)]
        pub struct $ty {
            /// The queues (behind a pointer in QEMU).
            #[cfg_attr(feature = "serde", serde(with = "serde_big_array::BigArray"))]
            pub vq: [$elem; VIRTIO_QUEUE_MAX],
        }

        impl Default for $ty {
            fn default() -> Self {
                $ty {
                    vq: [<$elem>::default(); VIRTIO_QUEUE_MAX],
                }
            }
        }
    };
}

/// Declares a subsection of `virtio` with one scalar field.
macro_rules! scalar_subsection {
    ($(#[$doc:meta])* $ty:ident, $name:literal, $field:ident: $fty:ty) => {
        $(#[$doc])*
        #[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
        #[derive(VMState, Clone, Debug, Default, PartialEq)]
        #[vmstate(name = $name, version = 1)]
        pub struct $ty {
            #[allow(missing_docs)]
            pub $field: $fty,
        }
    };
}

scalar_subsection!(
    /// `virtio/device_endian`: the device's endianness, when not the default.
    VirtioDeviceEndian, "virtio/device_endian", device_endian: u8
);
scalar_subsection!(
    /// `virtio/64bit_features`: all 64 feature bits the guest accepted.
    Virtio64BitFeatures, "virtio/64bit_features", guest_features: u64
);
scalar_subsection!(
    /// `virtio/broken`.
    VirtioBroken, "virtio/broken", broken: bool
);
scalar_subsection!(
    /// `virtio/started`.
    VirtioStarted, "virtio/started", started: bool
);
scalar_subsection!(
    /// `virtio/disabled`.
    VirtioDisabled, "virtio/disabled", disabled: bool
);

queue_array_subsection!(
    /// `virtio/virtqueues`: every queue's ring addresses (virtio 1.0).
    VirtioVirtqueues, "virtio/virtqueues", VirtqueueState
);

/// `virtqueue_state`: a queue's available and used rings.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Copy, Debug, Default, PartialEq)]
#[vmstate(name = "virtqueue_state", version = 1)]
#[allow(missing_docs)]
pub struct VirtqueueState {
    #[vmstate(rename = "vring.avail")]
    pub avail: u64,
    #[vmstate(rename = "vring.used")]
    pub used: u64,
}

queue_array_subsection!(
    /// `virtio/ringsize`: every queue's default size, when one differs.
    VirtioRingsize, "virtio/ringsize", RingsizeState
);

/// `ringsize_state`.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Copy, Debug, Default, PartialEq)]
#[vmstate(name = "ringsize_state", version = 1)]
pub struct RingsizeState {
    /// The queue's default size.
    #[vmstate(rename = "vring.num_default")]
    pub num_default: u32,
}

queue_array_subsection!(
    /// `virtio/packed_virtqueues`: every queue's packed-ring state.
    VirtioPackedVirtqueues, "virtio/packed_virtqueues", PackedVirtqueueState
);

/// `packed_virtqueue_state`.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Copy, Debug, Default, PartialEq)]
#[vmstate(name = "packed_virtqueue_state", version = 1)]
#[allow(missing_docs)]
pub struct PackedVirtqueueState {
    pub last_avail_idx: u16,
    pub last_avail_wrap_counter: bool,
    pub used_idx: u16,
    pub used_wrap_counter: bool,
    pub inuse: u32,
}

/// `virtio/extra_state`: the transport's own state (virtio-pci's).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "virtio/extra_state", version = 1)]
pub struct VirtioExtraState {
    /// `virtio_pci` (a `virtqueue_extra_state` VMStateInfo in QEMU).
    pub extra_state: VirtioPciState,
}

/// `virtio_pci`: no fields of its own, a subsection for virtio 1.0.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "virtio_pci", version = 1)]
pub struct VirtioPciState {
    /// The modern (virtio 1.0) transport's state.
    #[vmstate(subsection)]
    pub modern_state: Option<Box<VirtioPciModernState>>,
}

/// `virtio_pci/modern_state`.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, PartialEq)]
#[vmstate(name = "virtio_pci/modern_state", version = 1)]
#[allow(missing_docs)]
pub struct VirtioPciModernState {
    pub dfselect: u32,
    pub gfselect: u32,
    pub guest_features: [u32; 2],
    /// Every queue's modern registers.
    #[cfg_attr(feature = "serde", serde(with = "serde_big_array::BigArray"))]
    pub vqs: [ModernQueueState; VIRTIO_QUEUE_MAX],
}

impl Default for VirtioPciModernState {
    fn default() -> Self {
        VirtioPciModernState {
            dfselect: 0,
            gfselect: 0,
            guest_features: [0; 2],
            vqs: [ModernQueueState::default(); VIRTIO_QUEUE_MAX],
        }
    }
}

/// `virtio_pci/modern_queue_state`.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Copy, Debug, Default, PartialEq)]
#[vmstate(name = "virtio_pci/modern_queue_state", version = 1)]
#[allow(missing_docs)]
pub struct ModernQueueState {
    pub num: u16,
    /// Formerly `enabled` as a big-endian u16.
    pub _enabled_hi: vmstate_runtime::Unused<1>,
    pub enabled: bool,
    pub desc: [u32; 2],
    pub avail: [u32; 2],
    pub used: [u32; 2],
}

/// Declares a virtio device's section, whose one field is QEMU's `virtio`
/// (`VMSTATE_VIRTIO_DEVICE`: a `virtio` VMStateInfo, one vmdesc entry of its bytes),
/// holding what `virtio_save` writes (`$save`): by default `$save`'s default, or
/// with `vectors = N` a function of N MSI-X vectors (`$save::with_vectors`).
macro_rules! virtio_section {
    ($(#[$doc:meta])* $section:ident, $name:literal, $version:literal, $state:ident, $save:ident) => {
        $crate::virtio::virtio_section!(@section $(#[$doc])* $section, $name, $version, $state);
        $crate::virtio::virtio_section!(@state $name, $state, $save, Default);
    };
    ($(#[$doc:meta])* $section:ident, $name:literal, $version:literal, $state:ident, $save:ident, vectors = $n:literal) => {
        $crate::virtio::virtio_section!(@section $(#[$doc])* $section, $name, $version, $state);
        $crate::virtio::virtio_section!(@state $name, $state, $save);

        impl Default for $state {
            #[doc = concat!("A function of ", stringify!($n), " MSI-X vectors.")]
            fn default() -> Self {
                $state($save::with_vectors($n))
            }
        }
    };
    (@section $(#[$doc:meta])* $section:ident, $name:literal, $version:literal, $state:ident) => {
        $(#[$doc])*
        #[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
        #[derive(vmstate_runtime::VMState, Clone, Debug, Default, PartialEq)]
        #[vmstate(name = $name, version = $version, minimum_version = $version)]
        pub struct $section {
            /// Everything, as one `virtio` field.
            pub virtio: $state,
        }
    };
    (@state $name:literal, $state:ident, $save:ident $(, $default:ident)?) => {
        #[doc = concat!("`", $name, "`'s `virtio` field.")]
        #[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
        #[derive(vmstate_runtime::VMState, Clone, Debug, PartialEq $(, $default)?)]
        #[vmstate(transparent, info = "virtio")]
        pub struct $state(pub $save);
    };
}
pub(crate) use virtio_section;

virtio_section!(
    /// `virtio-rng` (v1): the entropy device.
    VirtioRng, "virtio-rng", 1, VirtioRngState, VirtioRngSave
);

/// What `virtio_save` writes for `virtio-rng`: the transport and the subsections
/// (the device has no state of its own).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, PartialEq)]
#[vmstate(name = "virtio-rng-save", version = 1)]
pub struct VirtioRngSave {
    /// The transport.
    pub transport: VirtioPciTransport,
    /// The `virtio` subsections.
    pub virtio: VirtioSubsections,
}

impl Default for VirtioRngSave {
    /// `virtio-rng-pci` as QEMU builds it: two MSI-X vectors.
    fn default() -> Self {
        VirtioRngSave {
            transport: VirtioPciTransport::with_vectors(2),
            virtio: VirtioSubsections::default(),
        }
    }
}

/// What `virtio_save` writes for a device without state of its own beyond its
/// queues (`virtio-scsi`, whose requests are its disks', `virtio-input`): the
/// transport and the subsections.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, PartialEq)]
#[vmstate(name = "virtio-stateless-save", version = 1)]
pub struct VirtioStatelessSave {
    /// The transport.
    pub transport: VirtioPciTransport,
    /// The `virtio` subsections.
    pub virtio: VirtioSubsections,
}

impl VirtioStatelessSave {
    /// A function with `vectors` MSI-X vectors.
    pub fn with_vectors(vectors: u32) -> Self {
        VirtioStatelessSave {
            transport: VirtioPciTransport::with_vectors(vectors),
            virtio: VirtioSubsections::default(),
        }
    }
}

impl Default for VirtioStatelessSave {
    /// Two MSI-X vectors, as most virtio-pci devices have.
    fn default() -> Self {
        VirtioStatelessSave::with_vectors(2)
    }
}

virtio_section!(
    /// `virtio-input` (v1): a virtio keyboard, mouse or tablet
    /// (`virtio-keyboard-pci`, ...; two MSI-X vectors). Its events in flight are
    /// in its queues.
    VirtioInput, "virtio-input", 1, VirtioInputState, VirtioStatelessSave
);

virtio_section!(
    /// `virtio-9p` (v1): a 9P file system export (`virtio-9p-pci`; two MSI-X
    /// vectors). QEMU blocks migration while the guest has it mounted, so what
    /// migrates is its queues.
    Virtio9p, "virtio-9p", 1, Virtio9pState, VirtioStatelessSave
);

virtio_section!(
    /// `virtio-balloon` (v1): the memory balloon.
    VirtioBalloon, "virtio-balloon", 1, VirtioBalloonState, VirtioBalloonSave
);

/// The MSI-X vectors of a function that had none before QEMU 10.0's machine
/// types gave it two (`hw_compat_9_2`: virtio-balloon-pci, virtio-mem-pci).
pub(crate) fn vectors_since_10_0(machine_type: &str) -> u32 {
    match crate::machine_types::version_of(machine_type) {
        Some(v) if v < (10, 0) => 0,
        _ => 2,
    }
}

impl VirtioBalloon {
    /// `virtio-balloon-pci` as a destination of `machine_type` builds it: two
    /// MSI-X vectors since QEMU 10.0's machine types, none before
    /// (`hw_compat_9_2`; QEMU 7.2 had none).
    pub fn for_machine(machine_type: &str) -> Self {
        VirtioBalloon {
            virtio: VirtioBalloonState(VirtioBalloonSave {
                transport: VirtioPciTransport::with_vectors(vectors_since_10_0(machine_type)),
                ..VirtioBalloonSave::default()
            }),
        }
    }
}

/// What `virtio_save` writes for `virtio-balloon`.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, PartialEq)]
#[vmstate(name = "virtio-balloon-save", version = 1)]
pub struct VirtioBalloonSave {
    /// The transport.
    pub transport: VirtioPciTransport,
    /// The balloon's own state.
    pub device: VirtioBalloonDevice,
    /// The `virtio` subsections.
    pub virtio: VirtioSubsections,
}

impl Default for VirtioBalloonSave {
    /// `virtio-balloon-pci` as QEMU builds it: two MSI-X vectors.
    fn default() -> Self {
        VirtioBalloonSave {
            transport: VirtioPciTransport::with_vectors(2),
            device: VirtioBalloonDevice::default(),
            virtio: VirtioSubsections::default(),
        }
    }
}

/// `virtio-balloon-device`: the balloon's size.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "virtio-balloon-device", version = 1)]
#[allow(missing_docs)]
pub struct VirtioBalloonDevice {
    pub num_pages: u32,
    pub actual: u32,
    /// Sent with free page hinting.
    #[vmstate(subsection)]
    pub free_page_report: Option<VirtioBalloonFreePageReport>,
    /// Sent with page poisoning.
    #[vmstate(subsection)]
    pub page_poison: Option<VirtioBalloonPagePoison>,
}

/// `virtio-balloon-device/free-page-report`.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "virtio-balloon-device/free-page-report", version = 1)]
#[allow(missing_docs)]
pub struct VirtioBalloonFreePageReport {
    pub free_page_hint_cmd_id: u32,
    pub free_page_hint_status: u32,
}

scalar_subsection!(
    /// `virtio-balloon-device/page-poison`.
    VirtioBalloonPagePoison, "virtio-balloon-device/page-poison", poison_val: u32
);
