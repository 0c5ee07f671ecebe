//! The Rust types of real device state that QEMU has no VMState type for:
//! `String`, `Option<T>`, `Vec<T>` without a count field, `Box<[T]>`,
//! `VecDeque<T>`, maps, tuples, `Duration`, `u128`/`i128`, `f32`, and generic
//! structs. Each is checked against the same state declared with QEMU's own types
//! as docs/ATTRIBUTES.md says it is sent (a `String` is a `uint32` count and a
//! buffer, as QEMU's VBUFFER with its UINT32 length): equal bytes in both formats
//! and an equal description. Then a device of all of them goes through a stream,
//! the generic decoder and both conversions.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Duration;
use vmstate_runtime::{ber, legacy, ErrorKind, Format, VMState};
use vmstate_test_support::testing::through_streams;

const MAX: usize = 1 << 20;

#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "std-dev", version = 1)]
struct StdDev {
    name: String,
    serial: Option<u64>,
    label: Option<String>,
    queue_sizes: Vec<u16>,
    regs: Box<[u32]>,
    rx: VecDeque<u8>,
    names: BTreeMap<u32, String>,
    weights: HashMap<u16, u64>,
    pair: (u8, i32),
    uptime: Duration,
    uuid: u128,
    offset: i128,
    gain: f32,
}

// The same state in QEMU's terms, each composite a struct as it is described.
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "String", version = 1)]
struct StringWire {
    len: u32,
    #[vmstate(len = len, max = 1048576)]
    elems: Vec<u8>,
}

#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "Option", version = 1)]
struct OptionU64 {
    present: bool,
    #[vmstate(exists = |s: &Self, _| s.present)]
    value: u64,
}

#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "Option", version = 1)]
struct OptionString {
    present: bool,
    #[vmstate(exists = |s: &Self, _| s.present)]
    value: StringWire,
}

#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "Vec", version = 1)]
struct VecU16 {
    len: u32,
    #[vmstate(len = len, max = 1048576)]
    elems: Vec<u16>,
}

#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "Vec", version = 1)]
struct VecU32 {
    len: u32,
    #[vmstate(len = len, max = 1048576)]
    elems: Vec<u32>,
}

#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "Vec", version = 1)]
struct VecU8 {
    len: u32,
    #[vmstate(len = len, max = 1048576)]
    elems: Vec<u8>,
}

#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "Tuple", version = 1)]
struct NameEntry {
    #[vmstate(rename = "0")]
    key: u32,
    #[vmstate(rename = "1")]
    value: StringWire,
}

#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "Map", version = 1)]
struct NameMap {
    len: u32,
    #[vmstate(len = len, max = 1048576)]
    elems: Vec<NameEntry>,
}

#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "Tuple", version = 1)]
struct WeightEntry {
    #[vmstate(rename = "0")]
    key: u16,
    #[vmstate(rename = "1")]
    value: u64,
}

#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "Map", version = 1)]
struct WeightMap {
    len: u32,
    #[vmstate(len = len, max = 1048576)]
    elems: Vec<WeightEntry>,
}

#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "Tuple", version = 1)]
struct Pair {
    #[vmstate(rename = "0")]
    a: u8,
    #[vmstate(rename = "1")]
    b: i32,
}

#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "Duration", version = 1)]
struct DurationWire {
    secs: u64,
    nanos: u32,
}

#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "std-dev", version = 1)]
struct Wire {
    name: StringWire,
    serial: OptionU64,
    label: OptionString,
    queue_sizes: VecU16,
    regs: VecU32,
    rx: VecU8,
    names: NameMap,
    weights: WeightMap,
    pair: Pair,
    uptime: DurationWire,
    uuid: [u8; 16],
    offset: [u8; 16],
    gain: [u8; 4],
}

fn string(s: &str) -> StringWire {
    StringWire {
        len: s.len() as u32,
        elems: s.as_bytes().to_vec(),
    }
}

fn pair() -> (StdDev, Wire) {
    let mut rx = VecDeque::with_capacity(4);
    rx.extend([1, 2, 3, 4]);
    rx.pop_front();
    rx.push_back(5); // wraps around the ring
    let dev = StdDev {
        name: "virtio-blk".into(),
        serial: Some(7),
        label: None,
        queue_sizes: vec![256, 128],
        regs: vec![1, 2, 3].into_boxed_slice(),
        rx,
        names: [(2, "b".to_owned()), (1, "a".to_owned())].into(),
        weights: [(9, 90), (3, 30), (5, 50)].into(),
        pair: (0xfe, -2),
        uptime: Duration::new(3, 500),
        uuid: 0x0011_2233_4455_6677_8899_aabb_ccdd_eeff,
        offset: -1,
        gain: 1.5,
    };
    let wire = Wire {
        name: string("virtio-blk"),
        serial: OptionU64 {
            present: true,
            value: 7,
        },
        label: OptionString::default(),
        queue_sizes: VecU16 {
            len: 2,
            elems: vec![256, 128],
        },
        regs: VecU32 {
            len: 3,
            elems: vec![1, 2, 3],
        },
        rx: VecU8 {
            len: 4,
            elems: vec![2, 3, 4, 5],
        },
        names: NameMap {
            len: 2,
            elems: vec![
                NameEntry {
                    key: 1,
                    value: string("a"),
                },
                NameEntry {
                    key: 2,
                    value: string("b"),
                },
            ],
        },
        weights: WeightMap {
            len: 3,
            elems: [(3, 30), (5, 50), (9, 90)]
                .map(|(key, value)| WeightEntry { key, value })
                .to_vec(),
        },
        pair: Pair { a: 0xfe, b: -2 },
        uptime: DurationWire {
            secs: 3,
            nanos: 500,
        },
        uuid: 0x0011_2233_4455_6677_8899_aabb_ccdd_eeffu128.to_be_bytes(),
        offset: [0xff; 16],
        gain: 1.5f32.to_bits().to_be_bytes(),
    };
    (dev, wire)
}

#[test]
fn each_is_sent_and_described_as_its_wire_struct() {
    let (dev, wire) = pair();
    assert_eq!(
        legacy::to_bytes(&dev).unwrap(),
        legacy::to_bytes(&wire).unwrap()
    );
    assert_eq!(ber::to_bytes(&dev).unwrap(), ber::to_bytes(&wire).unwrap());
    // The wide scalars keep their own names, where the wire struct has buffers.
    let named = legacy::vmdesc_json(&dev, "std-dev", 0, 1)
        .replace(r#""uint128""#, r#""buffer""#)
        .replace(r#""int128""#, r#""buffer""#)
        .replace(r#""float32""#, r#""buffer""#);
    assert_eq!(named, legacy::vmdesc_json(&wire, "std-dev", 0, 1));
    assert_eq!(dev.to_json_at(1), wire.to_json_at(1));
    for format in [Format::Legacy, Format::Ber] {
        let bytes = match format {
            Format::Legacy => legacy::to_bytes(&dev).unwrap(),
            Format::Ber => ber::to_bytes(&dev).unwrap(),
        };
        let back: StdDev = match format {
            Format::Legacy => legacy::from_bytes(&bytes, 1).unwrap(),
            Format::Ber => ber::from_bytes(&bytes, 1).unwrap(),
        };
        assert_eq!(back, dev, "{format:?}");
    }
}

#[test]
fn a_stream_of_them_dumps_and_converts_both_ways() {
    let (dev, _) = pair();
    let v = through_streams("std-dev", &dev);
    assert_eq!(v["name"]["elems"], "76697274696F2D626C6B");
    assert_eq!(v["weights"]["elems"][0]["0"], 3);
}

#[test]
fn values_the_rust_type_cannot_hold_are_refused_at_their_field() {
    let (_, wire) = pair();
    let cases: Vec<(Wire, &str)> = vec![
        (
            Wire {
                name: StringWire {
                    len: 2,
                    elems: vec![0xc3, 0x28],
                },
                ..wire.clone()
            },
            "std-dev.name.elems",
        ),
        (
            Wire {
                uptime: DurationWire {
                    secs: 1,
                    nanos: 1_000_000_000,
                },
                ..wire.clone()
            },
            "std-dev.uptime.nanos",
        ),
        (
            Wire {
                weights: WeightMap {
                    len: 2,
                    elems: [(5, 50), (3, 30)]
                        .map(|(key, value)| WeightEntry { key, value })
                        .to_vec(),
                },
                ..wire.clone()
            },
            "std-dev.weights.elems",
        ),
    ];
    for (bad, path) in cases {
        for e in [
            legacy::from_bytes::<StdDev>(&legacy::to_bytes(&bad).unwrap(), 1).unwrap_err(),
            ber::from_bytes::<StdDev>(&ber::to_bytes(&bad).unwrap(), 1).unwrap_err(),
        ] {
            assert!(
                matches!(e.kind(), ErrorKind::InvalidValue { .. }),
                "{path}: {e}"
            );
            assert_eq!(e.path(), path);
        }
    }
}

#[test]
fn a_count_beyond_the_bound_is_refused_before_any_allocation() {
    // A count of 2^32 - 1 elements with four bytes behind it.
    let (_, wire) = pair();
    let mut bytes = legacy::to_bytes(&wire).unwrap();
    bytes[..4].copy_from_slice(&u32::MAX.to_be_bytes());
    let e = legacy::from_bytes::<StdDev>(&bytes, 1).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::LengthTooLarge { .. }), "{e}");
    assert_eq!((e.path(), e.offset()), ("std-dev.name.len".to_owned(), 0));
    // And a save of more than the bound fails rather than writing it.
    let big = StdDev {
        regs: vec![0; MAX + 1].into_boxed_slice(),
        ..StdDev::default()
    };
    let e = legacy::to_bytes(&big).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::LengthTooLarge { .. }), "{e}");
    assert_eq!(e.path(), "std-dev.regs.len");
    assert!(ber::to_bytes(&big).is_err());
}

/// A ring whose size is a const parameter, and a device generic over a backend
/// that is host-side only.
#[derive(VMState, Clone, Debug, PartialEq)]
#[vmstate(name = "ring", version = 1)]
struct Ring<const N: usize> {
    head: u16,
    slots: [u64; N],
}

impl<const N: usize> Default for Ring<N> {
    fn default() -> Self {
        Ring {
            head: 0,
            slots: [0; N],
        }
    }
}

trait HostBackend: Default + Clone + std::fmt::Debug + PartialEq {}

#[derive(Clone, Debug, Default, PartialEq)]
struct NullBackend;
impl HostBackend for NullBackend {}

#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "generic-dev", version = 1)]
struct GenericDev<B: HostBackend, T> {
    #[vmstate(skip)]
    backend: B,
    ring: Ring<4>,
    values: Vec<T>,
}

#[test]
fn generic_structs_derive_with_the_bounds_their_fields_need() {
    let dev = GenericDev::<NullBackend, u32> {
        backend: NullBackend,
        ring: Ring {
            head: 2,
            slots: [1, 2, 3, 4],
        },
        values: vec![7, 8],
    };
    let bytes = legacy::to_bytes(&dev).unwrap();
    assert_eq!(bytes.len(), 2 + 32 + 4 + 8);
    let back: GenericDev<NullBackend, u32> = legacy::from_bytes(&bytes, 1).unwrap();
    assert_eq!(back, dev);
    let back: GenericDev<NullBackend, u32> =
        ber::from_bytes(&ber::to_bytes(&dev).unwrap(), 1).unwrap();
    assert_eq!(back, dev);
}

/// An enum with data: its variant, then that variant's fields.
#[derive(VMState, Clone, Debug, Default, PartialEq)]
enum Backend {
    File {
        path_hash: u64,
        ro: bool,
    },
    #[default]
    Null,
    Pair(u32, String),
}

#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "backend-dev", version = 1)]
struct BackendDev {
    a: u8,
    backend: Backend,
    b: u8,
}

// Its twin in QEMU's terms: `variant` as a uint32, then the variant's struct.
#[derive(VMState, Clone, Copy, Debug, Default, PartialEq)]
#[repr(u32)]
enum Kind {
    #[default]
    File,
    Null,
    Pair,
}

#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "Backend.File", version = 1)]
struct FileWire {
    path_hash: u64,
    ro: bool,
}

#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "Backend.Null", version = 1)]
struct NullWire {}

#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "Backend.Pair", version = 1)]
struct PairWire {
    #[vmstate(rename = "0")]
    a: u32,
    #[vmstate(rename = "1")]
    b: StringWire,
}

#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "Backend", version = 1)]
struct BackendWire {
    variant: Kind,
    #[vmstate(rename = "File", exists = |s: &Self, _| s.variant == Kind::File)]
    file: FileWire,
    #[vmstate(rename = "Null", exists = |s: &Self, _| s.variant == Kind::Null)]
    null: NullWire,
    #[vmstate(rename = "Pair", exists = |s: &Self, _| s.variant == Kind::Pair)]
    pair: PairWire,
}

#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "backend-dev", version = 1)]
struct BackendDevWire {
    a: u8,
    backend: BackendWire,
    b: u8,
}

#[test]
fn enums_with_data_are_their_variant_then_its_fields() {
    let cases = [
        (
            Backend::File {
                path_hash: 0xabcd,
                ro: true,
            },
            BackendWire {
                variant: Kind::File,
                file: FileWire {
                    path_hash: 0xabcd,
                    ro: true,
                },
                ..Default::default()
            },
        ),
        (
            Backend::Null,
            BackendWire {
                variant: Kind::Null,
                ..Default::default()
            },
        ),
        (
            Backend::Pair(5, "x".into()),
            BackendWire {
                variant: Kind::Pair,
                pair: PairWire {
                    a: 5,
                    b: string("x"),
                },
                ..Default::default()
            },
        ),
    ];
    for (backend, twin) in cases {
        let dev = BackendDev {
            a: 1,
            backend,
            b: 2,
        };
        let wire = BackendDevWire {
            a: 1,
            backend: twin,
            b: 2,
        };
        assert_eq!(
            legacy::to_bytes(&dev).unwrap(),
            legacy::to_bytes(&wire).unwrap()
        );
        assert_eq!(ber::to_bytes(&dev).unwrap(), ber::to_bytes(&wire).unwrap());
        assert_eq!(
            legacy::vmdesc_json(&dev, "backend-dev", 0, 1),
            legacy::vmdesc_json(&wire, "backend-dev", 0, 1)
        );
        assert_eq!(dev.to_json_at(1), wire.to_json_at(1));
        let back: BackendDev = legacy::from_bytes(&legacy::to_bytes(&dev).unwrap(), 1).unwrap();
        assert_eq!(back, dev);
        let back: BackendDev = ber::from_bytes(&ber::to_bytes(&dev).unwrap(), 1).unwrap();
        assert_eq!(back, dev);
    }
    // A variant number with no variant is refused at `variant`.
    let mut bytes = legacy::to_bytes(&BackendDev::default()).unwrap();
    bytes[1..5].copy_from_slice(&7u32.to_be_bytes());
    let e = legacy::from_bytes::<BackendDev>(&bytes, 1).unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::InvalidDiscriminant(7));
    assert_eq!(
        (e.path(), e.offset()),
        ("backend-dev.backend.variant".into(), 1)
    );
}

/// `max` on a container that counts itself: the count's bound in loads, saves
/// and the description.
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "bounded", version = 1)]
struct BoundedDev {
    #[vmstate(max = 4)]
    fifo: Vec<u8>,
    #[vmstate(max = 8)]
    label: String,
    #[vmstate(max = 2)]
    queues: Vec<Pair>,
}

#[test]
fn max_bounds_a_container_that_counts_itself() {
    let ok = BoundedDev {
        fifo: vec![1, 2, 3, 4],
        label: "12345678".into(),
        queues: vec![Pair::default(); 2],
    };
    for (bytes, ber) in [
        (legacy::to_bytes(&ok).unwrap(), false),
        (ber::to_bytes(&ok).unwrap(), true),
    ] {
        let back: BoundedDev = if ber {
            ber::from_bytes(&bytes, 1).unwrap()
        } else {
            legacy::from_bytes(&bytes, 1).unwrap()
        };
        assert_eq!(back, ok);
    }
    // The same bytes as without the bound.
    #[derive(VMState, Clone, Debug, Default, PartialEq)]
    #[vmstate(name = "bounded", version = 1)]
    struct Unbounded {
        fifo: Vec<u8>,
        label: String,
        queues: Vec<Pair>,
    }
    let plain = Unbounded {
        fifo: ok.fifo.clone(),
        label: ok.label.clone(),
        queues: ok.queues.clone(),
    };
    assert_eq!(
        legacy::to_bytes(&ok).unwrap(),
        legacy::to_bytes(&plain).unwrap()
    );
    assert_eq!(ber::to_bytes(&ok).unwrap(), ber::to_bytes(&plain).unwrap());
    // One more is refused by a save, naming the field, and by a load of the
    // unbounded twin's bytes, at the count.
    let long = Unbounded {
        label: "123456789".into(),
        ..plain.clone()
    };
    let too_long = BoundedDev {
        label: long.label.clone(),
        ..ok.clone()
    };
    for e in [
        legacy::to_bytes(&too_long).unwrap_err(),
        ber::to_bytes(&too_long).unwrap_err(),
        legacy::from_bytes::<BoundedDev>(&legacy::to_bytes(&long).unwrap(), 1).unwrap_err(),
        ber::from_bytes::<BoundedDev>(&ber::to_bytes(&long).unwrap(), 1).unwrap_err(),
    ] {
        assert_eq!(
            e.kind(),
            &ErrorKind::LengthTooLarge { len: 9, max: 8 },
            "{e}"
        );
        assert_eq!(e.path(), "bounded.label.len");
    }
    // The description carries the bound.
    let module = ber::asn1::Module::new("M")
        .with::<BoundedDev>()
        .render()
        .unwrap();
    assert!(module.contains("OCTET STRING (SIZE (0..4))"), "{module}");
    assert!(
        module.contains("SEQUENCE (SIZE (0..2)) OF Pair"),
        "{module}"
    );
}
