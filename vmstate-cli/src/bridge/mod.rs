//! `vmstate bridge`: a migration converted as it flows, from one endpoint to
//! another, in bounded memory ([`LiveConversion`]). Two bridges put BER on
//! the wire between two unmodified QEMUs:
//!
//! ```text
//! QEMU -> bridge --to ber tcp-listen:4444 tcp:peer:5555 -> bridge --to legacy tcp-listen:5555 tcp:dst:6666 -> QEMU -incoming
//! ```

mod channels;
mod endpoint;
mod window;

pub use self::endpoint::Endpoint;

use self::channels::{Channels, Hop};
use self::endpoint::{accept_all, read_head, Arrival, Arrivals, Conn, Gate};
use self::window::{Counted, Credits, Locked, Windowed};
use crate::Failure;
use indicatif::{ProgressBar, ProgressStyle};
use std::cell::RefCell;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use vmstate_runtime::dump::{Carrier, Limits, LiveConversion, Progress};
use vmstate_runtime::framing::return_path;
use vmstate_runtime::ram::ber::{Compression, CACHE_MAX};
use vmstate_runtime::ram::PAGE_SIZE;
use vmstate_runtime::Format;

/// Connections to close together from any thread.
#[derive(Clone, Default)]
struct Closers(Arc<Mutex<Vec<Conn>>>);

impl Closers {
    fn add(&self, c: &Conn) -> io::Result<()> {
        let closer = c.closer()?;
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(closer);
        Ok(())
    }

    fn close(&self) {
        for c in self.0.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            c.close();
        }
    }
}

/// Why a bridge refused a migration from another thread (a second connection),
/// and the connections to close when it does: both sides, so that the source
/// fails its migration and runs on, and the destination never completes.
#[derive(Clone, Default)]
struct Refusal {
    reason: Arc<Mutex<Option<String>>>,
    closers: Closers,
}

impl Refusal {
    /// Closes `c` when the migration is refused: at once when it was already.
    fn close_on_refusal(&self, c: &Conn) -> io::Result<()> {
        self.closers.add(c)?;
        if self.reason().is_some() {
            self.closers.close();
        }
        Ok(())
    }

    fn refuse(&self, reason: String) {
        let mut r = self.reason.lock().unwrap_or_else(|e| e.into_inner());
        r.get_or_insert(reason);
        drop(r);
        self.closers.close();
    }

    fn reason(&self) -> Option<String> {
        self.reason
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
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
/// `switchover-ack` completes. A listening bridge whose next hop is a
/// connection carries the source's multifd channels too, each to a connection
/// of its own ([`Channels`]), and waits, when a connection breaks in postcopy,
/// for the one the source resumes the migration on ([`Connection`]). What
/// needs more (COLO, a return path between files) is refused at the first
/// record or connection that shows it ([`LiveConversion`]).
pub fn run(
    from: &Endpoint,
    to: &Endpoint,
    format: Format,
    compression: Option<Compression>,
    tap: Option<&PathBuf>,
) -> Result<Progress, Failure> {
    let done = bridge(from, to, format, compression, tap);
    for path in [from.socket_file(), to.socket_file()].into_iter().flatten() {
        let _ = std::fs::remove_file(path);
    }
    done
}

/// What `--compress`, `--zstd-level` and `--delta-cache MIB` ask of a bridge
/// that writes `to`.
pub fn compression(
    compress: bool,
    to: Format,
    zstd_level: i32,
    delta_cache_mib: u64,
) -> Result<Option<Compression>, Failure> {
    let most = (CACHE_MAX * PAGE_SIZE) >> 20;
    match (compress, to) {
        (false, _) => Ok(None),
        (true, Format::Legacy) => Err(Failure(
            "--compress compresses a BER leg (--to ber); a bridge --to legacy reads a \
             compressed stream without it"
                .into(),
        )),
        (true, Format::Ber) if delta_cache_mib > most => Err(Failure(format!(
            "--delta-cache {delta_cache_mib}: at most {most} MiB (what a reader keeps)"
        ))),
        (true, Format::Ber) => Ok(Some(Compression {
            zstd_level: Some(zstd_level),
            cache_pages: (delta_cache_mib << 20) / PAGE_SIZE,
        })),
    }
}

fn bridge(
    from: &Endpoint,
    to: &Endpoint,
    format: Format,
    compression: Option<Compression>,
    tap: Option<&PathBuf>,
) -> Result<Progress, Failure> {
    let refusal = Refusal::default();
    let at_from = |e: io::Error| Failure(format!("{from}: {e}"));
    // The source's main channel: its connection, or the first connection to a
    // listener that is not a multifd channel (channels that came first wait).
    let mut early = Vec::new();
    let (main, arrivals) = match from.listen().map_err(at_from)? {
        Some(listener) => {
            let arrivals = accept_all(listener).map_err(at_from)?;
            loop {
                let (a, _unsettled) = arrivals
                    .recv()
                    .ok_or_else(|| Failure(format!("{from}: no connection")))?;
                let a = a.map_err(at_from)?;
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
    // The return path travels when both sides are connections; a connection
    // that breaks in postcopy is resumed on another when the source can make
    // one (it connects to this bridge) and this bridge can (it connects on).
    let both_connected = main.is_some() && (to.is_listener() || to.is_connection());
    let resumable = from.is_listener() && to.is_connection();
    let carrier = Carrier {
        return_path: both_connected,
        multifd: from.is_listener() && to.is_connection(),
    };
    let mut live = LiveConversion::new(format, Limits::default(), carrier);
    if let Some(c) = compression {
        live.compress(c);
    }
    let gate = arrivals.as_ref().map(Arrivals::gate);
    if let Some(gate) = gate.clone() {
        // What the source opened before it switched to postcopy is settled
        // first: QEMU's postcopy-preempt channel connects just before it stops
        // its guest, and is refused before the destination can run one.
        let refusal = refusal.clone();
        live.check_before_switch(move || {
            gate.settle();
            match refusal.reason() {
                Some(reason) => Err(vmstate_runtime::Error::new(
                    vmstate_runtime::ErrorKind::Validation(reason),
                    0,
                )),
                None => Ok(()),
            }
        });
    }
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    let start = Instant::now();
    let channels = Channels::default();
    // Where to listen again while postcopy is paused.
    let place = arrivals.as_ref().map(Arrivals::place).transpose();
    let place = place.map_err(at_from)?;
    let mut connection = Connection {
        main,
        n: 0,
        source_format: None,
    };
    let mut arrivals = arrivals.map(|a| (a, early));
    let (mut p, back, destination) = loop {
        let hop = Hop {
            from: from.clone(),
            to: to.clone(),
            format,
            tap: tap.cloned(),
        };
        // The channels go to the next hop after the main channel did: a
        // destination QEMU 7.2 takes its first connection for the main channel.
        let on_open = |refusal: &Refusal| {
            if let Some((arrivals, early)) = arrivals.take() {
                channels.carry(arrivals, early, hop, refusal);
            }
        };
        let report = &mut |p: &Progress| {
            // In a migration that may switch to postcopy, the first part after
            // RAM's setup: the source's multifd channels connect before the setup
            // ends, so once those that came are handled, no other connection is
            // to come but QEMU's postcopy-preempt channel, which the system then
            // refuses (before the source stops its guest). Without postcopy the
            // listener stays open: a bridge's channels reach the next bridge
            // after its main channel's first parts, as late as they come.
            if p.postcopy && p.parts > 1 {
                if let Some(g) = gate.as_ref().filter(|g| !g.closed() && g.settled()) {
                    g.close();
                }
            }
            bar.set_message(describe(p, start.elapsed()))
        };
        let carried = connection.carry(from, to, tap, &refusal, &mut live, on_open, report);
        // A refusal from another thread closed the connections under the
        // converter: its error is the closing, the reason is the refusal's.
        let e = match (carried, refusal.reason()) {
            (_, Some(reason)) => return Err(Failure(reason)),
            (Ok(done), None) => break done,
            (Err(e), None) => e,
        };
        let cut = matches!(&e, Broke::Cut(_));
        let (Broke::Cut(e) | Broke::Failed(e)) = e;
        if !(cut && live.paused() && resumable) {
            // The source gave up, maybe on a connection it could not open.
            let hint = match cut && gate.as_ref().is_some_and(Gate::closed) {
                true => PREEMPT_HINT,
                false => "",
            };
            return Err(Failure(format!("{}{hint}", e.0)));
        }
        bar.suspend(|| {
            eprintln!(
                "vmstate bridge: postcopy paused: {}; waiting on {from} for the source to \
                 resume it (migrate-recover on the destination QEMU to its address, which the \
                 bridges keep, then migrate with resume=true on the source QEMU)",
                e.0
            )
        });
        // Listening again where the source connected, for one connection.
        let place = place
            .as_ref()
            .ok_or_else(|| Failure(format!("{from}: no listener to resume on")))?;
        let resumed = place
            .listen()
            .and_then(|l| l.accept())
            .map(|conn| Arrival {
                head: Vec::new(),
                conn,
            })
            .map_err(at_from)?;
        connection = Connection {
            main: Some(resumed),
            n: connection.n + 1,
            source_format: connection.source_format,
        };
    };
    bar.finish_and_clear();
    let refused = |e: String| match refusal.reason() {
        Some(reason) => Failure(reason),
        None => Failure(e),
    };
    // The stream is through: the next hop reads its end, and what it still says
    // (the destination's SHUT) comes back before the bridge closes, when the
    // stream opened a return path, or when it was compressed (the far bridge
    // says what it delivered until its end: a bridge that closed with that
    // unread would reset the connection under the stream's last octets).
    let compressing = live.compresses();
    let mut carried = match (back, &destination) {
        (Some(back), Some(d)) if p.return_path || compressing => {
            d.end_writes();
            let n = back
                .recv_timeout(RETURN_PATH_WAIT)
                .map_err(|_| Failure(format!("{to}: the return path did not end")))?;
            let n = n.map_err(|e| Failure(format!("{to}: the return path: {e}")))?;
            match p.return_path {
                true => format!(", {n} return-path messages"),
                false => String::new(),
            }
        }
        _ => String::new(),
    };
    if connection.n > 0 {
        carried += &format!(", resumed {} times", connection.n);
    }
    // The multifd channels end when the source closes them, after its main
    // channel: their pages count in, and then what is missing is known.
    let ends = channels.join().map_err(refused)?;
    let mut arrived = live.into_arrived();
    if !ends.is_empty() {
        carried += &format!(", {} multifd channels", ends.len());
        for end in ends {
            arrived.merge(end.arrived);
            p.pages += end.pages;
        }
        p.missing_pages = arrived.holes(PAGE_SIZE).iter().map(|h| h.missing).sum();
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

/// How a connection of the migration ended without its stream's end.
enum Broke {
    /// It was cut short (a connection broke, either side).
    Cut(Failure),
    /// Anything else: what was read is refused, or the bridge cannot go on.
    Failed(Failure),
}

/// What one connection carried to its end: the totals, the return path's
/// carrier and the next hop.
type Carried = (
    Progress,
    Option<Receiver<Result<u64, String>>>,
    Option<Conn>,
);

/// One connection of the source's main channel (the first, or one that resumed
/// a paused postcopy migration) and what is known of the ones before.
struct Connection {
    /// The source's connection (`None`: the bridge reads a file or `-`).
    main: Option<Arrival>,
    /// How many connections came before it.
    n: u32,
    /// The format the source's first connection came in: what goes back to it.
    source_format: Option<Format>,
}

impl Connection {
    /// Carries this connection to the next hop (a new connection to it, or
    /// `to` itself), converted to the format of `live`, with the return path
    /// back; calls `on_open` once the next hop is open. A break of either side
    /// closes both, so that both QEMUs see it (and pause, in postcopy).
    #[allow(clippy::too_many_arguments)]
    fn carry(
        &mut self,
        from: &Endpoint,
        to: &Endpoint,
        tap: Option<&PathBuf>,
        refusal: &Refusal,
        live: &mut LiveConversion,
        on_open: impl FnOnce(&Refusal),
        progress: &mut dyn FnMut(&Progress),
    ) -> Result<Carried, Broke> {
        let failed = |e: io::Error, at: &Endpoint| Broke::Failed(Failure(format!("{at}: {e}")));
        let hangup = Closers::default();
        let main = self.main.take();
        for c in main.iter().map(|a| &a.conn) {
            refusal.close_on_refusal(c).map_err(|e| failed(e, from))?;
            hangup.add(c).map_err(|e| failed(e, from))?;
        }
        // Handles on the source's connection: for the return path, and to see
        // whether the source paused.
        let closer = || {
            main.as_ref()
                .map(|a| a.conn.closer())
                .transpose()
                .map_err(|e| failed(e, from))
        };
        let (source, source_conn) = (closer()?, closer()?);
        let input = match main {
            Some(a) => a.reader(),
            None => from.reader().map_err(|e| failed(e, from))?,
        };
        let mut input = Box::new(input);
        // The source's format, for what goes back to it: its stream's first octet.
        let mut head = [0u8; 1];
        let got = read_head(&mut input, &mut head);
        let source_format = *self.source_format.get_or_insert(match head {
            [b'Q'] => Format::Legacy,
            _ => Format::Ber,
        });
        let input = Box::new(io::Cursor::new(head).take(got as u64).chain(input));
        if let (Some(c), Format::Legacy) = (&source_conn, source_format) {
            c.keep_local_queue_small();
        }
        // A resumed connection's copy is beside the first one's.
        let tap = tap.map(|t| match self.n {
            0 => t.clone(),
            n => {
                let mut path = t.clone().into_os_string();
                path.push(format!(".resumed{n}"));
                PathBuf::from(path)
            }
        });
        let input = tapped(input, tap.as_deref()).map_err(Broke::Failed)?;
        // A next hop that does not answer is a break too: a resumed migration
        // pauses again (its destination may not listen yet).
        let opened = to
            .open()
            .map_err(|e| Broke::Cut(Failure(format!("{to}: {e}"))))?;
        if let Some(c) = &opened {
            refusal.close_on_refusal(c).map_err(|e| failed(e, to))?;
            hangup.add(c).map_err(|e| failed(e, to))?;
        }
        on_open(refusal);
        if let Some(reason) = refusal.reason() {
            return Err(Broke::Failed(Failure(reason)));
        }
        let destination = opened.as_ref().map(Conn::closer).transpose();
        let destination = destination.map_err(|e| failed(e, to))?;
        // Flow control on a compressed BER leg (`window`): the far bridge
        // says what it delivered, the near one keeps within a window of it.
        // The far bridge tells once the stream shows it came compressed.
        let delivered = Arc::new(AtomicU64::new(0));
        let credits = live.compresses().then(|| Arc::new(Credits::default()));
        let compressed = Arc::new(AtomicBool::new(false));
        let mut _telling = None;
        let back = match (source, &destination) {
            (Some(s), Some(d)) => {
                let way_back = Locked(Arc::new(Mutex::new(s.boxed_writer())));
                if live.format() == Format::Legacy && source_format == Format::Ber {
                    _telling = Some(window::tell(
                        delivered.clone(),
                        compressed.clone(),
                        way_back.clone(),
                    ));
                }
                Some(carry_back(
                    way_back,
                    d.closer().map_err(|e| failed(e, to))?,
                    (live.format(), source_format),
                    refusal,
                    &hangup,
                    credits.clone(),
                ))
            }
            _ => None,
        };
        let output: Output = Rc::new(RefCell::new(BufWriter::with_capacity(
            BUFFER,
            Box::new(Counted {
                inner: to.writer(opened).map_err(|e| failed(e, to))?,
                count: delivered,
            }),
        )));
        let input: Box<dyn Read> = match source_conn {
            Some(source) => Box::new(FlushWhenIdle {
                inner: input,
                source,
                out: output.clone(),
            }),
            None => input,
        };
        let input: Box<dyn Read> = match credits {
            Some(credits) => Box::new(Windowed {
                inner: input,
                read: 0,
                credits,
                out: output.clone(),
            }),
            None => input,
        };
        let mut input = BufReader::with_capacity(BUFFER, input);
        let mut output = Shared(output);
        let which = match self.n {
            0 => String::new(),
            n => format!(" (resumed connection {n})"),
        };
        let done = live.convert(&mut input, &mut output, &mut |p: &Progress| {
            if p.compressed {
                compressed.store(true, Ordering::Relaxed);
            }
            progress(p)
        });
        let p = match done {
            Ok(p) => p,
            Err(e) => {
                // What was converted goes on (the next hop reads a stream cut
                // short where this one was; a hop that does not read gets a few
                // seconds), then both sides close: each QEMU sees the break.
                if let Some(d) = &destination {
                    d.bound_writes(FLUSH_WAIT);
                }
                drop((input, output));
                hangup.close();
                let f = Failure(format!("{from} -> {to}{which}: {e}"));
                return Err(match e.is_cut_short() {
                    true => Broke::Cut(f),
                    false => Broke::Failed(f),
                });
            }
        };
        output
            .flush()
            .map_err(|e| Broke::Cut(Failure(format!("{to}: {e}"))))?;
        Ok((p, back, destination))
    }
}

/// How long what was converted before a break may take to reach the next hop.
const FLUSH_WAIT: Duration = Duration::from_secs(5);

/// Why a source may end its migration once the bridge stopped listening.
const PREEMPT_HINT: &str = " (if the source failed to connect: its postcopy-preempt \
    channel, which a vmstate bridge does not carry and refuses once RAM flows; migrate \
    without it: migrate-set-capabilities postcopy-preempt=off on both QEMUs)";

/// How long a bridge waits, once the stream is through, for the return path to
/// end (the destination's SHUT, then its close).
const RETURN_PATH_WAIT: Duration = Duration::from_secs(60);

/// Carries the return path from `destination` (messages in `formats.0`, the
/// bridge's output) to `source` (in `formats.1`) on a thread of its own; the
/// channel gives how many messages it carried once the destination's side ends.
/// When it ends, the connection's both sides close (`hangup`): a next hop that
/// went away is a break the source must see too. A message QEMU would refuse
/// refuses the migration.
///
/// `credits` takes what a far bridge says it delivered (`window`).
fn carry_back(
    mut source: Locked,
    destination: Conn,
    formats: (Format, Format),
    refusal: &Refusal,
    hangup: &Closers,
    credits: Option<Arc<Credits>>,
) -> Receiver<Result<u64, String>> {
    let (tx, rx) = mpsc::channel();
    let (refusal, hangup) = (refusal.clone(), hangup.clone());
    std::thread::spawn(move || {
        let mut from = BufReader::new(destination.boxed_reader());
        let mut delivered = |n| {
            if let Some(c) = &credits {
                c.delivered(n);
            }
        };
        let done =
            return_path::carry_taking(&mut from, &mut source, formats.0, formats.1, &mut delivered);
        if let Some(c) = &credits {
            c.ended();
        }
        match &done {
            Err(e) if !e.is_cut_short() => refusal.refuse(format!("the return path: {e}")),
            _ => hangup.close(),
        }
        let _ = tx.send(done.map_err(|e| e.to_string()));
    });
    rx
}

/// The CPU time of this process, every thread's, in nanoseconds (to 10 ms),
/// where Linux says it.
fn cpu_time() -> Option<u64> {
    // utime and stime (fields 14 and 15, after the command's parentheses), in
    // clock ticks of 10 ms: every thread's, the ended ones' too (the
    // compressors', the multifd channels').
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split_whitespace().skip(11);
    let ticks: u64 = fields.next()?.parse::<u64>().ok()? + fields.next()?.parse::<u64>().ok()?;
    Some(ticks * 10_000_000)
}

/// This process's peak resident memory in KiB (`VmHWM`), where Linux says it.
fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// One line of progress: bytes each way, pages, sections and the rate of the
/// legacy side (the larger: on a compressed leg the BER side is a fraction).
fn describe(p: &Progress, elapsed: Duration) -> String {
    let mib = |b: u64| b as f64 / f64::from(1 << 20);
    let rate = mib(p.bytes_in.max(p.bytes_out)) / elapsed.as_secs_f64().max(1e-3);
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
