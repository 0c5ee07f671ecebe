//! Makes the QEMU fixtures of one release: each guest is started through QMP, runs
//! SeaBIOS (no boot device) for a while, is stopped, its RAM dumped by QEMU itself
//! (`pmemsave`), then migrated to a file. `manifest.json` records each stream's QEMU
//! arguments and the SHA-256 of `pc.ram` below 640 KiB and from 1 MiB up, as QEMU
//! dumped it; `<machine>.vmstate.json` is QEMU's `-dump-vmstate` for a machine type.
//!
//! `cargo run -p vmstate-test-support --bin capture-fixtures -- 10.0 test-support/fixtures/qemu-10.0 [STREAM...]`
//!
//! Naming streams captures only those, keeping the manifest's other entries (and
//! the other streams' files) as they are.

use serde_json::json;
use sha2::{Digest, Sha256};
use std::path::Path;
use std::time::Duration;
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
}

/// The NICs have user-mode networking behind them, the disk is a null block device,
/// audio goes nowhere and the serial port to a null chardev: the guests need nothing
/// from the host.
const QEMU_10_0: &[Guest] = &[
    Guest {
        stream: "pc-i440fx-10.0-tcg-devices.mig",
        machine: "pc-i440fx-10.0",
        accel: "tcg",
        mem_mb: 32,
        smp: 2,
        run_seconds: 1.0,
        devices: I440FX_10_0_DEVICES,
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
    },
    Guest {
        stream: "pc-i440fx-7.2-kvm-bios.mig",
        machine: "pc-i440fx-7.2",
        accel: "kvm",
        mem_mb: 32,
        smp: 1,
        run_seconds: 2.0,
        // As QEMU 7.2's pc-kvm-bios.mig, for the cross-release comparison.
        devices: &["-device", "isa-serial,chardev=s0", "-chardev", "null,id=s0"],
    },
    Guest {
        stream: "pc-i440fx-10.0-kvm-bios.mig",
        machine: "pc-i440fx-10.0",
        accel: "kvm",
        mem_mb: 32,
        smp: 1,
        run_seconds: 2.0,
        // The same guest on 10.0's own machine type.
        devices: &["-device", "isa-serial,chardev=s0", "-chardev", "null,id=s0"],
    },
];

const DUMPS_10_0: &[&str] = &["pc-i440fx-7.2", "pc-i440fx-10.0"];

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn capture(release: Release, g: &Guest, out: &Path) -> serde_json::Value {
    let mem = g.mem_mb << 20;
    let smp = g.smp.to_string();
    let m = g.mem_mb.to_string();
    let mut args = vec![
        "-M", g.machine, "-accel", g.accel, "-cpu", "qemu64", "-smp", &smp,
    ];
    args.extend(g.devices);
    let mut all = args.clone();
    all.extend(["-m", &m]);
    let mut q = Qemu::start_release(release, out, "capture", &all)
        .unwrap_or_else(|e| panic!("{}: {e}", g.stream));
    std::thread::sleep(Duration::from_secs_f64(g.run_seconds));
    q.execute("stop", json!({})).expect("stop");
    let ram = out.join("capture.ram");
    q.execute(
        "pmemsave",
        json!({ "val": 0, "size": mem, "filename": ram.to_str().unwrap() }),
    )
    .expect("pmemsave");
    let reply = q.migrate_to_file(&out.join(g.stream)).expect("migrates");
    let bytes = std::fs::read(&ram).expect("pmemsave wrote");
    std::fs::remove_file(&ram).ok();
    let ranges = [(0u64, 0xA_0000u64), (0x10_0000, mem)];
    println!("{}: {}", g.stream, reply["status"]);
    json!({
        "stream": g.stream,
        "status": reply["status"],
        "qemu": release.version(),
        "qemu_args": args,
        "mem_mb": g.mem_mb,
        "run_seconds": g.run_seconds,
        "ram_block": "pc.ram",
        "ram_ranges_sha256": ranges.iter().map(|&(start, end)| json!({
            "start": start,
            "end": end,
            "sha256": sha256(&bytes[start as usize..end as usize]),
        })).collect::<Vec<_>>(),
    })
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [version, out, only @ ..] = args.as_slice() else {
        eprintln!("usage: capture-fixtures 10.0 OUT_DIR [STREAM...]");
        std::process::exit(2);
    };
    let (release, guests, dumps) = match version.as_str() {
        "10.0" => (Release::Qemu10_0, QEMU_10_0, DUMPS_10_0),
        other => {
            eprintln!("no fixture list for QEMU {other}");
            std::process::exit(2);
        }
    };
    assert!(release.available(), "QEMU {version} does not run here");
    let out = Path::new(out);
    std::fs::create_dir_all(out).expect("creates the folder");
    let kept: Vec<serde_json::Value> = if only.is_empty() {
        Vec::new()
    } else {
        let text = std::fs::read_to_string(out.join("manifest.json")).unwrap_or("[]".into());
        let old: Vec<serde_json::Value> = serde_json::from_str(&text).expect("manifest JSON");
        old.into_iter()
            .filter(|e| !only.iter().any(|n| e["stream"] == n.as_str()))
            .collect()
    };
    let chosen = guests
        .iter()
        .filter(|g| only.is_empty() || only.iter().any(|n| n == g.stream));
    let captured: Vec<_> = chosen.map(|g| capture(release, g, out)).collect();
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
