//! The RAM section against QEMU 7.2's streams: the loader rebuilds `pc.ram` of all
//! three fixtures to the SHA-256 of QEMU's own `pmemsave`; the saver, given the same
//! memory, writes QEMU's bytes exactly; BER parts round-trip with zero pages as runs;
//! interleaved zero and data pages go in mixed runs; dirty bitmaps pick the pages;
//! hostile parts get typed errors.

use sha2::{Digest, Sha256};
use vmstate_runtime::ber::{Decoder, Options, Tag};
use vmstate_runtime::dump;
use vmstate_runtime::io::SliceInput;
use vmstate_runtime::io::Writer;
use vmstate_runtime::ram::ber::{self as ram_ber, Element, Run};
use vmstate_runtime::ram::{self, Encoding, Pages, RamLoader, RamRecord, RamSaver};
use vmstate_runtime::stream::SectionKind;
use vmstate_runtime::ErrorKind;
use vmstate_runtime::Format;
use vmstate_test_support::catalog::{fixture_streams, read_fixture};
use vmstate_test_support::testing::{ram_blocks, ram_blocks_mut};

/// A RAM part: its kind, body and offset in the stream.
type Part<'a> = (SectionKind, &'a [u8], u64);

/// The RAM parts of a fixture and its block list.
fn parts(bytes: &[u8]) -> (Vec<Part<'_>>, Vec<ram::ListedBlock>) {
    let s = dump::walk_legacy(bytes).unwrap();
    let parts: Vec<_> = s
        .sections
        .iter()
        .filter(|sec| sec.ident.idstr == "ram")
        .map(|sec| (sec.kind, sec.body, sec.body_offset))
        .collect();
    let (records, _) = ram::read_part(parts[0].1, parts[0].2, &mut ram::Cursor::default()).unwrap();
    let RamRecord::MemSize { blocks, .. } = &records[0] else {
        panic!("no block list")
    };
    (parts, blocks.clone())
}

/// Loads every legacy part of a fixture into fresh blocks.
fn load_fixture(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    vmstate_test_support::testing::ram_of(bytes).unwrap()
}

fn sha(b: &[u8]) -> String {
    Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

#[test]
fn the_loader_rebuilds_pc_ram_as_qemu_dumped_it() {
    // A multifd capture's data pages are on its channels, which `dump --ram
    // --channel` loads with it (`vmstate-cli/tests/cli.rs`).
    let main_alone = fixture_streams()
        .into_iter()
        .filter(|(_, _, entry)| entry["channels"].as_array().is_none_or(Vec::is_empty));
    for (_, name, entry) in main_alone {
        let mem = load_fixture(&read_fixture(&name));
        // `pc.ram`, or the memory backend of the guest's NUMA node.
        let block = entry["ram_block"].as_str().unwrap();
        let pc_ram = &mem.iter().find(|(n, _)| n == block).unwrap().1;
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

/// A BER part's elements as (kind, offset, pages), read by the loader's fast path
/// and, element by element, by the general decoder, which must agree.
fn elements(part: &[u8]) -> Vec<(char, u64, u64)> {
    let mut out = Vec::new();
    let mut fast = ram_ber::Elements::new(part, 0, 4096);
    let mut input = SliceInput::new(part);
    let mut general = Decoder::new(&mut input, Options::STRICT);
    while let Some((e, _)) = fast.next_at().unwrap() {
        assert_eq!(
            Some(&e),
            ram_ber::next_element(&mut general, 4096).unwrap().as_ref()
        );
        out.push(match e {
            Element::MemSize { .. } => ('m', 0, 0),
            Element::Zero { offset, pages, .. } => ('z', offset, pages),
            Element::Data { offset, data, .. } => ('d', offset, data.len() as u64 / 4096),
            Element::Mixed { offset, pages, .. } => ('x', offset, pages),
            Element::Encoded { offset, .. } | Element::Delta { offset, .. } => ('e', offset, 1),
            Element::MultifdFlush => ('f', 0, 0),
            Element::DeltaCache { .. } | Element::Zstd { .. } => ('c', 0, 0),
        });
    }
    assert_eq!(general.offset(), part.len() as u64);
    out
}

#[test]
fn interleaved_pages_go_in_mixed_runs_long_runs_stand_alone() {
    // 1100 pages alternating data and zero, 100 data pages, 200 zero pages, then
    // short runs of 3 data and 2 zero pages to the end.
    let pages = 1100 + 100 + 200 + 50;
    let mut mem = vec![("pc.ram".to_owned(), vec![0u8; pages * 4096])];
    let data = |p: usize| {
        p < 1100 && p % 2 == 0 || (1100..1200).contains(&p) || p >= 1400 && (p - 1400) % 5 < 3
    };
    for p in (0..pages).filter(|&p| data(p)) {
        mem[0].1[p * 4096 + p % 4096] = (p % 251) as u8 + 1;
    }
    let (back, _) = round_trip(&mem, Format::Ber, &[None]);
    assert!(back[0] == mem[0].1);
    let saver = RamSaver::new(ram_blocks(&mem)).unwrap();
    let mut w = Writer::new(Vec::new());
    saver.write_part(Format::Ber, Pages::All, &mut w).unwrap();
    let p = |n: u64| n * 4096;
    assert_eq!(
        elements(&w.into_inner()),
        [
            ('x', 0, 512),
            ('x', p(512), 512),
            ('x', p(1024), 76),
            ('d', p(1100), 100),
            ('z', p(1200), 200),
            ('x', p(1400), 50),
        ]
    );
    // Legacy records convert to the same grouping, and back exactly.
    let mut w = Writer::new(Vec::new());
    saver
        .write_part(Format::Legacy, Pages::All, &mut w)
        .unwrap();
    let legacy = w.into_inner();
    let (records, _) = ram::read_part(&legacy, 0, &mut ram::Cursor::default()).unwrap();
    let ber = ram_ber::records_to_ber(records.clone()).unwrap();
    assert_eq!(elements(&ber).len(), 6);
    let mut blocks = vec![ram::ListedBlock::new("pc.ram", p(pages as u64))];
    assert_eq!(ber_records(&ber, &mut blocks), records);
}

/// The legacy records of a BER part's elements, read inside their section's
/// `[6]` as streams carry them; `blocks` is the block list (a MEM_SIZE element
/// sets it).
fn ber_records(elements: &[u8], blocks: &mut Vec<ram::ListedBlock>) -> Vec<RamRecord<'static>> {
    let mut section = vec![0xa6, 0x80];
    section.extend_from_slice(elements);
    section.extend_from_slice(&[0, 0]);
    let mut input = SliceInput::new(&section);
    let mut d = Decoder::new(&mut input, Options::STRICT);
    let h = d.expect(Tag::context(6, Tag::SEQUENCE)).unwrap();
    d.enter(&h).unwrap();
    let records = ram_ber::ber_to_records(
        &mut d,
        blocks,
        &mut Default::default(),
        &mut u64::MAX.clone(),
    )
    .unwrap();
    records.into_iter().map(RamRecord::into_owned).collect()
}

/// A part's elements by the loader's fast path and by the general decoder alone,
/// each as a list or the offset of its error.
fn both_readings(part: &[u8]) -> [Result<Vec<Element<'_>>, u64>; 2] {
    let mut fast = ram_ber::Elements::new(part, 0, 4096);
    let mut fast_all = Vec::new();
    let fast = loop {
        match fast.next_at() {
            Ok(Some((e, _))) => fast_all.push(e),
            Ok(None) => break Ok(fast_all),
            Err(e) => break Err(e.offset()),
        }
    };
    let mut input = SliceInput::new(part);
    let mut d = Decoder::new(&mut input, Options::STRICT);
    let mut general_all = Vec::new();
    let general = loop {
        if d.offset() == part.len() as u64 {
            break Ok(general_all);
        }
        match ram_ber::next_element(&mut d, 4096) {
            Ok(Some(e)) => general_all.push(e),
            Ok(None) => break Ok(general_all),
            Err(e) => break Err(e.offset()),
        }
    };
    [fast, general]
}

#[test]
fn the_fast_path_reads_exactly_what_the_general_decoder_reads() {
    // Zero, data and mixed runs; then thousands of corruptions of their headers.
    let pages = 200;
    let mut mem = vec![("pc.ram".to_owned(), vec![0u8; pages * 4096])];
    for p in (0..pages).filter(|p| p % 3 == 0 || (100..180).contains(p)) {
        mem[0].1[p * 4096] = 1;
    }
    let saver = RamSaver::new(ram_blocks(&mem)).unwrap();
    let mut w = Writer::new(Vec::new());
    saver.write_part(Format::Ber, Pages::All, &mut w).unwrap();
    let good = w.into_inner();
    let [fast, general] = both_readings(&good);
    assert_eq!(fast, general);
    assert!(fast.unwrap().len() >= 3);
    // Header octets: everything but the pages' data.
    let headers: Vec<usize> = (0..good.len())
        .filter(|&i| {
            i < 64
                || good[i.saturating_sub(8)..i]
                    .iter()
                    .any(|&b| b != 0 && b != 1)
        })
        .collect();
    // An empty INTEGER (once a panic in the fast path) is an error in both.
    let mut run = Vec::new();
    ram_ber::zero_run(&mut run, "pc.ram", 0, 1, 0, None);
    let at = run
        .windows(3)
        .position(|w| w == [0x02, 0x01, 0x00])
        .unwrap();
    run.splice(at..at + 3, [0x02, 0x00]);
    run[1] -= 1;
    let [fast, general] = both_readings(&run);
    assert!(fast.is_err() && fast == general, "{fast:?} {general:?}");
    let mut rng = vmstate_test_support::testing::Rng(0xfa57);
    for _ in 0..20_000 {
        let mut bad = good.clone();
        for _ in 0..1 + rng.next_u64() % 2 {
            let i = headers[(rng.next_u64() % headers.len() as u64) as usize];
            bad[i] = rng.next_u64() as u8;
        }
        let [fast, general] = both_readings(&bad);
        assert_eq!(fast, general, "{}", hex(&bad[..64]));
    }
}

#[test]
fn hostile_mixed_runs_get_typed_errors() {
    // Pages: data, zero, data, zero, zero (bit map 0b01011 then three unused bits).
    let one = |offset: u64, fill: Option<u8>| Run {
        block: "pc.ram",
        offset,
        pages: 1,
        fill,
        continued: None,
    };
    let runs = [
        one(0, None),
        one(4096, Some(0)),
        one(8192, None),
        Run {
            pages: 2,
            ..one(12288, Some(0))
        },
    ];
    let mut good = Vec::new();
    ram_ber::mixed_run_start(&mut good, "pc.ram", &runs, 4096);
    good.extend(std::iter::repeat_n(9u8, 2 * 4096));
    ram_ber::run_end(&mut good, None);
    let map = good.windows(3).position(|w| w == [0x03, 0x02, 3]).unwrap() + 3;
    assert_eq!(good[map], 0b0101_1000);
    let load = |part: &[u8], pages: usize| {
        let mut dst = vec![("pc.ram".to_owned(), vec![1u8; pages * 4096])];
        let mut l = RamLoader::new(ram_blocks_mut(&mut dst));
        l.load_ber(part, 0).map(|()| dst.remove(0).1)
    };
    let back = load(&good, 5).unwrap();
    assert!(back[..4096].iter().all(|&b| b == 9) && back[4096..8192].iter().all(|&b| b == 0));
    assert!(back[8192..12288].iter().all(|&b| b == 9) && back[12288..].iter().all(|&b| b == 0));
    let malformed = |part: &[u8]| {
        let e = load(part, 5).unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::MalformedBer(_)), "{e}");
        e.offset()
    };
    // An unused bit set.
    let mut bad = good.clone();
    bad[map] |= 1;
    assert_eq!(malformed(&bad), map as u64 - 3);
    // A data page turned zero: the data no longer matches the bit map.
    let mut bad = good.clone();
    bad[map] |= 0x80;
    assert!(malformed(&bad) > map as u64);
    // A block one page short.
    let e = load(&good, 4).unwrap_err();
    assert_eq!(
        e.kind(),
        &ErrorKind::PageOutOfRange {
            block: "pc.ram".into(),
            offset: 0
        }
    );
    // Every truncation, and corruptions of the header: errors, never a panic.
    for cut in 1..good.len() {
        assert!(load(&good[..cut], 5).is_err());
    }
    let mut rng = vmstate_test_support::testing::Rng(0x5eed);
    for _ in 0..2000 {
        let mut bad = good.clone();
        bad[(rng.next_u64() % 24) as usize] = rng.next_u64() as u8;
        let _ = load(&bad, 5);
    }
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
    let mut rng = vmstate_test_support::testing::Rng(0x1234_5678);
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
    ram::ber::zero_run(&mut run, "pc.ram", 0, 1 << 40, 0, None);
    let mut l = RamLoader::new(ram_blocks_mut(&mut dst));
    let e = l.load_ber(&run, 0).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::PageOutOfRange { .. }), "{e}");
}

#[test]
fn ram_and_devices_in_one_registry_stream_in_both_formats() {
    use vmstate_qemu::Port92;
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

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn a_registry_saves_ram_in_parts_of_at_most_64_mib() {
    use vmstate_runtime::dump;
    use vmstate_runtime::stream::Registry;
    // 72 MiB in two blocks: parts of 64 MiB span blocks.
    let mut mem = vec![
        ("pc.ram".to_owned(), vec![0u8; 64 << 20]),
        ("vga.vram".to_owned(), vec![0u8; 8 << 20]),
    ];
    for (i, (_, m)) in mem.iter_mut().enumerate() {
        for p in (0..m.len() / 4096).step_by(997) {
            m[p * 4096] = (p + i) as u8 | 1;
        }
    }
    for format in [Format::Legacy, Format::Ber] {
        let mut saver = RamSaver::new(ram_blocks(&mem)).unwrap();
        let bytes = {
            let mut reg = Registry::new("pc-i440fx-7.2");
            reg.iterative("ram", 0, &mut saver);
            reg.save(format).unwrap()
        };
        let tree = dump::from_bytes_with(&bytes, dump::RamParts::Summary(&mut |_| Ok(()))).unwrap();
        let kinds: Vec<&str> = tree["sections"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["type"].as_str().unwrap())
            .collect();
        assert_eq!(kinds, ["start", "part", "part", "end"], "{format:?}");
        let pages: Vec<u64> = tree["sections"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                let r = &s["ram_summary"];
                r["zero_pages"].as_u64().unwrap() + r["data_pages"].as_u64().unwrap()
            })
            .collect();
        assert_eq!(pages, [0, 16384, 2048, 0], "{format:?}");
        let mut back: Vec<(String, Vec<u8>)> = mem
            .iter()
            .map(|(n, m)| (n.clone(), vec![0; m.len()]))
            .collect();
        let mut loader = RamLoader::new(ram_blocks_mut(&mut back));
        let mut reg = Registry::new("pc-i440fx-7.2");
        reg.iterative("ram", 0, &mut loader);
        reg.load_from(&bytes[..]).unwrap();
        drop(reg);
        drop(loader);
        assert!(back == mem, "{format:?}");
    }
}

#[test]
fn other_page_sizes_round_trip_and_a_mismatch_is_refused() {
    use vmstate_runtime::ram::{RamBlock, RamBlockMut};
    for page in [1024usize, 64 << 10] {
        let mut guest = vec![0u8; 4 << 20];
        for (i, p) in (0..guest.len() / page).step_by(3).enumerate() {
            guest[p * page + i % page] = i as u8 | 1;
        }
        for format in [Format::Legacy, Format::Ber] {
            let mut parts = Vec::new();
            let saver = RamSaver::with_page_size(
                vec![RamBlock {
                    name: "pc.ram",
                    mem: &guest,
                }],
                page,
            )
            .unwrap();
            let mut w = Writer::new(Vec::new());
            saver.write_setup(format, &mut w).unwrap();
            saver.write_part(format, Pages::All, &mut w).unwrap();
            parts.push(w.into_inner());
            // Page 5 changes: the bitmap has a bit per page of this size.
            let mut later = guest.clone();
            later[5 * page + 7] = 0xee;
            let saver = RamSaver::with_page_size(
                vec![RamBlock {
                    name: "pc.ram",
                    mem: &later,
                }],
                page,
            )
            .unwrap();
            let mut w = Writer::new(Vec::new());
            let dirty: &[u64] = &[1 << 5];
            let stats = saver
                .write_part(format, Pages::Dirty(&[dirty]), &mut w)
                .unwrap();
            assert_eq!(stats.data_pages, 1);
            parts.push(w.into_inner());

            let mut dst = vec![0u8; guest.len()];
            let mut loader = RamLoader::with_page_size(
                vec![RamBlockMut {
                    name: "pc.ram",
                    mem: &mut dst,
                }],
                page,
            )
            .unwrap();
            for part in &parts {
                match format {
                    Format::Legacy => {
                        let mut at = 0;
                        while at < part.len() {
                            at += loader.load_legacy(&part[at..], at as u64).unwrap();
                        }
                    }
                    Format::Ber => loader.load_ber(part, 0).unwrap(),
                }
            }
            drop(loader);
            assert!(dst == later, "{page}-byte pages, {format:?}");

            // A BER stream says its page size: a 4 KiB loader refuses it.
            if format == Format::Ber {
                let mut dst = vec![0u8; guest.len()];
                let mut loader = RamLoader::new(vec![RamBlockMut {
                    name: "pc.ram",
                    mem: &mut dst,
                }]);
                let e = loader.load_ber(&parts[0], 0).unwrap_err();
                assert!(
                    e.to_string()
                        .contains(&format!("the stream's pages are {page} bytes")),
                    "{e}"
                );
            }
        }
    }
    // Page sizes are powers of two from 1 KiB to 1 GiB.
    for bad in [0, 512, 3000, 2 << 30] {
        assert!(RamSaver::with_page_size(Vec::new(), bad).is_err(), "{bad}");
    }
}

/// A page sent again encoded, as QEMU's `xbzrle` and `compress` capabilities send
/// it: the legacy part reads back to the same records and bytes, converts to BER
/// and back exactly, and both loaders make the page from its previous content.
#[test]
fn encoded_pages_load_convert_and_round_trip_exactly() {
    let old: Vec<u8> = (0..4096u32).map(|i| (i % 253) as u8).collect();
    let mut new = old.clone();
    new[4..8].copy_from_slice(&7u32.to_be_bytes());
    new[4000] ^= 0x55;
    let delta = ram::xbzrle::encode(&old, &new).unwrap();
    let zlib = Encoding::deflate(&new);
    for (encoding, data, header) in [
        // The encoding byte and a be16 length; a be32 length.
        (
            Encoding::Xbzrle,
            &delta,
            [&[1][..], &(delta.len() as u16).to_be_bytes()].concat(),
        ),
        (
            Encoding::Zlib,
            &zlib,
            (zlib.len() as u32).to_be_bytes().to_vec(),
        ),
    ] {
        encoded_part(encoding, &old, &new, data, &header);
    }
}

/// Checks one encoded page (see above): `header` is what precedes its bytes.
fn encoded_part(encoding: Encoding, old: &[u8], new: &[u8], data: &[u8], header: &[u8]) {
    let setup = vec![
        RamRecord::MemSize {
            total: 2 * 4096,
            blocks: vec![ram::ListedBlock::new("pc.ram", 2 * 4096)],
            regions: vec![],
        },
        RamRecord::Page {
            block: "pc.ram".into(),
            offset: 4096,
            data: old.to_vec().into(),
            continued: false,
        },
    ];
    let again = vec![RamRecord::Encoded {
        block: "pc.ram".into(),
        offset: 4096,
        encoding,
        data: data.to_vec().into(),
        continued: false,
    }];
    let legacy: Vec<Vec<u8>> = [&setup, &again]
        .iter()
        .map(|records| {
            let mut w = Writer::new(Vec::new());
            ram::write_part(records, &mut w).unwrap();
            w.into_inner()
        })
        .collect();
    // The second part on the wire: the page word, the block, the header, the bytes.
    let word = (4096u64 | encoding.flag()).to_be_bytes();
    assert_eq!(&legacy[1][..8], &word);
    assert_eq!(&legacy[1][8..15], b"\x06pc.ram");
    let at = 15 + header.len();
    assert_eq!(&legacy[1][15..at], header);
    assert_eq!(&legacy[1][at..at + data.len()], data);
    let (records, used) = ram::read_part(&legacy[1], 0, &mut ram::Cursor::default()).unwrap();
    assert_eq!((records, used), (again.clone(), legacy[1].len()));

    let mut ber = Vec::new();
    let mut blocks = Vec::new();
    for (part, records) in legacy.iter().zip([&setup, &again]) {
        let elements = ram_ber::records_to_ber(records.clone()).unwrap();
        let back = ber_records(&elements, &mut blocks);
        let mut w = Writer::new(Vec::new());
        ram::write_part(&back, &mut w).unwrap();
        assert_eq!(
            &w.into_inner(),
            part,
            "{encoding:?}: legacy -> BER -> legacy"
        );
        ber.push(elements);
    }
    assert_eq!(elements(&ber[1]), [('e', 4096, 1)]);

    for format in [Format::Legacy, Format::Ber] {
        let mut mem = vec![0u8; 2 * 4096];
        let mut loader = RamLoader::new(vec![ram::RamBlockMut {
            name: "pc.ram",
            mem: &mut mem,
        }]);
        for (l, b) in legacy.iter().zip(&ber) {
            match format {
                Format::Legacy => assert_eq!(loader.load_legacy(l, 0).unwrap(), l.len()),
                Format::Ber => loader.load_ber(b, 0).unwrap(),
            }
        }
        drop(loader);
        assert_eq!(&mem[4096..], new, "{encoding:?} {format:?}");
    }
}

/// A delta QEMU's decoder refuses is a typed error at its offset, from the legacy
/// reader, the loader and the BER reader alike.
#[test]
fn a_bad_xbzrle_delta_is_refused_by_every_reader() {
    let mut part = Vec::new();
    let word = |flags: u64| flags.to_be_bytes();
    // The block list, then an XBZRLE page whose changed run ends past the delta.
    part.extend_from_slice(&(4096u64 | ram::FLAG_MEM_SIZE).to_be_bytes());
    part.extend_from_slice(b"\x06pc.ram");
    part.extend_from_slice(&4096u64.to_be_bytes());
    part.extend_from_slice(&word(ram::FLAG_XBZRLE));
    part.extend_from_slice(b"\x06pc.ram\x01\x00\x04\x00\x05\x01\x02");
    part.extend_from_slice(&word(ram::FLAG_EOS));
    let at = 8 + 7 + 8 + 8 + 7;
    let e = ram::read_part(&part, 0, &mut ram::Cursor::default()).unwrap_err();
    assert_eq!(
        e.kind(),
        &ErrorKind::BadXbzrle("a changed run past the page's or the delta's end")
    );
    assert_eq!(e.offset(), at as u64 + 3);
    let mut mem = vec![0u8; 4096];
    let mut loader = RamLoader::new(vec![ram::RamBlockMut {
        name: "pc.ram",
        mem: &mut mem,
    }]);
    let e = loader.load_legacy(&part, 0).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::BadXbzrle(_)), "{e}");
    // An encoding byte other than QEMU's one.
    part[at] = 2;
    let e = ram::read_part(&part, 0, &mut ram::Cursor::default()).unwrap_err();
    assert_eq!(
        e.kind(),
        &ErrorKind::BadXbzrle("an encoding other than ENCODING_FLAG_XBZRLE")
    );
    // XBZRLE and a full page in one word: two kinds, as QEMU refuses.
    let both = (4096u64 | ram::FLAG_XBZRLE | ram::FLAG_PAGE).to_be_bytes();
    part[23..31].copy_from_slice(&both);
    let e = ram::read_part(&part, 0, &mut ram::Cursor::default()).unwrap_err();
    assert!(
        e.to_string()
            .contains("RAM flags 0x48 are not one kind of record"),
        "{e}"
    );
    // Words that would not be written back the same: no kind, CONTINUE on an
    // EOS, an EOS with address bits.
    for (word, text) in [
        (4096u64, "RAM flags 0x0 are not one kind of record"),
        (
            ram::FLAG_EOS | ram::FLAG_CONTINUE,
            "CONTINUE on a word that sends no page",
        ),
        (4096 | ram::FLAG_EOS, "with address bits 0x1000"),
    ] {
        let e = ram::read_part(&word.to_be_bytes(), 0, &mut ram::Cursor::default()).unwrap_err();
        assert!(e.to_string().contains(text), "{e}");
        assert_eq!(e.offset(), 0);
    }
    // The BER element with that delta.
    let mut elements = Vec::new();
    ram_ber::encoded_page(
        &mut elements,
        Encoding::Xbzrle,
        "pc.ram",
        0,
        &[0, 4, 1, 2],
        None,
    );
    let e = ram_ber::Elements::new(&elements, 0, 4096)
        .next_at()
        .unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::BadXbzrle(_)), "{e}");
}

/// Memory a device says its source did not send (virtio-mem's unplugged blocks)
/// is zeroed and counted as arrived in that device's block only: a block of
/// another device or size is left alone, ranges past the block are cut at its
/// end, and a page neither sent nor unplugged is still missing.
#[test]
fn unplugged_memory_counts_only_in_the_devices_block() {
    use vmstate_runtime::framing::UnpluggedRam;
    const PAGE: usize = 4096;
    let mut mem = vec![
        ("0000:00:04.0/vmem0".to_owned(), vec![0xa5; 16 * PAGE]),
        ("0000:00:04.1/vmem1".to_owned(), vec![0xa5; 16 * PAGE]),
    ];
    // The block list, as a stream's START part gives it.
    let mut part = Vec::new();
    RamSaver::new(ram_blocks(&mem))
        .unwrap()
        .write_setup(Format::Legacy, &mut Writer::new(&mut part))
        .unwrap();
    let mut loader = RamLoader::new(ram_blocks_mut(&mut mem));
    loader.load_legacy(&part, 0).unwrap();
    let unplugged = UnpluggedRam {
        size: (16 * PAGE) as u64,
        ranges: vec![0..2 * PAGE as u64, 3 * PAGE as u64..1 << 40],
    };
    // Another device's path, a prefix of this one's, and a size that is not the block's.
    loader.unplugged("0000:00:04", &unplugged).unwrap();
    loader
        .unplugged(
            "0000:00:04.0",
            &UnpluggedRam {
                size: 1,
                ..unplugged.clone()
            },
        )
        .unwrap();
    assert_eq!(loader.holes().len(), 2);
    loader.unplugged("0000:00:04.0", &unplugged).unwrap();
    let holes = loader.holes();
    assert_eq!(holes.len(), 2, "{holes:?}");
    assert_eq!(
        (holes[0].block.as_str(), holes[0].missing),
        ("0000:00:04.0/vmem0", 1)
    );
    let hole = &holes[0].ranges[0];
    assert_eq!(
        (holes[0].ranges.len(), hole.start, hole.end),
        (1, 2 * PAGE as u64, 3 * PAGE as u64)
    );
    assert_eq!(holes[1].missing, 16);
    let err = loader.check_complete(0).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::MissingPages { missing: 1, .. }),
        "{err}"
    );
    drop(loader);
    let vmem = &mem[0].1;
    assert!(vmem[..2 * PAGE].iter().all(|b| *b == 0));
    assert!(vmem[2 * PAGE..3 * PAGE].iter().all(|b| *b == 0xa5));
    assert!(vmem[3 * PAGE..].iter().all(|b| *b == 0));
    assert!(mem[1].1.iter().all(|b| *b == 0xa5));
}
