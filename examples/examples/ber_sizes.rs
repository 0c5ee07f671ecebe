//! Sizes of the QEMU mirror devices of a real QEMU 7.2 stream in both formats, as a
//! Markdown table (docs/BER.md has its output for `pc-kvm-bios.mig`).
//!
//! `cargo run --release --example ber_sizes [-- STREAM.mig]`

use vmstate_runtime::{ber, legacy};
use vmstate_test_support::catalog::{self, Device, Visitor};

#[derive(Default)]
struct Sizes {
    rows: Vec<(String, usize, usize)>,
}

impl Visitor for Sizes {
    fn visit<T: Device>(&mut self, idstr: &str, instance: u32, value: &T) {
        let legacy = legacy::to_bytes(value).expect("saves").len();
        let ber = ber::to_bytes(value).expect("saves").len();
        self.rows.push((format!("{idstr}#{instance}"), legacy, ber));
    }
}

fn main() {
    let bytes = match std::env::args_os().nth(1) {
        Some(path) => std::fs::read(&path).expect("reads the stream"),
        None => catalog::read_fixture("pc-kvm-bios.mig"),
    };
    let mut sizes = Sizes::default();
    let unmirrored = catalog::visit_stream(&bytes, &mut sizes).expect("a QEMU stream");
    println!("| device | legacy bytes | BER bytes | BER / legacy |");
    println!("|---|---:|---:|---:|");
    for (name, l, b) in &sizes.rows {
        println!("| {name} | {l} | {b} | {:.2} |", *b as f64 / *l as f64);
    }
    let (l, b) = sizes
        .rows
        .iter()
        .fold((0, 0), |(l, b), r| (l + r.1, b + r.2));
    println!(
        "| **total** | **{l}** | **{b}** | **{:.3}** |",
        b as f64 / l as f64
    );
    println!();
    println!(
        "Sections without a mirror (not counted): {}",
        unmirrored.join(", ")
    );
}
