//! Converting a stream as it arrives: record by record from any reader to any
//! writer, in bounded memory whatever the guest's size. What a live migration
//! bridge runs (`vmstate bridge`), and what [`convert`](super::convert) runs over a
//! stream in memory.
//!
//! RAM parts go through page by page: a legacy part's records become BER runs
//! ([`PartRecord`]: a part is held up to [`PART_HOLD`] octets, then written open)
//! and a BER part's elements become legacy records one element at a time (each at
//! most [`Limits::ram_element`] octets). Device sections need their description:
//! a BER stream carries it before them; a legacy stream's vmdesc is its last
//! bytes, so the device sections and the trailer, which QEMU writes after all the
//! RAM, are held (at most [`Limits::held_tail`] octets) until it arrives.
//!
//! The checks are those of [`from_bytes`](super::from_bytes): section ids, pages
//! inside the listed blocks, the description's budgets, each device's body by its
//! description.

use super::ber::{device_of_record, put_command, put_device};
use super::description::{legacy_trailer, Borrowed};
use super::{bad, decode_legacy, encode_legacy, Desc, Descriptions, Limits};
use crate::ber::{Decoder, Header, Length, Options};
use crate::error::{Error, ErrorKind, Result};
use crate::format::Format;
use crate::framing::{
    self, ber as ber_records, framing_error, legacy as legacy_records, Command, Configuration,
    SectionHeader, SectionId, SectionKind, Started, VERSION,
};
use crate::io::{Input, ReadInput, SliceInput, StreamInput, Writer};
use crate::ram::ber::{
    element_records, Compression, Element, Elements, Emit, PartRecord, Received, WireWriter,
};
use crate::ram::{self, Arrived, RamRecord, PAGE_SIZE};
use serde_json::Value;
use std::borrow::Cow;
use std::io;
use std::mem::take;

/// How far a conversion has come: what [`convert_stream`] reports as it goes and
/// returns at the end.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// Octets read.
    pub bytes_in: u64,
    /// Octets written.
    pub bytes_out: u64,
    /// RAM pages passed on (zero and data).
    pub pages: u64,
    /// RAM parts passed on.
    pub parts: u64,
    /// Device sections passed on.
    pub devices: u64,
    /// Pages of the stream's latest block list that it did not send (at the end):
    /// a stream with holes converts to one with the same holes, never to a whole
    /// one (a multifd main channel, a postcopy stream).
    pub missing_pages: u64,
    /// The stream opened a return path (`OPEN_RETURN_PATH`): its source waits
    /// for the destination's messages to its end.
    pub return_path: bool,
    /// The stream advised postcopy (`POSTCOPY_ADVISE`): its source may switch to
    /// postcopy, and with postcopy-preempt connect once more for it.
    pub postcopy: bool,
    /// Its RAM came compressed (a BER stream of `vmstate bridge --compress`,
    /// `ram::ber::wire`).
    pub compressed: bool,
}

/// Converts the stream `input` delivers (either format, detected from its first
/// octets) to `to`, writing to `output` as it goes; calls `progress` every few
/// thousand pages and after each section. Returns the totals.
///
/// On an error nothing more is written: what was written is a stream cut short,
/// which a destination QEMU refuses. The one exception is bytes after the end of
/// a whole stream: it is written and flushed when its end is read, before the
/// input's end is awaited, and the bytes after it are then an error.
pub fn convert_stream(
    input: &mut dyn io::Read,
    output: &mut dyn io::Write,
    to: Format,
    limits: &Limits,
    progress: &mut dyn FnMut(&Progress),
) -> Result<Progress> {
    convert(input, output, (to, None), limits, progress, None)
}

/// [`convert_stream`] to BER with its RAM compressed by `c`
/// ([`crate::ram::ber::wire`]): what `vmstate bridge --compress` sends, from a
/// stream at rest. Converted back to legacy, it is the legacy stream's bytes.
pub fn convert_compressed(
    input: &mut dyn io::Read,
    output: &mut dyn io::Write,
    c: Compression,
    limits: &Limits,
    progress: &mut dyn FnMut(&Progress),
) -> Result<Progress> {
    convert(
        input,
        output,
        (Format::Ber, Some(c)),
        limits,
        progress,
        None,
    )
}

/// [`convert_stream`] of a legacy stream without a vmdesc trailer (saved with
/// `-machine suppress-vmdesc=on`), its devices described by `description`: the
/// BER form carries that description, marked, and converts back to the stream
/// without a trailer.
pub fn convert_described(
    input: &mut dyn io::Read,
    output: &mut dyn io::Write,
    to: Format,
    description: &Borrowed,
    progress: &mut dyn FnMut(&Progress),
) -> Result<Progress> {
    let limits = Limits::default();
    convert(
        input,
        output,
        (to, None),
        &limits,
        progress,
        Some(description),
    )
}

/// What carries a live migration besides the stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Carrier {
    /// The destination's return-path messages travel back too
    /// ([`crate::framing::return_path::carry`]).
    pub return_path: bool,
    /// The source's multifd channels travel too, each over a connection of its
    /// own ([`crate::ram::multifd::convert`]): the main channel's
    /// `MULTIFD_FLUSH` passes.
    pub multifd: bool,
}

impl Carrier {
    /// One direction only, one connection (a file, a pipe, a connection whose
    /// other way is not read).
    pub const ONE_WAY: Carrier = Carrier {
        return_path: false,
        multifd: false,
    };

    /// Whether a stream that carries `c` needs more than this carrier passes;
    /// postcopy recovery's commands pass on a connection that `resumed` a
    /// paused migration.
    fn refuses(self, c: &Command, resumed: bool) -> bool {
        let carried = c.needs_return_path() || resumed && c.resumes_postcopy();
        !(c.is_one_way() || self.return_path && carried)
    }
}

/// [`convert_stream`] of a live migration, between a source QEMU and a destination:
/// what `carrier` cannot carry is refused at the first record that shows it (a
/// command other than `SWITCHOVER_START`, and other than `OPEN_RETURN_PATH` and
/// `PING` when the return path is carried: `POSTCOPY_ADVISE`, ... by QEMU's name
/// and capability; `MULTIFD_FLUSH` unless multifd channels are carried; as
/// [`ErrorKind::Unsupported`]), before the destination could complete from a
/// stream whose source waits for what cannot come. The caller then closes both
/// sides, so that the source fails its migration and runs on.
///
/// Returns the totals and the pages that arrived, into which a caller that
/// carried multifd channels [merges](Arrived::merge) theirs before it says
/// what is missing. A migration carried over more than one connection (a
/// postcopy migration resumed after a break) is a [`LiveConversion`].
pub fn convert_live(
    input: &mut dyn io::Read,
    output: &mut dyn io::Write,
    to: Format,
    limits: &Limits,
    carrier: Carrier,
    progress: &mut dyn FnMut(&Progress),
) -> Result<(Progress, Arrived)> {
    let mut live = LiveConversion::new(to, *limits, carrier);
    let p = live.convert(input, output, progress)?;
    Ok((p, live.into_arrived()))
}

/// A live migration converted connection by connection: [`convert_live`] of its
/// first connection, and, when that one broke while the migration was in
/// postcopy ([`paused`](Self::paused)), of each connection its source resumes
/// it on (QEMU's postcopy recovery: `migrate-recover` on the destination,
/// `migrate` with `resume` on the source). A resumed connection has no header:
/// the source asks for each block's received bitmap (`RECV_BITMAP`), resumes
/// (`POSTCOPY_RESUME`) and goes on with the RAM parts it had not sent, in the
/// stream's section ids and blocks, which this keeps; in BER it is a
/// `VMState-Resumed` (`[APPLICATION 9]`).
pub struct LiveConversion {
    to: Format,
    compression: Option<Compression>,
    limits: Limits,
    carrier: Carrier,
    stream: Stream,
    /// Asked before the switch to postcopy is passed on.
    before_switch: Box<dyn FnMut() -> Result<()>>,
}

impl LiveConversion {
    /// A live migration to convert to `to`, carried by `carrier`.
    pub fn new(to: Format, limits: Limits, carrier: Carrier) -> LiveConversion {
        LiveConversion {
            to,
            compression: None,
            limits,
            carrier,
            stream: Stream::default(),
            before_switch: Box::new(|| Ok(())),
        }
    }

    /// Compresses the RAM of the BER it writes ([`crate::ram::ber::wire`]):
    /// each connection starts with an empty delta cache. A legacy output is
    /// QEMU's stream, never compressed.
    pub fn compress(&mut self, c: Compression) {
        self.compression = Some(c);
    }

    /// Whether it compresses what it writes ([`compress`](Self::compress)).
    pub fn compresses(&self) -> bool {
        self.compression.is_some() && self.to == Format::Ber
    }

    /// Has `check` asked, each time a `PACKAGED` command (the switch to
    /// postcopy: the destination runs the guest from it) is about to be passed
    /// on, whether it may be; its error stops the conversion there. A carrier
    /// settles what the source opened before it switched (a bridge refuses
    /// QEMU's postcopy-preempt channel, which connects just before it).
    pub fn check_before_switch(&mut self, check: impl FnMut() -> Result<()> + 'static) {
        self.before_switch = Box::new(check);
    }

    /// Converts the next connection's stream from `input` to `output`: the first
    /// one whole, a resumed one from where the migration paused. Returns the
    /// totals over every connection so far.
    pub fn convert(
        &mut self,
        input: &mut dyn io::Read,
        output: &mut dyn io::Write,
        progress: &mut dyn FnMut(&Progress),
    ) -> Result<Progress> {
        let sink = sink(output, self.to, self.compression)?;
        self.connection(input, sink, progress)
    }

    /// Reads the next connection's stream as [`convert`](Self::convert) does,
    /// handing each RAM record to `visit` and writing nothing: the RAM of a
    /// migration whose connections were kept (`vmstate bridge --tap T` keeps a
    /// resumed one as `T.resumed1`).
    pub fn ram_records(
        &mut self,
        input: &mut dyn io::Read,
        visit: RamVisit<'_>,
    ) -> Result<Progress> {
        let sink = Box::new(RamVisitor { visit: Some(visit) });
        self.connection(input, sink, &mut |_| {})
    }

    fn connection(
        &mut self,
        input: &mut dyn io::Read,
        sink: Box<dyn Sink + '_>,
        progress: &mut dyn FnMut(&Progress),
    ) -> Result<Progress> {
        if self.stream.from.is_some() && !self.paused() {
            return Err(bad(
                "a connection resumes a migration that is not paused in postcopy",
            ));
        }
        let live = Live {
            carrier: self.carrier,
            before_switch: &mut *self.before_switch,
        };
        let done = run(
            input,
            sink,
            &self.limits,
            progress,
            Some(live),
            None,
            &mut self.stream,
        );
        self.stream.broke = done.as_ref().is_err_and(Error::is_cut_short);
        done
    }

    /// The format it converts to.
    pub fn format(&self) -> Format {
        self.to
    }

    /// Whether the migration is paused after the connection [`convert`](Self::convert)
    /// read broke (cut short, not refused): it is in postcopy (its package
    /// passed, so the destination runs the guest), carried with its return
    /// path, and not through. QEMU pauses both sides then, and the source
    /// resumes it on a new connection.
    pub fn paused(&self) -> bool {
        let s = &self.stream;
        s.broke && s.packaged && !s.through && self.carrier.return_path
    }

    /// The pages that arrived over every connection.
    pub fn into_arrived(self) -> Arrived {
        self.stream.arrived
    }
}

/// Reads the stream `input` delivers (either format) as [`convert_stream`] does,
/// handing each RAM record to `visit` as it arrives and writing nothing: the RAM
/// of a stream whose end is missing (cut short, no trailer) up to where it ends,
/// which a tree cannot give. Returns the totals; an error after some records were
/// visited leaves those visited.
pub fn ram_records(
    input: &mut dyn io::Read,
    limits: &Limits,
    visit: RamVisit<'_>,
) -> Result<Progress> {
    let sink = Box::new(RamVisitor { visit: Some(visit) });
    run(
        input,
        sink,
        limits,
        &mut |_| {},
        None,
        None,
        &mut Stream::default(),
    )
}

fn convert(
    input: &mut dyn io::Read,
    output: &mut dyn io::Write,
    (to, c): (Format, Option<Compression>),
    limits: &Limits,
    progress: &mut dyn FnMut(&Progress),
    borrowed: Option<&Borrowed>,
) -> Result<Progress> {
    let sink = sink(output, to, c)?;
    run(
        input,
        sink,
        limits,
        progress,
        None,
        borrowed,
        &mut Stream::default(),
    )
}

/// The sink that writes `to`, its RAM compressed by `c` in BER.
fn sink(
    output: &mut dyn io::Write,
    to: Format,
    c: Option<Compression>,
) -> Result<Box<dyn Sink + '_>> {
    Ok(match to {
        Format::Legacy => Box::new(LegacySink {
            w: Writer::new(output),
            vmdesc: None,
            part: None,
        }),
        Format::Ber => Box::new(BerSink {
            w: Writer::new(output),
            part: None,
            description: Described::Not,
            wire: c.map(WireWriter::new).transpose()?,
        }),
    })
}

/// Reads `input` into `sink`: a whole stream, or when `s` has read one
/// connection already, the rest of it that a resumed connection carries.
fn run<'c>(
    input: &mut dyn io::Read,
    sink: Box<dyn Sink + 'c>,
    limits: &'c Limits,
    progress: &'c mut dyn FnMut(&Progress),
    live: Option<Live<'c>>,
    borrowed: Option<&'c Borrowed>,
    s: &'c mut Stream,
) -> Result<Progress> {
    let mut r = StreamInput::Read(ReadInput::new(input));
    let resumed = s.from;
    s.base = (s.counts.bytes_in, s.counts.bytes_out);
    let mut c = Conversion {
        sink,
        limits,
        progress,
        live,
        borrowed,
        resumed: resumed.is_some(),
        s,
    };
    match resumed {
        None => {
            let head = r.peek(4)?;
            let from = framing::detect(head);
            c.s.from = from;
            match from {
                Some(Format::Legacy) => c.read_legacy(&mut r)?,
                Some(Format::Ber) => c.read_ber(&mut r)?,
                // Fewer than four octets, or another format.
                None => return Err(framing::unknown_format_at(&mut r)),
            }
        }
        Some(from) => c.read_resumed(&mut r, from)?,
    }
    if c.s.descs.is_none() && !c.s.packaged {
        return Err(bad("the stream has no description"));
    }
    // The stream is whole: written and flushed before its input's end is awaited,
    // so that the destination has it all while the source closes its side.
    c.sink.flush()?;
    c.s.through = true;
    if !r.peek(1)?.is_empty() {
        return Err(Error::new(ErrorKind::TrailingBytes(1), r.offset()));
    }
    c.count(&r);
    c.s.counts.missing_pages = c.s.arrived.holes(PAGE_SIZE).iter().map(|h| h.missing).sum();
    (c.progress)(&c.s.counts);
    Ok(c.s.counts)
}

/// How often, in pages, progress is reported within a part.
const REPORT_PAGES: u64 = 4096;

/// What a conversion knows of the stream it reads: kept across the connections
/// of a live migration ([`LiveConversion`]).
#[derive(Default)]
struct Stream {
    counts: Progress,
    /// The octets in and out before this connection.
    base: (u64, u64),
    started: Started,
    /// The latest block list, which every page must fit.
    blocks: Vec<ram::ListedBlock>,
    /// What the reader of a compressed BER stream keeps (`ram::ber::wire`),
    /// one connection's.
    wire: Received,
    /// The buffer a RAM element read from a reader is kept in, reused.
    element: Vec<u8>,
    /// The pages that arrived, for [`Progress::missing_pages`].
    arrived: Arrived,
    /// The legacy RAM reader's: the previous page's block (a part may `CONTINUE`
    /// it; QEMU's loader keeps it across a resumption too), what the
    /// configuration adds to a block list.
    ram: ram::Cursor,
    descs: Option<Descriptions>,
    /// A `PACKAGED` command passed: a postcopy stream, whose device state is in
    /// its package and which QEMU ends without a vmdesc.
    packaged: bool,
    /// The format of its first connection (`None` before it), which a resumed
    /// one keeps.
    from: Option<Format>,
    /// Its end was read and passed on.
    through: bool,
    /// The last connection read ended cut short.
    broke: bool,
}

/// One connection's conversion: the sink it writes to, and the stream's state.
struct Conversion<'c> {
    sink: Box<dyn Sink + 'c>,
    limits: &'c Limits,
    progress: &'c mut dyn FnMut(&Progress),
    /// A live migration's carrier: commands that need more are refused.
    live: Option<Live<'c>>,
    /// The description given for a legacy stream without a trailer.
    borrowed: Option<&'c Borrowed>,
    /// This connection resumes a paused postcopy migration.
    resumed: bool,
    s: &'c mut Stream,
}

/// What a live conversion passes on and asks.
struct Live<'c> {
    carrier: Carrier,
    before_switch: &'c mut dyn FnMut() -> Result<()>,
}

impl Conversion<'_> {
    /// Passes a command on; a live conversion refuses those that need a return
    /// path, postcopy or COLO.
    fn command(&mut self, c: &Command, at: u64) -> Result<()> {
        if let Some(live) = &mut self.live {
            if live.carrier.refuses(c, self.resumed) {
                return Err(c.not_one_way(at));
            }
            if !c.package.is_empty() {
                (live.before_switch)().map_err(|e| e.at(at))?;
            }
        }
        if let Some(b) = self
            .borrowed
            .filter(|_| !c.package.is_empty() && self.s.descs.is_none())
        {
            // A postcopy stream's devices are in its package: the description
            // given goes before it.
            self.s.descs = Some(Descriptions::parse(b.text(), self.limits)?);
            self.sink.description(b.text())?;
        }
        self.s.packaged |= !c.package.is_empty();
        self.s.ram.layout.after(c);
        self.s.counts.return_path |= c.number == Command::OPEN_RETURN_PATH;
        self.s.counts.postcopy |= c.number == Command::POSTCOPY_ADVISE;
        self.sink.command(c)
    }

    /// Counts the octets in and out, over every connection so far.
    fn count(&mut self, r: &StreamInput<'_>) {
        let (bytes_in, bytes_out) = self.s.base;
        self.s.counts.bytes_in = bytes_in + r.offset();
        self.s.counts.bytes_out = bytes_out + self.sink.written();
    }

    fn report(&mut self, r: &StreamInput<'_>) {
        self.count(r);
        (self.progress)(&self.s.counts);
    }

    fn record(&mut self, rec: RamRecord<'_>, r: &StreamInput<'_>) -> Result<()> {
        let multifd = self.live.as_ref().map(|l| l.carrier.multifd);
        if multifd == Some(false) && matches!(rec, RamRecord::MultifdFlush) {
            // The word just read: a live converter carries one connection, and the
            // channels' pages are on the others.
            return Err(crate::framing::multifd_flush(r.offset() - 8));
        }
        if let RamRecord::MemSize {
            blocks, regions, ..
        } = &rec
        {
            // A BER list must have the entries the legacy stream it becomes needs.
            self.s.ram.layout.check(blocks, regions, r.offset())?;
        }
        self.s.arrived.record(&rec);
        if !matches!(rec, RamRecord::MemSize { .. }) {
            self.s.counts.pages += 1;
            if self.s.counts.pages % REPORT_PAGES == 0 {
                self.report(r);
            }
        }
        self.sink.record(rec)
    }

    /// A BER stream's description item.
    fn describe(&mut self, text: &str, at: u64) -> Result<()> {
        if self.s.descs.is_some() {
            return Err(framing_error("a second description", at));
        }
        self.s.descs = Some(Descriptions::parse(text, self.limits)?);
        self.sink.description(text)
    }

    fn part_done(&mut self, r: &StreamInput<'_>) -> Result<()> {
        self.sink.part_end()?;
        self.s.counts.parts += 1;
        self.report(r);
        Ok(())
    }

    /// Writes a device section whose value `value` decodes, given its description.
    fn device(
        &mut self,
        h: &SectionHeader,
        ident: &SectionId,
        at: u64,
        value: impl FnOnce(&Desc) -> Result<Value>,
    ) -> Result<()> {
        let d = self
            .s
            .descs
            .as_ref()
            .ok_or_else(|| framing_error("no description before this device section", at))?
            .get(ident)?;
        let v = value(d).map_err(|e| e.in_device(&ident.idstr))?;
        self.sink.device(h, d, &v)?;
        self.s.counts.devices += 1;
        Ok(())
    }

    /// A legacy stream: records as they arrive up to the first device section (or
    /// EOF), then the rest held until the vmdesc at its end.
    fn read_legacy(&mut self, r: &mut StreamInput<'_>) -> Result<()> {
        let configuration = legacy_records::read_prelude(r)?;
        let configuration = configuration.as_ref().map(|(c, _)| c);
        self.s.ram = ram::Cursor::new(configuration);
        self.sink.prelude(VERSION, configuration)?;
        // Up to the first device section; or EOF, and then the trailer alone follows.
        let devices = self.legacy_records(r)?;
        if !devices && self.s.packaged {
            // Postcopy: QEMU sends no vmdesc (the devices went in the package).
            return Ok(());
        }
        let (base, tail) = self.hold_tail(r, devices)?;
        let (at, vmdesc) = match (legacy_records::find_trailer(&tail, base), self.borrowed) {
            (Ok(found), None) => found,
            (Ok(_), Some(_)) => return Err(super::walk::has_own_description()),
            // Without a trailer: the description given, the stream ending at EOF.
            (Err(_), Some(b)) => (tail.len(), b.text()),
            (Err(e), None) => return Err(e),
        };
        // Parsed already when the trailer was recognised before the input's end.
        if self.s.descs.is_none() {
            self.s.descs = Some(Descriptions::parse(vmdesc, self.limits)?);
        }
        self.sink.description(vmdesc)?;
        let mut rest = StreamInput::Slice(SliceInput::with_base(&tail[..at], base));
        if devices {
            self.legacy_records(&mut rest)?;
        }
        if !rest.peek(1)?.is_empty() {
            return Err(framing_error(
                "bytes between EOF and the vmdesc trailer",
                rest.offset(),
            ));
        }
        Ok(())
    }

    /// The rest of a legacy stream, up to the end of its trailer: read as it
    /// arrives, and done as soon as the bytes held end with a whole trailer (QEMU
    /// sends nothing after it, and a destination should not wait for the source to
    /// close its connection).
    /// `devices` says whether device sections come first (else EOF was read).
    fn hold_tail(&mut self, r: &mut StreamInput<'_>, devices: bool) -> Result<(u64, Vec<u8>)> {
        let base = r.offset();
        let mut tail = Vec::new();
        // Where a trailer's JSON could start (a `{` five octets after a
        // VMDESCRIPTION byte, no NUL after it), found once per octet as they come.
        let mut starts = Vec::new();
        loop {
            let got = r.peek_arrived()?.len();
            if got == 0 {
                return Ok((base, tail));
            }
            framing_limit(
                "held_tail",
                (tail.len() + got) as u64,
                self.limits.held_tail,
                base,
            )?;
            let start = tail.len();
            tail.resize(start + got, 0);
            r.read_exact(&mut tail[start..])?;
            for p in start.max(5)..tail.len() {
                match tail[p] {
                    0 => starts.clear(),
                    b'{' if tail[p - 5] == legacy_records::tag::VMDESCRIPTION => starts.push(p),
                    _ => {}
                }
            }
            let ends_json = |p: &usize| {
                let len = u32::from_be_bytes([tail[p - 4], tail[p - 3], tail[p - 2], tail[p - 1]]);
                len as usize == tail.len() - p
            };
            if tail.last() == Some(&b'}')
                && starts.iter().any(ends_json)
                && self.ends_with_trailer(&tail, base, devices)
            {
                return Ok((base, tail));
            }
        }
    }

    /// Whether `tail` is a whole end of a stream: its last bytes a trailer whose
    /// description reads every record before it, up to EOF just before it (not
    /// bytes inside a device that only look like a trailer). A dry run of the
    /// records into a sink that writes nothing; when it reads them all, the
    /// description it parsed is kept for the real run.
    fn ends_with_trailer(&mut self, tail: &[u8], base: u64, devices: bool) -> bool {
        let Ok((at, vmdesc)) = legacy_records::find_trailer(tail, base) else {
            return false;
        };
        if !devices {
            // After EOF: the trailer alone.
            return at == 0;
        }
        let Ok(descs) = Descriptions::parse(vmdesc, self.limits) else {
            return false;
        };
        let saved = (
            self.s.started.clone(),
            self.s.blocks.clone(),
            self.s.ram.clone(),
            self.s.counts,
        );
        let sink = std::mem::replace(&mut self.sink, Box::new(RamVisitor { visit: None }));
        let descs = self.s.descs.replace(descs);
        let mut rest = StreamInput::Slice(SliceInput::with_base(&tail[..at], base));
        let whole = matches!(self.legacy_records(&mut rest), Ok(false))
            && rest.peek_arrived().is_ok_and(|b| b.is_empty());
        self.sink = sink;
        if !whole {
            self.s.descs = descs;
        }
        (self.s.started, self.s.blocks, self.s.ram, self.s.counts) = saved;
        whole
    }

    /// Legacy records until EOF (returns `false`), or, while there are no
    /// descriptions yet, until the first device section, not consumed (`true`).
    fn legacy_records(&mut self, r: &mut StreamInput<'_>) -> Result<bool> {
        let mut started = std::mem::take(&mut self.s.started);
        let eof = legacy_records::read_records(r, &mut started, self);
        self.s.started = started;
        Ok(!eof?)
    }

    /// A BER stream, item by item; RAM parts element by element.
    fn read_ber(&mut self, r: &mut StreamInput<'_>) -> Result<()> {
        let prelude = ber_records::read_prelude(r)?;
        let configuration = prelude.configuration.as_ref().map(|(c, _)| c);
        self.s.ram = ram::Cursor::new(configuration);
        self.sink.prelude(prelude.version, configuration)?;
        if let Some(text) = &prelude.description {
            self.describe(text, 0)?;
        }
        self.ber_items(r)
    }

    /// A BER stream's items after its start, to its end.
    fn ber_items(&mut self, r: &mut StreamInput<'_>) -> Result<()> {
        let mut started = std::mem::take(&mut self.s.started);
        let read = ber_records::read_items(r, &mut started, self);
        self.s.started = started;
        read
    }

    /// The rest of a paused postcopy stream, on the connection its source resumed
    /// it on: records without a header (in BER, a `VMState-Resumed`), up to its
    /// end. QEMU sends no device section after the package.
    fn read_resumed(&mut self, r: &mut StreamInput<'_>, from: Format) -> Result<()> {
        self.sink.resumed()?;
        self.s.wire = Received::default();
        match from {
            Format::Legacy => {
                if self.legacy_records(r)? {
                    return Err(framing_error(
                        "a device section after a postcopy migration resumed",
                        r.offset(),
                    ));
                }
                Ok(())
            }
            Format::Ber => {
                ber_records::read_resumed(r)?;
                self.ber_items(r)
            }
        }
    }

    /// Checks that an item read whole (a device section, the description, a
    /// command) is within [`Limits::held_tail`]; an open one is refused when read.
    fn hold(&self, item: &Header) -> Result<()> {
        match item.length {
            Length::Definite(n) => framing_limit(
                "held_tail",
                n.saturating_add(item.header_len as u64),
                self.limits.held_tail,
                item.offset,
            ),
            Length::Indefinite => Ok(()),
        }
    }

    fn ber_device(&mut self, s: &ber_records::SectionRecord<'_>, ident: &SectionId) -> Result<()> {
        let base = s.offset;
        let descs = self.s.descs.as_ref();
        let mut input = SliceInput::with_base(s.body(), s.body_offset);
        let mut d = Decoder::new(&mut input, Options::STRICT);
        d.enter_contents(s.body().len() as u64)?;
        let v = device_of_record(&mut d, descs, ident, base)?;
        d.leave(None)?;
        self.device(&s.header, ident, base, |_| Ok(v))
    }

    /// A RAM part's record, read element by element.
    fn ber_part(&mut self, r: &mut StreamInput<'_>, head: &ber_records::SectionHead) -> Result<()> {
        r.skip((head.body.content_offset() - head.record.offset) as usize)?;
        self.sink.part_begin(&head.header)?;
        let end_of = |h: &Header| match h.length {
            Length::Definite(n) => Some(h.content_offset() + n),
            Length::Indefinite => None,
        };
        let body_end = end_of(&head.body);
        let mut last = None;
        loop {
            match body_end {
                Some(end) if r.offset() >= end => break,
                None if r.peek(2)? == [0, 0] => {
                    r.skip(2)?;
                    break;
                }
                _ => {}
            }
            let at = r.offset();
            let h = peek_header(r)?;
            let len = match h.length {
                Length::Definite(n) => (h.header_len as u64).saturating_add(n),
                Length::Indefinite => {
                    return Err(framing_error(
                        "a RAM element must have a definite length",
                        at,
                    ))
                }
            };
            framing_limit("ram_element", len, self.limits.ram_element, at)?;
            if body_end.is_some_and(|end| at + len > end) {
                return Err(framing_error("a RAM element runs past its part", at));
            }
            let mut buf = take(&mut self.s.element);
            let bytes = r.take_bytes_in(len as usize, &mut buf)?;
            let mut elements = Elements::new(bytes, at, PAGE_SIZE);
            let Some((e, _)) = elements.next_at()? else {
                return Err(Error::new(ErrorKind::UnexpectedEof, at));
            };
            if matches!(e, Element::DeltaCache { .. } | Element::Zstd { .. }) {
                self.s.counts.compressed = true;
            }
            // Each record written as it is made, a group's from its buffer.
            let (mut blocks, mut wire) = (take(&mut self.s.blocks), take(&mut self.s.wire));
            let made = element_records(
                e,
                at,
                &mut blocks,
                &mut last,
                &mut wire,
                &mut (&mut *self, &*r),
            );
            (self.s.blocks, self.s.wire, self.s.element) = (blocks, wire, buf);
            made?;
        }
        match end_of(&head.record) {
            Some(end) if r.offset() != end => {
                return Err(framing_error(
                    "a section record goes on after its body",
                    r.offset(),
                ))
            }
            Some(_) => {}
            None if r.peek(2)? == [0, 0] => r.skip(2)?,
            None => {
                return Err(framing_error(
                    "a section record goes on after its body",
                    r.offset(),
                ))
            }
        }
        self.part_done(r)
    }
}

/// A RAM element's records, each written as it is made.
impl<'a> Emit<'a> for (&mut Conversion<'_>, &StreamInput<'_>) {
    fn record(&mut self, rec: RamRecord<'a>) -> Result<()> {
        self.0.record(rec, self.1)
    }

    fn grouped(&mut self, rec: RamRecord<'_>) -> Result<()> {
        self.0.record(rec, self.1)
    }
}

/// The converter's side of [`ber_records::read_items`]: a device section read
/// whole (within [`Limits::held_tail`]), a RAM part streamed element by element.
impl<'i> ber_records::Items<'i> for Conversion<'_> {
    fn command(&mut self, c: Command, at: u64) -> Result<()> {
        Conversion::command(self, &c, at)
    }

    fn description(&mut self, text: String, at: u64) -> Result<()> {
        self.describe(&text, at)
    }

    fn hold(&mut self, item: &Header) -> Result<()> {
        Conversion::hold(self, item)
    }

    fn take(
        &mut self,
        head: &ber_records::SectionHead,
        ident: &SectionId,
    ) -> Result<ber_records::Take> {
        steppable(&head.header, ident, head.record.offset)?;
        Ok(if head.header.kind == SectionKind::Full {
            ber_records::Take::Whole
        } else {
            ber_records::Take::Streamed
        })
    }

    fn section(&mut self, s: ber_records::SectionRecord<'i>, ident: &SectionId) -> Result<()> {
        self.ber_device(&s, ident)
    }

    fn stream(
        &mut self,
        head: &ber_records::SectionHead,
        _: &SectionId,
        r: &mut StreamInput<'i>,
    ) -> Result<()> {
        self.ber_part(r, head)
    }
}

/// The converter's side of [`legacy_records::read_records`].
impl<'i> legacy_records::Records<StreamInput<'i>> for Conversion<'_> {
    /// A device section waits for the descriptions (the vmdesc at the end).
    fn take(&mut self, tag: u8) -> Result<bool> {
        Ok(self.s.descs.is_some() || tag != legacy_records::tag::FULL)
    }

    fn command(&mut self, c: Command, at: u64) -> Result<()> {
        Conversion::command(self, &c, at)
    }

    fn section(
        &mut self,
        h: &SectionHeader,
        ident: &SectionId,
        at: u64,
        r: &mut StreamInput<'i>,
    ) -> Result<()> {
        steppable(h, ident, at)?;
        if h.kind == SectionKind::Full {
            let StreamInput::Slice(s) = r else {
                return Err(bad("a device section is read from memory"));
            };
            return self.device(h, ident, at, |d| decode_legacy(d, s));
        }
        self.sink.part_begin(h)?;
        // A data page is read into the element buffer, kept for the next.
        let mut page = take(&mut self.s.element);
        loop {
            // A word's records: a flush, a block list, a page (at most one each).
            let mut word: [Option<RamRecord<'_>>; 3] = [None, None, None];
            let mut n = 0;
            let eos = ram::read_word_in(r, &mut self.s.ram, &mut page, &mut |rec| {
                let slot = word.get_mut(n);
                *slot.ok_or_else(|| framing_error("a RAM word of four records", at))? = Some(rec);
                n += 1;
                Ok(())
            })?;
            for rec in word.into_iter().flatten() {
                ram::check_in_blocks(&rec, &mut self.s.blocks, at)?;
                self.record(rec, r)?;
            }
            if eos {
                break;
            }
        }
        self.s.element = page;
        self.part_done(r)
    }
}

/// Only RAM parts can be stepped over: another iterative section's bodies have
/// no description.
fn steppable(h: &SectionHeader, ident: &SectionId, at: u64) -> Result<()> {
    if h.kind != SectionKind::Full && ident.idstr != "ram" {
        return Err(framing_error(
            format!("cannot step over iterative section {}", ident.idstr),
            at,
        ));
    }
    Ok(())
}

/// The header of the next value, not consumed.
fn peek_header(r: &mut StreamInput<'_>) -> Result<Header> {
    crate::ber::peek_header_at(r, 0)
}

fn framing_limit(limit: &'static str, value: u64, max: u64, at: u64) -> Result<()> {
    Limits::check(limit, value, max, at)
}

/// Where a conversion writes: one format's records.
trait Sink {
    fn prelude(&mut self, version: u32, c: Option<&Configuration>) -> Result<()>;
    /// The start of a resumed postcopy stream, instead of a prelude.
    fn resumed(&mut self) -> Result<()>;
    fn command(&mut self, c: &Command) -> Result<()>;
    fn part_begin(&mut self, h: &SectionHeader) -> Result<()>;
    fn record(&mut self, r: RamRecord<'_>) -> Result<()>;
    fn part_end(&mut self) -> Result<()>;
    fn description(&mut self, text: &str) -> Result<()>;
    fn device(&mut self, h: &SectionHeader, d: &Desc, v: &Value) -> Result<()>;
    /// The end of the stream: BER's end-of-contents, legacy's EOF and trailer.
    fn flush(&mut self) -> Result<()>;
    fn written(&self) -> u64;
}

/// Where [`ram_records`] writes: RAM records to its function, nothing else; with
/// none, where a dry run writes: nowhere.
struct RamVisitor<'v> {
    visit: Option<RamVisit<'v>>,
}

/// What [`ram_records`] hands each record to.
type RamVisit<'v> = &'v mut dyn FnMut(&RamRecord<'_>) -> Result<()>;

impl Sink for RamVisitor<'_> {
    fn prelude(&mut self, _: u32, _: Option<&Configuration>) -> Result<()> {
        Ok(())
    }
    fn resumed(&mut self) -> Result<()> {
        Ok(())
    }
    fn command(&mut self, _: &Command) -> Result<()> {
        Ok(())
    }
    fn part_begin(&mut self, _: &SectionHeader) -> Result<()> {
        Ok(())
    }
    fn record(&mut self, r: RamRecord<'_>) -> Result<()> {
        match &mut self.visit {
            Some(visit) => visit(&r),
            None => Ok(()),
        }
    }
    fn part_end(&mut self) -> Result<()> {
        Ok(())
    }
    fn description(&mut self, _: &str) -> Result<()> {
        Ok(())
    }
    fn device(&mut self, _: &SectionHeader, _: &Desc, _: &Value) -> Result<()> {
        Ok(())
    }
    fn flush(&mut self) -> Result<()> {
        Ok(())
    }
    fn written(&self) -> u64 {
        0
    }
}

struct LegacySink<W: io::Write> {
    w: Writer<W>,
    vmdesc: Option<String>,
    /// The open part's section id.
    part: Option<u32>,
}

impl<W: io::Write> Sink for LegacySink<W> {
    fn prelude(&mut self, version: u32, c: Option<&Configuration>) -> Result<()> {
        if version != VERSION {
            return Err(bad(format!(
                "a legacy stream is version {VERSION}, not {version}"
            )));
        }
        legacy_records::put_prelude(&mut self.w, c)
    }

    /// QEMU's resumed stream has no header: its records follow at once.
    fn resumed(&mut self) -> Result<()> {
        Ok(())
    }

    fn command(&mut self, c: &Command) -> Result<()> {
        legacy_records::put_command(&mut self.w, c)
    }

    fn part_begin(&mut self, h: &SectionHeader) -> Result<()> {
        self.part = Some(h.id);
        legacy_records::put_section_header(&mut self.w, h)
    }

    fn record(&mut self, r: RamRecord<'_>) -> Result<()> {
        ram::write_record(&r, &mut self.w)
    }

    fn part_end(&mut self) -> Result<()> {
        ram::write_eos(&mut self.w)?;
        let id = self.part.take().unwrap_or_default();
        legacy_records::put_footer(&mut self.w, id)
    }

    fn description(&mut self, text: &str) -> Result<()> {
        self.vmdesc = legacy_trailer(text)?.map(Cow::into_owned);
        Ok(())
    }

    fn device(&mut self, h: &SectionHeader, d: &Desc, v: &Value) -> Result<()> {
        legacy_records::put_section_header(&mut self.w, h)?;
        let name = h.ident.as_ref().map_or("", |s| s.idstr.as_str());
        encode_legacy(d, v, &mut self.w).map_err(|e| e.in_device(name))?;
        legacy_records::put_footer(&mut self.w, h.id)
    }

    fn flush(&mut self) -> Result<()> {
        match self.vmdesc.as_deref() {
            Some(vmdesc) => legacy_records::put_trailer(&mut self.w, vmdesc)?,
            // A postcopy stream (the conversion checked): EOF alone, as QEMU's.
            None => self.w.put(&[legacy_records::tag::EOF])?,
        }
        self.w.flush()
    }

    fn written(&self) -> u64 {
        self.w.written()
    }
}

struct BerSink<W: io::Write> {
    w: Writer<W>,
    part: Option<PartRecord>,
    /// Compresses the pages, when asked.
    wire: Option<WireWriter>,
    /// The description, until the first device section, the first package (a
    /// postcopy stream's devices) or the end: where every writer puts it,
    /// wherever the source had it.
    description: Described,
}

enum Described {
    Not,
    Held(String),
    Written,
}

impl<W: io::Write> BerSink<W> {
    fn put_description(&mut self) -> Result<()> {
        match std::mem::replace(&mut self.description, Described::Written) {
            Described::Held(text) => ber_records::put_description(&mut self.w, &text),
            // A postcopy stream at its end (the conversion checked).
            Described::Not => Ok(()),
            Described::Written => Ok(()),
        }
    }
}

impl<W: io::Write> Sink for BerSink<W> {
    fn prelude(&mut self, version: u32, c: Option<&Configuration>) -> Result<()> {
        ber_records::put_prelude(&mut self.w, version, c)
    }

    fn resumed(&mut self) -> Result<()> {
        ber_records::put_resumed(&mut self.w)
    }

    fn command(&mut self, c: &Command) -> Result<()> {
        if !c.package.is_empty() {
            self.put_description()?;
        }
        put_command(&mut self.w, c)
    }

    fn part_begin(&mut self, h: &SectionHeader) -> Result<()> {
        self.part = Some(PartRecord::new(h.clone()));
        Ok(())
    }

    fn record(&mut self, r: RamRecord<'_>) -> Result<()> {
        match &mut self.part {
            Some(p) => p.push(&r, &mut self.w, self.wire.as_mut()),
            None => Err(bad("a RAM record outside a part")),
        }
    }

    fn part_end(&mut self) -> Result<()> {
        match self.part.take() {
            Some(p) => p.finish(&mut self.w, self.wire.as_mut()),
            None => Err(bad("a part ends that did not begin")),
        }
    }

    fn description(&mut self, text: &str) -> Result<()> {
        self.description = Described::Held(text.to_owned());
        Ok(())
    }

    fn device(&mut self, h: &SectionHeader, d: &Desc, v: &Value) -> Result<()> {
        self.put_description()?;
        put_device(&mut self.w, h, d, v)
    }

    fn flush(&mut self) -> Result<()> {
        self.put_description()?;
        ber_records::put_end(&mut self.w)?;
        self.w.flush()
    }

    fn written(&self) -> u64 {
        self.w.written()
    }
}
