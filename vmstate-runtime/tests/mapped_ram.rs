//! mapped-ram files (QEMU 10.0's `migrate file:` with `mapped-ram`): QEMU's files,
//! edited where a reader must not follow them, and files a registry writes, read
//! back by the loader with their holes.

use vmstate_runtime::dump;
use vmstate_runtime::framing::{legacy, Configuration};
use vmstate_runtime::io::{Input, SliceInput, Writer};
use vmstate_runtime::ram::{self, mapped, LiveRam, RamLoader, RamRecord, RamSaver};
use vmstate_runtime::stream::Registry;
use vmstate_runtime::{ErrorKind, Format};
use vmstate_test_support::catalog::read_fixture;
use vmstate_test_support::testing::{ram_blocks, ram_blocks_mut, ram_of};

const FIXTURE: &str = "pc-i440fx-10.0-mapped-ram.mig";

/// The RAM section's setup part of a mapped-ram fixture: its records and where its
/// body starts.
fn setup(bytes: &[u8]) -> (Vec<RamRecord<'_>>, u64) {
    let s = dump::walk_legacy(bytes).unwrap();
    let part = s.sections.iter().find(|x| x.ident.idstr == "ram").unwrap();
    let mut cursor = ram::Cursor::new(Some(&s.configuration));
    let (records, _) = ram::read_part(part.body, part.body_offset, &mut cursor).unwrap();
    (records, part.body_offset)
}

/// The first block's region of `records`' block list.
fn first_region<'r, 'a>(records: &'r [RamRecord<'a>]) -> &'r ram::MappedRegion<'a> {
    match &records[0] {
        RamRecord::MemSize { regions, .. } => &regions[0],
        _ => panic!("no block list"),
    }
}

/// The error `dump` gives for `bytes`, as text, and its kind.
fn dump_error(bytes: &[u8]) -> (String, ErrorKind) {
    let e = dump::from_bytes(bytes).unwrap_err();
    (e.to_string(), e.kind().clone())
}

#[test]
fn qemus_file_is_read_in_order_with_its_regions() {
    for name in [FIXTURE, "pc-i440fx-10.0-mapped-ram-multifd.mig"] {
        let bytes = read_fixture(name);
        let (records, body) = setup(&bytes);
        let RamRecord::MemSize {
            blocks, regions, ..
        } = &records[0]
        else {
            panic!("{name}: no block list")
        };
        assert_eq!(regions.len(), blocks.len(), "{name}");
        // Where QEMU put each block is where its writer would: the same placement.
        let places: Vec<(u64, u64)> = regions
            .iter()
            .map(|r| (r.bitmap_offset, r.pages_offset))
            .collect();
        assert_eq!(mapped::placement(blocks, body), places, "{name}");
        // pc.ram: every page the bitmap holds, and no run of zero pages.
        let pc = &regions[0];
        assert_eq!(blocks[0].name, "pc.ram");
        assert!(pc.held(blocks[0].length) > 16, "{name}");
        assert!(pc.runs.iter().all(|(_, d)| !ram::is_zero(&d[..4096])));
    }
}

#[test]
fn a_file_without_mapped_ram_in_its_configuration_is_named() {
    let bytes = read_fixture(FIXTURE);
    let mut r = SliceInput::new(&bytes);
    let (c, _) = legacy::read_prelude(&mut r).unwrap().unwrap();
    let rest = &bytes[r.offset() as usize..];
    let plain = Configuration {
        capabilities: None,
        ..c
    };
    let mut w = Writer::new(Vec::new());
    legacy::put_prelude(&mut w, Some(&plain)).unwrap();
    let edited = [w.into_inner(), rest.to_vec()].concat();
    let (text, kind) = dump_error(&edited);
    assert!(matches!(kind, ErrorKind::Framing(_)), "{text}");
    assert!(
        text.contains(
            "is longer than the announced total (a stream saved with x-ignore-shared or mapped-ram"
        ),
        "{text}"
    );
}

#[test]
fn offsets_a_reader_cannot_follow_are_refused() {
    let bytes = read_fixture(FIXTURE);
    let (records, body) = setup(&bytes);
    let region = first_region(&records);
    // The header's fields, found by their values right before the bitmap.
    let header = (region.bitmap_offset - mapped::HEADER_LEN) as usize;
    assert_eq!(
        bytes[header + 12..header + 20],
        region.bitmap_offset.to_be_bytes()
    );
    let with = |at: usize, value: &[u8]| {
        let mut b = bytes.clone();
        b[at..at + value.len()].copy_from_slice(value);
        b
    };
    // A bitmap elsewhere than after its header.
    let (text, _) = dump_error(&with(
        header + 12,
        &(region.bitmap_offset + 8).to_be_bytes(),
    ));
    assert!(text.contains("its bitmap is at byte"), "{text}");
    assert!(text.starts_with(&format!("at byte {header}:")), "{text}");
    // Slots not at a MiB boundary.
    let (text, _) = dump_error(&with(
        header + 20,
        &(region.pages_offset + 4096).to_be_bytes(),
    ));
    assert!(text.contains("MiB boundary"), "{text}");
    // Another page size, a newer header version.
    let (text, _) = dump_error(&with(header + 4, &65536u64.to_be_bytes()));
    assert!(text.contains("QEMU x86 writes 4 KiB pages"), "{text}");
    let (text, _) = dump_error(&with(header, &2u32.to_be_bytes()));
    assert!(
        text.contains("header version 2 (QEMU reads up to 1)"),
        "{text}"
    );
    // Something written between the bitmap and the slots.
    let gap = (region.bitmap_offset as usize) + region.bitmap.len() + 100;
    let (text, _) = dump_error(&with(gap, &[1]));
    assert!(
        text.contains("not zero (QEMU never writes there)"),
        "{text}"
    );
    assert!(body < gap as u64);
}

#[test]
fn a_page_record_in_a_mapped_ram_file_is_refused() {
    let bytes = read_fixture(FIXTURE);
    let s = dump::walk_legacy(&bytes).unwrap();
    // The second RAM part is an EOS word alone: put a zero page of pc.ram before it.
    let part = s
        .sections
        .iter()
        .filter(|x| x.ident.idstr == "ram")
        .nth(1)
        .unwrap();
    assert_eq!(part.body, ram::FLAG_EOS.to_be_bytes());
    let at = part.body_offset as usize;
    let mut page = ram::FLAG_ZERO.to_be_bytes().to_vec();
    page.extend([6]);
    page.extend(b"pc.ram");
    page.push(0);
    page.extend(ram::FLAG_EOS.to_be_bytes());
    let edited = [&bytes[..at], &page[..], &bytes[at + 8..]].concat();
    let (text, _) = dump_error(&edited);
    assert!(
        text.starts_with(&format!(
            "at byte {at}: bad stream framing: RAM flags 0x2 send a page in a mapped-ram file"
        )),
        "{text}"
    );
    // The loader refuses it the same way.
    let mut mem = ram_of(&bytes).unwrap();
    let mut loader = RamLoader::new(ram_blocks_mut(&mut mem));
    loader.configure(Some(&s.configuration));
    let e = loader.load_legacy(&page, at as u64).unwrap_err();
    assert!(
        e.to_string().contains("send a page in a mapped-ram file"),
        "{e}"
    );
}

/// Guest memory with data pages, zero pages between them, and a zero block.
fn guest() -> Vec<(String, Vec<u8>)> {
    let mut ram = vec![0u8; 256 << 10];
    for p in [0usize, 1, 2, 17, 63] {
        ram[p * 4096..(p + 1) * 4096].fill(p as u8 + 1);
    }
    vec![("pc.ram".into(), ram), ("pc.rom".into(), vec![0; 8 << 10])]
}

#[test]
fn a_registry_writes_a_mapped_ram_file_the_loader_reads_back() {
    let mem = guest();
    let file = {
        let mut saver = RamSaver::new(ram_blocks(&mem)).unwrap();
        let mut reg = Registry::new("pc-i440fx-10.0").with_capability("mapped-ram");
        reg.iterative("ram", 0, &mut saver);
        reg.save(Format::Legacy).unwrap()
    };
    let (records, body) = setup(&file);
    let RamRecord::MemSize {
        blocks, regions, ..
    } = &records[0]
    else {
        panic!("no block list")
    };
    assert_eq!(
        regions
            .iter()
            .map(|r| (r.bitmap_offset, r.pages_offset))
            .collect::<Vec<_>>(),
        mapped::placement(blocks, body)
    );
    // A bit and a slot for each data page; the zero pages are holes.
    assert_eq!(regions[0].held(256 << 10), 5);
    assert_eq!(
        regions[0]
            .runs
            .iter()
            .map(|(o, d)| (o / 4096, d.len() / 4096))
            .collect::<Vec<_>>(),
        [(0, 3), (17, 1), (63, 1)]
    );
    assert_eq!(regions[1].held(8 << 10), 0);
    // The loader: held pages from their slots, the others left as they were
    // (QEMU's destination starts from zero).
    assert!(
        loaded(&mem, &file, 0) == mem,
        "the loader reads the file's pages"
    );
    let over = loaded(&mem, &file, 0xa5);
    for (k, page) in over[0].1.chunks(4096).enumerate() {
        let held = [0, 1, 2, 17, 63].contains(&k);
        assert!(
            page == &mem[0].1[k * 4096..(k + 1) * 4096] || !held,
            "page {k}"
        );
        assert!(
            held || page.iter().all(|&b| b == 0xa5),
            "page {k} untouched"
        );
    }
    // Through BER: the same file back, and the same memory from the BER form.
    let ber = dump::convert(&file, Format::Ber).unwrap();
    assert!(dump::convert(&ber, Format::Legacy).unwrap() == file);
    assert!(
        loaded(&mem, &ber, 0) == mem,
        "the loader reads the BER form's regions"
    );
}

/// What a registry's RAM loader makes of `stream` in blocks shaped as `mem`,
/// filled with `fill` first.
fn loaded(mem: &[(String, Vec<u8>)], stream: &[u8], fill: u8) -> Vec<(String, Vec<u8>)> {
    let mut back: Vec<(String, Vec<u8>)> = mem
        .iter()
        .map(|(n, m)| (n.clone(), vec![fill; m.len()]))
        .collect();
    let mut loader = RamLoader::new(ram_blocks_mut(&mut back));
    let mut reg = Registry::new("pc-i440fx-10.0");
    reg.iterative("ram", 0, &mut loader);
    reg.load(stream).unwrap();
    drop(reg);
    drop(loader);
    back
}

#[test]
fn what_a_saver_cannot_write_is_refused_before_a_byte() {
    let mem = guest();
    // A mapped-ram file's offsets are the legacy file's: no BER save.
    let mut saver = RamSaver::new(ram_blocks(&mem)).unwrap();
    let mut reg = Registry::new("pc-i440fx-10.0").with_capability("mapped-ram");
    reg.iterative("ram", 0, &mut saver);
    let e = reg.save(Format::Ber).unwrap_err();
    assert!(
        e.to_string().contains("written in the legacy format"),
        "{e}"
    );
    // A live save writes pages again: not into a mapped-ram file.
    let mut live = LiveRam::new(RamSaver::new(ram_blocks(&mem)).unwrap(), || Ok(vec![]));
    let mut reg = Registry::new("pc-i440fx-10.0").with_capability("mapped-ram");
    reg.iterative("ram", 0, &mut live);
    let e = reg.save(Format::Legacy).unwrap_err();
    assert!(
        matches!(e.kind(), ErrorKind::Unsupported { capability, .. } if capability == "mapped-ram"),
        "{e}"
    );
    // A saver has no guest addresses for x-ignore-shared.
    let mut saver = RamSaver::new(ram_blocks(&mem)).unwrap();
    let mut reg = Registry::new("pc-i440fx-10.0").with_capability("x-ignore-shared");
    reg.iterative("ram", 0, &mut saver);
    let e = reg.save(Format::Legacy).unwrap_err();
    assert!(
        matches!(e.kind(), ErrorKind::Unsupported { capability, .. } if capability == "x-ignore-shared"),
        "{e}"
    );
}

#[test]
fn a_tree_whose_region_does_not_fit_is_refused() {
    let bytes = read_fixture("pc-i440fx-10.0-mapped-ram.mig");
    let tree = dump::from_bytes(&bytes).unwrap();
    let edit = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut t = tree.clone();
        let ram = t["sections"]
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .find(|s| s.get("ram").is_some())
            .unwrap();
        f(&mut ram["ram"][0]["blocks"][0]["mapped"]);
        dump::to_bytes(&t, Format::Legacy).unwrap_err().to_string()
    };
    // A run past the block's end.
    let text = edit(&|m| m["runs"][0]["offset"] = (32u64 << 20).into());
    assert!(text.contains("inside the block"), "{text}");
    // A bitmap of another size.
    let text = edit(&|m| m["bitmap"] = "00".into());
    assert!(text.contains("a bitmap of 1 octets, not 1024"), "{text}");
    // Offsets that are not where the writer is.
    let text = edit(&|m| {
        m["bitmap_offset"] = (m["bitmap_offset"].as_u64().unwrap() + 8).into();
        m["pages_offset"] = (m["pages_offset"].as_u64().unwrap()).into();
    });
    assert!(text.contains("but its header ends at"), "{text}");
}
