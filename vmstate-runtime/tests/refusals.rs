//! What vmstate does not read or carry is refused by QEMU's name, with the
//! capability that produced it and the way out, at the record that shows it; the
//! exact texts, on QEMU's own streams edited as each capability would have them.

use vmstate_runtime::dump::{self, Limits};
use vmstate_runtime::framing::{self, legacy, Configuration};
use vmstate_runtime::io::{Input, SliceInput, StreamInput, Writer};
use vmstate_runtime::ram::{self, RamRecord};
use vmstate_runtime::{ErrorKind, Format};
use vmstate_test_support::catalog::read_fixture;
use vmstate_test_support::testing;

const FIXTURE: &str = "pc-tcg-reset.mig";

/// Where the prelude (magic, version, configuration) of a legacy stream ends.
fn prelude_end(bytes: &[u8]) -> usize {
    let mut r = SliceInput::new(bytes);
    legacy::read_prelude(&mut r).unwrap();
    r.offset() as usize
}

/// The offset of the first RAM word of `bytes` that carries a data page.
fn first_page_word(bytes: &[u8]) -> usize {
    let start = prelude_end(bytes);
    let mut r = StreamInput::Slice(SliceInput::with_base(&bytes[start..], start as u64));
    let mut cursor = ram::Cursor::default();
    loop {
        let legacy::Record::Section(h) = legacy::read_record(&mut r).unwrap() else {
            panic!("RAM parts come first");
        };
        loop {
            let at = r.offset() as usize;
            let mut page = false;
            let eos = ram::read_word(&mut r, &mut cursor, &mut |rec| {
                page |= matches!(rec, RamRecord::Page { .. });
                Ok(())
            })
            .unwrap();
            if page {
                return at;
            }
            if eos {
                break;
            }
        }
        legacy::read_footer(&mut r, h.id, "ram").unwrap();
    }
}

fn with_flag(mut bytes: Vec<u8>, at: usize, flag: u64) -> Vec<u8> {
    let word = u64::from_be_bytes(bytes[at..at + 8].try_into().unwrap()) | flag;
    bytes[at..at + 8].copy_from_slice(&word.to_be_bytes());
    bytes
}

fn convert_live(bytes: &[u8]) -> vmstate_runtime::Result<Vec<u8>> {
    testing::convert_live_to_ber(bytes, dump::Carrier::ONE_WAY)
}

#[test]
fn each_ram_flag_is_named_with_its_capability() {
    let stream = read_fixture(FIXTURE);
    let at = first_page_word(&stream);
    for (flag, text) in [
        (
            0x200,
            "bad stream framing: RAM flags 0x208 are not one kind of record (QEMU's loader \
             refuses them)",
        ),
        (
            0x80,
            "RAM_SAVE_FLAG_HOOK (0x80), from the migration capability rdma (the rdma: \
             transport), is not supported: migrate over tcp:, unix:, fd: or exec:",
        ),
        (
            0x400,
            "bad stream framing: unknown RAM flags 0x400 (QEMU defines flags up to 0x200)",
        ),
    ] {
        let bytes = with_flag(stream.clone(), at, flag);
        for e in [
            dump::from_bytes(&bytes).unwrap_err(),
            dump::convert(&bytes, Format::Ber).unwrap_err(),
            convert_live(&bytes).unwrap_err(),
        ] {
            assert_eq!(e.to_string(), format!("at byte {at}: {text}"));
        }
    }
    // A multifd main channel's sync point, alone: read and converted offline; a
    // live conversion that carries one connection refuses it by name, one that
    // carries the channels too passes it.
    let flush = 0x200u64.to_be_bytes();
    let bytes = [&stream[..at], &flush[..], &stream[at..]].concat();
    let tree = dump::from_bytes(&bytes).unwrap();
    assert!(serde_json::to_string(&tree)
        .unwrap()
        .contains(r#""multifd_flush":true"#));
    let ber = dump::convert(&bytes, Format::Ber).unwrap();
    assert!(dump::convert(&ber, Format::Legacy).unwrap() == bytes);
    assert!(dump::to_bytes(&tree, Format::Ber).unwrap() == ber);
    assert_eq!(
        convert_live(&bytes).unwrap_err().to_string(),
        format!(
            "at byte {at}: RAM_SAVE_FLAG_MULTIFD_FLUSH (0x200), from the migration capability \
             multifd, is not supported: its pages travel over extra connections that this \
             stream does not hold; migrate without it (migrate-set-capabilities multifd=off \
             on both QEMUs)"
        )
    );
    let channels = dump::Carrier {
        multifd: true,
        ..dump::Carrier::ONE_WAY
    };
    assert!(testing::convert_live_to_ber(&bytes, channels).unwrap() == ber);
}

/// `stream` with `command` right after its configuration, where QEMU sends
/// `OPEN_RETURN_PATH` and `POSTCOPY_ADVISE`.
fn with_command(stream: &[u8], number: u16, data: &[u8]) -> (Vec<u8>, usize) {
    let at = prelude_end(stream);
    let mut w = Writer::new(Vec::new());
    let c = framing::Command::new(number, data.to_vec());
    legacy::put_command(&mut w, &c).unwrap();
    let mut out = stream[..at].to_vec();
    out.extend(w.into_inner());
    out.extend(&stream[at..]);
    (out, at)
}

#[test]
fn a_live_conversion_refuses_what_needs_a_way_back_at_its_command() {
    let stream = read_fixture(FIXTURE);
    let return_path = "from the migration capability return-path (also postcopy-ram, \
        switchover-ack), is not supported: migrate without a return path: \
        migrate-set-capabilities return-path=off postcopy-ram=off switchover-ack=off on both \
        QEMUs (a vmstate bridge carries one direction)";
    let postcopy = "from the migration capability postcopy-ram, is not supported: migrate \
        pre-copy (migrate-set-capabilities postcopy-ram=off)";
    for (number, data, text) in [
        (
            1,
            &[][..],
            format!("command OPEN_RETURN_PATH (1), {return_path}"),
        ),
        (
            2,
            &[0, 0, 0, 1],
            "command PING (2), from the migration capability return-path, is not \
             supported: migrate without a return path: migrate-set-capabilities \
             return-path=off postcopy-ram=off switchover-ack=off on both QEMUs (a vmstate \
             bridge carries one direction)"
                .to_owned(),
        ),
        (
            3,
            &[0; 16],
            format!("command POSTCOPY_ADVISE (3), {postcopy}"),
        ),
        (
            8,
            &[],
            "command ENABLE_COLO (8), from the migration capability x-colo, is not \
             supported: migrate without COLO (x-colo=off)"
                .to_owned(),
        ),
    ] {
        let (bytes, at) = with_command(&stream, number, data);
        let e = convert_live(&bytes).unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::Unsupported { .. }), "{e:?}");
        assert_eq!(e.to_string(), format!("at byte {at}: {text}"));
        // Nothing of the RAM went out: the refusal comes before it.
        let mut out = Vec::new();
        let _ = dump::convert_live(
            &mut &bytes[..],
            &mut out,
            Format::Ber,
            &Limits::default(),
            dump::Carrier::ONE_WAY,
            &mut |p| assert_eq!(p.pages, 0),
        );
        // A stored stream still converts losslessly, its commands kept.
        let ber = dump::convert(&bytes, Format::Ber).unwrap();
        assert_eq!(dump::convert(&ber, Format::Legacy).unwrap(), bytes);
    }
    // QEMU 10.0's SWITCHOVER_START is a notification: carried live.
    let (bytes, _) = with_command(&stream, 11, &[]);
    let ber = convert_live(&bytes).unwrap();
    assert_eq!(dump::convert(&ber, Format::Legacy).unwrap(), bytes);
}

/// `stream` with a configuration that lists `capability`.
fn with_capability(stream: &[u8], capability: &str) -> Vec<u8> {
    let mut r = SliceInput::new(stream);
    let (c, _) = legacy::read_prelude(&mut r).unwrap().unwrap();
    let rest = &stream[r.offset() as usize..];
    let c = c.with_capability(capability);
    let mut w = Writer::new(Vec::new());
    legacy::put_prelude(&mut w, Some(&c)).unwrap();
    let mut out = w.into_inner();
    out.extend(rest);
    out
}

#[test]
fn capabilities_the_configuration_lists_are_named() {
    let stream = read_fixture(FIXTURE);
    // One QEMU does not list (a later release's would be named the same way).
    for (cap, text) in [(
        "x-later-layout",
        "a stream layout vmstate does not know (the configuration lists x-later-layout), \
             from the migration capability x-later-layout, is not supported: save without \
             it (migrate-set-capabilities)",
    )] {
        let bytes = with_capability(&stream, cap);
        for e in [
            dump::from_bytes(&bytes).unwrap_err(),
            convert_live(&bytes).unwrap_err(),
        ] {
            assert_eq!(e.to_string(), format!("at byte 8: {text}"));
        }
    }
    // The configuration without capabilities is QEMU's own: read as before.
    assert!(dump::from_bytes(&with_capability(&stream, "x")).is_err());
    let _ = Configuration::default();
}

#[test]
fn files_that_are_not_streams_are_named_with_the_way_to_one() {
    let mut libvirt = b"LibvirtQemudSave".to_vec();
    for word in [2u32, 1000, 1, 1] {
        libvirt.extend(word.to_le_bytes());
    }
    libvirt.resize(92 + 1000, 0);
    let mut multifd = framing::MULTIFD_MAGIC.to_be_bytes().to_vec();
    multifd.extend([0, 0, 0, 1]);
    for (bytes, text) in [
        (
            b"QFI\xfb\0\0\0\x03".to_vec(),
            "bad stream framing: a qcow2 disk image, not a migration stream: its internal \
             snapshots hold VM state in qcow2's own layout. List them (qemu-img snapshot -l \
             FILE), start the VM with -loadvm NAME -S and save a stream (migrate \"exec:cat > \
             state.mig\")",
        ),
        (
            libvirt,
            "bad stream framing: a libvirt save image: a 92-octet header and the domain XML, \
             then QEMU's stream from byte 1092; take it out with tail -c +1093 FILE | gzip -d \
             > state.mig",
        ),
        (
            multifd,
            "a multifd channel (MultiFDInit_t, magic 0x11223344), not a main channel, from \
             the migration capability multifd, is not supported: migrate without it \
             (migrate-set-capabilities multifd=off on both QEMUs)",
        ),
        (
            b"garbage!".to_vec(),
            "bad stream framing: neither a QEVM stream nor a vmstate BER stream",
        ),
    ] {
        for e in [
            dump::from_bytes(&bytes).unwrap_err(),
            convert_live(&bytes).unwrap_err(),
        ] {
            assert_eq!(e.to_string(), format!("at byte 0: {text}"));
        }
    }
}

#[test]
fn a_stream_without_its_trailer_is_reported_where_it_ends() {
    let stream = read_fixture(FIXTURE);
    let (at, _) = legacy::find_trailer(&stream, 0).unwrap();
    let cut = &stream[..at];
    let text = format!(
        "at byte {at}: bad stream framing: the stream ends here without its vmdesc \
         trailer (cut short, or saved with -machine suppress-vmdesc=on or as postcopy; a \
         stream saved without it reads with the description of a save of the same VM: \
         vmstate --describe-with, dump::Borrowed)"
    );
    assert_eq!(dump::from_bytes(cut).unwrap_err().to_string(), text);
    assert_eq!(convert_live(cut).unwrap_err().to_string(), text);
}

#[test]
fn block_names_are_printed_escaped() {
    let stream = read_fixture(FIXTURE);
    // The first page of pc.ram names its block (the block list named it first): a
    // name of control characters instead, which no block of the list has.
    let name = b"\x06pc.ram";
    let at = (0..stream.len())
        .filter(|&i| stream[i..].starts_with(name))
        .nth(1)
        .unwrap();
    let mut bytes = stream.clone();
    bytes[at + 1..at + 7].copy_from_slice(b"\x1b[2J\0\x07");
    let e = dump::from_bytes(&bytes).unwrap_err().to_string();
    assert!(e.contains(r"\u{1b}[2J\0\u{7}"), "{e}");
    assert!(!e.chars().any(char::is_control), "{e:?}");
}
