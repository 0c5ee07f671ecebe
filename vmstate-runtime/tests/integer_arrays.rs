//! Arrays of integers, which both codecs read and write in runs (legacy: byte
//! swaps of 256 octets at a time; BER: short INTEGERs in place, zeros eight at a
//! time): the bytes are QEMU's, a cut names the element it cuts and that
//! element's offset as a read one at a time would, and a value out of an element's
//! range is refused at that element by the fast and the general path alike.

use vmstate_runtime::{ber, legacy, ErrorKind, VMState};
use vmstate_test_support::fuzzing::fast_and_general_agree;

#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "ints", version = 1)]
struct Ints {
    h: [i16; 3],
    w: [u32; 20],
    q: [u64; 32],
    n: u32,
    #[vmstate(len = n, max = 100)]
    v: Vec<i64>,
    tail: [u64; 2],
}

fn ints() -> Ints {
    let x = |i: usize| (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    Ints {
        h: [-2, 0x1234, i16::MIN],
        w: std::array::from_fn(|i| x(i) as u32),
        q: std::array::from_fn(x),
        n: 70,
        v: (0..70).map(|i| x(i + 7) as i64).collect(),
        tail: [u64::MAX, 1],
    }
}

/// Each field's elements: its name, first octet, width, count.
fn layout(v: &Ints) -> Vec<(&'static str, usize, usize, usize)> {
    let fields = [
        ("h", 2, 3),
        ("w", 4, 20),
        ("q", 8, 32),
        ("n", 4, 1),
        ("v", 8, v.v.len()),
        ("tail", 8, 2),
    ];
    let mut at = 0;
    fields
        .into_iter()
        .map(|(name, width, count)| {
            let entry = (name, at, width, count);
            at += width * count;
            entry
        })
        .collect()
}

#[test]
fn legacy_arrays_are_big_endian_elements_in_order() {
    let v = ints();
    let mut want = Vec::new();
    v.h.iter().for_each(|x| want.extend(x.to_be_bytes()));
    v.w.iter().for_each(|x| want.extend(x.to_be_bytes()));
    v.q.iter().for_each(|x| want.extend(x.to_be_bytes()));
    want.extend(v.n.to_be_bytes());
    v.v.iter().for_each(|x| want.extend(x.to_be_bytes()));
    v.tail.iter().for_each(|x| want.extend(x.to_be_bytes()));
    let bytes = legacy::to_bytes(&v).unwrap();
    assert_eq!(bytes, want);
    assert_eq!(legacy::from_bytes::<Ints>(&bytes, 1).unwrap(), v);
}

#[test]
fn a_cut_names_the_element_it_cuts_and_its_offset() {
    let v = ints();
    let bytes = legacy::to_bytes(&v).unwrap();
    for cut in 0..bytes.len() {
        let e = legacy::from_bytes::<Ints>(&bytes[..cut], 1).unwrap_err();
        let &(name, start, width, count) = layout(&v)
            .iter()
            .find(|(_, start, width, count)| cut < start + width * count)
            .unwrap();
        let i = (cut - start) / width;
        let path = match count {
            1 if name == "n" => format!("ints.{name}"),
            _ => format!("ints.{name}[{i}]"),
        };
        assert_eq!(e.kind(), &ErrorKind::UnexpectedEof, "cut at {cut}");
        assert_eq!((e.path(), e.offset()), (path, (start + i * width) as u64));
    }
}

/// The same shape with wider elements: a value of `Wide` is a `Narrow` unless an
/// element is out of `u16`'s range.
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "run", version = 1)]
struct Wide {
    a: [u32; 24],
}

#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "run", version = 1)]
struct Narrow {
    a: [u16; 24],
}

/// `Narrow` with a field checked against the destination: its fields take the
/// general path, each array then scanned on its own.
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "run", version = 1)]
struct NarrowChecked {
    a: [u16; 24],
    #[vmstate(equal)]
    b: u32,
}

#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "run", version = 1)]
struct WideChecked {
    a: [u32; 24],
    b: u32,
}

/// Every position of one value among zeros, in and out of range: zeros are read
/// eight at a time, so each position sits somewhere else in a block of eight.
#[test]
fn one_value_among_zeros_at_every_position() {
    for k in 0..24 {
        for x in [5u32, 0x80, 0xffff, 0x1_0000, u32::MAX] {
            let mut wide = Wide::default();
            wide.a[k] = x;
            let bytes = ber::to_bytes(&wide).unwrap();
            fast_and_general_agree::<Narrow>(&bytes, 1);
            match ber::from_bytes::<Narrow>(&bytes, 1) {
                Ok(n) => {
                    assert!(x <= 0xffff);
                    assert_eq!(n.a.map(u32::from), wide.a);
                }
                Err(e) => {
                    assert!(x > 0xffff);
                    assert!(matches!(e.kind(), ErrorKind::IntegerOutOfRange { .. }));
                    assert_eq!(e.path(), format!("run.a[{k}]"));
                }
            }

            let checked = WideChecked { a: wide.a, b: 0 };
            let bytes = ber::to_bytes(&checked).unwrap();
            fast_and_general_agree::<NarrowChecked>(&bytes, 1);
            let r = ber::from_bytes::<NarrowChecked>(&bytes, 1);
            assert_eq!(r.is_ok(), x <= 0xffff, "{x:#x} at {k}: {r:?}");
        }
    }
}
