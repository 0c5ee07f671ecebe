//! The QEMU constructs of `examples/src/constructs.rs` on the wire: the exact
//! legacy bytes QEMU's macros give, both codecs round trip, the vmdesc entries QEMU
//! writes for them, the refusals (`le`, bitmaps, lists), and the section traits
//! in a registry (priority, early setup, unmigratable, unplug pending).

use vmstate_examples::constructs::{sample, Levels, Tour};
use vmstate_runtime::stream::Registry;
use vmstate_runtime::{ber, legacy, ErrorKind, Format, VMState};

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// Version 2 of the sample, field by field as QEMU's macros lay them out.
fn expected_v2() -> Vec<u8> {
    hex(concat!(
        "00000002",                                             // core_version (int32 le)
        "7265677300000001",                                     // opaque (tour regs)
        "80000001 0042",                                        // regs, at their version 2
        "0102 0203 0304 0405",                                  // window[2..6]
        "0405060708090a0b0c0d0e0f",                             // tail[4..]
        "00000002",                                             // nqueues
        "00000001 00000002 00000003 00000004",                  // queue_words: 2 x 2
        "0077",                                                 // other_heads: nqueues - 1
        "00000046",                                             // nbits = 70
        "8000000000000001 000000000000003f",                    // dirty: 2 words
        "00000000 00000001 00000000 00000001",                  // levels, from irq_levels 0b1010
        "00000007",                                             // old_regs at version 1
        "0005",                                                 // queue_head
        "01 0001 0000000000000064 01 0002 00000000000000c8 00", // requests
        "00000002 01 0000000000001000 0000000000002000 03",     // mappings
        "01 0000000000008000 0000000000001000 01 00",
        "05 0a 746f75722f6578747261 00000001 5a", // subsection tour/extra
    ))
}

#[test]
fn legacy_bytes_are_qemus_layout() {
    let t = sample();
    assert_eq!(legacy::to_bytes(&t).unwrap(), expected_v2());
    assert_eq!(t.legacy_size_at(2), expected_v2().len());
    // `prepare` ran on a copy: the caller's value is as it was.
    assert_eq!(t.levels, Levels::default());
}

#[test]
fn version_1_leaves_out_the_later_fields() {
    let t = sample();
    let v1 = legacy::to_bytes_at(&t, 1).unwrap();
    let v2 = expected_v2();
    // No old_regs (4 bytes) and no queue_head (2 bytes).
    assert_eq!(v1.len(), v2.len() - 6);
    let back: Tour = legacy::from_bytes(&v1, 1).unwrap();
    assert_eq!(back.old_regs, Default::default());
    assert_eq!(back.queue_head, 0);
    assert_eq!(back.requests, t.requests);
}

/// What a load into a fresh device gives for the sample: `levels` as `prepare`
/// computed them, `irq_levels` set from them by `post_load`, and the elements of
/// `window` and `tail` that are not sent left as they were.
fn loaded() -> Tour {
    let mut t = sample();
    t.levels.pins = [0, 1, 0, 1];
    t.window = [0, 0, 0x102, 0x203, 0x304, 0x405, 0, 0];
    t.tail[..4].fill(0);
    t
}

#[test]
fn both_codecs_round_trip() {
    let t = sample();
    for v in [1, 2] {
        let l = legacy::to_bytes_at(&t, v).unwrap();
        let mut back = Tour::default();
        legacy::load_into(&mut back, &l, v).unwrap();
        let b = ber::to_bytes_at(&t, v).unwrap();
        let mut from_ber = Tour::default();
        ber::load_into(&mut from_ber, &b, v).unwrap();
        if v == 2 {
            assert_eq!(back, loaded());
        }
        assert_eq!(from_ber, back, "version {v}");
        assert_eq!(back.irq_levels, 0b1010);
    }
}

#[test]
fn vmdesc_entries_are_as_qemu_writes_them() {
    let d = legacy::vmdesc_json(&sample(), "tour", 0, 2);
    for entry in [
        r#"{"name": "core_version", "type": "int32 le", "size": 4}"#,
        r#"{"name": "opaque", "type": "tour regs", "size": 8}"#,
        r#"{"name": "window", "array_len": 4, "type": "uint16", "size": 2}"#,
        r#"{"name": "tail", "type": "buffer", "size": 12}"#,
        r#"{"name": "queue_words", "array_len": 4, "type": "uint32", "size": 4}"#,
        r#"{"name": "dirty", "type": "bitmap", "size": 16}"#,
        // Two temporary structs: QEMU numbers names used more than once.
        r#"{"name": "tmp[0]", "type": "tmp", "vmsd_name": "tour-heads", "version": 1, "fields": [{"name": "heads", "type": "uint16", "size": 2}], "size": 2}"#,
        r#"{"name": "tmp[1]", "type": "tmp", "vmsd_name": "tour-levels", "version": 1, "fields": [{"name": "pins", "array_len": 4, "type": "uint32", "size": 4}], "size": 16}"#,
        r#"{"name": "old_regs", "type": "struct", "struct": {"vmsd_name": "tour-regs", "version": 1, "fields": [{"name": "ctrl", "type": "uint32", "size": 4}]}, "size": 4}"#,
        // QEMU would also write each element's description into these two, as
        // repeated keys (see `vmstate_runtime::linked`).
        r#"{"name": "requests", "type": "qtailq", "size": 23}"#,
        r#"{"name": "mappings", "type": "gtree", "size": 41}"#,
    ] {
        assert!(d.contains(entry), "{entry} not in {d}");
    }
}

#[test]
fn le_refuses_a_newer_or_negative_core() {
    for bad in [3i32, -1] {
        let mut t = sample();
        t.core_version = bad;
        let bytes = legacy::to_bytes(&t).unwrap();
        let e = legacy::from_bytes::<Tour>(&bytes, 2).unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::AboveCurrent { .. }), "{e}");
        assert_eq!(e.path(), "tour.core_version");
        assert_eq!(e.offset(), 0);
    }
}

#[test]
fn hostile_lists_and_bitmaps_are_errors() {
    let good = expected_v2();
    // A list marker other than 0 or 1, at the first request's (before the 23
    // bytes of requests, 41 of mappings and 17 of subsection).
    let at = good.len() - 81;
    assert_eq!(good[at], 1);
    let mut bad = good.clone();
    bad[at] = 7;
    let e = legacy::from_bytes::<Tour>(&bad, 2).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::InvalidBool(7)), "{e}");
    assert_eq!(e.offset(), at as u64);
    // A tree with more nodes than it announced.
    let mut t = sample();
    t.mappings.0.clear();
    let mut bytes = legacy::to_bytes(&t).unwrap();
    let nodes = bytes.len() - 22;
    assert_eq!(bytes[nodes..nodes + 5], [0, 0, 0, 0, 0]);
    bytes[nodes + 4] = 1;
    assert!(legacy::from_bytes::<Tour>(&bytes, 2).is_err());
    // More bits than `max` allows: reported in bits, as `max` is declared.
    t.nbits = 257;
    t.dirty = vec![0; 5];
    assert!(matches!(
        legacy::to_bytes(&t).unwrap_err().kind(),
        ErrorKind::LengthTooLarge { len: 257, max: 256 }
    ));
}

#[test]
fn a_registry_orders_by_priority_and_refuses_blocked_devices() {
    use vmstate_examples::demo;
    let mut d = demo::sample();
    let mut t = sample();
    let bytes = {
        let mut reg = Registry::new("pc-i440fx-7.2");
        reg.device("demo-dma", 0, &mut d);
        reg.device("tour", 0, &mut t);
        reg.save(Format::Legacy).unwrap()
    };
    let s = vmstate_runtime::dump::walk_legacy(&bytes).unwrap();
    let order: Vec<&str> = s.sections.iter().map(|x| x.ident.idstr.as_str()).collect();
    // `pci_bus` priority first, whatever the registration order.
    assert_eq!(order, ["tour", "demo-dma"]);
    t.unplugging = true;
    let mut reg = Registry::new("pc-i440fx-7.2");
    reg.device("tour", 0, &mut t);
    let e = reg.save(Format::Ber).unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::UnplugPending("tour#0".into()));
}

mod blocked {
    /// A device QEMU marks `unmigratable`.
    #[derive(vmstate_runtime::VMState, Clone, Default)]
    #[vmstate(name = "blocked", version = 1, unmigratable)]
    pub struct Blocked {
        pub x: u8,
    }

    /// A device saved with the iterative sections' START parts.
    #[derive(vmstate_runtime::VMState, Clone, Default)]
    #[vmstate(name = "early", version = 1, early_setup)]
    pub struct Early {
        pub x: u8,
    }
}

#[test]
fn unmigratable_fails_and_early_setup_goes_before_the_ram() {
    use vmstate_runtime::ram::RamSaver;
    let mut b = blocked::Blocked::default();
    let mut reg = Registry::new("pc-i440fx-7.2");
    reg.device("blocked", 0, &mut b);
    let e = reg.save(Format::Legacy).unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Unmigratable("blocked#0".into()));
    drop(reg);

    let mem = vec![7u8; 64 << 10];
    for format in [Format::Legacy, Format::Ber] {
        let mut saver = RamSaver::new(vec![vmstate_runtime::ram::RamBlock {
            name: "pc.ram",
            mem: &mem,
        }])
        .unwrap();
        let mut early = blocked::Early { x: 3 };
        let mut p = vmstate_examples::demo::sample();
        let bytes = {
            let mut reg = Registry::new("pc-i440fx-7.2");
            reg.iterative("ram", 0, &mut saver);
            reg.device("demo-dma", 0, &mut p);
            reg.device("early", 0, &mut early);
            reg.save(format).unwrap()
        };
        let tree = vmstate_runtime::dump::from_bytes(&bytes).unwrap();
        let kinds: Vec<String> = tree["sections"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                format!(
                    "{} {}",
                    s["type"].as_str().unwrap(),
                    s["idstr"].as_str().unwrap_or("")
                )
            })
            .collect();
        assert_eq!(
            kinds,
            ["start ram", "full early", "part ", "end ", "full demo-dma"],
            "{format:?}"
        );
    }
}

mod keyed {
    use vmstate_runtime::{GTree, QList, StructKey, VMState};

    /// A tree key that is a struct (`VMSTATE_GTREE_V` with a key description).
    #[derive(VMState, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
    #[vmstate(name = "key", version = 1)]
    pub struct Key {
        pub bus: u8,
        pub dev: u8,
    }

    #[derive(VMState, Clone, Debug, Default, PartialEq)]
    #[vmstate(name = "val", version = 1)]
    pub struct Val {
        pub x: u32,
    }

    #[derive(VMState, Clone, Debug, Default, PartialEq)]
    #[vmstate(name = "keyed", version = 1)]
    pub struct Keyed {
        pub tree: GTree<StructKey<Key>, Val>,
        pub list: QList<Val>,
    }
}

#[test]
fn struct_keys_and_qlists_round_trip_in_key_order() {
    use keyed::*;
    use vmstate_runtime::{QList, StructKey};
    let mut k = Keyed::default();
    // Inserted out of order: sent in key order, as GLib walks a tree.
    k.tree
        .0
        .insert(StructKey(Key { bus: 1, dev: 0 }), Val { x: 7 });
    k.tree
        .0
        .insert(StructKey(Key { bus: 0, dev: 3 }), Val { x: 9 });
    k.list = QList(vec![Val { x: 1 }]);
    let bytes = legacy::to_bytes(&k).unwrap();
    assert_eq!(
        bytes,
        hex("00000002 01 0003 00000009 01 0100 00000007 00  01 00000001 00")
    );
    assert_eq!(legacy::from_bytes::<Keyed>(&bytes, 1).unwrap(), k);
    let b = ber::to_bytes(&k).unwrap();
    assert_eq!(ber::from_bytes::<Keyed>(&b, 1).unwrap(), k);
    // A node count the nodes do not match is refused.
    let mut short = bytes.clone();
    short[3] = 3;
    assert!(matches!(
        legacy::from_bytes::<Keyed>(&short, 1).unwrap_err().kind(),
        ErrorKind::LengthMismatch {
            len: 3,
            available: 2
        }
    ));
}
