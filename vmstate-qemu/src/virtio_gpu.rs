//! `virtio-gpu` (hw/display/virtio-gpu.c): the 2D GPU of `virtio-gpu-pci` and
//! `virtio-vga`. QEMU saves its state after the virtio core's, in one custom field
//! (`virtio_gpu_save`): each 2D resource after its id, with its pixels, a zero id,
//! then the scanouts; blob resources (10.0, `blob=on`) in a subsection likewise.

use crate::virtio::VirtioStatelessSave;
use vmstate_runtime::{KeyedList, VMState};

/// The pixel bytes of all resources: the `max_hostmem` property's default.
pub const VIRTIO_GPU_MAX_HOSTMEM: usize = 256 << 20;

/// The 2D formats (`virtio_gpu_get_pixman_format`), all 32 bits a pixel.
const FORMATS: [u32; 8] = [1, 2, 3, 4, 67, 68, 121, 134];

/// `virtio-gpu` (v1): the virtio core (three MSI-X vectors, the `vectors` of
/// `DEFINE_VIRTIO_GPU_PCI_PROPERTIES`, `virtio-gpu-pci`'s and `virtio-vga`'s), the
/// GPU's own state, and its blob resources.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, PartialEq)]
#[vmstate(name = "virtio-gpu", version = 1, minimum_version = 1)]
pub struct VirtioGpu {
    /// What `virtio_save` writes.
    pub virtio: VirtioGpuCore,
    /// The resources and scanouts, QEMU's custom `virtio-gpu` field.
    #[vmstate(rename = "virtio-gpu")]
    pub gpu: VirtioGpuField,
    /// Blob resources, sent when the device has `blob=on`.
    #[vmstate(subsection)]
    pub blob: Option<VirtioGpuBlob>,
}

impl VirtioGpu {
    /// The GPU as a destination of `machine_type` builds it: its scanouts carry
    /// the framebuffer from QEMU 10.0's machine types (`x-scanout-vmstate-version`
    /// 2; 1 in `hw_compat_9_2`, and QEMU 7.2 has no such fields).
    pub fn for_machine(machine_type: &str) -> Self {
        let fb = !matches!(crate::machine_types::version_of(machine_type), Some(v) if v < (10, 0));
        let mut gpu = VirtioGpu::default();
        for s in &mut gpu.gpu.0.scanouts.scanout {
            s.migrates_fb = fb;
        }
        gpu
    }
}

impl Default for VirtioGpu {
    /// A 10.0 machine type's, with one scanout.
    fn default() -> Self {
        VirtioGpu {
            virtio: VirtioGpuCore(VirtioStatelessSave::with_vectors(3)),
            gpu: VirtioGpuField::default(),
            blob: None,
        }
    }
}

/// `virtio-gpu`'s `virtio` field.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(transparent, info = "virtio")]
pub struct VirtioGpuCore(pub VirtioStatelessSave);

/// `virtio-gpu`'s own field.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(transparent, info = "virtio-gpu")]
pub struct VirtioGpuField(pub VirtioGpuSave);

/// What `virtio_gpu_save` writes.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "virtio-gpu-save", version = 1)]
pub struct VirtioGpuSave {
    /// The 2D resources by id.
    pub resources: KeyedList<VirtioGpuResource>,
    /// The scanouts.
    pub scanouts: VirtioGpuScanouts,
}

/// A 2D resource: its size, format, backing pages and pixels.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "virtio-gpu-resource-2d", version = 1)]
#[allow(missing_docs)]
pub struct VirtioGpuResource {
    pub width: u32,
    pub height: u32,
    #[vmstate(validate = Self::known_format)]
    pub format: u32,
    pub iov_cnt: u32,
    /// The guest pages that back it: at most 16384, the limit of the command
    /// that attaches them (`virtio_gpu_create_mapping_iov`; QEMU's load takes any
    /// count from the stream).
    #[vmstate(len = iov_cnt, max = 16384)]
    pub iovs: Vec<VirtioGpuIov>,
    /// Bytes of `data`: 4 a pixel, `height` rows (not sent).
    #[vmstate(skip)]
    pub data_len: u32,
    /// The pixels, as the host holds them: at most [`VIRTIO_GPU_MAX_HOSTMEM`].
    #[vmstate(pre_load = Self::size_pixels, len = data_len, max = 268435456)]
    pub data: Vec<u8>,
}

impl VirtioGpuResource {
    /// QEMU refuses a resource of a format it has no image for.
    fn known_format(&self, _version: u32) -> Result<(), String> {
        match FORMATS.contains(&self.format) {
            true => Ok(()),
            false => Err(format!("unknown 2D format {}", self.format)),
        }
    }

    /// The pixel bytes that follow: pixman's stride of a 32-bit format times the
    /// rows, within `max_hostmem`.
    fn size_pixels(&mut self) -> Result<(), String> {
        let bytes = u64::from(self.width) * 4 * u64::from(self.height);
        match u32::try_from(bytes) {
            Ok(n) if bytes <= VIRTIO_GPU_MAX_HOSTMEM as u64 => {
                self.data_len = n;
                Ok(())
            }
            _ => Err(format!(
                "{}x{} pixels take {bytes} bytes, more than max_hostmem",
                self.width, self.height
            )),
        }
    }
}

/// A backing page range: guest address and length.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Copy, Debug, Default, PartialEq)]
#[vmstate(name = "virtio-gpu-iov", version = 1)]
#[allow(missing_docs)]
pub struct VirtioGpuIov {
    pub addr: u64,
    pub len: u32,
}

/// `virtio-gpu-scanouts` (v1).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, PartialEq)]
#[vmstate(name = "virtio-gpu-scanouts", version = 1)]
pub struct VirtioGpuScanouts {
    /// Whether the device is enabled.
    #[vmstate(rename = "parent_obj.enable")]
    pub enable: i32,
    /// The `max_outputs` property, which the stream must repeat.
    #[vmstate(rename = "parent_obj.conf.max_outputs", equal)]
    pub max_outputs: u32,
    /// One per output (at most `VIRTIO_GPU_MAX_SCANOUTS`, 16).
    #[vmstate(rename = "parent_obj.scanout", version = 1.., len = max_outputs, max = 16)]
    pub scanout: Vec<VirtioGpuScanout>,
}

impl Default for VirtioGpuScanouts {
    /// One output, QEMU's default.
    fn default() -> Self {
        VirtioGpuScanouts {
            enable: 0,
            max_outputs: 1,
            scanout: vec![VirtioGpuScanout::default()],
        }
    }
}

/// `virtio-gpu-one-scanout` (v1).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, PartialEq)]
#[vmstate(name = "virtio-gpu-one-scanout", version = 1)]
#[allow(missing_docs)]
pub struct VirtioGpuScanout {
    /// Whether the framebuffer fields are sent (`x-scanout-vmstate-version` 2).
    #[vmstate(skip)]
    pub migrates_fb: bool,
    pub resource_id: u32,
    pub width: u32,
    pub height: u32,
    pub x: i32,
    pub y: i32,
    #[vmstate(rename = "cursor.resource_id")]
    pub cursor_resource_id: u32,
    #[vmstate(rename = "cursor.hot_x")]
    pub cursor_hot_x: u32,
    #[vmstate(rename = "cursor.hot_y")]
    pub cursor_hot_y: u32,
    #[vmstate(rename = "cursor.pos.x")]
    pub cursor_pos_x: u32,
    #[vmstate(rename = "cursor.pos.y")]
    pub cursor_pos_y: u32,
    #[vmstate(rename = "fb.format", exists = |s, _| s.migrates_fb)]
    pub fb_format: u32,
    #[vmstate(rename = "fb.bytes_pp", exists = |s, _| s.migrates_fb)]
    pub fb_bytes_pp: u32,
    #[vmstate(rename = "fb.width", exists = |s, _| s.migrates_fb)]
    pub fb_width: u32,
    #[vmstate(rename = "fb.height", exists = |s, _| s.migrates_fb)]
    pub fb_height: u32,
    #[vmstate(rename = "fb.stride", exists = |s, _| s.migrates_fb)]
    pub fb_stride: u32,
    #[vmstate(rename = "fb.offset", exists = |s, _| s.migrates_fb)]
    pub fb_offset: u32,
}

impl Default for VirtioGpuScanout {
    fn default() -> Self {
        VirtioGpuScanout {
            migrates_fb: true,
            resource_id: 0,
            width: 0,
            height: 0,
            x: 0,
            y: 0,
            cursor_resource_id: 0,
            cursor_hot_x: 0,
            cursor_hot_y: 0,
            cursor_pos_x: 0,
            cursor_pos_y: 0,
            fb_format: 0,
            fb_bytes_pp: 0,
            fb_width: 0,
            fb_height: 0,
            fb_stride: 0,
            fb_offset: 0,
        }
    }
}

/// `virtio-gpu/blob` (v1, QEMU 10.0): the blob resources, in one custom field.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "virtio-gpu/blob", version = 1, minimum_version = 1)]
pub struct VirtioGpuBlob {
    /// QEMU's `virtio-gpu/blob` field.
    #[vmstate(rename = "virtio-gpu/blob")]
    pub blobs: VirtioGpuBlobField,
}

/// The blob list, QEMU's `blob` VMStateInfo.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(transparent, info = "blob")]
pub struct VirtioGpuBlobField(pub KeyedList<VirtioGpuBlobResource>);

/// A blob resource: its size and backing pages.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "virtio-gpu-blob-resource", version = 1)]
#[allow(missing_docs)]
pub struct VirtioGpuBlobResource {
    pub blob_size: u32,
    pub iov_cnt: u32,
    /// As a 2D resource's.
    #[vmstate(len = iov_cnt, max = 16384)]
    pub iovs: Vec<VirtioGpuIov>,
}
