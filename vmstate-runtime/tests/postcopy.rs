//! A postcopy migration's stream, offline: QEMU 7.2's commands around a real
//! stream's RAM, and its device sections moved into a `PACKAGED` package as
//! `postcopy_start` sends them (`POSTCOPY_LISTEN`, the devices, `PING`,
//! `POSTCOPY_RUN`), ending at EOF without a vmdesc. A conversion that carries the
//! return path takes it to BER and back to the same bytes, the package kept as
//! QEMU's bytes; one that cannot carry it refuses at its first command, and a
//! package of another length than its command announces is an error.
//! `vmstate-cli/tests/postcopy.rs` runs the real thing through two bridges.

use vmstate_runtime::dump::{self, Carrier};
use vmstate_runtime::framing::{legacy, Command};
use vmstate_runtime::io::{Input, SliceInput, Writer};
use vmstate_runtime::{ErrorKind, Format};
use vmstate_test_support::catalog::read_fixture;

/// A live conversion whose destination's messages travel back.
const RETURN_PATH: Carrier = Carrier {
    return_path: true,
    multifd: false,
};

fn command(name: &str, data: Vec<u8>) -> Vec<u8> {
    let mut w = Writer::new(Vec::new());
    legacy::put_command(&mut w, &Command::from_name(name, data).unwrap()).unwrap();
    w.into_inner()
}

/// `pc-tcg-reset.mig` as a postcopy stream, and its package.
fn postcopy_stream() -> (Vec<u8>, Vec<u8>) {
    let bytes = read_fixture("pc-tcg-reset.mig");
    let mut r = SliceInput::new(&bytes);
    legacy::read_prelude(&mut r).unwrap();
    let prelude = r.offset() as usize;
    let s = dump::walk_legacy(&bytes).unwrap();
    let full = s
        .sections
        .iter()
        .find(|x| x.kind == vmstate_runtime::framing::SectionKind::Full)
        .unwrap();
    // FULL's header: type, id, idstr, instance, version.
    let first_device = full.body_offset as usize - (1 + 4 + 1 + full.ident.idstr.len() + 8);
    let last = s.sections.last().unwrap();
    let eof = last.body_offset as usize + last.body.len() + 5;
    assert_eq!(bytes[eof], 0, "EOF after the last section");
    let package = [
        command("POSTCOPY_LISTEN", vec![]),
        bytes[first_device..eof].to_vec(),
        command("PING", 3u32.to_be_bytes().to_vec()),
        command("POSTCOPY_RUN", vec![]),
    ]
    .concat();
    let advise = [4096u64.to_be_bytes(), 4096u64.to_be_bytes()].concat();
    let stream = [
        &bytes[..prelude],
        &command("OPEN_RETURN_PATH", vec![]),
        &command("PING", 1u32.to_be_bytes().to_vec()),
        &command("POSTCOPY_ADVISE", advise),
        &bytes[prelude..first_device],
        &command("PACKAGED", (package.len() as u32).to_be_bytes().to_vec()),
        &package,
        &[0],
    ]
    .concat();
    (stream, package)
}

use vmstate_test_support::testing::convert_live_to_ber as convert_live;

#[test]
fn a_postcopy_stream_converts_to_ber_and_back_exactly() {
    let (stream, package) = postcopy_stream();
    let ber = convert_live(&stream, RETURN_PATH).unwrap();
    assert!(ber.len() < stream.len(), "RAM runs are smaller");
    let back = dump::convert(&ber, Format::Legacy).unwrap();
    assert!(back == stream, "BER and back: other bytes");
    // The BER command holds the package as QEMU's bytes.
    assert!(ber.windows(package.len()).any(|w| w == package));
    // A tree needs the description QEMU does not send in postcopy.
    let e = dump::from_bytes(&ber).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "at byte {}: bad stream framing: no description before this device section",
            ber.len()
        )
    );
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
