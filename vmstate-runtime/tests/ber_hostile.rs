//! The BER decoder on hostile and unusual input: every truncation and thousands of
//! corruptions without a panic; exact error kinds, paths and offsets for wrong tags,
//! forms, ranges, missing and unknown fields; lenient skipping with a report; all of
//! BER's freedoms (indefinite lengths, constructed strings, long-form lengths); the
//! legacy blob accepted at any version; bounded nesting.

use vmstate_examples::demo::{sample, DemoDma, Descriptor, Gpa, Mode};
use vmstate_runtime::ber::{self, Options};
use vmstate_runtime::{legacy, ErrorKind, Field, VMState};
use vmstate_test_support::catalog::{self, Device, Visitor};
use vmstate_test_support::testing::Rng;

/// Definite-length TLV with identifier octets `id`.
fn tlv(id: &[u8], content: &[u8]) -> Vec<u8> {
    let mut out = id.to_vec();
    let n = content.len();
    if n < 0x80 {
        out.push(n as u8);
    } else {
        let bytes = n.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

fn field<T: Field>(tag: u32, v: &T) -> Vec<u8> {
    let mut e = ber::Encoder::new();
    v.ber_put_field(&mut e, tag).unwrap();
    e.into_vec()
}

/// demo-dma at version 3 from its field TLVs: `[APPLICATION 16]`.
fn demo(fields: &[Vec<u8>]) -> Vec<u8> {
    tlv(&[0x70], &fields.concat())
}

/// The fields of a running demo-dma at version 3 with one descriptor and no error.
fn demo_fields() -> Vec<Vec<u8>> {
    let ring = vec![Descriptor {
        addr: Gpa(0x1000),
        len: 64,
        flags: 1,
    }];
    let mut e = ber::Encoder::new();
    ber::put_slice_field(&mut e, 6, &ring).unwrap();
    vec![
        field(0, &Mode::Polled),
        field(1, &16u32),
        field(4, &-1i64),
        field(5, &1u8),
        e.into_vec(),
        field(7, &41u64),
        field(8, &0.5f64),
    ]
}

fn expected_demo() -> DemoDma {
    DemoDma {
        mode: Mode::Polled,
        pending: 1,
        ring: vec![Descriptor {
            addr: Gpa(0x1000),
            len: 64,
            flags: 1,
        }],
        completed: 41,
        load: 0.5,
        ..DemoDma::default()
    }
}

fn load(bytes: &[u8]) -> vmstate_runtime::Result<DemoDma> {
    let mut d = DemoDma::default();
    ber::load_into(&mut d, bytes, 3).map(|()| d)
}

fn err(bytes: &[u8]) -> vmstate_runtime::Error {
    load(bytes).expect_err("must fail")
}

#[test]
fn hand_built_encoding_is_what_the_encoder_writes() {
    let bytes = demo(&demo_fields());
    assert_eq!(load(&bytes).unwrap(), expected_demo());
    assert_eq!(ber::to_bytes(&expected_demo()).unwrap(), bytes);
}

struct Abuse {
    seed: u64,
}

impl Visitor for Abuse {
    fn visit<T: Device>(&mut self, idstr: &str, _instance: u32, value: &T) {
        for v in T::DESC.minimum_version..=T::DESC.version {
            let bytes = ber::to_bytes_at(value, v).unwrap();
            // Every cut: EOF (a BER value says where it ends), target unchanged.
            for cut in 0..bytes.len() {
                let mut target = value.clone();
                let e = ber::load_into(&mut target, &bytes[..cut], v).unwrap_err();
                assert_eq!(
                    e.kind(),
                    &ErrorKind::UnexpectedEof,
                    "{idstr} v{v} cut {cut}: {e}"
                );
                assert_eq!(e.device(), Some(T::DESC.name));
                assert_eq!(&target, value, "{idstr}: a failed load changed the target");
            }
            // Random corruption, strict and lenient: never a panic; a failed load
            // leaves the target as it was.
            let mut rng = Rng(self.seed ^ u64::from(v));
            for _ in 0..1000 {
                let mut bad = bytes.clone();
                for _ in 0..1 + rng.next_u64() % 4 {
                    let i = (rng.next_u64() % bad.len() as u64) as usize;
                    bad[i] = rng.next_u64() as u8;
                }
                for opts in [Options::STRICT, Options::LENIENT] {
                    let mut target = value.clone();
                    if ber::load_into_with(&mut target, &bad, v, &opts).is_err() {
                        assert_eq!(&target, value);
                    }
                }
            }
        }
        self.seed = self.seed.wrapping_mul(31).wrapping_add(7);
    }
}

#[test]
fn truncated_and_corrupted_encodings_of_every_device() {
    catalog::visit_all(&mut Abuse { seed: 0x9e37_79b9 });
}

#[test]
fn wrong_outer_tag_is_named() {
    let mut bytes = demo(&demo_fields());
    bytes[0] = 0x30; // SEQUENCE instead of [APPLICATION 16]
    let e = err(&bytes);
    assert_eq!(
        e.kind(),
        &ErrorKind::UnexpectedTag {
            expected: "[APPLICATION 16] (constructed)".into(),
            found: "SEQUENCE".into()
        }
    );
    assert_eq!((e.path().as_str(), e.offset()), ("demo-dma", 0));
}

#[test]
fn wrong_form_is_an_error_at_the_field() {
    let mut f = demo_fields();
    f[0][0] |= 0x20; // mode [0] constructed
    let e = err(&demo(&f));
    assert!(
        matches!(e.kind(), ErrorKind::UnexpectedTag { expected, .. } if expected == "primitive form")
    );
    assert_eq!((e.path().as_str(), e.offset()), ("demo-dma.mode", 2));
}

#[test]
fn integer_out_of_the_field_range() {
    let mut f = demo_fields();
    f[3] = field(5, &256u16); // pending is a u8
    let e = err(&demo(&f));
    assert_eq!(
        e.kind(),
        &ErrorKind::IntegerOutOfRange {
            value: "256".into(),
            ty: "uint8"
        }
    );
    assert_eq!(e.path(), "demo-dma.pending");
    let at = 2 + f[..3].iter().map(Vec::len).sum::<usize>();
    assert_eq!(e.offset(), at as u64);
    // A 10-octet INTEGER fits no field.
    f[3] = tlv(&[0x85], &[1; 10]);
    assert!(matches!(
        err(&demo(&f)).kind(),
        ErrorKind::IntegerOutOfRange { .. }
    ));
}

#[test]
fn enum_value_without_a_variant() {
    let mut f = demo_fields();
    f[0] = tlv(&[0x80], &[2]);
    let e = err(&demo(&f));
    assert_eq!(e.kind(), &ErrorKind::InvalidDiscriminant(2));
    assert_eq!(e.path(), "demo-dma.mode");
}

#[test]
fn missing_required_field() {
    let mut f = demo_fields();
    f.remove(1); // queue-size
    let e = err(&demo(&f));
    assert_eq!(e.kind(), &ErrorKind::MissingField);
    assert_eq!((e.path().as_str(), e.offset()), ("demo-dma.queue_size", 5));
    // At the end of the value, too.
    let mut f = demo_fields();
    f.truncate(6);
    assert_eq!(err(&demo(&f)).path(), "demo-dma.load");
}

#[test]
fn unknown_fields_fail_strictly_and_are_skipped_leniently() {
    let mut f = demo_fields();
    f.push(field(20, &7u32)); // a newer sender's trailing field
    f.insert(2, field(3, &0u8)); // the padding's tag, never sent
    let bytes = demo(&f);
    let e = err(&bytes);
    assert_eq!(e.kind(), &ErrorKind::UnknownField("[3] (primitive)".into()));
    assert_eq!(e.path(), "demo-dma");
    let mut d = DemoDma::default();
    let report = ber::load_into_with(&mut d, &bytes, 3, &Options::LENIENT).unwrap();
    assert_eq!(d, expected_demo());
    let tags: Vec<u32> = report.skipped.iter().map(|s| s.tag.number).collect();
    assert_eq!(tags, [3, 20]);
    assert!(report.skipped.iter().all(|s| s.within == "demo-dma"));
}

fn subsection_entry(tag: u8, name: &str, version: u8, body: &[u8]) -> Vec<u8> {
    let content = [
        tlv(&[0x0c], name.as_bytes()),
        tlv(&[0x02], &[version]),
        body.to_vec(),
    ]
    .concat();
    tlv(&[0xa0 | tag], &content)
}

#[test]
fn unknown_subsections_fail_strictly_and_are_skipped_leniently() {
    let mut f = demo_fields();
    let body = [field(0, &9u32), field(1, &Gpa(0))].concat();
    let known = subsection_entry(0, "demo-dma/error", 1, &tlv(&[0x30], &body));
    let unknown = subsection_entry(1, "demo-dma/shiny", 1, &tlv(&[0x30], &[]));
    f.push(tlv(&[0x62], &[known, unknown].concat()));
    let bytes = demo(&f);
    let e = err(&bytes);
    assert_eq!(
        e.kind(),
        &ErrorKind::UnknownSubsection("demo-dma/shiny".into())
    );
    let mut d = DemoDma::default();
    let report = ber::load_into_with(&mut d, &bytes, 3, &Options::LENIENT).unwrap();
    assert_eq!(d.error.code, 9);
    assert_eq!(report.skipped.len(), 1);
    assert_eq!(
        report.skipped[0].subsection.as_deref(),
        Some("demo-dma/shiny")
    );
}

/// The error for demo-dma with one subsection entry `[0]` (an empty body).
fn entry_error(name: &str, version: u8) -> vmstate_runtime::Error {
    let mut f = demo_fields();
    let entry = subsection_entry(0, name, version, &tlv(&[0x30], &[]));
    f.push(tlv(&[0x62], &entry));
    err(&demo(&f))
}

#[test]
fn subsection_under_a_known_tag_with_another_name() {
    let e = entry_error("demo-dma/other", 1);
    assert_eq!(
        e.kind(),
        &ErrorKind::UnknownSubsection("demo-dma/other".into())
    );
    assert_eq!(e.path(), "demo-dma.error");
}

#[test]
fn subsection_version_too_new() {
    let e = entry_error("demo-dma/error", 2);
    let want = ErrorKind::VersionTooNew {
        version: 2,
        supported: 1,
    };
    assert_eq!((e.kind(), e.path().as_str()), (&want, "demo-dma.error"));
}

/// Rewrites every constructed TLV of a DER encoding with indefinite length.
fn indefinite(der: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < der.len() {
        let id = der[i];
        let mut j = i + 1;
        let (len, hl) = match der[j] {
            l if l < 0x80 => (usize::from(l), 1),
            l => {
                let k = usize::from(l & 0x7f);
                (
                    der[j + 1..j + 1 + k]
                        .iter()
                        .fold(0, |a, &b| (a << 8) | usize::from(b)),
                    1 + k,
                )
            }
        };
        j += hl;
        if id & 0x20 != 0 {
            out.extend_from_slice(&[id, 0x80]);
            out.extend(indefinite(&der[j..j + len]));
            out.extend_from_slice(&[0, 0]);
        } else {
            out.extend_from_slice(&der[i..j + len]);
        }
        i = j + len;
    }
    out
}

#[test]
fn indefinite_lengths_everywhere_decode_the_same() {
    for v in [2, 3] {
        let der = ber::to_bytes_at(&sample(), v).unwrap();
        let ber_bytes = indefinite(&der);
        assert!(ber_bytes.len() > der.len());
        let mut d = DemoDma::default();
        ber::load_into(&mut d, &ber_bytes, v).unwrap();
        assert_eq!(ber::to_bytes_at(&d, v).unwrap(), der);
        // And through a reader, which must stop right after the end-of-contents.
        let mut stream = ber_bytes.clone();
        stream.push(0xaa);
        let mut r = &stream[..];
        let mut d2 = DemoDma::default();
        ber::load_from(&mut d2, &mut r, v).unwrap();
        assert_eq!((d2, r), (d, &[0xaa][..]));
    }
}

#[test]
fn constructed_octet_strings_and_long_form_lengths_are_accepted() {
    let mut f = demo_fields();
    // load (Float64) as a constructed [8] of three OCTET STRING segments.
    let bits = 0.5f64.to_bits().to_be_bytes();
    let segments = [
        tlv(&[0x04], &bits[..3]),
        tlv(&[0x04], &[]),
        tlv(&[0x04], &bits[3..]),
    ]
    .concat();
    f[6] = tlv(&[0xa8], &segments);
    // queue-size with a non-minimal long-form length (BER allows it).
    f[1] = vec![0x81, 0x82, 0x00, 0x01, 16];
    assert_eq!(load(&demo(&f)).unwrap(), expected_demo());
    // A segment that overflows the 8 octets is a size error.
    f[6] = tlv(&[0xa8], &[tlv(&[0x04], &bits), tlv(&[0x04], &[1])].concat());
    assert_eq!(
        err(&demo(&f)).kind(),
        &ErrorKind::SizeMismatch {
            expected: 8,
            found: 9
        }
    );
}

#[test]
fn malformed_headers_are_rejected() {
    let cases: [(Vec<u8>, &str); 5] = [
        (vec![0x80, 0xff], "reserved length octet 0xff"),
        (
            vec![0x80, 0x89, 1, 1, 1, 1, 1, 1, 1, 1, 1],
            "length of more than 8 octets",
        ),
        (vec![0x80, 0x80], "indefinite length on a primitive value"),
        (
            vec![0x9f, 0x00, 0x01, 0x00],
            "tag number below 31 in the long form",
        ),
        (
            vec![0x80, 0x02, 0x00, 0x05],
            "INTEGER not in its shortest form",
        ),
    ];
    for (mode, what) in cases {
        let mut f = demo_fields();
        f[0] = mode;
        let e = err(&demo(&f));
        assert_eq!(e.kind(), &ErrorKind::MalformedBer(what.into()), "{what}");
        assert_eq!(e.offset(), 2, "{what}");
    }
    // A length that runs past the enclosing value, however large, allocates nothing.
    let mut f = demo_fields();
    f[1] = vec![0x81, 0x84, 0xff, 0xff, 0xff, 0xff];
    assert_eq!(
        err(&demo(&f)).kind(),
        &ErrorKind::MalformedBer("value runs past the end of its enclosing value".into())
    );
}

#[test]
fn nesting_is_bounded() {
    // An unknown field that a lenient load must skip, nested 40 deep with indefinite
    // lengths (definite ones are skipped by length, without looking inside).
    let mut f = demo_fields();
    let mut deep = vec![0xb4, 0x80];
    deep.extend([0xa0, 0x80].repeat(39));
    deep.extend([0, 0].repeat(40));
    f.push(deep);
    let mut d = DemoDma::default();
    let e = ber::load_into_with(&mut d, &demo(&f), 3, &Options::LENIENT).unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::TooDeep(Options::DEFAULT_MAX_DEPTH));
    // `load` (Float64) as a constructed OCTET STRING nested `depth` deep.
    let nested_load = |depth: usize| {
        let mut f = demo_fields();
        let mut load = tlv(&[0x04], &0.5f64.to_bits().to_be_bytes());
        for _ in 0..depth {
            load = tlv(&[0x24], &load);
        }
        load[0] = 0xa8;
        f[6] = load;
        load_demo(&f)
    };
    let e = nested_load(40).unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::TooDeep(Options::DEFAULT_MAX_DEPTH));
    assert_eq!(nested_load(5).unwrap(), expected_demo());
}

fn load_demo(f: &[Vec<u8>]) -> vmstate_runtime::Result<DemoDma> {
    load(&demo(f))
}

/// A variable array with no other check in the way of its bound.
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "bounded", version = 1)]
struct Bounded {
    n: u32,
    #[vmstate(len = n, max = 4)]
    items: Vec<u16>,
}

#[test]
fn variable_array_bounds() {
    let mut f = demo_fields();
    f[3] = field(5, &2u8); // pending says 2, the ring holds 1
    let e = err(&demo(&f));
    assert_eq!(
        e.kind(),
        &ErrorKind::SizeMismatch {
            expected: 2,
            found: 1
        }
    );
    assert_eq!(e.path(), "demo-dma.ring");
    // A length beyond the bound is rejected before anything is allocated.
    let huge = tlv(&[0x30], &[field(0, &u32::MAX), tlv(&[0xa1], &[])].concat());
    let mut b = Bounded::default();
    let e = ber::load_into(&mut b, &huge, 1).unwrap_err();
    assert_eq!(
        e.kind(),
        &ErrorKind::LengthTooLarge {
            len: u64::from(u32::MAX),
            max: 4
        }
    );
    assert_eq!(e.path(), "bounded.items");
    let ok = tlv(
        &[0x30],
        &[
            field(0, &2u32),
            tlv(&[0xa1], &[field_value(&7u16), field_value(&9u16)].concat()),
        ]
        .concat(),
    );
    ber::load_into(&mut b, &ok, 1).unwrap();
    assert_eq!(b.items, [7, 9]);
}

fn field_value<T: Field>(v: &T) -> Vec<u8> {
    let mut e = ber::Encoder::new();
    ber::put_value(&mut e, v).unwrap();
    e.into_vec()
}

#[test]
fn legacy_blob_is_accepted_at_any_version_and_structured_at_the_blob_version() {
    let value = sample();
    for v in 1..=3 {
        // A legacy blob, whatever the version.
        let legacy = legacy::to_bytes_at(&value, v).unwrap();
        let blob = tlv(&[0x04], &legacy);
        let mut d = DemoDma::default();
        ber::load_into(&mut d, &blob, v).unwrap();
        assert_eq!(legacy::to_bytes_at(&d, v).unwrap(), legacy, "blob at v{v}");
        // Structured, whatever the version (a newer sender's choice at v1).
        let mut e = ber::Encoder::new();
        value.ber_save_at(&mut e, v).unwrap();
        e.put_header(DemoDma::BER_TAG, e.len());
        let mut d = DemoDma::default();
        ber::load_into(&mut d, e.as_bytes(), v).unwrap();
        assert_eq!(
            legacy::to_bytes_at(&d, v).unwrap(),
            legacy,
            "structured at v{v}"
        );
    }
    // The saver picks the blob up to ber_blob_until only.
    assert_eq!(ber::to_bytes_at(&value, 1).unwrap()[0], 0x04);
    assert_eq!(ber::to_bytes_at(&value, 2).unwrap()[0], 0x70);
    // A blob with bytes after the legacy value, and a constructed blob, are errors.
    let mut legacy = legacy::to_bytes_at(&value, 3).unwrap();
    legacy.push(0);
    let e = err(&tlv(&[0x04], &legacy));
    assert_eq!(e.kind(), &ErrorKind::TrailingBytes(1));
    assert!(matches!(
        err(&tlv(&[0x24], &[])).kind(),
        ErrorKind::MalformedBer(_)
    ));
}

#[test]
fn a_type_without_ber_blob_until_refuses_blobs() {
    let dev = vmstate_qemu::Port92 { outport: 2 };
    let blob = tlv(&[0x04], &[2]);
    let mut target = dev.clone();
    let e = ber::load_into(&mut target, &blob, 1).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::UnexpectedTag { .. }));
}

#[test]
fn trailing_bytes_and_version_checks() {
    let mut bytes = demo(&demo_fields());
    bytes.push(0);
    assert_eq!(err(&bytes).kind(), &ErrorKind::TrailingBytes(1));
    let mut d = DemoDma::default();
    let e = ber::load_into(&mut d, &demo(&demo_fields()), 4).unwrap_err();
    assert_eq!(
        e.kind(),
        &ErrorKind::VersionTooNew {
            version: 4,
            supported: 3
        }
    );
}

#[test]
fn equal_and_validate_apply_as_in_the_legacy_codec() {
    let mut f = demo_fields();
    f[1] = field(1, &32u32);
    let e = err(&demo(&f));
    assert!(matches!(e.kind(), ErrorKind::NotEqual { .. }));
    assert_eq!(e.path(), "demo-dma.queue_size");
    let mut f = demo_fields();
    f[3] = field(5, &17u8); // more pending than the queue holds
    let bytes = demo(&f);
    let e = err(&bytes);
    assert!(matches!(e.kind(), ErrorKind::Validation(_)), "{e}");
    assert_eq!(e.path(), "demo-dma.pending");
    assert_eq!(bytes[e.offset() as usize], 0x85, "at the field's [5] tag");
}
