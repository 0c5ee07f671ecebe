//! Decoders on hostile input: typed errors with device, field path and offset; no
//! panic; the target left unchanged on every failure.

use vmstate_examples::demo::{sample, DemoDma, Mode};
use vmstate_qemu::{FwCfg, GlobalState, Hpet, HpetTimer, IsaFdc, KvmClock, KvmClockReliable};
use vmstate_runtime::{legacy, ErrorKind, VMState};
use vmstate_test_support::testing::Rng;

/// Every prefix of a valid encoding fails (with EOF) or is a complete value that
/// lacks only optional subsections; a failure leaves the target as it was.
fn truncations<T: VMState + Clone + PartialEq + std::fmt::Debug>(value: &T, version: u32) {
    let bytes = legacy::to_bytes_at(value, version).unwrap();
    for cut in 0..bytes.len() {
        let mut target = value.clone();
        match legacy::load_into(&mut target, &bytes[..cut], version) {
            // A cut inside a subsection header cannot be told from bytes after the
            // value: those are trailing bytes, starting with the subsection marker.
            Err(e) if matches!(e.kind(), ErrorKind::TrailingBytes(_)) => {
                assert_eq!(
                    bytes[e.offset() as usize],
                    legacy::SUBSECTION,
                    "cut at {cut}: {e}"
                );
                assert_eq!(&target, value);
            }
            Err(e) => {
                assert_eq!(e.kind(), &ErrorKind::UnexpectedEof, "cut at {cut}: {e}");
                // The offset is where the value that could not be completed starts.
                assert!(e.offset() <= cut as u64, "cut at {cut}: {e}");
                assert_eq!(e.device(), Some(T::DESC.name));
                assert_eq!(&target, value, "target changed by a failed load");
            }
            Ok(()) => assert!(
                bytes[cut] == legacy::SUBSECTION,
                "prefix of {cut} bytes loaded but does not end before a subsection"
            ),
        }
    }
}

/// Random corruption of a valid encoding never panics, and failed loads leave the
/// target unchanged.
fn corruptions<T: VMState + Clone + PartialEq + std::fmt::Debug>(
    value: &T,
    version: u32,
    seed: u64,
) {
    let bytes = legacy::to_bytes_at(value, version).unwrap();
    let mut rng = Rng(seed);
    for _ in 0..2000 {
        let mut b = bytes.clone();
        for _ in 0..1 + rng.next_u64() % 4 {
            let i = (rng.next_u64() as usize) % b.len();
            b[i] = rng.next_u64() as u8;
        }
        let mut target = value.clone();
        if legacy::load_into(&mut target, &b, version).is_err() {
            assert_eq!(&target, value);
        }
    }
}

fn hpet() -> Hpet {
    Hpet {
        num_timers: 3,
        timers: (0..3)
            .map(|tn| HpetTimer {
                tn,
                cmp: 0x1_0000 * u64::from(tn),
                ..HpetTimer::default()
            })
            .collect(),
        ..Hpet::default()
    }
}

#[test]
fn truncated_input_is_eof_and_leaves_target_unchanged() {
    truncations(&sample(), 3);
    truncations(&sample(), 1);
    truncations(&hpet(), 2);
    let fw = FwCfg {
        dma: Some(Default::default()),
        ..FwCfg::default()
    };
    truncations(&fw, 2);
    truncations(&IsaFdc::default(), 2);
}

#[test]
fn random_corruption_never_panics() {
    corruptions(&sample(), 3, 1);
    corruptions(&hpet(), 2, 2);
    corruptions(&IsaFdc::default(), 2, 3);
    corruptions(
        &KvmClock {
            clock: 5,
            clock_is_reliable: Some(KvmClockReliable {
                clock_is_reliable: true,
            }),
        },
        1,
        4,
    );
}

#[test]
fn varray_length_above_bound_is_rejected_before_allocating() {
    let mut b = legacy::to_bytes(&hpet()).unwrap();
    b[24] = 200; // num_timers
    let e = legacy::from_bytes::<Hpet>(&b, 2).unwrap_err();
    // The validator sees it first...
    assert!(matches!(e.kind(), ErrorKind::Validation(m) if m.contains("200")));
    assert_eq!(e.path(), "hpet.num_timers");
    assert_eq!(e.offset(), 24, "the field's first byte");
    // ...and a Vec bound holds even without one.
    let mut d = legacy::to_bytes(&sample()).unwrap();
    d[17] = 17; // pending, checked by validate against queue_size 16
    let e = legacy::from_bytes::<DemoDma>(&d, 3).unwrap_err();
    assert_eq!(e.path(), "demo-dma.pending");
    assert_eq!(e.offset(), 17);
    let mut big = sample();
    big.queue_size = 255;
    let mut d = legacy::to_bytes(&big).unwrap();
    d[17] = 200;
    let mut target = DemoDma {
        queue_size: 255,
        ..DemoDma::default()
    };
    let e = legacy::load_into(&mut target, &d, 3).unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::LengthTooLarge { len: 200, max: 16 });
    assert_eq!(e.path(), "demo-dma.ring");
    assert_eq!(e.offset(), 18);
}

#[test]
fn errors_name_the_nested_field_and_offset() {
    let b = legacy::to_bytes(&hpet()).unwrap();
    // Cut inside timer 2's `cmp`: 25 header bytes, two timers of 42, tn, config.
    let cmp_at = 25 + 2 * 42 + 1 + 8;
    let e = legacy::from_bytes::<Hpet>(&b[..cmp_at + 3], 2).unwrap_err();
    assert_eq!(e.path(), "hpet.timers[2].cmp");
    assert_eq!(
        e.to_string(),
        format!("hpet.timers[2].cmp at byte {cmp_at}: unexpected end of input")
    );
}

#[test]
fn invalid_enum_discriminant() {
    let mut b = legacy::to_bytes(&sample()).unwrap();
    b[0] = 2; // Mode has 0, 1 and 4
    let e = legacy::from_bytes::<DemoDma>(&b, 3).unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::InvalidDiscriminant(2));
    assert_eq!(e.path(), "demo-dma.mode");
    b[0] = 1;
    assert_eq!(
        legacy::from_bytes::<DemoDma>(&b, 3).unwrap().mode,
        Mode::Polled
    );
}

#[test]
fn equal_field_must_match_destination() {
    let mut b = legacy::to_bytes(&IsaFdc::default()).unwrap();
    let at = 9 + 512 + 4 + 4 + 9; // num_floppies
    assert_eq!(b[at], 2);
    b[at] = 1;
    let e = legacy::from_bytes::<IsaFdc>(&b, 2).unwrap_err();
    assert_eq!(
        e.kind(),
        &ErrorKind::NotEqual {
            expected: "2".into(),
            found: "1".into()
        }
    );
    assert_eq!(e.path(), "fdc.state.num_floppies");
    assert_eq!(e.offset(), at as u64);
}

#[test]
fn bool_other_than_0_or_1_is_rejected_inside_a_subsection() {
    let v = KvmClock {
        clock: 1,
        clock_is_reliable: Some(KvmClockReliable {
            clock_is_reliable: true,
        }),
    };
    let mut b = legacy::to_bytes(&v).unwrap();
    *b.last_mut().unwrap() = 7;
    let e = legacy::from_bytes::<KvmClock>(&b, 1).unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::InvalidBool(7));
    assert_eq!(e.path(), "kvmclock.clock_is_reliable.clock_is_reliable");
}

#[test]
fn unknown_subsection_and_trailing_bytes() {
    let mut b = legacy::to_bytes(&KvmClock {
        clock: 1,
        clock_is_reliable: None,
    })
    .unwrap();
    b.extend_from_slice(&[legacy::SUBSECTION, 13]);
    b.extend_from_slice(b"kvmclock/what");
    b.extend_from_slice(&1u32.to_be_bytes());
    let e = legacy::from_bytes::<KvmClock>(&b, 1).unwrap_err();
    assert_eq!(
        e.kind(),
        &ErrorKind::UnknownSubsection("kvmclock/what".into())
    );
    assert_eq!(e.offset(), 8);

    let mut b = legacy::to_bytes(&KvmClock::default()).unwrap();
    b.push(0);
    let e = legacy::from_bytes::<KvmClock>(&b, 1).unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::TrailingBytes(1));
}

#[test]
fn versions_outside_the_supported_range() {
    let b = legacy::to_bytes(&hpet()).unwrap();
    let e = legacy::from_bytes::<Hpet>(&b, 3).unwrap_err();
    assert_eq!(
        e.kind(),
        &ErrorKind::VersionTooNew {
            version: 3,
            supported: 2
        }
    );
    let e = legacy::from_bytes::<Hpet>(&b, 0).unwrap_err();
    assert_eq!(
        e.kind(),
        &ErrorKind::VersionTooOld {
            version: 0,
            minimum: 1
        }
    );
    let e = legacy::to_bytes_at(&sample(), 0).unwrap_err();
    assert_eq!(
        e.kind(),
        &ErrorKind::VersionTooOld {
            version: 0,
            minimum: 1
        }
    );
}

#[test]
fn hooks_run_and_their_errors_are_typed() {
    // pre_load gives version-1 HPET streams their three timers.
    let v1 = legacy::to_bytes_at(&hpet(), 1).unwrap();
    assert_eq!(v1.len(), 24 + 3 * 42);
    let mut target = Hpet {
        num_timers: 7,
        ..Hpet::default()
    };
    legacy::load_into(&mut target, &v1, 1).unwrap();
    assert_eq!(target.num_timers, 3);
    assert_eq!(target.timers, hpet().timers);

    let mut g = GlobalState::new("running");
    g.runstate = [b'x'; 100];
    let e = legacy::to_bytes(&g).unwrap_err();
    assert!(matches!(
        e.kind(),
        ErrorKind::Hook {
            hook: "pre_save",
            ..
        }
    ));
    assert_eq!(e.device(), Some("globalstate"));
}

#[test]
fn inconsistent_value_is_refused_on_save() {
    let mut d = sample();
    d.pending = 3; // only 2 descriptors
    let e = legacy::to_bytes(&d).unwrap_err();
    assert_eq!(
        e.kind(),
        &ErrorKind::LengthMismatch {
            len: 3,
            available: 2
        }
    );
    assert_eq!(e.path(), "demo-dma.ring");
}

#[test]
fn streaming_reader_matches_slice_decoder() {
    let dev = sample();
    let mut b = legacy::to_bytes(&dev).unwrap();
    let n = b.len();
    b.extend_from_slice(b"NEXT");
    let mut target = DemoDma::default();
    let mut input = legacy::ReadInput::new(&b[..]);
    legacy::load_input(&mut target, &mut input, 3).unwrap();
    assert_eq!(target.ring, dev.ring);
    assert_eq!(target.error, dev.error);
    assert_eq!(legacy::Input::offset(&input), n as u64);
    let mut out = Vec::new();
    assert_eq!(legacy::save(&dev, &mut out, 3).unwrap(), n as u64);
    assert_eq!(out, b[..n]);
}

/// Findings of issue 12, each a regression test.
mod issue_12 {
    use vmstate_runtime::{legacy, ErrorKind, VMState};

    #[derive(VMState, Clone, Copy, Debug, Default, PartialEq)]
    #[repr(i8)]
    enum Signed {
        #[default]
        Zero = 0,
        Minus = -1,
    }

    #[derive(VMState, Clone, Debug, Default, PartialEq)]
    #[vmstate(name = "dev", version = 1)]
    struct Dev {
        r#type: u8,
        mode: Signed,
    }

    #[derive(VMState, Clone, Debug, Default, PartialEq)]
    #[vmstate(name = "dev/extra", version = 1)]
    struct Extra {
        x: u8,
    }

    #[derive(VMState, Clone, Debug, Default, PartialEq)]
    #[vmstate(name = "dev", version = 1)]
    struct WithSub {
        a: u8,
        #[vmstate(subsection)]
        extra: Option<Extra>,
    }

    /// A negative discriminant is reported as the negative number it is.
    #[test]
    fn a_negative_discriminant_is_reported_as_such() {
        assert_eq!(
            legacy::from_bytes::<Dev>(&[7, 0xff], 1).unwrap().mode,
            Signed::Minus
        );
        let e = legacy::from_bytes::<Dev>(&[7, 0x80], 1).unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::InvalidSignedDiscriminant(-128));
        assert_eq!(
            e.to_string(),
            "dev.mode at byte 1: invalid enum discriminant -128"
        );
    }

    /// A raw identifier is named as QEMU would name the field: `type`, not `r#type`.
    #[test]
    fn a_raw_identifier_is_named_without_its_prefix() {
        let json = legacy::vmdesc_json(&Dev::default(), "dev", 0, 1);
        assert!(
            json.contains(r#"{"name": "type", "type": "uint8", "size": 1}"#),
            "{json}"
        );
        assert_eq!(Dev::DESC.fields[0].asn1_name, "type");
    }

    /// The reader form reports a cut subsection header as the slice form does.
    #[test]
    fn a_reader_ending_inside_a_subsection_header_is_an_error() {
        let whole = legacy::to_bytes(&WithSub {
            a: 1,
            extra: Some(Extra { x: 2 }),
        })
        .unwrap();
        for cut in 2..whole.len() - 1 {
            let mut dev = WithSub::default();
            let from_reader = legacy::load_from(&mut dev, &whole[..cut], 1);
            let from_slice = legacy::load_into(&mut dev, &whole[..cut], 1);
            assert!(from_reader.is_err() && from_slice.is_err(), "cut at {cut}");
            assert_eq!(dev, WithSub::default(), "unchanged on error");
        }
    }
}
