//! Live migration of the [`kvm_guest`](crate::kvm_guest) over a TCP connection: the
//! source saves a registry live ([`Registry::live_save`]) while the guest runs on its
//! vCPU thread, its RAM section ([`LiveRam`]) sending every page, then round after
//! round the pages KVM's dirty log reports; then it stops the vCPU, captures it and
//! the VM, and completes the stream. The destination loads the stream as it arrives
//! ([`Registry::load_from`]), restores, and says `running`.
//!
//! The `kvm_migrate` example runs the two in separate processes; the tests in one.

use crate::kvm_guest::{dirty_pages, run_until, Guest, Report, BLOCK, MEM_SIZE};
use indicatif::ProgressBar;
use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use vm_memory::GuestAddress;
use vmstate_runtime::kvm::{self as vkvm, VcpuState, VmWideState};
use vmstate_runtime::ram::{GuestRange, LiveRam, RamBlock, RamBlockMut, RamLoader, RamSaver};
use vmstate_runtime::stream::Registry;
use vmstate_runtime::Format;

/// Any failure of the migration.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

const MACHINE: &str = "vmstate-kvm-guest";

/// What the source saw.
#[derive(Debug)]
pub struct Migration {
    /// Per RAM part: pages, and the stream bytes it took (the last row is the
    /// stop-and-copy: the last RAM part, the vCPU, the VM and the trailer).
    pub parts: Vec<(u64, u64)>,
    /// The whole stream's bytes.
    pub total: u64,
    /// From the vCPU's stop to the destination's `running`.
    pub downtime: Duration,
    /// What the guest reported on the source.
    pub before: Vec<Report>,
}

/// Migrates a freshly booted guest to the destination listening on `port`, in
/// `format`, with at least `min_rounds` dirty rounds while the guest runs.
pub fn source(
    port: u16,
    format: Format,
    min_rounds: usize,
    bar: &ProgressBar,
) -> Result<Migration, Error> {
    let mut conn = TcpStream::connect(("127.0.0.1", port))?;
    conn.set_nodelay(true)?;
    let mut g = Guest::new(true)?;
    g.boot()?;
    // The devices' shapes for the stream's description; their final state is
    // captured once the guest stops.
    let (mut vcpu_state, mut vm_state) = g.capture()?;
    let stop = AtomicBool::new(false);
    let (vcpu, mem, vm, host) = g.split();
    let (before, stopped_at, parts, total) = std::thread::scope(|s| -> Result<_, Error> {
        let stop = &stop;
        // The vCPU comes back with its reports, to be captured.
        let runner = s.spawn(move || {
            let reports = run_until(vcpu, |_| stop.load(Ordering::Relaxed));
            (reports, vcpu)
        });
        let block = GuestRange::new(mem, GuestAddress(0), MEM_SIZE as u64)?;
        let saver = RamSaver::new(vec![RamBlock {
            name: BLOCK,
            mem: &block,
        }])?;
        let mut ram = LiveRam::new(saver, || Ok(vec![dirty_pages(vm, mem)?]));
        (ram.converged, ram.min_rounds) = (4, min_rounds);
        let mut rounds = Vec::new(); // stream bytes of each round
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
        let stop_and_copy = total - rounds.iter().sum::<u64>();
        let parts = ram
            .parts()
            .iter()
            .map(|p| p.zero_pages + p.data_pages)
            .zip(rounds.into_iter().chain(std::iter::once(stop_and_copy)))
            .collect();
        Ok((before, stopped_at, parts, total))
    })?;
    conn.shutdown(Shutdown::Write)?;
    let mut ack = String::new();
    BufReader::new(&conn).read_line(&mut ack)?;
    let downtime = stopped_at.elapsed();
    if ack.trim() != "running" {
        return Err(format!("destination said {ack:?}").into());
    }
    Ok(Migration {
        parts,
        total,
        downtime,
        before,
    })
}

/// The destination: a VM prepared before the source connects to `listener`, loaded
/// from the socket as the stream arrives; it says `running`, then runs `after` steps
/// and returns their reports.
pub fn destination(listener: TcpListener, after: usize) -> Result<Vec<Report>, Error> {
    let mut g = Guest::new(false)?;
    let (mut conn, _) = listener.accept()?;
    let (mut vcpu, mut vm) = (VcpuState::default(), VmWideState::default());
    {
        let mut block = g.ram();
        let mut ram = RamLoader::new(vec![RamBlockMut {
            name: BLOCK,
            mem: &mut block,
        }]);
        let mut reg = Registry::new(MACHINE);
        reg.iterative("ram", 0, &mut ram);
        reg.device("kvm-vcpu", 0, &mut vcpu);
        reg.device("kvm-vm", 0, &mut vm);
        reg.load_from(BufReader::with_capacity(1 << 20, &conn))?;
    }
    g.restore(&vcpu, &vm)?;
    conn.write_all(b"running\n")?;
    Ok(g.run(after)?)
}

/// Whether `before` then `after` is what an uninterrupted guest reports.
pub fn continues_exactly(before: &[Report], after: &[Report]) -> Result<bool, Error> {
    let mut reference = Guest::new(false)?;
    reference.boot()?;
    let expected = reference.run(before.len() + after.len())?;
    Ok(expected[..before.len()] == *before && expected[before.len()..] == *after)
}
