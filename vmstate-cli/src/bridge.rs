//! `vmstate bridge`: a migration converted as it flows, from one endpoint to
//! another, in bounded memory ([`dump::convert_stream`]). Two bridges put BER on
//! the wire between two unmodified QEMUs:
//!
//! ```text
//! QEMU -> bridge --to ber tcp-listen:4444 tcp:peer:5555 -> bridge --to legacy tcp-listen:5555 tcp:dst:6666 -> QEMU -incoming
//! ```

use crate::Failure;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::{Duration, Instant};
use vmstate_runtime::dump::{self, Limits, Progress};
use vmstate_runtime::Format;

/// Where a bridge reads or writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// `-`: standard input or output.
    Stdio,
    /// A file (a path, or `file:PATH`).
    File(PathBuf),
    /// `tcp-listen:[HOST:]PORT`: the first connection to this address.
    TcpListen(String),
    /// `tcp:HOST:PORT`: a connection to this address.
    Tcp(String),
    /// `unix-listen:PATH`: the first connection to this socket.
    UnixListen(PathBuf),
    /// `unix:PATH`: a connection to this socket.
    Unix(PathBuf),
}

impl FromStr for Endpoint {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (scheme, rest) = s.split_once(':').unwrap_or(("", s));
        Ok(match scheme {
            _ if s == "-" => Endpoint::Stdio,
            "tcp-listen" if rest.contains(':') => Endpoint::TcpListen(rest.into()),
            "tcp-listen" => Endpoint::TcpListen(format!("0.0.0.0:{rest}")),
            "tcp" => Endpoint::Tcp(rest.into()),
            "unix-listen" => Endpoint::UnixListen(rest.into()),
            "unix" => Endpoint::Unix(rest.into()),
            "file" => Endpoint::File(rest.into()),
            _ => Endpoint::File(s.into()),
        })
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Stdio => write!(f, "-"),
            Endpoint::File(p) => write!(f, "{}", p.display()),
            Endpoint::TcpListen(a) => write!(f, "tcp-listen:{a}"),
            Endpoint::Tcp(a) => write!(f, "tcp:{a}"),
            Endpoint::UnixListen(p) => write!(f, "unix-listen:{}", p.display()),
            Endpoint::Unix(p) => write!(f, "unix:{}", p.display()),
        }
    }
}

/// A connected stream of either kind.
enum Conn {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Conn {
    /// A TCP connection without Nagle's delay: the bridge buffers its writes
    /// itself, and the end of a migration (its last, small writes) must not wait
    /// for the peer's delayed acknowledgement at each hop.
    fn tcp(s: TcpStream) -> io::Result<Conn> {
        s.set_nodelay(true)?;
        Ok(Conn::Tcp(s))
    }
}

impl Endpoint {
    /// Connects or accepts; a listener says on stderr where it listens (an
    /// address with port 0 gets one from the system).
    fn connect(&self) -> io::Result<Option<Conn>> {
        Ok(Some(match self {
            Endpoint::Stdio | Endpoint::File(_) => return Ok(None),
            Endpoint::TcpListen(addr) => {
                let l = TcpListener::bind(addr)?;
                eprintln!("vmstate bridge: listening on tcp:{}", l.local_addr()?);
                Conn::tcp(l.accept()?.0)?
            }
            Endpoint::Tcp(addr) => Conn::tcp(TcpStream::connect(addr)?)?,
            Endpoint::UnixListen(path) => {
                let _ = std::fs::remove_file(path);
                let l = UnixListener::bind(path)?;
                eprintln!("vmstate bridge: listening on unix:{}", path.display());
                let conn = l.accept()?.0;
                let _ = std::fs::remove_file(path);
                Conn::Unix(conn)
            }
            Endpoint::Unix(path) => Conn::Unix(UnixStream::connect(path)?),
        }))
    }

    fn reader(&self) -> io::Result<Box<dyn Read>> {
        Ok(match (self.connect()?, self) {
            (Some(Conn::Tcp(s)), _) => Box::new(s),
            (Some(Conn::Unix(s)), _) => Box::new(s),
            (None, Endpoint::File(p)) => Box::new(std::fs::File::open(p)?),
            (None, _) => Box::new(io::stdin().lock()),
        })
    }

    fn writer(&self) -> io::Result<Box<dyn Write>> {
        Ok(match (self.connect()?, self) {
            (Some(Conn::Tcp(s)), _) => Box::new(s),
            (Some(Conn::Unix(s)), _) => Box::new(s),
            (None, Endpoint::File(p)) => Box::new(std::fs::File::create(p)?),
            (None, _) => Box::new(io::stdout().lock()),
        })
    }
}

/// Passes what it reads on to a copy (`--tap`).
struct Tee<R: Read, W: Write> {
    inner: R,
    copy: W,
}

impl<R: Read, W: Write> Read for Tee<R, W> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.copy.write_all(&buf[..n])?;
        Ok(n)
    }
}

/// Buffers between the endpoints and the converter: large enough that a page costs
/// no system call of its own.
const BUFFER: usize = 1 << 20;

/// Runs a bridge: opens `from` (accepting its connection first), then `to`,
/// converts what arrives to `format`, keeping a copy of what arrived in `tap`.
/// Progress goes to stderr when it is a terminal. On an error nothing more is
/// written and the output is closed: a destination QEMU sees its stream cut short
/// and fails its incoming migration.
pub fn run(
    from: &Endpoint,
    to: &Endpoint,
    format: Format,
    tap: Option<&PathBuf>,
) -> Result<Progress, Failure> {
    let input = from.reader().map_err(|e| Failure(format!("{from}: {e}")))?;
    let mut input: Box<dyn Read> = match tap {
        Some(path) => Box::new(Tee {
            inner: input,
            copy: BufWriter::with_capacity(
                BUFFER,
                std::fs::File::create(path)
                    .map_err(|e| Failure(format!("{}: {e}", path.display())))?,
            ),
        }),
        None => input,
    };
    let output = to.writer().map_err(|e| Failure(format!("{to}: {e}")))?;
    let mut input = BufReader::with_capacity(BUFFER, &mut input);
    let mut output = BufWriter::with_capacity(BUFFER, output);
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    let start = Instant::now();
    let done = dump::convert_stream(
        &mut input,
        &mut output,
        format,
        &Limits::default(),
        &mut |p| bar.set_message(describe(p, start.elapsed())),
    );
    bar.finish_and_clear();
    let p = done.map_err(|e| Failure(format!("{from} -> {to}: {e}")))?;
    output.flush().map_err(|e| Failure(format!("{to}: {e}")))?;
    let cpu = cpu_time().map_or(String::new(), |ns| {
        format!(", CPU {:.2} s", ns as f64 / 1e9)
    });
    let peak = peak_rss().map_or(String::new(), |kib| {
        format!(", peak RSS {:.1} MiB", kib as f64 / 1024.0)
    });
    eprintln!(
        "vmstate bridge: {}{cpu}{peak}",
        describe(&p, start.elapsed())
    );
    Ok(p)
}

/// The CPU time of this process's main thread, which converts, in nanoseconds
/// (`/proc/self/schedstat`), where Linux says it.
fn cpu_time() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/schedstat").ok()?;
    stat.split_whitespace().next()?.parse().ok()
}

/// This process's peak resident memory in KiB (`VmHWM`), where Linux says it.
fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// One line of progress: bytes each way, pages, sections and the input's rate.
fn describe(p: &Progress, elapsed: Duration) -> String {
    let mib = |b: u64| b as f64 / f64::from(1 << 20);
    let rate = mib(p.bytes_in) / elapsed.as_secs_f64().max(1e-3);
    format!(
        "{:.1} MiB in, {:.1} MiB out, {} pages in {} RAM parts, {} devices, {:.0} MiB/s",
        mib(p.bytes_in),
        mib(p.bytes_out),
        p.pages,
        p.parts,
        p.devices,
        rate
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_parse_as_documented() {
        let e = |s: &str| s.parse::<Endpoint>().unwrap();
        assert_eq!(e("-"), Endpoint::Stdio);
        assert_eq!(e("out.ber"), Endpoint::File("out.ber".into()));
        assert_eq!(e("file:a:b"), Endpoint::File("a:b".into()));
        assert_eq!(
            e("tcp-listen:4444"),
            Endpoint::TcpListen("0.0.0.0:4444".into())
        );
        assert_eq!(
            e("tcp-listen:127.0.0.1:0"),
            Endpoint::TcpListen("127.0.0.1:0".into())
        );
        assert_eq!(e("tcp:host:5555"), Endpoint::Tcp("host:5555".into()));
        assert_eq!(e("unix:/run/m.sock"), Endpoint::Unix("/run/m.sock".into()));
        assert_eq!(
            e("unix-listen:/run/m.sock"),
            Endpoint::UnixListen("/run/m.sock".into())
        );
    }
}
