//! Live migration through the bridge pair against direct, side by side in one run
//! (`cargo bench -p vmstate-cli --bench bridge`): a 1 GiB guest ([`counter_guest`]:
//! every page data, 1024 pages rewritten while it runs) migrates QEMU -> QEMU over
//! loopback TCP, directly and through `vmstate bridge --to ber` and `--to legacy`,
//! runs alternating; QEMU's own `total-time` and `downtime`, and the time until
//! the destination completed. Then the bridge's conversion alone on the stream one
//! run tapped, against `memcpy` of the same bytes, both directions.
//!
//! `VMSTATE_BENCH_RUNS` sets the runs of each (default 5); QEMU 7.2 must run here.

#[path = "../tests/common/mod.rs"]
mod common;

use common::bridge;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use vmstate_runtime::dump::{self, Limits};
use vmstate_runtime::Format;
use vmstate_test_support::counter_guest;
use vmstate_test_support::qmp::{self, Peer, Qemu, Release};

const RAM_MIB: u32 = 1024;
/// Both ends: QEMU 7.2 on its i440FX machine.
const PEER: Peer = Peer::on_7_2(Release::Qemu7_2);

fn dir() -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bridge-bench");
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn start(name: &str, kernel: &Path, extra: &[&str]) -> Qemu {
    let mut a = vec!["-kernel", kernel.to_str().unwrap()];
    a.extend(extra);
    PEER.start(&dir(), name, RAM_MIB, &a)
}

fn wait_filled(q: &mut Qemu) {
    let last = (u64::from(RAM_MIB) << 20) - 4096;
    while q.read_u32(last).unwrap() != last as u32 {
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// One migration's figures.
#[derive(Debug, Default, Clone)]
struct Run {
    /// QEMU's `total-time` and `downtime` on the source.
    total_ms: f64,
    downtime_ms: f64,
    /// From `migrate` until the destination reported completed.
    end_to_end_ms: f64,
    /// From the source's completion until the destination's.
    lag_ms: f64,
    /// Bytes QEMU sent, and bytes on the BER leg (bridged only).
    legacy_bytes: f64,
    ber_bytes: f64,
    /// The bridges' peak resident memory in MiB and CPU time in seconds (bridged
    /// only).
    peak_mib: [f64; 2],
    cpu_s: [f64; 2],
}

fn migrate(kernel: &Path, bridged: bool, tap: Option<&Path>) -> Run {
    let mut s = start("bench-src", kernel, &[]);
    wait_filled(&mut s);
    let mut d = start("bench-dst", kernel, &["-incoming", "defer"]);
    let port = free_port();
    d.execute(
        "migrate-incoming",
        json!({ "uri": format!("tcp:127.0.0.1:{port}") }),
    )
    .unwrap();
    let mut bridges = Vec::new();
    let uri = if bridged {
        let into_dst = format!("tcp:127.0.0.1:{port}");
        let (b, b_addr) = bridge(&["--to", "legacy", "tcp-listen:127.0.0.1:0", &into_dst]);
        let mut args = vec!["--to", "ber"];
        let tap_arg;
        if let Some(t) = tap {
            tap_arg = t.display().to_string();
            args.extend(["--tap", &tap_arg]);
        }
        args.extend(["tcp-listen:127.0.0.1:0", &b_addr]);
        let (a, a_addr) = bridge(&args);
        bridges.push(a);
        bridges.push(b);
        a_addr
    } else {
        format!("tcp:127.0.0.1:{port}")
    };
    s.execute(
        "migrate-set-parameters",
        json!({ "max-bandwidth": 64u64 << 30 }),
    )
    .unwrap();
    let t0 = Instant::now();
    s.execute("migrate", json!({ "uri": uri })).unwrap();
    let (mut src_done, mut dst_done, mut reply) = (None, None, json!({}));
    while src_done.is_none() || dst_done.is_none() {
        if src_done.is_none() {
            let r = s.execute("query-migrate", json!({})).unwrap();
            match r["status"].as_str() {
                Some("completed") => {
                    src_done = Some(t0.elapsed());
                    reply = r;
                }
                Some("failed" | "cancelled") => panic!("source: {r}"),
                _ => {}
            }
        }
        if dst_done.is_none() {
            let r = d.execute("query-migrate", json!({})).unwrap();
            match r["status"].as_str() {
                Some("completed") => dst_done = Some(t0.elapsed()),
                Some("failed") => panic!("destination: {r}"),
                _ => {}
            }
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let (src_done, dst_done) = (src_done.unwrap(), dst_done.unwrap());
    let mut run = Run {
        total_ms: reply["total-time"].as_f64().unwrap(),
        downtime_ms: reply["downtime"].as_f64().unwrap(),
        end_to_end_ms: ms(dst_done),
        lag_ms: ms(dst_done.saturating_sub(src_done)),
        legacy_bytes: reply["ram"]["transferred"].as_f64().unwrap_or(0.0),
        ..Run::default()
    };
    for (i, b) in bridges.into_iter().enumerate() {
        let (ok, log) = b.wait();
        assert!(ok, "{log}");
        let number_before = |unit: &str| -> f64 {
            let i = log.find(unit).unwrap();
            log[..i].split_whitespace().last().unwrap().parse().unwrap()
        };
        run.peak_mib[i] = number_before(" MiB\n");
        run.cpu_s[i] = number_before(" s, peak");
        if i == 0 {
            run.legacy_bytes = number_before(" MiB in") * f64::from(1 << 20);
            run.ber_bytes = number_before(" MiB out") * f64::from(1 << 20);
        }
    }
    run
}

/// One figure of a run.
type Figure = fn(&Run) -> f64;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn time_ms(f: &mut dyn FnMut()) -> f64 {
    let t = Instant::now();
    f();
    t.elapsed().as_secs_f64() * 1e3
}

fn main() {
    if !Release::Qemu7_2.available() {
        return;
    }
    let runs: usize = std::env::var("VMSTATE_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let mut bars = Vec::new();
    for (guest, short, image) in [
        (
            "idle after filling its RAM",
            "idle",
            counter_guest::idle_kernel(RAM_MIB),
        ),
        (
            "rewriting 1024 pages",
            "busy",
            counter_guest::kernel(RAM_MIB),
        ),
    ] {
        let kernel = dir().join("counter.kernel");
        std::fs::write(&kernel, image).unwrap();
        for (name, direct, bridged) in measure(&kernel, guest, runs) {
            bars.push((format!("{short}: {name}"), direct, bridged));
        }
    }
    let svg = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/perf/bridge.svg");
    plot(&svg, &bars).unwrap();
    println!("\nplot: {}", svg.display());
    let kernel = dir().join("counter.kernel");
    std::fs::write(&kernel, counter_guest::kernel(RAM_MIB)).unwrap();
    conversion(&kernel, &dir().join("tapped.mig"), runs);
}

/// Direct and bridged migrations of the guest `kernel`, `runs` of each,
/// alternating; prints their medians side by side and returns those of QEMU's
/// total time and downtime and of the time until the destination completed.
fn measure(kernel: &Path, guest: &str, runs: usize) -> Vec<(&'static str, f64, f64)> {
    let (mut direct, mut bridged) = (Vec::new(), Vec::new());
    for i in 0..runs {
        // Alternating which goes first, so neither always runs on a warmer host.
        for bridged_first in [i % 2 == 0, i % 2 != 0] {
            if bridged_first {
                bridged.push(migrate(kernel, true, None));
            } else {
                direct.push(migrate(kernel, false, None));
            }
        }
        eprintln!(
            "run {i}: direct {:?}\n       bridged {:?}",
            direct[i], bridged[i]
        );
    }
    let col = |v: &[Run], f: Figure| median(v.iter().map(f).collect());
    println!();
    println!(
        "QEMU 7.2, {}, {RAM_MIB} MiB guest {guest}, accel {}; median of {runs} runs each, alternating",
        PEER.machine,
        qmp::accel()
    );
    println!("| figure | direct | through the bridges | ratio |");
    println!("|---|---:|---:|---:|");
    let rows: [(&str, Figure); 4] = [
        ("QEMU total-time (ms)", |r| r.total_ms),
        ("QEMU downtime (ms)", |r| r.downtime_ms),
        ("until the destination completed (ms)", |r| r.end_to_end_ms),
        ("destination after the source (ms)", |r| r.lag_ms),
    ];
    let mut bars = Vec::new();
    for (name, f) in rows {
        let (a, b) = (col(&direct, f), col(&bridged, f));
        println!("| {name} | {a:.0} | {b:.0} | {:.2} |", b / a);
        bars.push((name, a, b));
    }
    let (legacy, ber) = (
        col(&bridged, |r| r.legacy_bytes),
        col(&bridged, |r| r.ber_bytes),
    );
    println!(
        "| bytes on the wire (MiB) | {:.1} | {:.1} (BER leg) | {:.3} |",
        legacy / f64::from(1 << 20),
        ber / f64::from(1 << 20),
        ber / legacy
    );
    println!(
        "| bridge peak RSS (MiB): to BER, to legacy | | {:.1}, {:.1} | |",
        col(&bridged, |r| r.peak_mib[0]),
        col(&bridged, |r| r.peak_mib[1])
    );
    println!(
        "| bridge CPU time (s): to BER, to legacy | | {:.2}, {:.2} | |",
        col(&bridged, |r| r.cpu_s[0]),
        col(&bridged, |r| r.cpu_s[1])
    );
    let plotted = [
        "QEMU total-time (ms)",
        "QEMU downtime (ms)",
        "until the destination completed (ms)",
    ];
    bars.retain(|(name, ..)| plotted.contains(name));
    bars
}

/// Grouped bars, direct beside bridged, for each figure; milliseconds on a log scale.
fn plot(path: &Path, bars: &[(String, f64, f64)]) -> Result<(), Box<dyn std::error::Error>> {
    use plotters::prelude::*;
    let root = SVGBackend::new(path, (980, 460)).into_drawing_area();
    root.fill(&WHITE)?;
    let top = bars.iter().map(|b| b.1.max(b.2)).fold(1.0, f64::max) * 2.0;
    let groups = bars.len() as f64;
    let labels: Vec<String> = bars
        .iter()
        .map(|(name, ..)| {
            name.trim_end_matches(" (ms)").replace("QEMU ", "").replace(
                "until the destination completed",
                "until the destination ends",
            )
        })
        .collect();
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("Live migration of a {RAM_MIB} MiB guest, QEMU 7.2 to QEMU 7.2: direct and through two bridges (median, log scale)"),
            ("sans-serif", 16),
        )
        .margin(12)
        .x_label_area_size(30)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..groups, (10.0..top).log_scale())?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(bars.len() * 2 + 1)
        .x_label_formatter(&|x| {
            let i = x.floor() as usize;
            if (x - x.floor() - 0.5).abs() < 0.01 && i < labels.len() {
                labels[i].clone()
            } else {
                String::new()
            }
        })
        .y_desc("ms")
        .draw()?;
    for (k, name) in ["direct", "through the bridges"].iter().enumerate() {
        let color = Palette99::pick(k).to_rgba();
        chart
            .draw_series(bars.iter().enumerate().map(|(g, b)| {
                let x0 = g as f64 + 0.15 + k as f64 * 0.35;
                let v = if k == 0 { b.1 } else { b.2 };
                Rectangle::new([(x0, 10.0), (x0 + 0.33, v.max(10.0))], color.filled())
            }))?
            .label(*name)
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], color.filled()));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

/// The conversion alone, in memory, on the stream of one more bridged run of the
/// guest `kernel`, tapped into `tap`, against `memcpy`.
fn conversion(kernel: &Path, tap: &Path, runs: usize) {
    migrate(kernel, true, Some(tap));
    let legacy = std::fs::read(tap).unwrap();
    let ber = dump::convert(&legacy, Format::Ber).unwrap();
    let mut copy = vec![0u8; legacy.len()];
    let mut out = Vec::with_capacity(legacy.len() + (1 << 20));
    let (mut memcpy, mut to_ber, mut to_legacy) = (Vec::new(), Vec::new(), Vec::new());
    // A first round untimed: the buffers' pages are then mapped (a first touch
    // costs more than the copy on a virtual machine).
    for round in 0..=runs {
        if round == 1 {
            (memcpy, to_ber, to_legacy) = (Vec::new(), Vec::new(), Vec::new());
        }
        memcpy.push(time_ms(&mut || copy.copy_from_slice(&legacy)));
        for (from, format, want, times) in [
            (&legacy, Format::Ber, &ber, &mut to_ber),
            (&ber, Format::Legacy, &legacy, &mut to_legacy),
        ] {
            times.push(time_ms(&mut || {
                out.clear();
                dump::convert_stream(
                    &mut &from[..],
                    &mut out,
                    format,
                    &Limits::default(),
                    &mut |_| {},
                )
                .unwrap();
            }));
            assert!(&out == want);
        }
    }
    let (m, b, l) = (median(memcpy), median(to_ber), median(to_legacy));
    let gbs = |ms: f64| legacy.len() as f64 / ms / 1e6;
    println!();
    println!(
        "Conversion of the tapped stream ({:.1} MiB) in memory, median of {runs}:",
        legacy.len() as f64 / f64::from(1 << 20)
    );
    println!("| what | ms | GB/s | vs memcpy |");
    println!("|---|---:|---:|---:|");
    println!(
        "| memcpy of the same bytes | {m:.1} | {:.2} | 1.00 |",
        gbs(m)
    );
    println!("| legacy -> BER | {b:.1} | {:.2} | {:.2} |", gbs(b), b / m);
    println!("| BER -> legacy | {l:.1} | {:.2} | {:.2} |", gbs(l), l / m);
    let _ = std::fs::remove_file(tap);
}
