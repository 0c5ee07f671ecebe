//! RAM of a running guest: the first pass, then the pages its dirty log reports.

use super::saver::{Pages, PartStats, RamSaver};
use super::{wrong_direction, RAM_VERSION};
use crate::error::Result;
use crate::format::Format;
use crate::framing::{IterativeSection, Part, SectionKind};
use crate::io::Writer;

/// RAM for a live migration through a registry ([`Registry::live_save`]): every page
/// first (in parts of at most 64 MiB), then round after round the pages the dirty log
/// reports, until a round finds few enough; the END part, once the guest is stopped,
/// sends what is still dirty. `dirty` returns, one bitmap per block in KVM's layout,
/// the pages written since its previous call (`KVM_GET_DIRTY_LOG` does).
///
/// [`Registry::live_save`]: crate::stream::Registry::live_save
pub struct LiveRam<'a, D> {
    saver: RamSaver<'a>,
    dirty: D,
    /// What the last round's dirty log reported, to send next.
    pending: Option<Vec<Vec<u64>>>,
    /// Whether the first pass (every page) is done.
    first_pass_done: bool,
    /// Per part: what it carried.
    parts: Vec<PartStats>,
    /// Dirty rounds sent so far.
    rounds: usize,
    /// A round finding at most this many dirty pages ends the live phase.
    pub converged: u64,
    /// The live phase ends after this many dirty rounds in any case.
    pub max_rounds: usize,
    /// ...and not before this many, however few pages the guest dirties.
    pub min_rounds: usize,
}

impl<'a, D: FnMut() -> Result<Vec<Vec<u64>>>> LiveRam<'a, D> {
    /// Live RAM of `saver`'s blocks; the dirty log starts being read at the START part.
    pub fn new(saver: RamSaver<'a>, dirty: D) -> Self {
        LiveRam {
            saver,
            dirty,
            pending: None,
            first_pass_done: false,
            parts: Vec::new(),
            rounds: 0,
            converged: 16,
            max_rounds: 30,
            min_rounds: 0,
        }
    }

    /// What each part carried, in order (the first pass's parts, then one per round,
    /// then the END part).
    pub fn parts(&self) -> &[PartStats] {
        &self.parts
    }

    fn dirty_part(&mut self, maps: &[Vec<u64>], format: Format, out: &mut Vec<u8>) -> Result<()> {
        let refs: Vec<&[u64]> = maps.iter().map(Vec::as_slice).collect();
        let stats = self
            .saver
            .write_part(format, Pages::Dirty(&refs), &mut Writer::new(out))?;
        self.parts.push(stats);
        Ok(())
    }
}

impl<D: FnMut() -> Result<Vec<Vec<u64>>>> IterativeSection for LiveRam<'_, D> {
    fn version(&self) -> u32 {
        RAM_VERSION
    }

    fn save_setup(&mut self, format: Format, out: &mut Vec<u8>) -> Result<()> {
        (self.dirty)()?; // track from here on
        IterativeSection::save_setup(&mut self.saver, format, out)
    }

    fn save_iterate(&mut self, format: Format, out: &mut Vec<u8>) -> Result<bool> {
        if !self.first_pass_done {
            let (stats, done) = self.saver.write_next_pages(format, out)?;
            self.parts.push(stats);
            self.first_pass_done = done;
            if !done {
                return Ok(false);
            }
        } else if let Some(maps) = self.pending.take() {
            self.dirty_part(&maps, format, out)?;
            self.rounds += 1;
        }
        let maps = (self.dirty)()?;
        let dirty: u64 = maps
            .iter()
            .flatten()
            .map(|w| u64::from(w.count_ones()))
            .sum();
        self.pending = Some(maps);
        let converged = dirty <= self.converged && self.rounds >= self.min_rounds;
        Ok(converged || self.rounds >= self.max_rounds)
    }

    fn save_complete(&mut self, format: Format, out: &mut Vec<u8>) -> Result<()> {
        // What the last round left, and what the guest wrote until it stopped.
        let mut maps = (self.dirty)()?;
        for (m, p) in maps.iter_mut().zip(self.pending.take().unwrap_or_default()) {
            for (a, b) in m.iter_mut().zip(p) {
                *a |= b;
            }
        }
        self.dirty_part(&maps, format, out)
    }

    /// A live save sends pages again as the guest writes them: a mapped-ram file,
    /// whose pages a stream writes once, is refused (save the stopped guest with a
    /// [`RamSaver`](super::RamSaver)).
    fn configure(&mut self, c: Option<&crate::framing::Configuration>) -> Result<()> {
        if super::BlockLayout::of(c).mapped {
            return Err(crate::Error::new(
                crate::ErrorKind::Unsupported {
                    what: "a live save into a mapped-ram file".into(),
                    capability: "mapped-ram".into(),
                    remedy: "save the stopped guest with a RamSaver".into(),
                },
                0,
            ));
        }
        self.saver.configure(c)
    }

    fn load_part(&mut self, _kind: SectionKind, _part: Part<'_, '_>, _version: u32) -> Result<()> {
        Err(wrong_direction(
            "a RAM saver does not load; register a RamLoader",
        ))
    }
}
