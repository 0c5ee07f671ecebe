//! Converting streams as they arrive (`dump::convert_stream`): the same bytes as the
//! tree's encoding, from a reader that hands out a few bytes at a time; a stream
//! cut anywhere is an error, never a shorter success. (`streaming_memory.rs`
//! measures the memory bound, alone in its binary.)

use std::io::{self, Read};
use vmstate_runtime::dump::{self, Limits};
use vmstate_runtime::{ErrorKind, Format};
use vmstate_test_support::catalog::{fixture_streams, read_fixture};

/// Hands out 1 to 7 bytes per read, as a socket may.
struct Dribble<'a> {
    data: &'a [u8],
    n: usize,
}

impl Read for Dribble<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.n = self.n % 7 + 1;
        let k = self.n.min(buf.len()).min(self.data.len());
        buf[..k].copy_from_slice(&self.data[..k]);
        self.data = &self.data[k..];
        Ok(k)
    }
}

fn convert_dribbled(data: &[u8], to: Format) -> vmstate_runtime::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut input = Dribble { data, n: 0 };
    dump::convert_stream(&mut input, &mut out, to, &Limits::default(), &mut |_| {})?;
    Ok(out)
}

#[test]
fn fixtures_convert_as_they_arrive_to_the_trees_bytes() {
    for (_, name, _) in fixture_streams() {
        let legacy = read_fixture(&name);
        let tree = dump::from_bytes(&legacy).unwrap();
        let ber = convert_dribbled(&legacy, Format::Ber).unwrap();
        assert!(
            ber == dump::to_bytes(&tree, Format::Ber).unwrap(),
            "{name}: legacy -> BER differs from the tree's BER"
        );
        assert!(
            convert_dribbled(&ber, Format::Legacy).unwrap() == legacy,
            "{name}: BER -> legacy is not QEMU's stream"
        );
        // Either format to itself: the same bytes.
        assert!(convert_dribbled(&legacy, Format::Legacy).unwrap() == legacy);
        assert!(convert_dribbled(&ber, Format::Ber).unwrap() == ber);
    }
}

#[test]
fn a_stream_cut_short_is_an_error_in_both_directions() {
    let (_, name, _) = &fixture_streams()[0];
    let legacy = read_fixture(name);
    let ber = dump::convert(&legacy, Format::Ber).unwrap();
    for (whole, to) in [(&legacy, Format::Ber), (&ber, Format::Legacy)] {
        let step = whole.len() / 97;
        for cut in (0..whole.len()).step_by(step).chain([whole.len() - 1]) {
            let e = convert_dribbled(&whole[..cut], to).expect_err("a cut stream must not convert");
            assert!(e.offset() <= cut as u64, "{cut}: {e}");
        }
    }
}

#[test]
fn a_held_tail_over_its_limit_names_the_limit() {
    let (_, name, _) = &fixture_streams()[0];
    let legacy = read_fixture(name);
    let limits = Limits {
        held_tail: 1024,
        ..Limits::default()
    };
    let e = dump::convert_stream(
        &mut &legacy[..],
        &mut io::sink(),
        Format::Ber,
        &limits,
        &mut |_| {},
    )
    .unwrap_err();
    assert!(
        matches!(
            e.kind(),
            ErrorKind::LimitExceeded {
                limit: "held_tail",
                ..
            }
        ),
        "{e}"
    );
}
