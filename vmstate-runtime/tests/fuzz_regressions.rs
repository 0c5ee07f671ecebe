//! The fuzz targets' bodies (`vmstate_test_support::fuzzing`) on stable Rust, over
//! every committed seed (`fuzz/corpus/<target>`) and every input a fuzz campaign
//! ever found (`fuzz/regressions/<target>`, each named after what it found).

use std::path::Path;
use vmstate_test_support::fuzzing::TARGETS;

#[test]
fn every_seed_and_past_finding_passes_its_target() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut ran = 0;
    for (target, body) in TARGETS {
        for dir in ["corpus", "regressions"] {
            let Ok(entries) = std::fs::read_dir(root.join(dir).join(target)) else {
                continue;
            };
            for entry in entries {
                let path = entry.unwrap().path();
                let data = std::fs::read(&path).unwrap();
                let r = std::panic::catch_unwind(|| body(&data));
                assert!(r.is_ok(), "{target}: {} fails", path.display());
                ran += 1;
            }
        }
    }
    assert!(ran > 100, "{ran} inputs");
}
