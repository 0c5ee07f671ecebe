//! The RAM section against QEMU 7.2's streams: the loader rebuilds `pc.ram` of all
//! three fixtures to the SHA-256 of QEMU's own `pmemsave`; the saver, given the same
//! memory, writes QEMU's bytes exactly; BER parts round-trip with zero pages as runs;
//! dirty bitmaps pick the pages; hostile parts get typed errors.

use sha2::{Digest, Sha256};
use vmstate_examples::catalog::{fixtures_dir, read_fixture};
use vmstate_examples::testing::{ram_blocks, ram_blocks_mut};
use vmstate_runtime::dump::Format;
use vmstate_runtime::io::Writer;
use vmstate_runtime::ram::{self, Pages, RamLoader, RamRecord, RamSaver};
use vmstate_runtime::stream::{self, SectionKind};
use vmstate_runtime::ErrorKind;

/// A RAM part: its kind, body and offset in the stream.
type Part<'a> = (SectionKind, &'a [u8], u64);

/// The RAM parts of a fixture and its block list.
fn parts(bytes: &[u8]) -> (Vec<Part<'_>>, Vec<(String, u64)>) {
    let s = stream::walk_legacy(bytes).unwrap();
    let parts: Vec<_> = s
        .sections
        .iter()
        .filter(|sec| sec.idstr == "ram")
        .map(|sec| (sec.kind, sec.body, sec.body_offset))
        .collect();
    let (records, _) = ram::read_part(parts[0].1, parts[0].2).unwrap();
    let RamRecord::MemSize { blocks, .. } = &records[0] else {
        panic!("no block list")
    };
    (parts, blocks.clone())
}

/// Loads every legacy part of a fixture into fresh blocks.
fn load_fixture(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    vmstate_examples::testing::ram_of(bytes).unwrap()
}

fn sha(b: &[u8]) -> String {
    Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

#[test]
fn the_loader_rebuilds_pc_ram_as_qemu_dumped_it() {
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures_dir().join("manifest.json")).unwrap(),
    )
    .unwrap();
    for entry in manifest.as_array().unwrap() {
        let name = entry["stream"].as_str().unwrap();
        let mem = load_fixture(&read_fixture(name));
        let pc_ram = &mem.iter().find(|(n, _)| n == "pc.ram").unwrap().1;
        for r in entry["ram_ranges_sha256"].as_array().unwrap() {
            let (s, e) = (
                r["start"].as_u64().unwrap() as usize,
                r["end"].as_u64().unwrap() as usize,
            );
            assert_eq!(
                sha(&pc_ram[s..e]),
                r["sha256"].as_str().unwrap(),
                "{name} [{s:#x}, {e:#x})"
            );
        }
    }
}

#[test]
fn the_saver_writes_qemus_bytes_exactly() {
    for name in ["pc-tcg-reset.mig", "pc-kvm-bios.mig", "q35-tcg-devices.mig"] {
        let bytes = read_fixture(name);
        let mem = load_fixture(&bytes);
        let saver = RamSaver::new(ram_blocks(&mem)).unwrap();
        let (parts, _) = parts(&bytes);
        let mut w = Writer::new(Vec::new());
        saver.write_setup(Format::Legacy, &mut w).unwrap();
        assert!(w.into_inner() == parts[0].1, "{name}: setup part");
        let mut w = Writer::new(Vec::new());
        saver
            .write_part(Format::Legacy, Pages::All, &mut w)
            .unwrap();
        assert!(
            w.into_inner() == parts[1].1,
            "{name}: the part with every page"
        );
        let none: Vec<&[u64]> = vec![&[]; mem.len()];
        let mut w = Writer::new(Vec::new());
        saver
            .write_part(Format::Legacy, Pages::Dirty(&none), &mut w)
            .unwrap();
        assert!(w.into_inner() == parts[2].1, "{name}: the final part");
    }
}

/// Saves `mem` in `format` as setup + the parts `bitmaps` name (None = all pages),
/// and loads it into fresh zero blocks.
fn round_trip(
    mem: &[(String, Vec<u8>)],
    format: Format,
    parts: &[Option<Vec<Vec<u64>>>],
) -> (Vec<Vec<u8>>, usize) {
    let saver = RamSaver::new(ram_blocks(mem)).unwrap();
    let mut encoded = Vec::new();
    let mut w = Writer::new(Vec::new());
    saver.write_setup(format, &mut w).unwrap();
    encoded.push(w.into_inner());
    for p in parts {
        let mut w = Writer::new(Vec::new());
        match p {
            None => saver.write_part(format, Pages::All, &mut w).unwrap(),
            Some(maps) => {
                let refs: Vec<&[u64]> = maps.iter().map(Vec::as_slice).collect();
                saver
                    .write_part(format, Pages::Dirty(&refs), &mut w)
                    .unwrap()
            }
        };
        encoded.push(w.into_inner());
    }
    let mut out: Vec<(String, Vec<u8>)> = mem
        .iter()
        .map(|(n, m)| (n.clone(), vec![0; m.len()]))
        .collect();
    let mut loader = RamLoader::new(ram_blocks_mut(&mut out));
    for part in &encoded {
        match format {
            Format::Legacy => assert_eq!(loader.load_legacy(part, 0).unwrap(), part.len()),
            Format::Ber => loader.load_ber(part, 0).unwrap(),
        }
    }
    drop(loader);
    (
        out.into_iter().map(|(_, m)| m).collect(),
        encoded.iter().map(Vec::len).sum(),
    )
}

#[test]
fn ber_parts_round_trip_and_zero_pages_are_runs() {
    let mem = load_fixture(&read_fixture("pc-kvm-bios.mig"));
    let (back, ber_len) = round_trip(&mem, Format::Ber, &[None]);
    for ((_, want), got) in mem.iter().zip(&back) {
        assert!(want == got);
    }
    let (_, legacy_len) = round_trip(&mem, Format::Legacy, &[None]);
    assert!(ber_len < legacy_len, "BER {ber_len} vs legacy {legacy_len}");
    // An all-zero guest is a few dozen octets whatever its size (the bench measures
    // 1 GiB; a test in a debug build reads 64 MiB).
    let zero = vec![("pc.ram".to_owned(), vec![0u8; 64 << 20])];
    let (_, n) = round_trip(&zero, Format::Ber, &[None]);
    assert!(n < 64, "{n} octets");
}

#[test]
fn dirty_bitmaps_choose_the_pages() {
    for format in [Format::Legacy, Format::Ber] {
        let mut mem = vec![("pc.ram".to_owned(), vec![0u8; 256 * 4096])];
        for p in [0usize, 3, 64, 65, 200] {
            mem[0].1[p * 4096] = p as u8 + 1;
        }
        // Part 1: pages 0..64 only; part 2: everything from 64 on.
        let low = vec![vec![u64::MAX, 0, 0, 0]];
        let high = vec![vec![0, u64::MAX, u64::MAX, u64::MAX]];
        let (back, _) = round_trip(&mem, format, &[Some(low.clone())]);
        assert_eq!(back[0][3 * 4096], 4);
        assert_eq!(back[0][64 * 4096], 0, "{format:?}: page 64 was not dirty");
        let (back, _) = round_trip(&mem, format, &[Some(low), Some(high)]);
        assert!(back[0] == mem[0].1, "{format:?}");
    }
}

#[test]
fn hostile_parts_get_typed_errors_and_no_write_outside_a_block() {
    let mem = [("pc.ram".to_owned(), vec![7u8; 4 * 4096])];
    let saver = RamSaver::new(ram_blocks(&mem)).unwrap();
    let mut good = Writer::new(Vec::new());
    saver
        .write_part(Format::Legacy, Pages::All, &mut good)
        .unwrap();
    let good = good.into_inner();
    let load = |blocks: &mut Vec<(String, Vec<u8>)>, part: &[u8]| {
        let mut l = RamLoader::new(ram_blocks_mut(blocks));
        l.load_legacy(part, 0).map(drop)
    };
    // A destination with a smaller block: the last page is out of range.
    let mut small = vec![("pc.ram".to_owned(), vec![0u8; 3 * 4096])];
    let e = load(&mut small, &good).unwrap_err();
    assert_eq!(
        e.kind(),
        &ErrorKind::PageOutOfRange {
            block: "pc.ram".into(),
            offset: 3 * 4096
        }
    );
    // An unknown block.
    let mut other = vec![("other".to_owned(), vec![0u8; 4 * 4096])];
    assert_eq!(
        load(&mut other, &good).unwrap_err().kind(),
        &ErrorKind::UnknownRamBlock("pc.ram".into())
    );
    // A block list with another length.
    let mut setup = Writer::new(Vec::new());
    saver.write_setup(Format::Legacy, &mut setup).unwrap();
    let e = load(&mut small, &setup.into_inner()).unwrap_err();
    assert_eq!(
        e.kind(),
        &ErrorKind::RamBlockLength {
            block: "pc.ram".into(),
            expected: 3 * 4096,
            found: 4 * 4096
        }
    );
    // Every truncation and many corruptions: errors, never a panic.
    let mut rng = vmstate_examples::testing::Rng(0x1234_5678);
    let mut dst = vec![("pc.ram".to_owned(), vec![0u8; 4 * 4096])];
    for cut in 0..good.len() {
        assert!(load(&mut dst, &good[..cut]).is_err());
    }
    for _ in 0..2000 {
        let mut bad = good.clone();
        let i = (rng.next_u64() % 64) as usize;
        bad[i] = rng.next_u64() as u8;
        let _ = load(&mut dst, &bad);
    }
    // BER: a run claiming more pages than the block has.
    let mut run = Vec::new();
    ram::runs::zero_run(&mut run, "pc.ram", 0, 1 << 40, 0, None);
    let mut l = RamLoader::new(ram_blocks_mut(&mut dst));
    let e = l.load_ber(&run, 0).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::PageOutOfRange { .. }), "{e}");
}

#[test]
fn ram_and_devices_in_one_registry_stream_in_both_formats() {
    use vmstate_examples::qemu::Port92;
    use vmstate_runtime::dump;
    use vmstate_runtime::stream::Registry;
    let mem = load_fixture(&read_fixture("pc-kvm-bios.mig"));
    for format in [Format::Legacy, Format::Ber] {
        let mut saver = RamSaver::new(ram_blocks(&mem)).unwrap();
        let mut p = Port92 { outport: 2 };
        let bytes = {
            let mut reg = Registry::new("pc-i440fx-7.2");
            reg.iterative("ram", 0, &mut saver);
            reg.device("port92", 0, &mut p);
            reg.save(format).unwrap()
        };
        // The generic decoder reads the RAM of either format.
        let tree = dump::from_bytes(&bytes).unwrap();
        assert_eq!(tree["sections"].as_array().unwrap().len(), 4, "{format:?}");
        let mut back: Vec<(String, Vec<u8>)> = mem
            .iter()
            .map(|(n, m)| (n.clone(), vec![0; m.len()]))
            .collect();
        let mut q = Port92::default();
        let mut loader = RamLoader::new(ram_blocks_mut(&mut back));
        let mut reg = Registry::new("pc-i440fx-7.2");
        reg.iterative("ram", 0, &mut loader);
        reg.device("port92", 0, &mut q);
        reg.load(&bytes)
            .unwrap_or_else(|e| panic!("{format:?}: {e}"));
        drop(reg);
        drop(loader);
        assert!(back == mem, "{format:?}: RAM differs");
        assert_eq!(q.outport, 2);
    }
}
