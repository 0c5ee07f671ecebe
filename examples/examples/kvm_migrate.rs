//! Live migration of a running KVM guest between two processes over TCP on loopback
//! (`vmstate_test_support::kvm_live`): the source saves a registry live while the guest
//! runs (every page, then the pages KVM's dirty log reports, round after round),
//! stops the vCPU, and completes the stream with what is still dirty, the vCPU and
//! the VM; the destination, a second process, loads the stream from its socket as it
//! arrives and runs the guest on. The source checks what the destination's guest
//! reports against an uninterrupted run.
//!
//! `cargo run --release --example kvm_migrate` (QEMU's legacy format), or
//! `cargo run --release --example kvm_migrate -- ber`.

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
mod live {
    use indicatif::{ProgressBar, ProgressStyle};
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;
    use std::process::{Command, Stdio};
    use vmstate_runtime::Format;
    use vmstate_test_support::kvm_guest::Report;
    use vmstate_test_support::kvm_live::{self, Error};

    /// Reports the destination prints after the migration.
    const AFTER: usize = 2000;

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
        let bar = ProgressBar::new_spinner();
        bar.set_style(ProgressStyle::with_template("{spinner} {msg}")?);
        // At least three dirty rounds, to show the iteration.
        let m = kvm_live::source(port, format, 3, &bar)?;
        bar.finish_and_clear();
        let after: Vec<Report> = lines
            .map(|l| Ok::<_, Error>(Report::from_str_radix(l?.trim(), 16)?))
            .collect::<Result<_, _>>()?;
        child.wait()?;

        println!(
            "live migration of a running KVM guest over TCP (127.0.0.1:{port}), {format:?} format"
        );
        println!("| part | pages | bytes |");
        println!("|---|---:|---:|");
        let n = m.parts.len();
        for (i, (pages, bytes)) in m.parts.iter().enumerate() {
            let name = if i + 1 == n {
                "stop-and-copy (RAM, vCPU, VM)".to_owned()
            } else {
                format!("round {}", i + 1)
            };
            println!("| {name} | {pages} | {bytes} |");
        }
        println!("stream: {} bytes", m.total);
        println!(
            "downtime (vCPU stopped -> destination running): {:.2} ms",
            m.downtime.as_secs_f64() * 1e3
        );
        println!(
            "the guest ran {} steps on the source, {} on the destination",
            m.before.len(),
            after.len()
        );
        let exact = kvm_live::continues_exactly(&m.before, &after)?;
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
        let reports = kvm_live::destination(listener, AFTER)?;
        let mut out = std::io::stdout().lock();
        for r in reports {
            writeln!(out, "{r:08x}")?;
        }
        Ok(())
    }
}

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
fn main() -> Result<(), vmstate_test_support::kvm_live::Error> {
    match std::env::args().nth(1).as_deref() {
        Some("--destination") => live::destination(),
        Some("ber") => live::source(vmstate_runtime::Format::Ber),
        _ => live::source(vmstate_runtime::Format::Legacy),
    }
}

#[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
fn main() {
    eprintln!("kvm_migrate needs Linux on x86-64 with /dev/kvm");
}
