//! Every example device with a realistic value, for tests, snapshots and benches that
//! must cover them all: the [`demo`] sample, and each QEMU mirror filled
//! from a section of a real QEMU stream; and the fixtures of both QEMU releases.

use crate::qmp::Release;
use std::fmt::Debug;
use std::path::PathBuf;
use vmstate_examples::demo;
use vmstate_qemu::*;
use vmstate_runtime::dump;
use vmstate_runtime::stream::SectionKind;
use vmstate_runtime::{Result, VMState};

/// What the catalogue requires of a device type.
pub trait Device: VMState + Clone + Default + Debug + PartialEq + MaybeSerde + 'static {}
impl<T: VMState + Clone + Default + Debug + PartialEq + MaybeSerde + 'static> Device for T {}

/// With the `serde` feature, serde's traits (so a visitor can encode a device with
/// a serde codec); without it, nothing.
#[cfg(feature = "serde")]
pub trait MaybeSerde: serde::Serialize + serde::de::DeserializeOwned {}
#[cfg(feature = "serde")]
impl<T: serde::Serialize + serde::de::DeserializeOwned> MaybeSerde for T {}
/// With the `serde` feature, serde's traits (so a visitor can encode a device with
/// a serde codec); without it, nothing.
#[cfg(not(feature = "serde"))]
pub trait MaybeSerde {}
#[cfg(not(feature = "serde"))]
impl<T> MaybeSerde for T {}

/// Receives each device of the catalogue.
pub trait Visitor {
    /// Called once per device value; `idstr` and `instance` name its section.
    fn visit<T: Device>(&mut self, idstr: &str, instance: u32, value: &T);
}

/// The folder of `release`'s fixtures in the repository
/// (`test-support/fixtures/qemu-<version>`).
pub fn fixtures_dir_of(release: Release) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(format!("qemu-{}", release.version()))
}

/// The QEMU 7.2 fixtures.
pub fn fixtures_dir() -> PathBuf {
    fixtures_dir_of(Release::Qemu7_2)
}

/// Every fixture stream of every release that carries its own description (a
/// vmdesc trailer), from their manifests: the release, the file name, and the
/// manifest's entry (QEMU arguments, `pmemsave` hashes, multifd channels).
pub fn fixture_streams() -> Vec<(Release, String, serde_json::Value)> {
    all_fixture_streams()
        .into_iter()
        .filter(|(_, _, e)| e["described_by"].is_null())
        .collect()
}

/// The fixture streams QEMU saved without a description (postcopy), each with
/// the save of the same VM that describes it (the manifest's `described_by`).
pub fn described_fixture_streams() -> Vec<(Release, String, serde_json::Value)> {
    all_fixture_streams()
        .into_iter()
        .filter(|(_, _, e)| !e["described_by"].is_null())
        .collect()
}

fn all_fixture_streams() -> Vec<(Release, String, serde_json::Value)> {
    let mut out = Vec::new();
    for release in Release::ALL {
        let path = fixtures_dir_of(release).join("manifest.json");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{} is missing: {e}", path.display()));
        let manifest: serde_json::Value = serde_json::from_str(&text).expect("manifest JSON");
        for entry in manifest.as_array().expect("a list").iter() {
            let name = entry["stream"].as_str().expect("stream name").to_owned();
            out.push((release, name, entry.clone()));
        }
    }
    out
}

/// The path of fixture stream `name`, from whichever release's folder has it.
pub fn fixture_path(name: &str) -> PathBuf {
    Release::ALL
        .iter()
        .map(|r| fixtures_dir_of(*r).join(name))
        .find(|p| p.exists())
        .unwrap_or_else(|| panic!("no QEMU fixture named {name} in test-support/fixtures"))
}

/// Reads fixture stream `name` (of either release).
pub fn read_fixture(name: &str) -> Vec<u8> {
    let path = fixture_path(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The section names of the demo device and every mirror, in the order of
/// [`with_device!`](crate::with_device)'s selector (the fuzz targets' first byte;
/// see [`selector_of`]).
pub const DEVICES: [&str; 53] = [
    "demo-dma",
    "timer",
    "fw_cfg",
    "dma",
    "i8259",
    "ioapic",
    "hpet",
    "mc146818rtc",
    "i8254",
    "pcspk",
    "ps2kbd",
    "ps2mouse",
    "pckbd",
    "port92",
    "globalstate",
    "fdc",
    "serial",
    "kvmclock",
    "cpu",
    "apic",
    "cpu_common",
    "kvm-tpr-opt",
    "PCIHost",
    "PCIBUS",
    "I440FX",
    "PIIX3",
    "ide",
    "piix4_pm",
    "vmmouse",
    "i2c_bus",
    "acpi_build",
    "tour",
    "mch",
    "ICH9LPC",
    "ich9_smb",
    "ich9_ahci",
    "uhci",
    "usb-ptr",
    "e1000",
    "intel-hda",
    "hda-audio",
    "ehci",
    "xhci",
    "e1000e",
    "virtio-rng",
    "virtio-balloon",
    "virtio-net",
    "virtio-blk",
    "virtio-console",
    "slirp",
    "vmm-serial",
    "vmm-blk",
    "vmm-config",
];

/// The selector byte of section name `name`: its index in [`DEVICES`], the
/// VMM examples (added after the corpora had their selectors) at 250 on.
pub fn selector_of(name: &str) -> Option<u8> {
    let i = DEVICES.iter().position(|d| *d == name)?;
    Some(if i < 50 { i as u8 } else { 200 + i as u8 })
}

/// Calls `$run::<T>($($arg),*)` with the device type of selector `$selector`
/// ([`selector_of`]): the VMM examples at 250 to 252, else `DEVICES[$selector % 50]`.
#[macro_export]
macro_rules! with_device {
    ($selector:expr, $run:ident, $($arg:expr),*) => {{
        use $crate::__qemu::*;
        use $crate::__examples::demo::DemoDma;
        use $crate::__examples::vmm;
        match $selector {
            250 => $run::<vmm::Serial>($($arg),*),
            251 => $run::<vmm::VirtioBlk>($($arg),*),
            252 => $run::<vmm::VmmConfig>($($arg),*),
            s => match s % 50 {
            0 => $run::<DemoDma>($($arg),*),
            1 => $run::<Timers>($($arg),*),
            2 => $run::<FwCfg>($($arg),*),
            3 => $run::<Dma>($($arg),*),
            4 => $run::<Pic>($($arg),*),
            5 => $run::<Ioapic>($($arg),*),
            6 => $run::<Hpet>($($arg),*),
            7 => $run::<Rtc>($($arg),*),
            8 => $run::<Pit>($($arg),*),
            9 => $run::<PcSpk>($($arg),*),
            10 => $run::<Ps2Kbd>($($arg),*),
            11 => $run::<Ps2Mouse>($($arg),*),
            12 => $run::<IsaKbd>($($arg),*),
            13 => $run::<Port92>($($arg),*),
            14 => $run::<GlobalState>($($arg),*),
            15 => $run::<IsaFdc>($($arg),*),
            16 => $run::<IsaSerial>($($arg),*),
            17 => $run::<KvmClock>($($arg),*),
            18 => $run::<X86Cpu>($($arg),*),
            19 => $run::<Apic>($($arg),*),
            20 => $run::<CpuCommon>($($arg),*),
            21 => $run::<KvmTprOpt>($($arg),*),
            22 => $run::<PciHost>($($arg),*),
            23 => $run::<PciBus>($($arg),*),
            24 => $run::<I440fx>($($arg),*),
            25 => $run::<Piix3>($($arg),*),
            26 => $run::<PciIde>($($arg),*),
            27 => $run::<Piix4Pm>($($arg),*),
            28 => $run::<Vmmouse>($($arg),*),
            29 => $run::<I2cBus>($($arg),*),
            30 => $run::<AcpiBuild>($($arg),*),
            31 => $run::<$crate::__examples::constructs::Tour>($($arg),*),
            32 => $run::<Mch>($($arg),*),
            33 => $run::<Ich9Lpc>($($arg),*),
            34 => $run::<Ich9Smb>($($arg),*),
            35 => $run::<Ich9Ahci>($($arg),*),
            36 => $run::<Uhci>($($arg),*),
            37 => $run::<UsbPtr>($($arg),*),
            38 => $run::<E1000>($($arg),*),
            39 => $run::<IntelHda>($($arg),*),
            40 => $run::<HdaAudio>($($arg),*),
            41 => $run::<EhciPci>($($arg),*),
            42 => $run::<XhciPci>($($arg),*),
            43 => $run::<E1000e>($($arg),*),
            44 => $run::<VirtioRng>($($arg),*),
            45 => $run::<VirtioBalloon>($($arg),*),
            46 => $run::<VirtioNet>($($arg),*),
            47 => $run::<VirtioBlk>($($arg),*),
            48 => $run::<VirtioSerial>($($arg),*),
            _ => $run::<Slirp>($($arg),*),
            },
        }
    }};
}

/// Visits the demo device's sample and the QEMU constructs' tour.
pub fn visit_demo(v: &mut impl Visitor) {
    v.visit("demo-dma", 0, &demo::sample());
    v.visit("tour", 0, &vmstate_examples::constructs::sample());
    let (serial, blk, config) = vmstate_examples::vmm::sample();
    v.visit("vmm-serial", 0, &serial);
    v.visit("vmm-blk", 0, &blk);
    v.visit("vmm-config", 0, &config);
}

/// Decodes each device section of a legacy QEMU stream that has a mirror and visits
/// it; returns the idstrs of the device sections that have none, in stream order.
pub fn visit_stream(bytes: &[u8], v: &mut impl Visitor) -> Result<Vec<String>> {
    let s = dump::walk_legacy(bytes)?;
    // Q35's root bus has eight interrupt lines, the i440FX's four.
    let machine = s.machine_type();
    let nirq = if machine.contains("q35") { 8 } else { 4 };
    // virtio-blk has a queue per vCPU.
    let cpus = vcpu_count(s.sections.iter().map(|x| x.ident.idstr.as_str()));
    let mut unmirrored = Vec::new();
    for sec in s.sections.iter().filter(|s| s.kind == SectionKind::Full) {
        macro_rules! dispatch {
            (@init $ty:ty) => { <$ty>::default() };
            (@init $ty:ty, $init:expr) => { $init };
            ($($idstr:literal => $ty:ty $(= $init:expr)?),* $(,)?) => {
                // A PCI function's idstr is its address, then its name.
                match sec.ident.idstr.rsplit('/').next().unwrap_or_default() {
                    $($idstr => {
                        let mut dev = dispatch!(@init $ty $(, $init)?);
                        dump::load_section(&mut dev, sec)?;
                        v.visit(&sec.ident.idstr, sec.ident.instance, &dev);
                    })*
                    _ => unmirrored.push(sec.ident.idstr.clone()),
                }
            };
        }
        dispatch! {
            "timer" => Timers,
            "fw_cfg" => FwCfg,
            "dma" => Dma,
            "i8259" => Pic,
            "ioapic" => Ioapic,
            "hpet" => Hpet,
            "mc146818rtc" => Rtc,
            "i8254" => Pit,
            "pcspk" => PcSpk,
            "ps2kbd" => Ps2Kbd,
            "ps2mouse" => Ps2Mouse,
            "pckbd" => IsaKbd,
            "port92" => Port92,
            "globalstate" => GlobalState,
            "fdc" => IsaFdc,
            "serial" => IsaSerial,
            "kvmclock" => KvmClock,
            "cpu" => X86Cpu,
            "apic" => Apic,
            "cpu_common" => CpuCommon,
            "kvm-tpr-opt" => KvmTprOpt,
            "PCIHost" => PciHost,
            "PCIBUS" => PciBus = PciBus::new(nirq),
            "I440FX" => I440fx,
            "PIIX3" => Piix3,
            "ide" => PciIde,
            "piix4_pm" => Piix4Pm,
            "vmmouse" => Vmmouse,
            "i2c_bus" => I2cBus,
            "acpi_build" => AcpiBuild,
            "mch" => Mch,
            "ICH9LPC" => Ich9Lpc,
            "ich9_smb" => Ich9Smb,
            "ich9_ahci" => Ich9Ahci,
            "uhci" => Uhci,
            "usb-ptr" => UsbPtr,
            "e1000" => E1000,
            "intel-hda" => IntelHda,
            "hda-audio" => HdaAudio,
            "ehci" => EhciPci,
            "xhci" => XhciPci,
            "e1000e" => E1000e = E1000e::for_machine(&machine),
            "virtio-rng" => VirtioRng,
            "virtio-balloon" => VirtioBalloon,
            "virtio-net" => VirtioNet,
            "virtio-blk" => VirtioBlk = VirtioBlk::with_queues(cpus),
            "virtio-console" => VirtioSerial,
            "slirp" => Slirp,
        }
    }
    Ok(unmirrored)
}

/// The demo sample, then every mirrored device of `pc-kvm-bios.mig`.
pub fn visit_all(v: &mut impl Visitor) {
    visit_demo(v);
    visit_stream(&read_fixture("pc-kvm-bios.mig"), v).expect("pc-kvm-bios.mig decodes");
}

/// The ASN.1 module of every example type (`docs/vmstate-examples.asn`).
pub fn asn1_module() -> vmstate_runtime::ber::asn1::Module {
    struct Collect(vmstate_runtime::ber::asn1::Module);
    impl Visitor for Collect {
        fn visit<T: Device>(&mut self, _idstr: &str, _instance: u32, _value: &T) {
            self.0.add_desc(T::DESC);
        }
    }
    let mut c = Collect(vmstate_runtime::ber::asn1::Module::new("VMState-Examples"));
    visit_all(&mut c);
    c.0
}

/// What QEMU 10.0 writes differently from 7.2 in the vmdesc of mirrored devices
/// whose bytes did not change (same version, same layout): (idstr, as 7.2 and the
/// mirrors describe it, as 10.0 does). `docs/QEMU-RELEASES.md` lists them.
pub const VMDESC_CHANGES_IN_10_0: [(&str, &str, &str); 9] = [
    // sb16: the card's resources became padding.
    (
        "sb16",
        r#"{"name": "irq", "type": "uint32", "size": 4}, {"name": "dma", "type": "uint32", "size": 4}, {"name": "hdma", "type": "uint32", "size": 4}, {"name": "port", "type": "uint32", "size": 4}, {"name": "ver", "type": "uint32", "size": 4}"#,
        r#"{"name": "unused", "type": "unused_buffer", "size": 20}"#,
    ),
    // HPET: the field was renamed (its value is the saved copy of num_timers).
    (
        "hpet",
        r#"{"name": "num_timers", "type": "uint8", "size": 1}"#,
        r#"{"name": "num_timers_save", "type": "uint8", "size": 1}"#,
    ),
    // globalstate: 100 bytes of run state became 32, two flags and 66 unused.
    (
        "globalstate",
        r#"{"name": "runstate", "type": "buffer", "size": 100}"#,
        r#"{"name": "runstate", "type": "buffer", "size": 32}, {"name": "has_vm_was_suspended", "type": "uint8", "size": 1}, {"name": "vm_was_suspended", "type": "uint8", "size": 1}, {"name": "unused", "type": "buffer", "size": 66}"#,
    ),
    // ESP: version 7, `data_in_ready` renamed (10.0's `mig_ti_cmd`, 7.2's
    // `ti_cmd`, is not sent at version 7; `drq_state` is).
    (
        "pciespscsi",
        r#"{"name": "data_in_ready", "type": "bool", "size": 1}"#,
        r#"{"name": "data_ready", "type": "bool", "size": 1}"#,
    ),
    (
        "pciespscsi",
        r#"{"vmsd_name": "esp", "version": 6,"#,
        r#"{"vmsd_name": "esp", "version": 7,"#,
    ),
    // AHCI: the port count became unsigned (`VMSTATE_UINT32_EQUAL`).
    (
        "0000:00:1f.2/ich9_ahci",
        r#"{"name": "ports", "type": "int32 equal", "size": 4}"#,
        r#"{"name": "ports", "type": "uint32 equal", "size": 4}"#,
    ),
    // SD card: `enable` became padding (10.0 writes 0 there), and the two
    // paddings are told apart by their index.
    (
        "sd-card",
        r#"{"name": "unused", "type": "unused_buffer", "size": 512}, {"name": "enable", "type": "bool", "size": 1}"#,
        r#"{"name": "unused[0]", "type": "unused_buffer", "size": 512}, {"name": "unused[1]", "type": "unused_buffer", "size": 1}"#,
    ),
    // e1000e: the interrupt-pending state became padding.
    (
        "0000:00:01.0/e1000e",
        r#"{"name": "core.itr_intr_pending", "type": "bool", "size": 1}"#,
        r#"{"name": "unused[0]", "type": "unused_buffer", "size": 1}"#,
    ),
    (
        "0000:00:01.0/e1000e",
        r#"{"name": "core.eitr_intr_pending", "array_len": 5, "type": "bool", "size": 1}"#,
        r#"{"name": "unused[1]", "type": "unused_buffer", "size": 5}"#,
    ),
];

/// A QEMU vmdesc trailer without what QEMU repeats inside a linked container's
/// entry (`qtailq`, `qlist`, `gtree`: each element's `vmsd_name`, `version` and
/// `fields` between its type and its size), which the mirrors leave out
/// (`vmstate_runtime::linked`).
pub fn without_linked_elements(vmdesc: &str) -> String {
    let mut out = String::with_capacity(vmdesc.len());
    let mut rest = vmdesc;
    while let Some(at) = ["qtailq", "qlist", "gtree"]
        .iter()
        .filter_map(|t| {
            rest.find(&format!(r#""type": "{t}""#))
                .map(|i| i + t.len() + 10)
        })
        .min()
    {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        // Up to the entry's own `"size"`: the next one outside any nested value.
        let (mut depth, mut in_str, mut end) = (0i32, false, rest.len());
        let b = rest.as_bytes();
        for i in 0..b.len() {
            match b[i] {
                b'"' if i == 0 || b[i - 1] != b'\\' => in_str = !in_str,
                _ if in_str => {}
                b'{' | b'[' => depth += 1,
                b'}' | b']' => depth -= 1,
                b',' if depth == 0 && rest[i..].starts_with(r#", "size": "#) => {
                    end = i;
                    break;
                }
                _ => {}
            }
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// A vmdesc trailer as the mirrors write it (QEMU 7.2's descriptions), with QEMU
/// 10.0's description-only changes applied.
pub fn as_qemu_10_0_describes(vmdesc: &str) -> String {
    VMDESC_CHANGES_IN_10_0
        .iter()
        .fold(vmdesc.to_owned(), |text, (_, old, new)| {
            text.replace(old, new)
        })
}
