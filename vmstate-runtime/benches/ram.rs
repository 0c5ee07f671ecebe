//! The RAM section at memory speed: a 1 GiB guest image, half its pages random data
//! and half zero, interleaved, encoded as QEMU's `ram` section into a discarding sink
//! and into a pipe, and decoded back into a 1 GiB buffer, each beside a plain
//! `memcpy` of the same 1 GiB in the same run; the BER form; the encoder's peak
//! memory; and QEMU 7.2 migrating the same image (`memory-backend-file` over it,
//! `max-bandwidth` raised, `migrate "exec:cat > /dev/null"`), timed by QEMU.
//!
//! `cargo bench -p vmstate-runtime --bench ram` (docs/RAM.md has a run's output).

use std::io::{BufWriter, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use vmstate_runtime::io::Writer;
use vmstate_runtime::ram::{Pages, RamBlock, RamBlockMut, RamLoader, RamSaver};
use vmstate_runtime::Format;
use vmstate_test_support::qmp::{self, Qemu};
use vmstate_test_support::testing::{half_random_image, peak_rss};

const SIZE: usize = 1 << 30;
const RUNS: usize = 5;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Medians of `f` and `g`, their runs alternating so that drift in the machine's
/// speed affects both alike.
fn time_pair(mut f: impl FnMut(), mut g: impl FnMut()) -> (Duration, Duration) {
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for _ in 0..RUNS {
        let t = Instant::now();
        f();
        a.push(t.elapsed());
        let t = Instant::now();
        g();
        b.push(t.elapsed());
    }
    (median(a), median(b))
}

fn time(mut f: impl FnMut()) -> Duration {
    median(
        (0..RUNS)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed()
            })
            .collect(),
    )
}

fn encode<W: Write>(saver: &RamSaver<'_>, format: Format, w: W) -> u64 {
    let mut w = Writer::new(w);
    saver.write_setup(format, &mut w).expect("setup");
    saver.write_part(format, Pages::All, &mut w).expect("part");
    w.written()
}

/// QEMU migrating a guest whose 1 GiB of RAM is the image file: `total-time`, ms.
fn qemu_migration(mem: &[u8]) -> Option<f64> {
    if !qmp::available() {
        return None;
    }
    let dir = std::env::temp_dir().join(format!("vmstate-bench-ram-{}", std::process::id()));
    std::fs::create_dir_all(&dir).ok()?;
    let path = dir.join("guest.img");
    std::fs::write(&path, mem).ok()?;
    let backend = format!(
        "memory-backend-file,id=mem,size=1G,mem-path={},share=on",
        path.display()
    );
    let args = [
        "-S",
        "-M",
        "pc-i440fx-7.2,memory-backend=mem",
        "-m",
        "1G",
        "-accel",
        qmp::accel(),
        "-object",
        &backend,
    ];
    let mut q = Qemu::start(&dir, "bench-ram", &args).ok()?;
    q.execute(
        "migrate-set-parameters",
        serde_json::json!({ "max-bandwidth": 1u64 << 40 }),
    )
    .ok()?;
    q.execute(
        "migrate",
        serde_json::json!({ "uri": "exec:cat > /dev/null" }),
    )
    .ok()?;
    let (status, reply) = q.wait_migration().ok()?;
    drop(q);
    let _ = std::fs::remove_dir_all(&dir);
    (status == "completed")
        .then(|| reply["total-time"].as_f64())
        .flatten()
}

/// The same image in `vm-memory`'s guest memory (a VMM's, read with volatile
/// copies): legacy encode into a sink, and legacy decode into another, medians.
#[cfg(feature = "vm-memory")]
fn guest_memory(mem: &[u8], legacy: &[u8]) -> (Duration, Duration) {
    use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};
    use vmstate_runtime::ram::GuestRange;
    let map = || GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), SIZE)]).expect("mmap");
    let (src, dst) = (map(), map());
    src.write_slice(mem, GuestAddress(0)).expect("image");
    let block = GuestRange::new(&src, GuestAddress(0), SIZE as u64).expect("block");
    let saver = RamSaver::new(vec![RamBlock {
        name: "pc.ram",
        mem: &block,
    }])
    .expect("one block");
    let mut into = GuestRange::new(&dst, GuestAddress(0), SIZE as u64).expect("block");
    let (encode_time, decode_time) = time_pair(
        || {
            encode(&saver, Format::Legacy, std::io::sink());
        },
        || {
            let mut loader = RamLoader::new(vec![RamBlockMut {
                name: "pc.ram",
                mem: &mut into,
            }]);
            let used = loader.load_legacy(legacy, 0).expect("setup");
            loader
                .load_legacy(&legacy[used..], used as u64)
                .expect("part");
        },
    );
    let mut back = vec![0u8; SIZE];
    dst.read_slice(&mut back, GuestAddress(0))
        .expect("read back");
    assert!(back == mem, "the image decoded into guest memory differs");
    (encode_time, decode_time)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    let mem = half_random_image(SIZE);
    let saver = RamSaver::new(vec![RamBlock {
        name: "pc.ram",
        mem: &mem,
    }])
    .expect("one block");
    let before = peak_rss();
    let (legacy_sink, ber_sink) = time_pair(
        || {
            encode(&saver, Format::Legacy, std::io::sink());
        },
        || {
            encode(&saver, Format::Ber, std::io::sink());
        },
    );
    let pipe = time(|| {
        let mut cat = Command::new("cat")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("cat");
        let stdin = cat.stdin.take().expect("piped");
        encode(
            &saver,
            Format::Legacy,
            BufWriter::with_capacity(1 << 20, stdin),
        );
        cat.wait().expect("cat ends");
    });
    let encoder_peak = peak_rss().saturating_sub(before);

    let mut copy = vec![0u8; SIZE];
    copy.copy_from_slice(&mem); // touch it once
    let memcpy = time(|| copy.copy_from_slice(std::hint::black_box(&mem)));

    let mut legacy = Vec::with_capacity(SIZE / 2 + SIZE / 4096 * 32);
    encode(&saver, Format::Legacy, &mut legacy);
    let mut ber = Vec::new();
    encode(&saver, Format::Ber, &mut ber);
    // The pipe alone: the already-encoded bytes written into the same pipe.
    let pipe_alone = time(|| {
        let mut cat = Command::new("cat")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("cat");
        let mut stdin = cat.stdin.take().expect("piped");
        stdin.write_all(&legacy).expect("pipe");
        drop(stdin);
        cat.wait().expect("cat ends");
    });
    let (mut dst, mut dst2) = (vec![0u8; SIZE], vec![0u8; SIZE]);
    let (decode, ber_decode) = time_pair(
        || {
            let mut loader = RamLoader::new(vec![RamBlockMut {
                name: "pc.ram",
                mem: &mut dst,
            }]);
            let used = loader.load_legacy(&legacy, 0).expect("setup");
            loader
                .load_legacy(&legacy[used..], used as u64)
                .expect("part");
        },
        || {
            let mut loader = RamLoader::new(vec![RamBlockMut {
                name: "pc.ram",
                mem: &mut dst2,
            }]);
            loader.load_ber(&ber, 0).expect("BER");
        },
    );
    assert!(dst == mem, "the decoded image differs");
    assert!(dst2 == mem, "the BER-decoded image differs");
    drop(dst2);
    drop(copy);
    #[cfg(feature = "vm-memory")]
    let guest = Some(guest_memory(&mem, &legacy));
    #[cfg(not(feature = "vm-memory"))]
    let guest: Option<(Duration, Duration)> = None;
    let zero = vec![0u8; SIZE];
    let zero_saver = RamSaver::new(vec![RamBlock {
        name: "pc.ram",
        mem: &zero,
    }])
    .expect("block");
    let zero_ber = encode(&zero_saver, Format::Ber, std::io::sink());
    let zero_legacy = encode(&zero_saver, Format::Legacy, std::io::sink());
    let qemu = qemu_migration(&mem);

    let ratio = |d: Duration| ms(d) / ms(memcpy);
    println!("1 GiB guest, half random / half zero pages, interleaved; median of {RUNS} runs");
    println!("| what | ms | vs memcpy |");
    println!("|---|---:|---:|");
    println!("| memcpy of the 1 GiB | {:.1} | 1.00 |", ms(memcpy));
    println!(
        "| legacy encode into a discarding sink | {:.1} | {:.2} |",
        ms(legacy_sink),
        ratio(legacy_sink)
    );
    println!(
        "| legacy encode into a pipe (`cat > /dev/null`) | {:.1} | {:.2} |",
        ms(pipe),
        ratio(pipe)
    );
    println!(
        "| the same bytes, already encoded, into that pipe | {:.1} | {:.2} |",
        ms(pipe_alone),
        ratio(pipe_alone)
    );
    println!(
        "| legacy decode into a 1 GiB buffer | {:.1} | {:.2} |",
        ms(decode),
        ratio(decode)
    );
    println!(
        "| BER encode into a discarding sink | {:.1} | {:.2} |",
        ms(ber_sink),
        ratio(ber_sink)
    );
    println!(
        "| BER decode into a 1 GiB buffer | {:.1} | {:.2} |",
        ms(ber_decode),
        ratio(ber_decode)
    );
    if let Some((enc, dec)) = guest {
        println!(
            "| legacy encode from vm-memory guest memory, into a sink | {:.1} | {:.2} |",
            ms(enc),
            ratio(enc)
        );
        println!(
            "| legacy decode into vm-memory guest memory | {:.1} | {:.2} |",
            ms(dec),
            ratio(dec)
        );
    }
    match qemu {
        Some(q) => println!(
            "| QEMU 7.2 migrating the image (total-time) | {q:.0} | {:.2} |",
            q / ms(memcpy)
        ),
        None => println!("| QEMU 7.2 migrating the image | not measured (no QEMU) | |"),
    }
    println!();
    println!(
        "BER encode / legacy encode: {:.2}",
        ms(ber_sink) / ms(legacy_sink)
    );
    println!(
        "BER decode / legacy decode: {:.2}",
        ms(ber_decode) / ms(decode)
    );
    if let Some(q) = qemu {
        println!(
            "QEMU's migration / our legacy encode into a pipe: {:.1}x",
            q / ms(pipe)
        );
        println!(
            "QEMU's migration / our legacy encode into a sink: {:.1}x",
            q / ms(legacy_sink)
        );
    }
    println!(
        "sizes: legacy {} bytes, BER {} bytes",
        legacy.len(),
        ber.len()
    );
    println!("all-zero 1 GiB: legacy {zero_legacy} bytes, BER {zero_ber} bytes");
    println!(
        "encoder peak memory beyond the image: {} KiB",
        encoder_peak / 1024
    );
}
