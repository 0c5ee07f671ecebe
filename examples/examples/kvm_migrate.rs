//! Live migration of a running KVM guest between two processes over TCP on loopback.
//!
//! The source runs the guest (`kvm_guest`'s 64-bit program) on its vCPU thread
//! while the main thread saves a registry live (`Registry::live_save`): its RAM
//! section (`LiveRam`) sends every page, then round after round the pages KVM's dirty
//! log reports, until few remain. Then the source stops the vCPU, captures it and the
//! VM, and completes the stream: what is still dirty, the vCPU and the VM state. The
//! destination (a second process) loads the stream from its socket as it arrives
//! (`Registry::load_from`) and reports the guest running; it prints what the guest
//! reports next, which the source checks against an uninterrupted run.
//!
//! `cargo run --release --example kvm_migrate` (QEMU's legacy format), or
//! `cargo run --release --example kvm_migrate -- ber`.

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
mod live {
    use indicatif::{ProgressBar, ProgressStyle};
    use std::io::{BufRead, BufReader, Write};
    use std::net::{Shutdown, TcpListener, TcpStream};
    use std::process::{Command, Stdio};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::{Duration, Instant};
    use vmstate_examples::kvm_guest::{dirty_pages, run_until, Guest, Report};
    use vmstate_runtime::dump::Format;
    use vmstate_runtime::kvm::{self as vkvm, VcpuState, VmState};
    use vmstate_runtime::ram::{LiveRam, RamBlock, RamLoader, RamSaver};
    use vmstate_runtime::stream::Registry;

    type Error = Box<dyn std::error::Error>;

    /// Reports the destination prints after the migration.
    const AFTER: usize = 2000;
    const MACHINE: &str = "vmstate-kvm-guest";

    pub fn source(format: Format) -> Result<(), Error> {
        let mut child = Command::new(std::env::current_exe()?)
            .arg("--destination")
            .stdout(Stdio::piped())
            .spawn()?;
        let mut lines = BufReader::new(child.stdout.take().ok_or("no stdout")?).lines();
        let port: u16 = lines
            .next()
            .ok_or("destination exited")??
            .strip_prefix("listening ")
            .ok_or("unexpected destination output")?
            .parse()?;
        let mut conn = TcpStream::connect(("127.0.0.1", port))?;
        conn.set_nodelay(true)?;

        let mut g = Guest::new(true)?;
        g.boot()?;
        // The devices' shapes for the stream's description; their final state is
        // captured once the guest stops.
        let (mut vcpu_state, mut vm_state) = g.capture()?;
        let bar = ProgressBar::new_spinner();
        bar.set_style(ProgressStyle::with_template("{spinner} {msg}")?);
        let stop = AtomicBool::new(false);
        let (vcpu, mem, vm, host) = g.split();
        let (before, stopped_at, rounds, total) = std::thread::scope(|s| -> Result<_, Error> {
            let stop = &stop;
            // The vCPU comes back with its reports, to be captured.
            let runner = s.spawn(move || {
                let reports = run_until(vcpu, |_| stop.load(Ordering::Relaxed));
                (reports, vcpu)
            });
            let saver = RamSaver::new(vec![RamBlock {
                name: "pc.ram",
                mem,
            }])?;
            let mut ram = LiveRam::new(saver, || Ok(vec![dirty_pages(vm)?]));
            // At least three dirty rounds, to show the iteration.
            (ram.converged, ram.min_rounds) = (4, 3);
            let mut rounds = Vec::new(); // bytes of each round
            let (stopped_at, before, total) = {
                let mut reg = Registry::new(MACHINE);
                reg.iterative("ram", 0, &mut ram);
                reg.device("kvm-vcpu", 0, &mut vcpu_state);
                reg.device("kvm-vm", 0, &mut vm_state);
                let mut live = reg.live_save(format, &mut conn)?;
                let mut sent = live.written();
                // Pre-copy while the guest runs.
                loop {
                    let done = live.iterate()?;
                    rounds.push(live.written() - sent);
                    sent = live.written();
                    bar.set_message(format!(
                        "round {}: {} bytes; guest running",
                        rounds.len(),
                        rounds[rounds.len() - 1]
                    ));
                    if done {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                // Stop and copy.
                stop.store(true, Ordering::Relaxed);
                let (reports, vcpu) = runner.join().map_err(|_| "vCPU thread panicked")?;
                let stopped_at = Instant::now();
                live.replace("kvm-vcpu", 0, vkvm::capture(host, vcpu)?)?;
                live.replace("kvm-vm", 0, vkvm::capture_vm(vm, true, true)?)?;
                let total = live.complete()?;
                (stopped_at, reports?, total)
            };
            let mut per_round: Vec<(u64, u64)> = ram
                .parts()
                .iter()
                .map(|p| p.zero_pages + p.data_pages)
                .zip(rounds.iter().copied().chain(std::iter::once(0)))
                .collect();
            // The last part is the stop-and-copy one, in `total`'s remainder.
            if let Some(last) = per_round.last_mut() {
                last.1 = total - rounds.iter().sum::<u64>();
            }
            Ok((before, stopped_at, per_round, total))
        })?;
        bar.finish_and_clear();
        conn.shutdown(Shutdown::Write)?;
        let mut ack = String::new();
        BufReader::new(&conn).read_line(&mut ack)?;
        let downtime = stopped_at.elapsed();
        if ack.trim() != "running" {
            return Err(format!("destination said {ack:?}").into());
        }
        let after: Vec<Report> = lines
            .map(|l| Ok::<_, Error>(Report::from_str_radix(l?.trim(), 16)?))
            .collect::<Result<_, _>>()?;
        child.wait()?;

        println!(
            "live migration of a running KVM guest over TCP (127.0.0.1:{port}), {format:?} format"
        );
        println!("| part | pages | bytes |");
        println!("|---:|---:|---:|");
        let n = rounds.len();
        for (i, (pages, bytes)) in rounds.iter().enumerate() {
            let name = if i + 1 == n {
                "stop-and-copy (RAM, vCPU, VM)".to_owned()
            } else {
                format!("round {}", i + 1)
            };
            println!("| {name} | {pages} | {bytes} |");
        }
        println!("stream: {total} bytes");
        println!(
            "downtime (vCPU stopped -> destination running): {:.2} ms",
            downtime.as_secs_f64() * 1e3
        );
        println!(
            "the guest ran {} steps on the source, {} on the destination",
            before.len(),
            after.len()
        );
        // Check the destination against an uninterrupted run.
        let mut reference = Guest::new(false)?;
        reference.boot()?;
        let expected = reference.run(before.len() + after.len())?;
        let exact = expected[..before.len()] == before[..] && expected[before.len()..] == after[..];
        println!(
            "the destination continued the guest exactly: {}",
            if exact { "yes" } else { "NO" }
        );
        if exact {
            Ok(())
        } else {
            Err("the destination diverged".into())
        }
    }

    pub fn destination() -> Result<(), Error> {
        let listener = TcpListener::bind(("127.0.0.1", 0))?;
        println!("listening {}", listener.local_addr()?.port());
        std::io::stdout().flush()?;
        let mut g = Guest::new(false)?;
        let (mut conn, _) = listener.accept()?;
        let (mut vcpu, mut vm) = (VcpuState::default(), VmState::default());
        {
            // The stream loads as it arrives: each RAM round goes into the guest's
            // memory while the source is still sending the next.
            let mut ram = RamLoader::new(vec![g.ram_block_mut()]);
            let mut reg = Registry::new(MACHINE);
            reg.iterative("ram", 0, &mut ram);
            reg.device("kvm-vcpu", 0, &mut vcpu);
            reg.device("kvm-vm", 0, &mut vm);
            reg.load_from(std::io::BufReader::with_capacity(1 << 20, &conn))?;
        }
        g.restore(&vcpu, &vm)?;
        conn.write_all(b"running\n")?;
        let out = std::io::stdout();
        let mut out = out.lock();
        for r in g.run(AFTER)? {
            writeln!(out, "{r:08x}")?;
        }
        Ok(())
    }
}

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
fn main() -> Result<(), Box<dyn std::error::Error>> {
    match std::env::args().nth(1).as_deref() {
        Some("--destination") => live::destination(),
        Some("ber") => live::source(vmstate_runtime::dump::Format::Ber),
        _ => live::source(vmstate_runtime::dump::Format::Legacy),
    }
}

#[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
fn main() {
    eprintln!("kvm_migrate needs Linux on x86-64 with /dev/kvm");
}
