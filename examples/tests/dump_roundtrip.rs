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

/// The generic decoder reads untrusted files (the CLI's input): cut or corrupted
/// streams of either format give errors, never a panic.
#[test]
fn hostile_streams_never_panic() {
    let bytes = read_fixture("pc-kvm-bios.mig");
    let ber = dump::to_bytes(&dump::from_bytes(&bytes).unwrap(), Format::Ber).unwrap();
    let mut rng = vmstate_examples::testing::Rng(0xdead_beef);
    for stream in [&bytes, &ber] {
        for cut in (0..stream.len()).step_by(16411) {
            assert!(dump::from_bytes(&stream[..cut]).is_err());
        }
        for _ in 0..60 {
            let mut bad = stream.clone();
            for _ in 0..1 + rng.next_u64() % 8 {
                let i = (rng.next_u64() % bad.len() as u64) as usize;
                bad[i] = rng.next_u64() as u8;
            }
            if let Ok(tree) = dump::from_bytes(&bad) {
                // Whatever decoded re-encodes without a panic too.
                let _ = dump::to_bytes(&tree, Format::Legacy);
                let _ = dump::to_bytes(&tree, Format::Ber);
            }
        }
    }
}
