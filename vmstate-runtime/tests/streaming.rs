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

/// Hands out the stream in the pieces given, one per read.
struct Pieces<'a>(Vec<&'a [u8]>);

impl Read for Pieces<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(first) = self.0.first_mut() else {
            return Ok(0);
        };
        let k = first.len().min(buf.len());
        buf[..k].copy_from_slice(&first[..k]);
        *first = &first[k..];
        if first.is_empty() {
            self.0.remove(0);
        }
        Ok(k)
    }
}

/// A device whose bytes look like a vmdesc trailer, arriving as the last bytes of
/// a read, is not taken for the stream's end: the records before it do not end
/// at EOF under that "description".
#[test]
fn bytes_that_look_like_a_trailer_inside_a_device_are_not_its_end() {
    use vmstate_qemu::Rtc;
    use vmstate_runtime::stream::Registry;
    let fake = [0x06, 0, 0, 0, 2, b'{', b'}'];
    let mut rtc = Rtc::default();
    rtc.cmos_data[..fake.len()].copy_from_slice(&fake);
    let mut reg = Registry::new("pc-i440fx-7.2");
    reg.device("mc146818rtc", 0, &mut rtc);
    let legacy = reg.save(Format::Legacy).unwrap();
    drop(reg);
    let cut = legacy.windows(fake.len()).position(|w| w == fake).unwrap() + fake.len();
    let mut out = Vec::new();
    let mut input = Pieces(vec![&legacy[..cut], &legacy[cut..]]);
    dump::convert_stream(
        &mut input,
        &mut out,
        Format::Ber,
        &Limits::default(),
        &mut |_| {},
    )
    .unwrap();
    assert!(out == dump::convert(&legacy, Format::Ber).unwrap());
}

/// The converted stream is whole at the destination as soon as the source's last
/// byte arrived, before the source closes its side (a live migration's source
/// closes its connection some time after): the converter does not wait for the
/// end of its input to write and flush.
#[test]
fn the_output_is_whole_before_the_input_closes() {
    let (_, name, _) = &fixture_streams()[0];
    let legacy = read_fixture(name);
    let ber = dump::convert(&legacy, Format::Ber).unwrap();
    for (from, to, want) in [
        (legacy.clone(), Format::Ber, &ber),
        (ber.clone(), Format::Legacy, &legacy),
    ] {
        let (mut in_r, mut in_w) = io::pipe().unwrap();
        let (mut out_r, mut out_w) = io::pipe().unwrap();
        let converter = std::thread::spawn(move || {
            dump::convert_stream(&mut in_r, &mut out_w, to, &Limits::default(), &mut |_| {})
        });
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let source = std::thread::spawn(move || {
            io::Write::write_all(&mut in_w, &from).unwrap();
            // The input stays open until the whole output was read.
            done_rx.recv().unwrap();
            drop(in_w);
        });
        let mut got = vec![0u8; want.len()];
        out_r.read_exact(&mut got).unwrap();
        assert!(&got == want, "{to:?}");
        done_tx.send(()).unwrap();
        source.join().unwrap();
        converter.join().unwrap().unwrap();
    }
}

/// A RAM part may be written open (indefinite lengths); a device section, which is
/// read whole, may not: both readers refuse it alike, at its record.
#[test]
fn only_a_ram_part_may_be_open() {
    use vmstate_runtime::framing::ber::{self as records, Record};
    use vmstate_runtime::framing::SectionKind;
    use vmstate_runtime::io::StreamInput;
    let (_, name, _) = &fixture_streams()[0];
    let ber = dump::convert(&read_fixture(name), Format::Ber).unwrap();
    let mut r = StreamInput::Slice(vmstate_runtime::io::SliceInput::new(&ber));
    records::read_prelude(&mut r).unwrap();
    let (at, end) = loop {
        let at = vmstate_runtime::io::Input::offset(&r);
        if let Some(Record::Section(s)) = records::read_record(&mut r).unwrap() {
            if s.header.kind == SectionKind::Full {
                break (at as usize, vmstate_runtime::io::Input::offset(&r) as usize);
            }
        }
    };
    let head = records::read_head(&ber[at..end], at as u64).unwrap();
    let fields = &ber[at + head.record.header_len..head.body.offset as usize];
    let body = &ber[head.body.content_offset() as usize..end];
    let open = [
        &[0x64, 0x80][..],
        fields,
        &[0xa5, 0x80],
        body,
        &[0, 0, 0, 0],
    ]
    .concat();
    let stream = [&ber[..at], &open, &ber[end..]].concat();
    let e = dump::from_bytes(&stream).unwrap_err();
    assert!(e.to_string().contains("must have a definite length"), "{e}");
    assert_eq!(e.offset(), at as u64);
    let e = dump::convert(&stream, Format::Legacy).unwrap_err();
    assert!(e.to_string().contains("must have a definite length"), "{e}");
    assert_eq!(e.offset(), at as u64);
}
