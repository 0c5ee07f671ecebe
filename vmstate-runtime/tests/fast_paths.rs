//! The decoders' fast paths against their general paths. A load from a slice takes
//! the fast paths (whole structs scanned in place, `ber::Scan`; INTEGERs and runs
//! of them read in place, two-to-four-octet headers); a load from a reader has
//! nothing buffered ahead and takes the general path for every value. On the same bytes both must give the same value, or the
//! same error kind, path and offset: for every catalog device's encoding, each of its
//! integers replaced by edge values, and thousands of random corruptions.

use vmstate_runtime::{ber, Error};
use vmstate_test_support::catalog::{self, Device, Visitor};
use vmstate_test_support::testing::Rng;

/// The value (as the bytes it saves to: a NaN is not equal to itself) or the error
/// (kind, path, offset) of a load from a slice and from a reader of `bytes`; a
/// value must also take all of the slice.
fn both<T: Device>(bytes: &[u8]) -> [Result<Vec<u8>, (String, String, u64)>; 2] {
    let v = T::DESC.version;
    let key = |e: Error| (format!("{:?}", e.kind()), e.path(), e.offset());
    let mut from_reader = T::default();
    let reader = ber::load_from(&mut from_reader, bytes, v).map(|()| from_reader);
    let slice = ber::from_bytes::<T>(bytes, v);
    // A reader stops after the value; a slice refuses what follows it.
    let reader = match (&slice, reader) {
        (Err(e), Ok(_)) if matches!(e.kind(), vmstate_runtime::ErrorKind::TrailingBytes(_)) => {
            Err(e.clone())
        }
        (_, r) => r,
    };
    let saved = |v: T| ber::to_bytes(&v).unwrap();
    [
        slice.map(saved).map_err(key),
        reader.map(saved).map_err(key),
    ]
}

struct Differential {
    rng: Rng,
    cases: usize,
}

impl Differential {
    fn check<T: Device>(&mut self, idstr: &str, bytes: &[u8]) {
        let [slice, reader] = both::<T>(bytes);
        assert_eq!(
            slice,
            reader,
            "{idstr}: {}",
            vmstate_test_support::testing::hexdump(bytes)
        );
        self.cases += 1;
    }
}

impl Visitor for Differential {
    fn visit<T: Device>(&mut self, idstr: &str, _instance: u32, value: &T) {
        let good = ber::to_bytes(value).unwrap();
        self.check::<T>(idstr, &good);
        // Every INTEGER (identifier 0x02 or a primitive context tag, short length)
        // rewritten to edge contents of its own length: minimal or not, in or out of
        // its field's range, sign bit set or clear.
        for at in 0..good.len().saturating_sub(2) {
            let (id, n) = (good[at], usize::from(good[at + 1]));
            let int_like = id == 0x02 || (id & 0xe0 == 0x80 && id & 0x1f != 0x1f);
            if !int_like || !(1..=9).contains(&n) || at + 2 + n > good.len() {
                continue;
            }
            for fill in [0x00, 0x7f, 0x80, 0xff] {
                for first in [0x00, 0x01, 0x7f, 0x80, 0xff] {
                    let mut b = good.clone();
                    b[at + 2..at + 2 + n].fill(fill);
                    b[at + 2] = first;
                    self.check::<T>(idstr, &b);
                }
            }
        }
        // Random corruption: one to four octets changed, or a cut.
        for _ in 0..500 {
            let mut b = good.clone();
            if self.rng.next_u64() % 8 == 0 {
                b.truncate(self.rng.next_u64() as usize % b.len());
            } else {
                for _ in 0..1 + self.rng.next_u64() % 4 {
                    let i = self.rng.next_u64() as usize % b.len();
                    b[i] = self.rng.next_u64() as u8;
                }
            }
            self.check::<T>(idstr, &b);
        }
    }
}

#[test]
fn fast_and_general_paths_agree() {
    let mut d = Differential {
        rng: Rng(0x5eed_fa57),
        cases: 0,
    };
    catalog::visit_all(&mut d);
    assert!(d.cases > 20_000, "only {} cases", d.cases);
}
