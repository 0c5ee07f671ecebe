//! Xen emulation on KVM (QEMU 10.0, `-accel kvm,xen-version=...`): the event
//! channels and grant tables QEMU provides to a Xen HVM guest. QEMU:
//! `hw/i386/kvm/xen_evtchn.c`, `xen_gnttab.c`. They need a host KVM with Xen HVM
//! support; the layouts are proven on bytes laid out as QEMU writes them
//! (`tests/device_layouts.rs`).

use vmstate_runtime::VMState;

/// `xen_evtchn` (v1): the guest's event channels and PIRQs.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, PartialEq)]
#[vmstate(name = "xen_evtchn", version = 1, minimum_version = 1)]
pub struct XenEvtchn {
    /// How the guest is called back (`HVM_PARAM_CALLBACK_IRQ`).
    pub callback_param: u64,
    /// Ports in use.
    pub nr_ports: u32,
    /// The ports (at most `EVTCHN_2L_NR_CHANNELS`, 4096).
    #[vmstate(len = nr_ports, max = 4096, version = 1..)]
    pub port_table: Vec<XenEvtchnPort>,
    /// The PIRQ of each IOAPIC pin.
    pub gsi_pirq: [u16; 24],
    /// Words of the PIRQ bitmap (QEMU's `nr_pirq_inuse_words`: the `xen-evtchn`
    /// PIRQ count over 64; not sent).
    #[vmstate(skip)]
    pub nr_pirq_inuse_words: u16,
    /// A bit per PIRQ in use.
    #[vmstate(len = nr_pirq_inuse_words, max = 65535)]
    pub pirq_inuse_bitmap: Vec<u64>,
    /// PIRQs bound to a GSI.
    pub pirq_gsi_set: u32,
}

impl XenEvtchn {
    /// The state of a machine with `nr_pirqs` PIRQs (QEMU's default: 256).
    pub fn with_pirqs(nr_pirqs: u32) -> Self {
        let words = u16::try_from(nr_pirqs.div_ceil(64)).unwrap_or(u16::MAX);
        XenEvtchn {
            callback_param: 0,
            nr_ports: 0,
            port_table: Vec::new(),
            gsi_pirq: [0; 24],
            nr_pirq_inuse_words: words,
            pirq_inuse_bitmap: vec![0; usize::from(words)],
            pirq_gsi_set: 0,
        }
    }
}

impl Default for XenEvtchn {
    /// 256 PIRQs, QEMU's default.
    fn default() -> Self {
        XenEvtchn::with_pirqs(256)
    }
}

/// `xen_evtchn_port` (v1): where a port is bound.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "xen_evtchn_port", version = 1, minimum_version = 1)]
#[allow(missing_docs)]
pub struct XenEvtchnPort {
    pub vcpu: u32,
    #[vmstate(rename = "type")]
    pub port_type: u16,
    /// The port's binding (a VIRQ, PIRQ, interdomain port...).
    #[vmstate(rename = "u.val")]
    pub val: u16,
}

/// `xen_gnttab` (v1): where the guest mapped its grant table frames.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "xen_gnttab", version = 1, minimum_version = 1)]
pub struct XenGnttab {
    /// Frames the guest mapped.
    pub nr_frames: u32,
    /// Their guest-physical addresses (at most 65536: KVM's
    /// `xen-gnttab-max-frames` is 16 bits).
    #[vmstate(len = nr_frames, max = 65536)]
    pub gnt_frame_gpas: Vec<u64>,
}
