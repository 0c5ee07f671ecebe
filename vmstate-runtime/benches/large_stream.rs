//! What the whole-stream tools cost on a large guest, with and without a JSON tree
//! of its RAM: a 512 MiB guest (every other page random data) saved by a registry,
//! then, each in its own process so that its peak memory is its own:
//!
//! - decoding it to the full JSON tree (`dump::from_bytes`, what `dump --json` does)
//!   against the summary tree (`RamParts::Summary`, what the text dump, `--ram` and
//!   `diff` do);
//! - converting it to BER through the JSON tree (`to_bytes(from_bytes(..))`) against
//!   `dump::convert`;
//! - loading it into a registry from memory (`load`) against from a reader
//!   (`load_from`, a pipe-like trickle of 64 KiB reads).
//!
//! `cargo bench -p vmstate-runtime --bench large_stream`

use std::io::Read;
use std::process::Command;
use std::time::{Duration, Instant};
use vmstate_runtime::dump::{self, RamParts};
use vmstate_runtime::ram::{RamBlock, RamBlockMut, RamLoader, RamSaver};
use vmstate_runtime::stream::Registry;
use vmstate_runtime::Format;
use vmstate_test_support::testing::{half_random_image, peak_rss};

const SIZE: usize = 512 << 20;

/// Peak resident memory of this process (`VmHWM`), in MiB.
fn peak_mib() -> f64 {
    peak_rss() as f64 / (1 << 20) as f64
}

/// Hands out at most 64 KiB per read, as a pipe does.
struct Pipe<'a>(&'a [u8]);

impl Read for Pipe<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.0.len()).min(64 << 10);
        buf[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

/// Runs one variant on the stream in `file`; prints `ms peak_mib`.
fn child(variant: &str, file: &str) {
    let bytes = std::fs::read(file).expect("stream");
    let base = peak_mib();
    let t = Instant::now();
    match variant {
        "tree" => drop(dump::from_bytes(&bytes).expect("decodes")),
        "summary" => drop(
            dump::from_bytes_with(&bytes, RamParts::Summary(&mut |_| Ok(()))).expect("decodes"),
        ),
        "convert-tree" => {
            let tree = dump::from_bytes(&bytes).expect("decodes");
            drop(dump::to_bytes(&tree, Format::Ber).expect("encodes"));
        }
        "convert" => drop(dump::convert(&bytes, Format::Ber).expect("converts")),
        "load" | "load-from" => {
            let mut mem = vec![0u8; SIZE];
            let mut loader = RamLoader::new(vec![RamBlockMut {
                name: "pc.ram",
                mem: &mut mem,
            }]);
            let mut reg = Registry::new("pc-i440fx-7.2");
            reg.iterative("ram", 0, &mut loader);
            if variant == "load" {
                reg.load(&bytes).expect("loads");
            } else {
                reg.load_from(Pipe(&bytes)).expect("loads");
            }
        }
        other => panic!("unknown variant {other}"),
    }
    let elapsed = t.elapsed();
    // Beyond the stream itself, which every variant holds.
    println!("{:.1} {:.0}", ms(elapsed), peak_mib() - base);
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Median time and peak memory of `variant` over three child processes.
fn measure(variant: &str, file: &str) -> (f64, f64) {
    let mut runs: Vec<(f64, f64)> = (0..3)
        .map(|_| {
            let out = Command::new(std::env::current_exe().expect("self"))
                .args([variant, file])
                .output()
                .expect("runs");
            assert!(out.status.success(), "{variant} failed");
            let text = String::from_utf8_lossy(&out.stdout);
            let mut f = text
                .split_whitespace()
                .map(|x| x.parse::<f64>().unwrap_or(0.0));
            (f.next().unwrap_or(0.0), f.next().unwrap_or(0.0))
        })
        .collect();
    runs.sort_by(|a, b| a.0.total_cmp(&b.0));
    runs[1]
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [variant, file] = args.as_slice() {
        return child(variant, file);
    }
    let mem = half_random_image(SIZE);
    let mut saver = RamSaver::new(vec![RamBlock {
        name: "pc.ram",
        mem: &mem,
    }])
    .expect("one block");
    let mut reg = Registry::new("pc-i440fx-7.2");
    reg.iterative("ram", 0, &mut saver);
    let bytes = reg.save(Format::Legacy).expect("saves");
    drop(reg);
    let file = std::env::temp_dir().join("vmstate-bench-large.mig");
    std::fs::write(&file, &bytes).expect("writes");
    let file = file.to_string_lossy().into_owned();
    println!(
        "512 MiB guest, half its pages data: a {} MB legacy stream; median of 3 runs each,",
        bytes.len() / 1_000_000
    );
    println!("each run in its own process; memory is the peak beyond the stream's bytes.\n");
    println!("| what | ms | MiB | time ratio |");
    println!("|---|---:|---:|---:|");
    for (slow, fast, what_slow, what_fast) in [
        (
            "tree",
            "summary",
            "decode to the full JSON tree",
            "decode to the summary tree",
        ),
        (
            "convert-tree",
            "convert",
            "to BER through the JSON tree",
            "to BER by `dump::convert`",
        ),
        (
            "load",
            "load-from",
            "registry `load` from memory",
            "registry `load_from` a 64 KiB-read pipe",
        ),
    ] {
        let (ts, ms_) = measure(slow, &file);
        let (tf, mf) = measure(fast, &file);
        println!("| {what_slow} | {ts:.0} | {ms_:.0} | 1.00 |");
        println!("| {what_fast} | {tf:.0} | {mf:.0} | {:.2} |", tf / ts);
    }
    let _ = std::fs::remove_file(&file);
}
