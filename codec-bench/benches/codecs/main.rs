//! vmstate's device codecs beside the codecs a VMM author would pick instead, in one
//! run: vmstate legacy against bincode 1.3 (big endian, fixint) and bitcode 0.6,
//! vmstate BER against rasn 0.30's BER, on an RTC-like, a CPU-like and a
//! register-file shape.
//!
//! `cargo bench -p vmstate-codec-bench --bench codecs` prints the Markdown table of
//! docs/PERFORMANCE.md and writes its plot, `docs/perf/codecs.svg`. Every encoding is
//! decoded and compared with the value before anything is timed.

mod shapes;
mod vm;

use bincode::Options as _;
use criterion::{black_box, Criterion};
use plotters::prelude::*;
use shapes::asn::ToAsn;
use shapes::{Cpu, RegFile, Rtc};
use std::path::{Path, PathBuf};
use std::time::Duration;
use vmstate_runtime::{ber, legacy};

/// bincode as the issue fixes it: big endian, fixed-width integers.
fn bincode() -> impl bincode::Options {
    bincode::options().with_big_endian().with_fixint_encoding()
}

/// A timed decode of some bytes.
type Decode<'a> = Box<dyn Fn(&[u8]) + 'a>;

/// One codec on one value: its encoding, and the timed operations.
struct Entry<'a> {
    name: &'static str,
    bytes: Vec<u8>,
    encode: Box<dyn Fn() -> Vec<u8> + 'a>,
    decode: Decode<'a>,
}

/// A codec's entry for `value` (in the codec's own type), after checking that the
/// codec decodes its encoding back to `value`.
fn entry<'a, V: PartialEq + std::fmt::Debug>(
    name: &'static str,
    value: &'a V,
    encode: fn(&V) -> Vec<u8>,
    decode: fn(&[u8]) -> V,
) -> Entry<'a> {
    let bytes = encode(value);
    assert_eq!(&decode(&bytes), value, "{name} round trip");
    Entry {
        name,
        bytes,
        encode: Box::new(move || encode(black_box(value))),
        decode: Box::new(move |b| drop(black_box(decode(black_box(b))))),
    }
}

/// The five codecs on `value` (`asn`: the same value in rasn's type).
fn entries<'a, T, A>(value: &'a T, asn: &'a A) -> Vec<Entry<'a>>
where
    T: vmstate_runtime::VMState
        + Clone
        + Default
        + PartialEq
        + std::fmt::Debug
        + serde::Serialize
        + serde::de::DeserializeOwned
        + bitcode::Encode
        + bitcode::DecodeOwned,
    A: rasn::Encode + rasn::Decode + PartialEq + std::fmt::Debug,
{
    vec![
        entry(
            NAMES[0],
            value,
            |v| legacy::to_bytes(v).unwrap(),
            |b| legacy::from_bytes(b, T::DESC.version).unwrap(),
        ),
        entry(
            NAMES[1],
            value,
            |v| bincode().serialize(v).unwrap(),
            |b| bincode().deserialize(b).unwrap(),
        ),
        entry(
            NAMES[2],
            value,
            |v| bitcode::encode(v),
            |b| bitcode::decode(b).unwrap(),
        ),
        entry(
            NAMES[3],
            value,
            |v| ber::to_bytes(v).unwrap(),
            |b| ber::from_bytes(b, T::DESC.version).unwrap(),
        ),
        entry(
            NAMES[4],
            asn,
            |v| rasn::ber::encode(v).unwrap(),
            |b| rasn::ber::decode(b).unwrap(),
        ),
    ]
}

/// Times every entry's encode and decode; returns (codec, encoded size).
fn bench_shape(c: &mut Criterion, shape: &str, entries: &[Entry]) -> Vec<(&'static str, usize)> {
    let mut g = c.benchmark_group(format!("{shape} encode"));
    for e in entries {
        g.bench_function(e.name, |b| b.iter(&e.encode));
    }
    g.finish();
    let mut g = c.benchmark_group(format!("{shape} decode"));
    for e in entries {
        g.bench_function(e.name, |b| b.iter(|| (e.decode)(&e.bytes)));
    }
    g.finish();
    entries.iter().map(|e| (e.name, e.bytes.len())).collect()
}

/// Saves and loads every device of `v`, one after the other, with each codec.
fn bench_vm(c: &mut Criterion, v: &vm::Vm) {
    let mut g = c.benchmark_group(format!("vm {}", v.name));
    for codec in vm::Codec::ALL {
        let encoded: Vec<Vec<u8>> = v.devices.iter().map(|d| d.save(codec)).collect();
        for (d, bytes) in v.devices.iter().zip(&encoded) {
            d.load(codec, bytes);
        }
        g.bench_function(format!("{} save", codec.name()), |b| {
            b.iter(|| v.devices.iter().map(|d| d.save(codec).len()).sum::<usize>())
        });
        g.bench_function(format!("{} load", codec.name()), |b| {
            b.iter(|| {
                for (d, bytes) in v.devices.iter().zip(&encoded) {
                    d.load(codec, bytes);
                }
            })
        });
    }
    g.finish();
}

fn print_vms(out: &Path, vms: &[vm::Vm]) {
    println!("\n| VM (devices) | save: legacy, BER, bincode | load: legacy, BER, bincode | bytes: legacy, BER, bincode | legacy / bincode: save, load | BER / bincode: save, load |");
    println!("|---|---:|---:|---:|---:|---:|");
    for v in vms {
        let group = format!("vm {}", v.name);
        let t =
            |c: vm::Codec, op: &str| median_ns(out, &group, &format!("{} {op}", c.name())) / 1000.0;
        let [ls, bs, ns] = vm::Codec::ALL.map(|c| t(c, "save"));
        let [ll, bl, nl] = vm::Codec::ALL.map(|c| t(c, "load"));
        let [lb, bb, nb] =
            vm::Codec::ALL.map(|c| v.devices.iter().map(|d| d.save(c).len()).sum::<usize>());
        println!(
            "| {} ({}) | {ls:.1}, {bs:.1}, {ns:.1} µs | {ll:.1}, {bl:.1}, {nl:.1} µs | {lb}, {bb}, {nb} | {:.2}, {:.2} | {:.2}, {:.2} |",
            v.name,
            v.devices.len(),
            ls / ns,
            ll / nl,
            bs / ns,
            bl / nl
        );
    }
}

/// Criterion's median estimate (ns) of `group/function`.
fn median_ns(out: &Path, group: &str, function: &str) -> f64 {
    let path = out.join(group).join(function).join("new/estimates.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["median"]["point_estimate"].as_f64().unwrap()
}

const SHAPES: [&str; 3] = ["rtc", "cpu", "regs"];
const OPS: [&str; 6] = [
    "rtc encode",
    "rtc decode",
    "cpu encode",
    "cpu decode",
    "regs encode",
    "regs decode",
];
const NAMES: [&str; 5] = [
    "vmstate legacy",
    "bincode",
    "bitcode",
    "vmstate BER",
    "rasn BER",
];

fn main() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out: PathBuf = workspace.join("target/criterion");
    let mut c = Criterion::default()
        .output_directory(&out)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    let (rtc, cpu, regs) = (shapes::rtc(), shapes::cpu(), shapes::regfile());
    let (rtc_asn, cpu_asn, regs_asn) = (rtc.to_asn(), cpu.to_asn(), regs.to_asn());
    let sizes = [
        bench_shape(&mut c, SHAPES[0], &entries::<Rtc, _>(&rtc, &rtc_asn)),
        bench_shape(&mut c, SHAPES[1], &entries::<Cpu, _>(&cpu, &cpu_asn)),
        bench_shape(&mut c, SHAPES[2], &entries::<RegFile, _>(&regs, &regs_asn)),
    ];
    let vms: Vec<vm::Vm> = vm::fixtures().into_iter().chain([vm::vcpus_64()]).collect();
    for v in &vms {
        bench_vm(&mut c, v);
    }
    c.final_summary();

    let times: Vec<Vec<f64>> = OPS
        .iter()
        .map(|op| NAMES.iter().map(|n| median_ns(&out, op, n)).collect())
        .collect();
    print_table(&times, &sizes);
    print_vms(&out, &vms);
    let svg = workspace.join("docs/perf/codecs.svg");
    plot(&svg, &times).expect("plot");
    println!("\nplot: {}", svg.display());
}

fn print_table(times: &[Vec<f64>], sizes: &[Vec<(&str, usize)>]) {
    println!("\n| shape, op | {} |", NAMES.join(" | "));
    println!("|---|{}", "---:|".repeat(NAMES.len()));
    for (op, row) in OPS.iter().zip(times) {
        let cells: Vec<String> = row.iter().map(|t| format!("{t:.0} ns")).collect();
        println!("| {op} | {} |", cells.join(" | "));
    }
    for (shape, sizes) in SHAPES.iter().zip(sizes) {
        let cells: Vec<String> = sizes.iter().map(|(_, n)| format!("{n} B")).collect();
        println!("| {shape} size | {} |", cells.join(" | "));
    }
    let ratio = |op: usize, a: usize, b: usize| times[op][a] / times[op][b];
    println!("\n| shape, op | legacy / bincode | rasn / vmstate BER | vmstate BER / legacy |");
    println!("|---|---:|---:|---:|");
    for (i, op) in OPS.iter().enumerate() {
        println!(
            "| {op} | {:.2} | {:.2} | {:.2} |",
            ratio(i, 0, 1),
            ratio(i, 4, 3),
            ratio(i, 3, 0)
        );
    }
}

/// Grouped bars, one group per shape and operation, time on a log scale.
fn plot(path: &Path, times: &[Vec<f64>]) -> Result<(), Box<dyn std::error::Error>> {
    std::fs::create_dir_all(path.parent().unwrap())?;
    let root = SVGBackend::new(path, (900, 480)).into_drawing_area();
    root.fill(&WHITE)?;
    let top = times.iter().flatten().cloned().fold(1.0, f64::max) * 2.0;
    let groups = OPS.len() as f64;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Device codecs: time per value (median, log scale)",
            ("sans-serif", 20),
        )
        .margin(12)
        .x_label_area_size(30)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..groups, (5.0..top).log_scale())?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(OPS.len() * 2 + 1)
        .x_label_formatter(&|x| {
            let i = x.floor() as usize;
            if (x - x.floor() - 0.5).abs() < 0.01 && i < OPS.len() {
                OPS[i].to_string()
            } else {
                String::new()
            }
        })
        .y_desc("ns")
        .draw()?;
    let width = 0.8 / NAMES.len() as f64;
    for (k, name) in NAMES.iter().enumerate() {
        let color = Palette99::pick(k).to_rgba();
        chart
            .draw_series(times.iter().enumerate().map(|(g, row)| {
                let x0 = g as f64 + 0.1 + k as f64 * width;
                Rectangle::new([(x0, 5.0), (x0 + width * 0.9, row[k])], color.filled())
            }))?
            .label(*name)
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], color.filled()));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}
