//! Live migration of a running KVM guest between two processes over TCP on loopback.
//!
//! The source runs the guest (`kvm_guest`'s 64-bit program) on its vCPU thread
//! while the main thread pre-copies RAM: the block list, every page, then round after
//! round the pages KVM's dirty log reports, until few remain. Then it stops the vCPU,
//! sends what is still dirty, the vCPU and the VM state (the registry's sections, in
//! QEMU's framing), and waits for the destination (a second process) to report the
//! guest running. The destination prints what the guest reports next; the source
//! checks it against an uninterrupted run.
//!
//! `cargo run --release --example kvm_migrate`

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
    use vmstate_runtime::io::Writer;
    use vmstate_runtime::kvm::{VcpuState, VmState};
    use vmstate_runtime::ram::{Pages, RamBlock, RamLoader, RamSaver, RAM_VERSION};
    use vmstate_runtime::stream::{
        put_section, tag, Configuration, Registry, SectionKind, MAGIC, VERSION,
    };
    use vmstate_runtime::{legacy, VMState};

    type Error = Box<dyn std::error::Error>;

    /// Reports the destination prints after the migration.
    const AFTER: usize = 2000;
    /// Pre-copy stops when a round finds this few dirty pages (after at least
    /// `MIN_ROUNDS`, to show the iteration), or after `MAX_ROUNDS`.
    const CONVERGED: u32 = 4;
    const MIN_ROUNDS: usize = 3;
    const MAX_ROUNDS: usize = 10;
    const MACHINE: &str = "vmstate-kvm-guest";

    fn section(
        out: &mut impl Write,
        kind: SectionKind,
        id: u32,
        header: Option<(&str, u32, u32)>,
        body: &[u8],
    ) -> Result<usize, Error> {
        let mut bytes = Vec::with_capacity(body.len() + 32);
        put_section(&mut bytes, Format::Legacy, kind, id, header, body)?;
        out.write_all(&bytes)?;
        Ok(bytes.len())
    }

    fn part(saver: &RamSaver<'_>, pages: Pages<'_>) -> Result<(Vec<u8>, u64), Error> {
        let mut w = Writer::new(Vec::new());
        let stats = saver.write_part(Format::Legacy, pages, &mut w)?;
        Ok((w.into_inner(), stats.zero_pages + stats.data_pages))
    }

    pub fn source() -> Result<(), Error> {
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
        let mut head = Writer::new(Vec::new());
        head.put(&MAGIC.to_be_bytes())?;
        head.put(&VERSION.to_be_bytes())?;
        head.put(&[tag::CONFIGURATION])?;
        let config = Configuration {
            len: MACHINE.len() as u32,
            name: MACHINE.as_bytes().to_vec(),
            ..Configuration::default()
        };
        config.legacy_save_at(&mut head, 1)?;
        conn.write_all(&head.into_inner())?;

        let bar = ProgressBar::new_spinner();
        bar.set_style(ProgressStyle::with_template("{spinner} {msg}")?);
        let stop = AtomicBool::new(false);
        let mut rounds: Vec<(u64, usize)> = Vec::new();
        let (vcpu, mem, vm) = g.split();
        let (before, stopped_at, final_pages, final_bytes) =
            std::thread::scope(|s| -> Result<_, Error> {
                let runner = s.spawn(|| run_until(vcpu, |_| stop.load(Ordering::Relaxed)));
                dirty_pages(vm)?; // start tracking from here
                let saver = RamSaver::new(vec![RamBlock {
                    name: "pc.ram",
                    mem,
                }])?;
                let mut setup = Writer::new(Vec::new());
                saver.write_setup(Format::Legacy, &mut setup)?;
                section(
                    &mut conn,
                    SectionKind::Start,
                    0,
                    Some(("ram", 0, RAM_VERSION)),
                    &setup.into_inner(),
                )?;
                // The pages to send next: all of them, then what the last round dirtied.
                let mut pending: Option<Vec<u64>> = None;
                for round in 1..=MAX_ROUNDS {
                    let (body, n) = match &pending {
                        None => part(&saver, Pages::All)?,
                        Some(map) => part(&saver, Pages::Dirty(&[map.as_slice()]))?,
                    };
                    let sent = section(&mut conn, SectionKind::Part, 0, None, &body)?;
                    rounds.push((n, sent));
                    bar.set_message(format!(
                        "round {round}: {n} pages, {sent} bytes; guest running"
                    ));
                    std::thread::sleep(Duration::from_millis(20));
                    let map = dirty_pages(vm)?;
                    let dirty: u32 = map.iter().map(|w| w.count_ones()).sum();
                    pending = Some(map);
                    if dirty <= CONVERGED && round >= MIN_ROUNDS {
                        break;
                    }
                }
                // Stop and copy: what the last round dirtied, and what changed since.
                stop.store(true, Ordering::Relaxed);
                let before = runner.join().map_err(|_| "vCPU thread panicked")??;
                let stopped_at = Instant::now();
                let mut last = dirty_pages(vm)?;
                for (a, b) in last.iter_mut().zip(pending.unwrap_or_default()) {
                    *a |= b;
                }
                let (body, n) = part(&saver, Pages::Dirty(&[last.as_slice()]))?;
                let sent = section(&mut conn, SectionKind::End, 0, None, &body)?;
                Ok((before, stopped_at, n, sent))
            })?;
        bar.finish_and_clear();
        let (vcpu_state, vm_state) = g.capture()?;
        let mut device_bytes = 0;
        let mut body = Vec::new();
        legacy::save(&vcpu_state, &mut body, VcpuState::DESC.version)?;
        device_bytes += section(
            &mut conn,
            SectionKind::Full,
            1,
            Some(("kvm-vcpu", 0, 1)),
            &body,
        )?;
        body.clear();
        legacy::save(&vm_state, &mut body, VmState::DESC.version)?;
        device_bytes += section(
            &mut conn,
            SectionKind::Full,
            2,
            Some(("kvm-vm", 0, 1)),
            &body,
        )?;
        conn.write_all(&[tag::EOF])?;
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

        println!("live migration of a running KVM guest over TCP (127.0.0.1:{port})");
        println!("| round | pages | bytes |");
        println!("|---:|---:|---:|");
        for (i, (n, b)) in rounds.iter().enumerate() {
            println!("| {} | {n} | {b} |", i + 1);
        }
        println!("| stop-and-copy RAM | {final_pages} | {final_bytes} |");
        println!("| vCPU + VM state | | {device_bytes} |");
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
    if std::env::args().nth(1).as_deref() == Some("--destination") {
        live::destination()
    } else {
        live::source()
    }
}

#[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
fn main() {
    eprintln!("kvm_migrate needs Linux on x86-64 with /dev/kvm");
}
