//! `vmstate bridge`: a migration converted as it flows, from one endpoint to
//! another, in bounded memory ([`dump::convert_stream`]). Two bridges put BER on
//! the wire between two unmodified QEMUs:
//!
//! ```text
//! QEMU -> bridge --to ber tcp-listen:4444 tcp:peer:5555 -> bridge --to legacy tcp-listen:5555 tcp:dst:6666 -> QEMU -incoming
//! ```

use crate::Failure;
use indicatif::{ProgressBar, ProgressStyle};
use rustix::event::{PollFd, PollFlags, Timespec};
use std::cell::RefCell;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::rc::Rc;
use std::str::FromStr;
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use vmstate_runtime::dump::{self, Carrier, Limits, Progress};
use vmstate_runtime::framing::return_path;
use vmstate_runtime::ram::{multifd, Arrived, PAGE_SIZE};
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

    /// Whether octets wait to be read (or its end), without waiting.
    fn readable(&self) -> io::Result<bool> {
        let fd = match self {
            Conn::Tcp(s) => s.as_fd(),
            Conn::Unix(s) => s.as_fd(),
        };
        let mut fds = [PollFd::new(&fd, PollFlags::IN)];
        let now = Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        Ok(rustix::event::poll(&mut fds, Some(&now))? > 0)
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

/// A listening socket, kept after its first connection: a multifd source opens
/// more, one for each channel.
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

/// A connection the source opened, with its first octets (read, so that it is
/// known for what it is: a main channel or a multifd channel).
struct Arrival {
    head: Vec<u8>,
    conn: Conn,
}

impl Arrival {
    /// Reads the first octets of `conn`: a source sends them at once (QEVM or a
    /// `MultiFDInit_t`), so a connection that stays silent is not waited for
    /// beyond a few seconds.
    fn of(conn: Conn) -> io::Result<Arrival> {
        let mut head = [0u8; 4];
        let n = match &conn {
            Conn::Tcp(s) => {
                s.set_read_timeout(Some(HEAD_WAIT))?;
                let n = read_head(s, &mut head);
                s.set_read_timeout(None)?;
                n
            }
            Conn::Unix(s) => {
                s.set_read_timeout(Some(HEAD_WAIT))?;
                let n = read_head(s, &mut head);
                s.set_read_timeout(None)?;
                n
            }
        };
        Ok(Arrival {
            head: head[..n].to_vec(),
            conn,
        })
    }

    /// The form of a multifd channel, `None` for anything else.
    fn channel(&self) -> Option<Format> {
        multifd::detect(&self.head)
    }

    /// Its octets, the first ones included.
    fn reader(self) -> Box<dyn Read + Send> {
        Box::new(io::Cursor::new(self.head).chain(self.conn.boxed_reader()))
    }
}

/// How long a new connection may take to send its first octets.
const HEAD_WAIT: Duration = Duration::from_secs(10);

/// Accepts every connection to `listener` on a thread of its own, each handed
/// to the receiver with its first octets.
fn accept_all(listener: Listener) -> Receiver<io::Result<Arrival>> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || loop {
        let arrival = listener.accept().and_then(Arrival::of);
        let failed = arrival.is_err();
        if tx.send(arrival).is_err() || failed {
            return;
        }
    });
    rx
}

impl Endpoint {
    /// Connects to a connection endpoint (`None` for a file, `-` or a listener).
    fn connect(&self) -> io::Result<Option<Conn>> {
        Ok(match self {
            Endpoint::Tcp(addr) => Some(Conn::tcp(TcpStream::connect(addr)?)?),
            Endpoint::Unix(path) => Some(Conn::Unix(UnixStream::connect(path)?)),
            _ => None,
        })
    }

    /// Listens on a listening endpoint (`None` for any other); says on stderr
    /// where (an address with port 0 gets one from the system).
    fn listen(&self) -> io::Result<Option<Listener>> {
        Ok(match self {
            Endpoint::TcpListen(addr) => {
                let l = TcpListener::bind(addr)?;
                eprintln!("vmstate bridge: listening on tcp:{}", l.local_addr()?);
                Some(Listener::Tcp(l))
            }
            Endpoint::UnixListen(path) => {
                let _ = std::fs::remove_file(path);
                let l = UnixListener::bind(path)?;
                eprintln!("vmstate bridge: listening on unix:{}", path.display());
                Some(Listener::Unix(l))
            }
            _ => None,
        })
    }

    /// Connects or accepts the first connection.
    fn open(&self) -> io::Result<Option<Conn>> {
        match self.listen()? {
            Some(l) => l.accept().map(Some),
            None => self.connect(),
        }
    }

    /// A file or `-` to read from.
    fn reader(&self) -> io::Result<Box<dyn Read + Send>> {
        Ok(match self {
            Endpoint::File(p) => Box::new(std::fs::File::open(p)?),
            _ => Box::new(io::stdin()),
        })
    }

    /// Whether connections arrive here (a source's channels among them).
    fn is_listener(&self) -> bool {
        matches!(self, Endpoint::TcpListen(_) | Endpoint::UnixListen(_))
    }

    /// Whether this is a connection the bridge makes (as many as it needs).
    fn is_connection(&self) -> bool {
        matches!(self, Endpoint::Tcp(_) | Endpoint::Unix(_))
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
    /// Closes `c` when the migration is refused: at once when it was already.
    fn close_on_refusal(&self, c: &Conn) -> io::Result<()> {
        let closer = c.closer()?;
        let mut closers = self.closers.lock().unwrap_or_else(|e| e.into_inner());
        if self.reason().is_some() {
            closer.close();
        }
        closers.push(closer);
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

/// `input`, a copy of what it reads kept in `tap` if given.
fn tapped(
    input: Box<dyn Read + Send>,
    tap: Option<&std::path::Path>,
) -> Result<Box<dyn Read + Send>, Failure> {
    Ok(match tap {
        Some(path) => Box::new(Tee {
            inner: input,
            copy: BufWriter::with_capacity(
                BUFFER,
                std::fs::File::create(path)
                    .map_err(|e| Failure(format!("{}: {e}", path.display())))?,
            ),
        }),
        None => input,
    })
}

/// Where a bridge carries the source's multifd channels.
struct Hop {
    from: Endpoint,
    to: Endpoint,
    format: Format,
    /// The main channel's tap: each channel's is beside it, `.channelN` added.
    tap: Option<PathBuf>,
}

/// What a carried multifd channel passed on.
struct ChannelEnd {
    /// Its pages (normal and zero).
    pages: u64,
    /// Which pages, of which blocks.
    arrived: Arrived,
}

/// The multifd channels a bridge carries, each on a thread of its own.
#[derive(Default)]
struct Channels(Arc<Mutex<Vec<JoinHandle<Option<ChannelEnd>>>>>);

impl Channels {
    /// Carries each multifd channel that arrives (`early` first) to a
    /// connection of its own to the next hop, converted to the hop's format;
    /// refuses anything else that connects (a second main channel, a channel
    /// the next hop cannot take), with the migration.
    fn carry(
        &self,
        arrivals: Receiver<io::Result<Arrival>>,
        early: Vec<Arrival>,
        hop: Hop,
        refusal: &Refusal,
    ) {
        let (handles, refusal) = (self.0.clone(), refusal.clone());
        std::thread::spawn(move || {
            let arrivals = early.into_iter().map(Ok).chain(arrivals);
            for (n, a) in arrivals.map_while(Result::ok).enumerate() {
                let refuse = |a: Arrival, why: String| {
                    refusal.refuse(format!("{}: {why}", hop.from));
                    a.conn.close();
                };
                if a.channel().is_none() {
                    let what = match framing::detect(&a.head) {
                        Some(_) => "a second migration stream".to_owned(),
                        None => framing::unknown_format(&a.head).to_string(),
                    };
                    refuse(a, format!("the source opened another connection: {what}"));
                    continue;
                }
                if !hop.to.is_connection() {
                    refuse(
                        a,
                        format!(
                            "a multifd channel (migration capability multifd) goes to a \
                             connection of its own, which {} is not: bridge into tcp:HOST:PORT \
                             or unix:PATH, or migrate without it \
                             (migrate-set-capabilities multifd=off on both QEMUs)",
                            hop.to
                        ),
                    );
                    continue;
                }
                let next = match hop.to.connect() {
                    Ok(Some(next)) => next,
                    Ok(None) => continue,
                    Err(e) => {
                        refuse(a, format!("{}: multifd channel {n}: {e}", hop.to));
                        continue;
                    }
                };
                let tap = hop.tap.as_ref().map(|t| {
                    let mut path = t.clone().into_os_string();
                    path.push(format!(".channel{n}"));
                    PathBuf::from(path)
                });
                let label = format!("{} -> {}: multifd channel {n}", hop.from, hop.to);
                let (refusal, format) = (refusal.clone(), hop.format);
                let handle = std::thread::spawn(move || {
                    carry_channel(a, next, format, tap, &label)
                        .map_err(|e| refusal.refuse(e.0))
                        .ok()
                });
                handles
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(handle);
            }
        });
    }

    /// Waits for each channel carried to end (the source closes them after its
    /// main channel's end); a channel that failed refused the migration, and
    /// the refusal says why.
    fn join(&self) -> Result<Vec<ChannelEnd>, String> {
        let handles = std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()));
        let deadline = Instant::now() + RETURN_PATH_WAIT;
        let mut ends = Vec::new();
        for h in handles {
            while !h.is_finished() {
                if Instant::now() > deadline {
                    return Err("a multifd channel did not end".into());
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            match h.join() {
                Ok(Some(end)) => ends.push(end),
                _ => return Err("a multifd channel failed".into()),
            }
        }
        Ok(ends)
    }
}

/// Carries one multifd channel to `next`, converted to `format`
/// ([`multifd::convert`]), a copy of what arrived in `tap`.
fn carry_channel(
    a: Arrival,
    next: Conn,
    format: Format,
    tap: Option<PathBuf>,
    label: &str,
) -> Result<ChannelEnd, Failure> {
    let closer = next
        .closer()
        .map_err(|e| Failure(format!("{label}: {e}")))?;
    let input = tapped(a.reader(), tap.as_deref())?;
    let mut input = BufReader::with_capacity(BUFFER, input);
    let mut output = BufWriter::with_capacity(BUFFER, next.boxed_writer());
    let mut end = ChannelEnd {
        pages: 0,
        arrived: Arrived::unlisted(),
    };
    multifd::convert(&mut input, &mut output, format, &mut |p| {
        end.pages += (p.normal_pages() + p.zero_pages()) as u64;
        p.records().for_each(|r| end.arrived.record(&r));
    })
    .map_err(|e| Failure(format!("{label}: {e}")))?;
    drop(output);
    closer.end_writes();
    Ok(end)
}

/// The converter's output, shared with its input's reader ([`FlushWhenIdle`]).
type Output = Rc<RefCell<BufWriter<Box<dyn Write>>>>;

/// Writes to the shared output.
struct Shared(Output);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.borrow_mut().write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.borrow_mut().flush()
    }
}

/// Reads what the source sends; before a read that would wait, flushes the
/// converter's output, so that what is converted reaches the next hop whenever
/// the source pauses. A destination QEMU waits at sync points for what would
/// otherwise sit in the bridge's buffer (7.2's multifd channels stop at each
/// round's end until the main channel's `EOS` arrives; a postcopy page it asked
/// for), while the source waits for the destination.
struct FlushWhenIdle<R> {
    inner: R,
    source: Conn,
    out: Output,
}

impl<R: Read> Read for FlushWhenIdle<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if !self.source.readable()? {
            self.out.borrow_mut().flush()?;
        }
        self.inner.read(buf)
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
    // The source's main channel: its connection, or the first connection to a
    // listener that is not a multifd channel (channels that came first wait).
    let mut early = Vec::new();
    let (main, arrivals) = match from.listen().map_err(at_from)? {
        Some(listener) => {
            let arrivals = accept_all(listener);
            loop {
                let a = arrivals
                    .recv()
                    .map_err(|_| Failure(format!("{from}: no connection")))?
                    .map_err(at_from)?;
                match a.channel() {
                    Some(_) => early.push(a),
                    None => break (Some(a), Some(arrivals)),
                }
            }
        }
        None => (
            from.connect().map_err(at_from)?.map(|conn| Arrival {
                head: Vec::new(),
                conn,
            }),
            None,
        ),
    };
    if let Some(a) = &main {
        refusal.close_on_refusal(&a.conn).map_err(at_from)?;
    }
    let source = main.as_ref().map(|a| a.conn.closer()).transpose();
    let source = source.map_err(at_from)?;
    let source_conn = main.as_ref().map(|a| a.conn.closer()).transpose();
    let source_conn = source_conn.map_err(at_from)?;
    let input = match main {
        Some(a) => a.reader(),
        None => from.reader().map_err(at_from)?,
    };
    let mut input = Box::new(input);
    // The source's format, for what goes back to it: its stream's first octet.
    let mut head = [0u8; 1];
    let got = read_head(&mut input, &mut head);
    let source_format = match head {
        [b'Q'] => Format::Legacy,
        _ => Format::Ber,
    };
    let input = Box::new(io::Cursor::new(head).take(got as u64).chain(input));
    let input = tapped(input, tap.map(PathBuf::as_path))?;
    let at_to = |e: io::Error| Failure(format!("{to}: {e}"));
    let opened = to.open().map_err(at_to)?;
    if let Some(c) = &opened {
        refusal.close_on_refusal(c).map_err(at_to)?;
    }
    // The channels go to the next hop after the main channel did: a destination
    // QEMU 7.2 takes its first connection for the main channel.
    let channels = Channels::default();
    if let Some(arrivals) = arrivals {
        channels.carry(
            arrivals,
            early,
            Hop {
                from: from.clone(),
                to: to.clone(),
                format,
                tap: tap.cloned(),
            },
            &refusal,
        );
    }
    if let Some(reason) = refusal.reason() {
        return Err(Failure(reason));
    }
    let destination = opened.as_ref().map(Conn::closer).transpose();
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
    let carrier = Carrier {
        return_path: back.is_some(),
        multifd: from.is_listener() && to.is_connection(),
    };
    let output: Output = Rc::new(RefCell::new(BufWriter::with_capacity(
        BUFFER,
        to.writer(opened).map_err(at_to)?,
    )));
    let input: Box<dyn Read> = match source_conn {
        Some(source) => Box::new(FlushWhenIdle {
            inner: input,
            source,
            out: output.clone(),
        }),
        None => input,
    };
    let mut input = BufReader::with_capacity(BUFFER, input);
    let mut output = Shared(output);
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
    // A refusal from another thread closed the connections under the converter:
    // its error is the closing, the reason is the refusal's.
    let refused = |e: String| match refusal.reason() {
        Some(reason) => Failure(reason),
        None => Failure(e),
    };
    let (mut p, mut arrived) = done.map_err(|e| refused(format!("{from} -> {to}: {e}")))?;
    output.flush().map_err(|e| Failure(format!("{to}: {e}")))?;
    drop((input, output));
    // The stream is through: the next hop reads its end, and what it still says
    // (the destination's SHUT) comes back before the bridge closes, when the
    // stream opened a return path (else nothing comes back, and none is awaited).
    let mut carried = match (back, &destination) {
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
    // The multifd channels end when the source closes them, after its main
    // channel: their pages count in, and then what is missing is known.
    let ends = channels.join().map_err(refused)?;
    if !ends.is_empty() {
        for end in &ends {
            arrived.merge(&end.arrived);
            p.pages += end.pages;
        }
        p.missing_pages = arrived.holes(PAGE_SIZE).iter().map(|h| h.missing).sum();
        carried += &format!(", {} multifd channels", ends.len());
    }
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
