//! `virtio-iommu` (hw/virtio/virtio-iommu.c): the paravirtual IOMMU of
//! `virtio-iommu-pci`. Its own state, after the virtio core's, is its domains (a
//! tree by id), each with its mappings (a tree by guest I/O address range) and
//! the endpoints attached to it (a list).

use crate::virtio::{virtio_section, VirtioPciTransport, VirtioSubsections};
use vmstate_runtime::{GTree, QList, StructKey, VMState};

virtio_section!(
    /// `virtio-iommu` (v2): the IOMMU (`virtio-iommu-pci`: no `vectors`
    /// property, so no MSI-X).
    VirtioIommu, "virtio-iommu", 2, VirtioIommuState, VirtioIommuSave
);

/// What `virtio_save` writes for `virtio-iommu`.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, PartialEq)]
#[vmstate(name = "virtio-iommu-save", version = 1)]
pub struct VirtioIommuSave {
    /// The transport.
    pub transport: VirtioPciTransport,
    /// The IOMMU's own state.
    pub device: VirtioIommuDevice,
    /// The `virtio` subsections.
    pub virtio: VirtioSubsections,
}

impl Default for VirtioIommuSave {
    fn default() -> Self {
        VirtioIommuSave {
            transport: VirtioPciTransport::with_vectors(0),
            device: VirtioIommuDevice::default(),
            virtio: VirtioSubsections::default(),
        }
    }
}

/// `virtio-iommu-device` (v2).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "virtio-iommu-device", version = 2, minimum_version = 2)]
pub struct VirtioIommuDevice {
    /// The domains by id (`VMSTATE_GTREE_DIRECT_KEY_V`).
    #[vmstate(version = 2..)]
    pub domains: GTree<u64, VirtioIommuDomain>,
    /// Whether endpoints outside any domain bypass translation.
    #[vmstate(rename = "config.bypass", version = 2..)]
    pub bypass: u8,
}

/// `domain` (v2): one address space.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "domain", version = 2, minimum_version = 2)]
pub struct VirtioIommuDomain {
    /// The domain's id.
    pub id: u32,
    /// Its mappings by I/O address range.
    #[vmstate(version = 1..)]
    pub mappings: GTree<StructKey<VirtioIommuInterval>, VirtioIommuMapping>,
    /// The endpoints attached to it.
    #[vmstate(rename = "endpoint_list", version = 1..)]
    pub endpoints: QList<VirtioIommuEndpoint>,
    /// Whether it lets DMA through untranslated.
    #[vmstate(version = 2..)]
    pub bypass: bool,
}

/// `interval` (v1): a range of I/O virtual addresses, the key of a mapping.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
#[vmstate(name = "interval", version = 1)]
#[allow(missing_docs)]
pub struct VirtioIommuInterval {
    pub low: u64,
    pub high: u64,
}

/// `mapping` (v1): where a range goes, and with which permissions.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Copy, Debug, Default, PartialEq)]
#[vmstate(name = "mapping", version = 1)]
#[allow(missing_docs)]
pub struct VirtioIommuMapping {
    pub phys_addr: u64,
    pub flags: u32,
}

/// `endpoint` (v1): a device attached to a domain, by its id.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Copy, Debug, Default, PartialEq)]
#[vmstate(name = "endpoint", version = 1)]
#[allow(missing_docs)]
pub struct VirtioIommuEndpoint {
    pub id: u32,
}
