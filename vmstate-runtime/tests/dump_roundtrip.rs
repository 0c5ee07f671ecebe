//! Generic decoding of the three real QEMU 7.2 streams, without Rust device types:
//! every section through the stream's own vmdesc, into one JSON tree that re-encodes
//! to the identical bytes, and converts legacy -> BER -> legacy byte for byte.

use vmstate_runtime::dump;
use vmstate_runtime::Format;
use vmstate_test_support::catalog::{fixture_streams, read_fixture};

#[test]
fn trees_re_encode_every_fixture_byte_for_byte() {
    for (_, name, _) in fixture_streams() {
        let bytes = read_fixture(&name);
        let tree = dump::from_bytes(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        let again = dump::to_bytes(&tree, Format::Legacy).unwrap();
        assert!(again == bytes, "{name}: legacy re-encode differs");
        // Through JSON text and back.
        let text = serde_json::to_string(&tree).unwrap();
        let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert!(
            dump::to_bytes(&parsed, Format::Legacy).unwrap() == bytes,
            "{name}: via JSON text"
        );
    }
}

#[test]
fn legacy_ber_legacy_is_lossless() {
    for (_, name, _) in fixture_streams() {
        let bytes = read_fixture(&name);
        let tree = dump::from_bytes(&bytes).unwrap();
        let ber = dump::to_bytes(&tree, Format::Ber).unwrap();
        assert_eq!(vmstate_runtime::framing::detect(&ber), Some(Format::Ber));
        let back = dump::from_bytes(&ber).unwrap_or_else(|e| panic!("{name}: BER: {e}"));
        assert!(
            back == tree,
            "{name}: the BER stream decodes to another tree"
        );
        assert!(
            dump::to_bytes(&back, Format::Legacy).unwrap() == bytes,
            "{name}: BER -> legacy"
        );
        assert!(
            dump::to_bytes(&back, Format::Ber).unwrap() == ber,
            "{name}: BER -> BER"
        );
        // The direct converter (no JSON for RAM) writes the same bytes.
        for (from, to, want) in [
            (&bytes, Format::Ber, &ber),
            (&ber, Format::Legacy, &bytes),
            (&bytes, Format::Legacy, &bytes),
            (&ber, Format::Ber, &ber),
        ] {
            let got = dump::convert(from, to).unwrap();
            assert!(got == *want, "{name}: convert to {to:?}");
        }
        eprintln!(
            "{name}: legacy {} bytes, BER {} bytes",
            bytes.len(),
            ber.len()
        );
    }
}

/// The generic decoder reads untrusted files (the CLI's input): cut or corrupted
/// streams of either format give errors, never a panic.
#[test]
fn hostile_streams_never_panic() {
    let bytes = read_fixture("pc-kvm-bios.mig");
    let ber = dump::to_bytes(&dump::from_bytes(&bytes).unwrap(), Format::Ber).unwrap();
    let mut rng = vmstate_test_support::testing::Rng(0xdead_beef);
    for stream in [&bytes, &ber] {
        for cut in (0..stream.len()).step_by(16411) {
            assert!(dump::from_bytes(&stream[..cut]).is_err());
        }
        for _ in 0..60 {
            let mut bad = stream.clone();
            for _ in 0..1 + rng.next_u64() % 8 {
                let i = (rng.next_u64() % bad.len() as u64) as usize;
                bad[i] = rng.next_u64() as u8;
            }
            if let Ok(tree) = dump::from_bytes(&bad) {
                // Whatever decoded re-encodes without a panic too, and converts
                // directly to the same bytes.
                for format in [Format::Legacy, Format::Ber] {
                    let via_tree = dump::to_bytes(&tree, format);
                    let direct = dump::convert(&bad, format);
                    assert_eq!(via_tree.ok(), direct.ok());
                }
            }
        }
    }
}

/// A one-device tree whose device has the one field `field` with value `value`.
fn one_field_tree(field: serde_json::Value, value: serde_json::Value) -> serde_json::Value {
    let vmdesc = serde_json::json!({"page_size": 4096, "devices": [{
        "name": "d", "instance_id": 0, "vmsd_name": "d", "version": 1, "fields": [field]}]});
    serde_json::json!({
        "stream_version": 3, "configuration": {"machine_type": "pc-i440fx-7.2"},
        "vmdesc": vmdesc.to_string(),
        "sections": [{"type": "full", "section_id": 1, "idstr": "d", "instance_id": 0,
                      "version": 1, "value": {"a": value}}]})
}

/// A JSON tree is untrusted too (`vmstate convert` takes one): odd descriptions and
/// values give errors, or bytes that read back and re-encode identically; never a
/// panic (a `uint8` array of 0-octet elements once panicked the BER encoder) and
/// never bytes of another size than the description says.
#[test]
fn hostile_trees_give_errors_or_faithful_bytes() {
    use serde_json::json;
    let cases = [
        // (field, value, encodes)
        // Elements of no bytes consume no input: refused (2^20 of them in a 21 KB
        // description once made a tree of gigabytes).
        (
            json!({"name": "a", "type": "uint8", "size": 0, "array_len": 2}),
            json!(["", ""]),
            false,
        ),
        (
            json!({"name": "a", "type": "uint32", "size": 0}),
            json!(""),
            true,
        ),
        (
            json!({"name": "a", "type": "uint64", "size": 9}),
            json!("000102030405060708"),
            true,
        ),
        (
            json!({"name": "a", "type": "uint32", "size": 4}),
            json!("0000ABCD"),
            true,
        ),
        (
            json!({"name": "a", "type": "int16", "size": 2}),
            json!(-2),
            true,
        ),
        (
            json!({"name": "a", "type": "uint32", "size": 4}),
            json!(true),
            false,
        ),
        (
            json!({"name": "a", "type": "uint32", "size": 4}),
            json!(-1),
            false,
        ),
        (
            json!({"name": "a", "type": "uint8", "size": 1}),
            json!(256),
            false,
        ),
        (
            json!({"name": "a", "type": "bool", "size": 1}),
            json!("02"),
            true,
        ),
        (
            json!({"name": "a", "type": "buffer", "size": 3}),
            json!("0102"),
            false,
        ),
        // A million structs of a million bytes each: refused before anything is
        // built for them (this once cloned the inner description a million times).
        (
            json!({"name": "a", "type": "struct", "size": 1, "array_len": 1 << 20,
                   "struct": {"vmsd_name": "s", "version": 1, "fields": [
                       {"name": "b", "type": "uint8", "size": 1, "array_len": 1 << 20}]}}),
            json!([]),
            false,
        ),
        // 2^20 structs of 200 empty arrays: each empty array counts, so refused
        // before the struct is cloned 2^20 times.
        (
            json!({"name": "a", "type": "struct", "size": 0, "array_len": 1 << 20,
                   "struct": {"vmsd_name": "s", "version": 1, "fields":
                       (0..200).map(|i| json!({"name": format!("e{i}"), "type": "uint8",
                           "size": 0, "array_len": 0})).collect::<Vec<_>>()}}),
            json!([]),
            false,
        ),
        // 2 MiB of padding, which a BER stream leaves out and a decoder would
        // restore from the description alone: over the 1 MiB budget.
        (
            json!({"name": "a", "type": "unused_buffer", "size": 2 << 20}),
            json!(""),
            false,
        ),
    ];
    for (field, value, encodes) in cases {
        let tree = one_field_tree(field.clone(), value.clone());
        for format in [Format::Legacy, Format::Ber] {
            let case = format!("{format:?} {field} = {value}");
            match dump::to_bytes(&tree, format) {
                Ok(bytes) => {
                    assert!(encodes, "{case}: encoded");
                    let back = dump::from_bytes(&bytes).unwrap_or_else(|e| panic!("{case}: {e}"));
                    assert_eq!(dump::to_bytes(&back, format).unwrap(), bytes, "{case}");
                }
                Err(e) => assert!(!encodes, "{case}: {e}"),
            }
        }
    }
}

/// QEMU names a RAM block only when it changes, also across parts: a part may start
/// with a page that CONTINUEs the previous part's block (a live QEMU stream showed
/// it). Such a stream decodes, re-encodes, converts and loads exactly.
#[test]
fn a_ram_part_may_continue_the_previous_parts_block() {
    let bytes = read_fixture("pc-kvm-bios.mig");
    let mut tree = dump::from_bytes(&bytes).unwrap();
    let sections = tree["sections"].as_array_mut().unwrap();
    let at = sections
        .iter()
        .position(|s| s["type"] == "part" && s["ram"].as_array().is_some_and(|r| r.len() > 8))
        .unwrap();
    // Split that part where a page CONTINUEs its predecessor.
    let mut second = sections[at].clone();
    let records = sections[at]["ram"].as_array_mut().unwrap();
    let cut = (1..records.len())
        .find(|&i| records[i]["continue"] == true && records[i]["block"] == "pc.ram")
        .unwrap();
    let tail = records.split_off(cut);
    second["ram"] = tail.into();
    sections.insert(at + 1, second);
    let split = dump::to_bytes(&tree, Format::Legacy).unwrap();
    // Decoded with its block carried over, and re-encoded exactly, via BER too.
    let back = dump::from_bytes(&split).unwrap();
    assert_eq!(back, tree);
    assert!(dump::to_bytes(&back, Format::Legacy).unwrap() == split);
    let ber = dump::convert(&split, Format::Ber).unwrap();
    assert!(dump::convert(&ber, Format::Legacy).unwrap() == split);
    // And the loader carries the block across parts as QEMU's does.
    let ram = vmstate_test_support::testing::ram_of(&split).unwrap();
    assert!(ram == vmstate_test_support::testing::ram_of(&bytes).unwrap());
}

/// QEMU 10.0's stream with its records and description made inconsistent: a command
/// inside a device section, a description whose array form contradicts the section
/// bytes. Each is an error at the right place, never a panic or a silent misreading.
#[test]
fn qemu_10_0_streams_made_inconsistent_are_errors() {
    use vmstate_runtime::framing::legacy::{find_trailer, put_trailer};
    use vmstate_runtime::io::Writer;
    let bytes = read_fixture("pc-i440fx-7.2-kvm-bios.mig");
    let s = vmstate_runtime::dump::walk_legacy(&bytes).unwrap();
    // A SWITCHOVER_START between the IDE section's header and its body.
    let ide = s.device("0000:00:01.1/ide", 0).unwrap();
    let at = ide.body_offset as usize;
    let inside = [&bytes[..at], &[0x08, 0, 11, 0, 0], &bytes[at..]].concat();
    let e = dump::from_bytes(&inside).unwrap_err();
    assert!(e.offset() >= at as u64, "{e}");
    // The description's `bmdma` array (its last element listed without `index`, as
    // QEMU 10.0 does) cut to its first element: the section's bytes no longer fit.
    let (trailer_at, vmdesc) = find_trailer(&bytes, 0).unwrap();
    let mut desc: serde_json::Value = serde_json::from_str(vmdesc).unwrap();
    let ide = desc["devices"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|d| d["name"] == "0000:00:01.1/ide")
        .unwrap();
    let fields = ide["fields"].as_array_mut().unwrap();
    let last = fields.iter().rposition(|f| f["name"] == "bmdma").unwrap();
    assert!(fields[last].get("index").is_none(), "QEMU 10.0's form");
    fields.remove(last);
    let cut = desc.to_string();
    let mut w = Writer::new(bytes[..trailer_at].to_vec());
    put_trailer(&mut w, &cut).unwrap();
    let e = dump::from_bytes(&w.into_inner()).unwrap_err();
    assert!(e.to_string().contains("ide"), "{e}");
}

/// Issue 12's hostile descriptions and runs, each refused with an error that names
/// the problem, before anything large is built.
#[test]
fn hostile_descriptions_and_runs_are_refused_cheaply() {
    use vmstate_runtime::ber::{Decoder, Options};
    use vmstate_runtime::io::SliceInput;
    use vmstate_runtime::ram::ber as ram_ber;
    // A field named twice: one tree key, so one value would be lost.
    let vmdesc = serde_json::json!({"page_size": 4096, "devices": [{"name": "d",
        "instance_id": 0, "vmsd_name": "d", "version": 1, "fields": [
            {"name": "a", "type": "uint8", "size": 1}, {"name": "b", "type": "uint8", "size": 1},
            {"name": "a", "type": "uint8", "size": 1}]}]});
    let tree = serde_json::json!({"stream_version": 3,
        "configuration": {"machine_type": "pc-i440fx-7.2"}, "vmdesc": vmdesc.to_string(),
        "sections": [{"type": "full", "section_id": 0, "idstr": "d", "instance_id": 0,
            "version": 1, "value": {"a": 1, "b": 2}}]});
    let e = dump::to_bytes(&tree, Format::Legacy).unwrap_err();
    assert!(e.to_string().contains("d: field a listed twice"), "{e}");
    // A device sent twice (as QEMU 7.2 sends slirp#0) takes the vmdesc's entries
    // in order: described once, the second has none.
    let mut once = vmdesc.clone();
    once["devices"][0]["fields"].as_array_mut().unwrap().pop();
    let mut t = tree.clone();
    t["vmdesc"] = once.to_string().into();
    let again = serde_json::json!({"type": "full", "section_id": 1, "idstr": "d",
        "instance_id": 0, "version": 1, "value": {"a": 3, "b": 4}});
    t["sections"].as_array_mut().unwrap().push(again);
    let e = dump::to_bytes(&t, Format::Legacy).unwrap_err();
    assert!(
        e.to_string()
            .contains("section d (0) is sent 2 times; the vmdesc describes it 1 times"),
        "{e}"
    );
    // Described twice, it makes QEMU's bytes, each section with its values.
    let d = once["devices"][0].clone();
    once["devices"].as_array_mut().unwrap().push(d);
    t["vmdesc"] = once.to_string().into();
    let bytes = dump::to_bytes(&t, Format::Legacy).unwrap();
    assert_eq!(dump::from_bytes(&bytes).unwrap()["sections"], t["sections"]);
    // A BER zero run of 2^30 pages in a 4 TiB block: a few bytes, refused for the
    // tree (it would be 2^30 records).
    let mut part = Vec::new();
    ram_ber::mem_size(
        &mut part,
        1 << 42,
        &[vmstate_runtime::ram::ListedBlock::new("pc.ram", 1 << 42)],
        &[],
        4096,
    );
    ram_ber::zero_run(&mut part, "pc.ram", 0, 1 << 30, 0, None);
    let mut input = SliceInput::new(&part);
    let mut d = Decoder::new(&mut input, Options::STRICT);
    d.enter_contents(part.len() as u64).unwrap();
    let mut budget = dump::Limits::default().tree_pages;
    let e = ram_ber::ber_to_records(
        &mut d,
        &mut Vec::new(),
        &mut Default::default(),
        &mut budget,
    )
    .unwrap_err();
    assert!(e.to_string().contains("(dump::Limits::tree_pages)"), "{e}");
    // A block list whose total is not its sum.
    let mut part = Vec::new();
    ram_ber::mem_size(
        &mut part,
        8192,
        &[vmstate_runtime::ram::ListedBlock::new("pc.ram", 4096)],
        &[],
        4096,
    );
    let mut input = SliceInput::new(&part);
    let mut d = Decoder::new(&mut input, Options::STRICT);
    d.enter_contents(part.len() as u64).unwrap();
    let e = ram_ber::ber_to_records(
        &mut d,
        &mut Vec::new(),
        &mut Default::default(),
        &mut budget,
    )
    .unwrap_err();
    assert!(e.to_string().contains("not the sum of its blocks"), "{e}");
}

/// Names are read as the bytes they are: an idstr or RAM block name that is not
/// UTF-8 is an error, not a lossy string that would re-encode to other bytes.
#[test]
fn names_that_are_not_utf8_are_refused() {
    let bytes = read_fixture("pc-kvm-bios.mig");
    for name in [&b"mc146818rtc"[..], b"pc.ram"] {
        let at = bytes.windows(name.len()).position(|w| w == name).unwrap();
        let mut bad = bytes.clone();
        bad[at] = 0xff;
        let e = dump::from_bytes(&bad).unwrap_err();
        assert!(e.to_string().contains("is not UTF-8"), "{e}");
        assert_eq!(e.offset(), at as u64);
    }
}

/// A RAM part that repeats the block list (two MEM_SIZE records): `convert` keeps
/// every record in its part, as the tree does (it once shifted a page into the next
/// part).
#[test]
fn a_part_repeating_the_block_list_converts_like_the_tree() {
    let bytes = read_fixture("pc-kvm-bios.mig");
    let mut tree = dump::from_bytes(&bytes).unwrap();
    let sections = tree["sections"].as_array_mut().unwrap();
    let list = sections[0]["ram"][0].clone();
    assert!(list.get("mem_size").is_some(), "{list}");
    let part = sections.iter_mut().find(|s| s["type"] == "part").unwrap();
    part["ram"].as_array_mut().unwrap().insert(0, list.clone());
    part["ram"].as_array_mut().unwrap().insert(0, list);
    let edited = dump::to_bytes(&tree, Format::Legacy).unwrap();
    for format in [Format::Legacy, Format::Ber] {
        let via_tree = dump::to_bytes(&dump::from_bytes(&edited).unwrap(), format).unwrap();
        assert!(
            dump::convert(&edited, format).unwrap() == via_tree,
            "{format:?}"
        );
    }
}

/// A legacy part's pages must lie in the blocks its MEM_SIZE lists, as a BER run's
/// must: a page far beyond `pc.ram`, or of a block never listed, is refused by the
/// generic decoder in both formats alike.
#[test]
fn pages_outside_the_listed_blocks_are_refused_in_both_formats() {
    use vmstate_runtime::ErrorKind;
    let bytes = read_fixture("pc-kvm-bios.mig");
    let tree = dump::from_bytes(&bytes).unwrap();
    for (field, value) in [
        ("offset", serde_json::json!(0xfa00_0000_0000_0000u64)),
        ("block", serde_json::json!("nowhere")),
    ] {
        let mut bad = tree.clone();
        let part = bad["sections"]
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .find(|s| s["type"] == "part")
            .unwrap();
        let page = part["ram"]
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .find(|r| r.get("data").is_some())
            .unwrap();
        page[field] = value;
        page["continued"] = false.into();
        let legacy = dump::to_bytes(&bad, Format::Legacy).unwrap();
        let e = dump::from_bytes(&legacy).unwrap_err();
        assert!(
            matches!(
                e.kind(),
                ErrorKind::PageOutOfRange { .. } | ErrorKind::UnknownRamBlock(_)
            ),
            "{field}: {e}"
        );
        // The BER form of the same tree: refused when encoded or when read back.
        let ber = dump::to_bytes(&bad, Format::Ber);
        assert!(
            ber.map_or(true, |b| dump::from_bytes(&b).is_err()),
            "{field}: BER"
        );
    }
}

/// The limits are the caller's: a stream within the defaults is refused by tighter
/// ones, with an error naming the limit it hit.
#[test]
fn a_caller_sets_the_limits_and_the_error_names_the_one_hit() {
    use vmstate_runtime::ErrorKind;
    let bytes = read_fixture("pc-kvm-bios.mig");
    let ber = dump::convert(&bytes, Format::Ber).unwrap();
    let tight = |f: &dyn Fn(&mut dump::Limits)| {
        let mut l = dump::Limits::default();
        f(&mut l);
        l
    };
    for (limits, name) in [
        (tight(&|l| l.sections = 10), "sections"),
        (
            tight(&|l| l.described_elements = 1000),
            "described_elements",
        ),
        (tight(&|l| l.described_padding = 8), "described_padding"),
    ] {
        for stream in [&bytes, &ber] {
            let e =
                dump::from_bytes_with_limits(stream, dump::RamParts::Records, &limits).unwrap_err();
            assert!(
                matches!(e.kind(), ErrorKind::LimitExceeded { limit, .. } if *limit == name),
                "{name}: {e}"
            );
        }
        assert!(dump::from_bytes(&bytes).is_ok());
    }
    // BER runs expanding past the tree's pages (the fixture's RAM is 8450 pages).
    let e = dump::from_bytes_with_limits(
        &ber,
        dump::RamParts::Records,
        &tight(&|l| l.tree_pages = 100),
    )
    .unwrap_err();
    assert!(
        matches!(
            e.kind(),
            ErrorKind::LimitExceeded {
                limit: "tree_pages",
                ..
            }
        ),
        "{e}"
    );
}

/// A block list must have the guest addresses exactly when the configuration
/// lists `x-ignore-shared`: QEMU would misread it otherwise. A tree edited to
/// break that, or its BER form converted back, is refused before any byte of it
/// is written as a legacy stream.
#[test]
fn block_addresses_follow_the_configuration() {
    let bytes = read_fixture("pc-i440fx-10.0-ignore-shared.mig");
    let mut tree = dump::from_bytes(&bytes).unwrap();
    let list = tree["sections"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .filter_map(|s| s["ram"].as_array_mut())
        .flatten()
        .find_map(|r| r["blocks"].as_array_mut())
        .unwrap();
    let pc = list[0].as_object_mut().unwrap().remove("address");
    assert_eq!(pc, Some(0.into()));
    let text = "bad stream framing: RAM block pc.ram lacks an address, and the \
                configuration lists x-ignore-shared";
    let e = dump::to_bytes(&tree, Format::Legacy).unwrap_err();
    assert_eq!(e.to_string(), format!("at byte 0: {text}"));
    let ber = dump::to_bytes(&tree, Format::Ber).unwrap();
    let e = dump::convert(&ber, Format::Legacy).unwrap_err();
    assert!(e.to_string().ends_with(text), "{e}");
    assert!(matches!(e.kind(), vmstate_runtime::ErrorKind::Framing(_)));
    // Without the capability, the other blocks' addresses are the wrong ones.
    tree["configuration"]["capabilities"] = serde_json::json!([]);
    let e = dump::to_bytes(&tree, Format::Legacy).unwrap_err();
    assert!(
        e.to_string().ends_with(
            "RAM block /rom@etc/acpi/tables has an address, and the configuration does \
             not list x-ignore-shared"
        ),
        "{e}"
    );
}
