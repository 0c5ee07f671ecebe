//! A reference VMM on KVM and `vm-memory` (`vmstate_examples::kvm_vmm`) that takes a
//! running guest from stock QEMU, or boots one of its own, runs it, and live-migrates
//! it into stock QEMU, which runs it on.
//!
//! ```text
//! # a guest of its own, into QEMU:
//! qemu-system-x86_64 -M pc-i440fx-10.0 -accel kvm -m 32 -cpu qemu64 -nodefaults \
//!     -incoming tcp:127.0.0.1:4444 &
//! cargo run --release --example vmm -- --kernel guest.bin --mem 32 \
//!     --machine pc-i440fx-10.0 --migrate-to tcp:127.0.0.1:4444 --after 2
//!
//! # from QEMU (`migrate tcp:127.0.0.1:5555` on its monitor), then into a new QEMU
//! # started as above:
//! cargo run --release --example vmm -- --incoming tcp:127.0.0.1:5555 --mem 32 \
//!     --migrate-to tcp:127.0.0.1:4444 --after 2
//! ```
//!
//! `--mem` is QEMU's `-m` (its `pc.ram` must fit the VM's memory exactly).
//! With `--incoming` the machine type is the stream's, and the stream QEMU's format
//! or vmstate's BER form (from a `vmstate bridge --to ber` in front of QEMU). `--kernel` takes a
//! multiboot kernel with load addresses (the a.out kludge) or a flat binary (loaded
//! and entered at 1 MiB), entered in 32-bit protected mode with interrupts off;
//! `--format ber` sends vmstate's BER form (to a `vmstate bridge` in front of QEMU).
//! Without `--kernel`, the guest is the test suite's counter guest, which keeps
//! incrementing a word in each page of `[2 MiB, 6 MiB)`.

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
fn main() {
    if let Err(e) = vmm::main() {
        eprintln!("vmm: {e}");
        std::process::exit(1);
    }
}

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
mod vmm {
    use std::io::BufWriter;
    use std::net::{TcpListener, TcpStream};
    use std::time::{Duration, Instant};
    use vmstate_examples::kvm_vmm::{incoming, qemu, Error, Vm};
    use vmstate_runtime::Format;

    struct Args {
        incoming: Option<String>,
        kernel: Option<String>,
        mem_mib: u64,
        machine: String,
        migrate_to: Option<String>,
        after: f64,
        format: Format,
    }

    fn args() -> Result<Args, Error> {
        let mut a = Args {
            incoming: None,
            kernel: None,
            mem_mib: 32,
            machine: "pc-i440fx-10.0".into(),
            migrate_to: None,
            after: 2.0,
            format: Format::Legacy,
        };
        let mut it = std::env::args().skip(1);
        while let Some(flag) = it.next() {
            let mut value = || it.next().ok_or(format!("{flag} needs a value"));
            match flag.as_str() {
                "--kernel" => a.kernel = Some(value()?),
                "--mem" => a.mem_mib = value()?.parse()?,
                "--machine" => a.machine = value()?,
                "--migrate-to" => a.migrate_to = Some(value()?),
                "--after" => a.after = value()?.parse()?,
                "--format" => {
                    a.format = match value()?.as_str() {
                        "legacy" => Format::Legacy,
                        "ber" => Format::Ber,
                        other => return Err(format!("--format {other}: legacy or ber").into()),
                    }
                }
                "--incoming" => a.incoming = Some(value()?),
                other => return Err(format!("unknown argument {other}").into()),
            }
        }
        Ok(a)
    }

    /// `tcp:HOST:PORT`'s address.
    fn tcp(uri: &str) -> Result<&str, Error> {
        uri.strip_prefix("tcp:")
            .ok_or_else(|| format!("{uri}: tcp:HOST:PORT").into())
    }

    pub fn main() -> Result<(), Error> {
        let a = args()?;
        let mut vm = Vm::new(a.mem_mib)?;
        let mut received = match &a.incoming {
            Some(uri) => {
                let listener = TcpListener::bind(tcp(uri)?)?;
                println!("listening on {uri}");
                let (mut conn, peer) = listener.accept()?;
                let started = Instant::now();
                let mut r = incoming::receive_any(&mut vm.ram()?, &mut conn)?;
                r.apply(&vm)?;
                println!(
                    "received from {peer} ({}): {} RAM blocks, {} device sections, {:.2} s",
                    r.machine,
                    r.blocks.len(),
                    r.devices.sections.len(),
                    started.elapsed().as_secs_f64()
                );
                Some(r)
            }
            None => {
                let kernel = match &a.kernel {
                    Some(path) => std::fs::read(path).map_err(|e| format!("{path}: {e}"))?,
                    None => vmstate_examples::counter_guest::kernel(a.mem_mib as u32),
                };
                vm.load_kernel(&kernel)?;
                None
            }
        };
        let running = vm.run()?;
        println!("guest running ({} MiB)", a.mem_mib);
        let Some(to) = a.migrate_to else {
            // Runs until its guest stops.
            running.wait()?;
            return Ok(());
        };
        std::thread::sleep(Duration::from_secs_f64(a.after));
        let conn = match TcpStream::connect(tcp(&to)?) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("vmm: connecting to {to}: {e}; the guest runs on here (Ctrl-C ends it)");
                running.wait()?;
                return Err(e.into());
            }
        };
        conn.set_nodelay(true)?;
        let origin = match &mut received {
            Some(r) => qemu::Origin::FromQemu(r),
            None => qemu::Origin::Booted(&a.machine),
        };
        let sent = qemu::migrate(
            &mut vm,
            running,
            origin,
            BufWriter::with_capacity(1 << 20, conn),
            a.format,
            |line| println!("{line}"),
        );
        match sent {
            Ok(m) => {
                println!(
                    "migrated: {} bytes, pages per part {:?}, vCPU stopped for {:.1} ms, \
                     {:.2} s in all; the guest runs in QEMU",
                    m.bytes,
                    m.pages,
                    m.stopped_for.as_secs_f64() * 1e3,
                    m.total.as_secs_f64()
                );
                Ok(())
            }
            Err((e, Some(running))) => {
                eprintln!("vmm: migration failed: {e}; the guest runs on here (Ctrl-C ends it)");
                running.wait()?;
                Err(e)
            }
            Err((e, None)) => Err(e),
        }
    }
}

#[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
fn main() {
    eprintln!("vmm: KVM on Linux x86-64 only");
    std::process::exit(1);
}
