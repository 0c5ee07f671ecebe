//! The classes of QEMU's 2013-14 migration CVEs (docs/SECURITY.md has the table),
//! each fed to the mirror that has such a field, or to a device written for the
//! test: the load fails with a typed error at the field, and the target is
//! unchanged.

use vmstate_qemu::{Fifo8, Hpet};
use vmstate_runtime::{ber, legacy, ErrorKind, VMState};

/// Loads `bytes` into a clone of `before` in both codecs (the BER form made from
/// the same hostile value where it can be saved), expecting an error of `kind` at
/// field `path`, and the target unchanged.
fn refused<T: VMState + Clone + PartialEq + std::fmt::Debug>(
    before: &T,
    bytes: &[u8],
    version: u32,
    path: &str,
    kind: fn(&ErrorKind) -> bool,
) {
    let mut target = before.clone();
    let e = legacy::load_into(&mut target, bytes, version).unwrap_err();
    assert!(kind(e.kind()), "{e}");
    assert_eq!(e.path(), path, "{e}");
    assert_eq!(&target, before, "the target changed");
}

/// CVE-2013-4527: hpet's `num_timers` from the stream indexed the comparators.
/// Above the 32 the device has, or below the 3 it always has: refused.
#[test]
fn hpet_num_timers_from_the_stream_is_bounded() {
    let hpet = Hpet::default();
    let good = legacy::to_bytes(&hpet).unwrap();
    // config, isr, counter (24 bytes), then num_timers.
    for n in [64u8, 2] {
        let mut bad = good.clone();
        bad[24] = n;
        refused(
            &hpet,
            &bad,
            2,
            "hpet.num_timers",
            |k| matches!(k, ErrorKind::Validation(m) if m.contains("outside 3..=32")),
        );
    }
    // Nor can a value naming 64 comparators be saved, in either codec.
    let mut big = hpet.clone();
    big.num_timers = 64;
    for e in [
        legacy::to_bytes(&big).unwrap_err(),
        ber::to_bytes(&big).unwrap_err(),
    ] {
        assert!(
            matches!(e.kind(), ErrorKind::LengthTooLarge { len: 64, max: 32 }),
            "{e}"
        );
    }
}

/// CVE-2013-4530 class (pl022's `tx_fifo_head`, and siblings): an index into device
/// memory taken from the stream. The serial FIFO's `head` and `num`: refused past
/// its storage.
#[test]
fn a_fifo_index_from_the_stream_is_checked() {
    let fifo = Fifo8::default();
    let good = legacy::to_bytes(&fifo).unwrap();
    let at = good.len() - 8; // head, then num
    for (field, value) in [(0, 16u32), (4, 17u32)] {
        let mut bad = good.clone();
        bad[at + field..at + field + 4].copy_from_slice(&value.to_be_bytes());
        refused(&fifo, &bad, 1, "Fifo8.num", |k| {
            matches!(k, ErrorKind::Validation(_))
        });
    }
    let mut in_range = good.clone();
    in_range[at..at + 4].copy_from_slice(&15u32.to_be_bytes());
    let mut f = fifo.clone();
    legacy::load_into(&mut f, &in_range, 1).unwrap();
    assert_eq!(f.head, 15);
}

/// A device written for the test: a count the stream sends for an array the device
/// has (CVE-2013-4148's `mac_table_len`, CVE-2013-4151's vring `num`, CVE-2013-4529's
/// `log_num`), signed (CVE-2013-4537's negative `arglen`).
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "table", version = 1)]
struct Table {
    len: i32,
    #[vmstate(len = len)]
    entries: [u32; 8],
}

#[test]
fn counts_from_the_stream_larger_than_the_array_or_negative_are_refused() {
    let before = Table {
        len: 2,
        entries: [7; 8],
    };
    for (len, kind) in [
        (
            9i32,
            (|k: &ErrorKind| matches!(k, ErrorKind::LengthTooLarge { len: 9, max: 8 }))
                as fn(&ErrorKind) -> bool,
        ),
        (-1, |k: &ErrorKind| {
            matches!(k, ErrorKind::NegativeLength(-1))
        }),
    ] {
        let mut bytes = len.to_be_bytes().to_vec();
        bytes.extend([0u8; 36]);
        refused(&before, &bytes, 1, "table.entries", kind);
    }
}
