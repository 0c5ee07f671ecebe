//! Loading a whole stream into a registry, from memory or as it arrives: records
//! come from [`crate::framing`], device bodies go to staged copies, iterative parts
//! to their sections in place.

use super::Registry;
use crate::error::{Error, ErrorKind, Result};
use crate::format::Format;
use crate::framing::{
    self as records, framing_error, Configuration, Part, SectionHeader, SectionId, SectionKind,
    Started,
};
use crate::io::{Input, ReadInput, SliceInput, StreamInput};
use std::any::Any;

/// Device sections staged by a load: the device's index and its decoded copy.
type Staged = Vec<(usize, Box<dyn Any>)>;

/// Where a load sends a section's body.
enum Target {
    /// The device at this index, staged.
    Device(usize),
    /// The iterative section at this index, loaded in place.
    Iterative(usize),
}

/// A load in progress: the devices staged so far and which were loaded.
struct Loading {
    staged: Staged,
    /// Per device index, whether a section loaded it.
    loaded: Vec<bool>,
}

impl<'a> Registry<'a> {
    /// Loads a stream of either format. Every section must belong to a registered
    /// device and every device must be in the stream; the devices change only if all
    /// of it loads.
    ///
    /// Iterative sections load in place, part by part (their state is the guest's
    /// memory, too large to stage); only the devices are transactional.
    pub fn load(&mut self, bytes: &[u8]) -> Result<()> {
        self.load_input(StreamInput::Slice(SliceInput::new(bytes)))
    }

    /// [`load`](Self::load) from a reader, as the stream arrives (a socket during a
    /// live migration): a legacy stream is read record by record, each RAM page
    /// straight into the guest's memory; a BER stream item by item, each section
    /// buffered alone. Nothing of the stream is kept once loaded.
    pub fn load_from<R: std::io::Read>(&mut self, mut reader: R) -> Result<()> {
        self.load_input(StreamInput::Read(ReadInput::new(&mut reader)))
    }

    fn load_input(&mut self, mut input: StreamInput<'_>) -> Result<()> {
        let mut l = Loading {
            staged: Vec::new(),
            loaded: vec![false; self.entries.len()],
        };
        let head = input.peek(4)?;
        match records::detect(head) {
            Some(Format::Legacy) => self.load_legacy(&mut input, &mut l)?,
            Some(Format::Ber) => self.load_ber(&mut input, &mut l)?,
            None => return Err(records::unknown_format_at(&mut input)),
        }
        if let Some(i) = l.loaded.iter().position(|done| !done) {
            let e = &self.entries[i];
            return Err(Error::new(
                ErrorKind::MissingSection(format!("{}#{}", e.idstr, e.instance)),
                input.offset(),
            ));
        }
        // Memory the sources of the devices just loaded did not send, before the
        // check that every page arrived.
        for (i, s) in &l.staged {
            let e = &self.entries[*i];
            if let Some(ram) = e.device.unplugged_ram(s.as_ref()) {
                let path = crate::unplugged::device_path(&e.idstr);
                for it in &mut self.iteratives {
                    it.handler
                        .unplugged(path, &ram)
                        .map_err(|err| err.in_device(&e.idstr))?;
                }
            }
        }
        for it in &self.iteratives {
            it.handler
                .load_complete(input.offset())
                .map_err(|e| e.in_device(&it.idstr))?;
        }
        for (i, s) in l.staged {
            self.entries[i].device.commit(s);
        }
        Ok(())
    }

    /// Checks the stream's configuration (at `at`) against this VM and hands it
    /// to the iterative sections.
    fn configure(&mut self, c: Option<&(Configuration, u64)>) -> Result<()> {
        if let Some((c, at)) = c {
            self.check_machine(c, *at)?;
        }
        for it in &mut self.iteratives {
            it.handler.configure(c.map(|(c, _)| c))?;
        }
        Ok(())
    }

    fn check_machine(&self, c: &Configuration, at: u64) -> Result<()> {
        if c.name != self.machine_type.as_bytes() {
            return Err(framing_error(
                format!(
                    "the stream's machine type is {}, this VM's is {}",
                    c.machine_type(),
                    self.machine_type
                ),
                at,
            ));
        }
        Ok(())
    }

    /// The index of the registered device `idstr#instance`.
    pub(super) fn find(&self, idstr: &str, instance: u32, at: u64) -> Result<usize> {
        self.entries
            .iter()
            .position(|e| e.idstr == idstr && e.instance == instance)
            .ok_or_else(|| unknown_section(idstr, instance, at))
    }

    /// The registered device that takes device section `ident`: the nth of its
    /// idstr and instance for the nth such section of the stream (a VM with two
    /// of QEMU 7.2's `slirp#0`), or the first, as QEMU's loader takes them all,
    /// when fewer are registered.
    fn find_nth(&self, ident: &SectionId, at: u64) -> Result<usize> {
        let mut same = (self.entries.iter().enumerate())
            .filter(|(_, e)| e.idstr == ident.idstr && e.instance == ident.instance)
            .map(|(i, _)| i);
        let first = same
            .next()
            .ok_or_else(|| unknown_section(&ident.idstr, ident.instance, at))?;
        Ok(match ident.occurrence {
            0 => first,
            n => same.nth(n as usize - 1).unwrap_or(first),
        })
    }

    /// Where the body of the record `h` (at `at`, of section `ident`) goes.
    fn target(&self, h: &SectionHeader, ident: &SectionId, at: u64) -> Result<Target> {
        let target = if h.kind == SectionKind::Full {
            Target::Device(self.find_nth(ident, at)?)
        } else {
            Target::Iterative(
                self.iteratives
                    .iter()
                    .position(|e| e.idstr == ident.idstr && e.instance == ident.instance)
                    .ok_or_else(|| unknown_section(&ident.idstr, ident.instance, at))?,
            )
        };
        Ok(target)
    }

    /// Loads the body of record `h` (at `at`, of section `ident`): stages a
    /// device, or hands a part to its section.
    fn load_body(
        &mut self,
        l: &mut Loading,
        h: &SectionHeader,
        ident: &SectionId,
        at: u64,
        body: Part<'_, '_>,
    ) -> Result<()> {
        match self.target(h, ident, at)? {
            Target::Device(i) => {
                let device = &self.entries[i].device;
                let staged = match body {
                    Part::Legacy(r) => device.stage_legacy(r, ident.version),
                    Part::Ber { body, base } => device.stage_ber(body, base, ident.version),
                }
                .map_err(|e| e.in_device(&ident.idstr))?;
                l.staged.push((i, staged));
                l.loaded[i] = true;
            }
            Target::Iterative(i) => {
                self.iteratives[i]
                    .handler
                    .load_part(h.kind, body, ident.version)
                    .map_err(|e| e.in_device(&ident.idstr))?;
            }
        }
        Ok(())
    }

    /// A legacy stream, record by record.
    fn load_legacy(&mut self, r: &mut StreamInput<'_>, l: &mut Loading) -> Result<()> {
        let prelude = records::legacy::read_prelude(r)?;
        self.configure(prelude.as_ref())?;
        records::legacy::read_records(r, &mut Started::default(), &mut Load { reg: self, l })?;
        records::legacy::skip_trailer(r)
    }

    /// A BER stream, item by item: its prelude, then its sections, each read whole
    /// (borrowed when the stream is in memory).
    fn load_ber(&mut self, r: &mut StreamInput<'_>, l: &mut Loading) -> Result<()> {
        let prelude = records::ber::read_prelude(r)?;
        self.configure(prelude.configuration.as_ref())?;
        records::ber::read_items(r, &mut Started::default(), &mut Load { reg: self, l })
    }
}

/// The registry's side of both formats' readers ([`records::legacy::read_records`],
/// [`records::ber::read_items`]).
struct Load<'r, 'a, 'l> {
    reg: &'r mut Registry<'a>,
    l: &'l mut Loading,
}

/// A command a load may pass: one that needs no way back.
fn one_way(c: &records::Command, at: u64) -> Result<()> {
    if c.is_one_way() {
        Ok(())
    } else {
        Err(c.not_one_way(at))
    }
}

impl<'i> records::legacy::Records<StreamInput<'i>> for Load<'_, '_, '_> {
    fn command(&mut self, c: records::Command, at: u64) -> Result<()> {
        one_way(&c, at)
    }

    fn section(
        &mut self,
        h: &SectionHeader,
        ident: &SectionId,
        at: u64,
        r: &mut StreamInput<'i>,
    ) -> Result<()> {
        self.reg.load_body(self.l, h, ident, at, Part::Legacy(r))
    }
}

impl<'i> records::ber::Items<'i> for Load<'_, '_, '_> {
    fn command(&mut self, c: records::Command, at: u64) -> Result<()> {
        one_way(&c, at)
    }

    /// A typed load has its own descriptions.
    fn description(&mut self, _: String, _: u64) -> Result<()> {
        Ok(())
    }

    fn section(&mut self, s: records::ber::SectionRecord<'i>, ident: &SectionId) -> Result<()> {
        let body = Part::Ber {
            body: s.body(),
            base: s.body_offset,
        };
        self.reg.load_body(self.l, &s.header, ident, s.offset, body)
    }
}

fn unknown_section(idstr: &str, instance: u32, at: u64) -> Error {
    Error::new(ErrorKind::UnknownSection(format!("{idstr}#{instance}")), at)
}
