//! Streams saved without their vmdesc trailer (`-machine suppress-vmdesc=on`),
//! read with a description borrowed from a save of the same VM: every fixture
//! without its trailer decodes with the fixture's own description, encodes back
//! to the same bytes (no trailer), converts to BER and back to them; a stream that
//! has its own trailer, or QEMU's `-dump-vmstate` output as the description, is
//! refused by name. (`vmstate-cli/tests/described.rs` does the same with QEMU's
//! own trailer-less saves.)

use vmstate_runtime::dump::{self, Borrowed, RamParts};
use vmstate_runtime::framing::legacy;
use vmstate_runtime::Format;
use vmstate_test_support::catalog::{fixture_streams, read_fixture};

/// A stream without its trailer: up to and with EOF.
fn without_trailer(bytes: &[u8]) -> Vec<u8> {
    let (at, _) = legacy::find_trailer(bytes, 0).unwrap();
    bytes[..at].to_vec()
}

#[test]
fn every_fixture_without_its_trailer_reads_and_converts_exactly() {
    for (_, name, _) in fixture_streams() {
        let bytes = read_fixture(&name);
        let cut = without_trailer(&bytes);
        let e = dump::from_bytes(&cut).unwrap_err();
        assert!(e.to_string().contains("suppress-vmdesc=on"), "{name}: {e}");
        let description = Borrowed::from_bytes(&bytes).unwrap();
        let tree = dump::from_bytes_described(&cut, RamParts::Records, &description)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        // The same devices as the stream with its trailer.
        let whole = dump::from_bytes(&bytes).unwrap();
        assert_eq!(tree["sections"], whole["sections"], "{name}");
        assert!(
            dump::to_bytes(&tree, Format::Legacy).unwrap() == cut,
            "{name}: the tree encodes back without a trailer"
        );
        let ber = dump::to_bytes(&tree, Format::Ber).unwrap();
        assert!(
            dump::convert(&ber, Format::Legacy).unwrap() == cut,
            "{name}: BER and back"
        );
        let mut streamed = Vec::new();
        dump::convert_described(
            &mut &cut[..],
            &mut streamed,
            Format::Ber,
            &description,
            &mut |_| {},
        )
        .unwrap();
        assert!(
            streamed == ber,
            "{name}: converted as a stream, the same BER"
        );
    }
}

#[test]
fn a_description_is_refused_where_it_cannot_serve() {
    let bytes = read_fixture("pc-tcg-reset.mig");
    let description = Borrowed::from_bytes(&bytes).unwrap();
    let e = dump::from_bytes_described(&bytes, RamParts::Records, &description).unwrap_err();
    assert_eq!(
        e.to_string(),
        "at byte 0: bad stream framing: the stream has its own vmdesc trailer; a description \
         is given for one without"
    );
    let dump_vmstate = read_fixture("pc-i440fx-10.0.vmstate.json");
    let e = Borrowed::from_bytes(&dump_vmstate).unwrap_err();
    assert!(
        e.to_string().contains(
            "the description given is QEMU's -dump-vmstate output, which cannot describe a \
             stream's bytes"
        ),
        "{e}"
    );
    // A description from the BER form of a stream, or its vmdesc text, serves too.
    let ber = dump::convert(&bytes, Format::Ber).unwrap();
    let (_, vmdesc) = legacy::find_trailer(&bytes, 0).unwrap();
    let cut = without_trailer(&bytes);
    for d in [&ber[..], vmdesc.as_bytes()] {
        let d = Borrowed::from_bytes(d).unwrap();
        let tree = dump::from_bytes_described(&cut, RamParts::Records, &d).unwrap();
        assert!(dump::to_bytes(&tree, Format::Legacy).unwrap() == cut);
    }
}
