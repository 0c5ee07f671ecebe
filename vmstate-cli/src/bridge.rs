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
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use vmstate_runtime::dump::{self, Carrier, Limits, Progress};
use vmstate_runtime::framing::return_path;
use vmstate_runtime::{framing, Format};

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

    /// A handle that closes this connection from another thread.
    fn closer(&self) -> io::Result<Conn> {
        Ok(match self {
            Conn::Tcp(s) => Conn::Tcp(s.try_clone()?),
            Conn::Unix(s) => Conn::Unix(s.try_clone()?),
        })
    }

    /// Ends the direction this side writes: the peer reads the end of the stream,
    /// and may still answer on the other direction.
    fn end_writes(&self) {
        let _ = match self {
            Conn::Tcp(s) => s.shutdown(Shutdown::Write),
            Conn::Unix(s) => s.shutdown(Shutdown::Write),
        };
    }

    /// Closes both directions: a reader or writer blocked on it returns.
    fn close(&self) {
        let _ = match self {
            Conn::Tcp(s) => s.shutdown(Shutdown::Both),
            Conn::Unix(s) => s.shutdown(Shutdown::Both),
        };
    }

    fn boxed_reader(self) -> Box<dyn Read + Send> {
        match self {
            Conn::Tcp(s) => Box::new(s),
            Conn::Unix(s) => Box::new(s),
        }
    }

    fn boxed_writer(self) -> Box<dyn Write + Send> {
        match self {
            Conn::Tcp(s) => Box::new(s),
            Conn::Unix(s) => Box::new(s),
        }
    }
}

/// A listening socket, kept after its first connection: a source that opens more
/// than one (multifd channels) is refused by name, not with "connection refused".
enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener),
}

impl Listener {
    fn accept(&self) -> io::Result<Conn> {
        match self {
            Listener::Tcp(l) => Conn::tcp(l.accept()?.0),
            Listener::Unix(l) => Ok(Conn::Unix(l.accept()?.0)),
        }
    }
}

/// One side of a bridge, opened: its connection (none for a file or `-`) and, for
/// a listening endpoint, the listener.
struct Opened {
    conn: Option<Conn>,
    listener: Option<Listener>,
}

impl Endpoint {
    /// Connects or accepts; a listener says on stderr where it listens (an
    /// address with port 0 gets one from the system).
    fn open(&self) -> io::Result<Opened> {
        let listener = match self {
            Endpoint::Stdio | Endpoint::File(_) => {
                return Ok(Opened {
                    conn: None,
                    listener: None,
                })
            }
            Endpoint::Tcp(addr) => {
                return Ok(Opened {
                    conn: Some(Conn::tcp(TcpStream::connect(addr)?)?),
                    listener: None,
                })
            }
            Endpoint::Unix(path) => {
                return Ok(Opened {
                    conn: Some(Conn::Unix(UnixStream::connect(path)?)),
                    listener: None,
                })
            }
            Endpoint::TcpListen(addr) => {
                let l = TcpListener::bind(addr)?;
                eprintln!("vmstate bridge: listening on tcp:{}", l.local_addr()?);
                Listener::Tcp(l)
            }
            Endpoint::UnixListen(path) => {
                let _ = std::fs::remove_file(path);
                let l = UnixListener::bind(path)?;
                eprintln!("vmstate bridge: listening on unix:{}", path.display());
                Listener::Unix(l)
            }
        };
        Ok(Opened {
            conn: Some(listener.accept()?),
            listener: Some(listener),
        })
    }

    fn reader(&self, opened: Option<Conn>) -> io::Result<Box<dyn Read + Send>> {
        Ok(match (opened, self) {
            (Some(c), _) => c.boxed_reader(),
            (None, Endpoint::File(p)) => Box::new(std::fs::File::open(p)?),
            (None, _) => Box::new(io::stdin()),
        })
    }

    fn writer(&self, opened: Option<Conn>) -> io::Result<Box<dyn Write>> {
        Ok(match (opened, self) {
            (Some(c), _) => c.boxed_writer(),
            (None, Endpoint::File(p)) => Box::new(std::fs::File::create(p)?),
            (None, _) => Box::new(io::stdout().lock()),
        })
    }

    /// The socket file a Unix listener made, removed when the bridge is done.
    fn socket_file(&self) -> Option<&PathBuf> {
        match self {
            Endpoint::UnixListen(path) => Some(path),
            _ => None,
        }
    }
}

/// Why a bridge refused a migration from another thread (a second connection),
/// and the connections to close when it does: both sides, so that the source
/// fails its migration and runs on, and the destination never completes.
#[derive(Clone, Default)]
struct Refusal {
    reason: Arc<Mutex<Option<String>>>,
    closers: Arc<Mutex<Vec<Conn>>>,
}

impl Refusal {
    fn close_on_refusal(&self, c: &Conn) -> io::Result<()> {
        let closer = c.closer()?;
        self.closers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(closer);
        Ok(())
    }

    fn refuse(&self, reason: String) {
        let mut r = self.reason.lock().unwrap_or_else(|e| e.into_inner());
        r.get_or_insert(reason);
        drop(r);
        for c in self
            .closers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            c.close();
        }
    }

    fn reason(&self) -> Option<String> {
        self.reason
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Watches `listener` for more connections: the source opened a channel the
    /// bridge cannot carry (a multifd channel, named by its first octets).
    fn watch(&self, listener: Listener, from: String) {
        let refusal = self.clone();
        std::thread::spawn(move || {
            let Ok(conn) = listener.accept() else {
                return;
            };
            let mut head = [0u8; 4];
            let n = match &conn {
                Conn::Tcp(s) => {
                    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                    read_head(s, &mut head)
                }
                Conn::Unix(s) => {
                    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                    read_head(s, &mut head)
                }
            };
            let what = framing::unknown_format(&head[..n]);
            refusal.refuse(format!(
                "{from}: the source opened a second connection, which a bridge does not \
                 carry: {what}"
            ));
            conn.close();
        });
    }
}

/// Reads up to `head.len()` octets (fewer when the peer stops sending); returns
/// how many.
fn read_head(mut r: impl Read, head: &mut [u8]) -> usize {
    let mut n = 0;
    while n < head.len() {
        match r.read(&mut head[n..]) {
            Ok(0) | Err(_) => break,
            Ok(k) => n += k,
        }
    }
    n
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
/// written and both sides are closed: a destination QEMU sees its stream cut short
/// and fails its incoming migration, and the source fails its migration.
///
/// When both sides are connections, the return path is carried: what the
/// destination sends back (`MIG_RP_MSG_*`) goes to the source, converted to the
/// source's format ([`return_path::carry`]), so a source with `return-path` or
/// `switchover-ack` completes. What needs more (postcopy, multifd channels, a
/// return path between files) is refused at the first record or connection that
/// shows it (`dump::convert_live`).
pub fn run(
    from: &Endpoint,
    to: &Endpoint,
    format: Format,
    tap: Option<&PathBuf>,
) -> Result<Progress, Failure> {
    let done = bridge(from, to, format, tap);
    for path in [from.socket_file(), to.socket_file()].into_iter().flatten() {
        let _ = std::fs::remove_file(path);
    }
    done
}

fn bridge(
    from: &Endpoint,
    to: &Endpoint,
    format: Format,
    tap: Option<&PathBuf>,
) -> Result<Progress, Failure> {
    let refusal = Refusal::default();
    let at_from = |e: io::Error| Failure(format!("{from}: {e}"));
    let opened = from.open().map_err(at_from)?;
    if let Some(c) = &opened.conn {
        refusal.close_on_refusal(c).map_err(at_from)?;
    }
    if let Some(l) = opened.listener {
        refusal.watch(l, from.to_string());
    }
    let source = opened.conn.as_ref().map(Conn::closer).transpose();
    let source = source.map_err(at_from)?;
    let mut input = from.reader(opened.conn).map_err(at_from)?;
    // The source's format, for what goes back to it: its stream's first octet.
    let mut head = [0u8; 1];
    let got = read_head(&mut input, &mut head);
    let source_format = match head {
        [b'Q'] => Format::Legacy,
        _ => Format::Ber,
    };
    let input: Box<dyn Read + Send> = Box::new(io::Cursor::new(head).take(got as u64).chain(input));
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
    let at_to = |e: io::Error| Failure(format!("{to}: {e}"));
    let opened = to.open().map_err(at_to)?;
    if let Some(c) = &opened.conn {
        refusal.close_on_refusal(c).map_err(at_to)?;
    }
    if let Some(reason) = refusal.reason() {
        return Err(Failure(reason));
    }
    let destination = opened.conn.as_ref().map(Conn::closer).transpose();
    let destination = destination.map_err(at_to)?;
    let back = match (source, &destination) {
        (Some(s), Some(d)) => Some(carry_back(
            s,
            d.closer().map_err(at_to)?,
            format,
            source_format,
            &refusal,
        )),
        _ => None,
    };
    let carrier = match back {
        Some(_) => Carrier::ReturnPath,
        None => Carrier::OneWay,
    };
    let output = to.writer(opened.conn).map_err(at_to)?;
    let mut input = BufReader::with_capacity(BUFFER, &mut input);
    let mut output = BufWriter::with_capacity(BUFFER, output);
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    let start = Instant::now();
    let done = dump::convert_live(
        &mut input,
        &mut output,
        format,
        &Limits::default(),
        carrier,
        &mut |p| bar.set_message(describe(p, start.elapsed())),
    );
    bar.finish_and_clear();
    // A refusal from the watcher closed the connections under the converter: its
    // error is the closing, the reason is the refusal's.
    let p = done.map_err(|e| match refusal.reason() {
        Some(reason) => Failure(reason),
        None => Failure(format!("{from} -> {to}: {e}")),
    })?;
    output.flush().map_err(|e| Failure(format!("{to}: {e}")))?;
    drop(output);
    // The stream is through: the next hop reads its end, and what it still says
    // (the destination's SHUT) comes back before the bridge closes, when the
    // stream opened a return path (else nothing comes back, and none is awaited).
    let carried = match (back, &destination) {
        (Some(back), Some(d)) if p.return_path => {
            d.end_writes();
            let n = back
                .recv_timeout(RETURN_PATH_WAIT)
                .map_err(|_| Failure(format!("{to}: the return path did not end")))?;
            let n = n.map_err(|e| Failure(format!("{to}: the return path: {e}")))?;
            format!(", {n} return-path messages")
        }
        _ => String::new(),
    };
    let cpu = cpu_time().map_or(String::new(), |ns| {
        format!(", CPU {:.2} s", ns as f64 / 1e9)
    });
    let peak = peak_rss().map_or(String::new(), |kib| {
        format!(", peak RSS {:.1} MiB", kib as f64 / 1024.0)
    });
    eprintln!(
        "vmstate bridge: {}{carried}{cpu}{peak}",
        describe(&p, start.elapsed())
    );
    Ok(p)
}

/// How long a bridge waits, once the stream is through, for the return path to
/// end (the destination's SHUT, then its close).
const RETURN_PATH_WAIT: Duration = Duration::from_secs(60);

/// Carries the return path from `destination` (messages in `format`, the bridge's
/// output) to `source` (in `source_format`) on a thread of its own; the channel
/// gives how many messages it carried once the destination's side ends. An error
/// (a message QEMU would refuse, the connection cut inside one) refuses the
/// migration: both sides close.
fn carry_back(
    source: Conn,
    destination: Conn,
    format: Format,
    source_format: Format,
    refusal: &Refusal,
) -> std::sync::mpsc::Receiver<Result<u64, String>> {
    let (tx, rx) = std::sync::mpsc::channel();
    let refusal = refusal.clone();
    std::thread::spawn(move || {
        let mut from = BufReader::new(destination.boxed_reader());
        let mut to = source.boxed_writer();
        let done = return_path::carry(&mut from, &mut to, format, source_format)
            .map_err(|e| e.to_string());
        if let Err(e) = &done {
            refusal.refuse(format!("the return path: {e}"));
        }
        let _ = tx.send(done);
    });
    rx
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
    let missing = match p.missing_pages {
        0 => String::new(),
        n => format!(" ({n} pages of RAM not sent)"),
    };
    format!(
        "{:.1} MiB in, {:.1} MiB out, {} pages in {} RAM parts{missing}, {} devices, {:.0} MiB/s",
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
