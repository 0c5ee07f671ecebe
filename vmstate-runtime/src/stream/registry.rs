//! Whole migration streams from typed devices: a [`Registry`] of sections, saved in
//! the format the call chooses and loaded in whichever format the bytes are.
//!
//! ```
//! use vmstate_runtime::stream::{MachineTypes, Registry};
//! use vmstate_runtime::{Format, VMState};
//!
//! #[derive(VMState, Clone, Debug, Default, PartialEq)]
//! #[vmstate(name = "port92", version = 2, minimum_version = 1)]
//! pub struct Port92 {
//!     pub outport: u8,
//!     #[vmstate(version = 2..)]
//!     pub latch: u8,
//! }
//!
//! let mut dev = Port92 { outport: 2, latch: 1 };
//! // An older machine type pins the device at version 1.
//! let table = MachineTypes::new().machine("pc-7.0", &[("port92", 1)]);
//! let mut reg = Registry::new("pc-7.0").with_machine_types(table);
//! reg.device("port92", 0, &mut dev);
//! let legacy = reg.save(Format::Legacy).unwrap();
//! let ber = reg.save(Format::Ber).unwrap();
//!
//! let mut back = Port92::default();
//! let mut dst = Registry::new("pc-7.0");
//! dst.device("port92", 0, &mut back);
//! dst.load(&ber).unwrap(); // the format is detected
//! dst.load(&legacy).unwrap();
//! drop(dst);
//! assert_eq!(back.outport, 2);
//! assert_eq!(back.latch, 0); // version 1 has no latch
//! ```

use super::{LiveSave, MachineTypes, SectionDevice};
use crate::error::{Error, ErrorKind, Result};
use crate::format::Format;
use crate::framing::{self as records, Configuration, IterativeSection, SectionId, SectionKind};
use crate::io::Writer;
use crate::json::{JsonWriter, VmdescArrays};

pub(super) struct Entry<'a> {
    pub(super) idstr: String,
    pub(super) instance: u32,
    /// The section id chosen with [`Registry::set_section_id`].
    pub(super) section_id: Option<u32>,
    pub(super) device: &'a mut dyn SectionDevice,
}

pub(super) struct IterEntry<'a> {
    pub(super) idstr: String,
    pub(super) instance: u32,
    pub(super) section_id: Option<u32>,
    pub(super) handler: &'a mut dyn IterativeSection,
}

/// The sections of one VM: iterative sections, then devices, each by idstr and
/// instance id in registration order (QEMU's save order; the section ids follow it).
pub struct Registry<'a> {
    pub(super) machine_type: String,
    machine_types: MachineTypes,
    /// Whether the stream carries QEMU's `SWITCHOVER_START` before the devices.
    pub(super) switchover_start: bool,
    /// How the vmdesc lists arrays, when not as the machine type's release does.
    vmdesc_arrays: Option<VmdescArrays>,
    /// The migration capabilities the configuration lists.
    capabilities: Vec<String>,
    pub(super) iteratives: Vec<IterEntry<'a>>,
    pub(super) entries: Vec<Entry<'a>>,
}

impl<'a> Registry<'a> {
    /// A registry for a VM of `machine_type` (sent in the configuration section and
    /// checked against the stream's on load).
    pub fn new(machine_type: &str) -> Self {
        Registry {
            machine_type: machine_type.to_owned(),
            machine_types: MachineTypes::new(),
            switchover_start: super::sends_switchover_start(machine_type),
            vmdesc_arrays: None,
            capabilities: Vec::new(),
            iteratives: Vec::new(),
            entries: Vec::new(),
        }
    }

    /// Registers an iterative section (saved before the devices, as QEMU does).
    pub fn iterative(&mut self, idstr: &str, instance: u32, handler: &'a mut dyn IterativeSection) {
        self.iteratives.push(IterEntry {
            idstr: idstr.to_owned(),
            instance,
            section_id: None,
            handler,
        });
    }

    /// Uses `table` to pick the save version of each device for the machine type.
    #[must_use]
    pub fn with_machine_types(mut self, table: MachineTypes) -> Self {
        self.machine_types = table;
        self
    }

    /// Whether the stream carries QEMU's `SWITCHOVER_START` command before the device
    /// state. By default it does for QEMU 10.0 machine types and later, as QEMU 10.0
    /// writes it and a 7.2 destination would refuse it
    /// ([`sends_switchover_start`](super::sends_switchover_start)).
    #[must_use]
    pub fn with_switchover_start(mut self, send: bool) -> Self {
        self.switchover_start = send;
        self
    }

    /// Lists arrays in the vmdesc trailer as `arrays` says. By default they are
    /// listed as the machine type's QEMU release lists them; a newer QEMU running
    /// an older machine type (QEMU 10.0 on `pc-i440fx-7.2`) lists them its own way.
    #[must_use]
    pub fn with_vmdesc_arrays(mut self, arrays: VmdescArrays) -> Self {
        self.vmdesc_arrays = Some(arrays);
        self
    }

    /// Lists migration capability `name` in the stream's configuration, as QEMU
    /// lists those that change what a stream holds, and saves the stream it
    /// describes: with `mapped-ram`, a mapped-ram file that QEMU 9.0 and later
    /// restore with `migrate-incoming file:` (each RAM block's pages in their slots;
    /// a [`RamSaver`](crate::ram::RamSaver) of the stopped guest writes it). Each
    /// iterative section is configured with it before the save
    /// ([`IterativeSection::configure`]), and refuses one it cannot write.
    #[must_use]
    pub fn with_capability(mut self, name: &str) -> Self {
        self.capabilities.push(name.to_owned());
        self
    }

    /// Registers a device section.
    pub fn device(&mut self, idstr: &str, instance: u32, device: &'a mut dyn SectionDevice) {
        self.entries.push(Entry {
            idstr: idstr.to_owned(),
            instance,
            section_id: None,
            device,
        });
    }

    /// Registers a device section sent under section id `id` (see
    /// [`Registry::set_section_id`]); for a device registered twice under one idstr
    /// and instance, as QEMU 7.2 registers every `-netdev user`, the id of this
    /// registration.
    pub fn device_with_section_id(
        &mut self,
        idstr: &str,
        instance: u32,
        id: u32,
        device: &'a mut dyn SectionDevice,
    ) {
        self.entries.push(Entry {
            idstr: idstr.to_owned(),
            instance,
            section_id: Some(id),
            device,
        });
    }

    /// Sends the registered section `idstr#instance` (iterative or device) under
    /// section id `id`. By default the ids count up from 1 in save order; QEMU
    /// numbers its sections in the order it registered their handlers, sent or not,
    /// so a stream that must equal QEMU's byte for byte takes QEMU's ids. An
    /// iterative section must not take id 0: QEMU finds a PART or END by the id its
    /// START or FULL gave each handler, and a handler not loaded yet has 0, so it
    /// would load the part into the first device it registered.
    pub fn set_section_id(&mut self, idstr: &str, instance: u32, id: u32) -> Result<()> {
        let iterative = self
            .iteratives
            .iter_mut()
            .find(|e| e.idstr == idstr && e.instance == instance);
        if let Some(e) = iterative {
            e.section_id = Some(id);
            return Ok(());
        }
        let i = self.find(idstr, instance, 0)?;
        self.entries[i].section_id = Some(id);
        Ok(())
    }

    /// The devices in save order: those with `early_setup` first, then by priority
    /// (higher first), registration order within one priority, as QEMU orders its
    /// handlers.
    pub(super) fn device_order(&self) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.entries.len()).collect();
        order.sort_by_key(|&i| {
            let s = self.entries[i].device.desc().section;
            (!s.early_setup, std::cmp::Reverse(s.priority))
        });
        order
    }

    /// Refuses a save while a device cannot migrate: one marked `unmigratable`, or
    /// one whose unplug is pending (QEMU waits for the unplug; the caller retries).
    fn check_migratable(&self) -> Result<()> {
        for e in &self.entries {
            let name = || format!("{}#{}", e.idstr, e.instance);
            if e.device.desc().section.unmigratable {
                return Err(Error::new(ErrorKind::Unmigratable(name()), 0));
            }
            if e.device.unplug_pending() {
                return Err(Error::new(ErrorKind::UnplugPending(name()), 0));
            }
        }
        Ok(())
    }

    /// The section id of iterative section `i`.
    pub(super) fn iterative_id(&self, i: usize) -> u32 {
        self.iteratives[i].section_id.unwrap_or(i as u32 + 1)
    }

    /// The section id of device `i`.
    pub(super) fn device_id(&self, i: usize) -> u32 {
        let n = self.iteratives.len();
        self.entries[i].section_id.unwrap_or((n + i) as u32 + 1)
    }

    /// The ASN.1 module of this registry's BER streams: the stream framing, RAM
    /// elements and every registered device's type, so an independent tool decodes
    /// a whole stream with it (see [`Module::with_stream`](crate::ber::asn1::Module::with_stream)).
    pub fn asn1_module(&self, name: &str) -> crate::ber::asn1::Module {
        let mut m = crate::ber::asn1::Module::new(name).with_stream();
        for e in &self.entries {
            m.add_desc(e.device.desc());
        }
        m
    }

    pub(super) fn save_version(&self, e: &Entry<'_>) -> u32 {
        self.machine_types
            .version(&self.machine_type, &e.idstr)
            .unwrap_or(e.device.desc().version)
    }

    fn configuration(&self) -> Configuration {
        self.capabilities
            .iter()
            .fold(Configuration::for_machine(&self.machine_type), |c, name| {
                c.with_capability(name)
            })
    }

    /// The vmdesc trailer (with BER tags for a BER stream's description), as the
    /// QEMU release of the machine type writes it: 10.0 lists arrays its own way and
    /// describes the configuration section first.
    pub(super) fn vmdesc(&self, format: Format) -> String {
        let arrays = match (self.vmdesc_arrays, super::qemu_release(&self.machine_type)) {
            (Some(a), _) => a,
            (None, Some(r)) if r >= (10, 0) => VmdescArrays::Qemu10_0,
            (None, _) => VmdescArrays::Qemu7_2,
        };
        let mut j = JsonWriter::compact().with_arrays(arrays);
        if format == Format::Ber {
            j = j.with_ber_tags();
        }
        j.begin_object(None);
        // In a BER stream's description too, as the legacy trailer has it (no BER
        // tags: the configuration is a record of its own in BER), so that the
        // stream's conversion to legacy has the trailer a legacy save writes.
        if arrays == VmdescArrays::Qemu10_0 {
            j.without_ber_tags(|j| {
                j.begin_object(Some("configuration"));
                crate::VMState::vmdesc_at(&self.configuration(), 1, j);
                j.end_object();
            });
        }
        j.int("page_size", 4096);
        j.begin_array("devices");
        for i in self.device_order() {
            let e = &self.entries[i];
            e.device
                .vmdesc(&e.idstr, e.instance, self.save_version(e), &mut j);
        }
        j.end_array();
        j.end_object();
        j.finish()
    }

    /// Saves every section in `format`: each iterative section's START, its PARTs
    /// until it is done, its END, then every device.
    pub fn save(&mut self, format: Format) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.save_to(format, &mut out)?;
        Ok(out)
    }

    /// [`save`](Self::save) into any writer (a file, a socket), each section as it
    /// is made: only one section's body is ever held in memory. The writer is
    /// flushed at the end. Returns the bytes written.
    pub fn save_to<W: std::io::Write>(&mut self, format: Format, w: W) -> Result<u64> {
        let mut live = self.live_save(format, w)?;
        while !live.iterate()? {}
        live.complete()
    }

    /// Begins a save in phases, for a live migration: writes the stream's header
    /// and every iterative section's START. See [`LiveSave`].
    pub fn live_save<W: std::io::Write>(
        &mut self,
        format: Format,
        w: W,
    ) -> Result<LiveSave<'_, 'a, W>> {
        self.check_migratable()?;
        let mut w = Writer::new(w);
        let configuration = self.configuration();
        match format {
            Format::Legacy => records::legacy::put_prelude(&mut w, Some(&configuration))?,
            Format::Ber => {
                records::ber::put_prelude(&mut w, records::VERSION, Some(&configuration))?
            }
        }
        let mut live = LiveSave {
            done: vec![false; self.iteratives.len()],
            described: false,
            reg: self,
            w,
            format,
        };
        for it in &mut live.reg.iteratives {
            it.handler.configure(Some(&configuration))?;
        }
        for id in 0..live.reg.iteratives.len() {
            let section_id = live.reg.iterative_id(id);
            let it = &mut live.reg.iteratives[id];
            let ident = SectionId {
                idstr: it.idstr.clone(),
                instance: it.instance,
                version: it.handler.version(),
                occurrence: 0,
            };
            if format == Format::Legacy {
                // Where the body lands: after the START header.
                let mut head = Writer::at(Vec::new(), live.w.written());
                let header = records::SectionHeader {
                    kind: SectionKind::Start,
                    id: section_id,
                    ident: Some(ident.clone()),
                };
                records::legacy::put_section_header(&mut head, &header)?;
                it.handler.save_at(head.written());
            }
            let mut body = Vec::new();
            it.handler.save_setup(format, &mut body)?;
            live.section(SectionKind::Start, section_id, Some(ident), &body)?;
        }
        live.save_devices(true)?;
        Ok(live)
    }
}
