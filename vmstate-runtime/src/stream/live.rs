//! A save in phases, for live migration: the iterative sections' parts while the
//! guest runs, then the devices' final state.

use super::{Registry, SectionDevice};
use crate::error::Result;
use crate::format::Format;
use crate::framing::{
    self as records, framing_error, Command, SectionHeader, SectionId, SectionKind,
};
use crate::io::Writer;

/// A save in phases ([`Registry::live_save`]), as a live migration needs it: the
/// START parts are written; [`iterate`](Self::iterate) writes a PART of every
/// iterative section not yet done, while the guest runs, as many times as the
/// handlers ask; then, the guest stopped, [`complete`](Self::complete) writes the END
/// parts, every device and the trailer. [`replace`](Self::replace) puts a device's
/// final state (captured once the guest stopped) into the registry before that.
pub struct LiveSave<'r, 'a, W: std::io::Write> {
    pub(super) reg: &'r mut Registry<'a>,
    pub(super) w: Writer<W>,
    pub(super) format: Format,
    /// Per iterative section, whether it said it was done.
    pub(super) done: Vec<bool>,
    /// Whether a BER stream's description was written.
    pub(super) described: bool,
}

impl<W: std::io::Write> LiveSave<'_, '_, W> {
    pub(super) fn section(
        &mut self,
        kind: SectionKind,
        id: u32,
        ident: Option<SectionId>,
        body: &[u8],
    ) -> Result<()> {
        let mut bytes = Vec::with_capacity(body.len() + 32);
        let header = SectionHeader { kind, id, ident };
        records::put_section(&mut bytes, self.format, &header, body)?;
        self.w.put(&bytes)
    }

    /// Writes the devices of one phase as FULL sections, in save order: with
    /// `early`, those marked `early_setup` (QEMU saves them with the START parts,
    /// so a destination has them before the RAM); else the others. In BER the
    /// description goes before the first device, as the devices are then.
    pub(super) fn save_devices(&mut self, early: bool) -> Result<()> {
        let order: Vec<usize> = self
            .reg
            .device_order()
            .into_iter()
            .filter(|&i| self.reg.entries[i].device.desc().section.early_setup == early)
            .collect();
        // Early devices are rare (virtio-mem): the description comes before them if
        // there are any, else before the others, written even when there are none.
        if self.format == Format::Ber && !self.described && (!early || !order.is_empty()) {
            records::ber::put_description(&mut self.w, &self.reg.vmdesc(Format::Ber))?;
            self.described = true;
        }
        for i in order {
            let e = &self.reg.entries[i];
            let version = self.reg.save_version(e);
            let mut body = Vec::new();
            e.device.save(self.format, version, &mut body)?;
            let ident = SectionId {
                idstr: e.idstr.clone(),
                instance: e.instance,
                version,
                occurrence: 0,
            };
            self.section(SectionKind::Full, self.reg.device_id(i), Some(ident), &body)?;
        }
        Ok(())
    }

    /// Writes one PART of each iterative section not yet done; returns `true` once
    /// all are. The bytes are flushed, so the peer has them.
    pub fn iterate(&mut self) -> Result<bool> {
        for id in 0..self.done.len() {
            if self.done[id] {
                continue;
            }
            let mut body = Vec::new();
            self.done[id] = self.reg.iteratives[id]
                .handler
                .save_iterate(self.format, &mut body)?;
            self.section(SectionKind::Part, self.reg.iterative_id(id), None, &body)?;
        }
        self.w.flush()?;
        Ok(!self.done.contains(&false))
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.w.written()
    }

    /// Replaces the registered device `idstr#instance` by `value` (of its type), e.g.
    /// a vCPU's state captured after the guest stopped.
    pub fn replace<T: SectionDevice + 'static>(
        &mut self,
        idstr: &str,
        instance: u32,
        value: T,
    ) -> Result<()> {
        let i = self.reg.find(idstr, instance, self.w.written())?;
        let device = &mut self.reg.entries[i].device;
        if !device.is_a(&value) {
            return Err(framing_error(
                format!("{idstr}#{instance} is registered with another type"),
                self.w.written(),
            ));
        }
        device.commit(Box::new(value));
        Ok(())
    }

    /// Writes QEMU's `SWITCHOVER_START` where the machine type wants it, each
    /// iterative section's END, every device as a FULL section (in BER after the
    /// description) and the trailer (legacy: EOF and the vmdesc); flushes. Returns the stream's bytes.
    pub fn complete(mut self) -> Result<u64> {
        if self.reg.switchover_start {
            let mut bytes = Vec::new();
            records::put_command(&mut bytes, self.format, &Command::switchover_start())?;
            self.w.put(&bytes)?;
        }
        for id in 0..self.done.len() {
            let mut body = Vec::new();
            self.reg.iteratives[id]
                .handler
                .save_complete(self.format, &mut body)?;
            self.section(SectionKind::End, self.reg.iterative_id(id), None, &body)?;
        }
        self.save_devices(false)?;
        match self.format {
            Format::Legacy => {
                records::legacy::put_trailer(&mut self.w, &self.reg.vmdesc(Format::Legacy))?
            }
            Format::Ber => records::ber::put_end(&mut self.w)?,
        }
        self.w.flush()?;
        Ok(self.w.written())
    }
}
