//! The generic decoder on any bytes: a tree it decodes re-encodes in both formats,
//! and `convert` gives what the tree gives.
#![no_main]
use libfuzzer_sys::fuzz_target;
use vmstate_runtime::{dump, Format};

fuzz_target!(|data: &[u8]| {
    let Ok(tree) = dump::from_bytes(data) else {
        return;
    };
    for format in [Format::Legacy, Format::Ber] {
        let via_tree = dump::to_bytes(&tree, format).expect("a decoded tree re-encodes");
        let direct = dump::convert(data, format).expect("what decodes converts");
        assert!(
            via_tree == direct,
            "convert differs from the tree's encoding"
        );
        let back = dump::from_bytes(&via_tree).expect("our encoding decodes");
        assert!(
            dump::to_bytes(&back, format).expect("and re-encodes") == via_tree,
            "not a fixed point"
        );
    }
});
