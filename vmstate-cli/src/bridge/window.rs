//! Flow control over a compressed BER leg. A compressing bridge turns what its
//! source sends into a fraction of the bytes, so the buffers on the way (its
//! own, the sockets', the link's) hold several times their size of QEMU's
//! stream; QEMU measures its bandwidth by what it could write, stops its guest
//! when what is left fits its downtime at that rate, and the guest would then
//! wait for all that to reach the destination. So the far bridge (`--to
//! legacy`) tells the near one, on the way back, how many octets of QEMU's
//! stream it handed its destination (`[APPLICATION 10]`,
//! `return_path::DELIVERED`), and the near bridge reads from its source at
//! most [`WINDOW`] octets ahead of that. Its source then measures the rate at
//! which its destination is fed.
//!
//! A near bridge limits itself only once it heard from the far one: a far side
//! that says nothing (a file, an older bridge) is not waited for.

use super::Output;
use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;
use vmstate_runtime::framing::return_path;

/// How far a near bridge reads ahead of what reached the destination: the
/// link's bytes in flight at 10 Gbit/s and a few milliseconds, and the parts
/// and groups a bridge holds (at most 8 MiB of elements before a group goes).
pub(super) const WINDOW: u64 = 32 << 20;

/// How often a far bridge says what it delivered, at most.
const TELL_EVERY: Duration = Duration::from_millis(5);

/// What the far bridge said it delivered (`None` before it said anything).
#[derive(Default)]
pub(super) struct Credits {
    delivered: Mutex<Option<u64>>,
    changed: Condvar,
}

impl Credits {
    /// The far bridge delivered `octets` so far.
    pub(super) fn delivered(&self, octets: u64) {
        let mut d = self.delivered.lock().unwrap_or_else(|e| e.into_inner());
        *d = Some(d.map_or(octets, |old| old.max(octets)));
        self.changed.notify_all();
    }

    /// The way back ended (the far bridge closed, or broke): nothing more will
    /// be said, so nothing is waited for; the reads that follow meet the break.
    pub(super) fn ended(&self) {
        self.delivered(u64::MAX);
    }

    /// Waits (a while at most) until `read` is within the window of what was
    /// delivered; whether it is.
    fn wait_within(&self, read: u64) -> bool {
        let d = self.delivered.lock().unwrap_or_else(|e| e.into_inner());
        let ahead = |d: &Option<u64>| d.is_some_and(|d| read > d.saturating_add(WINDOW));
        let (d, _) = self
            .changed
            .wait_timeout_while(d, Duration::from_millis(50), |d| ahead(d))
            .unwrap_or_else(|e| e.into_inner());
        !ahead(&d)
    }
}

/// A near bridge's input: before a read that would go past the window, it
/// flushes what it converted (the far bridge needs it to deliver more) and
/// waits for the far bridge.
pub(super) struct Windowed<R> {
    pub(super) inner: R,
    pub(super) read: u64,
    pub(super) credits: Arc<Credits>,
    pub(super) out: Output,
}

impl<R: Read> Read for Windowed<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut flushed = false;
        while !self.credits.wait_within(self.read) {
            if !flushed {
                self.out.borrow_mut().flush()?;
                flushed = true;
            }
        }
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        Ok(n)
    }
}

/// A far bridge's output to its destination: counts what it wrote.
pub(super) struct Counted<W> {
    pub(super) inner: W,
    pub(super) count: Arc<AtomicU64>,
}

impl<W: Write> Write for Counted<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A writer that several threads share, each write whole: the way back of a
/// BER leg carries the destination's return-path messages and what the far
/// bridge delivered.
#[derive(Clone)]
pub(super) struct Locked(pub(super) Arc<Mutex<Box<dyn Write + Send>>>);

impl Write for Locked {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut w = self.0.lock().unwrap_or_else(|e| e.into_inner());
        w.write_all(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).flush()
    }
}

/// Ends the far bridge's telling when dropped.
pub(super) struct Telling(Arc<AtomicBool>);

impl Drop for Telling {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Tells the near bridge, on `back`, what `count` says was delivered, each
/// time it grew (at most every few milliseconds) once `compressed` is set
/// (only a compressing bridge listens), until the returned guard is dropped
/// or the way back fails.
pub(super) fn tell(
    count: Arc<AtomicU64>,
    compressed: Arc<AtomicBool>,
    mut back: Locked,
) -> Telling {
    let done = Arc::new(AtomicBool::new(false));
    let stop = done.clone();
    std::thread::spawn(move || {
        let mut told = 0;
        while !stop.load(Ordering::Relaxed) {
            let now = count.load(Ordering::Relaxed);
            if now > told && compressed.load(Ordering::Relaxed) {
                let mut item = Vec::new();
                return_path::put_delivered(&mut item, now);
                if back.write_all(&item).and_then(|()| back.flush()).is_err() {
                    return;
                }
                told = now;
            }
            std::thread::sleep(TELL_EVERY);
        }
    });
    Telling(done)
}
