//! Bytes the derive wrote that it could not read back, or data it dropped without
//! a word: each case as a Rust VMM author declared it, with the bytes QEMU's rules
//! give it, through every reader (typed loads of both formats, a registry's whole
//! stream, the generic dump and walk that read by the vmdesc).

use vmstate_runtime::{ber, legacy, ErrorKind, VMState};
use vmstate_test_support::testing::through_streams;

#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "early-sub", version = 1)]
struct EarlySubsection {
    a: u8,
    #[vmstate(subsection)]
    extra: Option<Extra>,
    b: u8,
}

#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "early-sub/extra", version = 1)]
struct Extra {
    x: u32,
}

/// A subsection declared before a field goes after all the fields, as QEMU sends
/// and reads subsections.
#[test]
fn a_subsection_declared_before_a_field_is_sent_after_the_fields() {
    let dev = EarlySubsection {
        a: 1,
        extra: Some(Extra { x: 5 }),
        b: 3,
    };
    let bytes = legacy::to_bytes(&dev).unwrap();
    let mut want = vec![1, 3, 0x05, 15];
    want.extend(b"early-sub/extra");
    want.extend([0, 0, 0, 1, 0, 0, 0, 5]);
    assert_eq!(bytes, want);
    assert_eq!(
        legacy::from_bytes::<EarlySubsection>(&bytes, 1).unwrap(),
        dev
    );
    assert_eq!(legacy::to_bytes(&dev).unwrap().len(), dev.legacy_size_at(1));
    through_streams("early-sub", &dev);
}

#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "blk-req", version = 1)]
struct Request {
    n: u8,
    #[vmstate(len = n, max = 8)]
    indices: Vec<u16>,
}

#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "blk", version = 1)]
struct Blk {
    count: u32,
    #[vmstate(len = count, max = 16)]
    requests: Vec<Request>,
}

/// Elements of one array that differ in size are described one by one (`index`),
/// not as `array_len` elements of the first one's size.
#[test]
fn array_elements_of_different_sizes_are_described_each() {
    let dev = Blk {
        count: 2,
        requests: vec![
            Request {
                n: 3,
                indices: vec![1, 2, 3],
            },
            Request {
                n: 2,
                indices: vec![4, 5],
            },
        ],
    };
    through_streams("blk", &dev);
    // Elements of one size are still described once.
    let same = Blk {
        count: 2,
        requests: vec![dev.requests[1].clone(), dev.requests[1].clone()],
    };
    through_streams("blk", &same);
    let mut j = vmstate_runtime::json::JsonWriter::compact();
    j.begin_object(None);
    same.vmdesc_at(1, &mut j);
    j.end_object();
    let text = j.finish();
    assert!(
        text.contains("\"array_len\":2") || text.contains("\"array_len\": 2"),
        "{text}"
    );
}

#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "no-prep", version = 1)]
struct NoPrep {
    n: u8,
    #[vmstate(len = n, max = 8)]
    v: Vec<u8>,
}

/// A `Vec` whose count field does not match its length is a save error naming the
/// field, in both formats: never its first elements alone.
#[test]
fn a_vec_whose_count_differs_from_its_length_is_refused() {
    for dev in [
        NoPrep {
            n: 1,
            v: vec![1, 2, 3],
        },
        NoPrep { n: 3, v: vec![1] },
    ] {
        for e in [
            legacy::to_bytes(&dev).unwrap_err(),
            ber::to_bytes(&dev).unwrap_err(),
        ] {
            assert_eq!(
                e.kind(),
                &ErrorKind::LengthMismatch {
                    len: u64::from(dev.n),
                    available: dev.v.len() as u64,
                },
                "{e}"
            );
            assert_eq!(e.path(), "no-prep.v");
        }
    }
    let ok = NoPrep {
        n: 3,
        v: vec![1, 2, 3],
    };
    assert_eq!(legacy::to_bytes(&ok).unwrap(), [3, 1, 2, 3]);
}

#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "tagged", version = 1)]
struct Release1 {
    a: u8,
    b: u8,
}

#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "tagged", version = 1)]
struct Release2 {
    a: u8,
    #[vmstate(skip)]
    cache: u64,
    b: u8,
}

/// A skipped field takes no BER tag: the fields after it keep theirs, so a release
/// that adds or removes one reads the other's bytes.
#[test]
fn a_skipped_field_moves_no_ber_tag() {
    let one = Release1 { a: 1, b: 2 };
    let two = Release2 {
        a: 1,
        cache: 99,
        b: 2,
    };
    let bytes = ber::to_bytes(&one).unwrap();
    assert_eq!(ber::to_bytes(&two).unwrap(), bytes);
    let back: Release2 = ber::from_bytes(&bytes, 1).unwrap();
    assert_eq!((back.a, back.b), (1, 2));
    let back: Release1 = ber::from_bytes(&ber::to_bytes(&two).unwrap(), 1).unwrap();
    assert_eq!(back, one);
}

/// Release 1 of a virtio-blk-like device, as that release's build declared it:
/// queues of version 1, and the in-flight list's element.
mod release1 {
    use vmstate_runtime::VMState;

    #[derive(VMState, Clone, Debug, Default, PartialEq)]
    #[vmstate(name = "queue", version = 1)]
    pub struct Queue {
        pub size: u16,
    }

    #[derive(VMState, Clone, Debug, Default, PartialEq)]
    #[vmstate(name = "vblk", version = 1)]
    pub struct Blk {
        pub queues: Vec<Queue>,
        pub first: Queue,
        pub ring: [Queue; 2],
        pub n: u8,
        #[vmstate(len = n, max = 4)]
        pub counted: Vec<Queue>,
    }
}

/// Release 3: the queue gained `avail` in its version 2, which the device took
/// in its version 3; release 2 (device 2, queue 1) added `features`; the
/// subsection `vblk/extra` went to version 2 with device 3.
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "queue", version = 2, minimum_version = 1)]
struct VQueue {
    size: u16,
    #[vmstate(version = 2..)]
    avail: u64,
}

#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "vblk/extra", version = 2, minimum_version = 1)]
struct VExtra {
    a: u8,
    #[vmstate(version = 2..)]
    b: u8,
}

#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "vblk", version = 3, minimum_version = 1)]
struct VBlk {
    #[vmstate(struct_version(1 => 1, 3 => 2))]
    queues: Vec<VQueue>,
    #[vmstate(struct_version(1 => 1, 3 => 2))]
    first: VQueue,
    #[vmstate(struct_version(1 => 1, 3 => 2))]
    ring: [VQueue; 2],
    n: u8,
    #[vmstate(len = n, max = 4, struct_version(1 => 1, 3 => 2))]
    counted: Vec<VQueue>,
    #[vmstate(version = 2..)]
    features: u32,
    #[vmstate(subsection, version = 2.., struct_version(2 => 1, 3 => 2))]
    extra: Option<VExtra>,
}

fn queue(size: u16) -> VQueue {
    VQueue {
        size,
        avail: 0x1000,
    }
}

fn blk() -> VBlk {
    VBlk {
        queues: vec![queue(256), queue(128)],
        first: queue(64),
        ring: [queue(1), queue(2)],
        n: 1,
        counted: vec![queue(3)],
        features: 0xf,
        extra: Some(VExtra { a: 1, b: 2 }),
    }
}

#[test]
fn a_save_for_an_older_release_sends_nested_structs_at_that_releases_versions() {
    let dev = blk();
    let q1 = |size| release1::Queue { size };
    let expected = release1::Blk {
        queues: vec![q1(256), q1(128)],
        first: q1(64),
        ring: [q1(1), q1(2)],
        n: 1,
        counted: vec![q1(3)],
    };
    // Release 1's build loads what "save for release 1" wrote, in both formats.
    let old: release1::Blk = legacy::from_bytes(&legacy::to_bytes_at(&dev, 1).unwrap(), 1).unwrap();
    assert_eq!(old, expected);
    let old: release1::Blk = ber::from_bytes(&ber::to_bytes_at(&dev, 1).unwrap(), 1).unwrap();
    assert_eq!(old, expected);
    // The nested structs of a version-1 save are the queue's version 1 bytes:
    // 4 (count) + 2 + 2 + 2 + 2 (queues, first, ring) + 1 + 2 (n, counted).
    assert_eq!(
        legacy::to_bytes_at(&dev, 1).unwrap().len(),
        4 + 2 * 2 + 2 + 2 * 2 + 1 + 2
    );
    // The current build loads each of its versions back, the subsection included.
    for v in 1..=3 {
        for (bytes, ber) in [
            (legacy::to_bytes_at(&dev, v).unwrap(), false),
            (ber::to_bytes_at(&dev, v).unwrap(), true),
        ] {
            let back: VBlk = if ber {
                ber::from_bytes(&bytes, v).unwrap()
            } else {
                legacy::from_bytes(&bytes, v).unwrap()
            };
            let avail = if v >= 3 { 0x1000 } else { 0 };
            assert_eq!(back.first.avail, avail, "v{v} ber={ber}");
            assert_eq!(back.queues[1].avail, avail, "v{v} ber={ber}");
            assert_eq!(back.counted[0].avail, avail, "v{v} ber={ber}");
            assert_eq!(
                back.extra.as_ref().map(|e| e.b),
                match v {
                    1 => None,
                    2 => Some(0),
                    _ => Some(2),
                },
                "v{v} ber={ber}"
            );
        }
    }
    // Version 2's subsection is `vblk/extra` version 1, by its header.
    let v2 = legacy::to_bytes_at(&dev, 2).unwrap();
    let header = [&[5u8, 10][..], b"vblk/extra", &1u32.to_be_bytes()].concat();
    assert!(v2.windows(header.len()).any(|w| w == header));
    through_streams("vblk", &dev);
}

/// QEMU's `pre_save` may write the state (sync a register from the device
/// model): `pre_save = f` takes `fn(&mut Self)` as well as `fn(&Self)`. A writing
/// one runs on a copy, which is what is saved; the caller's value is untouched.
#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "synced", version = 1, pre_save = Synced::sync)]
struct Synced {
    fill: u8,
    #[vmstate(skip)]
    fifo: Vec<u8>,
}

impl Synced {
    fn sync(&mut self) -> Result<(), String> {
        self.fill = u8::try_from(self.fifo.len()).map_err(|_| "fifo too long")?;
        Ok(())
    }
}

#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "checked", version = 1, pre_save = |c: &Checked| if c.x > 9 { Err("x above 9") } else { Ok(()) })]
struct Checked {
    x: u8,
}

#[test]
fn pre_save_may_write_the_state_it_saves() {
    let dev = Synced {
        fill: 0,
        fifo: vec![1, 2, 3],
    };
    assert_eq!(legacy::to_bytes(&dev).unwrap(), [3]);
    assert_eq!(
        ber::to_bytes(&dev).unwrap(),
        ber::to_bytes(&Checked { x: 3 }).unwrap()
    );
    assert_eq!(dev.fill, 0, "the caller's value is not changed");
    // Its error, and a reading one's, is the hook's, naming it.
    let long = Synced {
        fill: 0,
        fifo: vec![0; 300],
    };
    for e in [
        legacy::to_bytes(&long).unwrap_err(),
        ber::to_bytes(&Checked { x: 10 }).unwrap_err(),
    ] {
        assert!(
            matches!(
                e.kind(),
                ErrorKind::Hook {
                    hook: "pre_save",
                    ..
                }
            ),
            "{e}"
        );
    }
    assert_eq!(legacy::to_bytes(&Checked { x: 9 }).unwrap(), [9]);
}
