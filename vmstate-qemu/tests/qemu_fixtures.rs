//! The mirrors of QEMU devices against real streams of QEMU 7.2 and 10.0: each
//! device section is cut out of the stream by walking its framing, decoded at the
//! section's version, re-encoded byte for byte, and described exactly as QEMU's own
//! vmdesc trailer describes it (QEMU 10.0's with the description-only changes of
//! [`VMDESC_CHANGES_IN_10_0`]). The static descriptions are compared with QEMU's
//! `-dump-vmstate` output.

use vmstate_qemu::*;
use vmstate_runtime::dump::{self, LegacyStream};
use vmstate_runtime::json::VmdescArrays;
use vmstate_runtime::stream::SectionKind;
use vmstate_runtime::{legacy, ErrorKind, VMState};
use vmstate_test_support::catalog::{
    fixture_streams, fixtures_dir_of, read_fixture, VMDESC_CHANGES_IN_10_0,
};
use vmstate_test_support::qmp::Release;

const STREAMS: [&str; 3] = ["pc-tcg-reset.mig", "pc-kvm-bios.mig", "q35-tcg-devices.mig"];

/// The release that wrote fixture `name`; streams the tests make themselves are
/// described as 7.2 describes them (the mirrors' own form).
fn release_of(name: &str) -> Release {
    fixture_streams()
        .into_iter()
        .find(|(_, n, _)| n == name)
        .map_or(Release::Qemu7_2, |(r, _, _)| r)
}

/// Our vmdesc text of a device as `release` describes it.
fn as_described_by(release: Release, idstr: &str, ours: String) -> String {
    match release {
        Release::Qemu7_2 => ours,
        Release::Qemu10_0 => VMDESC_CHANGES_IN_10_0
            .iter()
            .filter(|(id, _, _)| *id == idstr)
            .fold(ours, |text, (_, old, new)| {
                assert!(text.contains(old), "{idstr}: {old} not in our vmdesc");
                text.replace(old, new)
            }),
    }
}

/// Decodes every instance of `idstr` in `s` into `T`, re-encodes it, renders its
/// vmdesc, and checks both against QEMU's bytes. Returns the decoded values.
fn prove<T: VMState + Clone + Default + std::fmt::Debug>(
    s: &LegacyStream,
    stream_name: &str,
    idstr: &str,
) -> Vec<T> {
    prove_from(s, stream_name, idstr, T::default)
}

/// [`prove`], each section loaded into `fresh()` (a destination's initial state).
fn prove_from<T: VMState + Clone + std::fmt::Debug>(
    s: &LegacyStream,
    stream_name: &str,
    idstr: &str,
    fresh: impl Fn() -> T,
) -> Vec<T> {
    let sections: Vec<_> = s
        .sections
        .iter()
        .filter(|sec| sec.kind == SectionKind::Full && sec.ident.idstr == idstr)
        .collect();
    assert!(!sections.is_empty(), "{stream_name}: no section {idstr}");
    let mut out = Vec::new();
    for sec in sections {
        let mut v = fresh();
        dump::load_section(&mut v, sec)
            .unwrap_or_else(|e| panic!("{stream_name}: decoding {idstr}: {e}"));
        let again = legacy::to_bytes_at(&v, sec.ident.version).unwrap();
        assert_eq!(
            again, sec.body,
            "{stream_name}: {idstr}#{} does not re-encode byte-identically",
            sec.ident.instance
        );
        assert_eq!(v.legacy_size_at(sec.ident.version), sec.body.len());
        let release = release_of(stream_name);
        let arrays = match release {
            Release::Qemu7_2 => VmdescArrays::Qemu7_2,
            Release::Qemu10_0 => VmdescArrays::Qemu10_0,
        };
        let ours = legacy::vmdesc_json_as(&v, idstr, sec.ident.instance, sec.ident.version, arrays);
        let ours = as_described_by(release, idstr, ours);
        let qemu = s
            .vmdesc_device_text(idstr, sec.ident.instance)
            .unwrap_or_else(|| panic!("{stream_name}: {idstr} not in vmdesc"));
        assert_eq!(ours, qemu, "{stream_name}: vmdesc of {idstr} differs");
        out.push(v);
    }
    out
}

/// Every mirrored device of one stream. Returns how many sections were proven.
fn prove_stream(name: &str) -> usize {
    let bytes = read_fixture(name);
    let s = dump::walk_legacy(&bytes).unwrap();
    let mut proven = 0;
    let mut count = |n: usize| proven += n;
    count(prove::<Timers>(&s, name, "timer").len());
    count(prove::<FwCfg>(&s, name, "fw_cfg").len());
    count(prove::<Dma>(&s, name, "dma").len());
    count(prove::<Pic>(&s, name, "i8259").len());
    count(prove::<Ioapic>(&s, name, "ioapic").len());
    count(prove::<Hpet>(&s, name, "hpet").len());
    count(prove::<Rtc>(&s, name, "mc146818rtc").len());
    count(prove::<Pit>(&s, name, "i8254").len());
    count(prove::<PcSpk>(&s, name, "pcspk").len());
    count(prove::<Ps2Kbd>(&s, name, "ps2kbd").len());
    count(prove::<Ps2Mouse>(&s, name, "ps2mouse").len());
    count(prove::<IsaKbd>(&s, name, "pckbd").len());
    count(prove::<Port92>(&s, name, "port92").len());
    count(prove::<GlobalState>(&s, name, "globalstate").len());
    if s.device("fdc", 0).is_some() {
        count(prove::<IsaFdc>(&s, name, "fdc").len());
    }
    if s.device("serial", 0).is_some() {
        count(prove::<IsaSerial>(&s, name, "serial").len());
    }
    if s.device("kvmclock", 0).is_some() {
        count(prove::<KvmClock>(&s, name, "kvmclock").len());
    }
    count(prove::<X86Cpu>(&s, name, "cpu").len());
    count(prove::<Apic>(&s, name, "apic").len());
    if s.device("0000:00:00.0/I440FX", 0).is_some() {
        count(prove::<I440fx>(&s, name, "0000:00:00.0/I440FX").len());
        count(prove::<Piix3>(&s, name, "0000:00:01.0/PIIX3").len());
        count(prove::<PciIde>(&s, name, "0000:00:01.1/ide").len());
        count(prove::<Piix4Pm>(&s, name, "0000:00:01.3/piix4_pm").len());
    }
    // Q35's root bus has eight interrupt lines, the i440FX's four.
    let nirq = if s.machine_type().contains("q35") {
        8
    } else {
        4
    };
    count(prove_from(&s, name, "PCIBUS", || PciBus::new(nirq)).len());
    if s.device("0000:00:00.0/mch", 0).is_some() {
        count(prove::<Mch>(&s, name, "0000:00:00.0/mch").len());
        count(prove::<Ich9Lpc>(&s, name, "0000:00:1f.0/ICH9LPC").len());
        count(prove::<Ich9Smb>(&s, name, "0000:00:1f.3/ich9_smb").len());
        count(prove::<Ich9Ahci>(&s, name, "0000:00:1f.2/ich9_ahci").len());
    }
    // The devices a machine may have or not, and several of (each `prove` takes
    // every instance of its idstr). A PCI function's idstr ends with its name.
    let machine = s.machine_type();
    // virtio-blk has a queue per vCPU, QEMU's default.
    let cpus = vcpu_count(s.sections.iter().map(|x| x.ident.idstr.as_str()));
    for sec in &s.sections {
        let idstr = sec.ident.idstr.as_str();
        if sec.kind != SectionKind::Full || sec.ident.instance != 0 {
            continue;
        }
        count(match idstr.rsplit('/').next().unwrap_or_default() {
            "uhci" => prove::<Uhci>(&s, name, idstr).len(),
            "intel-hda" => prove::<IntelHda>(&s, name, idstr).len(),
            "hda-audio" => prove::<HdaAudio>(&s, name, idstr).len(),
            "e1000e" => prove_from(&s, name, idstr, || E1000e::for_machine(&machine)).len(),
            "virtio-rng" => prove::<VirtioRng>(&s, name, idstr).len(),
            "virtio-balloon" => prove::<VirtioBalloon>(&s, name, idstr).len(),
            "slirp" => prove::<Slirp>(&s, name, idstr).len(),
            "virtio-console" => prove::<VirtioSerial>(&s, name, idstr).len(),
            "virtio-net" => prove::<VirtioNet>(&s, name, idstr).len(),
            "virtio-blk" => prove_from(&s, name, idstr, || VirtioBlk::with_queues(cpus)).len(),
            "xhci" => prove::<XhciPci>(&s, name, idstr).len(),
            "ehci" => prove::<EhciPci>(&s, name, idstr).len(),
            "e1000" => prove::<E1000>(&s, name, idstr).len(),
            "usb-ptr" => prove::<UsbPtr>(&s, name, idstr).len(),
            _ => 0,
        });
    }
    count(prove::<CpuCommon>(&s, name, "cpu_common").len());
    count(prove::<KvmTprOpt>(&s, name, "kvm-tpr-opt").len());
    count(prove::<PciHost>(&s, name, "PCIHost").len());
    count(prove::<Vmmouse>(&s, name, "vmmouse").len());
    count(prove::<I2cBus>(&s, name, "i2c_bus").len());
    count(prove::<AcpiBuild>(&s, name, "acpi_build").len());
    proven
}

/// The device sections of a stream (every one a typed mirror must cover).
fn device_sections(name: &str) -> usize {
    let bytes = read_fixture(name);
    let s = dump::walk_legacy(&bytes).unwrap();
    s.sections
        .iter()
        .filter(|x| x.kind == SectionKind::Full)
        .count()
}

#[test]
fn pc_tcg_reset_devices_are_byte_exact() {
    assert_eq!(prove_stream("pc-tcg-reset.mig"), 30);
    assert_eq!(device_sections("pc-tcg-reset.mig"), 30);
}

#[test]
fn pc_kvm_bios_devices_are_byte_exact() {
    assert_eq!(prove_stream("pc-kvm-bios.mig"), 32);
    assert_eq!(device_sections("pc-kvm-bios.mig"), 32);
}

#[test]
fn q35_tcg_devices_are_byte_exact() {
    assert_eq!(prove_stream("q35-tcg-devices.mig"), 32);
    assert_eq!(device_sections("q35-tcg-devices.mig"), 32);
    assert_eq!(device_sections("q35-tcg-devices.mig"), 32);
}

#[test]
fn walker_sees_machine_type_ram_and_every_device() {
    for name in STREAMS {
        let bytes = read_fixture(name);
        let s = dump::walk_legacy(&bytes).unwrap();
        let want = if name.starts_with("q35") {
            "pc-q35-7.2"
        } else {
            "pc-i440fx-7.2"
        };
        assert_eq!(s.machine_type(), want);
        let ram: Vec<_> = s
            .sections
            .iter()
            .filter(|x| x.ident.idstr == "ram")
            .collect();
        assert_eq!(ram.first().map(|x| x.kind), Some(SectionKind::Start));
        assert_eq!(ram.last().map(|x| x.kind), Some(SectionKind::End));
        let desc: serde_json::Value = serde_json::from_str(s.vmdesc).unwrap();
        let full = s
            .sections
            .iter()
            .filter(|x| x.kind == SectionKind::Full)
            .count();
        assert_eq!(full, desc["devices"].as_array().unwrap().len());
    }
}

/// Values read by the typed mirrors agree with values read from the raw bytes at the
/// offsets QEMU's own vmdesc gives (an independent reading).
#[test]
fn decoded_values_match_an_independent_reading() {
    let bytes = read_fixture("pc-kvm-bios.mig");
    let s = dump::walk_legacy(&bytes).unwrap();

    let rtc = &prove::<Rtc>(&s, "kvm", "mc146818rtc")[0];
    let body = s.device("mc146818rtc", 0).unwrap().body;
    assert_eq!(&rtc.cmos_data[..], &body[..128]);
    assert_eq!(rtc.cmos_index, body[128]);
    // After 128 + 1 + 28 bytes: periodic_timer (be64).
    let at = 128 + 1 + 28;
    assert_eq!(
        rtc.periodic_timer.0,
        i64::from_be_bytes(body[at..at + 8].try_into().unwrap())
    );
    let at = body.len() - 8;
    assert_eq!(
        rtc.next_alarm_time,
        u64::from_be_bytes(body[at..].try_into().unwrap())
    );

    let hpet = &prove::<Hpet>(&s, "kvm", "hpet")[0];
    let body = s.device("hpet", 0).unwrap().body;
    assert_eq!(hpet.num_timers, body[24]);
    assert_eq!(hpet.timers.len(), usize::from(body[24]));
    // Timer 2's `cmp` sits after 25 bytes of header, 2 timers of 42 and tn + config.
    let at = 25 + 2 * 42 + 1 + 8;
    assert_eq!(
        hpet.timers[2].cmp,
        u64::from_be_bytes(body[at..at + 8].try_into().unwrap())
    );
    assert_eq!(hpet.timers[2].tn, 2);

    let fw = &prove::<FwCfg>(&s, "kvm", "fw_cfg")[0];
    assert!(fw.dma.is_some() && fw.acpi_mr.is_some());
    let body = s.device("fw_cfg", 0).unwrap().body;
    let dma_at = 2 + 4 + 2 + "fw_cfg/dma".len() + 4;
    assert_eq!(
        fw.dma.as_ref().unwrap().dma_addr,
        u64::from_be_bytes(body[dma_at..dma_at + 8].try_into().unwrap())
    );

    let gs = &prove::<GlobalState>(&s, "kvm", "globalstate")[0];
    // The fixtures were made by `stop` then `migrate`.
    assert_eq!(gs.runstate(), "paused");
    assert_eq!(gs.size as usize, "paused".len() + 1);

    let kvmclock = &prove::<KvmClock>(&s, "kvm", "kvmclock")[0];
    assert!(kvmclock.clock > 0);
    assert!(kvmclock.clock_is_reliable.is_some());

    let fdc = &prove::<IsaFdc>(&s, "kvm", "fdc")[0];
    assert_eq!(fdc.state.num_floppies, 2);
    assert!(fdc.state.drives.iter().all(|d| d.media_rate.is_some()));
}

/// Each mirror's static description agrees with QEMU's `-dump-vmstate` entry:
/// names, versions, minimum versions, `field_exists`, scalar sizes, subsections.
#[test]
fn descriptions_match_qemu_dump_vmstate() {
    for release in Release::ALL {
        descriptions_match_dump_of(release);
    }
}

/// Subsections that QEMU 10.0 added to mirrored devices, which 7.2's dump lacks.
const SUBSECTIONS_SINCE_7_2: [&str; 3] = [
    "i8259/ltim",
    "virtio-gpu/blob",
    "sd-card/ext_csd_modes-state",
];

/// Fields that QEMU 10.0 added to mirrored devices, which 7.2's dump lacks
/// (`e1000e`'s, sent only by machine types since 8.1).
const FIELDS_SINCE_7_2: [&str; 1] = ["core.timadj"];

/// Fields of mirrored devices that QEMU 10.0 sends as padding (one `unused` buffer
/// of their bytes, 4 a field): the description, the fields.
const PADDED_IN_10_0: [(&str, &[&str]); 1] = [("sb16", &["irq", "dma", "hdma", "port", "ver"])];

/// Fields of mirrored devices that QEMU 10.0 describes by another name, the bytes
/// unchanged (docs/QEMU-RELEASES.md): the mirror's name, 10.0's. A field that
/// became padding (`unused`) is one buffer of all its bytes to QEMU.
const DUMP_RENAMES_IN_10_0: [(&str, &str); 5] = [
    ("num_timers", "num_timers_save"),
    ("data_in_ready", "data_ready"),
    ("ti_cmd", "mig_ti_cmd"),
    ("core.itr_intr_pending", "unused"),
    ("core.eitr_intr_pending", "unused"),
];

/// The mirrors' static descriptions against `release`'s `-dump-vmstate` for
/// `pc-i440fx-7.2`, with that release's changes: subsections 7.2 did not have yet,
/// fields 10.0 renamed. Generated mirrors follow QEMU 10.0; the ones 7.2 writes
/// otherwise (or lacks) are listed in [`CATALOG_OTHERWISE_IN_7_2`].
fn descriptions_match_dump_of(release: Release) {
    let text = std::fs::read_to_string(fixtures_dir_of(release).join("pc-i440fx-7.2.vmstate.json"))
        .unwrap();
    let dump: serde_json::Value = serde_json::from_str(&text).unwrap();
    let d = DumpCheck { release, dump };
    let check = |json: String| -> Result<(), String> {
        let ours: serde_json::Value = serde_json::from_str(&json).unwrap();
        let name = ours["name"].as_str().unwrap().to_owned();
        d.compare(
            &ours,
            &d.by_name(&name, &ours["Fields"][0]["field"])?,
            &name,
        )
    };
    let hand = [
        Rtc::dump_vmstate_json(),
        Hpet::dump_vmstate_json(),
        Pit::dump_vmstate_json(),
        Pic::dump_vmstate_json(),
        Ioapic::dump_vmstate_json(),
        FwCfg::dump_vmstate_json(),
        Dma::dump_vmstate_json(),
        IsaKbd::dump_vmstate_json(),
        Ps2Kbd::dump_vmstate_json(),
        Ps2Mouse::dump_vmstate_json(),
        Port92::dump_vmstate_json(),
        Piix3::dump_vmstate_json(),
        I440fx::dump_vmstate_json(),
        Piix4Pm::dump_vmstate_json(),
        Vmmouse::dump_vmstate_json(),
        Mch::dump_vmstate_json(),
        Ich9Lpc::dump_vmstate_json(),
        Ich9Smb::dump_vmstate_json(),
        IsaFdc::dump_vmstate_json(),
        IsaSerial::dump_vmstate_json(),
        PcSpk::dump_vmstate_json(),
        Sb16::dump_vmstate_json(),
        PcieRootPort::dump_vmstate_json(),
        PciBridgeDev::dump_vmstate_json(),
        ScsiDisk::dump_vmstate_json(),
        VirtioScsi::dump_vmstate_json(),
        VirtioInput::dump_vmstate_json(),
        Virtio9p::dump_vmstate_json(),
        VirtioGpu::dump_vmstate_json(),
        VirtioIommu::dump_vmstate_json(),
        PciePciBridge::dump_vmstate_json(),
        Ioh3420::dump_vmstate_json(),
        Xio3130Downstream::dump_vmstate_json(),
        Xio3130Upstream::dump_vmstate_json(),
        KvmClock::dump_vmstate_json(),
        KvmTprOpt::dump_vmstate_json(),
        PciHost::dump_vmstate_json(),
        Ich9Ahci::dump_vmstate_json(),
        Uhci::dump_vmstate_json(),
        UsbPtr::dump_vmstate_json(),
        E1000::dump_vmstate_json(),
        E1000e::dump_vmstate_json(),
        IntelHda::dump_vmstate_json(),
        HdaAudio::dump_vmstate_json(),
        EhciPci::dump_vmstate_json(),
        XhciPci::dump_vmstate_json(),
        VirtioRng::dump_vmstate_json(),
        VirtioBalloon::dump_vmstate_json(),
        VirtioNet::dump_vmstate_json(),
        VirtioBlk::dump_vmstate_json(),
        VirtioSerial::dump_vmstate_json(),
        VirtioMem::dump_vmstate_json(),
        VhostUserBlk::dump_vmstate_json(),
        VhostScsi::dump_vmstate_json(),
        VhostVsock::dump_vmstate_json(),
        UsbRedir::dump_vmstate_json(),
        VmbusBridge::dump_vmstate_json(),
    ];
    for json in hand {
        check(json).unwrap();
    }
    // Only in 7.2's x86 build.
    if release == Release::Qemu7_2 {
        check(SysbusAhci::dump_vmstate_json()).unwrap();
    }
    // New in QEMU 10.0 (vhost-user-fs was unmigratable in 7.2).
    if release == Release::Qemu10_0 {
        for json in [
            VhostUserFs::dump_vmstate_json(),
            UefiVarsSysbus::dump_vmstate_json(),
            XenEvtchn::dump_vmstate_json(),
            XenGnttab::dump_vmstate_json(),
        ] {
            check(json).unwrap();
        }
    }
    check(esp_as_dumped_by(release)).unwrap();
    check(sd_card_as_dumped_by(release)).unwrap();
    // QEMU 7.2 registers the PIIX IDE function's state in code, not as its QOM
    // type's, so only 10.0's dump has it.
    if release == Release::Qemu10_0 {
        check(PciIde::dump_vmstate_json()).unwrap();
    }
    // Not in either dump, which lists QOM types' descriptions only: those QEMU
    // registers otherwise (`cpu`, `apic`, `cpu_common`, `timer`, `globalstate`,
    // `PCIBUS`, `i2c_bus`, `acpi_build`) and `slirp`, which has none. Their vmdesc
    // is checked against the streams (`prove`).

    // The generated catalog, whole: exactly as 10.0 dumps it, and as 7.2 does but
    // for the listed differences.
    let mut otherwise = Vec::new();
    for m in GENERATED_MIRRORS {
        if let Err(e) = check((m.new)().desc().dump_vmstate_json()) {
            assert_eq!(release, Release::Qemu7_2, "{e}");
            otherwise.push((m.name, e));
        }
    }
    if release == Release::Qemu7_2 {
        let names: Vec<&str> = otherwise.iter().map(|(n, _)| *n).collect();
        let listed: Vec<&str> = CATALOG_OTHERWISE_IN_7_2.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, listed, "{otherwise:#?}");
    }
}

/// The ESP mirror's description as `release` dumps it: the mirror reads the fields
/// either release wrote (`drq_state` when the source's ESP state is version 7),
/// described as 7.2 does; 10.0's own is version 7 and reads `drq_state` always
/// (`data_ready` and `mig_ti_cmd` are renamed by `DUMP_RENAMES_IN_10_0`) and has no
/// `esp/pdma` subsection; 7.2's has no `drq_state`.
fn esp_as_dumped_by(release: Release) -> String {
    let mut json: serde_json::Value =
        serde_json::from_str(&PciEspScsi::dump_vmstate_json()).unwrap();
    let esp = &mut json["Fields"][3]["Description"];
    assert_eq!(esp["name"], "esp");
    let fields = esp["Fields"].as_array_mut().unwrap();
    let drq = fields
        .iter()
        .position(|f| f["field"] == "drq_state")
        .unwrap();
    match release {
        Release::Qemu7_2 => {
            fields.remove(drq);
        }
        Release::Qemu10_0 => {
            fields[drq]["field_exists"] = false.into();
            esp["version_id"] = 7.into();
            esp.as_object_mut().unwrap().remove("Subsections");
        }
    }
    json.to_string()
}

/// The SD card mirror's description as `release` dumps it: 7.2's, whose last
/// byte 10.0 calls `unused`.
fn sd_card_as_dumped_by(release: Release) -> String {
    let mut json: serde_json::Value = serde_json::from_str(&SdCard::dump_vmstate_json()).unwrap();
    if release == Release::Qemu10_0 {
        let fields = json["Fields"].as_array_mut().unwrap();
        let enable = fields.iter_mut().find(|f| f["field"] == "enable").unwrap();
        enable["field"] = "unused".into();
    }
    json.to_string()
}

/// Generated mirrors whose description QEMU 7.2 writes otherwise or lacks, and how.
const CATALOG_OTHERWISE_IN_7_2: [(&str, &str); 7] = [
    (
        "PIIX4",
        "7.2's x86 build has no piix4-isa (the MIPS Malta southbridge)",
    ),
    (
        "acpi-ged",
        "7.2 has no acpi-ged/cpuhp subsection (CPU hotplug on microvm/virt came later)",
    ),
    ("igb", "new in QEMU 8.0"),
    (
        "platform",
        "7.2's x86 build has no xen-platform description in its dump",
    ),
    (
        "ramfb-dev",
        "7.2's standalone ramfb does not migrate (no description)",
    ),
    ("vmclock", "new in QEMU 9.1"),
    ("xen_overlay", "new in QEMU 8.0 (Xen emulation on KVM)"),
];

/// A type's `-dump-vmstate` description.
type DumpJson = fn() -> String;

/// Linked containers of the hand-written mirrors (`QTailQ`, described as bytes),
/// whose element type QEMU's dump describes: the field, the element's description.
const LINKED: [(&str, DumpJson); 3] = [
    ("gpadl_list", VmbusGpadl::dump_vmstate_json),
    ("variables", UefiVariable::dump_vmstate_json),
    ("var_policies", UefiVarPolicy::dump_vmstate_json),
];

/// `-dump-vmstate` of one release, compared with the mirrors' own.
struct DumpCheck {
    release: Release,
    dump: serde_json::Value,
}

impl DumpCheck {
    fn renamed(&self, field: &serde_json::Value) -> serde_json::Value {
        let to = DUMP_RENAMES_IN_10_0.iter().find(|(ours, _)| field == ours);
        match (self.release, to) {
            (Release::Qemu10_0, Some((_, theirs))) => (*theirs).into(),
            _ => field.clone(),
        }
    }

    /// Several QOM types can share a VMStateDescription name (`serial` is both
    /// isa-serial's and the UART's own): the one whose first field is ours, else
    /// the only one of that name (a first field this release pads or renames).
    fn by_name(
        &self,
        name: &str,
        first_field: &serde_json::Value,
    ) -> Result<serde_json::Value, String> {
        let named: Vec<&serde_json::Value> = self
            .dump
            .as_object()
            .unwrap()
            .values()
            .filter_map(|v| v.get("Description"))
            .filter(|d| d["name"] == name)
            .collect();
        named
            .iter()
            .find(|d| &d["Fields"][0]["field"] == first_field)
            .or(named.first().filter(|_| named.len() == 1))
            .map(|d| (*d).clone())
            .ok_or_else(|| format!("{name} not in -dump-vmstate"))
    }

    fn compare(
        &self,
        ours: &serde_json::Value,
        qemu: &serde_json::Value,
        path: &str,
    ) -> Result<(), String> {
        let same = |o: &serde_json::Value, q: &serde_json::Value, what: &str| {
            if o == q {
                Ok(())
            } else {
                Err(format!("{what}: ours {o}, QEMU {q}"))
            }
        };
        for key in ["name", "version_id", "minimum_version_id"] {
            same(&ours[key], &qemu[key], &format!("{path}: {key}"))?;
        }
        let (of, qf) = (
            ours["Fields"].as_array().unwrap(),
            qemu["Fields"].as_array().unwrap(),
        );
        // Fields 10.0 pads compare as the one `unused` buffer it describes.
        let padded = PADDED_IN_10_0
            .iter()
            .find(|(d, _)| self.release == Release::Qemu10_0 && ours["name"] == *d)
            .map_or(&[][..], |(_, f)| *f);
        let unused = serde_json::json!({
            "field": "unused",
            "version_id": 0,
            "field_exists": false,
            "size": padded.len() * 4,
        });
        let of: Vec<&serde_json::Value> = of
            .iter()
            .filter(|f| {
                self.release != Release::Qemu7_2
                    || !FIELDS_SINCE_7_2.iter().any(|n| f["field"] == *n)
            })
            .filter(|f| !padded.iter().skip(1).any(|n| f["field"] == *n))
            .map(|f| match padded.first() {
                Some(n) if f["field"] == *n => &unused,
                _ => f,
            })
            .collect();
        same(
            &of.len().into(),
            &qf.len().into(),
            &format!("{path}: field count"),
        )?;
        for (o, q) in of.iter().zip(qf) {
            let p = format!("{path}.{}", q["field"]);
            same(
                &self.renamed(&o["field"]),
                &q["field"],
                &format!("{p}: field"),
            )?;
            for key in ["version_id", "field_exists"] {
                same(&o[key], &q[key], &format!("{p}: {key}"))?;
            }
            match (o.get("Description"), q.get("Description")) {
                (Some(od), Some(qd)) => self.compare(od, qd, &p)?,
                // A linked container: QEMU describes its element type.
                (None, Some(qd)) if LINKED.iter().any(|(n, _)| q["field"] == *n) => {
                    let (_, elem) = LINKED.iter().find(|(n, _)| q["field"] == *n).unwrap();
                    self.compare(&serde_json::from_str(&elem()).unwrap(), qd, &p)?
                }
                (None, None) => {
                    // QEMU reports the C field's size. It differs from the wire
                    // size for VMSTATE_UINT16_HACK (fw_cfg's version-1 offset, 2
                    // bytes on the wire in a 4-byte field) and for padding that
                    // replaced a field; a custom VMStateInfo that writes what it
                    // wants (`msix state`, `virtio`) has size 0.
                    let hack = q["field"] == "cur_offset" && q["field_exists"] == true;
                    let padding = q["field"] == "unused" && o["field"] != "unused";
                    if !hack && !padding && q["size"] != 0 {
                        same(&o["size"], &q["size"], &format!("{p}: size"))?;
                    }
                }
                _ => return Err(format!("{p}: struct on one side only")),
            }
        }
        let empty = vec![];
        let os: Vec<&serde_json::Value> = ours
            .get("Subsections")
            .and_then(|v| v.as_array())
            .unwrap_or(&empty)
            .iter()
            .filter(|s| {
                self.release != Release::Qemu7_2
                    || !SUBSECTIONS_SINCE_7_2.iter().any(|n| s["name"] == *n)
            })
            .collect();
        let qs = qemu
            .get("Subsections")
            .and_then(|v| v.as_array())
            .unwrap_or(&empty);
        same(
            &os.len().into(),
            &qs.len().into(),
            &format!("{path}: subsection count"),
        )?;
        for (o, q) in os.iter().zip(qs) {
            self.compare(o, q, &format!("{path}/{}", q["name"]))?;
        }
        Ok(())
    }
}

/// Older versions still load: the RTC of a real stream saved at version 1 and 2
/// drops the later fields, and loads back with them left at the destination's values.
#[test]
fn rtc_round_trips_at_every_version() {
    let bytes = read_fixture("pc-kvm-bios.mig");
    let s = dump::walk_legacy(&bytes).unwrap();
    let rtc = prove::<Rtc>(&s, "kvm", "mc146818rtc").remove(0);
    for (version, len) in [
        (1u32, 128 + 1 + 28 + 8 + 8 + 24),
        (2, 197 + 4 + 4),
        (3, 205 + 5 * 8),
    ] {
        let b = legacy::to_bytes_at(&rtc, version).unwrap();
        assert_eq!(b.len(), len, "v{version}");
        let back: Rtc = legacy::from_bytes(&b, version).unwrap();
        assert_eq!(back.cmos_data, rtc.cmos_data);
        if version == 3 {
            assert_eq!(back, rtc);
        } else {
            assert_eq!(back.base_rtc, 0);
        }
    }
    let e = legacy::to_bytes_at(&rtc, 4).unwrap_err();
    assert_eq!(
        e.kind(),
        &ErrorKind::VersionTooNew {
            version: 4,
            supported: 3
        }
    );
}

/// Every mirror decodes, re-encodes and is described exactly in QEMU 10.0's streams:
/// its own machine types (TCG and KVM, SMP 2) and `pc-i440fx-7.2` as 10.0 runs it.
#[test]
fn qemu_10_0_devices_are_byte_exact() {
    assert_eq!(prove_stream("pc-i440fx-7.2-kvm-bios.mig"), 32);
    assert_eq!(device_sections("pc-i440fx-7.2-kvm-bios.mig"), 32);
    // The same guest on 10.0's own machine type: every section typed too.
    assert_eq!(prove_stream("pc-i440fx-10.0-kvm-bios.mig"), 32);
    assert_eq!(device_sections("pc-i440fx-10.0-kvm-bios.mig"), 32);
    // Two vCPUs (cpu and apic twice), TCG (no kvmclock).
    assert_eq!(prove_stream("pc-i440fx-10.0-tcg-devices.mig"), 46);
    assert_eq!(device_sections("pc-i440fx-10.0-tcg-devices.mig"), 46);
    // Two vCPUs, KVM (kvmclock), no floppy controller on Q35.
    assert_eq!(prove_stream("pc-q35-10.0-kvm-devices.mig"), 42);
    assert_eq!(device_sections("pc-q35-10.0-kvm-devices.mig"), 42);
}

/// The PIC's level-triggered mode travels in QEMU 10.0's `i8259/ltim` subsection,
/// after the 16 fields, only when set; without it the bytes are QEMU 7.2's.
#[test]
fn pic_ltim_is_qemu_10_0s_subsection() {
    let mut pic = Pic {
        elcr: 0x0c,
        ..Pic::default()
    };
    let plain = legacy::to_bytes(&pic).unwrap();
    assert_eq!(plain.len(), 16);
    pic.ltim = Some(PicLtim { ltim: 1 });
    let with = legacy::to_bytes(&pic).unwrap();
    let mut want = plain.clone();
    want.push(0x05);
    want.push(10);
    want.extend(b"i8259/ltim");
    want.extend(1u32.to_be_bytes());
    want.push(1);
    assert_eq!(with, want);
    assert_eq!(legacy::from_bytes::<Pic>(&with, 1).unwrap(), pic);
}

/// The machine-type table gives, for every fixture of both releases, the version at
/// which that stream's QEMU saved each mirrored device.
#[test]
fn machine_types_give_the_versions_qemu_saved() {
    let table = machine_types();
    for (_, name, _) in fixture_streams() {
        let bytes = read_fixture(&name);
        let s = dump::walk_legacy(&bytes).unwrap();
        let machine = s.machine_type();
        assert!(MACHINES.contains(&machine.as_str()), "{name}: {machine}");
        let mut seen = 0;
        for sec in s.sections.iter().filter(|x| x.kind == SectionKind::Full) {
            if let Some(v) = table.version(&machine, &sec.ident.idstr) {
                assert_eq!(v, sec.ident.version, "{name}: {}", sec.ident.idstr);
                seen += 1;
            }
        }
        assert!(seen >= 19, "{name}: {seen} mirrored sections");
    }
}
