//! One device's BER bytes with its name and version (`ber::to_bytes_versioned`)
//! are refused with the exact error when they are another device's, of a version
//! it does not load, cut or followed by more bytes. (Every example device reads
//! back at every version: `ber_roundtrip.rs`.)

use vmstate_examples::demo::{sample, DemoDma};
use vmstate_runtime::{ber, ErrorKind, VMState};

#[test]
fn what_is_not_this_device_at_a_version_it_loads_is_refused() {
    let value = sample();
    let bytes = ber::to_bytes_versioned(&value, 3).unwrap();
    let kind = |b: &[u8]| {
        let mut d = DemoDma::default();
        let e = ber::load_versioned(&mut d, b).unwrap_err();
        assert_eq!(d, DemoDma::default(), "unchanged on error");
        assert_eq!(e.device(), Some("demo-dma"));
        e.kind().clone()
    };
    // Another device's bytes.
    let other = ber::to_bytes_versioned(&vmstate_qemu::Port92 { outport: 2 }, 1).unwrap();
    assert_eq!(kind(&other), ErrorKind::UnknownSection("port92".into()));
    // A version it does not load: the INTEGER after the name.
    let name = DemoDma::DESC.name.len();
    let at = 2 + 2 + name + 2;
    assert_eq!(bytes[at], 3);
    let mut newer = bytes.clone();
    newer[at] = 4;
    assert_eq!(
        kind(&newer),
        ErrorKind::VersionTooNew {
            version: 4,
            supported: 3
        }
    );
    // Cut, and with bytes after it.
    assert_eq!(kind(&bytes[..bytes.len() - 1]), ErrorKind::UnexpectedEof);
    let mut longer = bytes.clone();
    longer.push(0);
    assert_eq!(kind(&longer), ErrorKind::TrailingBytes(1));
    let mut d = DemoDma::default();
    assert_eq!(ber::load_versioned(&mut d, &bytes).unwrap(), 3);
    // What migrates is loaded (`cache_hits` is `skip`).
    assert_eq!(ber::to_bytes(&d).unwrap(), ber::to_bytes(&value).unwrap());
}
