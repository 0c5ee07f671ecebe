//! QEMU's device state as `#[derive(VMState)]` types.
//!
//! Each type reproduces one `VMStateDescription` of QEMU (its name, version and
//! minimum version, field order and widths, subsections), so the device's section in
//! a real QEMU migration stream decodes into it, re-encodes byte for byte, and
//! converts to and from vmstate's BER format. A Rust VMM that wants QEMU to load its
//! state (or wants to load QEMU's) writes these types instead of its own.
//!
//! | section | type | QEMU source |
//! |---|---|---|
//! | `cpu` (v12), `apic` (v3) | [`X86Cpu`], [`Apic`] | `target/i386/machine.c`, `hw/intc/apic_common.c` |
//! | `mc146818rtc` (v3) | [`Rtc`] | `hw/rtc/mc146818rtc.c` |
//! | `hpet` (v2) | [`Hpet`] | `hw/timer/hpet.c` |
//! | `ioapic` (v3) | [`Ioapic`] | `hw/intc/ioapic_common.c` |
//! | `i8259` (v1) | [`Pic`] | `hw/intc/i8259_common.c` |
//! | `i8254` (v3) | [`Pit`] | `hw/timer/i8254_common.c` |
//! | `dma` (v1) | [`Dma`] | `hw/dma/i8257.c` |
//! | `fdc` (v2) | [`IsaFdc`] | `hw/block/fdc-isa.c`, `hw/block/fdc.c` |
//! | `serial` (v3) | [`IsaSerial`] | `hw/char/serial-isa.c`, `hw/char/serial.c` |
//! | `pckbd` (v3), `ps2kbd`, `ps2mouse` | [`IsaKbd`], [`Ps2Kbd`], [`Ps2Mouse`] | `hw/input/pckbd.c`, `hw/input/ps2.c` |
//! | `fw_cfg` (v2) | [`FwCfg`] | `hw/nvram/fw_cfg.c` |
//! | `timer`, `port92`, `pcspk`, `kvmclock`, `globalstate` | [`Timers`], [`Port92`], [`PcSpk`], [`KvmClock`], [`GlobalState`] | `softmmu/cpu-timers.c`, `hw/i386/pc.c`, `hw/audio/pcspk.c`, `hw/i386/kvm/clock.c`, `migration/global_state.c` |
//! | `cpu_common`, `kvm-tpr-opt`, `i2c_bus`, `vmmouse`, `acpi_build` | [`CpuCommon`], [`KvmTprOpt`], [`I2cBus`], [`Vmmouse`], [`AcpiBuild`] | `cpu.c`, `hw/i386/kvmvapic.c`, `hw/i2c/core.c`, `hw/i386/vmmouse.c`, `hw/i386/acpi-build.c` |
//! | `PCIHost`, `PCIBUS`, `PCIDevice` | [`PciHost`], [`PciBus`], [`PciDevice`] | `hw/pci/pci_host.c`, `hw/pci/pci.c` |
//! | `I440FX`, `PIIX3`, `ide`, `piix4_pm` (i440FX) | [`I440fx`], [`Piix3`], [`PciIde`], [`Piix4Pm`] | `hw/pci-host/i440fx.c`, `hw/isa/piix3.c`, `hw/ide/pci.c`, `hw/acpi/piix4.c` |
//! | `mch`, `ICH9LPC`, `ich9_smb`, `ich9_ahci` (Q35) | [`Mch`], [`Ich9Lpc`], [`Ich9Smb`], [`Ich9Ahci`] | `hw/pci-host/q35.c`, `hw/isa/lpc_ich9.c`, `hw/i2c/smbus_ich9.c`, `hw/ide/ich.c` |
//! | `uhci`, `ehci`, `xhci`, `usb-ptr` | [`Uhci`], [`EhciPci`], [`XhciPci`], [`UsbPtr`] | `hw/usb/hcd-uhci.c`, `hw/usb/hcd-ehci.c`, `hw/usb/hcd-xhci.c`, `hw/usb/dev-hid.c` |
//! | `e1000`, `e1000e` | [`E1000`], [`E1000e`] | `hw/net/e1000.c`, `hw/net/e1000e.c` |
//! | `intel-hda`, `hda-audio` | [`IntelHda`], [`HdaAudio`] | `hw/audio/intel-hda.c`, `hw/audio/hda-codec.c` |
//! | `virtio-rng`, `virtio-balloon` (and the virtio-pci state every virtio device sends) | [`VirtioRng`], [`VirtioBalloon`] | `hw/virtio/virtio.c`, `hw/virtio/virtio-pci.c`, `hw/virtio/virtio-rng.c`, `hw/virtio/virtio-balloon.c` |
//! | `virtio-net` (v11), `virtio-blk` (v2), `virtio-console` (v3, virtio-serial) | [`VirtioNet`], [`VirtioBlk`], [`VirtioSerial`] (requests in flight: [`VirtQueueElement`]) | `hw/net/virtio-net.c`, `hw/block/virtio-blk.c`, `hw/char/virtio-serial-bus.c` |
//! | `slirp` (v4, `-netdev user`; no VMStateDescription in QEMU) | [`Slirp`] | `net/slirp.c`, libslirp 4.7's `src/state.c` |
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
//! releases only through its `VMStateDescription`'s version and subsections, which
//! the types carry, so one type serves every release that writes that version; a
//! release that changes a device gets the new fields as version ranges or
//! subsections here, never a second type. The crate's own version is independent of
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
mod fdc;
mod fw_cfg;
mod hpet;
mod ide;
mod ioapic;
mod kbd;
mod machine_types;
mod misc;
mod pci;
mod pcie_port;
mod pic;
mod pit;
mod q35;
mod rtc;
mod sb16;
mod serial;
mod slirp;
mod usb;
mod virtio;
mod virtio_blk;
mod virtio_net;
mod virtio_serial;
mod virtqueue_element;

pub use acpi::*;
pub use audio::*;
pub use catalog::*;
pub use cpu::*;
pub use devices::{mirror, vcpu_count, DeviceSection, Devices};
pub use dma::*;
pub use e1000::*;
pub use e1000e::*;
pub use eeprom::*;
pub use fdc::*;
pub use fw_cfg::*;
pub use hpet::*;
pub use ide::*;
pub use ioapic::*;
pub use kbd::*;
pub use machine_types::{device_versions, machine_types, MACHINES};
pub use misc::*;
pub use pci::*;
pub use pcie_port::*;
pub use pic::*;
pub use pit::*;
pub use q35::*;
pub use rtc::*;
pub use sb16::*;
pub use serial::*;
pub use slirp::*;
pub use usb::*;
pub use virtio::*;
pub use virtio_blk::*;
pub use virtio_net::*;
pub use virtio_serial::*;
pub use virtqueue_element::*;
