//! Downtime and total time of a live migration of the same running guest (the
//! counter guest, 128 MiB, one vCPU, KVM), side by side in one run:
//! QEMU -> QEMU, QEMU -> the `vmm` (`kvm_vmm`), and the `vmm` -> QEMU, for QEMU 10.0
//! (or 7.2 where 10.0 is absent). Downtime is the source's: from its vCPU's stop to
//! the stream's end written (QEMU's `downtime` of `query-migrate`, the VMM's
//! `stopped_for`); the VMM as a destination also reports the time from the
//! stream's last byte to its vCPU running (it reads the device sections then).
//!
//! `cargo bench -p vmstate-examples --bench downtime` (docs/KVM.md has a run).

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
mod bench {
    use std::io::BufWriter;
    use std::net::TcpListener;
    use std::path::{Path, PathBuf};
    use std::time::{Duration, Instant};
    use vmstate_examples::counter_guest;
    use vmstate_examples::kvm_vmm::{incoming, qemu, Vm};
    use vmstate_runtime::Format;
    use vmstate_test_support::qmp::{connect_when_listening, free_port, Peer, Qemu, Release};

    const MIB: u32 = 128;
    const RUNS: usize = 3;

    /// One migration's times, ms.
    #[derive(Clone, Copy, Default)]
    struct Times {
        downtime: f64,
        total: f64,
        /// The VMM as a destination: stream end -> vCPU running.
        tail: f64,
    }

    /// A QEMU running the counter guest, its RAM filled.
    fn source(peer: Peer, dir: &Path, kernel: &Path, name: &str) -> Qemu {
        let k = kernel.to_str().expect("utf-8 path");
        let mut q = peer.start(dir, name, MIB, &["-smp", "1", "-kernel", k]);
        let last = (u64::from(MIB) << 20) - 4096;
        while q.read_u32(last).expect("QMP") != last as u32 {
            std::thread::sleep(Duration::from_millis(50));
        }
        q
    }

    /// A QEMU with the same machine arguments, `-incoming` on a loopback port.
    fn destination(peer: Peer, dir: &Path, kernel: &Path) -> (Qemu, u16) {
        let port = free_port();
        let uri = format!("tcp:127.0.0.1:{port}");
        let k = kernel.to_str().expect("utf-8 path");
        let q = peer.start(
            dir,
            "dst",
            MIB,
            &["-smp", "1", "-kernel", k, "-incoming", &uri],
        );
        (q, port)
    }

    /// QEMU's own figures of the migration it completed.
    fn qemu_times(q: &mut Qemu) -> Times {
        let (status, r) = q.wait_migration().expect("QMP");
        assert_eq!(status, "completed", "{r}");
        Times {
            downtime: r["downtime"].as_f64().unwrap_or(f64::NAN),
            total: r["total-time"].as_f64().unwrap_or(f64::NAN),
            tail: f64::NAN,
        }
    }

    fn qemu_to_qemu(peer: Peer, dir: &Path, kernel: &Path) -> Times {
        let mut src = source(peer, dir, kernel, "src");
        let (_dst, port) = destination(peer, dir, kernel);
        let uri = format!("tcp:127.0.0.1:{port}");
        std::thread::sleep(Duration::from_millis(200));
        src.execute("migrate", serde_json::json!({ "uri": uri }))
            .expect("migrate");
        qemu_times(&mut src)
    }

    fn qemu_to_vmm(peer: Peer, dir: &Path, kernel: &Path) -> (Times, Vm, incoming::Received) {
        let mut src = source(peer, dir, kernel, "src");
        let vm = Vm::new(MIB.into()).expect("VM");
        let listener = TcpListener::bind("127.0.0.1:0").expect("port");
        let uri = format!("tcp:{}", listener.local_addr().expect("bound"));
        src.execute("migrate", serde_json::json!({ "uri": uri }))
            .expect("migrate");
        let (mut conn, _) = listener.accept().expect("QEMU connects");
        let mut r = incoming::receive(&mut vm.ram().expect("RAM"), &mut conn).expect("received");
        let ended = Instant::now();
        r.apply(&vm).expect("applied");
        let mut t = qemu_times(&mut src);
        // The device sections were read after the stream's end, inside `receive`;
        // from there to the vCPU running.
        t.tail = ended.elapsed().as_secs_f64() * 1e3;
        (t, vm, r)
    }

    fn vmm_to_qemu(peer: Peer, dir: &Path, kernel: &Path) -> Times {
        let (_dst, port) = destination(peer, dir, kernel);
        let mut vm = Vm::new(MIB.into()).expect("VM");
        vm.load_kernel(&counter_guest::kernel(MIB)).expect("kernel");
        let running = vm.run().expect("run");
        // As long as QEMU's guest ran before its migration: its RAM filled.
        std::thread::sleep(Duration::from_secs(2));
        let m = qemu::migrate(
            &mut vm,
            running,
            qemu::Origin::Booted(peer.machine),
            BufWriter::with_capacity(1 << 20, connect_when_listening(port)),
            Format::Legacy,
            |_| {},
        )
        .map_err(|(e, _)| e)
        .expect("migrated");
        Times {
            downtime: m.stopped_for.as_secs_f64() * 1e3,
            total: m.total.as_secs_f64() * 1e3,
            tail: f64::NAN,
        }
    }

    fn median(mut v: Vec<f64>) -> f64 {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    }

    fn row(what: &str, runs: &[Times], base: &[Times]) {
        let pick = |r: &[Times], f: fn(&Times) -> f64| median(r.iter().map(f).collect());
        let (d, t) = (pick(runs, |t| t.downtime), pick(runs, |t| t.total));
        let (bd, bt) = (pick(base, |t| t.downtime), pick(base, |t| t.total));
        let tail = pick(runs, |t| t.tail);
        let tail = if tail.is_nan() {
            "".into()
        } else {
            format!("{tail:.1}")
        };
        println!(
            "| {what} | {d:.1} | {:.2} | {t:.0} | {:.2} | {tail} |",
            d / bd,
            t / bt
        );
    }

    pub fn main() {
        if !vmstate_test_support::testing::kvm_available() {
            return;
        }
        let release = match Release::Qemu10_0.available() {
            true => Release::Qemu10_0,
            false if Release::Qemu7_2.available() => Release::Qemu7_2,
            false => return,
        };
        let peer = match release {
            Release::Qemu10_0 => Peer::NEWEST[1],
            Release::Qemu7_2 => Peer::NEWEST[0],
        };
        let dir: PathBuf =
            std::env::temp_dir().join(format!("vmstate-bench-downtime-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let kernel = dir.join("counter.kernel");
        std::fs::write(&kernel, counter_guest::kernel(MIB)).expect("kernel");
        let (mut qq, mut qv, mut vq) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..RUNS {
            qq.push(qemu_to_qemu(peer, &dir, &kernel));
            qv.push(qemu_to_vmm(peer, &dir, &kernel).0);
            vq.push(vmm_to_qemu(peer, &dir, &kernel));
        }
        println!(
            "Counter guest, {MIB} MiB, 1 vCPU, KVM, loopback TCP, QEMU {} ({}); median of {RUNS} runs, the three kinds alternating",
            release.version(),
            peer.machine
        );
        println!("| migration | downtime ms | vs QEMU -> QEMU | total ms | vs QEMU -> QEMU | VMM destination: stream end -> running, ms |");
        println!("|---|---:|---:|---:|---:|---:|");
        row("QEMU -> QEMU", &qq, &qq);
        row("QEMU -> vmm", &qv, &qq);
        row("vmm -> QEMU", &vq, &qq);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
fn main() {
    bench::main();
}

#[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
fn main() {}
