//! QEMU's device state as `#[derive(VMState)]` types.
//!
//! Each type reproduces one `VMStateDescription` of QEMU (its name, version and
//! minimum version, field order and widths, subsections), so the device's section in
//! a real QEMU migration stream decodes into it, re-encodes byte for byte, and
//! converts to and from vmstate's BER format. A Rust VMM that wants QEMU to load its
//! state (or wants to load QEMU's) writes these types instead of its own.
//!
//! Two kinds of mirrors make the catalog. Those written by hand (this crate's own
//! modules: the CPU, chipsets, virtio, the devices whose layout a generator cannot
//! know) and those generated from QEMU 10.0's C `VMStateDescription`s by
//! `vmstate-gen-mirrors` (the `catalog` module; each field typed from its
//! `VMSTATE_*` macro, checked against both releases' `-dump-vmstate`). The index a
//! VMM author looks a device up in is `docs/CATALOG.md`, generated with them: each
//! description QEMU's x86 build has, the QOM types that use it, its Rust type and
//! file, or why it is not typed yet.
//!
//! [`Devices`] holds a mirror per device section of a VM ([`mirror`] picks it by the
//! section's name) and registers them in a
//! [`Registry`](vmstate_runtime::stream::Registry), which then loads and saves a whole
//! QEMU stream with every device typed: every section of every fixture of both
//! releases, byte for byte (`tests/whole_streams.rs`), and streams running QEMUs
//! accept, among them one with every virtio device above (`tests/live_typed.rs`).
//!
//! ## QEMU releases
//!
//! The types mirror QEMU 7.2 and 10.0 and are proven on streams that each wrote (the
//! repository's `test-support/fixtures/qemu-7.2` and `qemu-10.0`, decoded and
//! re-encoded byte for byte by `vmstate-qemu/tests/qemu_fixtures.rs`). A device's layout changes between QEMU
//! releases through its `VMStateDescription`'s version and subsections, which the
//! types carry, or by a field becoming padding of the same bytes (`sb16`'s
//! resources, `e1000e`'s pending interrupts), which the types keep as the older
//! release's fields; so one type serves both releases, never a second type. The crate's own version is independent of
//! QEMU's.
//!
//! [`machine_types`] pins each device's save version for the i440FX and Q35 machine
//! types of both releases.
//!
//! ## KVM
//!
//! With the `kvm` feature (x86-64 Linux), [`X86Cpu::from_kvm`] builds QEMU's `cpu`
//! section from a vCPU captured with `vmstate_runtime::kvm`, and
//! [`X86Cpu::apply_to`] writes it back into a capture, following QEMU's own `kvm_get_*` / `kvm_put_*`.
//! The in-kernel devices convert the same way, both directions: `Pic::from_kvm` /
//! `to_kvm` (`i8259`), `Ioapic`, `Pit` (`i8254`, with a `VirtualClock`), `Apic` and
//! `KvmClock`.
//!
//! ## Example
//!
//! ```
//! use vmstate_qemu::Port92;
//! use vmstate_runtime::legacy;
//!
//! // QEMU's `port92` section body is one byte, the output port.
//! let bytes = legacy::to_bytes(&Port92 { outport: 2 }).unwrap();
//! assert_eq!(bytes, [2]);
//! assert_eq!(legacy::from_bytes::<Port92>(&bytes, 1).unwrap(), Port92 { outport: 2 });
//! ```
#![deny(missing_docs)]

mod acpi;
mod audio;
#[cfg(feature = "serde")]
mod boxed_array;
mod catalog;
mod cpu;
#[cfg(all(feature = "kvm", target_arch = "x86_64"))]
mod cpu_kvm;
mod destination;
mod devices;
mod dma;
mod e1000;
mod e1000e;
mod eeprom;
mod esp;
mod fdc;
mod fw_cfg;
mod hpet;
mod ide;
mod ioapic;
mod kbd;
#[cfg(all(feature = "kvm", target_arch = "x86_64"))]
mod kvm_devices;
mod machine_types;
mod misc;
mod pci;
mod pci_bridge;
mod pcie_port;
mod pic;
mod pit;
mod q35;
mod rtc;
mod sb16;
mod scsi;
mod sd;
mod serial;
mod slirp;
mod uefi_vars;
mod usb;
mod usb_redir;
mod vhost;
mod virtio;
mod virtio_blk;
mod virtio_gpu;
mod virtio_iommu;
mod virtio_mem;
mod virtio_net;
mod virtio_serial;
mod virtqueue_element;
mod vmbus;
mod vmxnet3;
mod xen;

pub use acpi::*;
pub use audio::*;
pub use catalog::*;
pub use cpu::*;
pub use devices::{
    mirror, mirrors_for_stream, section_names, vcpu_count, DeviceSection, Devices, SectionMirror,
};
pub use dma::*;
pub use e1000::*;
pub use e1000e::*;
pub use eeprom::*;
pub use esp::*;
pub use fdc::*;
pub use fw_cfg::*;
pub use hpet::*;
pub use ide::*;
pub use ioapic::*;
pub use kbd::*;
#[cfg(all(feature = "kvm", target_arch = "x86_64"))]
pub use kvm_devices::{VirtualClock, IOAPIC_BASE};
pub use machine_types::{device_versions, machine_types, version_of as machine_version, MACHINES};
pub use misc::*;
pub use pci::*;
pub use pci_bridge::*;
pub use pcie_port::*;
pub use pic::*;
pub use pit::*;
pub use q35::*;
pub use rtc::*;
pub use sb16::*;
pub use scsi::*;
pub use sd::*;
pub use serial::*;
pub use slirp::*;
pub use uefi_vars::*;
pub use usb::*;
pub use usb_redir::*;
pub use vhost::*;
pub use virtio::*;
pub use virtio_blk::*;
pub use virtio_gpu::*;
pub use virtio_iommu::*;
pub use virtio_mem::*;
pub use virtio_net::*;
pub use virtio_serial::*;
pub use virtqueue_element::*;
pub use vmbus::*;
pub use vmxnet3::*;
pub use xen::*;
