//! A link that costs what a real one costs, on loopback: a TCP relay that
//! delivers each byte no faster than `rate` and `latency` after it was sent,
//! each direction on its own (a full-duplex link), every connection through it
//! sharing the direction's rate (a migration's multifd channels share one
//! link). The benchmarks put it between source and destination in every
//! configuration, so that QEMU's own migration and the bridges meet the same
//! link.
//!
//! The model: a chunk read from the sender is serialised onto the link when
//! the link is free (one chunk after another, `len / rate` each) and arrives
//! `latency` after its last byte left. What the link holds in flight is
//! bounded ([`Link::buffer`]); a sender that outruns it waits, as a sender
//! waits on a full socket.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// A link's rate and latency.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Link {
    /// Bytes per second, each direction.
    pub rate: f64,
    /// One way.
    pub latency: Duration,
}

impl Link {
    /// 1 Gbit/s (125 MB/s), 1 ms one way: between racks.
    pub const GBIT: Link = Link {
        rate: 125e6,
        latency: Duration::from_millis(1),
    };
    /// 10 Gbit/s (1.25 GB/s), 1 ms one way.
    pub const TEN_GBIT: Link = Link {
        rate: 1.25e9,
        latency: Duration::from_millis(1),
    };

    /// The bytes in flight it holds: a bandwidth-delay product (at least
    /// 256 KiB), what a sender may have written before it waits.
    pub fn buffer(&self) -> usize {
        ((self.rate * self.latency.as_secs_f64() * 2.0) as usize).max(256 << 10)
    }

    /// A short name: `125 MB/s, 1 ms`.
    pub fn name(&self) -> String {
        let rate = if self.rate >= 1e9 {
            format!("{:.2} GB/s", self.rate / 1e9)
        } else {
            format!("{:.0} MB/s", self.rate / 1e6)
        };
        format!("{rate}, {} ms", self.latency.as_millis())
    }
}

/// When one direction of the link is free again.
struct Wire {
    link: Link,
    free: Mutex<Instant>,
    bytes: AtomicU64,
}

impl Wire {
    /// Serialises `n` bytes read at `at`: when they arrive at the far end.
    fn send(&self, n: usize, at: Instant) -> Instant {
        let mut free = self.free.lock().unwrap();
        let start = (*free).max(at);
        *free = start + Duration::from_secs_f64(n as f64 / self.link.rate);
        self.bytes.fetch_add(n as u64, Ordering::Relaxed);
        *free + self.link.latency
    }
}

/// The relay: listens on loopback and carries each connection to `to` over
/// the link, both ways, until it is dropped.
pub struct Relay {
    port: u16,
    forward: Arc<Wire>,
    back: Arc<Wire>,
}

const CHUNK: usize = 64 << 10;

impl Relay {
    /// A relay to `to` over `link`, listening on a free loopback port.
    pub fn start(link: Link, to: SocketAddr) -> std::io::Result<Relay> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let wire = || {
            Arc::new(Wire {
                link,
                free: Mutex::new(Instant::now()),
                bytes: AtomicU64::new(0),
            })
        };
        let (forward, back) = (wire(), wire());
        let (f, b) = (forward.clone(), back.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(src) = conn else { return };
                let Ok(dst) = TcpStream::connect(to) else {
                    let _ = src.shutdown(Shutdown::Both);
                    continue;
                };
                let _ = (src.set_nodelay(true), dst.set_nodelay(true));
                let (Ok(src2), Ok(dst2)) = (src.try_clone(), dst.try_clone()) else {
                    continue;
                };
                pump(src, dst, f.clone());
                pump(dst2, src2, b.clone());
            }
        });
        Ok(Relay {
            port,
            forward,
            back,
        })
    }

    /// The loopback port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `tcp:127.0.0.1:PORT`.
    pub fn uri(&self) -> String {
        format!("tcp:127.0.0.1:{}", self.port)
    }

    /// Bytes carried towards `to`, and back, over every connection so far.
    pub fn bytes(&self) -> (u64, u64) {
        (
            self.forward.bytes.load(Ordering::Relaxed),
            self.back.bytes.load(Ordering::Relaxed),
        )
    }
}

/// The bytes a direction holds in flight, bounded by [`Link::buffer`] in bytes
/// (not in chunks: a sender that writes little at a time must not see a
/// smaller window).
struct InFlight {
    bytes: Mutex<usize>,
    freed: Condvar,
}

/// Carries `from` to `to` over `wire` on two threads: one reads and puts each
/// chunk on the link, one delivers it when it arrives. The end of `from`
/// ends `to`'s writing side; a failure closes both.
fn pump(mut from: TcpStream, to: TcpStream, wire: Arc<Wire>) {
    let (tx, rx): (Sender<(Vec<u8>, Instant)>, Receiver<_>) = channel();
    let limit = wire.link.buffer();
    let flight = Arc::new(InFlight {
        bytes: Mutex::new(0),
        freed: Condvar::new(),
    });
    let landed = flight.clone();
    std::thread::spawn(move || {
        let mut to = to;
        for (chunk, arrives) in rx {
            let now = Instant::now();
            if arrives > now {
                std::thread::sleep(arrives - now);
            }
            let written = to.write_all(&chunk);
            *landed.bytes.lock().unwrap() -= chunk.len();
            landed.freed.notify_all();
            if written.is_err() {
                // The reader must not wait for chunks that will not land.
                *landed.bytes.lock().unwrap() = 0;
                landed.freed.notify_all();
                let _ = to.shutdown(Shutdown::Both);
                return;
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    });
    std::thread::spawn(move || loop {
        {
            let held = flight.bytes.lock().unwrap();
            let _held = flight.freed.wait_while(held, |b| *b >= limit).unwrap();
        }
        let mut buf = vec![0; CHUNK];
        match from.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                buf.truncate(n);
                *flight.bytes.lock().unwrap() += n;
                let arrives = wire.send(n, Instant::now());
                if tx.send((buf, arrives)).is_err() {
                    let _ = from.shutdown(Shutdown::Both);
                    return;
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 8 MB through a 40 MB/s, 20 ms link: about 0.2 s plus the latency, the
    /// bytes intact, counted, and the end passed on.
    #[test]
    fn a_link_delivers_at_its_rate_after_its_latency() {
        let sink = TcpListener::bind("127.0.0.1:0").unwrap();
        let to = sink.local_addr().unwrap();
        let link = Link {
            rate: 40e6,
            latency: Duration::from_millis(20),
        };
        let relay = Relay::start(link, to).unwrap();
        let data: Vec<u8> = (0..8_000_000u32).map(|i| ((i * 7) >> 3) as u8).collect();
        let sent = data.clone();
        let t0 = Instant::now();
        let writer = std::thread::spawn(move || {
            let mut c = TcpStream::connect(("127.0.0.1", relay.port())).unwrap();
            c.write_all(&sent).unwrap();
            c.shutdown(Shutdown::Write).unwrap();
            relay
        });
        let (mut c, _) = sink.accept().unwrap();
        let mut got = Vec::new();
        c.read_to_end(&mut got).unwrap();
        let took = t0.elapsed();
        let relay = writer.join().unwrap();
        assert!(got == data);
        assert_eq!(relay.bytes(), (8_000_000, 0));
        // The rate and the latency are the floor; a loaded host adds to it.
        assert!(took >= Duration::from_millis(200 + 20), "{took:?}");
    }
}
