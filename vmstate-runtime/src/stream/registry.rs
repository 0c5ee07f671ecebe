//! Whole migration streams from typed devices: a [`Registry`] of sections, saved in
//! the format the call chooses and loaded in whichever format the bytes are.
//!
//! ```
//! use vmstate_runtime::stream::{MachineTypes, Registry};
//! use vmstate_runtime::{dump::Format, VMState};
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

use super::{tag, Configuration, SectionKind, MAGIC, VERSION};
use crate::ber::{self, Decoder, Options, Tag};
use crate::dump::ber_stream::{section_record, tlv, CONFIGURATION, DESCRIPTION, HEADER, SECTION};
use crate::dump::{self, Format};
use crate::error::{Error, ErrorKind, Result};
use crate::io::{Input, ReadInput, SliceInput, StreamInput, Writer};
use crate::json::JsonWriter;
use crate::{legacy, VMState};
use std::any::Any;

/// A device in a registry: [`VMState`] behind a trait object, so one registry holds
/// many types. Loads are staged: a section decodes into a copy, and the copies
/// replace the devices only when the whole stream has loaded.
pub trait SectionDevice {
    /// The device's description.
    fn desc(&self) -> &'static crate::desc::VMStateDesc;
    /// Appends its encoding at `version`.
    fn save(&self, format: Format, version: u32, out: &mut Vec<u8>) -> Result<()>;
    /// Writes its vmdesc object.
    fn vmdesc(&self, idstr: &str, instance: u32, version: u32, j: &mut JsonWriter);
    /// Decodes a legacy body from `r` into a copy, consuming exactly the body.
    fn stage_legacy(&self, r: &mut StreamInput<'_>, version: u32) -> Result<Box<dyn Any>>;
    /// Decodes a BER value (the whole of `bytes`, found at `base`) into a copy.
    fn stage_ber(&self, bytes: &[u8], base: u64, version: u32) -> Result<Box<dyn Any>>;
    /// Replaces the device by a staged copy.
    fn commit(&mut self, staged: Box<dyn Any>);
    /// Whether `value` is of the device's type.
    fn is_a(&self, value: &dyn Any) -> bool;
}

impl<T: VMState + Clone + 'static> SectionDevice for T {
    fn desc(&self) -> &'static crate::desc::VMStateDesc {
        T::DESC
    }

    fn save(&self, format: Format, version: u32, out: &mut Vec<u8>) -> Result<()> {
        match format {
            Format::Legacy => legacy::save(self, out, version).map(drop),
            Format::Ber => ber::save(self, out, version).map(drop),
        }
    }

    fn vmdesc(&self, idstr: &str, instance: u32, version: u32, j: &mut JsonWriter) {
        j.begin_object(None);
        j.string("name", idstr);
        j.int("instance_id", instance.into());
        self.vmdesc_at(version, j);
        j.end_object();
    }

    fn stage_legacy(&self, r: &mut StreamInput<'_>, version: u32) -> Result<Box<dyn Any>> {
        let mut copy = self.clone();
        legacy::load_input(&mut copy, r, version)?;
        Ok(Box::new(copy))
    }

    fn stage_ber(&self, bytes: &[u8], base: u64, version: u32) -> Result<Box<dyn Any>> {
        let mut copy = self.clone();
        ber::load_exact(&mut copy, bytes, base, version)?;
        Ok(Box::new(copy))
    }

    fn commit(&mut self, staged: Box<dyn Any>) {
        if let Ok(v) = staged.downcast::<T>() {
            *self = *v;
        }
    }

    fn is_a(&self, value: &dyn Any) -> bool {
        value.is::<T>()
    }
}

/// An iterative section (RAM, dirty bitmaps...): saved in parts while the VM may
/// still run (START, then PARTs until it says it is done), finished with an END part
/// once the VM is stopped; loaded part by part, in place.
pub trait IterativeSection {
    /// The version its parts are saved at.
    fn version(&self) -> u32;
    /// Writes the START part's body.
    fn save_setup(&mut self, format: Format, out: &mut Vec<u8>) -> Result<()>;
    /// Writes one PART's body; returns `true` once nothing is left for the live phase.
    fn save_iterate(&mut self, format: Format, out: &mut Vec<u8>) -> Result<bool>;
    /// Writes the END part's body.
    fn save_complete(&mut self, format: Format, out: &mut Vec<u8>) -> Result<()>;
    /// Loads one part saved at `version`.
    fn load_part(&mut self, kind: SectionKind, part: Part<'_, '_>, version: u32) -> Result<()>;
}

/// One part of an iterative section, as a registry hands it to
/// [`IterativeSection::load_part`].
pub enum Part<'p, 'a> {
    /// A legacy part, to read from the stream up to its own end marker (it has no
    /// length on the wire): from memory, or as it arrives.
    Legacy(&'p mut StreamInput<'a>),
    /// A BER part: all of `body` (the contents of its section's `[6]`), found at
    /// stream offset `base`.
    Ber {
        /// The part.
        body: &'p [u8],
        /// Its offset in the stream.
        base: u64,
    },
}

/// Per machine type, the version each device saves at: a newer VMM writes what an
/// older destination reads by naming the destination's machine type.
#[derive(Debug, Clone, Default)]
pub struct MachineTypes {
    machines: Vec<(String, Vec<(String, u32)>)>,
}

impl MachineTypes {
    /// An empty table: every device saves at its current version.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `machine`, pinning each listed device (by idstr) to a version.
    #[must_use]
    pub fn machine(mut self, machine: &str, versions: &[(&str, u32)]) -> Self {
        let v = versions
            .iter()
            .map(|(d, v)| ((*d).to_owned(), *v))
            .collect();
        self.machines.push((machine.to_owned(), v));
        self
    }

    /// The version `idstr` saves at for `machine`, if the table pins it.
    pub fn version(&self, machine: &str, idstr: &str) -> Option<u32> {
        self.machines
            .iter()
            .find(|(m, _)| m == machine)?
            .1
            .iter()
            .find(|(d, _)| d == idstr)
            .map(|(_, v)| *v)
    }
}

struct Entry<'a> {
    idstr: String,
    instance: u32,
    device: &'a mut dyn SectionDevice,
}

struct IterEntry<'a> {
    idstr: String,
    instance: u32,
    handler: &'a mut dyn IterativeSection,
}

/// The sections of one VM: iterative sections, then devices, each by idstr and
/// instance id in registration order (QEMU's save order; the section ids follow it).
pub struct Registry<'a> {
    machine_type: String,
    machine_types: MachineTypes,
    iteratives: Vec<IterEntry<'a>>,
    entries: Vec<Entry<'a>>,
}

/// A device section's body, staged by a load.
type Staged = Vec<(usize, Box<dyn Any>)>;

fn framing(msg: String, offset: u64) -> Error {
    Error::new(ErrorKind::Framing(msg), offset)
}

impl<'a> Registry<'a> {
    /// A registry for a VM of `machine_type` (sent in the configuration section and
    /// checked against the stream's on load).
    pub fn new(machine_type: &str) -> Self {
        Registry {
            machine_type: machine_type.to_owned(),
            machine_types: MachineTypes::new(),
            iteratives: Vec::new(),
            entries: Vec::new(),
        }
    }

    /// Registers an iterative section (saved before the devices, as QEMU does).
    pub fn iterative(&mut self, idstr: &str, instance: u32, handler: &'a mut dyn IterativeSection) {
        self.iteratives.push(IterEntry {
            idstr: idstr.to_owned(),
            instance,
            handler,
        });
    }

    /// Uses `table` to pick the save version of each device for the machine type.
    #[must_use]
    pub fn with_machine_types(mut self, table: MachineTypes) -> Self {
        self.machine_types = table;
        self
    }

    /// Registers a device section.
    pub fn device(&mut self, idstr: &str, instance: u32, device: &'a mut dyn SectionDevice) {
        self.entries.push(Entry {
            idstr: idstr.to_owned(),
            instance,
            device,
        });
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

    fn save_version(&self, e: &Entry<'_>) -> u32 {
        self.machine_types
            .version(&self.machine_type, &e.idstr)
            .unwrap_or(e.device.desc().version)
    }

    fn configuration(&self) -> Configuration {
        Configuration {
            len: self.machine_type.len() as u32,
            name: self.machine_type.as_bytes().to_vec(),
            ..Configuration::default()
        }
    }

    /// The vmdesc trailer (with BER tags for a BER stream's description).
    fn vmdesc(&self, format: Format) -> String {
        let mut j = JsonWriter::compact();
        if format == Format::Ber {
            j = j.with_ber_tags();
        }
        j.begin_object(None);
        j.int("page_size", 4096);
        j.begin_array("devices");
        for e in &self.entries {
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
    /// (and, in BER, the description of the registered devices as they are now) and
    /// every iterative section's START. See [`LiveSave`].
    pub fn live_save<W: std::io::Write>(
        &mut self,
        format: Format,
        w: W,
    ) -> Result<LiveSave<'_, 'a, W>> {
        let mut w = Writer::new(w);
        match format {
            Format::Legacy => {
                w.put(&MAGIC.to_be_bytes())?;
                w.put(&VERSION.to_be_bytes())?;
                w.put(&[tag::CONFIGURATION])?;
                self.configuration().legacy_save_at(&mut w, 1)?;
            }
            Format::Ber => {
                w.put(&[0x60, 0x80])?;
                w.put(&tlv(HEADER, &tlv(Tag::INTEGER, &[VERSION as u8])))?;
                w.put(&tlv(DESCRIPTION, self.vmdesc(Format::Ber).as_bytes()))?;
                let mut c = Writer::new(Vec::new());
                self.configuration().ber_save_at(&mut c, 1)?;
                w.put(&tlv(CONFIGURATION, &c.into_inner()))?;
            }
        }
        let mut live = LiveSave {
            done: vec![false; self.iteratives.len()],
            reg: self,
            w,
            format,
        };
        for id in 0..live.reg.iteratives.len() {
            let it = &mut live.reg.iteratives[id];
            let mut body = Vec::new();
            it.handler.save_setup(format, &mut body)?;
            let (idstr, instance, version) = (it.idstr.clone(), it.instance, it.handler.version());
            live.section(
                SectionKind::Start,
                id,
                Some((&idstr, instance, version)),
                &body,
            )?;
        }
        Ok(live)
    }

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
        let staged = match dump::detect(input.peek(4)?) {
            Some(Format::Legacy) => self.stage_legacy(&mut input)?,
            Some(Format::Ber) => self.stage_ber(&mut input)?,
            None => {
                return Err(framing(
                    "neither a QEVM stream nor a vmstate BER stream".into(),
                    0,
                ))
            }
        };
        for (i, e) in self.entries.iter().enumerate() {
            if !staged.iter().any(|(j, _)| *j == i) {
                return Err(Error::new(
                    ErrorKind::MissingSection(format!("{}#{}", e.idstr, e.instance)),
                    input.offset(),
                ));
            }
        }
        for (i, s) in staged {
            self.entries[i].device.commit(s);
        }
        Ok(())
    }

    fn find(&self, idstr: &str, instance: u32, at: u64) -> Result<usize> {
        self.entries
            .iter()
            .position(|e| e.idstr == idstr && e.instance == instance)
            .ok_or_else(|| Error::new(ErrorKind::UnknownSection(format!("{idstr}#{instance}")), at))
    }

    fn check_machine(&self, c: &Configuration, at: u64) -> Result<()> {
        if c.name != self.machine_type.as_bytes() {
            return Err(framing(
                format!(
                    "the stream's machine type is {}, this VM's is {}",
                    String::from_utf8_lossy(&c.name),
                    self.machine_type
                ),
                at,
            ));
        }
        Ok(())
    }

    fn find_iterative(&self, idstr: &str, instance: u32, at: u64) -> Result<usize> {
        self.iteratives
            .iter()
            .position(|e| e.idstr == idstr && e.instance == instance)
            .ok_or_else(|| Error::new(ErrorKind::UnknownSection(format!("{idstr}#{instance}")), at))
    }

    /// The iterative section (index, version) of a record: named by a START's
    /// header (then remembered under its id), or continued by a PART or END.
    fn iterative_for(
        &self,
        header: &Option<(String, u32, u32)>,
        id: u32,
        parts: &mut Vec<(u32, usize, u32)>,
        at: u64,
    ) -> Result<(usize, u32)> {
        if let Some((idstr, instance, version)) = header {
            let i = self.find_iterative(idstr, *instance, at)?;
            parts.push((id, i, *version));
            return Ok((i, *version));
        }
        parts
            .iter()
            .find(|p| p.0 == id)
            .map(|p| (p.1, p.2))
            .ok_or_else(|| framing(format!("part of section {id}, which did not start"), at))
    }

    fn stage_legacy(&mut self, r: &mut StreamInput<'_>) -> Result<Staged> {
        r.skip(8)?;
        if r.peek(1)?.first() == Some(&tag::CONFIGURATION) {
            r.skip(1)?;
            let at = r.offset();
            let mut c = Configuration::default();
            legacy::load_input(&mut c, r, 1)?;
            self.check_machine(&c, at)?;
        }
        let mut staged = Vec::new();
        let mut parts: Vec<(u32, usize, u32)> = Vec::new();
        loop {
            let at = r.offset();
            let kind = match r.read_array::<1>()?[0] {
                tag::EOF => {
                    check_trailer(r)?;
                    break;
                }
                tag::START => SectionKind::Start,
                tag::PART => SectionKind::Part,
                tag::END => SectionKind::End,
                tag::FULL => SectionKind::Full,
                other => return Err(framing(format!("unknown section type {other:#04x}"), at)),
            };
            let id = u32::from_be_bytes(r.read_array()?);
            let header = match kind {
                SectionKind::Start | SectionKind::Full => {
                    let len = usize::from(r.read_array::<1>()?[0]);
                    let mut name = [0u8; 255];
                    r.read_exact(&mut name[..len])?;
                    let idstr = String::from_utf8_lossy(&name[..len]).into_owned();
                    let instance = u32::from_be_bytes(r.read_array()?);
                    let version = u32::from_be_bytes(r.read_array()?);
                    Some((idstr, instance, version))
                }
                _ => None,
            };
            let name = match (&header, kind) {
                (Some((idstr, instance, version)), SectionKind::Full) => {
                    let i = self.find(idstr, *instance, at)?;
                    let s = self.entries[i]
                        .device
                        .stage_legacy(r, *version)
                        .map_err(|e| e.in_device(idstr))?;
                    staged.push((i, s));
                    idstr.clone()
                }
                _ => {
                    let (i, version) = self.iterative_for(&header, id, &mut parts, at)?;
                    let it = &mut self.iteratives[i];
                    it.handler
                        .load_part(kind, Part::Legacy(r), version)
                        .map_err(|e| e.in_device(&it.idstr))?;
                    it.idstr.clone()
                }
            };
            let footer_at = r.offset();
            if r.read_array::<1>()?[0] != tag::FOOTER || u32::from_be_bytes(r.read_array()?) != id {
                return Err(framing(
                    format!("bad footer after section {name} ({id})"),
                    footer_at,
                ));
            }
        }
        Ok(staged)
    }

    /// A BER stream, item by item: its header, description and configuration, then
    /// its sections, each read whole (borrowed when the stream is in memory).
    fn stage_ber(&mut self, r: &mut StreamInput<'_>) -> Result<Staged> {
        r.skip(2)?; // [APPLICATION 0], indefinite length
        let mut staged = Vec::new();
        let mut parts: Vec<(u32, usize, u32)> = Vec::new();
        let mut expected = [HEADER, DESCRIPTION].into_iter();
        while let Some((item, base)) = read_item(r)? {
            let mut input = SliceInput::with_base(&item, base);
            let mut d = Decoder::new(&mut input, Options::STRICT);
            // The header and the description come first, in that order; then an
            // optional configuration; then the sections.
            if let Some(tag) = expected.next() {
                let h = d.expect(tag)?;
                if tag == HEADER {
                    d.enter(&h)?;
                    let vh = d.expect(Tag::INTEGER)?;
                    d.integer(&vh)?;
                    d.leave(None)?;
                }
                continue;
            }
            let h = d.next_header(&"a configuration or section record")?;
            if h.tag == CONFIGURATION && parts.is_empty() && staged.is_empty() {
                let mut c = Configuration::default();
                ber::load_struct_at(&mut d, &h, &mut c, 1)?;
                self.check_machine(&c, h.offset)?;
                continue;
            }
            if h.tag != SECTION {
                return Err(Error::new(
                    ErrorKind::UnexpectedTag {
                        expected: SECTION.to_string(),
                        found: h.tag.to_string(),
                    },
                    h.offset,
                ));
            }
            if let Some(s) = self.stage_ber_section(&mut d, &h, &item, base, &mut parts)? {
                staged.push(s);
            }
        }
        Ok(staged)
    }

    /// One section record, `h` its header in `item` (found at `base`): a device is
    /// staged, an iterative part is loaded.
    fn stage_ber_section(
        &mut self,
        d: &mut Decoder<'_, SliceInput<'_>>,
        h: &ber::Header,
        item: &[u8],
        base: u64,
        parts: &mut Vec<(u32, usize, u32)>,
    ) -> Result<Option<(usize, Box<dyn Any>)>> {
        let at = h.offset;
        d.enter(h)?;
        let kh = d.field("section", 0, "kind")?;
        let kind = match d.integer(&kh)? {
            1 => SectionKind::Start,
            2 => SectionKind::Part,
            3 => SectionKind::End,
            4 => SectionKind::Full,
            k => return Err(ber::out_of_range(k, "section kind", &kh)),
        };
        let id = small(d, 1, "section_id")?;
        let header = match kind {
            SectionKind::Start | SectionKind::Full => {
                let nh = d.field("section", 2, "idstr")?;
                let mut name = [0u8; 255];
                let n = d.octets_bounded(&nh, &mut name)?;
                let idstr = String::from_utf8_lossy(&name[..n]).into_owned();
                Some((idstr, small(d, 3, "instance_id")?, small(d, 4, "version")?))
            }
            _ => None,
        };
        let body_field = if kind == SectionKind::Full { 5 } else { 6 };
        let bh = d.field("section", body_field, "body")?;
        let ber::Length::Definite(len) = bh.length else {
            return Err(framing(
                "a section body must have a definite length".into(),
                bh.offset,
            ));
        };
        let start = bh.content_offset();
        let body = usize::try_from(start - base)
            .ok()
            .and_then(|from| item.get(from..from.checked_add(usize::try_from(len).ok()?)?))
            .ok_or_else(|| Error::new(ErrorKind::UnexpectedEof, bh.offset))?;
        let staged = match (&header, kind) {
            (Some((idstr, instance, version)), SectionKind::Full) => {
                let i = self.find(idstr, *instance, at)?;
                let s = self.entries[i]
                    .device
                    .stage_ber(body, start, *version)
                    .map_err(|e| e.in_device(idstr))?;
                Some((i, s))
            }
            _ => {
                let (i, version) = self.iterative_for(&header, id, parts, at)?;
                let it = &mut self.iteratives[i];
                it.handler
                    .load_part(kind, Part::Ber { body, base: start }, version)
                    .map_err(|e| e.in_device(&it.idstr))?;
                None
            }
        };
        d.input().skip(body.len())?;
        d.leave(None)?;
        Ok(staged)
    }
}

/// Appends one section record in `format`: its kind, id, header (idstr, instance,
/// version: START and FULL only), body, and (legacy) footer.
pub fn put_section(
    out: &mut Vec<u8>,
    format: Format,
    kind: SectionKind,
    id: u32,
    header: Option<(&str, u32, u32)>,
    body: &[u8],
) -> Result<()> {
    let kind = match kind {
        SectionKind::Start => tag::START,
        SectionKind::Part => tag::PART,
        SectionKind::End => tag::END,
        SectionKind::Full => tag::FULL,
    };
    if format == Format::Ber {
        section_record(out, kind, id, header, body);
        return Ok(());
    }
    out.push(kind);
    out.extend_from_slice(&id.to_be_bytes());
    if let Some((idstr, instance, version)) = header {
        let len = u8::try_from(idstr.len())
            .map_err(|_| framing(format!("idstr {idstr} is too long"), 0))?;
        out.push(len);
        out.extend_from_slice(idstr.as_bytes());
        out.extend_from_slice(&instance.to_be_bytes());
        out.extend_from_slice(&version.to_be_bytes());
    }
    out.extend_from_slice(body);
    out.push(tag::FOOTER);
    out.extend_from_slice(&id.to_be_bytes());
    Ok(())
}

/// After EOF: nothing, or a whole vmdesc trailer (whose contents a typed load does
/// not need).
fn check_trailer(r: &mut impl Input) -> Result<()> {
    if r.peek(1)?.is_empty() {
        return Ok(());
    }
    let at = r.offset();
    let whole = r.read_array::<1>()?[0] == tag::VMDESCRIPTION && {
        // Skipped, not kept: a loader has its own descriptions.
        let len = u32::from_be_bytes(r.read_array()?) as usize;
        r.skip(len).is_ok() && r.peek(1)?.is_empty()
    };
    if whole {
        Ok(())
    } else {
        Err(framing(
            "after EOF: not one whole vmdesc trailer".into(),
            at,
        ))
    }
}

/// A save in phases ([`Registry::live_save`]), as a live migration needs it: the
/// START parts are written; [`iterate`](Self::iterate) writes a PART of every
/// iterative section not yet done, while the guest runs, as many times as the
/// handlers ask; then, the guest stopped, [`complete`](Self::complete) writes the END
/// parts, every device and the trailer. [`replace`](Self::replace) puts a device's
/// final state (captured once the guest stopped) into the registry before that.
pub struct LiveSave<'r, 'a, W: std::io::Write> {
    reg: &'r mut Registry<'a>,
    w: Writer<W>,
    format: Format,
    /// Per iterative section, whether it said it was done.
    done: Vec<bool>,
}

impl<W: std::io::Write> LiveSave<'_, '_, W> {
    fn section(
        &mut self,
        kind: SectionKind,
        id: usize,
        header: Option<(&str, u32, u32)>,
        body: &[u8],
    ) -> Result<()> {
        let mut bytes = Vec::with_capacity(body.len() + 32);
        put_section(&mut bytes, self.format, kind, id as u32, header, body)?;
        self.w.put(&bytes)
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
            self.section(SectionKind::Part, id, None, &body)?;
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
            return Err(framing(
                format!("{idstr}#{instance} is registered with another type"),
                self.w.written(),
            ));
        }
        device.commit(Box::new(value));
        Ok(())
    }

    /// Writes each iterative section's END, every device as a FULL section and the
    /// trailer (legacy: EOF and the vmdesc); flushes. Returns the stream's bytes.
    pub fn complete(mut self) -> Result<u64> {
        for id in 0..self.done.len() {
            let mut body = Vec::new();
            self.reg.iteratives[id]
                .handler
                .save_complete(self.format, &mut body)?;
            self.section(SectionKind::End, id, None, &body)?;
        }
        let n = self.done.len();
        for i in 0..self.reg.entries.len() {
            let e = &self.reg.entries[i];
            let version = self.reg.save_version(e);
            let mut body = Vec::new();
            e.device.save(self.format, version, &mut body)?;
            let idstr = e.idstr.clone();
            let instance = e.instance;
            self.section(
                SectionKind::Full,
                n + i,
                Some((&idstr, instance, version)),
                &body,
            )?;
        }
        match self.format {
            Format::Legacy => {
                let vmdesc = self.reg.vmdesc(Format::Legacy);
                self.w.put(&[tag::EOF, tag::VMDESCRIPTION])?;
                self.w.put(&(vmdesc.len() as u32).to_be_bytes())?;
                self.w.put(vmdesc.as_bytes())?;
            }
            Format::Ber => self.w.put(&[0, 0])?,
        }
        self.w.flush()?;
        Ok(self.w.written())
    }
}

/// The next item of a BER stream's `[APPLICATION 0]` and its offset, or `None` at
/// its end-of-contents octets. The item is read whole once its header is parsed (a
/// definite length, checked against what arrives).
fn read_item<'a>(r: &mut StreamInput<'a>) -> Result<Option<(std::borrow::Cow<'a, [u8]>, u64)>> {
    let base = r.offset();
    let head = r.peek(16)?;
    if head.starts_with(&[0, 0]) {
        r.skip(2)?;
        return Ok(None);
    }
    let mut probe = SliceInput::with_base(head, base);
    let h = Decoder::new(&mut probe, Options::STRICT).next_header(&"a stream item")?;
    let ber::Length::Definite(len) = h.length else {
        return Err(framing(
            "a stream item must have a definite length".into(),
            base,
        ));
    };
    let total = usize::try_from(len)
        .ok()
        .and_then(|n| n.checked_add((h.content_offset() - base) as usize))
        .ok_or_else(|| Error::new(ErrorKind::UnexpectedEof, base))?;
    Ok(Some((r.take_bytes(total)?, base)))
}

fn small(d: &mut Decoder<'_, SliceInput<'_>>, number: u32, name: &'static str) -> Result<u32> {
    let h = d.field("section", number, name)?;
    let v = d.integer(&h)?;
    u32::try_from(v).map_err(|_| ber::out_of_range(v, "uint32", &h))
}
