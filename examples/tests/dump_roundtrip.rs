//! Generic decoding of the three real QEMU 7.2 streams, without Rust device types:
//! every section through the stream's own vmdesc, into one JSON tree that re-encodes
//! to the identical bytes, and converts legacy -> BER -> legacy byte for byte.

use vmstate_examples::catalog::read_fixture;
use vmstate_runtime::dump::{self, Format};

const STREAMS: [&str; 3] = ["pc-tcg-reset.mig", "pc-kvm-bios.mig", "q35-tcg-devices.mig"];

#[test]
fn trees_re_encode_every_fixture_byte_for_byte() {
    for name in STREAMS {
        let bytes = read_fixture(name);
        let tree = dump::from_bytes(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        let again = dump::to_bytes(&tree, Format::Legacy).unwrap();
        assert!(again == bytes, "{name}: legacy re-encode differs");
        // Through JSON text and back.
        let text = serde_json::to_string(&tree).unwrap();
        let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert!(
            dump::to_bytes(&parsed, Format::Legacy).unwrap() == bytes,
            "{name}: via JSON text"
        );
    }
}

#[test]
fn legacy_ber_legacy_is_lossless() {
    for name in STREAMS {
        let bytes = read_fixture(name);
        let tree = dump::from_bytes(&bytes).unwrap();
        let ber = dump::to_bytes(&tree, Format::Ber).unwrap();
        assert_eq!(dump::detect(&ber), Some(Format::Ber));
        let back = dump::from_bytes(&ber).unwrap_or_else(|e| panic!("{name}: BER: {e}"));
        assert!(
            back == tree,
            "{name}: the BER stream decodes to another tree"
        );
        assert!(
            dump::to_bytes(&back, Format::Legacy).unwrap() == bytes,
            "{name}: BER -> legacy"
        );
        assert!(
            dump::to_bytes(&back, Format::Ber).unwrap() == ber,
            "{name}: BER -> BER"
        );
        eprintln!(
            "{name}: legacy {} bytes, BER {} bytes",
            bytes.len(),
            ber.len()
        );
    }
}
