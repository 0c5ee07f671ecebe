//! The BER codec on every example device at every version it saves at: decoding
//! gives back the value (compared through both encodings and its JSON), a save to
//! a writer writes the same octets, and the streaming reader consumes exactly the
//! value.

use vmstate_runtime::{ber, legacy};
use vmstate_test_support::catalog::{self, Device, Visitor};

struct RoundTrip {
    checked: usize,
}

impl Visitor for RoundTrip {
    fn visit<T: Device>(&mut self, idstr: &str, _instance: u32, value: &T) {
        let d = T::DESC;
        for v in d.minimum_version..=d.version {
            let bytes = ber::to_bytes_at(value, v).unwrap();
            let mut saved = Vec::new();
            let n = ber::save(value, &mut saved, v).unwrap();
            assert_eq!(
                (saved.len() as u64, &saved),
                (n, &bytes),
                "{idstr} v{v}: save"
            );
            let back: T =
                ber::from_bytes(&bytes, v).unwrap_or_else(|e| panic!("{idstr} v{v}: {e}"));
            assert_eq!(
                ber::to_bytes_at(&back, v).unwrap(),
                bytes,
                "{idstr} v{v}: BER again"
            );
            assert_eq!(
                legacy::to_bytes_at(&back, v).unwrap(),
                legacy::to_bytes_at(value, v).unwrap(),
                "{idstr} v{v}: legacy of the BER-decoded value"
            );
            if !ber::is_blob::<T>(v) {
                assert_eq!(
                    back.to_json_at(v),
                    value.to_json_at(v),
                    "{idstr} v{v}: JSON"
                );
            }
            // A reader positioned on the value takes exactly its octets.
            let mut stream = bytes.clone();
            stream.extend_from_slice(b"next");
            let mut r = &stream[..];
            let mut streamed = T::default();
            ber::load_from(&mut streamed, &mut r, v).unwrap();
            assert_eq!(r, b"next", "{idstr} v{v}: streaming load overran");
            assert_eq!(ber::to_bytes_at(&streamed, v).unwrap(), bytes);
            // With its name and version, it is read back at that version untold.
            let versioned = ber::to_bytes_versioned(value, v).unwrap();
            let mut told = T::default();
            assert_eq!(ber::load_versioned(&mut told, &versioned).unwrap(), v);
            assert_eq!(ber::to_bytes_at(&told, v).unwrap(), bytes, "{idstr} v{v}");
            self.checked += 1;
        }
    }
}

#[test]
fn every_example_device_round_trips_at_every_version() {
    let mut rt = RoundTrip { checked: 0 };
    catalog::visit_all(&mut rt);
    assert!(rt.checked >= 30, "only {} encodings checked", rt.checked);
}

#[derive(Default)]
struct Sizes {
    legacy: usize,
    ber: usize,
}

impl Visitor for Sizes {
    fn visit<T: Device>(&mut self, _idstr: &str, _instance: u32, value: &T) {
        self.legacy += legacy::to_bytes(value).unwrap().len();
        self.ber += ber::to_bytes(value).unwrap().len();
    }
}

/// The size target of the BER format: within 1.25x of legacy over the mirrored
/// device sections of `pc-kvm-bios.mig` (docs/BER.md has the table).
#[test]
fn ber_is_within_a_quarter_of_legacy_on_a_real_guest() {
    let mut s = Sizes::default();
    catalog::visit_stream(&catalog::read_fixture("pc-kvm-bios.mig"), &mut s).unwrap();
    assert_eq!((s.legacy, s.ber), (12094, 11121));
    assert!(s.ber * 4 <= s.legacy * 5, "{} vs {}", s.ber, s.legacy);
}

/// A BER save from a hook of another BER save (the thread's encoder is then in use)
/// encodes both values whole, and the outer one is unchanged by the inner.
#[test]
fn a_save_from_a_hook_of_a_save() {
    use vmstate_runtime::VMState;

    #[derive(VMState, Clone, Debug, Default, PartialEq)]
    #[vmstate(name = "inner", version = 1)]
    struct Inner {
        x: u32,
    }

    #[derive(VMState, Clone, Debug, Default, PartialEq)]
    #[vmstate(name = "outer", version = 1, pre_save = Outer::check)]
    struct Outer {
        a: u64,
        b: [u16; 3],
    }

    impl Outer {
        fn check(&self) -> Result<(), String> {
            let inner = ber::to_bytes(&Inner { x: 0x1234 }).map_err(|e| e.to_string())?;
            match inner.as_slice() {
                [0x30, 0x04, 0x80, 0x02, 0x12, 0x34] => Ok(()),
                other => Err(format!("inner encoded as {other:02x?}")),
            }
        }
    }

    let outer = Outer {
        a: 7,
        b: [1, 2, 300],
    };
    let bytes = ber::to_bytes(&outer).unwrap();
    assert_eq!(ber::from_bytes::<Outer>(&bytes, 1).unwrap(), outer);
    let mut again = Vec::new();
    ber::save(&outer, &mut again, 1).unwrap();
    assert_eq!(again, bytes);
}

/// A variable array's `len` field may be a type alias of an integer (the derive
/// leaves the check to the type system, `VarLenField`).
#[test]
fn a_len_field_may_be_a_type_alias() {
    use vmstate_runtime::{legacy, VMState};

    type Count = u16;

    #[derive(VMState, Clone, Debug, Default, PartialEq)]
    #[vmstate(name = "queue", version = 1)]
    struct Queue {
        used: Count,
        #[vmstate(len = used, max = 4)]
        entries: Vec<u32>,
    }

    let q = Queue {
        used: 2,
        entries: vec![7, 0x1_0000],
    };
    let bytes = legacy::to_bytes(&q).unwrap();
    assert_eq!(bytes, [0, 2, 0, 0, 0, 7, 0, 1, 0, 0]);
    assert_eq!(legacy::from_bytes::<Queue>(&bytes, 1).unwrap(), q);
    let ber_bytes = ber::to_bytes(&q).unwrap();
    assert_eq!(ber::from_bytes::<Queue>(&ber_bytes, 1).unwrap(), q);
    let too_many = Queue { used: 5, ..q };
    assert!(matches!(
        legacy::to_bytes(&too_many).unwrap_err().kind(),
        vmstate_runtime::ErrorKind::LengthTooLarge { len: 5, max: 4 }
    ));
}
