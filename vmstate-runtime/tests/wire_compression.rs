//! The BER leg's page compression (`ram::ber::wire`): a legacy stream compressed
//! (zstd groups, deltas against the reader's cache) converts back to the same
//! stream byte for byte, through the streaming converter and through the tree;
//! it is smaller; and what a reader cannot make a page from is refused.

use std::io::Cursor;
use vmstate_qemu::Rtc;
use vmstate_runtime::dump::{self, Limits};
use vmstate_runtime::framing::legacy as records;
use vmstate_runtime::io::{Input, SliceInput};
use vmstate_runtime::ram::ber::{
    element_records, wire, Compression, Elements, PageCache, Received, CACHE_MAX, GROUP_MAX,
};
use vmstate_runtime::ram::{self, xbzrle, Encoding, ListedBlock, RamRecord};
use vmstate_runtime::stream::Registry;
use vmstate_runtime::ErrorKind;
use vmstate_runtime::Format;
use vmstate_test_support::catalog;
use vmstate_test_support::testing::{ram_section, ram_section_end};

const RAM: &str = "pc.ram";
const VRAM: &str = "vga.vram";
const PAGES: u64 = 512;

/// A page as a guest's memory holds it: words of a program's data (counters,
/// pointers), text, and zero.
fn page(n: u64, round: u64) -> Vec<u8> {
    let mut p = vec![0u8; 4096];
    match n % 4 {
        0 => {
            for (i, w) in p.chunks_exact_mut(8).enumerate().take(300) {
                let v = 0xffff_8880_0000_0000u64 + n * 4096 + i as u64 * 64;
                w.copy_from_slice(&v.to_le_bytes());
            }
        }
        1 => {
            let text = format!("page {n}: the quick brown fox jumps over the lazy dog; ");
            for (i, b) in p.iter_mut().enumerate() {
                *b = text.as_bytes()[i % text.len()];
            }
        }
        2 => {
            for (i, b) in p.iter_mut().enumerate() {
                *b = ((n * 131 + i as u64 * 7919) >> 3) as u8;
            }
        }
        _ => p[100] = n as u8 | 1,
    }
    // What a round rewrote: a counter and a few words.
    p[8..16].copy_from_slice(&round.to_le_bytes());
    p[2048 + (round as usize % 64)] ^= round as u8 | 1;
    p
}

/// A RAM section record, ended.
fn section(kind: u8, id: u32, named: bool, recs: &[RamRecord<'_>]) -> Vec<u8> {
    [ram_section(kind, id, named, recs), ram_section_end(id)].concat()
}

fn data(block: &str, offset: u64, data: Vec<u8>, continued: bool) -> RamRecord<'static> {
    RamRecord::Page {
        block: block.into(),
        offset,
        data: data.into(),
        continued,
    }
}

/// A live migration's stream: the first pass over every page, then rounds that
/// send the hot pages again (some turned zero, one XBZRLE-encoded by QEMU,
/// one in another block), then the device tail of a real registry stream.
fn migration() -> Vec<u8> {
    let mut rtc = Rtc::default();
    let mut reg = Registry::new("pc-i440fx-7.2");
    reg.device("mc146818rtc", 0, &mut rtc);
    let whole = reg.save(Format::Legacy).unwrap();
    drop(reg);
    let mut r = SliceInput::new(&whole);
    records::read_prelude(&mut r).unwrap();
    let (prelude, tail) = whole.split_at(r.offset() as usize);
    let mut out = prelude.to_vec();
    let len = PAGES * 4096;
    out.extend(section(
        1,
        9,
        true,
        &[RamRecord::MemSize {
            total: len + 65536,
            blocks: vec![ListedBlock::new(RAM, len), ListedBlock::new(VRAM, 65536)],
            regions: vec![],
        }],
    ));
    let first: Vec<_> = (0..PAGES)
        .map(|n| match n % 8 {
            7 => RamRecord::Zero {
                block: RAM.into(),
                offset: n * 4096,
                fill: 0,
                continued: n > 0,
            },
            _ => data(RAM, n * 4096, page(n, 0), n > 0),
        })
        .collect();
    out.extend(section(2, 9, false, &first));
    for round in 1..6u64 {
        let mut recs = Vec::new();
        for n in (0..PAGES).filter(|n| n % 8 != 7 && (n * 3 + round) % 5 != 0) {
            recs.push(data(RAM, n * 4096, page(n, round), !recs.is_empty()));
        }
        // A page that is zero now, and back to data next round.
        recs.push(RamRecord::Zero {
            block: RAM.into(),
            offset: round * 4096,
            fill: 0,
            continued: true,
        });
        // A page QEMU sent XBZRLE-encoded.
        let (old, new) = (page(40, round - 1), page(40, round));
        recs.push(RamRecord::Encoded {
            block: RAM.into(),
            offset: 40 * 4096,
            encoding: Encoding::Xbzrle,
            data: xbzrle::encode(&old, &new).unwrap().into(),
            continued: true,
        });
        recs.push(data(VRAM, round * 4096, page(round, round), false));
        out.extend(section(2, 9, false, &recs));
    }
    out.extend(section(3, 9, false, &[data(RAM, 0, page(0, 9), false)]));
    out.extend_from_slice(tail);
    out
}

/// `legacy` converted to BER, its RAM compressed by `c`.
fn compressed(legacy: &[u8], c: Option<Compression>) -> Vec<u8> {
    let mut out = Vec::new();
    match c {
        Some(c) => dump::convert_compressed(
            &mut Cursor::new(legacy),
            &mut out,
            c,
            &Limits::default(),
            &mut |_| {},
        ),
        None => dump::convert_stream(
            &mut Cursor::new(legacy),
            &mut out,
            Format::Ber,
            &Limits::default(),
            &mut |_| {},
        ),
    }
    .unwrap();
    out
}

fn back(ber: &[u8]) -> vmstate_runtime::Result<Vec<u8>> {
    let mut out = Vec::new();
    dump::convert_stream(
        &mut Cursor::new(ber),
        &mut out,
        Format::Legacy,
        &Limits::default(),
        &mut |_| {},
    )?;
    Ok(out)
}

#[test]
fn a_compressed_stream_converts_back_to_qemus_bytes() {
    let legacy = migration();
    let plain = compressed(&legacy, None);
    let options = [
        Compression::DEFAULT,
        Compression {
            zstd_level: None,
            ..Compression::DEFAULT
        },
        Compression {
            cache_pages: 0,
            ..Compression::DEFAULT
        },
        // A cache smaller than the hot pages: slots are taken over.
        Compression {
            zstd_level: Some(3),
            cache_pages: 37,
        },
    ];
    for c in options {
        let ber = compressed(&legacy, Some(c));
        assert!(back(&ber).unwrap() == legacy, "{c:?}: streamed back");
        assert!(
            dump::convert(&ber, Format::Legacy).unwrap() == legacy,
            "{c:?}: through the tree"
        );
        assert!(
            ber.len() < plain.len(),
            "{c:?}: {} >= {}",
            ber.len(),
            plain.len()
        );
    }
    // Deltas alone, then zstd alone, then both: each saves.
    let sizes: Vec<usize> = options[..3]
        .iter()
        .map(|c| compressed(&legacy, Some(*c)).len())
        .collect();
    assert!(
        sizes[1] * 2 < plain.len(),
        "deltas: {sizes:?} of {}",
        plain.len()
    );
    assert!(sizes[0] < sizes[1] && sizes[0] < sizes[2], "{sizes:?}");
}

/// Every stream QEMU wrote (the fixtures: xbzrle, compress, postcopy,
/// multifd main channels, mapped-ram excepted) compresses and converts back.
#[test]
fn qemus_streams_compress_and_convert_back_exactly() {
    let mut n = 0;
    for (release, name, _) in catalog::fixture_streams() {
        if name.contains("mapped-ram") {
            continue;
        }
        let legacy = std::fs::read(catalog::fixtures_dir_of(release).join(&name)).unwrap();
        let ber = compressed(&legacy, Some(Compression::DEFAULT));
        assert!(back(&ber).unwrap() == legacy, "{name}");
        n += 1;
    }
    assert!(n > 20, "{n} fixtures");
}

/// Replaces the first occurrence of `from` in `ber` by `to` (same length).
fn patched(ber: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let at = ber
        .windows(from.len())
        .position(|w| w == from)
        .expect("the bytes to patch");
    let mut out = ber.to_vec();
    out[at..at + to.len()].copy_from_slice(to);
    out
}

#[test]
fn a_stream_whose_caches_differ_is_refused_at_its_first_delta() {
    let legacy = migration();
    let deltas = Compression {
        zstd_level: None,
        ..Compression::DEFAULT
    };
    let ber = compressed(&legacy, Some(deltas));
    // 256 slots where the writer kept 16384 (the same length): pages the
    // writer still had were taken over in the reader's, and the first delta
    // for one of them finds no base.
    let (mut announced, mut other) = (Vec::new(), Vec::new());
    wire::delta_cache(&mut announced, deltas.cache_pages);
    wire::delta_cache(&mut other, 256);
    assert_eq!(announced.len(), other.len());
    let e = back(&patched(&ber, &announced, &other)).unwrap_err();
    assert!(
        matches!(e.kind(), ErrorKind::Framing(m) if m.contains("which the delta cache does not hold")),
        "{e}"
    );
    let first_delta = ber.iter().position(|&b| b == 0xa8).unwrap() as u64;
    assert!(e.offset() >= first_delta, "{e}");
}

/// The records of one element, read with `wire` and the test's blocks.
fn element(bytes: &[u8], wire: &mut Received) -> vmstate_runtime::Result<usize> {
    let mut blocks = vec![ListedBlock::new(RAM, PAGES * 4096)];
    let (e, at) = Elements::new(bytes, 0, 4096).next_at()?.unwrap();
    let mut n = 0;
    element_records(e, at, &mut blocks, &mut None, wire, &mut |_| {
        n += 1;
        Ok(())
    })?;
    Ok(n)
}

fn tlv(tag: u8, contents: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    match contents.len() {
        n if n < 0x80 => out.push(n as u8),
        n => {
            out.push(0x82);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
    }
    out.extend_from_slice(contents);
    out
}

fn zstd_element(octets: u64, frame: &[u8]) -> Vec<u8> {
    let bytes = octets.to_be_bytes();
    let skip = bytes.iter().take_while(|&&b| b == 0).count().min(7);
    let mut int = bytes[skip..].to_vec();
    if int[0] & 0x80 != 0 {
        int.insert(0, 0);
    }
    let inner = [tlv(0x02, &int), tlv(0x04, frame)].concat();
    tlv(0xa9, &inner)
}

#[test]
fn what_a_reader_cannot_make_a_page_from_is_refused() {
    let kind = |r: vmstate_runtime::Result<usize>| r.unwrap_err().kind().clone();
    // A delta with no cache, and with a cache that holds another page.
    let mut d = Vec::new();
    wire::delta(&mut d, RAM, 4096, &[0, 1, 7], None);
    let mut w = Received::default();
    assert!(
        matches!(kind(element(&d, &mut w)), ErrorKind::Framing(m) if m.contains("does not hold"))
    );
    let mut w = Received::default();
    w.cache = PageCache::new(1);
    // A page is kept from its second sending on.
    w.cache.put(RAM, 4096, &[0; 4096]);
    assert!(w.cache.get(RAM, 4096).is_none());
    w.cache.put(RAM, 8192, &[0; 4096]);
    w.cache.put(RAM, 8192, &[0; 4096]);
    assert!(w.cache.get(RAM, 8192).is_some());
    assert!(matches!(kind(element(&d, &mut w)), ErrorKind::Framing(_)));
    w.cache.put(RAM, 4096, &[0; 4096]);
    assert_eq!(element(&d, &mut w).unwrap(), 1);
    assert_eq!(w.cache.get(RAM, 4096).unwrap()[0], 7);
    // A cache larger than a reader keeps.
    let mut c = Vec::new();
    wire::delta_cache(&mut c, CACHE_MAX + 1);
    assert!(matches!(
        kind(element(&c, &mut Received::default())),
        ErrorKind::LimitExceeded {
            limit: "delta_cache",
            ..
        }
    ));
    // Groups: larger than a writer makes, another size than they say, not
    // zstd, and a group inside a group.
    let mut zero = Vec::new();
    ram::ber::zero_run(&mut zero, RAM, 0, 2, 0, None);
    let frame = zstd::bulk::compress(&zero, 1).unwrap();
    let mut w = Received::default();
    let good = zstd_element(zero.len() as u64, &frame);
    assert_eq!(element(&good, &mut w).unwrap(), 2);
    for (octets, frame) in [
        (GROUP_MAX + 1, frame.clone()),
        (zero.len() as u64 + 1, frame.clone()),
        (zero.len() as u64 - 1, frame.clone()),
        (zero.len() as u64, zero.clone()),
    ] {
        let k = kind(element(&zstd_element(octets, &frame), &mut w));
        assert!(matches!(k, ErrorKind::Framing(_)), "{octets}: {k:?}");
        // The reader keeps one buffer for its groups: a group it refused
        // leaves nothing in it that the next group reads.
        assert_eq!(element(&good, &mut w).unwrap(), 2, "after {octets}");
    }
    let nested = zstd_element(zero.len() as u64, &frame);
    let outer = zstd::bulk::compress(&nested, 1).unwrap();
    let k = kind(element(&zstd_element(nested.len() as u64, &outer), &mut w));
    assert!(
        matches!(&k, ErrorKind::Framing(m) if m.contains("inside")),
        "{k:?}"
    );
}
