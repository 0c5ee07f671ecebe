//! `virtio-mem`: memory the guest plugs and unplugs in blocks, with a bitmap of
//! the blocks plugged. Machine types from 8.0 on send the device's geometry and
//! bitmap in an early section (`virtio-mem-device-early`, before any RAM, so the
//! destination maps exactly the plugged blocks before pages arrive); older machine
//! types send them in the device section, after RAM (`x-early-migration=off`,
//! `hw_compat_7_2`; QEMU 7.2 had only this form).

use crate::virtio::{vectors_since_10_0, VirtioPciTransport, VirtioSubsections};
use vmstate_runtime::framing::UnpluggedRam;
use vmstate_runtime::VMState;

/// `virtio-mem` (v1): `virtio-mem-pci`. Its memory's unplugged blocks are not
/// sent: they are discarded on the destination.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(
    name = "virtio-mem",
    version = 1,
    minimum_version = 1,
    unplugged_ram = |s: &Self| s.virtio.0.device.unplugged()
)]
pub struct VirtioMem {
    /// Everything, as one `virtio` field.
    pub virtio: VirtioMemState,
}

/// `virtio-mem`'s `virtio` field.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(transparent, info = "virtio")]
pub struct VirtioMemState(pub VirtioMemSave);

impl VirtioMem {
    /// `virtio-mem-pci` as a destination of `machine_type` builds it: with early
    /// migration from 8.0's machine types on, two MSI-X vectors from 10.0's (none
    /// before, as QEMU 7.2's had).
    pub fn for_machine(machine_type: &str) -> Self {
        let early_migration =
            crate::machine_types::version_of(machine_type).is_none_or(|v| v >= (8, 0));
        VirtioMem {
            virtio: VirtioMemState(VirtioMemSave {
                transport: VirtioPciTransport::with_vectors(vectors_since_10_0(machine_type)),
                device: VirtioMemDevice {
                    early_migration,
                    ..VirtioMemDevice::default()
                },
                virtio: VirtioSubsections::default(),
            }),
        }
    }
}

/// What `virtio_save` writes for `virtio-mem`.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, PartialEq)]
#[vmstate(name = "virtio-mem-save", version = 1)]
pub struct VirtioMemSave {
    /// The transport.
    pub transport: VirtioPciTransport,
    /// The device's own state.
    pub device: VirtioMemDevice,
    /// The `virtio` subsections.
    pub virtio: VirtioSubsections,
}

impl Default for VirtioMemSave {
    /// `virtio-mem-pci` as QEMU builds it: two MSI-X vectors.
    fn default() -> Self {
        VirtioMemSave {
            transport: VirtioPciTransport::with_vectors(2),
            device: VirtioMemDevice::default(),
            virtio: VirtioSubsections::default(),
        }
    }
}

/// `virtio-mem-device`: the sizes the guest asked for and uses, and, without
/// early migration, the geometry and the plugged blocks.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "virtio-mem-device", version = 1, priority = "virtio_mem")]
pub struct VirtioMemDevice {
    /// The geometry, checked against the destination's (sent here without early
    /// migration).
    #[vmstate(tmp, exists = |s, _| !s.early_migration)]
    pub sanity_checks: VirtioMemSanityChecks,
    /// The part of the region the guest may plug.
    pub usable_region_size: u64,
    /// The plugged size (sent here without early migration).
    #[vmstate(exists = |s, _| !s.early_migration)]
    pub size: u64,
    /// The size the host asked for.
    pub requested_size: u64,
    /// Blocks of the region (QEMU's `bitmap_size`: not sent, the region's size
    /// over the block size).
    #[vmstate(skip)]
    pub blocks: u32,
    /// A bit per block, set when plugged (sent here without early migration; at
    /// most 16 TiB of device memory in 1 MiB blocks, QEMU's smallest).
    #[vmstate(
        len = blocks,
        bitmap,
        max = 16777216,
        exists = |s, _| !s.early_migration,
        pre_load = Self::count_blocks
    )]
    pub bitmap: Vec<u64>,
    /// Whether the geometry and bitmap went in the early section
    /// (`x-early-migration`, a property of the machine type; not sent).
    #[vmstate(skip)]
    pub early_migration: bool,
}

impl VirtioMemDevice {
    fn count_blocks(&mut self) -> Result<(), String> {
        self.blocks = self.sanity_checks.blocks()?;
        Ok(())
    }

    /// The blocks not plugged, when this section holds the bitmap.
    fn unplugged(&self) -> Option<UnpluggedRam> {
        (!self.early_migration).then(|| self.sanity_checks.unplugged(self.blocks, &self.bitmap))
    }
}

/// `virtio-mem-device-early` (v1): the section a device sends before any RAM,
/// from 8.0's machine types on.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(
    name = "virtio-mem-device-early",
    version = 1,
    minimum_version = 1,
    early_setup,
    unplugged_ram = |s: &Self| Some(s.sanity_checks.unplugged(s.blocks, &s.bitmap))
)]
pub struct VirtioMemDeviceEarly {
    /// The geometry, checked against the destination's.
    #[vmstate(tmp)]
    pub sanity_checks: VirtioMemSanityChecks,
    /// The plugged size.
    pub size: u64,
    /// Blocks of the region (not sent).
    #[vmstate(skip)]
    pub blocks: u32,
    /// A bit per block, set when plugged.
    #[vmstate(len = blocks, bitmap, max = 16777216, pre_load = Self::count_blocks)]
    pub bitmap: Vec<u64>,
}

impl VirtioMemDeviceEarly {
    fn count_blocks(&mut self) -> Result<(), String> {
        self.blocks = self.sanity_checks.blocks()?;
        Ok(())
    }
}

/// `virtio-mem-device/sanity-checks` (a temporary struct): where the device
/// sits and how it is cut, which the destination's must equal
/// (`virtio_mem_mig_sanity_checks_post_load`).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "virtio-mem-device/sanity-checks", version = 0)]
pub struct VirtioMemSanityChecks {
    /// Guest-physical address of the region.
    pub addr: u64,
    /// The region's size.
    pub region_size: u64,
    /// The block size.
    pub block_size: u64,
    /// The NUMA node.
    pub node: u32,
}

impl VirtioMemSanityChecks {
    /// The region's blocks whose bit in `bitmap` is clear.
    fn unplugged(&self, blocks: u32, bitmap: &[u64]) -> UnpluggedRam {
        UnpluggedRam::from_bitmap(self.region_size, self.block_size, blocks, bitmap)
    }

    /// The region's blocks (QEMU's `bitmap_size`), which size the bitmap that
    /// follows (the bitmap's `max` bounds it).
    fn blocks(&self) -> Result<u32, String> {
        let blocks = self
            .region_size
            .checked_div(self.block_size)
            .ok_or("block_size is 0")?;
        u32::try_from(blocks).map_err(|_| {
            format!(
                "{blocks} blocks (region_size {} / block_size {})",
                self.region_size, self.block_size
            )
        })
    }
}
