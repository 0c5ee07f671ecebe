//! The bridge's endpoints and connections: where it reads and writes, and the
//! connections a source opens, each told by its first octets.

use rustix::event::{PollFd, PollFlags, Timespec};
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::Arc;
use std::time::Duration;
use vmstate_runtime::ram::multifd;
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

/// The receive buffer of a connection from a QEMU on this host (the kernel
/// doubles it): see [`Conn::keep_local_queue_small`] and docs/BRIDGE.md.
const LOCAL_QUEUE: usize = 256 << 10;

/// A connected stream of either kind.
pub(super) enum Conn {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Conn {
    /// A TCP connection without Nagle's delay: the bridge buffers its writes
    /// itself, and the end of a migration (its last, small writes) must not wait
    /// for the peer's delayed acknowledgement at each hop.
    pub(super) fn tcp(s: TcpStream) -> io::Result<Conn> {
        s.set_nodelay(true)?;
        Ok(Conn::Tcp(s))
    }

    /// Keeps the kernel's queue of what arrives on this connection small when
    /// the peer is on this host (a Unix socket, a loopback address): a QEMU
    /// sending to the bridge beside it. What waits there QEMU counts as sent,
    /// and when it stops the guest all of it must still go through the bridges
    /// and the link before the destination runs; the kernel's own sizing lets
    /// megabytes wait on loopback. A peer across a network keeps the kernel's
    /// sizing, which its round trip needs. (Not the queue towards a destination
    /// QEMU: a bridge blocked writing to a QEMU that stopped reading would not
    /// see its source break.) Best effort: a connection the kernel will not
    /// bound is carried as it is.
    pub(super) fn keep_local_queue_small(&self) {
        let fd = match self {
            Conn::Tcp(s) if s.peer_addr().is_ok_and(|a| a.ip().is_loopback()) => s.as_fd(),
            Conn::Tcp(_) => return,
            Conn::Unix(s) => s.as_fd(),
        };
        let _ = rustix::net::sockopt::set_socket_recv_buffer_size(fd, LOCAL_QUEUE);
    }

    /// A handle that closes this connection from another thread.
    pub(super) fn closer(&self) -> io::Result<Conn> {
        Ok(match self {
            Conn::Tcp(s) => Conn::Tcp(s.try_clone()?),
            Conn::Unix(s) => Conn::Unix(s.try_clone()?),
        })
    }

    /// Ends the direction this side writes: the peer reads the end of the stream,
    /// and may still answer on the other direction.
    pub(super) fn end_writes(&self) {
        let _ = match self {
            Conn::Tcp(s) => s.shutdown(Shutdown::Write),
            Conn::Unix(s) => s.shutdown(Shutdown::Write),
        };
    }

    /// Whether octets wait to be read (or its end), without waiting.
    pub(super) fn readable(&self) -> io::Result<bool> {
        readable_now(match self {
            Conn::Tcp(s) => s.as_fd(),
            Conn::Unix(s) => s.as_fd(),
        })
    }

    /// Bounds how long a write may wait (a peer that stopped reading).
    pub(super) fn bound_writes(&self, wait: Duration) {
        let _ = match self {
            Conn::Tcp(s) => s.set_write_timeout(Some(wait)),
            Conn::Unix(s) => s.set_write_timeout(Some(wait)),
        };
    }

    /// Closes both directions: a reader or writer blocked on it returns.
    pub(super) fn close(&self) {
        let _ = match self {
            Conn::Tcp(s) => s.shutdown(Shutdown::Both),
            Conn::Unix(s) => s.shutdown(Shutdown::Both),
        };
    }

    pub(super) fn boxed_reader(self) -> Box<dyn Read + Send> {
        match self {
            Conn::Tcp(s) => Box::new(s),
            Conn::Unix(s) => Box::new(s),
        }
    }

    pub(super) fn boxed_writer(self) -> Box<dyn Write + Send> {
        match self {
            Conn::Tcp(s) => Box::new(s),
            Conn::Unix(s) => Box::new(s),
        }
    }
}

/// Where a listener listened: the port the system gave one included.
pub(super) enum Place {
    Tcp(std::net::SocketAddr),
    Unix(PathBuf),
}

impl Place {
    /// Listens here again.
    pub(super) fn listen(&self) -> io::Result<Listener> {
        Ok(match self {
            Place::Tcp(addr) => Listener::Tcp(TcpListener::bind(addr)?),
            Place::Unix(path) => {
                let _ = std::fs::remove_file(path);
                Listener::Unix(UnixListener::bind(path)?)
            }
        })
    }
}

/// A listening socket, kept after its first connection: a multifd source opens
/// more, one for each channel.
pub(super) enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener),
}

impl Listener {
    /// Where it listens, to listen there again once it stopped.
    pub(super) fn place(&self) -> io::Result<Place> {
        Ok(match self {
            Listener::Tcp(l) => Place::Tcp(l.local_addr()?),
            Listener::Unix(l) => Place::Unix(
                l.local_addr()?
                    .as_pathname()
                    .ok_or_else(|| io::Error::other("an unnamed Unix socket"))?
                    .to_owned(),
            ),
        })
    }

    fn try_clone(&self) -> io::Result<Listener> {
        Ok(match self {
            Listener::Tcp(l) => Listener::Tcp(l.try_clone()?),
            Listener::Unix(l) => Listener::Unix(l.try_clone()?),
        })
    }

    fn fd(&self) -> BorrowedFd<'_> {
        match self {
            Listener::Tcp(l) => l.as_fd(),
            Listener::Unix(l) => l.as_fd(),
        }
    }

    /// Whether a connection waits to be accepted, without waiting.
    fn pending(&self) -> bool {
        readable_now(self.fd()).unwrap_or(false)
    }

    pub(super) fn accept(&self) -> io::Result<Conn> {
        match self {
            Listener::Tcp(l) => Conn::tcp(l.accept()?.0),
            Listener::Unix(l) => Ok(Conn::Unix(l.accept()?.0)),
        }
    }
}

/// A connection the source opened, with its first octets (read, so that it is
/// known for what it is: a main channel or a multifd channel).
pub(super) struct Arrival {
    pub(super) head: Vec<u8>,
    pub(super) conn: Conn,
}

impl Arrival {
    /// Reads the first octets of `conn`, waiting at most `wait`: a source
    /// sends them at once (QEVM, a `MultiFDInit_t`, a resumed connection's
    /// first command), so a connection that stays silent is not waited for.
    pub(super) fn of(conn: Conn, wait: Duration) -> io::Result<Arrival> {
        let mut head = [0u8; 4];
        let n = match &conn {
            Conn::Tcp(s) => {
                s.set_read_timeout(Some(wait))?;
                let n = read_head(s, &mut head);
                s.set_read_timeout(None)?;
                n
            }
            Conn::Unix(s) => {
                s.set_read_timeout(Some(wait))?;
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
    pub(super) fn channel(&self) -> Option<Format> {
        multifd::detect(&self.head)
    }

    /// Its octets, the first ones included.
    pub(super) fn reader(self) -> Box<dyn Read + Send> {
        Box::new(io::Cursor::new(self.head).chain(self.conn.boxed_reader()))
    }
}

/// How long the first connection may take to send its first octets.
pub(super) const HEAD_WAIT: Duration = Duration::from_secs(10);

/// How long a later connection may: a multifd channel or a resumed migration
/// speaks at once, while QEMU's postcopy-preempt channel waits for the
/// destination, and must be refused before the source stops its guest for
/// postcopy (QEMU 7.2 opens it when the migration starts, 10.0 just before
/// the switch).
pub(super) const LATER_HEAD_WAIT: Duration = Duration::from_millis(300);

/// The connections that arrive on a listener, accepted on a thread of their
/// own, each with its first octets.
pub(super) struct Arrivals {
    rx: Receiver<io::Result<Arrival>>,
    gate: Gate,
}

/// What tells whether every connection the source opened so far was handled:
/// none waits in the listener's queue, none accepted is still undecided.
#[derive(Clone)]
pub(super) struct Gate {
    unsettled: Arc<AtomicUsize>,
    listener: Arc<Listener>,
    /// It stopped listening ([`Gate::close`]).
    closed: Arc<AtomicBool>,
}

impl Gate {
    /// Stops listening: a connection the source opens from now on is refused
    /// by the system at once (QEMU 10.0's postcopy-preempt channel then fails
    /// the migration before the source stops its guest).
    pub(super) fn close(&self) {
        let _ = rustix::net::shutdown(self.listener.fd(), rustix::net::Shutdown::Both);
        self.closed.store(true, Ordering::SeqCst);
    }

    /// Whether it stopped listening.
    pub(super) fn closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// Whether every connection opened so far was handled, now.
    pub(super) fn settled(&self) -> bool {
        let waiting = !self.closed() && self.listener.pending();
        !waiting && self.unsettled.load(Ordering::SeqCst) == 0
    }

    /// Waits (at most [`SETTLE_WAIT`]) until every connection opened so far was
    /// handled: one the source opened before it wrote what the bridge read last
    /// is in the listener's queue by then (its handshake completed first).
    pub(super) fn settle(&self) {
        let deadline = std::time::Instant::now() + SETTLE_WAIT;
        while !self.settled() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

/// How long [`Gate::settle`] waits: a later connection's first octets, and
/// some.
const SETTLE_WAIT: Duration = Duration::from_secs(2);

/// A connection received and not handled yet (carried, handed on or refused):
/// handled when this is dropped.
pub(super) struct Unsettled(Arc<AtomicUsize>);

impl Drop for Unsettled {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Arrivals {
    /// The next connection (`None` once the listener failed), unsettled until
    /// the guard with it is dropped.
    pub(super) fn recv(&self) -> Option<(io::Result<Arrival>, Unsettled)> {
        let a = self.rx.recv().ok()?;
        Some((a, Unsettled(self.gate.unsettled.clone())))
    }

    /// A handle on whether every connection was handled.
    pub(super) fn gate(&self) -> Gate {
        self.gate.clone()
    }

    /// Where the listener listens, to listen there again once it stopped.
    pub(super) fn place(&self) -> io::Result<Place> {
        self.gate.listener.place()
    }
}

/// Accepts every connection to `listener` on a thread of its own, each handed
/// on with its first octets; each counts as unsettled from its acceptance until
/// its receiver says it was handled.
pub(super) fn accept_all(listener: Listener) -> io::Result<Arrivals> {
    let (tx, rx) = mpsc::channel();
    let gate = Gate {
        unsettled: Arc::default(),
        listener: Arc::new(listener.try_clone()?),
        closed: Arc::default(),
    };
    let unsettled = gate.unsettled.clone();
    std::thread::spawn(move || {
        let mut wait = HEAD_WAIT;
        loop {
            // Unsettled from its acceptance (its first octets are awaited), or,
            // for the listener's failure, from its sending: the receiver's
            // guard settles each.
            let accepted = listener.accept();
            unsettled.fetch_add(1, Ordering::SeqCst);
            let arrival = accepted.and_then(|conn| Arrival::of(conn, wait));
            wait = LATER_HEAD_WAIT;
            let failed = arrival.is_err();
            if tx.send(arrival).is_err() || failed {
                return;
            }
        }
    });
    Ok(Arrivals { rx, gate })
}

impl Endpoint {
    /// Connects to a connection endpoint (`None` for a file, `-` or a listener).
    pub(super) fn connect(&self) -> io::Result<Option<Conn>> {
        Ok(match self {
            Endpoint::Tcp(addr) => Some(Conn::tcp(TcpStream::connect(addr)?)?),
            Endpoint::Unix(path) => Some(Conn::Unix(UnixStream::connect(path)?)),
            _ => None,
        })
    }

    /// Listens on a listening endpoint (`None` for any other); says on stderr
    /// where (an address with port 0 gets one from the system).
    pub(super) fn listen(&self) -> io::Result<Option<Listener>> {
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
    pub(super) fn open(&self) -> io::Result<Option<Conn>> {
        match self.listen()? {
            Some(l) => l.accept().map(Some),
            None => self.connect(),
        }
    }

    /// A file or `-` to read from.
    pub(super) fn reader(&self) -> io::Result<Box<dyn Read + Send>> {
        Ok(match self {
            Endpoint::File(p) => Box::new(std::fs::File::open(p)?),
            _ => Box::new(io::stdin()),
        })
    }

    /// Whether connections arrive here (a source's channels among them).
    pub(super) fn is_listener(&self) -> bool {
        matches!(self, Endpoint::TcpListen(_) | Endpoint::UnixListen(_))
    }

    /// Whether this is a connection the bridge makes (as many as it needs).
    pub(super) fn is_connection(&self) -> bool {
        matches!(self, Endpoint::Tcp(_) | Endpoint::Unix(_))
    }

    pub(super) fn writer(&self, opened: Option<Conn>) -> io::Result<Box<dyn Write>> {
        Ok(match (opened, self) {
            (Some(c), _) => c.boxed_writer(),
            (None, Endpoint::File(p)) => Box::new(std::fs::File::create(p)?),
            (None, _) => Box::new(io::stdout().lock()),
        })
    }

    /// The socket file a Unix listener made, removed when the bridge is done.
    pub(super) fn socket_file(&self) -> Option<&PathBuf> {
        match self {
            Endpoint::UnixListen(path) => Some(path),
            _ => None,
        }
    }
}

/// Whether `fd` has something to read (or its end, or a connection to accept),
/// without waiting.
fn readable_now(fd: BorrowedFd<'_>) -> io::Result<bool> {
    let mut fds = [PollFd::new(&fd, PollFlags::IN)];
    let now = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    Ok(rustix::event::poll(&mut fds, Some(&now))? > 0)
}

/// Reads up to `head.len()` octets (fewer when the peer stops sending); returns
/// how many.
pub(super) fn read_head(mut r: impl Read, head: &mut [u8]) -> usize {
    let mut n = 0;
    while n < head.len() {
        match r.read(&mut head[n..]) {
            Ok(0) | Err(_) => break,
            Ok(k) => n += k,
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Once the gate closes, the system refuses a new connection at once (what
    /// fails a QEMU 10.0 postcopy-preempt source before it stops its guest), for
    /// TCP and Unix listeners alike; the listener's place listens again.
    #[test]
    fn a_closed_listener_refuses_connections_and_listens_again() {
        let dir = std::env::temp_dir().join(format!("vmstate-gate-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("l.sock");
        for endpoint in [
            Endpoint::TcpListen("127.0.0.1:0".into()),
            Endpoint::UnixListen(path.clone()),
        ] {
            let listener = endpoint.listen().unwrap().unwrap();
            let place = listener.place().unwrap();
            let connect = || match &place {
                Place::Tcp(addr) => TcpStream::connect(addr).map(drop),
                Place::Unix(path) => UnixStream::connect(path).map(drop),
            };
            let arrivals = accept_all(listener).unwrap();
            connect().unwrap();
            let (first, _) = arrivals.recv().unwrap();
            assert!(
                first.unwrap().head.is_empty(),
                "{endpoint}: it sent nothing"
            );
            let gate = arrivals.gate();
            gate.close();
            let refused = connect().unwrap_err();
            assert_eq!(
                refused.kind(),
                io::ErrorKind::ConnectionRefused,
                "{endpoint}"
            );
            // The accepting thread ends, and says so.
            let (end, _) = arrivals.recv().unwrap();
            assert!(end.is_err(), "{endpoint}");
            assert!(gate.settled(), "{endpoint}: nothing waits");
            let again = place.listen().unwrap();
            connect().unwrap();
            again.accept().unwrap();
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    pub(super) fn endpoints_parse_as_documented() {
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
