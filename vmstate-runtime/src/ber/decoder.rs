//! The BER reader: TLV headers, nesting, skipping, and the primitive contents that
//! vmstate uses, over any [`Input`] (a slice or a stream), with offsets for errors.
//!
//! It accepts what X.690 allows a BER encoder to write (indefinite lengths on
//! constructed values, long-form lengths that are not minimal, constructed OCTET
//! STRINGs) and rejects what it forbids (indefinite primitives, the reserved length
//! octet `0xff`, non-minimal tag numbers and INTEGERs). Nesting is bounded, and no
//! length read from the input sizes an allocation.

use super::header::{Class, Header, Length, Tag};
use super::scan::Scan;
use crate::error::{Error, ErrorKind, Result};
use crate::io::Input;

/// How a load treats what the schema does not expect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Skip unknown fields (after the known ones) and unknown subsections instead of
    /// failing, and report them in [`Report::skipped`]. For inspection tools; a
    /// migration should fail on what it does not understand.
    pub lenient: bool,
    /// Deepest nesting of constructed values accepted.
    pub max_depth: usize,
}

impl Options {
    /// Strict, nesting bounded at [`Options::DEFAULT_MAX_DEPTH`].
    pub const STRICT: Options = Options {
        lenient: false,
        max_depth: Self::DEFAULT_MAX_DEPTH,
    };
    /// Lenient, nesting bounded at [`Options::DEFAULT_MAX_DEPTH`].
    pub const LENIENT: Options = Options {
        lenient: true,
        ..Self::STRICT
    };
    /// QEMU's deepest device nests a handful of levels; 32 leaves ample room.
    pub const DEFAULT_MAX_DEPTH: usize = 32;
}

impl Default for Options {
    fn default() -> Self {
        Self::STRICT
    }
}

/// Something a lenient load stepped over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The VMState type whose encoding held it.
    pub within: &'static str,
    /// Its tag.
    pub tag: Tag,
    /// Offset of its identifier.
    pub offset: u64,
    /// For a subsection, its name.
    pub subsection: Option<String>,
}

/// What a load did besides loading.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Values skipped by a lenient load, in input order.
    pub skipped: Vec<Skipped>,
}

/// A constructed value being read, or the top level outside any.
#[derive(Debug, Clone, Copy, Default)]
enum Frame {
    #[default]
    Top,
    /// Definite length: its end offset.
    Definite(u64),
    /// Indefinite length: ends at an end-of-contents.
    Indefinite,
}

/// Enclosing frames: the first few in place, so that decoding a device allocates
/// nothing for its nesting; deeper ones (up to `max_depth`) spill to the heap.
#[derive(Debug, Default)]
struct Frames {
    near: [Frame; 8],
    far: Vec<Frame>,
    len: usize,
}

impl Frames {
    #[inline(always)]
    fn len(&self) -> usize {
        self.len
    }

    #[inline(always)]
    fn push(&mut self, f: Frame) {
        match self.near.get_mut(self.len) {
            Some(slot) => *slot = f,
            None => self.far.push(f),
        }
        self.len += 1;
    }

    #[inline(always)]
    fn pop(&mut self) -> Option<Frame> {
        self.len = self.len.checked_sub(1)?;
        match self.near.get(self.len) {
            Some(&f) => Some(f),
            None => self.far.pop(),
        }
    }
}

/// A subsection entry's leading members, read by [`Decoder::next_subsection`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubsectionEntry {
    /// The entry's context tag number (the subsection field's declaration index).
    pub number: u32,
    /// The subsection's name.
    pub name: String,
    /// The version its body was saved at.
    pub version: u32,
    /// Offset of the entry's identifier.
    pub offset: u64,
}

/// Longest subsection name accepted (QEMU's names are sent behind a one-byte length).
const MAX_NAME: usize = 255;

/// Reads BER values from an [`Input`].
pub struct Decoder<'a, I: Input + ?Sized> {
    input: &'a mut I,
    /// The innermost frame, read on every header.
    frame: Frame,
    /// The frames enclosing it, innermost last.
    outer: Frames,
    options: Options,
    report: Report,
}

impl<'a, I: Input + ?Sized> Decoder<'a, I> {
    /// A decoder reading `input` with `options`.
    pub fn new(input: &'a mut I, options: Options) -> Self {
        Decoder {
            input,
            frame: Frame::Top,
            outer: Frames::default(),
            options,
            report: Report::default(),
        }
    }

    /// Offset of the next octet.
    pub fn offset(&self) -> u64 {
        self.input.offset()
    }

    /// The underlying input (for contents read as raw octets).
    pub fn input(&mut self) -> &mut I {
        self.input
    }

    /// What was skipped so far.
    pub fn into_report(self) -> Report {
        self.report
    }

    #[cold]
    fn err(&self, kind: ErrorKind) -> Error {
        Error::new(kind, self.offset())
    }

    #[cold]
    fn malformed(at: u64, what: &str) -> Error {
        Error::new(ErrorKind::MalformedBer(what.to_owned()), at)
    }

    /// The next header, without consuming it; `None` at the end of the enclosing
    /// constructed value.
    #[inline(always)]
    pub fn peek_header(&mut self) -> Result<Option<Header>> {
        let at = self.offset();
        if let Frame::Definite(end) = self.frame {
            if at >= end {
                return Ok(None);
            }
        }
        // Every header has two octets at least, so peeking them never waits for
        // input past the value (a stream may end there).
        if self.input.buffered().len() < 2 {
            self.input.peek(2)?;
        }
        // The common header in place: a low tag number, a definite length of up to
        // two octets.
        let (id, len, header_len) = match *self.input.buffered() {
            [id, l @ 0..=0x7f, ..] => (id, u64::from(l), 2),
            [id, 0x81, l, ..] => (id, u64::from(l), 3),
            [id, 0x82, h, l, ..] => (id, u64::from(u16::from_be_bytes([h, l])), 4),
            _ => return self.peek_header_slow(at),
        };
        if id & 0x1f == 0x1f || (id == 0 && header_len == 2 && len == 0) {
            return self.peek_header_slow(at);
        }
        if let Frame::Definite(end) = self.frame {
            if at.saturating_add(header_len as u64 + len) > end {
                return Err(Self::past_end(at));
            }
        }
        Ok(Some(Header {
            tag: Tag::from_identifier(id),
            length: Length::Definite(len),
            offset: at,
            header_len,
        }))
    }

    #[cold]
    fn past_end(at: u64) -> Error {
        Self::malformed(at, "value runs past the end of its enclosing value")
    }

    /// Every other header: long tag numbers and lengths, end-of-contents.
    #[inline(never)]
    fn peek_header_slow(&mut self, at: u64) -> Result<Option<Header>> {
        let frame = self.frame;
        if let Frame::Indefinite = frame {
            if self.input.peek(2)? == [0, 0] {
                return Ok(None);
            }
        }
        let h = peek_header_at(self.input, 0)?;
        if let Frame::Definite(end) = frame {
            let content = h.content_offset();
            let past = match h.length {
                Length::Definite(n) => content.checked_add(n).is_none_or(|e| e > end),
                Length::Indefinite => content > end,
            };
            if past {
                return Err(Self::past_end(at));
            }
        }
        Ok(Some(h))
    }

    /// At the top level (outside any constructed value): whether input remains.
    pub fn peek_header_at_top(&mut self) -> Result<bool> {
        Ok(matches!(self.frame, Frame::Top) && !self.input.peek(1)?.is_empty())
    }

    /// Consumes and returns the next header; at the end of the enclosing value this
    /// is an [`ErrorKind::UnexpectedTag`] naming `expected`.
    pub fn next_header(&mut self, expected: &dyn std::fmt::Display) -> Result<Header> {
        match self.peek_header()? {
            Some(h) => {
                self.input.skip(h.header_len)?;
                Ok(h)
            }
            None => Err(self.err(ErrorKind::UnexpectedTag {
                expected: expected.to_string(),
                found: "end of contents".to_owned(),
            })),
        }
    }

    /// Consumes the next header, which must carry `tag` (class, number and form;
    /// an OCTET STRING may also be constructed).
    #[inline(always)]
    pub fn expect(&mut self, tag: Tag) -> Result<Header> {
        let h = self.next_header(&tag)?;
        check_tag(&h, tag)?;
        Ok(h)
    }

    /// Consumes the header `h` that [`peek_header`](Self::peek_header) returned,
    /// which must carry `tag` (as in [`expect`](Self::expect)).
    #[inline(always)]
    pub fn accept(&mut self, h: &Header, tag: Tag) -> Result<()> {
        self.input.skip(h.header_len)?;
        check_tag(h, tag)
    }

    /// Enters the constructed value whose header was just consumed.
    #[inline(always)]
    pub fn enter(&mut self, h: &Header) -> Result<()> {
        if !h.tag.constructed {
            return Err(Self::malformed(h.offset, "expected a constructed value"));
        }
        if self.outer.len() >= self.options.max_depth {
            return Err(Error::new(
                ErrorKind::TooDeep(self.options.max_depth),
                h.offset,
            ));
        }
        let frame = match h.length {
            Length::Definite(n) => Frame::Definite(
                h.content_offset()
                    .checked_add(n)
                    .ok_or_else(|| Self::malformed(h.offset, "a length past any input"))?,
            ),
            Length::Indefinite => Frame::Indefinite,
        };
        self.push(frame);
        Ok(())
    }

    #[inline(always)]
    fn push(&mut self, frame: Frame) {
        self.outer.push(std::mem::replace(&mut self.frame, frame));
    }

    /// Enters contents of `len` octets that start here, whose header was read
    /// elsewhere (a body cut out of its record by the stream framing): the values in
    /// it are then read up to its end, as in [`enter`](Self::enter).
    pub fn enter_contents(&mut self, len: u64) -> Result<()> {
        let end = self
            .offset()
            .checked_add(len)
            .ok_or_else(|| Self::malformed(self.offset(), "a length past any input"))?;
        self.push(Frame::Definite(end));
        Ok(())
    }

    /// Leaves the current constructed value, which must be at its end; with `within`
    /// (a struct's name) a lenient decoder first skips what is left.
    #[inline(always)]
    pub fn leave(&mut self, within: Option<&'static str>) -> Result<()> {
        while let Some(h) = self.peek_header()? {
            match within {
                Some(name) if self.options.lenient => self.skip(name, h, None)?,
                _ => return Err(unknown(&h)),
            }
        }
        if let Frame::Indefinite = self.frame {
            self.input.skip(2)?;
        }
        self.frame = self.outer.pop().unwrap_or(Frame::Top);
        Ok(())
    }

    fn skip(&mut self, within: &'static str, h: Header, subsection: Option<String>) -> Result<()> {
        self.input.skip(h.header_len)?;
        self.skip_contents(&h)?;
        self.report.skipped.push(Skipped {
            within,
            tag: h.tag,
            offset: h.offset,
            subsection,
        });
        Ok(())
    }

    /// Skips the contents of a value whose header was consumed.
    pub fn skip_contents(&mut self, h: &Header) -> Result<()> {
        match h.length {
            Length::Definite(n) => skip_n(self.input, n),
            Length::Indefinite => {
                self.enter(h)?;
                while let Some(inner) = self.peek_header()? {
                    self.input.skip(inner.header_len)?;
                    self.skip_contents(&inner)?;
                }
                self.leave(None)
            }
        }
    }

    /// Consumes the header of field `[number]` (Rust name `field`) of struct
    /// `within`. Unknown fields before it are errors, or skipped by a lenient
    /// decoder; a later field or the end means this one is missing.
    #[inline(always)]
    pub fn field(
        &mut self,
        within: &'static str,
        number: u32,
        field: &'static str,
    ) -> Result<Header> {
        // The common case: the field's header comes next.
        if let Some(h) = self.peek_header()? {
            if h.tag.class == Class::Context && h.tag.number == number {
                self.input.skip(h.header_len)?;
                return Ok(h);
            }
        }
        self.field_slow(within, number, field)
    }

    /// [`field`](Self::field) when something else comes first.
    #[inline(never)]
    fn field_slow(
        &mut self,
        within: &'static str,
        number: u32,
        field: &'static str,
    ) -> Result<Header> {
        loop {
            let Some(h) = self.peek_header()? else {
                return Err(self.err(ErrorKind::MissingField).in_field(field));
            };
            let is_context = h.tag.class == Class::Context;
            if is_context && h.tag.number == number {
                self.input.skip(h.header_len)?;
                return Ok(h);
            }
            if (is_context && h.tag.number > number) || h.tag == Tag::SUBSECTIONS {
                return Err(Error::new(ErrorKind::MissingField, h.offset).in_field(field));
            }
            if !self.options.lenient {
                return Err(unknown(&h));
            }
            self.skip(within, h, None)?;
        }
    }

    /// After a struct's last field: fields it does not know (a newer sender's) are
    /// errors, or skipped by a lenient decoder.
    pub fn end_fields(&mut self, within: &'static str) -> Result<()> {
        while let Some(h) = self.peek_header()? {
            if h.tag == Tag::SUBSECTIONS {
                break;
            }
            if !self.options.lenient {
                return Err(unknown(&h));
            }
            self.skip(within, h, None)?;
        }
        Ok(())
    }

    /// Enters the subsection list if one follows; `false` if none does.
    pub fn begin_subsections(&mut self) -> Result<bool> {
        match self.peek_header()? {
            Some(h) if h.tag == Tag::SUBSECTIONS => {
                self.input.skip(h.header_len)?;
                self.enter(&h)?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Enters the next subsection entry and reads its name and version, leaving the
    /// body next; `None` (having left the list) after the last entry.
    pub fn next_subsection(&mut self) -> Result<Option<SubsectionEntry>> {
        let Some(h) = self.peek_header()? else {
            self.leave(None)?;
            return Ok(None);
        };
        if h.tag.class != Class::Context || !h.tag.constructed {
            return Err(Error::new(
                ErrorKind::UnexpectedTag {
                    expected: "a subsection entry [n] (constructed)".to_owned(),
                    found: h.tag.to_string(),
                },
                h.offset,
            ));
        }
        self.input.skip(h.header_len)?;
        self.enter(&h)?;
        let (name, version) = self.name_and_version()?;
        Ok(Some(SubsectionEntry {
            number: h.tag.number,
            name,
            version,
            offset: h.offset,
        }))
    }

    /// Reads the `name UTF8String, version INTEGER` that open a subsection entry
    /// or a versioned value, leaving its body next.
    pub(crate) fn name_and_version(&mut self) -> Result<(String, u32)> {
        let name_h = self.expect(Tag::UTF8_STRING)?;
        let mut buf = [0u8; MAX_NAME];
        let n = self.octets_bounded(&name_h, &mut buf)?;
        let name = std::str::from_utf8(&buf[..n])
            .map_err(|_| Self::malformed(name_h.offset, "a VMState name is not UTF-8"))?
            .to_owned();
        let version_h = self.expect(Tag::INTEGER)?;
        let version = self.integer(&version_h)?;
        let version = u32::try_from(version).map_err(|_| {
            Error::new(
                ErrorKind::IntegerOutOfRange {
                    value: version.to_string(),
                    ty: "uint32",
                },
                version_h.offset,
            )
        })?;
        Ok((name, version))
    }

    /// A subsection entry that struct `within` does not know: an error, or skipped
    /// (with the rest of its entry) by a lenient decoder.
    pub fn unknown_subsection(&mut self, within: &'static str, e: SubsectionEntry) -> Result<()> {
        if !self.options.lenient {
            return Err(Error::new(ErrorKind::UnknownSubsection(e.name), e.offset));
        }
        while let Some(h) = self.peek_header()? {
            self.input.skip(h.header_len)?;
            self.skip_contents(&h)?;
        }
        self.leave(None)?;
        self.report.skipped.push(Skipped {
            within,
            tag: Tag::context(e.number, Tag::SEQUENCE),
            offset: e.offset,
            subsection: Some(e.name),
        });
        Ok(())
    }

    /// The value of an INTEGER or ENUMERATED whose header was consumed.
    #[inline(always)]
    pub fn integer(&mut self, h: &Header) -> Result<i128> {
        let n = definite(h)?;
        if n == 0 {
            return Err(Self::malformed(h.offset, "INTEGER with no contents octets"));
        }
        if n > 9 {
            skip_n(self.input, n)?;
            return Err(Error::new(
                ErrorKind::IntegerOutOfRange {
                    value: format!("of {n} octets"),
                    ty: "any 64-bit type",
                },
                h.offset,
            ));
        }
        let n = n as usize;
        let b = self.input.peek(n)?;
        if b.len() < n {
            return Err(self.err(ErrorKind::UnexpectedEof));
        }
        if n > 1 && ((b[0] == 0 && b[1] & 0x80 == 0) || (b[0] == 0xff && b[1] & 0x80 != 0)) {
            return Err(Self::malformed(
                h.offset,
                "INTEGER not in its shortest form",
            ));
        }
        // Shifted in octet by octet from the sign of the first: no wide buffer to
        // store and reload. Nine octets hold a u64 above i64::MAX (or the negative
        // mirror), the first being only the sign.
        let v = if n <= 8 {
            let mut x = i64::from(b[0] as i8);
            for &c in &b[1..] {
                x = (x << 8) | i64::from(c);
            }
            i128::from(x)
        } else {
            let low = b[1..].iter().fold(0u64, |a, &c| (a << 8) | u64::from(c));
            i128::from(low) - if b[0] & 0x80 != 0 { 1i128 << 64 } else { 0 }
        };
        self.input.skip(n)?;
        Ok(v)
    }

    /// The common INTEGER in one step: if the next value, already in memory with
    /// at least 8 octets after its header, is a short INTEGER with the one-octet
    /// identifier `id` inside the enclosing value, consumes it and returns its
    /// value. Anything else (and every error) is left to
    /// [`peek_header`](Self::peek_header) and [`integer`](Self::integer), so both
    /// paths accept and refuse the same input.
    ///
    /// Returns a plain `Option<i64>`: a header returned through a `Result` is built
    /// in memory and read back whole, a store-forwarding stall per value.
    #[inline(always)]
    pub fn short_integer(&mut self, id: u8) -> Option<i64> {
        let room = self.room();
        let (x, len) = short_int_at(self.input.buffered(), id, room)?;
        // The octets are in memory, so skipping them cannot run out of input.
        self.input.skip(len).ok()?;
        Some(x)
    }

    /// A run of [`short_integer`](Self::short_integer)s with identifier `id` (the
    /// elements of a SEQUENCE OF INTEGER), read in place with the position held in
    /// a register: hands at most `max` values to `store(index, value)`, stopping
    /// early where `store` refuses one (out of its type's range) or where an element
    /// needs the general path; returns how many it consumed.
    #[inline(always)]
    pub fn short_integers(
        &mut self,
        id: u8,
        max: usize,
        store: impl FnMut(usize, i64) -> bool,
    ) -> Result<usize> {
        let room = self.room();
        let (p, i) = int_run(self.input.buffered(), 0, room, id, max, store);
        self.input.skip(p)?;
        Ok(i)
    }

    /// Reads the rest of the enclosing value in place with `scan` if it is a
    /// definite one all in memory and `scan` takes it (see [`Scan`]); `false`
    /// leaves the input as it was, for the general path.
    #[inline]
    pub fn scan(&mut self, scan: impl FnOnce(&mut Scan<'_>) -> bool) -> bool {
        let Frame::Definite(_) = self.frame else {
            return false;
        };
        let room = self.room();
        let b = self.input.buffered();
        if b.len() < room {
            return false;
        }
        let depth = self.options.max_depth.saturating_sub(self.outer.len());
        let mut s = Scan::new(b, room, depth);
        if !scan(&mut s) {
            return false;
        }
        let taken = s.taken();
        // The octets are in memory, so skipping them cannot run out of input.
        self.input.skip(taken).is_ok()
    }

    /// Octets left in the enclosing value (unbounded outside a definite one).
    #[inline(always)]
    fn room(&self) -> usize {
        match self.frame {
            Frame::Definite(end) => {
                usize::try_from(end.saturating_sub(self.offset())).unwrap_or(usize::MAX)
            }
            _ => usize::MAX,
        }
    }

    /// The value of a BOOLEAN whose header was consumed (any non-zero octet is TRUE).
    #[inline(always)]
    pub fn boolean(&mut self, h: &Header) -> Result<bool> {
        if definite(h)? != 1 {
            return Err(Self::malformed(
                h.offset,
                "BOOLEAN must have one contents octet",
            ));
        }
        Ok(self.input.read_array::<1>()?[0] != 0)
    }

    /// Reads an OCTET STRING of exactly `len` octets (primitive, or constructed from
    /// segments), handing each segment to `f(input, position, segment_len)`.
    pub fn octets(
        &mut self,
        h: &Header,
        len: usize,
        f: &mut dyn FnMut(&mut I, usize, usize) -> Result<()>,
    ) -> Result<()> {
        let got = self.segments(h, len, 0, f)?;
        if got != len {
            return Err(Error::new(
                ErrorKind::SizeMismatch {
                    expected: len as u64,
                    found: got as u64,
                },
                h.offset,
            ));
        }
        Ok(())
    }

    /// Reads an OCTET STRING (or UTF8String) of at most `buf.len()` octets; returns
    /// its length.
    pub fn octets_bounded(&mut self, h: &Header, buf: &mut [u8]) -> Result<usize> {
        let cap = buf.len();
        self.segments(h, cap, 0, &mut |input, pos, n| {
            input.read_exact(&mut buf[pos..pos + n])
        })
    }

    /// Reads the octets of OCTET STRING `h` (header consumed), at most `cap` of
    /// them, handing each segment to `f`; returns how many there were.
    pub fn octets_upto(
        &mut self,
        h: &Header,
        cap: usize,
        f: &mut dyn FnMut(&mut I, usize, usize) -> Result<()>,
    ) -> Result<usize> {
        self.segments(h, cap, 0, f)
    }

    fn segments(
        &mut self,
        h: &Header,
        cap: usize,
        mut pos: usize,
        f: &mut dyn FnMut(&mut I, usize, usize) -> Result<()>,
    ) -> Result<usize> {
        if !h.tag.constructed {
            let n = definite(h)?;
            if n > (cap - pos) as u64 {
                return Err(Error::new(
                    ErrorKind::SizeMismatch {
                        expected: cap as u64,
                        found: pos as u64 + n,
                    },
                    h.offset,
                ));
            }
            f(self.input, pos, n as usize)?;
            return Ok(pos + n as usize);
        }
        self.enter(h)?;
        while self.peek_header()?.is_some() {
            let seg = self.expect(Tag::OCTET_STRING)?;
            pos = self.segments(&seg, cap, pos, f)?;
        }
        self.leave(None)?;
        Ok(pos)
    }
}

/// A value found where the schema has nothing.
fn unknown(h: &Header) -> Error {
    Error::new(ErrorKind::UnknownField(h.tag.to_string()), h.offset)
}

/// A short primitive INTEGER with identifier `id` at the start of `b`, inside `room`
/// octets: its value and its TLV's length (see [`short_int_contents`]).
#[inline(always)]
fn short_int_at(b: &[u8], id: u8, room: usize) -> Option<(i64, usize)> {
    let (&t, rest) = b.split_first()?;
    if t != id {
        return None;
    }
    let (x, len) = short_int_contents(rest, room.checked_sub(1)?)?;
    Some((x, 1 + len))
}

/// Short INTEGERs with identifier `id` from `b[p..]`, none past `end`: at most
/// `max` values handed to `store(index, value)`, stopping where `store` refuses one
/// or where an element is not a short INTEGER. Returns the position after the last
/// one taken and how many were taken. One-octet contents, most of a device's
/// arrays (zeros, flags, small counts), are read without the eight-octet load, and
/// zeros eight at a time (an empty queue or table is thousands of them).
#[inline(always)]
pub(super) fn int_run(
    b: &[u8],
    mut p: usize,
    end: usize,
    id: u8,
    max: usize,
    mut store: impl FnMut(usize, i64) -> bool,
) -> (usize, usize) {
    let zeros: [u8; 24] = std::array::from_fn(|k| [id, 1, 0][k % 3]);
    let mut i = 0;
    while i < max {
        if max - i >= 8 && end.saturating_sub(p) >= 24 {
            if let Some(run) = b.get(p..).and_then(<[u8]>::first_chunk::<24>) {
                if *run == zeros {
                    // Zero is in every integer type's range.
                    for k in i..i + 8 {
                        store(k, 0);
                    }
                    p += 24;
                    i += 8;
                    continue;
                }
            }
        }
        let (x, len) = match b.get(p..p + 3) {
            Some(&[t, 1, v]) if t == id && p + 3 <= end => (i64::from(v as i8), 3),
            _ => match short_int_at(b.get(p..).unwrap_or_default(), id, end.saturating_sub(p)) {
                Some(xl) => xl,
                None => break,
            },
        };
        if !store(i, x) {
            break;
        }
        p += len;
        i += 1;
    }
    (p, i)
}

/// The length and contents octets of a short INTEGER at the start of `b`, inside
/// `room` octets: its value and their length. It takes a one-octet length of 1 to
/// 8, minimal contents (X.690 8.3.2), and eight octets in `b` after the length (one
/// load, shifted); anything else is `None`, for the general path to read or refuse.
#[inline(always)]
pub(super) fn short_int_contents(b: &[u8], room: usize) -> Option<(i64, usize)> {
    let &[n, ref c @ ..] = b.get(..9)? else {
        return None;
    };
    let n = usize::from(n);
    if !(1..=8).contains(&n) || 1 + n > room {
        return None;
    }
    // The contents are the top n octets of the load; an arithmetic shift extends
    // their sign.
    let x = (u64::from_be_bytes(c.try_into().ok()?) as i64) >> (64 - 8 * n as u32);
    minimal(x, n).then_some((x, 1 + n))
}

/// Whether `x`, sign-extended from `n` (1 to 8) contents octets, was written in
/// its shortest form (X.690 8.3.2): its first nine bits are not all equal.
#[inline(always)]
pub(super) fn minimal(x: i64, n: usize) -> bool {
    n == 1 || !matches!(x >> (8 * n as u32 - 9), 0 | -1)
}

/// Fails unless `h` carries `tag` in its form (an OCTET STRING may be constructed).
#[inline(always)]
fn check_tag(h: &Header, tag: Tag) -> Result<()> {
    if !h.tag.same_id(&tag) {
        return Err(Error::new(
            ErrorKind::UnexpectedTag {
                expected: tag.to_string(),
                found: h.tag.to_string(),
            },
            h.offset,
        ));
    }
    check_form(h, tag)
}

/// Fails unless the header's form is that of `type_tag`, the value's own type's tag
/// (an OCTET STRING may come in either form).
#[inline(always)]
pub fn check_form(h: &Header, type_tag: Tag) -> Result<()> {
    if h.tag.constructed == type_tag.constructed || type_tag == Tag::OCTET_STRING {
        return Ok(());
    }
    let form = |c: bool| if c { "constructed" } else { "primitive" };
    Err(Error::new(
        ErrorKind::UnexpectedTag {
            expected: format!("{} form", form(type_tag.constructed)),
            found: format!("{} form", form(h.tag.constructed)),
        },
        h.offset,
    ))
}

#[inline(always)]
fn definite(h: &Header) -> Result<u64> {
    match h.length {
        Length::Definite(n) => Ok(n),
        Length::Indefinite => Err(Error::new(
            ErrorKind::MalformedBer("indefinite length on a primitive value".to_owned()),
            h.offset,
        )),
    }
}

fn skip_n<I: Input + ?Sized>(input: &mut I, mut n: u64) -> Result<()> {
    while n > 0 {
        let k = n.min(1 << 20);
        input.skip(k as usize)?;
        n -= k;
    }
    Ok(())
}

/// The header of a value that starts `skip` octets ahead in `input`, not
/// consumed, peeking only the octets it has: it never waits for input past the
/// header (a stream may end, or pause, right after it).
pub fn peek_header_at<I: Input + ?Sized>(input: &mut I, skip: usize) -> Result<Header> {
    let at = input.offset() + skip as u64;
    let mut want = 2;
    loop {
        let b = input.peek(skip + want)?;
        let got = b.len().saturating_sub(skip);
        match parse_header(b.get(skip..).unwrap_or_default(), at)? {
            Parsed::Header(h) => return Ok(h),
            Parsed::NeedMore(n) if n > got && got == want => want = n,
            Parsed::NeedMore(_) => return Err(Error::new(ErrorKind::UnexpectedEof, at)),
        }
    }
}

enum Parsed {
    Header(Header),
    NeedMore(usize),
}

/// Parses identifier and length octets at the start of `b`.
fn parse_header(b: &[u8], at: u64) -> Result<Parsed> {
    let bad = |what: &str| Err(Decoder::<crate::io::SliceInput>::malformed(at, what));
    let Some(&first) = b.first() else {
        return Err(Error::new(ErrorKind::UnexpectedEof, at));
    };
    let low = Tag::from_identifier(first);
    let constructed = low.constructed;
    let mut i = 1;
    let number = if first & 0x1f != 0x1f {
        u32::from(first & 0x1f)
    } else {
        let mut n: u64 = 0;
        loop {
            let Some(&x) = b.get(i) else {
                return Ok(Parsed::NeedMore(i + 2));
            };
            if i == 1 && x == 0x80 {
                return bad("tag number with a leading zero group");
            }
            n = (n << 7) | u64::from(x & 0x7f);
            i += 1;
            if n > u64::from(u32::MAX) {
                return bad("tag number above 2^32");
            }
            if x & 0x80 == 0 {
                break;
            }
        }
        if n < 31 {
            return bad("tag number below 31 in the long form");
        }
        n as u32
    };
    let Some(&l) = b.get(i) else {
        return Ok(Parsed::NeedMore(i + 1));
    };
    i += 1;
    let length = match l {
        0..=0x7f => Length::Definite(u64::from(l)),
        0x80 if constructed => Length::Indefinite,
        0x80 => return bad("indefinite length on a primitive value"),
        0xff => return bad("reserved length octet 0xff"),
        _ => {
            let k = usize::from(l & 0x7f);
            if k > 8 {
                return bad("length of more than 8 octets");
            }
            let Some(bytes) = b.get(i..i + k) else {
                return Ok(Parsed::NeedMore(i + k));
            };
            i += k;
            Length::Definite(bytes.iter().fold(0u64, |a, &x| (a << 8) | u64::from(x)))
        }
    };
    Ok(Parsed::Header(Header {
        tag: Tag { number, ..low },
        length,
        offset: at,
        header_len: i,
    }))
}
