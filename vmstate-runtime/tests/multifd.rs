//! multifd channels: read and written back exactly, refused by name where QEMU
//! sent what vmstate does not read, and loaded round by round with the main
//! channel, so that a page a later round sends again wins. Live captures of QEMU
//! 7.2 and 10.0 are `vmstate-cli/tests/multifd_capture.rs`.

use vmstate_runtime::io::Writer;
use vmstate_runtime::ram::multifd::{self, FLAG_SYNC, FLAG_ZLIB, FLAG_ZSTD};
use vmstate_runtime::ram::{ListedBlock, RamRecord};
use vmstate_runtime::{ErrorKind, Format};
use vmstate_test_support::testing::{multifd_compressed_channel, multifd_init, multifd_packet};

fn error(bytes: &[u8]) -> (String, ErrorKind) {
    let e = multifd::read_channel(bytes).unwrap_err();
    (e.to_string(), e.kind().clone())
}

#[test]
fn a_channel_reads_and_writes_back_exactly() {
    let bytes = [
        multifd_init(3),
        multifd_packet(0, 7, &[0x1000, 0x3000], &[0x2000]),
        multifd_packet(FLAG_SYNC, 8, &[], &[]),
    ]
    .concat();
    let c = multifd::read_channel(&bytes).unwrap();
    assert_eq!(c.id(), 3);
    assert_eq!(c.packets.len(), 2);
    let p = &c.packets[0];
    assert_eq!(
        (p.packet_num(), p.normal_pages(), p.zero_pages()),
        (7, 2, 1)
    );
    assert_eq!(p.block(), "pc.ram");
    assert!(!p.is_sync() && c.packets[1].is_sync());
    let pages: Vec<(u64, Option<u8>)> = multifd::Unpacker::default()
        .records(p)
        .unwrap()
        .into_iter()
        .map(|r| match r {
            RamRecord::Page { offset, data, .. } => (offset, Some(data[0])),
            RamRecord::Zero { offset, .. } => (offset, None),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        pages,
        [(0x1000, Some(1)), (0x3000, Some(2)), (0x2000, None)]
    );
    let mut w = Writer::new(Vec::new());
    multifd::write_channel(&c, &mut w).unwrap();
    assert!(w.into_inner() == bytes);
}

#[test]
fn a_channel_converts_to_ber_and_back_exactly() {
    let mut stale = multifd_packet(0, 9, &[0x5000], &[]);
    // An offset entry an earlier packet left, after the used ones.
    stale[320 + 8 * 3..320 + 8 * 4].copy_from_slice(&0x7000u64.to_be_bytes());
    let bytes = [
        multifd_init(1),
        multifd_packet(0, 7, &[0x1000, 0x3000], &[0x2000]),
        stale,
        multifd_packet(FLAG_SYNC, 8, &[], &[]),
    ]
    .concat();
    let ber = multifd::convert_channel(&bytes, Format::Ber)
        .unwrap()
        .unwrap();
    assert_eq!(ber[0], 0x68, "[APPLICATION 8]");
    let back = multifd::convert_channel(&ber, Format::Legacy)
        .unwrap()
        .unwrap();
    assert!(back == bytes, "the channel through BER");
    assert!(
        multifd::convert_channel(&ber, Format::Ber)
            .unwrap()
            .unwrap()
            == ber
    );
    // Not a channel: left to the stream converters.
    assert!(multifd::convert_channel(b"QEVM", Format::Ber)
        .unwrap()
        .is_none());
    // Cut BER, and a packet with a reserved octet set, are errors.
    for cut in [1, ber.len() / 2, ber.len() - 1] {
        assert!(multifd::read_channel(&ber[..cut]).is_err(), "cut at {cut}");
    }
    let mut reserved = bytes.clone();
    reserved[64 + 40] = 1;
    let (text, _) = error(&reserved);
    assert!(
        text.starts_with("at byte 104: bad stream framing: multifd packet with reserved"),
        "{text}"
    );
}

#[test]
fn what_vmstate_does_not_read_is_refused_by_name() {
    let packet = |flags| [multifd_init(0), multifd_packet(flags, 0, &[0x1000], &[])].concat();
    // qpl (4 << 1) and qatzip (16 << 1), by QEMU's parameter.
    for (flags, method) in [(8, "qpl"), (32, "qatzip")] {
        let (text, kind) = error(&packet(flags));
        assert!(matches!(kind, ErrorKind::Unsupported { .. }), "{text}");
        assert!(
            text.starts_with(&format!(
                "at byte 64: multifd pages compressed with {method}"
            )),
            "{text}"
        );
        assert!(
            text.contains("multifd-compression none, zlib or zstd"),
            "{text}"
        );
    }
    let (text, _) = error(&packet(64));
    assert!(
        text.contains("multifd device state packet (VFIO)"),
        "{text}"
    );
    // Not a channel; a packet with more pages than a packet holds; cut short.
    let (text, _) = error(&[0u8; 64]);
    assert!(text.contains("not a multifd channel"), "{text}");
    let mut many = packet(0);
    many[64 + 16..64 + 20].copy_from_slice(&129u32.to_be_bytes());
    let (text, _) = error(&many);
    assert!(
        text.contains("normal and 0 zero pages (a packet holds 128)"),
        "{text}"
    );
    let whole = packet(0);
    let (_, kind) = error(&whole[..whole.len() - 1]);
    assert_eq!(kind, ErrorKind::UnexpectedEof);
}

/// Round 1: the channel sends page 1 with data, the main channel page 2 as zero;
/// round 2: the main channel sends page 1 as zero, the channel page 2 with data.
/// Loaded round by round, page 1 ends zero and page 2 with data, whichever
/// marks the rounds (MULTIFD_FLUSH, or each part's end).
#[test]
fn rounds_load_in_order_with_the_main_channel() {
    let zero = |offset| RamRecord::Zero {
        block: "pc.ram".into(),
        offset,
        fill: 0,
        continued: false,
    };
    let channel = [
        multifd_init(0),
        multifd_packet(0, 0, &[0x1000], &[]),
        multifd_packet(FLAG_SYNC, 1, &[], &[]),
        multifd_packet(0, 2, &[0x2000], &[]),
        multifd_packet(FLAG_SYNC, 3, &[], &[]),
    ]
    .concat();
    let channels = [multifd::read_channel(&channel).unwrap()];
    let list = RamRecord::MemSize {
        total: 0x3000,
        blocks: vec![ListedBlock::new("pc.ram", 0x3000)],
        regions: vec![],
    };
    for by_flush in [true, false] {
        let flush = |v: &mut Vec<RamRecord<'static>>| {
            if by_flush {
                v.push(RamRecord::MultifdFlush);
            }
        };
        let mut one = vec![list.clone(), zero(0x2000)];
        flush(&mut one);
        let mut two = vec![zero(0x1000)];
        flush(&mut two);
        let mut pages = std::collections::BTreeMap::new();
        multifd::records(vec![one, two], &channels, &mut |r| {
            if let Some((_, offset)) = r.page() {
                let data = match &r {
                    RamRecord::Page { data, .. } => data[0],
                    _ => 0,
                };
                pages.insert(offset, data);
            }
            Ok(())
        })
        .unwrap();
        assert_eq!(
            pages.into_iter().collect::<Vec<_>>(),
            [(0x1000, 0), (0x2000, 1)],
            "by flush: {by_flush}"
        );
    }
}

/// Its pages, in order: each page's offset and first octet.
fn unpacked(c: &multifd::Channel<'_>) -> vmstate_runtime::Result<Vec<(u64, u8)>> {
    let mut unpacker = multifd::Unpacker::default();
    let mut pages = Vec::new();
    for p in &c.packets {
        for r in unpacker.records(p)? {
            match r {
                RamRecord::Page { offset, data, .. } => {
                    assert_eq!(data.len(), 4096);
                    pages.push((offset, data[4095]));
                }
                other => panic!("{other:?}"),
            }
        }
    }
    Ok(pages)
}

#[test]
fn compressed_channels_convert_exactly_and_their_pages_unpack_across_packets() {
    for flags in [FLAG_ZLIB, FLAG_ZSTD] {
        let bytes = multifd_compressed_channel(flags, &[(1, &[0x1000, 0x2000]), (2, &[0x5000])]);
        let c = multifd::read_channel(&bytes).unwrap();
        assert_eq!(c.packets.len(), 2);
        assert_eq!(
            unpacked(&c).unwrap(),
            [(0x1000, 1), (0x2000, 2), (0x5000, 1)],
            "{flags:#x}"
        );
        // Kept compressed through BER, to the same octets.
        let ber = multifd::convert_channel(&bytes, Format::Ber)
            .unwrap()
            .unwrap();
        assert!(
            multifd::convert_channel(&ber, Format::Legacy)
                .unwrap()
                .unwrap()
                == bytes
        );
    }
    // A zlib packet's data continues the stream of the packets before: the
    // second alone does not inflate.
    let bytes = multifd_compressed_channel(FLAG_ZLIB, &[(1, &[0x1000, 0x2000]), (2, &[0x5000])]);
    let c = multifd::read_channel(&bytes).unwrap();
    let second = multifd::Channel {
        init: c.init.clone(),
        packets: c.packets[1..].to_vec(),
    };
    assert!(unpacked(&second).is_err());
    // A stream whose header is not its method's reads (its octets are kept)
    // and fails where it loads, not with a panic.
    for flags in [FLAG_ZLIB, FLAG_ZSTD] {
        let mut bad = multifd_compressed_channel(flags, &[(1, &[0x1000])]);
        bad[64 + multifd::PACKET_LEN] ^= 0xff;
        let c = multifd::read_channel(&bad).unwrap();
        let e = unpacked(&c).unwrap_err().to_string();
        assert!(e.contains("multifd packet 1: its z"), "{e}");
    }
    // More compressed octets than QEMU's buffer, or some without normal pages.
    let mut big = bytes.clone();
    big[64 + 20..64 + 24].copy_from_slice(&(2u32 << 20).to_be_bytes());
    let (text, _) = error(&big);
    assert!(text.contains("(QEMU receives at most 1048576)"), "{text}");
    let mut pageless = [
        multifd_init(0),
        multifd_packet(FLAG_ZLIB, 3, &[], &[0x1000]),
    ]
    .concat();
    pageless[64 + 20..64 + 24].copy_from_slice(&5u32.to_be_bytes());
    let (text, _) = error(&pageless);
    assert!(
        text.contains("without normal pages with 5 compressed octets"),
        "{text}"
    );
}
