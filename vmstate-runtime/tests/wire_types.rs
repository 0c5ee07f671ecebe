//! Rust types a VMM's state uses, sent as QEMU's fixed-width types: `usize` and
//! `isize` as `u64`/`i64`, `char` as `u32`, `Wrapping<T>` as `T`. Their bytes and
//! descriptions are those of the wire types, in both formats; a value the Rust type
//! cannot hold is `IntegerOutOfRange` at its field.

use std::num::Wrapping;
use vmstate_runtime::{ber, legacy, ErrorKind, VMState};
use vmstate_test_support::testing::through_streams;

#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "vmm-dev", version = 1)]
struct VmmDev {
    index: usize,
    delta: isize,
    key: char,
    counter: Wrapping<u32>,
    n: u8,
    #[vmstate(len = n, max = 8)]
    sizes: Vec<usize>,
}

/// The same device declared with its wire types.
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "vmm-dev", version = 1)]
struct Wire {
    index: u64,
    delta: i64,
    key: u32,
    counter: u32,
    n: u8,
    #[vmstate(len = n, max = 8)]
    sizes: Vec<u64>,
}

fn pair() -> (VmmDev, Wire) {
    (
        VmmDev {
            index: 1 << 40,
            delta: -3,
            key: 'é',
            counter: Wrapping(u32::MAX),
            n: 2,
            sizes: vec![4096, 1 << 33],
        },
        Wire {
            index: 1 << 40,
            delta: -3,
            key: 'é' as u32,
            counter: u32::MAX,
            n: 2,
            sizes: vec![4096, 1 << 33],
        },
    )
}

#[test]
fn they_are_sent_and_described_as_their_wire_types() {
    let (dev, wire) = pair();
    assert_eq!(
        legacy::to_bytes(&dev).unwrap(),
        legacy::to_bytes(&wire).unwrap()
    );
    assert_eq!(ber::to_bytes(&dev).unwrap(), ber::to_bytes(&wire).unwrap());
    assert_eq!(
        legacy::vmdesc_json(&dev, "vmm-dev", 0, 1),
        legacy::vmdesc_json(&wire, "vmm-dev", 0, 1)
    );
    let back: VmmDev = legacy::from_bytes(&legacy::to_bytes(&dev).unwrap(), 1).unwrap();
    assert_eq!(back, dev);
    let back: VmmDev = ber::from_bytes(&ber::to_bytes(&dev).unwrap(), 1).unwrap();
    assert_eq!(back, dev);
    // A whole stream: the generic decoder reads it by its description, and it
    // converts both ways.
    let v = through_streams("vmm-dev", &dev);
    assert_eq!(v["index"], 1u64 << 40);
    assert_eq!(v["key"], 'é' as u32);
}

#[test]
fn a_value_the_rust_type_cannot_hold_is_refused_at_its_field() {
    let (_, mut wire) = pair();
    wire.key = 0xD800; // a surrogate: no char
    for (e, at) in [
        (
            legacy::from_bytes::<VmmDev>(&legacy::to_bytes(&wire).unwrap(), 1).unwrap_err(),
            16,
        ),
        (
            // The SEQUENCE header, `index` in 8 octets and `delta` in 3 before it.
            ber::from_bytes::<VmmDev>(&ber::to_bytes(&wire).unwrap(), 1).unwrap_err(),
            13,
        ),
    ] {
        assert_eq!(
            e.kind(),
            &ErrorKind::IntegerOutOfRange {
                value: "55296".into(),
                ty: "char"
            }
        );
        assert_eq!((e.path(), e.offset()), ("vmm-dev.key".to_owned(), at));
    }
}
