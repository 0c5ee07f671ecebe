//! The decoders' fast paths against their general paths. A load from a slice takes
//! the fast paths (whole structs scanned in place, `ber::Scan`; INTEGERs and runs
//! of them read in place, two-to-four-octet headers); a load from a reader has
//! nothing buffered ahead and takes the general path for every value. On the same
//! bytes both must give the same value, or the same error kind, path and offset
//! (`fuzzing::fast_and_general_agree`, which the `ber_device` fuzz target runs
//! too): for every catalog device's encoding, each of its integers replaced by edge
//! values, and thousands of random corruptions.

use vmstate_runtime::ber;
use vmstate_test_support::catalog::{self, Device, Visitor};
use vmstate_test_support::fuzzing::fast_and_general_agree;
use vmstate_test_support::testing::Rng;

struct Differential {
    rng: Rng,
    cases: usize,
}

impl Differential {
    fn check<T: Device>(&mut self, bytes: &[u8]) {
        fast_and_general_agree::<T>(bytes, T::DESC.version);
        self.cases += 1;
    }
}

impl Visitor for Differential {
    fn visit<T: Device>(&mut self, _idstr: &str, _instance: u32, value: &T) {
        let good = ber::to_bytes(value).unwrap();
        self.check::<T>(&good);
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
                    self.check::<T>(&b);
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
            self.check::<T>(&b);
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
