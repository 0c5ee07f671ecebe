//! Whole streams from typed devices: a registry of the QEMU mirrors (filled from a
//! real QEMU stream) saved in both formats and loaded back; the generic decoder reads
//! both streams to the same values; machine-type tables pick older versions; framing
//! errors are typed and leave every device as it was.

use vmstate_examples::catalog::read_fixture;
use vmstate_examples::demo::{sample, DemoDma};
use vmstate_examples::qemu::{Hpet, Port92, Rtc};
use vmstate_runtime::dump::{self, Format};
use vmstate_runtime::stream::{self, IterativeSection, MachineTypes, Registry, SectionKind};
use vmstate_runtime::{legacy, ErrorKind, VMState};

/// RTC and HPET of pc-kvm-bios.mig, and the demo device.
fn devices() -> (Rtc, Hpet, DemoDma) {
    let bytes = read_fixture("pc-kvm-bios.mig");
    let s = stream::walk_legacy(&bytes).unwrap();
    let (mut rtc, mut hpet) = (Rtc::default(), Hpet::default());
    stream::load_section(&mut rtc, s.device("mc146818rtc", 0).unwrap()).unwrap();
    stream::load_section(&mut hpet, s.device("hpet", 0).unwrap()).unwrap();
    (rtc, hpet, sample())
}

fn save(format: Format, machine: &str, table: MachineTypes) -> Vec<u8> {
    let (mut rtc, mut hpet, mut demo) = devices();
    let mut reg = Registry::new(machine).with_machine_types(table);
    reg.device("mc146818rtc", 0, &mut rtc);
    reg.device("hpet", 0, &mut hpet);
    reg.device("demo-dma", 0, &mut demo);
    reg.save(format).unwrap()
}

#[test]
fn both_formats_save_and_load_every_device() {
    let (rtc, hpet, demo) = devices();
    for format in [Format::Legacy, Format::Ber] {
        let bytes = save(format, "pc-i440fx-7.2", MachineTypes::new());
        assert_eq!(dump::detect(&bytes), Some(format));
        let (mut r, mut h, mut d) = (Rtc::default(), Hpet::default(), DemoDma::default());
        let mut reg = Registry::new("pc-i440fx-7.2");
        reg.device("mc146818rtc", 0, &mut r);
        reg.device("hpet", 0, &mut h);
        reg.device("demo-dma", 0, &mut d);
        reg.load(&bytes)
            .unwrap_or_else(|e| panic!("{format:?}: {e}"));
        drop(reg);
        assert_eq!((&r, &h), (&rtc, &hpet), "{format:?}");
        assert_eq!(
            legacy::to_bytes(&d).unwrap(),
            legacy::to_bytes(&demo).unwrap()
        );
    }
}

#[test]
fn the_generic_decoder_reads_both_streams_to_the_same_values() {
    let legacy_tree =
        dump::from_bytes(&save(Format::Legacy, "pc-i440fx-7.2", MachineTypes::new())).unwrap();
    let ber_tree =
        dump::from_bytes(&save(Format::Ber, "pc-i440fx-7.2", MachineTypes::new())).unwrap();
    assert_eq!(legacy_tree["sections"], ber_tree["sections"]);
    assert_eq!(
        legacy_tree["configuration"]["machine_type"],
        "pc-i440fx-7.2"
    );
    // The registry's legacy stream is QEMU's framing: the walker splits it by its vmdesc.
    let bytes = save(Format::Legacy, "pc-i440fx-7.2", MachineTypes::new());
    let s = stream::walk_legacy(&bytes).unwrap();
    assert_eq!(s.sections.len(), 3);
    assert_eq!(s.machine_type(), "pc-i440fx-7.2");
    // The generic tree re-encodes to the registry's bytes.
    assert!(dump::to_bytes(&legacy_tree, Format::Legacy).unwrap() == bytes);
}

#[test]
fn a_machine_type_table_writes_older_versions() {
    let table =
        MachineTypes::new().machine("pc-i440fx-2.0", &[("mc146818rtc", 1), ("demo-dma", 2)]);
    for format in [Format::Legacy, Format::Ber] {
        let bytes = save(format, "pc-i440fx-2.0", table.clone());
        let tree = dump::from_bytes(&bytes).unwrap();
        let versions: Vec<u64> = tree["sections"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["version"].as_u64().unwrap())
            .collect();
        assert_eq!(versions, [1, Hpet::DESC.version as u64, 2], "{format:?}");
        // A destination that knows only RTC version 1 and nothing newer loads it.
        let (mut r, mut h, mut d) = (Rtc::default(), Hpet::default(), DemoDma::default());
        let mut reg = Registry::new("pc-i440fx-2.0");
        reg.device("mc146818rtc", 0, &mut r);
        reg.device("hpet", 0, &mut h);
        reg.device("demo-dma", 0, &mut d);
        reg.load(&bytes).unwrap();
    }
}

#[test]
fn a_device_newer_than_the_destination_is_refused_by_name() {
    // demo-dma version 3 into a destination whose demo-dma stops at version 3 is
    // fine; port92 v1 saved as "v2" by a newer VMM is not.
    let mut p = Port92 { outport: 1 };
    let mut bytes = {
        let mut reg = Registry::new("m");
        reg.device("port92", 0, &mut p);
        reg.save(Format::Legacy).unwrap()
    };
    // The section header's version (after type, id, idstr, instance).
    let at = bytes.windows(6).position(|w| w == b"port92").unwrap() + 6 + 4;
    bytes[at + 3] = 2;
    let mut q = Port92 { outport: 9 };
    let mut reg = Registry::new("m");
    reg.device("port92", 0, &mut q);
    let e = reg.load(&bytes).unwrap_err();
    assert_eq!(
        e.kind(),
        &ErrorKind::VersionTooNew {
            version: 2,
            supported: 1
        }
    );
    assert_eq!(e.device(), Some("port92"));
    assert_eq!(
        e.to_string(),
        format!(
            "port92 at byte {}: version 2 is newer than the supported 1",
            at + 4
        )
    );
    drop(reg);
    assert_eq!(q.outport, 9);
}

#[test]
fn framing_errors_are_typed_and_leave_every_device_unchanged() {
    for format in [Format::Legacy, Format::Ber] {
        let bytes = save(format, "pc-i440fx-7.2", MachineTypes::new());
        let check = |stream: &[u8], want: &dyn Fn(&ErrorKind) -> bool, only_rtc: bool| {
            let (mut r, mut h, mut d) = (Rtc::default(), Hpet::default(), DemoDma::default());
            let mut reg = Registry::new("pc-i440fx-7.2");
            reg.device("mc146818rtc", 0, &mut r);
            if !only_rtc {
                reg.device("hpet", 0, &mut h);
                reg.device("demo-dma", 0, &mut d);
            }
            let e = reg.load(stream).unwrap_err();
            assert!(want(e.kind()), "{format:?}: {e}");
            drop(reg);
            assert_eq!(
                (r, h),
                (Rtc::default(), Hpet::default()),
                "{format:?}: a device changed"
            );
            e
        };
        // A section nobody registered.
        let e = check(
            &bytes,
            &|k| matches!(k, ErrorKind::UnknownSection(s) if s == "hpet#0"),
            true,
        );
        assert!(e.offset() > 0);
        // Every cut of the stream (but the one just after a legacy stream's EOF,
        // which is a stream without its optional vmdesc trailer).
        let eof = bytes.len() - (bytes.iter().rev().position(|&b| b == b'{').unwrap_or(0) + 6);
        for cut in (0..bytes.len())
            .step_by(7)
            .filter(|&c| format == Format::Ber || c != eof)
        {
            check(
                &bytes[..cut],
                &|k| {
                    matches!(
                        k,
                        ErrorKind::UnexpectedEof
                            | ErrorKind::Framing(_)
                            | ErrorKind::MalformedBer(_)
                            | ErrorKind::UnexpectedTag { .. }
                    )
                },
                false,
            );
        }
        // Another machine type.
        let (mut r, mut h, mut d) = (Rtc::default(), Hpet::default(), DemoDma::default());
        let mut reg = Registry::new("pc-q35-7.2");
        reg.device("mc146818rtc", 0, &mut r);
        reg.device("hpet", 0, &mut h);
        reg.device("demo-dma", 0, &mut d);
        let e = reg.load(&bytes).unwrap_err();
        assert!(
            e.to_string()
                .contains("machine type is pc-i440fx-7.2, this VM's is pc-q35-7.2"),
            "{e}"
        );
    }
    // A registered device missing from the stream.
    let bytes = save(Format::Legacy, "pc-i440fx-7.2", MachineTypes::new());
    let (mut r, mut h, mut d, mut p) = (
        Rtc::default(),
        Hpet::default(),
        DemoDma::default(),
        Port92::default(),
    );
    let mut reg = Registry::new("pc-i440fx-7.2");
    reg.device("mc146818rtc", 0, &mut r);
    reg.device("hpet", 0, &mut h);
    reg.device("demo-dma", 0, &mut d);
    reg.device("port92", 0, &mut p);
    let e = reg.load(&bytes).unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::MissingSection("port92#0".into()));
    drop(reg);
    assert_eq!(r, Rtc::default());
    // A footer that names another section.
    let mut bad = bytes.clone();
    let first = &stream::walk_legacy(&bytes).unwrap().sections[0];
    let footer = first.body_offset as usize + first.body.len();
    assert_eq!(bad[footer], 0x7e);
    bad[footer + 4] ^= 1;
    let mut r = Rtc::default();
    let mut reg = Registry::new("pc-i440fx-7.2");
    reg.device("mc146818rtc", 0, &mut r);
    let e = reg.load(&bad).unwrap_err();
    assert!(
        matches!(e.kind(), ErrorKind::Framing(m) if m.starts_with("bad footer after section mc146818rtc")),
        "{e}"
    );
}

/// A log sent in chunks of three entries: a small iterative section. Legacy parts
/// are `count: u8` then the entries as be32; BER parts one OCTET STRING of the same.
#[derive(Default)]
struct Log {
    entries: Vec<u32>,
    sent: usize,
    parts_loaded: Vec<SectionKind>,
}

impl Log {
    fn part(&mut self, format: Format, out: &mut Vec<u8>, chunk: usize) {
        let end = self.sent.saturating_add(chunk).min(self.entries.len());
        let mut raw = vec![(end - self.sent) as u8];
        for e in &self.entries[self.sent..end] {
            raw.extend_from_slice(&e.to_be_bytes());
        }
        self.sent = end;
        match format {
            Format::Legacy => out.extend(raw),
            Format::Ber => {
                out.push(0x04);
                out.push(raw.len() as u8);
                out.extend(raw);
            }
        }
    }
}

impl IterativeSection for Log {
    fn version(&self) -> u32 {
        1
    }
    fn save_setup(&mut self, format: Format, out: &mut Vec<u8>) -> vmstate_runtime::Result<()> {
        self.sent = 0;
        self.part(format, out, 0);
        Ok(())
    }
    fn save_iterate(&mut self, format: Format, out: &mut Vec<u8>) -> vmstate_runtime::Result<bool> {
        self.part(format, out, 3);
        Ok(self.sent == self.entries.len())
    }
    fn save_complete(&mut self, format: Format, out: &mut Vec<u8>) -> vmstate_runtime::Result<()> {
        self.part(format, out, usize::MAX);
        Ok(())
    }
    fn load_part(
        &mut self,
        kind: SectionKind,
        format: Format,
        body: &[u8],
        _base: u64,
        version: u32,
    ) -> vmstate_runtime::Result<usize> {
        assert_eq!(version, 1);
        let raw = match format {
            Format::Legacy => body,
            Format::Ber => &body[2..],
        };
        let n = usize::from(raw[0]);
        for c in raw[1..1 + 4 * n].chunks(4) {
            self.entries.push(u32::from_be_bytes(c.try_into().unwrap()));
        }
        self.parts_loaded.push(kind);
        Ok(1 + 4 * n + if format == Format::Ber { 2 } else { 0 })
    }
}

#[test]
fn iterative_sections_go_in_parts_before_the_devices() {
    for format in [Format::Legacy, Format::Ber] {
        let mut log = Log {
            entries: (1..=7).collect(),
            ..Log::default()
        };
        let mut p = Port92 { outport: 3 };
        let bytes = {
            let mut reg = Registry::new("m");
            reg.iterative("log", 0, &mut log);
            reg.device("port92", 0, &mut p);
            reg.save(format).unwrap()
        };
        let (mut back, mut q) = (Log::default(), Port92::default());
        let mut reg = Registry::new("m");
        reg.iterative("log", 0, &mut back);
        reg.device("port92", 0, &mut q);
        reg.load(&bytes)
            .unwrap_or_else(|e| panic!("{format:?}: {e}"));
        drop(reg);
        assert_eq!(back.entries, log.entries, "{format:?}");
        use SectionKind::*;
        assert_eq!(
            back.parts_loaded,
            [Start, Part, Part, Part, End],
            "{format:?}"
        );
        assert_eq!(q.outport, 3);
    }
}
