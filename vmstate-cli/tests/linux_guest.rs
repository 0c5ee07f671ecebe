//! Devices in the state a driver leaves them: a Linux guest (Debian's generic
//! kernel and a busybox initramfs, built by `scripts/linux-guest.sh`) boots on a
//! libvirt-like Q35 VM and an i440FX VM of each QEMU release, loads the drivers of every device,
//! brings them up (DHCP on two NICs, four disks read, USB tablet, keyboard and
//! storage, HD audio, the displays' DRM drivers: bochs for the VGA, virtio-gpu for a second output) and keeps them busy; stopped
//! there and saved, its stream is typed whole by `vmstate verify` (every section
//! loads into its mirror and saves back to its bytes) and loaded by the same
//! release's QEMU.
//!
//! The guest runs under TCG: this machine's KVM is `kvm_pvm` (shadow paging, no
//! VMX or EPT), under which Linux's early boot writes (the decompressor, the BSS
//! clear) fault page by page, at about 2.5 MB/s (docs/KVM.md).
//!
//! `scripts/test.sh` builds the guest and sets `VMSTATE_LINUX_GUEST` and
//! `VMSTATE_REQUIRE_QEMU=1`; a plain `cargo test` without them skips with a note.

mod common;

use common::{tmp, Scratch};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};
use vmstate_test_support::qmp::{Qemu, Release};

/// The guest's `vmlinux` and `initrd.gz`, from `VMSTATE_LINUX_GUEST`.
fn guest() -> Option<PathBuf> {
    let dir = std::env::var_os("VMSTATE_LINUX_GUEST").map(PathBuf::from);
    match dir.filter(|d| d.join("vmlinux").exists() && d.join("initrd.gz").exists()) {
        Some(d) => Some(d),
        None if std::env::var_os("VMSTATE_REQUIRE_QEMU").is_some() => {
            panic!("VMSTATE_LINUX_GUEST names no guest: bash scripts/linux-guest.sh builds it")
        }
        None => {
            eprintln!(
                "skipped: no Linux guest (VMSTATE_LINUX_GUEST=$(bash scripts/linux-guest.sh))"
            );
            None
        }
    }
}

/// The devices of the Q35 VM, as libvirt lays it out: behind PCI Express root
/// ports.
#[rustfmt::skip]
const Q35_DEVICES: &[&str] = &[
    "-device", "pcie-root-port,id=rp1,chassis=1,bus=pcie.0,addr=0x2",
    "-device", "pcie-root-port,id=rp2,chassis=2,bus=pcie.0,addr=0x3",
    "-device", "pcie-root-port,id=rp3,chassis=3,bus=pcie.0,addr=0x4",
    "-device", "pcie-root-port,id=rp4,chassis=4,bus=pcie.0,addr=0x5",
    "-device", "pcie-root-port,id=rp5,chassis=5,bus=pcie.0,addr=0x6",
    "-device", "pcie-root-port,id=rp6,chassis=6,bus=pcie.0,addr=0x7",
    "-netdev", "user,id=n0", "-device", "virtio-net-pci,netdev=n0,bus=rp1",
    "-netdev", "user,id=n1", "-device", "e1000e,netdev=n1,bus=rp2",
    "-blockdev", "driver=null-co,node-name=d0,size=16777216,read-zeroes=on",
    "-device", "virtio-blk-pci,drive=d0,bus=rp3",
    "-device", "virtio-scsi-pci,id=scsi,bus=rp4",
    "-blockdev", "driver=null-co,node-name=d1,size=16777216,read-zeroes=on",
    "-device", "scsi-hd,drive=d1,bus=scsi.0",
    "-device", "qemu-xhci,id=xhci,p2=15,p3=15,bus=rp5",
    "-device", "usb-tablet,bus=xhci.0",
    "-device", "usb-kbd,bus=xhci.0",
    "-blockdev", "driver=null-co,node-name=d3,size=16777216,read-zeroes=on",
    "-device", "ide-hd,drive=d3,bus=ide.0",
    "-audiodev", "none,id=a0",
    "-device", "ich9-intel-hda", "-device", "hda-duplex,audiodev=a0",
    "-device", "VGA",
    "-device", "virtio-gpu-pci,bus=rp6",
    "-device", "virtio-balloon-pci",
    "-device", "virtio-rng-pci",
    "-device", "virtio-serial-pci",
];

/// The same devices on the i440FX's conventional PCI bus: no root ports, the
/// ICH6 HD audio controller for the ICH9's (its PIIX IDE takes the third disk).
fn on_i440fx(q35: &[&'static str]) -> Vec<String> {
    let mut out = Vec::new();
    for pair in q35.chunks(2) {
        let [flag, value] = pair else {
            unreachable!("flag and value pairs")
        };
        if value.starts_with("pcie-root-port") {
            continue;
        }
        let value = match value.split_once(",bus=rp") {
            Some((device, _)) => device.to_owned(),
            None if *value == "ich9-intel-hda" => "intel-hda".to_owned(),
            None => (*value).to_owned(),
        };
        out.extend([(*flag).to_owned(), value]);
    }
    out
}

#[test]
fn a_booted_linux_guest_with_its_drivers_running_is_typed_whole() {
    let Some(guest) = guest() else { return };
    let q35: Vec<String> = Q35_DEVICES.iter().map(|a| (*a).to_owned()).collect();
    let families = [("pc-q35", q35), ("pc-i440fx", on_i440fx(Q35_DEVICES))];
    for (release, (family, devices)) in Release::ALL
        .into_iter()
        .flat_map(|r| families.iter().map(move |f| (r, f)))
    {
        if !release.available() {
            continue;
        }
        let name = format!("linux-{family}-{}", release.version());
        let dir = tmp(&name);
        let _scratch_dir = Scratch(vec![dir.clone()]);
        std::fs::create_dir_all(&dir).unwrap();
        let serial = dir.join("serial.txt");
        let _ = std::fs::remove_file(&serial);
        let machine = format!("{family}-{}", release.version());
        let (kernel, initrd) = (guest.join("vmlinux"), guest.join("initrd.gz"));
        let chardev = format!("file,id=s,path={}", serial.display());
        let mut args = vec![
            "-M",
            &machine,
            "-accel",
            "tcg",
            "-cpu",
            "qemu64",
            "-m",
            "128",
            "-chardev",
            &chardev,
            "-device",
            "isa-serial,chardev=s",
        ];
        args.extend(devices.iter().map(String::as_str));
        let (k, i) = (kernel.to_str().unwrap(), initrd.to_str().unwrap());
        let mut boot = args.clone();
        boot.extend([
            "-kernel",
            k,
            "-initrd",
            i,
            "-append",
            "console=ttyS0 quiet panic=-1",
        ]);
        let mut q = Qemu::start_release(release, &dir, "src", &boot).unwrap();
        let deadline = Instant::now() + Duration::from_secs(180);
        let said = loop {
            let text = std::fs::read_to_string(&serial).unwrap_or_default();
            if text.contains("guest: READY") || Instant::now() > deadline {
                break text;
            }
            std::thread::sleep(Duration::from_millis(200));
        };
        assert!(
            said.contains("guest: READY"),
            "{name}: the guest did not come up: {said}"
        );
        // Two NICs up by DHCP, three disks read (virtio-blk, virtio-scsi, AHCI).
        assert!(said.contains("nets 2 disks 3"), "{name}: {said}");
        std::thread::sleep(Duration::from_millis(500));
        let stream = dir.join("busy.mig");
        let reply = q.migrate_to_file(&stream).unwrap();
        assert_eq!(reply["status"], "completed", "{name}: {reply}");
        drop(q);

        let v = Command::new(env!("CARGO_BIN_EXE_vmstate"))
            .args(["verify", "--release", release.version()])
            .arg(&stream)
            .output()
            .unwrap();
        let report = String::from_utf8_lossy(&v.stdout);
        assert!(v.status.success(), "{name}: not typed whole:\n{report}");

        let mut incoming = args.clone();
        incoming.extend(["-incoming", "defer"]);
        let mut dst = Qemu::start_release(release, &dir, "dst", &incoming).unwrap();
        assert_eq!(
            dst.incoming_from_file(&stream),
            "completed",
            "{name}: QEMU refused it"
        );
    }
}
