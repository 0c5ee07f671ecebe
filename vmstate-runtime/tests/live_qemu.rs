//! Interop with running QEMUs, 7.2 (Debian's `qemu-system-x86`) and 10.0 (unpacked
//! by `scripts/qemu-10.0.sh`), each on its own newest i440FX machine type: QEMU
//! migrates a guest that ran to a file; vmstate decodes the stream fully and re-encodes it
//! byte-identically (also through BER); a second QEMU loads *our* bytes with
//! `-incoming` and the guest runs on. Then a typed mirror edits a CMOS byte, and the
//! destination's RTC answers with it on port 0x71.
//!
//! `scripts/test.sh` installs both and sets `VMSTATE_REQUIRE_QEMU=1`; a plain
//! `cargo test` without them skips with a note.

use serde_json::json;
use std::path::PathBuf;
use std::time::Duration;
use vmstate_qemu::Rtc;
use vmstate_runtime::dump;
use vmstate_runtime::Format;
use vmstate_runtime::{legacy, stream};
use vmstate_test_support::qmp::{Peer, Qemu, Release};
use vmstate_test_support::testing::ram_blocks;

/// The peers that run here (a missing one fails under `VMSTATE_REQUIRE_QEMU`).
fn peers() -> impl Iterator<Item = Peer> {
    Peer::NEWEST.into_iter().filter(|p| p.release.available())
}
/// A CMOS byte that neither QEMU nor SeaBIOS uses.
const CMOS_INDEX: usize = 0x6e;

fn dir() -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("live-qemu");
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// What these tests do with a peer.
trait Live {
    fn name(&self, name: &str) -> String;
    fn boot(&self, name: &str, extra: &[&str]) -> Qemu;
    fn source_stream(&self, name: &str) -> Vec<u8>;
    fn source_stream_at(&self, name: &str, bandwidth: Option<u64>) -> Vec<u8>;
    fn load_ours(&self, name: &str, bytes: &[u8]) -> Qemu;
}

impl Live for Peer {
    /// `name` with the release, for files and messages.
    fn name(&self, name: &str) -> String {
        format!("{name}-{}", self.release.version())
    }

    /// A 32 MiB guest running SeaBIOS.
    fn boot(&self, name: &str, extra: &[&str]) -> Qemu {
        self.start(&dir(), name, 32, extra)
    }

    /// A guest that ran SeaBIOS for a moment, migrated to a file by QEMU.
    fn source_stream(&self, name: &str) -> Vec<u8> {
        self.source_stream_at(name, None)
    }

    /// [`Peer::source_stream`], with QEMU's `max-bandwidth` set when given (a low
    /// one makes QEMU send RAM in several parts).
    fn source_stream_at(&self, name: &str, bandwidth: Option<u64>) -> Vec<u8> {
        let name = self.name(name);
        let mut src = self.boot(&format!("{name}-src"), &[]);
        assert_eq!(src.status().unwrap(), "running");
        std::thread::sleep(Duration::from_millis(700));
        if let Some(bw) = bandwidth {
            src.execute("migrate-set-parameters", json!({ "max-bandwidth": bw }))
                .unwrap();
        }
        let file = dir().join(format!("{name}-qemu.mig"));
        src.migrate_to_file(&file).unwrap();
        std::fs::read(&file).unwrap()
    }

    /// Starts a QEMU that loads `bytes` with `-incoming`; returns it once the
    /// migration completed.
    fn load_ours(&self, name: &str, bytes: &[u8]) -> Qemu {
        Peer::incoming(
            self,
            &dir(),
            &format!("{}-ours", self.name(name)),
            32,
            &[],
            bytes,
        )
    }
}

/// Whether a stream holds QEMU 10.0's `SWITCHOVER_START`, which its machine types
/// send and older ones do not.
fn has_switchover_start(bytes: &[u8]) -> bool {
    dump::walk_legacy(bytes)
        .unwrap()
        .commands
        .iter()
        .any(|c| c.command.name() == "SWITCHOVER_START")
}

fn runs_on(dst: &mut Qemu) {
    // The source was stopped before migrating, so the destination waits paused.
    assert_eq!(dst.status().unwrap(), "paused");
    dst.execute("cont", json!({})).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(dst.status().unwrap(), "running");
}

#[test]
fn qemu_loads_our_re_encoding_of_its_own_stream() {
    for peer in peers() {
        let original = peer.source_stream("roundtrip");
        assert_eq!(
            has_switchover_start(&original),
            stream::sends_switchover_start(peer.machine),
            "{}",
            peer.machine
        );
        let tree = dump::from_bytes(&original).expect("decodes fully");
        let ours = dump::to_bytes(&tree, Format::Legacy).unwrap();
        assert!(
            ours == original,
            "our re-encoding differs from QEMU's stream"
        );
        let via_ber = dump::to_bytes(
            &dump::from_bytes(&dump::to_bytes(&tree, Format::Ber).unwrap()).unwrap(),
            Format::Legacy,
        )
        .unwrap();
        assert!(via_ber == original, "legacy -> BER -> legacy differs");
        let mut dst = peer.load_ours("roundtrip", &via_ber);
        runs_on(&mut dst);
    }
}

#[test]
fn a_rate_limited_stream_in_several_parts_round_trips_and_loads() {
    for peer in peers() {
        // At 1 MB/s QEMU sends RAM in several PARTs, and names a block only when it
        // changes, also across parts (a part may start with a CONTINUE page).
        let original = peer.source_stream_at("parts", Some(1_000_000));
        let tree = dump::from_bytes(&original).expect("decodes fully");
        let parts = tree["sections"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["type"] == "part")
            .count();
        assert!(parts >= 2, "{parts} RAM part(s)");
        assert!(dump::to_bytes(&tree, Format::Legacy).unwrap() == original);
        let ber = dump::convert(&original, Format::Ber).unwrap();
        let back = dump::convert(&ber, Format::Legacy).unwrap();
        assert!(back == original, "legacy -> BER -> legacy differs");
        let mut dst = peer.load_ours("parts", &back);
        runs_on(&mut dst);
    }
}

#[test]
fn a_cmos_byte_edited_by_the_typed_mirror_reaches_the_destination_rtc() {
    for peer in peers() {
        let mut bytes = peer.source_stream("cmos");
        let s = dump::walk_legacy(&bytes).unwrap();
        let sec = s.device("mc146818rtc", 0).unwrap();
        let mut rtc = Rtc::default();
        dump::load_section(&mut rtc, sec).unwrap();
        let before = rtc.cmos_data[CMOS_INDEX];
        rtc.cmos_data[CMOS_INDEX] = before ^ 0x5a;
        let body = legacy::to_bytes_at(&rtc, sec.ident.version).unwrap();
        assert_eq!(body.len(), sec.body.len());
        let at = sec.body_offset as usize;
        bytes[at..at + body.len()].copy_from_slice(&body);
        let mut dst = peer.load_ours("cmos", &bytes);
        assert_eq!(dst.read_cmos(CMOS_INDEX).unwrap(), before ^ 0x5a);
        runs_on(&mut dst);
    }
}

/// Guest-physical ranges backed by `pc.ram` below 4 GiB (the VGA/BIOS window at
/// 0xA0000..0x100000 reads from elsewhere).
fn ram_ranges(len: usize) -> [(usize, usize); 2] {
    [(0, 0xA0000), (0x100000, len)]
}

/// Asserts that QEMU `q`'s guest memory, as its own `pmemsave` dumps it, is the
/// `pc.ram` of `mem` (RAM blocks by name).
fn holds_ram(q: &mut Qemu, mem: &[(String, Vec<u8>)], name: &str) {
    let pc_ram = &mem.iter().find(|(n, _)| n == "pc.ram").unwrap().1;
    let file = dir().join(format!("{name}-dst.ram"));
    q.execute(
        "pmemsave",
        json!({"val": 0, "size": pc_ram.len(), "filename": file.display().to_string()}),
    )
    .unwrap();
    let theirs = std::fs::read(&file).unwrap();
    for (s, e) in ram_ranges(pc_ram.len()) {
        assert!(
            theirs[s..e] == pc_ram[s..e],
            "{name}: guest memory [{s:#x}, {e:#x}) differs"
        );
    }
}

#[test]
fn qemu_loads_ram_written_by_our_saver_in_our_own_parts() {
    use vmstate_runtime::framing::{
        put_command, put_section, SectionHeader, SectionId, SectionKind,
    };
    use vmstate_runtime::io::Writer;
    use vmstate_runtime::ram::{self, Pages, RamSaver};
    for peer in peers() {
        let original = peer.source_stream("ram");
        let s = dump::walk_legacy(&original).unwrap();
        let parts: Vec<_> = s
            .sections
            .iter()
            .filter(|x| x.ident.idstr == "ram")
            .collect();
        // The guest's RAM as QEMU sent it.
        let mem = vmstate_test_support::testing::ram_of(&original).unwrap();
        // Our RAM section: the block list, then three parts of our choosing (pages
        // 0, 3, 6..., then 1, 4, 7..., then the rest), then an empty final part.
        let saver = RamSaver::new(ram_blocks(&mem)).unwrap();
        let id = parts[0].section_id;
        let mut ours = Vec::new();
        let mut body = Writer::new(Vec::new());
        saver.write_setup(Format::Legacy, &mut body).unwrap();
        let ram_id = SectionId {
            idstr: "ram".into(),
            instance: 0,
            version: ram::RAM_VERSION,
            occurrence: 0,
        };
        let header = |kind, ident| SectionHeader { kind, id, ident };
        put_section(
            &mut ours,
            Format::Legacy,
            &header(SectionKind::Start, Some(ram_id)),
            &body.into_inner(),
        )
        .unwrap();
        for phase in 0..3u64 {
            let maps: Vec<Vec<u64>> = mem
                .iter()
                .map(|(_, m)| {
                    let pages = m.len() / 4096;
                    let mut words = vec![0u64; pages.div_ceil(64)];
                    for p in (0..pages).filter(|p| *p as u64 % 3 == phase) {
                        words[p / 64] |= 1 << (p % 64);
                    }
                    words
                })
                .collect();
            let refs: Vec<&[u64]> = maps.iter().map(Vec::as_slice).collect();
            let mut body = Writer::new(Vec::new());
            saver
                .write_part(Format::Legacy, Pages::Dirty(&refs), &mut body)
                .unwrap();
            put_section(
                &mut ours,
                Format::Legacy,
                &header(SectionKind::Part, None),
                &body.into_inner(),
            )
            .unwrap();
        }
        // QEMU 10.0's notice that the device state follows, where it sent one.
        for c in &s.commands {
            put_command(&mut ours, Format::Legacy, &c.command).unwrap();
        }
        let mut body = Writer::new(Vec::new());
        let none: Vec<&[u64]> = vec![&[]; mem.len()];
        saver
            .write_part(Format::Legacy, Pages::Dirty(&none), &mut body)
            .unwrap();
        put_section(
            &mut ours,
            Format::Legacy,
            &header(SectionKind::End, None),
            &body.into_inner(),
        )
        .unwrap();
        // Splice it in place of QEMU's RAM section: header and configuration before,
        // the device sections and trailer after.
        let start = parts[0].body_offset as usize - (1 + 4 + 1 + 3 + 4 + 4);
        let last = parts.last().unwrap();
        let end = last.body_offset as usize + last.body.len() + 5;
        let stream_bytes = [&original[..start], &ours[..], &original[end..]].concat();
        assert!(
            stream_bytes != original,
            "our parts differ from QEMU's one part"
        );
        let mut dst = peer.load_ours("ram", &stream_bytes);
        holds_ram(&mut dst, &mem, &peer.name("ram"));
        runs_on(&mut dst);
    }
}

/// The seed question made concrete: a guest of machine `pc-i440fx-7.2` migrates from
/// one QEMU release to the other through vmstate, legacy -> BER -> legacy, both ways;
/// the destination loads it, holds the source's RAM and runs on.
#[test]
fn a_guest_crosses_qemu_releases_through_ber() {
    let (old, new) = (
        Peer::on_7_2(Release::Qemu7_2),
        Peer::on_7_2(Release::Qemu10_0),
    );
    if !(old.release.available() && new.release.available()) {
        return;
    }
    for (src, dst) in [(new, old), (old, new)] {
        let name = format!("cross-from-{}", src.release.version());
        let original = src.source_stream(&name);
        // QEMU 10.0 sends no SWITCHOVER_START for a 7.2 machine type.
        assert!(!has_switchover_start(&original), "{name}");
        let ber = dump::convert(&original, Format::Ber).unwrap();
        let back = dump::convert(&ber, Format::Legacy).unwrap();
        assert!(back == original, "{name}: legacy -> BER -> legacy differs");
        let mut q = dst.load_ours(&name, &back);
        let mem = vmstate_test_support::testing::ram_of(&original).unwrap();
        holds_ram(&mut q, &mem, &name);
        runs_on(&mut q);
    }
}
