//! The source's multifd channels, carried each to a connection of its own to the
//! next hop and converted packet by packet.

use super::endpoint::{Arrival, Arrivals, Conn, Endpoint};
use super::{tapped, Refusal, BUFFER, RETURN_PATH_WAIT};
use crate::Failure;
use std::io::{BufReader, BufWriter};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use vmstate_runtime::ram::{multifd, Arrived, PAGE_SIZE};
use vmstate_runtime::{framing, Format};

/// A later connection that sends nothing first, or one opened while RAM flows
/// (multifd channels connect before): QEMU's postcopy-preempt channel, whose
/// pages no bridge reads (it has no header, and waits for the destination).
const PREEMPT: &str = "a connection that is no multifd channel and sends nothing first: \
    QEMU's postcopy-preempt channel (migration capability postcopy-preempt), which a \
    vmstate bridge does not carry: migrate without it (migrate-set-capabilities \
    postcopy-preempt=off on both QEMUs)";

/// Where a bridge carries the source's multifd channels.
pub(super) struct Hop {
    pub(super) from: Endpoint,
    pub(super) to: Endpoint,
    pub(super) format: Format,
    /// The main channel's tap: each channel's is beside it, `.channelN` added.
    pub(super) tap: Option<PathBuf>,
}

/// What a carried multifd channel passed on.
pub(super) struct ChannelEnd {
    /// Its pages (normal and zero).
    pub(super) pages: u64,
    /// Which pages, of which blocks.
    pub(super) arrived: Arrived,
}

/// The multifd channels a bridge carries, each on a thread of its own.
#[derive(Default)]
pub(super) struct Channels(Arc<Mutex<Vec<JoinHandle<Option<ChannelEnd>>>>>);

impl Channels {
    /// Carries each multifd channel that arrives (`early` first) to a
    /// connection of its own to the next hop, converted to the hop's format;
    /// refuses anything else that connects (a second main channel, a channel
    /// the next hop cannot take), with the migration.
    pub(super) fn carry(
        &self,
        arrivals: Arrivals,
        early: Vec<Arrival>,
        hop: Hop,
        refusal: &Refusal,
    ) {
        let (handles, refusal) = (self.0.clone(), refusal.clone());
        std::thread::spawn(move || {
            // Each later one is handled by the end of its turn of the loop.
            let later = std::iter::from_fn(|| arrivals.recv()).map(|(a, u)| (a, Some(u)));
            let all = early.into_iter().map(|a| (Ok(a), None)).chain(later);
            for (n, (a, _unsettled)) in all.enumerate() {
                let Ok(a) = a else { break };
                let refuse = |a: Arrival, why: String| {
                    refusal.refuse(format!("{}: {why}", hop.from));
                    a.conn.close();
                };
                let Some(_) = a.channel() else {
                    let what = match framing::detect(&a.head) {
                        Some(_) => "a second migration stream".to_owned(),
                        None if a.head.is_empty() => PREEMPT.to_owned(),
                        None => framing::unknown_format(&a.head).to_string(),
                    };
                    refuse(a, format!("the source opened another connection: {what}"));
                    continue;
                };
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
                // A refusal anywhere closes the channel's both sides too.
                for c in [&a.conn, &next] {
                    if let Err(e) = refusal.close_on_refusal(c) {
                        refusal.refuse(format!("{}: multifd channel {n}: {e}", hop.from));
                    }
                }
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
    pub(super) fn join(&self) -> Result<Vec<ChannelEnd>, String> {
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
pub(super) fn carry_channel(
    a: Arrival,
    next: Conn,
    format: Format,
    tap: Option<PathBuf>,
    label: &str,
) -> Result<ChannelEnd, Failure> {
    let closer = next
        .closer()
        .map_err(|e| Failure(format!("{label}: {e}")))?;
    // Where the channel comes as QEMU sends it.
    if format == Format::Ber {
        a.conn.keep_local_queue_small();
    }
    let input = tapped(a.reader(), tap.as_deref())?;
    let mut input = BufReader::with_capacity(BUFFER, input);
    let mut output = BufWriter::with_capacity(BUFFER, next.boxed_writer());
    let mut end = ChannelEnd {
        pages: 0,
        arrived: Arrived::unlisted(),
    };
    multifd::convert(&mut input, &mut output, format, &mut |p| {
        end.pages += (p.normal_pages() + p.zero_pages()) as u64;
        for offset in p.offsets() {
            end.arrived.pages(p.block(), offset, 1, PAGE_SIZE);
        }
    })
    .map_err(|e| Failure(format!("{label}: {e}")))?;
    drop(output);
    closer.end_writes();
    Ok(end)
}
