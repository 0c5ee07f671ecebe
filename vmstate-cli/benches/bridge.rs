//! Live migration over a link that costs what real links cost
//! (`cargo bench -p vmstate-cli --bench bridge`): QEMU 10.0 -> QEMU 10.0
//! through a rate- and latency-limited relay (`vmstate_test_support::link`),
//! side by side in one run, in four configurations:
//!
//! - **direct**: QEMU's own pre-copy;
//! - **multifd+zstd**: QEMU's `multifd` (2 channels) with `multifd-compression
//!   zstd` on both ends;
//! - **bridged**: QEMU -> `vmstate bridge --to ber` -> link -> `vmstate bridge
//!   --to legacy` -> QEMU;
//! - **bridged+compressed**: the same with `--compress` on the BER leg.
//!
//! for each guest (the synthetic counter guest, and the Linux guest running its
//! memory workload: page cache, a program's anonymous memory written at a set
//! rate, zero pages; `scripts/linux-guest.sh`), each size and each link. The
//! guest migrates back and forth between two QEMUs (each run's destination is
//! the next run's source, the configurations taking turns), so that every
//! configuration meets the same running guest. Reported: QEMU's `total-time`,
//! the time until the destination completed, QEMU's `downtime`, the guest's
//! downtime as the destination sees it (from the source's stop to the
//! destination's completion), the bytes on the link, and each bridge's CPU time
//! and peak RSS. Then the conversion alone in memory, against `memcpy`, and
//! the mix of the data pages (what zstd cannot shrink, zero, repeated).
//!
//! `VMSTATE_BENCH_RUNS` (default 3), `VMSTATE_BENCH_SIZES` (MiB, default
//! `1024,4096`), `VMSTATE_BENCH_GUESTS` (`counter,linux`),
//! `VMSTATE_BENCH_LINKS` (`125,1250`: MB/s, 1 ms each way); the Linux guest
//! needs `VMSTATE_LINUX_GUEST`. QEMU 10.0 must run here.

#[path = "../tests/common/mod.rs"]
mod common;

use common::bridge;
use serde_json::json;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use vmstate_runtime::dump::{self, Limits};
use vmstate_runtime::ram::ber::Compression;
use vmstate_runtime::ram::RamRecord;
use vmstate_runtime::Format;
use vmstate_test_support::counter_guest;
use vmstate_test_support::link::{Link, Relay};
use vmstate_test_support::qmp::{self, Qemu, Release};

const MACHINE: &str = "pc-i440fx-10.0";

fn dir() -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bridge-bench");
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// How a migration is carried.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Config {
    name: &'static str,
    multifd: bool,
    bridged: bool,
    compressed: bool,
}

const CONFIGS: [Config; 4] = [
    Config {
        name: "direct",
        multifd: false,
        bridged: false,
        compressed: false,
    },
    Config {
        name: "multifd+zstd",
        multifd: true,
        bridged: false,
        compressed: false,
    },
    Config {
        name: "bridged",
        multifd: false,
        bridged: true,
        compressed: false,
    },
    Config {
        name: "bridged+compressed",
        multifd: false,
        bridged: true,
        compressed: true,
    },
];

/// A guest to migrate: its QEMU arguments (the same on both sides) and how to
/// tell it is running its workload.
struct Guest {
    name: String,
    ram_mib: u32,
    args: Vec<String>,
    /// Its serial port's file, for the Linux guest.
    serial: Option<PathBuf>,
}

impl Guest {
    fn counter(ram_mib: u32) -> Guest {
        // Below the PCI hole: i440FX maps 3 GiB of a 4 GiB guest there.
        let top = (u64::from(ram_mib) << 20).min(3 << 30);
        let kernel = dir().join(format!("counter-{ram_mib}.kernel"));
        std::fs::write(
            &kernel,
            counter_guest::kernel_writing(top as u32 - 1, 0x600000),
        )
        .unwrap();
        Guest {
            name: format!("counter guest, {} GiB", ram_mib / 1024),
            ram_mib,
            args: vec![
                "-accel".into(),
                qmp::accel().into(),
                "-kernel".into(),
                kernel.display().to_string(),
            ],
            serial: None,
        }
    }

    /// The Linux guest with its workload: a quarter of RAM page cache, 3/8 a
    /// program's memory of which 64 MiB are written at 32 MiB/s.
    fn linux(ram_mib: u32, image: &Path) -> Guest {
        let serial = dir().join(format!("linux-{ram_mib}.serial"));
        let append = format!(
            "console=ttyS0 quiet panic=-1 vmstate.workload vmstate.cache={} vmstate.anon={} \
             vmstate.hot=64 vmstate.rate=32",
            ram_mib / 4,
            ram_mib * 3 / 8
        );
        Guest {
            name: format!("Linux guest, {} GiB", ram_mib / 1024),
            ram_mib,
            args: [
                "-accel",
                "tcg",
                "-kernel",
                &image.join("vmlinux").display().to_string(),
                "-initrd",
                &image.join("initrd.gz").display().to_string(),
                "-append",
                &append,
            ]
            .map(String::from)
            .to_vec(),
            serial: Some(serial),
        }
    }

    fn start(&self, name: &str, incoming: bool) -> Qemu {
        let ram = self.ram_mib.to_string();
        let mut a: Vec<String> = ["-M", MACHINE, "-m", &ram, "-cpu", "qemu64"]
            .map(String::from)
            .to_vec();
        a.extend(self.args.iter().cloned());
        if let Some(serial) = &self.serial {
            let file = serial.with_extension(format!("{name}.serial"));
            a.extend([
                "-chardev".into(),
                format!("file,id=s,path={}", file.display()),
                "-device".into(),
                "isa-serial,chardev=s".into(),
            ]);
        }
        if incoming {
            a.extend(["-incoming".into(), "defer".into()]);
        }
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        Qemu::start_release(Release::Qemu10_0, &dir(), name, &a)
            .unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    /// Boots it; returns once its workload runs.
    fn boot(&self) -> Qemu {
        let mut q = self.start("bench-a", false);
        let deadline = Instant::now() + Duration::from_secs(600);
        match &self.serial {
            None => {
                let last = (u64::from(self.ram_mib) << 20).min(3 << 30) - 4096;
                while q.read_u32(last).unwrap() != last as u32 {
                    assert!(Instant::now() < deadline, "the guest did not fill its RAM");
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
            Some(serial) => {
                let file = serial.with_extension("bench-a.serial");
                loop {
                    let text = std::fs::read_to_string(&file).unwrap_or_default();
                    if text.contains("guest: DIRTYING") {
                        break;
                    }
                    assert!(
                        Instant::now() < deadline,
                        "the guest did not come up: {text}"
                    );
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
        }
        q
    }
}

/// One migration's figures.
#[derive(Debug, Default, Clone)]
struct Run {
    /// QEMU's `total-time` and `downtime` on the source.
    total_ms: f64,
    downtime_ms: f64,
    /// From `migrate` until the destination reported completed.
    end_to_end_ms: f64,
    /// From the source's stop (its total time less its downtime) until the
    /// destination completed: the guest's downtime.
    paused_ms: f64,
    /// Bytes the link carried towards the destination.
    wire_bytes: f64,
    /// The bridges' CPU time in seconds and peak resident memory in MiB
    /// (to BER, to legacy).
    cpu_s: [f64; 2],
    peak_mib: [f64; 2],
}

fn set_migration(q: &mut Qemu, c: &Config) {
    q.execute(
        "migrate-set-capabilities",
        json!({ "capabilities": [{ "capability": "multifd", "state": c.multifd }] }),
    )
    .unwrap();
    let mut p = json!({ "max-bandwidth": 64u64 << 30 });
    if c.multifd {
        p["multifd-channels"] = json!(2);
        p["multifd-compression"] = json!("zstd");
    }
    q.execute("migrate-set-parameters", p).unwrap();
}

/// Migrates the running guest in `src` to a new QEMU over `link` as `c`
/// carries it; returns the figures and the destination, running.
fn migrate(guest: &Guest, src: &mut Qemu, name: &str, c: &Config, link: Link) -> (Run, Qemu) {
    let mut d = guest.start(name, true);
    set_migration(&mut d, c);
    set_migration(src, c);
    let port = qmp::free_port();
    d.execute(
        "migrate-incoming",
        json!({ "uri": format!("tcp:127.0.0.1:{port}") }),
    )
    .unwrap();
    let dst_addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut bridges = Vec::new();
    let (relay, uri) = if c.bridged {
        let into_dst = format!("tcp:127.0.0.1:{port}");
        let (b, b_addr) = bridge(&["--to", "legacy", "tcp-listen:127.0.0.1:0", &into_dst]);
        let b_port: u16 = b_addr.rsplit(':').next().unwrap().parse().unwrap();
        let relay = Relay::start(link, format!("127.0.0.1:{b_port}").parse().unwrap()).unwrap();
        let mut args = vec!["--to", "ber"];
        let extra = std::env::var("VMSTATE_BENCH_COMPRESS_ARGS").unwrap_or_default();
        if c.compressed {
            args.push("--compress");
            args.extend(extra.split_whitespace());
        }
        let relay_uri = relay.uri();
        args.extend(["tcp-listen:127.0.0.1:0", &relay_uri]);
        let (a, a_addr) = bridge(&args);
        bridges.push(a);
        bridges.push(b);
        (relay, a_addr)
    } else {
        let relay = Relay::start(link, dst_addr).unwrap();
        let uri = relay.uri();
        (relay, uri)
    };
    let t0 = Instant::now();
    src.execute("migrate", json!({ "uri": uri })).unwrap();
    let (mut src_done, mut dst_done, mut reply) = (None, None, json!({}));
    while src_done.is_none() || dst_done.is_none() {
        if src_done.is_none() {
            let r = src.execute("query-migrate", json!({})).unwrap();
            match r["status"].as_str() {
                Some("completed") => {
                    src_done = Some(t0.elapsed());
                    reply = r;
                }
                Some("failed" | "cancelled") => panic!("{name} source: {r}"),
                _ => {}
            }
        }
        if dst_done.is_none() {
            let r = d.execute("query-migrate", json!({})).unwrap();
            match r["status"].as_str() {
                Some("completed") => dst_done = Some(t0.elapsed()),
                Some("failed") => panic!("{name} destination: {r}"),
                _ => {}
            }
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let total_ms = reply["total-time"].as_f64().unwrap();
    let downtime_ms = reply["downtime"].as_f64().unwrap();
    let end_to_end_ms = ms(dst_done.unwrap());
    let mut run = Run {
        total_ms,
        downtime_ms,
        end_to_end_ms,
        paused_ms: end_to_end_ms - (total_ms - downtime_ms),
        wire_bytes: relay.bytes().0 as f64,
        ..Run::default()
    };
    for (i, b) in bridges.into_iter().enumerate() {
        let (ok, log) = b.wait();
        assert!(ok, "{log}");
        let number_before = |unit: &str| -> f64 {
            let i = log
                .find(unit)
                .unwrap_or_else(|| panic!("{unit:?} in {log}"));
            log[..i].split_whitespace().last().unwrap().parse().unwrap()
        };
        run.peak_mib[i] = number_before(" MiB\n");
        run.cpu_s[i] = number_before(" s, peak");
    }
    (run, d)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn env_list<T: std::str::FromStr>(name: &str, default: &str) -> Vec<T> {
    std::env::var(name)
        .unwrap_or_else(|_| default.into())
        .split(',')
        .filter(|v| !v.trim().is_empty())
        .filter_map(|v| v.trim().parse().ok())
        .collect()
}

/// The medians of one scenario (guest, link), per configuration.
struct Scenario {
    name: String,
    /// The guest's RAM.
    mib: u32,
    runs: BTreeMap<&'static str, Vec<Run>>,
}

fn main() {
    if !Release::Qemu10_0.available() {
        eprintln!("skipped: QEMU 10.0 is not here (bash scripts/qemu-10.0.sh)");
        return;
    }
    let runs: usize = env_list("VMSTATE_BENCH_RUNS", "3")[0];
    let sizes: Vec<u32> = env_list("VMSTATE_BENCH_SIZES", "1024,4096");
    let guests: Vec<String> = env_list("VMSTATE_BENCH_GUESTS", "counter,linux");
    let links: Vec<Link> = env_list::<f64>("VMSTATE_BENCH_LINKS", "125,1250")
        .into_iter()
        .map(|mbs| Link {
            rate: mbs * 1e6,
            latency: Duration::from_millis(1),
        })
        .collect();
    let image = std::env::var_os("VMSTATE_LINUX_GUEST").map(PathBuf::from);
    let mut scenarios = Vec::new();
    for kind in &guests {
        for &mib in &sizes {
            let guest = match (kind.as_str(), &image) {
                ("counter", _) => Guest::counter(mib),
                ("linux", Some(image)) => Guest::linux(mib, image),
                ("linux", None) => {
                    eprintln!(
                        "skipped the Linux guest: VMSTATE_LINUX_GUEST=$(bash scripts/linux-guest.sh)"
                    );
                    continue;
                }
                (other, _) => panic!("VMSTATE_BENCH_GUESTS: {other}?"),
            };
            scenarios.extend(measure(&guest, &links, runs));
        }
    }
    if !scenarios.is_empty() {
        report(&scenarios, runs);
        // The docs' plot is the whole set's: a narrowed run plots beside the tap.
        let narrowed = [
            "VMSTATE_BENCH_SIZES",
            "VMSTATE_BENCH_GUESTS",
            "VMSTATE_BENCH_LINKS",
        ]
        .iter()
        .any(|v| std::env::var_os(v).is_some());
        let svg = match narrowed {
            true => dir().join("bridge.svg"),
            false => Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/perf/bridge.svg"),
        };
        plot(&svg, &scenarios).unwrap();
        println!("\nplot: {}", svg.display());
    }
    if std::env::var_os("VMSTATE_BENCH_NO_CONVERSION").is_some() {
        return;
    }
    conversion(&Guest::counter(1024));
    if let Some(image) = &image {
        conversion(&Guest::linux(1024, image));
    }
}

/// Every configuration over every link, `runs` times, the guest going back and
/// forth; the configurations take turns, their order rotating each run.
fn measure(guest: &Guest, links: &[Link], runs: usize) -> Vec<Scenario> {
    let mut q = guest.boot();
    let mut out: Vec<Scenario> = links
        .iter()
        .map(|l| Scenario {
            name: format!("{}, {}", guest.name, l.name()),
            mib: guest.ram_mib,
            runs: BTreeMap::new(),
        })
        .collect();
    let mut n = 0;
    for i in 0..runs {
        for (l, link) in links.iter().enumerate() {
            for k in 0..CONFIGS.len() {
                let c = &CONFIGS[(k + i) % CONFIGS.len()];
                n += 1;
                let name = if n % 2 == 1 { "bench-b" } else { "bench-a" };
                let (run, next) = migrate(guest, &mut q, name, c, *link);
                eprintln!("{} | {} | run {i}: {run:?}", out[l].name, c.name);
                out[l].runs.entry(c.name).or_default().push(run);
                q = next;
            }
        }
    }
    out
}

type Figure = fn(&Run) -> f64;

const FIGURES: [(&str, Figure); 6] = [
    ("total time, QEMU (s)", |r| r.total_ms / 1e3),
    ("until the destination completed (s)", |r| {
        r.end_to_end_ms / 1e3
    }),
    ("downtime, QEMU (ms)", |r| r.downtime_ms),
    ("guest paused until the destination ran (ms)", |r| {
        r.paused_ms
    }),
    ("bytes on the link (MiB)", |r| r.wire_bytes / 1048576.0),
    ("bridge CPU s, to BER + to legacy", |r| {
        r.cpu_s[0] + r.cpu_s[1]
    }),
];

fn report(scenarios: &[Scenario], runs: usize) {
    println!(
        "\nQEMU 10.0 -> QEMU 10.0 ({MACHINE}), through a relay of the link's rate and \
         latency; median of {runs} runs each, the configurations taking turns"
    );
    for s in scenarios {
        println!("\n**{}**\n", s.name);
        print!("| figure |");
        for c in &CONFIGS {
            print!(" {} |", c.name);
        }
        println!(" bridged / direct | compressed / direct | compressed / multifd |");
        println!("|---|---:|---:|---:|---:|---:|---:|---:|");
        for (name, f) in FIGURES {
            let m: Vec<f64> = CONFIGS
                .iter()
                .map(|c| median(s.runs[c.name].iter().map(f).collect()))
                .collect();
            print!("| {name} |");
            for v in &m {
                print!(" {v:.2} |");
            }
            let ratio = |a: f64, b: f64| {
                if b > 0.0 {
                    format!("{:.2}", a / b)
                } else {
                    String::new()
                }
            };
            println!(
                " {} | {} | {} |",
                ratio(m[2], m[0]),
                ratio(m[3], m[0]),
                ratio(m[3], m[1])
            );
        }
        let bridged = |c: usize, f: fn(&Run) -> [f64; 2]| {
            let v: Vec<[f64; 2]> = s.runs[CONFIGS[c].name].iter().map(f).collect();
            [
                median(v.iter().map(|x| x[0]).collect()),
                median(v.iter().map(|x| x[1]).collect()),
            ]
        };
        for (c, what) in [(2, "bridged"), (3, "bridged+compressed")] {
            let (cpu, rss) = (bridged(c, |r| r.cpu_s), bridged(c, |r| r.peak_mib));
            let gib = f64::from(s.mib) / 1024.0;
            println!(
                "\n{what}: to BER {:.2} CPU-s ({:.2} per GiB of guest), peak RSS {:.1} MiB; \
                 to legacy {:.2} CPU-s ({:.2} per GiB), peak RSS {:.1} MiB",
                cpu[0],
                cpu[0] / gib,
                rss[0],
                cpu[1],
                cpu[1] / gib,
                rss[1]
            );
        }
    }
}

/// Total time (until the destination completed), per scenario, the four
/// configurations side by side; seconds on a log scale.
fn plot(path: &Path, scenarios: &[Scenario]) -> Result<(), Box<dyn std::error::Error>> {
    use plotters::prelude::*;
    let root = SVGBackend::new(path, (1100, 520)).into_drawing_area();
    root.fill(&WHITE)?;
    let value = |s: &Scenario, c: &Config| {
        median(
            s.runs[c.name]
                .iter()
                .map(|r| r.end_to_end_ms / 1e3)
                .collect(),
        )
    };
    let top = scenarios
        .iter()
        .flat_map(|s| CONFIGS.iter().map(move |c| value(s, c)))
        .fold(1.0, f64::max)
        * 2.0;
    let groups = scenarios.len() as f64;
    let labels: Vec<String> = scenarios
        .iter()
        .map(|s| s.name.replace(" guest", "").replace(", 1 ms", ""))
        .collect();
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Live migration, QEMU 10.0 to QEMU 10.0 over a limited link: until the destination completed (median, log scale)",
            ("sans-serif", 15),
        )
        .margin(12)
        .x_label_area_size(30)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..groups, (0.1..top).log_scale())?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(scenarios.len() * 2 + 1)
        .x_label_formatter(&|x| {
            let i = x.floor() as usize;
            if (x - x.floor() - 0.5).abs() < 0.01 && i < labels.len() {
                labels[i].clone()
            } else {
                String::new()
            }
        })
        .x_label_style(("sans-serif", 11))
        .y_desc("s")
        .draw()?;
    for (k, c) in CONFIGS.iter().enumerate() {
        let color = Palette99::pick(k).to_rgba();
        chart
            .draw_series(scenarios.iter().enumerate().map(|(g, s)| {
                let x0 = g as f64 + 0.1 + k as f64 * 0.2;
                Rectangle::new([(x0, 0.1), (x0 + 0.19, value(s, c))], color.filled())
            }))?
            .label(c.name)
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

fn time_ms(f: &mut dyn FnMut()) -> f64 {
    let t = Instant::now();
    f();
    t.elapsed().as_secs_f64() * 1e3
}

/// `legacy` converted to BER (compressed by `c`).
fn to_ber(legacy: &[u8], c: Option<Compression>, out: &mut Vec<u8>) {
    out.clear();
    let limits = Limits::default();
    match c {
        Some(c) => dump::convert_compressed(&mut &legacy[..], out, c, &limits, &mut |_| {}),
        None => dump::convert_stream(&mut &legacy[..], out, Format::Ber, &limits, &mut |_| {}),
    }
    .unwrap();
}

/// The conversion alone, in memory, on a tapped stream of `guest` (its
/// migration saved by a bridge), both directions, plain and compressed at
/// several zstd levels (the level `--compress` takes is chosen from this),
/// against `memcpy`.
fn conversion(guest: &Guest) {
    let mut q = guest.boot();
    let tap = dir().join("tapped.mig");
    q.execute(
        "migrate-set-parameters",
        json!({ "max-bandwidth": 64u64 << 30 }),
    )
    .unwrap();
    let mut d = guest.start("bench-tap", true);
    let port = qmp::free_port();
    d.execute(
        "migrate-incoming",
        json!({ "uri": format!("tcp:127.0.0.1:{port}") }),
    )
    .unwrap();
    let tap_arg = tap.display().to_string();
    let into = format!("tcp:127.0.0.1:{port}");
    let (b, addr) = bridge(&[
        "--to",
        "legacy",
        "--tap",
        &tap_arg,
        "tcp-listen:127.0.0.1:0",
        &into,
    ]);
    q.execute("migrate", json!({ "uri": addr })).unwrap();
    assert_eq!(q.wait_migration().unwrap().0, "completed");
    assert!(b.wait().0);
    drop((q, d));
    let legacy = std::fs::read(&tap).unwrap();
    let runs = 3;
    let mut copy = vec![0u8; legacy.len()];
    let mut out = Vec::with_capacity(legacy.len() + (1 << 20));
    let level = |zstd_level: i32, cache_pages: u64| Compression {
        zstd_level: Some(zstd_level),
        cache_pages,
    };
    let cache = Compression::DEFAULT.cache_pages;
    let forms: [(&str, Option<Compression>); 6] = [
        ("plain", None),
        ("zstd -5, deltas", Some(level(-5, cache))),
        ("zstd -1, deltas", Some(level(-1, cache))),
        ("zstd 1, deltas", Some(level(1, cache))),
        ("zstd 3, deltas", Some(level(3, cache))),
        ("zstd 1, no deltas", Some(level(1, 0))),
    ];
    let mut rows: Vec<(String, f64)> = Vec::new();
    let mut sizes = BTreeMap::new();
    let mut memcpy = Vec::new();
    for round in 0..=runs {
        let keep = round > 0;
        let m = time_ms(&mut || copy.copy_from_slice(&legacy));
        if keep {
            memcpy.push(m);
        }
        for (form, c) in &forms {
            let t = time_ms(&mut || to_ber(&legacy, *c, &mut out));
            let ber = out.clone();
            let back = time_ms(&mut || {
                out.clear();
                dump::convert_stream(
                    &mut &ber[..],
                    &mut out,
                    Format::Legacy,
                    &Limits::default(),
                    &mut |_| {},
                )
                .unwrap();
            });
            assert!(out == legacy, "{form}: converts back exactly");
            sizes.insert(*form, ber.len());
            if keep {
                rows.push((format!("legacy -> BER ({form})"), t));
                rows.push((format!("BER ({form}) -> legacy"), back));
            }
        }
    }
    let m = median(memcpy);
    let gbs = |ms: f64| legacy.len() as f64 / ms / 1e6;
    println!();
    println!(
        "Conversion of a tapped stream ({:.1} MiB, {}) in memory, median of {runs}:",
        legacy.len() as f64 / f64::from(1 << 20),
        guest.name
    );
    println!("| what | ms | GB/s of the legacy stream | vs memcpy |");
    println!("|---|---:|---:|---:|");
    println!(
        "| memcpy of the same bytes | {m:.1} | {:.2} | 1.00 |",
        gbs(m)
    );
    let mut names: Vec<String> = rows.iter().map(|r| r.0.clone()).collect();
    names.sort();
    names.dedup();
    for name in names {
        let t = median(rows.iter().filter(|r| r.0 == name).map(|r| r.1).collect());
        println!("| {name} | {t:.1} | {:.2} | {:.2} |", gbs(t), t / m);
    }
    println!();
    for (form, n) in sizes {
        println!(
            "BER {form}: {:.1} MiB ({:.3} of the legacy stream)",
            n as f64 / 1048576.0,
            n as f64 / legacy.len() as f64
        );
    }
    page_mix(&legacy);
    if std::env::var_os("VMSTATE_BENCH_KEEP_TAP").is_some() {
        let kept = tap.with_extension(format!("{}.mig", guest.ram_mib));
        std::fs::rename(&tap, &kept).unwrap();
        println!("kept: {}", kept.display());
    }
    let _ = std::fs::remove_file(&tap);
}

/// What a compressing bridge could take out of zstd's work in `legacy`'s data
/// pages: those zstd cannot shrink (each page alone, over 95% of its size) and
/// its speed on them and on the rest (level 1, groups of 256 pages, as a bridge
/// groups 1 MiB), the data pages that are all zero, and the pages equal to an
/// earlier one, by how far back (a group sees the 256 before it).
fn page_mix(legacy: &[u8]) {
    const PAGE: usize = 4096;
    let mut pages = Vec::new();
    dump::ram_records(&mut &legacy[..], &Limits::default(), &mut |r| {
        if let RamRecord::Page { data, .. } = r {
            pages.extend_from_slice(data);
        }
        Ok(())
    })
    .unwrap();
    let pages: Vec<&[u8]> = pages.chunks(PAGE).collect();
    let mut z = zstd::bulk::Compressor::new(1).unwrap();
    let (mut flat, mut rest) = (Vec::new(), Vec::new());
    for p in &pages {
        match z.compress(p).unwrap().len() > PAGE * 95 / 100 {
            true => flat.push(*p),
            false => rest.push(*p),
        }
    }
    let mut speed = |class: &[&[u8]]| {
        let mut group = Vec::with_capacity(256 * PAGE);
        let ms = time_ms(&mut || {
            for g in class.chunks(256) {
                group.clear();
                g.iter().for_each(|p| group.extend_from_slice(p));
                z.compress(&group).unwrap();
            }
        });
        match class.len() {
            0 => "-".to_string(),
            n => format!("{:.2} GB/s", (n * PAGE) as f64 / ms / 1e6),
        }
    };
    let (flat_gbs, rest_gbs) = (speed(&flat), speed(&rest));
    let zero = pages.iter().filter(|p| p.iter().all(|&b| b == 0)).count();
    let mut last = std::collections::HashMap::new();
    let back = [256, 4096, 16384, usize::MAX];
    let mut equal = [0usize; 4];
    for (i, p) in pages.iter().enumerate() {
        if let Some(j) = last.insert(*p, i) {
            for (n, b) in equal.iter_mut().zip(back) {
                *n += usize::from(i - j <= b);
            }
        }
    }
    let share = |n: usize| 100.0 * n as f64 / pages.len().max(1) as f64;
    println!();
    println!("Data pages of the tapped stream: {}", pages.len());
    println!(
        "- zstd cannot shrink: {:.1}% (zstd 1 on them {flat_gbs}, on the rest {rest_gbs})",
        share(flat.len())
    );
    println!("- all zero: {:.1}%", share(zero));
    println!(
        "- equal to an earlier page: {:.1}% ({:.1}% within 256 pages, {:.1}% within 4096, {:.1}% within 16384)",
        share(equal[3]),
        share(equal[0]),
        share(equal[1]),
        share(equal[2])
    );
}
