//! zstd groups compressed on worker threads: a writer hands a group over and
//! goes on converting, and the groups' elements come back in the order they
//! were handed over, so the bytes are those one thread would write.

use super::write::{push_len, push_uint, uint_len};
use crate::ber::{tlv_len, Tag};
use crate::error::{Error, ErrorKind, Result};
use std::collections::VecDeque;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

/// A group's `zstd [9]` element, or why zstd failed; and the group's buffer
/// back, cleared, for the next one.
type Done = (std::result::Result<Vec<u8>, String>, Vec<u8>);

struct Worker {
    jobs: SyncSender<Vec<u8>>,
    done: Receiver<Done>,
}

/// The workers, each with its zstd context.
pub(super) struct Groups {
    workers: Vec<Worker>,
    /// The workers holding a group, the oldest first.
    busy: VecDeque<usize>,
    next: usize,
    /// Cleared buffers to make the next groups in.
    spare: Vec<Vec<u8>>,
}

fn failed(why: String) -> Error {
    Error::new(ErrorKind::Framing(format!("zstd: {why}")), 0)
}

/// Appends the element of a group of `octets` octets compressed to `packed`.
fn element(out: &mut Vec<u8>, octets: u64, packed: &[u8]) {
    out.push(0xa9);
    push_len(
        out,
        2 + uint_len(octets) + tlv_len(Tag::OCTET_STRING, packed.len()),
    );
    push_uint(out, octets);
    out.push(0x04);
    push_len(out, packed.len());
    out.extend_from_slice(packed);
}

impl Groups {
    /// Workers compressing at zstd `level`: one per core, at most four.
    pub(super) fn new(level: i32) -> Result<Groups> {
        let n = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
        let mut workers = Vec::with_capacity(n);
        for _ in 0..n {
            let mut z = zstd::bulk::Compressor::new(level).map_err(|e| failed(e.to_string()))?;
            let (jobs, inbox) = sync_channel::<Vec<u8>>(1);
            let (outbox, done) = sync_channel::<Done>(1);
            std::thread::spawn(move || {
                for mut group in inbox {
                    let made = z.compress(&group).map_err(|e| e.to_string());
                    let made = made.map(|packed| {
                        let mut out = Vec::with_capacity(packed.len() + 16);
                        element(&mut out, group.len() as u64, &packed);
                        out
                    });
                    group.clear();
                    if outbox.send((made, group)).is_err() {
                        return;
                    }
                }
            });
            workers.push(Worker { jobs, done });
        }
        Ok(Groups {
            workers,
            busy: VecDeque::new(),
            next: 0,
            spare: Vec::new(),
        })
    }

    /// Hands `group` to the next worker, first appending the oldest group's
    /// element to `out` when every worker has one; returns a buffer for the
    /// next group.
    pub(super) fn submit(&mut self, group: Vec<u8>, out: &mut Vec<u8>) -> Result<Vec<u8>> {
        if self.busy.len() == self.workers.len() {
            self.collect(out)?;
        }
        let i = self.next;
        self.next = (self.next + 1) % self.workers.len();
        self.workers[i]
            .jobs
            .send(group)
            .map_err(|_| failed("a worker ended".into()))?;
        self.busy.push_back(i);
        Ok(self.spare.pop().unwrap_or_default())
    }

    /// Appends every group's element to `out`, in order.
    pub(super) fn drain(&mut self, out: &mut Vec<u8>) -> Result<()> {
        while !self.busy.is_empty() {
            self.collect(out)?;
        }
        Ok(())
    }

    fn collect(&mut self, out: &mut Vec<u8>) -> Result<()> {
        let Some(i) = self.busy.pop_front() else {
            return Ok(());
        };
        let (made, buffer) = self.workers[i]
            .done
            .recv()
            .map_err(|_| failed("a worker ended".into()))?;
        out.extend_from_slice(&made.map_err(failed)?);
        self.spare.push(buffer);
        Ok(())
    }
}
