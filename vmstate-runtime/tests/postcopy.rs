//! A postcopy migration's stream, offline: QEMU 7.2's commands around a real
//! stream's RAM, and its device sections moved into a `PACKAGED` package as
//! `postcopy_start` sends them (`POSTCOPY_LISTEN`, the devices, `PING`,
//! `POSTCOPY_RUN`), ending at EOF without a vmdesc. A conversion that carries the
//! return path takes it to BER and back to the same bytes, the package kept as
//! QEMU's bytes; one that cannot carry it refuses at its first command, and a
//! package of another length than its command announces is an error.
//! `vmstate-cli/tests/postcopy.rs` runs the real thing through two bridges.

use vmstate_runtime::dump::{self, Carrier};
use vmstate_runtime::{ErrorKind, Format};
use vmstate_test_support::catalog::read_fixture;

/// A live conversion whose destination's messages travel back.
const RETURN_PATH: Carrier = Carrier {
    return_path: true,
    multifd: false,
};

use vmstate_test_support::testing::convert_live_to_ber as convert_live;
use vmstate_test_support::testing::{
    legacy_command as command, postcopy_recovery, postcopy_stream,
};

#[test]
fn a_postcopy_stream_converts_to_ber_and_back_exactly() {
    let (stream, package) = postcopy_stream();
    let ber = convert_live(&stream, RETURN_PATH).unwrap();
    assert!(ber.len() < stream.len(), "RAM runs are smaller");
    let back = dump::convert(&ber, Format::Legacy).unwrap();
    assert!(back == stream, "BER and back: other bytes");
    // The BER command holds the package as QEMU's bytes.
    assert!(ber.windows(package.len()).any(|w| w == package));
    // A tree needs the description QEMU does not send in postcopy: the
    // package's devices are the first to need it.
    let e = dump::from_bytes(&ber).unwrap_err();
    assert!(
        e.to_string()
            .ends_with("bad stream framing: no description before this device section"),
        "{e}"
    );
    let packaged = ber
        .windows(package.len())
        .position(|w| w == package)
        .unwrap();
    assert!(e.offset() < packaged as u64, "at the PACKAGED command: {e}");
}

/// With the description of a save of the same VM, the tree shows the package as
/// the stream it is: `POSTCOPY_LISTEN`, each device with its fields, `PING`,
/// `POSTCOPY_RUN`; the tree makes QEMU's bytes again, and the BER stream that
/// carries the description makes the same tree.
#[test]
fn the_tree_shows_the_package_as_its_records_and_converts_both_ways() {
    let (stream, _) = postcopy_stream();
    let described = dump::Borrowed::from_bytes(&read_fixture("pc-tcg-reset.mig")).unwrap();
    let tree = dump::from_bytes_described(&stream, dump::RamParts::Records, &described).unwrap();
    let sections = tree["sections"].as_array().unwrap();
    let packaged = sections
        .iter()
        .find(|s| s["command"] == "PACKAGED")
        .unwrap();
    let records = packaged["package"].as_array().unwrap();
    let names: Vec<&str> = records
        .iter()
        .map(|r| r["command"].as_str().or(r["idstr"].as_str()).unwrap())
        .collect();
    assert_eq!(names.first(), Some(&"POSTCOPY_LISTEN"));
    assert_eq!(names[names.len() - 2..], ["PING", "POSTCOPY_RUN"]);
    assert!(
        names.contains(&"mc146818rtc") && names.contains(&"apic"),
        "{names:?}"
    );
    let rtc = records
        .iter()
        .find(|r| r["idstr"] == "mc146818rtc")
        .unwrap();
    assert!(rtc["value"].get("cmos_data").is_some(), "{rtc}");
    // No device outside the package: they all moved into it.
    assert!(sections.iter().all(|s| s["type"] != "full"));
    assert!(dump::to_bytes(&tree, Format::Legacy).unwrap() == stream);
    let mut ber = Vec::new();
    dump::convert_described(
        &mut &stream[..],
        &mut ber,
        Format::Ber,
        &described,
        &mut |_| {},
    )
    .unwrap();
    assert!(dump::to_bytes(&tree, Format::Ber).unwrap() == ber);
    let from_ber = dump::from_bytes(&ber).unwrap();
    assert_eq!(from_ber["sections"], tree["sections"]);
    // An edited field inside the package lands in QEMU's bytes.
    let mut edited = tree.clone();
    let records = edited["sections"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|s| s["command"] == "PACKAGED")
        .unwrap()["package"]
        .as_array_mut()
        .unwrap();
    let rtc = records
        .iter_mut()
        .find(|r| r["idstr"] == "mc146818rtc")
        .unwrap();
    let before = rtc["value"]["cmos_data"].clone();
    let cmos = before.as_str().unwrap();
    rtc["value"]["cmos_data"] = format!("{}{}", "AB", &cmos[2..]).into();
    let bytes = dump::to_bytes(&edited, Format::Legacy).unwrap();
    assert_eq!(bytes.len(), stream.len());
    let again = dump::from_bytes_described(&bytes, dump::RamParts::Records, &described).unwrap();
    assert_eq!(again, edited);
}

#[test]
fn without_a_return_path_it_is_refused_at_its_first_command() {
    let (stream, _) = postcopy_stream();
    let e = convert_live(&stream, Carrier::ONE_WAY).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::Unsupported { .. }), "{e}");
    assert!(e.to_string().contains("OPEN_RETURN_PATH"), "{e}");
}

#[test]
fn a_package_of_another_length_is_an_error() {
    let (mut stream, package) = postcopy_stream();
    let package = package.len();
    // One octet fewer announced: the package's last octet is read as a record.
    let at = stream
        .windows(5)
        .position(|w| w == [0x08, 0, 7, 0, 4])
        .unwrap();
    stream[at + 5..at + 9].copy_from_slice(&((package - 1) as u32).to_be_bytes());
    assert!(convert_live(&stream, RETURN_PATH).is_err());
    // One over QEMU's bound: refused before it is read.
    stream[at + 5..at + 9].copy_from_slice(&((16u32 << 20) + 1).to_be_bytes());
    let e = convert_live(&stream, RETURN_PATH).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "at byte {at}: bad stream framing: a PACKAGED package of 16777217 bytes \
             (QEMU's are at most 16777216)"
        )
    );
}

/// A postcopy stream of a guest whose `pc.ram` is backed by 2 MiB hugepages:
/// `POSTCOPY_ADVISE` announces the page sizes (4 KiB | 2 MiB), and `pc.ram`'s
/// block list entry has its page size after its length, as QEMU's
/// `ram_save_setup` writes it. It reads (the size in the tree), converts to BER
/// and back to the same bytes; the same entry without the announcement does not
/// read as a block list.
#[test]
fn a_hugepage_block_s_page_size_reads_and_converts_exactly() {
    let (stream, _) = postcopy_stream();
    let advise = [0x20_1000u64.to_be_bytes(), 4096u64.to_be_bytes()].concat();
    let old_advise = command(
        "POSTCOPY_ADVISE",
        [4096u64.to_be_bytes(), 4096u64.to_be_bytes()].concat(),
    );
    let at = stream
        .windows(old_advise.len())
        .position(|w| w == old_advise)
        .unwrap();
    let entry = stream.windows(7).position(|w| w == b"\x06pc.ram").unwrap() + 7 + 8;
    let huge = [
        &stream[..at],
        &command("POSTCOPY_ADVISE", advise)[..],
        &stream[at + old_advise.len()..entry],
        &0x20_0000u64.to_be_bytes(),
        &stream[entry..],
    ]
    .concat();
    let ber = convert_live(&huge, RETURN_PATH).unwrap();
    assert!(dump::convert(&ber, Format::Legacy).unwrap() == huge);
    let described = dump::Borrowed::from_bytes(&read_fixture("pc-tcg-reset.mig")).unwrap();
    let tree = dump::from_bytes_described(&huge, dump::RamParts::Records, &described).unwrap();
    let list = tree["sections"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|s| s["ram"].as_array()?.first()?.get("blocks").cloned())
        .unwrap();
    assert_eq!(list[0]["name"], "pc.ram");
    assert_eq!(list[0]["page_size"], 0x20_0000);
    assert!(list[1].get("page_size").is_none());
    assert!(dump::to_bytes(&tree, Format::Legacy).unwrap() == huge);
    // Without the announcement the size is read as the next entry: no list.
    let unannounced = [
        &stream[..entry],
        &0x20_0000u64.to_be_bytes(),
        &stream[entry..],
    ]
    .concat();
    assert!(convert_live(&unannounced, RETURN_PATH).is_err());
}

/// Converts each connection of a live migration in turn; the result of each.
fn live_connections(connections: &[&[u8]], to: Format) -> Vec<vmstate_runtime::Result<Vec<u8>>> {
    let mut live = dump::LiveConversion::new(to, dump::Limits::default(), RETURN_PATH);
    connections
        .iter()
        .map(|c| {
            let mut out = Vec::new();
            let done = live.convert(&mut &c[..], &mut out, &mut |_| {});
            let paused = live.paused();
            done.map(|_| out.clone())
                .map_err(|e| {
                    assert!(paused, "not paused after {e}");
                    e
                })
                .or_else(|e| match e.kind() {
                    ErrorKind::UnexpectedEof => Ok(out),
                    _ => Err(e),
                })
        })
        .collect()
}

/// QEMU's postcopy recovery, offline: the first connection breaks inside a RAM
/// part after the package; the source resumes on a new connection with
/// `RECV_BITMAP` for its block, `POSTCOPY_RESUME`, the part again and EOF, no
/// header. The conversion pauses at the break (an unexpected end, in postcopy)
/// and converts the resumed connection to a `VMState-Resumed`, which converts
/// back to QEMU's bytes exactly; without a pause, a resumed connection and
/// recovery's commands are refused.
#[test]
fn a_resumed_postcopy_connection_converts_to_ber_and_back_exactly() {
    let (stream, _) = postcopy_stream();
    let (whole, first, resumed) = postcopy_recovery();
    let ber = live_connections(&[&first, &resumed], Format::Ber);
    let [Ok(first_ber), Ok(resumed_ber)] = &ber[..] else {
        panic!("{ber:?}")
    };
    assert_eq!(
        resumed_ber[..2],
        [0x69, 0x80],
        "an indefinite [APPLICATION 9]"
    );
    assert_eq!(resumed_ber[resumed_ber.len() - 2..], [0, 0]);
    let back = live_connections(&[first_ber, resumed_ber], Format::Legacy);
    let [Ok(first_back), Ok(resumed_back)] = &back[..] else {
        panic!("{back:?}")
    };
    assert!(
        first_back[..] == whole[..],
        "the first connection up to its last whole record"
    );
    assert!(
        resumed_back == &resumed,
        "the resumed connection: other bytes"
    );
    // Recovery's commands on a first connection: refused by name.
    let mut live = dump::LiveConversion::new(Format::Ber, dump::Limits::default(), RETURN_PATH);
    let early = [&whole[..], &resumed[..12]].concat();
    let e = live
        .convert(&mut &early[..], &mut Vec::new(), &mut |_| {})
        .unwrap_err();
    assert!(e.to_string().contains("RECV_BITMAP"), "{e}");
    assert!(matches!(e.kind(), ErrorKind::Unsupported { .. }), "{e}");
    // A stream that ended is not resumed.
    let mut live = dump::LiveConversion::new(Format::Ber, dump::Limits::default(), RETURN_PATH);
    live.convert(&mut &stream[..], &mut Vec::new(), &mut |_| {})
        .unwrap();
    assert!(!live.paused());
    let e = live
        .convert(&mut &resumed[..], &mut Vec::new(), &mut |_| {})
        .unwrap_err();
    assert!(e.to_string().contains("not paused"), "{e}");
}
