//! How long `vmstate dump` takes on `q35-tcg-devices.mig` (decode to the JSON tree,
//! JSON text, and back to the identical stream), beside how long QEMU 7.2 takes to
//! migrate the same guest (same machine and devices, `migrate "exec:cat > file"`,
//! QEMU's own `total-time`), measured in the same run.
//!
//! `cargo bench -p vmstate-runtime --bench dump`

use serde_json::Value;
use std::time::{Duration, Instant};
use vmstate_runtime::dump;
use vmstate_runtime::Format;
use vmstate_test_support::catalog::read_fixture;
use vmstate_test_support::qmp::{self, Qemu};

const RUNS: usize = 20;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn time<T>(mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut times = Vec::with_capacity(RUNS);
    let mut last = None;
    for _ in 0..RUNS {
        let t = Instant::now();
        last = Some(f());
        times.push(t.elapsed());
    }
    (median(times), last.expect("RUNS > 0"))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// QEMU migrating the guest the fixture came from; its `total-time` in ms, median of
/// three runs.
fn qemu_migration() -> Option<f64> {
    if !qmp::available() {
        return None;
    }
    let dir = std::env::temp_dir().join(format!("vmstate-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).ok()?;
    let mut totals = Vec::new();
    for i in 0..3 {
        let args = [
            "-M",
            "pc-q35-7.2",
            "-accel",
            "tcg",
            "-m",
            "32",
            "-device",
            "virtio-rng-pci",
            "-device",
            "e1000e",
            "-device",
            "isa-serial,chardev=s0",
            "-chardev",
            "null,id=s0",
        ];
        let mut q = Qemu::start(&dir, &format!("bench{i}"), &args).ok()?;
        std::thread::sleep(Duration::from_secs(1));
        let reply = q.migrate_to_file(&dir.join("bench.mig")).ok()?;
        totals.push(reply["total-time"].as_f64()?);
    }
    let _ = std::fs::remove_dir_all(&dir);
    totals.sort_by(f64::total_cmp);
    Some(totals[1])
}

fn main() {
    let bytes = read_fixture("q35-tcg-devices.mig");
    let (decode, tree) = time(|| dump::from_bytes(&bytes).expect("decodes"));
    let (to_json, text) = time(|| serde_json::to_string(&tree).expect("serialises"));
    let (from_json, parsed) = time(|| serde_json::from_str::<Value>(&text).expect("parses"));
    let (encode, again) = time(|| dump::to_bytes(&parsed, Format::Legacy).expect("encodes"));
    assert!(again == bytes, "the round trip must be exact");
    let total = decode + to_json + from_json + encode;
    println!(
        "q35-tcg-devices.mig: {} bytes, JSON {} bytes; median of {RUNS} runs",
        bytes.len(),
        text.len()
    );
    println!("| step | ms |");
    println!("|---|---:|");
    println!("| decode the stream to the tree | {:.2} |", ms(decode));
    println!("| tree to JSON text | {:.2} |", ms(to_json));
    println!("| JSON text to tree | {:.2} |", ms(from_json));
    println!("| tree to the identical stream | {:.2} |", ms(encode));
    println!("| **stream -> JSON -> stream** | **{:.2}** |", ms(total));
    match qemu_migration() {
        Some(q) => println!(
            "| QEMU 7.2 migrating the same guest (total-time) | {q:.0} |\n\nratio (ours / QEMU's): {:.2}",
            ms(total) / q
        ),
        None => println!("(QEMU not available: its migration time was not measured)"),
    }
}
