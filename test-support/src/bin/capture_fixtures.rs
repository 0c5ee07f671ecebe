//! Makes the QEMU fixtures of one release: each guest is started through QMP, runs
//! SeaBIOS (no boot device) for a while, is stopped, its RAM dumped by QEMU itself
//! (`pmemsave`), then migrated to a file. A guest captured with a migration
//! capability instead migrates with it on: `compress` from the stopped guest;
//! `xbzrle` while the counter guest (`counter_guest::kernel_writing`, a few hundred
//! pages) keeps writing, so that pages go again as XBZRLE deltas, and its RAM is
//! dumped once the migration completed; `mapped-ram` (10.0, alone and with
//! `multifd`) the same way into a `file:` URI, so that pages are written again in
//! their place in the file; `multifd` from the stopped guest over 2 channels, each
//! connection kept (the channels beside the main one, `.channelN` added), and
//! with `multifd-compression` zlib (7.2) and zstd (10.0);
//! `return-path`, `switchover-ack` and `postcopy-ram` to a destination QEMU
//! through a proxy that passes its answers back and keeps what the source sent
//! (postcopy switched in the middle of the first pass while the counter guest
//! writes, with a save of the same VM beside it to describe it); a guest saved
//! with `-machine suppress-vmdesc=on`, described the same way. `x-ignore-shared` from the stopped guest
//! with private RAM: every page sent, each block list entry with its address (the
//! shared case, where no page of the block goes, is `vmstate-cli/tests/shared_memory.rs`). `manifest.json` records each stream's QEMU
//! arguments and the SHA-256 of `pc.ram` below 640 KiB and from 1 MiB up, as QEMU
//! dumped it; `<machine>.vmstate.json` is QEMU's `-dump-vmstate` for a machine type.
//!
//! `cargo run -p vmstate-test-support --bin capture-fixtures -- 10.0 test-support/fixtures/qemu-10.0 [STREAM...]`
//! (`7.2` makes the 7.2 streams this tool knows: those with capabilities).
//!
//! Naming streams captures only those; the manifest keeps the entries (and the
//! folder the files) of the streams not captured.

use serde_json::json;
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::Path;
use std::time::Duration;
use vmstate_test_support::counter_guest::{kernel_writing, FIRST};
use vmstate_test_support::qmp::{Qemu, Release, I440FX_10_0_DEVICES};

/// One guest to capture.
struct Guest {
    stream: &'static str,
    machine: &'static str,
    accel: &'static str,
    mem_mb: u64,
    smp: u32,
    run_seconds: f64,
    devices: &'static [&'static str],
    /// The migration capabilities it is captured with, if any (comma-separated).
    capability: Option<&'static str>,
    /// Its multifd channels' `multifd-compression`, if not `none`.
    compression: Option<&'static str>,
    /// `-smp`'s `maxcpus` when above `smp` (CPUs it could hotplug).
    max_cpus: u32,
    /// Memory hotplug slots (`-m SIZE,slots=N,maxmem=1G`).
    memory_slots: u32,
    /// Human monitor commands run before the guest stops (port writes a guest's
    /// ACPI code would make).
    hmp: &'static [&'static str],
}

/// The counter guest of the `xbzrle` captures fills and keeps writing this many
/// pages from `FIRST`.
const HOT_PAGES: u32 = 128;

/// A small guest (32 MiB, one CPU, KVM, SeaBIOS for a second) of `machine`.
const fn small(stream: &'static str, machine: &'static str) -> Guest {
    Guest {
        stream,
        machine,
        accel: "kvm",
        mem_mb: 32,
        smp: 1,
        run_seconds: 1.0,
        devices: &[],
        capability: None,
        compression: None,
        max_cpus: 0,
        memory_slots: 0,
        hmp: &[],
    }
}

/// A guest captured with a capability on a release's newest i440FX machine.
const fn with_capability(
    stream: &'static str,
    machine: &'static str,
    capability: &'static str,
) -> Guest {
    Guest {
        capability: Some(capability),
        ..small(stream, machine)
    }
}

/// Devices of the generated catalog (`vmstate-qemu/src/catalog`) that both releases
/// build and that need nothing from the host: NICs on user networking, ISA and PCI
/// audio to no audio backend, watchdogs, serial and parallel ports to null
/// chardevs, USB hub and smartcard reader, SCSI HBAs without disks, displays, CAN
/// cards on one software bus, and the rest.
#[rustfmt::skip]
const CATALOG_DEVICES: &[&str] = &[
    "-netdev", "user,id=n0", "-device", "rtl8139,netdev=n0",
    "-netdev", "user,id=n1", "-device", "ne2k_pci,netdev=n1",
    "-netdev", "user,id=n2", "-device", "tulip,netdev=n2",
    "-audiodev", "none,id=a0",
    "-device", "sb16,audiodev=a0",
    "-device", "cs4231a,audiodev=a0",
    "-device", "gus,audiodev=a0",
    "-device", "ib700",
    "-device", "i6300esb",
    "-device", "pvpanic-pci",
    "-chardev", "null,id=c1", "-device", "pci-serial,chardev=c1",
    // pci-serial-4x: QEMU 7.2 crashes saving a pci-serial-2x (its two absent
    // ports' timers).
    "-chardev", "null,id=c2", "-chardev", "null,id=c3",
    "-chardev", "null,id=c4", "-chardev", "null,id=c5",
    "-device", "pci-serial-4x,chardev1=c2,chardev2=c3,chardev3=c4,chardev4=c5",
    "-chardev", "null,id=p0", "-device", "isa-parallel,chardev=p0",
    "-device", "pci-ohci,id=ohci", "-device", "usb-hub,bus=ohci.0",
    "-device", "piix3-usb-uhci,id=uhci", "-device", "usb-ccid,bus=uhci.0",
    "-device", "lsi53c895a",
    "-device", "mptsas1068",
    "-device", "bochs-display",
    "-device", "VGA",
    "-device", "vmcoreinfo",
    "-device", "vmgenid",
    "-device", "tpci200,id=ipack",
    "-object", "can-bus,id=can0",
    "-device", "kvaser_pci,canbus=can0",
    "-device", "pcm3680_pci,canbus0=can0,canbus1=can0",
    "-device", "mioe3680_pci,canbus0=can0,canbus1=can0",
    "-device", "i82801b11-bridge",
    "-device", "pci-bridge,id=pb,chassis_nr=1",
    "-netdev", "user,id=n3", "-device", "rtl8139,netdev=n3,bus=pb",
    "-device", "usb-kbd,bus=uhci.0",
    "-device", "ipoctal232,bus=ipack.0",
    "-device", "virtio-scsi-pci,id=scsi",
    "-blockdev", "driver=null-co,node-name=s0,size=1048576",
    "-device", "scsi-hd,drive=s0,bus=scsi.0",
    "-device", "scsi-cd,bus=scsi.0",
    "-device", "AC97,audiodev=a0",
    "-netdev", "user,id=n4", "-device", "pcnet,netdev=n4",
    "-device", "megasas",
];

/// A Q35 VM as libvirt lays it out: devices behind PCI Express root ports (QEMU's
/// generic ones, an ioh3420, a switch), among them every virtio device of the
/// hand-written mirrors (then PCI Express functions), USB 3 with libvirt's 15 + 15
/// ports, a display, HD audio and a serial port.
#[rustfmt::skip]
const LIBVIRT_Q35_DEVICES: &[&str] = &[
    "-device", "pcie-root-port,id=rp1,chassis=1,port=0x10,bus=pcie.0,multifunction=on,addr=0x2",
    "-device", "pcie-root-port,id=rp2,chassis=2,port=0x11,bus=pcie.0,addr=0x2.0x1",
    "-device", "pcie-root-port,id=rp3,chassis=3,port=0x12,bus=pcie.0,addr=0x2.0x2",
    "-device", "pcie-root-port,id=rp4,chassis=4,port=0x13,bus=pcie.0,addr=0x2.0x3",
    "-device", "pcie-root-port,id=rp6,chassis=7,port=0x14,bus=pcie.0,addr=0x2.0x4",
    "-device", "pcie-root-port,id=rp7,chassis=8,port=0x15,bus=pcie.0,addr=0x2.0x5",
    "-device", "pcie-root-port,id=rp8,chassis=9,port=0x16,bus=pcie.0,addr=0x2.0x6",
    "-device", "pcie-root-port,id=rp9,chassis=10,port=0x17,bus=pcie.0,addr=0x2.0x7",
    "-device", "ioh3420,id=rp5,chassis=5,bus=pcie.0,addr=0x3",
    "-device", "x3130-upstream,id=up,bus=rp4",
    "-device", "xio3130-downstream,id=dn,bus=up,chassis=6",
    "-netdev", "user,id=n0", "-device", "e1000e,netdev=n0,bus=rp2",
    "-device", "qemu-xhci,id=xhci,p2=15,p3=15,bus=rp1",
    // virtio behind root ports: PCI Express functions (4096-byte config).
    "-netdev", "user,id=n1", "-device", "virtio-net-pci,netdev=n1,bus=rp3",
    "-blockdev", "driver=null-co,node-name=d0,size=1048576",
    "-device", "virtio-blk-pci,drive=d0,bus=rp6",
    "-device", "virtio-serial-pci,bus=rp7",
    "-device", "virtio-balloon-pci,bus=rp8",
    "-device", "virtio-rng-pci,bus=dn",
    "-device", "pcie-root-port,id=rp10,chassis=11,port=0x18,bus=pcie.0,multifunction=on,addr=0x4",
    "-device", "pcie-root-port,id=rp11,chassis=12,port=0x19,bus=pcie.0,addr=0x4.0x1",
    "-device", "pcie-pci-bridge,id=ppb,bus=rp10",
    "-netdev", "user,id=n3", "-device", "e1000,netdev=n3,bus=ppb,addr=0x1",
    "-device", "virtio-scsi-pci,id=scsi,bus=rp11",
    "-blockdev", "driver=null-co,node-name=s0,size=1048576",
    "-device", "scsi-hd,drive=s0,bus=scsi.0",
    "-device", "scsi-cd,bus=scsi.0",
    "-device", "usb-kbd,bus=xhci.0",
    "-device", "megasas-gen2,bus=rp9",
    "-device", "virtio-tablet-pci,bus=pcie.0,addr=0x5",
    "-device", "virtio-net-pci,netdev=n2,bus=rp5", "-netdev", "user,id=n2",
    "-device", "usb-tablet,bus=xhci.0",
    "-device", "VGA,bus=pcie.0",
    "-audiodev", "none,id=a0",
    "-device", "ich9-intel-hda,bus=pcie.0", "-device", "hda-duplex,audiodev=a0",
    "-chardev", "null,id=s0", "-device", "isa-serial,chardev=s0",
];

/// A guest whose ACPI hotplug state is not the reset state: CPU hotplug switched to
/// the modern interface (the write `_INI` of QEMU's DSDT makes at boot: 0 to the
/// legacy CPU hotplug port, `port`), room for 4 vCPUs, 2 memory hotplug slots.
const fn hotplug(
    stream: &'static str,
    machine: &'static str,
    port: &'static [&'static str],
) -> Guest {
    Guest {
        max_cpus: 4,
        memory_slots: 2,
        hmp: port,
        mem_mb: 64,
        ..small(stream, machine)
    }
}

/// The display adapters beside the catalog's `VGA` and `bochs-display`: QXL (as
/// the VGA device, without a SPICE server), Cirrus, VMware SVGA and the standalone
/// RAM framebuffer (whose state QEMU 10.0 migrates and 7.2 does not).
#[rustfmt::skip]
const DISPLAY_DEVICES: &[&str] = &[
    "-device", "qxl-vga",
    "-device", "cirrus-vga",
    "-device", "vmware-svga",
    "-device", "ramfb",
];

/// The VMware paravirtual devices a VM imported from VMware keeps: vmxnet3 (on
/// Q35 a PCI Express function wherever it sits) and the PVSCSI controller with a
/// disk.
#[rustfmt::skip]
const VMWARE_DEVICES: &[&str] = &[
    "-netdev", "user,id=n0", "-device", "vmxnet3,netdev=n0",
    "-device", "pvscsi,id=pv",
    "-blockdev", "driver=null-co,node-name=d0,size=1048576",
    "-device", "scsi-hd,drive=d0,bus=pv.0",
];

/// Memory a virtio-mem device can plug (128 MiB in 2 MiB blocks, 64 MiB
/// requested: SeaBIOS has no driver, so none is plugged), one behind a PCIe
/// root port as libvirt places it.
#[rustfmt::skip]
const VIRTIO_MEM_DEVICES: &[&str] = &[
    "-object", "memory-backend-ram,id=vmem0,size=128M",
    "-device", "pcie-root-port,id=rp1,chassis=1,bus=pcie.0",
    "-device", "virtio-mem-pci,id=vm0,memdev=vmem0,block-size=2M,requested-size=64M,bus=rp1",
];

/// `devices` with room to plug memory (`maxmem`).
const fn with_device_memory(
    stream: &'static str,
    machine: &'static str,
    devices: &'static [&'static str],
) -> Guest {
    Guest {
        memory_slots: 1,
        ..with_devices(stream, machine, devices)
    }
}

/// USB redirection as libvirt sets it up for a SPICE display: two `usb-redir`
/// devices on SPICE's `usbredir` channels, on an xHCI controller (no client
/// connected: SPICE listens on no port).
#[rustfmt::skip]
const USB_REDIR_DEVICES: &[&str] = &[
    "-spice", "port=0,disable-ticketing=on",
    "-device", "qemu-xhci,id=usb,p2=15,p3=15",
    "-chardev", "spicevmc,id=charredir0,name=usbredir",
    "-device", "usb-redir,chardev=charredir0,id=redir0,bus=usb.0,port=2",
    "-chardev", "spicevmc,id=charredir1,name=usbredir",
    "-device", "usb-redir,chardev=charredir1,id=redir1,bus=usb.0,port=3",
];

/// An SD card (a 1 MiB null disk) in a PCI SD host controller.
#[rustfmt::skip]
const SD_CARD_DEVICES: &[&str] = &[
    "-device", "sdhci-pci,id=sdhci",
    "-blockdev", "driver=null-co,node-name=sd0,size=1048576",
    "-device", "sd-card,drive=sd0,bus=sd-bus",
];

/// A BMC simulator behind a PCI KCS interface, and a CTU CAN FD card (both of
/// its cores) on a software CAN bus.
#[rustfmt::skip]
const IPMI_CAN_DEVICES: &[&str] = &[
    "-device", "ipmi-bmc-sim,id=bmc0",
    "-device", "pci-ipmi-kcs,bmc=bmc0",
    "-object", "can-bus,id=can1",
    "-device", "ctucan_pci,canbus0=can1,canbus1=can1",
];

/// A disk a vhost-user back-end serves (`qemu-storage-daemon`, started for each
/// QEMU by `Qemu::start_release`), which needs the guest's RAM shared with it:
/// a memfd backend as the NUMA node's memory (the RAM block `mem`).
#[rustfmt::skip]
const VHOST_USER_BLK_DEVICES: &[&str] = &[
    "-object", "memory-backend-memfd,id=mem,size=64M,share=on",
    "-numa", "node,memdev=mem",
    "-chardev", "socket,id=vub,path=@VHOST_USER_BLK_SOCKET@",
    "-device", "vhost-user-blk-pci,chardev=vub",
];

/// Host directories shared over 9P, as libvirt's `<filesystem>` does: one
/// virtio-9p function on the root bus (conventional PCI), one behind a PCIe root
/// port (PCI Express); the guest has not mounted them, or QEMU would refuse to
/// migrate.
#[rustfmt::skip]
const NINE_P_DEVICES: &[&str] = &[
    "-fsdev", "local,id=fs0,path=/usr/share/doc,security_model=none,readonly=on",
    "-device", "virtio-9p-pci,fsdev=fs0,mount_tag=doc",
    "-device", "pcie-root-port,id=rp1,chassis=1,bus=pcie.0",
    "-fsdev", "local,id=fs1,path=/usr/share/doc,security_model=none,readonly=on",
    "-device", "virtio-9p-pci,fsdev=fs1,mount_tag=doc2,bus=rp1",
];

/// virtio GPUs: `virtio-vga` (the VGA device, so with the VGA state too) and a
/// second output as `virtio-gpu-pci` behind a PCIe root port.
#[rustfmt::skip]
const VIRTIO_GPU_DEVICES: &[&str] = &[
    "-device", "virtio-vga",
    "-device", "pcie-root-port,id=rp1,chassis=1,bus=pcie.0",
    "-device", "virtio-gpu-pci,bus=rp1",
];

/// The paravirtual IOMMU, on the Q35's root bus.
#[rustfmt::skip]
const VIRTIO_IOMMU_DEVICES: &[&str] = &["-device", "virtio-iommu-pci"];

/// The ESP SCSI controllers (am53c974, dc390), whose state QEMU 10.0 reads
/// otherwise than 7.2 wrote it. Without disks: QEMU 10.0's SeaBIOS leaves a
/// request to a disk on the am53c974 in flight, whose bytes the typed mirror of
/// SCSI requests does not read (the generic path carries them).
#[rustfmt::skip]
const ESP_DEVICES: &[&str] = &[
    "-device", "am53c974",
    "-device", "dc390",
];

/// A UEFI guest as libvirt starts one: Debian's OVMF in the two system flash
/// devices (code read-only, variables in a throw-away overlay so that the file
/// stays as installed), and an SD host controller.
#[rustfmt::skip]
const UEFI_DEVICES: &[&str] = &[
    "-drive", "if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd",
    "-drive", "if=pflash,format=raw,unit=1,snapshot=on,file=/usr/share/OVMF/OVMF_VARS_4M.fd",
    "-device", "sdhci-pci",
];

/// The UEFI guest of `machine`, under TCG: KVM here (`kvm_pvm`) stops OVMF with an
/// internal error at its first flash access.
const fn uefi(stream: &'static str, machine: &'static str) -> Guest {
    Guest {
        accel: "tcg",
        run_seconds: 2.0,
        ..with_devices(stream, machine, UEFI_DEVICES)
    }
}

/// Devices QEMU 10.0 has and 7.2 does not, whose mirrors the catalog generates.
#[rustfmt::skip]
const NEW_IN_10_0_DEVICES: &[&str] = &[
    "-device", "pcie-root-port,id=rp1,chassis=1,bus=pcie.0",
    "-netdev", "user,id=n0", "-device", "igb,netdev=n0,bus=rp1",
];

/// `devices` in a small KVM guest of `machine` with 64 MiB.
const fn with_devices(
    stream: &'static str,
    machine: &'static str,
    devices: &'static [&'static str],
) -> Guest {
    Guest {
        devices,
        mem_mb: 64,
        ..small(stream, machine)
    }
}

/// SeaBIOS for 2 s with a serial port, as QEMU 7.2's `pc-kvm-bios.mig`.
const fn kvm_bios(stream: &'static str, machine: &'static str) -> Guest {
    Guest {
        run_seconds: 2.0,
        devices: &["-device", "isa-serial,chardev=s0", "-chardev", "null,id=s0"],
        ..small(stream, machine)
    }
}

/// The device sets and capabilities both releases capture, on `$r`'s machine
/// types, then the release's own guests: one list, not one per release.
macro_rules! guests {
    ($r:literal, [$($own:expr),* $(,)?]) => {
        &[
            with_devices(concat!("pc-i440fx-", $r, "-catalog.mig"), concat!("pc-i440fx-", $r), CATALOG_DEVICES),
            with_devices(concat!("pc-q35-", $r, "-libvirt.mig"), concat!("pc-q35-", $r), LIBVIRT_Q35_DEVICES),
            with_devices(concat!("pc-i440fx-", $r, "-displays.mig"), concat!("pc-i440fx-", $r), DISPLAY_DEVICES),
            uefi(concat!("pc-q35-", $r, "-uefi.mig"), concat!("pc-q35-", $r)),
            with_devices(concat!("pc-i440fx-", $r, "-vmware.mig"), concat!("pc-i440fx-", $r), VMWARE_DEVICES),
            with_devices(concat!("pc-q35-", $r, "-vmware.mig"), concat!("pc-q35-", $r), VMWARE_DEVICES),
            with_devices(concat!("pc-q35-", $r, "-9p.mig"), concat!("pc-q35-", $r), NINE_P_DEVICES),
            with_devices(concat!("pc-i440fx-", $r, "-esp.mig"), concat!("pc-i440fx-", $r), ESP_DEVICES),
            with_devices(concat!("pc-q35-", $r, "-virtio-gpu.mig"), concat!("pc-q35-", $r), VIRTIO_GPU_DEVICES),
            with_devices(concat!("pc-q35-", $r, "-virtio-iommu.mig"), concat!("pc-q35-", $r), VIRTIO_IOMMU_DEVICES),
            with_devices(concat!("pc-q35-", $r, "-usb-redir.mig"), concat!("pc-q35-", $r), USB_REDIR_DEVICES),
            with_devices(concat!("pc-i440fx-", $r, "-sd-card.mig"), concat!("pc-i440fx-", $r), SD_CARD_DEVICES),
            with_devices(concat!("pc-i440fx-", $r, "-ipmi-can.mig"), concat!("pc-i440fx-", $r), IPMI_CAN_DEVICES),
            with_devices(concat!("pc-q35-", $r, "-vhost-user-blk.mig"), concat!("pc-q35-", $r), VHOST_USER_BLK_DEVICES),
            with_device_memory(concat!("pc-q35-", $r, "-virtio-mem.mig"), concat!("pc-q35-", $r), VIRTIO_MEM_DEVICES),
            hotplug(concat!("pc-i440fx-", $r, "-hotplug.mig"), concat!("pc-i440fx-", $r), &["o /b 0xaf00 0"]),
            hotplug(concat!("pc-q35-", $r, "-hotplug.mig"), concat!("pc-q35-", $r), &["o /b 0xcd8 0"]),
            with_capability(concat!("pc-i440fx-", $r, "-xbzrle.mig"), concat!("pc-i440fx-", $r), "xbzrle"),
            with_capability(concat!("pc-i440fx-", $r, "-ignore-shared.mig"), concat!("pc-i440fx-", $r), "x-ignore-shared"),
            with_capability(concat!("pc-i440fx-", $r, "-multifd.mig"), concat!("pc-i440fx-", $r), "multifd"),
            with_capability(concat!("pc-i440fx-", $r, "-postcopy.mig"), concat!("pc-i440fx-", $r), "postcopy-ram"),
            suppressed(concat!("pc-i440fx-", $r, "-suppress-vmdesc.mig"), concat!("pc-i440fx-", $r)),
            $($own),*
        ]
    };
}

const QEMU_7_2: &[Guest] = guests!(
    "7.2",
    [
        with_capability("pc-i440fx-7.2-compress.mig", "pc-i440fx-7.2", "compress"),
        Guest {
            compression: Some("zlib"),
            ..with_capability("pc-i440fx-7.2-multifd-zlib.mig", "pc-i440fx-7.2", "multifd")
        },
        with_capability(
            "pc-i440fx-7.2-return-path.mig",
            "pc-i440fx-7.2",
            "return-path",
        ),
    ]
);

/// The NICs have user-mode networking behind them, the disk is a null block device,
/// audio goes nowhere and the serial port to a null chardev: the guests need nothing
/// from the host.
const QEMU_10_0: &[Guest] = guests!(
    "10.0",
    [
        // The host-side UEFI variable store (new in 10.0), not yet used by the
        // firmware: its lists empty.
        with_devices(
            "pc-q35-10.0-uefi-vars.mig",
            "pc-q35-10.0",
            &["-device", "uefi-vars-x64"]
        ),
        with_devices(
            "pc-q35-10.0-new-devices.mig",
            "pc-q35-10.0",
            NEW_IN_10_0_DEVICES,
        ),
        Guest {
            stream: "pc-i440fx-10.0-tcg-devices.mig",
            machine: "pc-i440fx-10.0",
            accel: "tcg",
            mem_mb: 32,
            smp: 2,
            run_seconds: 1.0,
            devices: I440FX_10_0_DEVICES,
            capability: None,
            compression: None,
            max_cpus: 0,
            memory_slots: 0,
            hmp: &[],
        },
        Guest {
            stream: "pc-q35-10.0-kvm-devices.mig",
            machine: "pc-q35-10.0",
            accel: "kvm",
            mem_mb: 32,
            smp: 2,
            run_seconds: 1.0,
            devices: &[
                "-netdev",
                "user,id=n0",
                "-device",
                "e1000e,netdev=n0",
                "-netdev",
                "user,id=n1",
                "-device",
                "virtio-net-pci,netdev=n1",
                "-device",
                "qemu-xhci,id=xhci",
                "-device",
                "usb-tablet,bus=xhci.0",
                "-device",
                "ich9-usb-ehci1",
                "-drive",
                "if=none,id=d1,driver=null-co,size=1048576",
                "-device",
                "ide-hd,drive=d1,bus=ide.0",
                "-device",
                "virtio-rng-pci",
                "-device",
                "isa-serial,chardev=s0",
                "-chardev",
                "null,id=s0",
            ],
            capability: None,
            compression: None,
            max_cpus: 0,
            memory_slots: 0,
            hmp: &[],
        },
        // virtio-mem's state in the device section, after RAM, as machine types
        // before 8.1 have it (`x-early-migration=off`), not in an early section.
        with_device_memory(
            "pc-q35-7.2-virtio-mem-by-10.0.mig",
            "pc-q35-7.2",
            VIRTIO_MEM_DEVICES
        ),
        // As QEMU 7.2's pc-kvm-bios.mig, for the cross-release comparison.
        kvm_bios("pc-i440fx-7.2-kvm-bios.mig", "pc-i440fx-7.2"),
        // The same guest on 10.0's own machine type.
        kvm_bios("pc-i440fx-10.0-kvm-bios.mig", "pc-i440fx-10.0"),
        Guest {
            compression: Some("zstd"),
            ..with_capability(
                "pc-i440fx-10.0-multifd-zstd.mig",
                "pc-i440fx-10.0",
                "multifd",
            )
        },
        with_capability(
            "pc-i440fx-10.0-switchover-ack.mig",
            "pc-i440fx-10.0",
            "return-path,switchover-ack",
        ),
        with_capability(
            "pc-i440fx-10.0-mapped-ram.mig",
            "pc-i440fx-10.0",
            "mapped-ram",
        ),
        with_capability(
            "pc-i440fx-10.0-mapped-ram-multifd.mig",
            "pc-i440fx-10.0",
            "mapped-ram,multifd",
        ),
    ]
);

const DUMPS_10_0: &[&str] = &["pc-i440fx-7.2", "pc-i440fx-10.0"];

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn capture(release: Release, g: &Guest, out: &Path) -> serde_json::Value {
    let mem = g.mem_mb << 20;
    let smp = match g.max_cpus {
        0 => g.smp.to_string(),
        max => format!("{},maxcpus={max}", g.smp),
    };
    let m = match g.memory_slots {
        0 => g.mem_mb.to_string(),
        slots => format!("{},slots={slots},maxmem=1G", g.mem_mb),
    };
    let mut args = vec![
        "-M", g.machine, "-accel", g.accel, "-cpu", "qemu64", "-smp", &smp,
    ];
    args.extend(g.devices);
    let mut all = args.clone();
    all.extend(["-m", &m]);
    let kernel = out.join("capture.kernel");
    let kernel_arg = kernel.to_str().unwrap().to_owned();
    let capabilities: Vec<&str> = g.capability.map_or(vec![], |c| c.split(',').collect());
    // Pages go again while the guest writes: as XBZRLE deltas, or in their place
    // in a mapped-ram file.
    let postcopy = capabilities.contains(&"postcopy-ram");
    let writing = capabilities
        .iter()
        .any(|c| ["xbzrle", "mapped-ram", "postcopy-ram"].contains(c));
    if writing {
        let top = FIRST as u32 + HOT_PAGES * 4096;
        std::fs::write(&kernel, kernel_writing(top, top)).expect("writes the kernel");
        args.extend(["-kernel", &kernel_arg]);
        all.extend(["-kernel", &kernel_arg]);
    }
    let mut q = Qemu::start_release(release, out, "capture", &all)
        .unwrap_or_else(|e| panic!("{}: {e}", g.stream));
    std::thread::sleep(Duration::from_secs_f64(g.run_seconds));
    for command in g.hmp {
        q.hmp(command)
            .unwrap_or_else(|e| panic!("{}: {command}: {e}", g.stream));
    }
    let file = out.join(g.stream);
    // mapped-ram writes pages at their offsets: a file, not a pipe; multifd
    // otherwise opens a connection for each channel.
    let mapped = capabilities.contains(&"mapped-ram");
    let kept = (!mapped && capabilities.contains(&"multifd")).then(|| Kept::listen(CHANNELS));
    // A return path needs a destination that answers: a QEMU behind a proxy
    // that keeps what the source sends.
    let answered = capabilities
        .iter()
        .any(|c| ["return-path", "switchover-ack", "postcopy-ram"].contains(c));
    let destination = answered.then(|| Destination::start(release, out, &all, &capabilities));
    let uri = match (&kept, &destination) {
        _ if mapped => format!("file:{}", file.display()),
        (Some(k), _) => k.uri.clone(),
        (_, Some(d)) => d.uri.clone(),
        _ => format!("exec:cat > {}", file.display()),
    };
    std::fs::remove_file(&file).ok();
    let ram = out.join("capture.ram");
    let pmemsave = |q: &mut Qemu| {
        q.execute(
            "pmemsave",
            json!({ "val": 0, "size": mem, "filename": ram.to_str().unwrap() }),
        )
        .expect("pmemsave")
    };
    let reply = match g.capability {
        None => {
            q.execute("stop", json!({})).expect("stop");
            pmemsave(&mut q);
            q.migrate_to_file(&file).expect("migrates")
        }
        // Switched to postcopy once pre-copy moved some RAM, the guest writing:
        // the source's RAM once it completed is what the stream gives.
        Some(_) if postcopy => {
            wait_hot_pages(&mut q);
            // 1 MiB/s: the switch comes in the middle of the first pass,
            // whatever the guest writes.
            let slow = json!({ "max-bandwidth": 1 << 20 });
            q.set_migration(&capabilities, &slow).expect("postcopy");
            q.execute("migrate", json!({ "uri": uri }))
                .expect("migrates");
            let deadline = std::time::Instant::now() + Duration::from_secs(30);
            loop {
                let r = q
                    .execute("query-migrate", json!({}))
                    .expect("query-migrate");
                if r["ram"]["transferred"]
                    .as_u64()
                    .is_some_and(|n| n > 512 << 10)
                {
                    break;
                }
                assert!(std::time::Instant::now() < deadline, "no RAM moved: {r}");
                std::thread::sleep(Duration::from_millis(20));
            }
            q.execute("migrate-start-postcopy", json!({}))
                .expect("switches");
            let (status, reply) = q.wait_migration().expect("completes");
            assert_eq!(status, "completed", "{reply}");
            let postcopied = reply["ram"]["postcopy-bytes"].as_u64().unwrap_or(0);
            assert!(postcopied > 0, "it completed before the switch: {reply}");
            pmemsave(&mut q);
            reply
        }
        // The guest ran during the migration: its RAM once the migration
        // completed (the source is paused then) is the stream's.
        Some(_) if writing => {
            wait_hot_pages(&mut q);
            let mut parameters = json!({ "max-bandwidth": 8 << 20 });
            if capabilities.contains(&"multifd") {
                parameters["multifd-channels"] = json!(CHANNELS);
            }
            let reply = q
                .migrate_with(&uri, &capabilities, parameters)
                .expect("migrates");
            pmemsave(&mut q);
            reply
        }
        Some(_) => {
            q.execute("stop", json!({})).expect("stop");
            pmemsave(&mut q);
            let parameters = match (&kept, g.compression) {
                (Some(_), Some(c)) => {
                    json!({ "multifd-channels": CHANNELS, "multifd-compression": c })
                }
                (Some(_), None) => json!({ "multifd-channels": CHANNELS }),
                (None, _) => json!({}),
            };
            q.migrate_with(&uri, &capabilities, parameters)
                .expect("migrates")
        }
    };
    let channels = kept.map_or(vec![], |k| k.save(&file));
    if let Some(d) = destination {
        d.save(&file);
    }
    // QEMU sends no vmdesc in postcopy, nor with suppress-vmdesc: a save of the
    // same VM, with one, describes it.
    let suppressed = g.devices.contains(&SUPPRESS_VMDESC);
    let described = (postcopy || suppressed).then(|| {
        let name = format!("{}.described", g.stream);
        let mut args: Vec<&str> = all.clone();
        if let Some(i) = args.iter().position(|a| *a == SUPPRESS_VMDESC) {
            args.drain(i - 1..=i);
        }
        args.push("-S");
        let mut q = Qemu::start_release(release, out, "described", &args).expect("starts");
        q.migrate_to_file(&out.join(&name)).expect("saves");
        name
    });
    std::fs::remove_file(&kernel).ok();
    let bytes = std::fs::read(&ram).expect("pmemsave wrote");
    std::fs::remove_file(&ram).ok();
    let ranges = [(0u64, 0xA_0000u64), (0x10_0000, mem)];
    // The guest's RAM block: `pc.ram`, or its NUMA node's memory backend.
    let ram_block = g
        .devices
        .iter()
        .find_map(|a| a.strip_prefix("node,memdev="))
        .unwrap_or("pc.ram");
    println!(
        "{}: {}, {} passes, xbzrle: {}",
        g.stream, reply["status"], reply["ram"]["dirty-sync-count"], reply["xbzrle-cache"]
    );
    json!({
        "stream": g.stream,
        "status": reply["status"],
        "qemu": release.version(),
        "qemu_args": args,
        "mem_mb": g.mem_mb,
        "memory_slots": g.memory_slots,
        "run_seconds": g.run_seconds,
        "capability": g.capability,
        "compression": g.compression,
        "channels": channels,
        "described_by": described,
        "ram_block": ram_block,
        "ram_ranges_sha256": ranges.iter().map(|&(start, end)| json!({
            "start": start,
            "end": end,
            "sha256": sha256(&bytes[start as usize..end as usize]),
        })).collect::<Vec<_>>(),
    })
}

/// The `-machine` option of a guest saved without its vmdesc trailer.
const SUPPRESS_VMDESC: &str = "suppress-vmdesc=on";

/// A guest of `machine` (SeaBIOS, stopped) saved without its vmdesc trailer.
const fn suppressed(stream: &'static str, machine: &'static str) -> Guest {
    Guest {
        devices: &["-machine", SUPPRESS_VMDESC],
        ..small(stream, machine)
    }
}

/// Waits until the counter guest wrote its hot pages (each page's first word its
/// address).
fn wait_hot_pages(q: &mut Qemu) {
    let last = FIRST + u64::from(HOT_PAGES - 1) * 4096;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while q.read_u32(last).expect("reads guest memory") != last as u32 {
        assert!(
            std::time::Instant::now() < deadline,
            "the guest did not run"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A destination QEMU (paused, `-incoming defer` with the capabilities) behind
/// a proxy that passes both directions and keeps what the source sends.
struct Destination {
    uri: String,
    qemu: Qemu,
    kept: std::thread::JoinHandle<Vec<u8>>,
}

impl Destination {
    fn start(release: Release, out: &Path, args: &[&str], capabilities: &[&str]) -> Destination {
        use std::net::{Shutdown, TcpListener, TcpStream};
        let args = [args, &["-S", "-incoming", "defer"]].concat();
        let mut qemu = Qemu::start_release(release, out, "destination", &args).expect("starts");
        qemu.set_migration(capabilities, &json!({}))
            .expect("capabilities");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a port")
            .port();
        qemu.execute(
            "migrate-incoming",
            json!({ "uri": format!("tcp:127.0.0.1:{port}") }),
        )
        .expect("listens");
        let proxy = TcpListener::bind("127.0.0.1:0").expect("listens");
        let uri = format!("tcp:{}", proxy.local_addr().expect("an address"));
        let kept = std::thread::spawn(move || {
            let (mut src, _) = proxy.accept().expect("the source");
            let mut dst = TcpStream::connect(("127.0.0.1", port)).expect("the destination");
            let (mut back_from, mut back_to) = (
                dst.try_clone().expect("a handle"),
                src.try_clone().expect("a handle"),
            );
            // The destination's answers (the return path), back as they come.
            let back = std::thread::spawn(move || {
                let _ = std::io::copy(&mut back_from, &mut back_to);
                let _ = back_to.shutdown(Shutdown::Write);
            });
            let mut kept = Vec::new();
            let mut buf = vec![0u8; 1 << 16];
            loop {
                match src.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        kept.extend_from_slice(&buf[..n]);
                        if std::io::Write::write_all(&mut dst, &buf[..n]).is_err() {
                            break;
                        }
                    }
                }
            }
            let _ = dst.shutdown(Shutdown::Write);
            let _ = back.join();
            kept
        });
        Destination { uri, qemu, kept }
    }

    /// Waits for the destination to complete, then writes what the source sent.
    fn save(mut self, file: &Path) {
        let (status, reply) = self.qemu.wait_migration().expect("the destination");
        assert_eq!(status, "completed", "destination: {reply}");
        drop(self.qemu);
        let kept = self.kept.join().expect("the proxy");
        std::fs::write(file, kept).expect("writes the stream");
    }
}

/// The multifd channels of a multifd capture.
const CHANNELS: usize = 2;

/// A listener that keeps what each connection of a multifd migration sends.
struct Kept {
    uri: String,
    connections: std::thread::JoinHandle<Vec<Vec<u8>>>,
}

impl Kept {
    /// Listens on a loopback port for the main channel and `channels` more.
    fn listen(channels: usize) -> Kept {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listens");
        let uri = format!("tcp:{}", listener.local_addr().expect("an address"));
        let connections = std::thread::spawn(move || {
            let readers: Vec<_> = (0..=channels)
                .map(|_| {
                    let (mut c, _) = listener.accept().expect("a connection");
                    std::thread::spawn(move || {
                        let mut bytes = Vec::new();
                        c.read_to_end(&mut bytes).expect("reads a connection");
                        bytes
                    })
                })
                .collect();
            readers.into_iter().map(|r| r.join().unwrap()).collect()
        });
        Kept { uri, connections }
    }

    /// Writes the main channel to `file` and each channel beside it,
    /// `.channelN` added for the channel whose `MultiFDInit_t` says `N`; returns
    /// the channels' file names.
    fn save(self, file: &Path) -> Vec<String> {
        let mut all = self.connections.join().expect("the connections");
        all.sort_by_key(|c| (!c.starts_with(b"QEVM"), c.get(24).copied()));
        std::fs::write(file, &all[0]).expect("writes the main channel");
        all[1..]
            .iter()
            .map(|c| {
                let name = format!("{}.channel{}", file.display(), c[24]);
                std::fs::write(&name, c).expect("writes a channel");
                Path::new(&name)
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect()
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [version, out, only @ ..] = args.as_slice() else {
        eprintln!("usage: capture-fixtures 10.0 OUT_DIR [STREAM...]");
        std::process::exit(2);
    };
    let (release, guests, dumps) = match version.as_str() {
        "10.0" => (Release::Qemu10_0, QEMU_10_0, DUMPS_10_0),
        "7.2" => (Release::Qemu7_2, QEMU_7_2, &[][..]),
        other => {
            eprintln!("no fixture list for QEMU {other}");
            std::process::exit(2);
        }
    };
    assert!(release.available(), "QEMU {version} does not run here");
    let out = Path::new(out);
    std::fs::create_dir_all(out).expect("creates the folder");
    let chosen: Vec<&Guest> = guests
        .iter()
        .filter(|g| only.is_empty() || only.iter().any(|n| n == g.stream))
        .collect();
    let text = std::fs::read_to_string(out.join("manifest.json")).unwrap_or("[]".into());
    let old: Vec<serde_json::Value> = serde_json::from_str(&text).expect("manifest JSON");
    let kept: Vec<serde_json::Value> = old
        .into_iter()
        .filter(|e| !chosen.iter().any(|g| e["stream"] == g.stream))
        .collect();
    let captured: Vec<_> = chosen
        .into_iter()
        .map(|g| capture(release, g, out))
        .collect();
    let manifest: Vec<_> = kept.into_iter().chain(captured).collect();
    std::fs::write(
        out.join("manifest.json"),
        serde_json::to_string_pretty(&manifest).unwrap() + "\n",
    )
    .expect("writes the manifest");
    for machine in dumps.iter().filter(|_| only.is_empty()) {
        let file = out.join(format!("{machine}.vmstate.json"));
        let status = release
            .command()
            .args([
                "-M",
                machine,
                "-nodefaults",
                "-display",
                "none",
                "-dump-vmstate",
            ])
            .arg(&file)
            .status()
            .expect("runs QEMU");
        assert!(status.success(), "-dump-vmstate of {machine}");
    }
}
