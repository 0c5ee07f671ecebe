//! A RAM part's BER section record, written as its legacy records arrive.

use super::{PartEncoder, WireWriter};
use crate::error::Result;
use crate::framing::ber::{put_open_section, put_open_section_end, put_section_head};
use crate::framing::SectionHeader;
use crate::io::Writer;
use crate::ram::RamRecord;
use std::io;

/// The most octets of elements a part's record holds before it is written open.
pub const PART_HOLD: usize = 8 << 20;

/// A RAM part's section record, from its legacy records: held while its elements
/// take at most [`PART_HOLD`] octets, then written with a definite length; a
/// larger part (a live migration's last part may hold most of the guest) is
/// written open (indefinite length, [`put_open_section`]) once its elements pass
/// that, and goes on as they come. One rule for every writer, so that a stream
/// converted as it arrives and one converted whole are the same bytes. With
/// zstd groups ([`wire`](super::wire)), a part is written open once its first
/// group is made (handed over to be compressed) before its end.
#[derive(Debug)]
pub struct PartRecord {
    header: SectionHeader,
    enc: PartEncoder,
    held: Vec<u8>,
    open: bool,
}

impl PartRecord {
    /// The record of a part with this header.
    pub fn new(header: SectionHeader) -> Self {
        PartRecord {
            header,
            enc: PartEncoder::new(),
            held: Vec::new(),
            open: false,
        }
    }

    /// Takes the part's next record, writing what no longer needs holding;
    /// `wire` compresses the pages ([`wire`](super::wire)).
    pub fn push<W: io::Write>(
        &mut self,
        r: &RamRecord<'_>,
        w: &mut Writer<W>,
        wire: Option<&mut WireWriter>,
    ) -> Result<()> {
        let mut groups = false;
        match wire {
            None => self.enc.push(r, &mut self.held)?,
            Some(wire) => {
                let delta = match r {
                    RamRecord::Page {
                        block,
                        offset,
                        data,
                        ..
                    } => wire.delta(block, *offset, data),
                    RamRecord::Zero { block, offset, .. }
                    | RamRecord::Encoded { block, offset, .. } => {
                        wire.drop_page(block, *offset);
                        None
                    }
                    _ => None,
                };
                let out = wire.elements(&mut self.held);
                match (delta, r) {
                    (
                        Some(delta),
                        RamRecord::Page {
                            block,
                            offset,
                            continued,
                            ..
                        },
                    ) => self
                        .enc
                        .push_delta(block, *offset, &delta, *continued, out)?,
                    _ => self.enc.push(r, out)?,
                }
                groups = wire.groups();
                // A group stands for up to 8 MiB of elements: the part goes
                // open at its first, and each goes on as it is made, so that
                // what waits in the bridge is what the link carries in a
                // moment, not seconds of it.
                if wire.compress(&mut self.held, false)? {
                    self.open(w)?;
                }
            }
        }
        let hold = if groups && self.open { 0 } else { PART_HOLD };
        if self.held.len() > hold {
            self.open(w)?;
            w.put(&self.held)?;
            self.held.clear();
        }
        Ok(())
    }

    /// Writes the record's start, open, unless it is written.
    fn open<W: io::Write>(&mut self, w: &mut Writer<W>) -> Result<()> {
        if !self.open {
            put_open_section(w, &self.header)?;
            self.open = true;
        }
        Ok(())
    }

    /// Ends the part and writes the rest of its record.
    pub fn finish<W: io::Write>(
        mut self,
        w: &mut Writer<W>,
        wire: Option<&mut WireWriter>,
    ) -> Result<()> {
        match wire {
            None => self.enc.finish(&mut self.held)?,
            Some(wire) => {
                self.enc.finish(wire.elements(&mut self.held))?;
                wire.compress(&mut self.held, true)?;
            }
        }
        if self.open {
            w.put(&self.held)?;
            return put_open_section_end(w);
        }
        let mut head = Vec::new();
        put_section_head(&mut head, &self.header, self.held.len());
        w.put(&head)?;
        w.put(&self.held)
    }
}
