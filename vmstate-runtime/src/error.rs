//! The one error type of vmstate: what went wrong, in which device, at which field,
//! at which byte of the input.

use std::borrow::Cow;
use std::fmt;

/// What went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The input ended before the value did.
    UnexpectedEof,
    /// The stream's version is newer than this type knows.
    VersionTooNew {
        /// Version found in the stream (or asked for on save).
        version: u32,
        /// Newest version this type supports.
        supported: u32,
    },
    /// The stream's version is older than this type still reads.
    VersionTooOld {
        /// Version found in the stream (or asked for on save).
        version: u32,
        /// Oldest version this type supports.
        minimum: u32,
    },
    /// A variable-length array claims more elements than its bound allows.
    LengthTooLarge {
        /// Length claimed by the stream (or by the value on save).
        len: u64,
        /// The declared bound.
        max: u64,
    },
    /// A length field is negative.
    NegativeLength(i64),
    /// A variable-length array holds fewer elements than its length field says.
    LengthMismatch {
        /// Elements the length field asks for.
        len: u64,
        /// Elements the value holds.
        available: u64,
    },
    /// A fieldless enum received a discriminant it does not have.
    InvalidDiscriminant(u64),
    /// A fieldless enum of a signed `repr` received a discriminant it does not have.
    InvalidSignedDiscriminant(i64),
    /// A `bool` was encoded as something other than 0 or 1.
    InvalidBool(u8),
    /// An `equal` field differs from the destination's value.
    NotEqual {
        /// The destination's value.
        expected: String,
        /// The stream's value.
        found: String,
    },
    /// An `le` field is negative or above the destination's value.
    AboveCurrent {
        /// The destination's value, the largest accepted.
        limit: String,
        /// The stream's value.
        found: String,
    },
    /// A device marked `unmigratable` is in the VM being saved.
    Unmigratable(String),
    /// A device's unplug is pending (`dev_unplug_pending`); save again once done.
    UnplugPending(String),
    /// A `validate` check refused the state loaded so far.
    Validation(String),
    /// The stream declares more than a decoder's limit allows (`dump::Limits`).
    LimitExceeded {
        /// Which limit (a field of `dump::Limits`).
        limit: &'static str,
        /// What the stream declares.
        value: u64,
        /// The limit.
        max: u64,
    },
    /// A `pre_save` / `post_save` / `pre_load` / `post_load` hook failed.
    Hook {
        /// Which hook.
        hook: &'static str,
        /// Its message.
        message: String,
    },
    /// A subsection with a name this type does not know.
    UnknownSubsection(String),
    /// Bytes follow the value where the input should have ended.
    TrailingBytes(u64),
    /// The stream's framing is not what QEMU writes.
    Framing(String),
    /// What a migration capability (or transport) put in the stream, which vmstate
    /// does not read or carry: named as QEMU names it, with the way out.
    Unsupported {
        /// What the stream holds, by QEMU's name (`RAM_SAVE_FLAG_COMPRESS_PAGE (0x100)`).
        what: String,
        /// The capability or setting that makes QEMU send it, by QEMU's name.
        capability: String,
        /// What the user can do instead.
        remedy: String,
    },
    /// The underlying reader or writer failed.
    Io(String),
    /// BER: a value has another tag (or form) than the schema puts there.
    UnexpectedTag {
        /// What the schema expects.
        expected: String,
        /// What the input holds.
        found: String,
    },
    /// BER: identifier, length or contents octets that X.690 does not allow.
    MalformedBer(String),
    /// BER: an INTEGER that the field's type cannot hold.
    IntegerOutOfRange {
        /// The value, in decimal (or a description when it has over 9 octets).
        value: String,
        /// The field's wire type (`uint8`...).
        ty: &'static str,
    },
    /// A value the Rust type cannot hold in the form that saves it again to the
    /// same bytes (a `String` that is not UTF-8, map keys out of order, a
    /// `Duration`'s nanoseconds of a second or more).
    InvalidValue {
        /// The Rust type.
        ty: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// BER: a field that the version requires is absent.
    MissingField,
    /// BER: a field this type does not have (at this version).
    UnknownField(String),
    /// BER: a fixed-size value or an array holds another number of elements (or
    /// octets) than its type or length field says.
    SizeMismatch {
        /// Elements the schema or length field requires.
        expected: u64,
        /// Elements found.
        found: u64,
    },
    /// BER: values nested deeper than the decoder allows.
    TooDeep(usize),
    /// A stream section (`idstr#instance`) that no registered device takes.
    UnknownSection(String),
    /// A registered device (`idstr#instance`) that the stream does not carry.
    MissingSection(String),
    /// RAM: a block the destination does not have.
    UnknownRamBlock(String),
    /// RAM: a block whose length differs between stream and destination.
    RamBlockLength {
        /// The block.
        block: String,
        /// Its length at the destination.
        expected: u64,
        /// Its length in the stream.
        found: u64,
    },
    /// RAM: pages of a block that the stream did not send (a multifd main channel,
    /// a stream cut short): a RAM image of it would not be the guest's.
    MissingPages {
        /// The first block with pages missing.
        block: String,
        /// How many of its pages are missing.
        missing: u64,
        /// Its length in pages.
        pages: u64,
        /// The offset of its first missing page.
        first: u64,
        /// How many other blocks miss pages.
        more_blocks: u64,
    },
    /// RAM: a page that is not page-aligned or lies beyond its block.
    PageOutOfRange {
        /// The block.
        block: String,
        /// The page's offset in the block.
        offset: u64,
    },
    /// RAM: an XBZRLE delta QEMU's decoder would refuse (`ram::xbzrle`).
    BadXbzrle(&'static str),
    /// RAM: a zlib page (`compress`) QEMU's decompression would refuse.
    BadCompressedPage(&'static str),
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::UnexpectedEof => write!(f, "unexpected end of input"),
            ErrorKind::VersionTooNew { version, supported } => {
                write!(
                    f,
                    "version {version} is newer than the supported {supported}"
                )
            }
            ErrorKind::VersionTooOld { version, minimum } => {
                write!(f, "version {version} is older than the minimum {minimum}")
            }
            ErrorKind::LengthTooLarge { len, max } => {
                write!(f, "length {len} exceeds the bound {max}")
            }
            ErrorKind::NegativeLength(n) => write!(f, "negative length {n}"),
            ErrorKind::LengthMismatch { len, available } => {
                write!(
                    f,
                    "length field says {len} elements but {available} are present"
                )
            }
            ErrorKind::InvalidDiscriminant(d) => write!(f, "invalid enum discriminant {d}"),
            ErrorKind::InvalidSignedDiscriminant(d) => write!(f, "invalid enum discriminant {d}"),
            ErrorKind::InvalidBool(b) => write!(f, "invalid bool byte {b:#04x}"),
            ErrorKind::NotEqual { expected, found } => {
                write!(f, "stream has {found}, destination requires {expected}")
            }
            ErrorKind::AboveCurrent { limit, found } => {
                write!(f, "stream has {found}, destination accepts 0..={limit}")
            }
            ErrorKind::Unmigratable(d) => write!(f, "state blocked by non-migratable device {d}"),
            ErrorKind::UnplugPending(d) => write!(f, "an unplug of device {d} is pending"),
            ErrorKind::Validation(m) => write!(f, "validation failed: {m}"),
            ErrorKind::LimitExceeded { limit, value, max } => {
                write!(
                    f,
                    "{value} exceeds the limit of {max} (dump::Limits::{limit})"
                )
            }
            ErrorKind::Hook { hook, message } => write!(f, "{hook} failed: {message}"),
            ErrorKind::UnknownSubsection(n) => write!(f, "unknown subsection {n:?}"),
            ErrorKind::TrailingBytes(n) => write!(f, "{n} trailing bytes after the value"),
            ErrorKind::Framing(m) => write!(f, "bad stream framing: {m}"),
            ErrorKind::Unsupported {
                what,
                capability,
                remedy,
            } => write!(
                f,
                "{what}, from the migration capability {capability}, is not supported: {remedy}"
            ),
            ErrorKind::Io(m) => write!(f, "i/o error: {m}"),
            ErrorKind::UnexpectedTag { expected, found } => {
                write!(f, "expected {expected}, found {found}")
            }
            ErrorKind::MalformedBer(m) => write!(f, "malformed BER: {m}"),
            ErrorKind::IntegerOutOfRange { value, ty } => {
                write!(f, "integer {value} does not fit {ty}")
            }
            ErrorKind::InvalidValue { ty, reason } => write!(f, "not a valid {ty}: {reason}"),
            ErrorKind::MissingField => write!(f, "required field is missing"),
            ErrorKind::UnknownField(t) => write!(f, "unknown field {t}"),
            ErrorKind::SizeMismatch { expected, found } => {
                write!(f, "expected {expected} elements, found {found}")
            }
            ErrorKind::TooDeep(d) => write!(f, "values nested deeper than {d} levels"),
            ErrorKind::UnknownSection(s) => write!(f, "section {s} has no device here"),
            ErrorKind::MissingSection(s) => write!(f, "device {s} is not in the stream"),
            ErrorKind::UnknownRamBlock(b) => write!(f, "unknown RAM block {b}"),
            ErrorKind::RamBlockLength {
                block,
                expected,
                found,
            } => write!(
                f,
                "RAM block {block} is {found} bytes in the stream, {expected} here"
            ),
            ErrorKind::MissingPages {
                block,
                missing,
                pages,
                first,
                more_blocks,
            } => {
                write!(
                    f,
                    "RAM block {block}: {missing} of its {pages} pages are not in the stream \
                     (the first at {first:#x})"
                )?;
                match more_blocks {
                    0 => Ok(()),
                    n => write!(f, "; {n} more blocks miss pages"),
                }
            }
            ErrorKind::PageOutOfRange { block, offset } => {
                write!(f, "page {offset:#x} is outside RAM block {block}")
            }
            ErrorKind::BadXbzrle(reason) => write!(f, "bad XBZRLE page: {reason}"),
            ErrorKind::BadCompressedPage(reason) => write!(f, "bad compressed page: {reason}"),
        }
    }
}

/// One element of a field path: a field name or an array index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathSegment {
    /// A named field (the Rust field name).
    Field(&'static str),
    /// An array element.
    Index(usize),
    /// A subsection, by its wire name.
    Subsection(String),
    /// A field known only by name at run time (generic decoding through a vmdesc).
    Named(String),
}

/// A failed save or load: kind, device, field path and byte offset.
///
/// The path is built while the error travels outwards, so a failure deep in a
/// nested struct reads `hpet.timers[2].cmp`.
///
/// One pointer wide (its contents are boxed), so that a `Result` on the decoders'
/// success path is as small as the value it carries.
#[derive(Clone, PartialEq, Eq)]
pub struct Error(Box<Inner>);

#[derive(Debug, Clone, PartialEq, Eq)]
struct Inner {
    kind: ErrorKind,
    device: Option<String>,
    /// Innermost segment first (reversed on display).
    path: Vec<PathSegment>,
    offset: u64,
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.0.kind)
            .field("device", &self.0.device)
            .field("path", &self.0.path)
            .field("offset", &self.0.offset)
            .finish()
    }
}

impl Error {
    /// An error of `kind` at byte `offset` of the input (or output, on save).
    #[cold]
    pub fn new(kind: ErrorKind, offset: u64) -> Self {
        Error(Box::new(Inner {
            kind,
            device: None,
            path: Vec::new(),
            offset,
        }))
    }

    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.0.kind
    }

    /// The device (top-level VMState name) being saved or loaded, when known.
    pub fn device(&self) -> Option<&str> {
        self.0.device.as_deref()
    }

    /// Byte offset in the input (load) or output (save) where the error was found:
    /// for a truncated input, where the value that could not be completed starts.
    pub fn offset(&self) -> u64 {
        self.0.offset
    }

    /// Whether the input ended or the transport failed (nothing wrong was read):
    /// a connection that broke, as a live migration's carrier tells it from a
    /// stream it refuses.
    pub fn is_cut_short(&self) -> bool {
        matches!(self.kind(), ErrorKind::UnexpectedEof | ErrorKind::Io(_))
    }

    /// The field path below the device, e.g. `timers[2].cmp`; empty at the device level.
    pub fn field_path(&self) -> String {
        let mut s = String::new();
        for seg in self.0.path.iter().rev() {
            match seg {
                PathSegment::Field(name) => {
                    if !s.is_empty() {
                        s.push('.');
                    }
                    s.push_str(name);
                }
                PathSegment::Named(name) => {
                    if !s.is_empty() {
                        s.push('.');
                    }
                    s.push_str(name);
                }
                PathSegment::Index(i) => s.push_str(&format!("[{i}]")),
                PathSegment::Subsection(name) => {
                    if !s.is_empty() {
                        s.push('.');
                    }
                    s.push_str(&format!("<{name}>"));
                }
            }
        }
        s
    }

    /// The full path, device first: `hpet.timers[2].cmp`.
    pub fn path(&self) -> String {
        let fields = self.field_path();
        match (&self.0.device, fields.is_empty()) {
            (Some(d), true) => d.clone(),
            (Some(d), false) if fields.starts_with('[') => format!("{d}{fields}"),
            (Some(d), false) => format!("{d}.{fields}"),
            (None, _) => fields,
        }
    }

    /// Adds the enclosing field's name to the path.
    #[must_use]
    pub fn in_field(mut self, name: &'static str) -> Self {
        self.0.path.push(PathSegment::Field(name));
        self
    }

    /// Adds the enclosing field, named at run time, to the path.
    #[must_use]
    pub fn in_named_field(mut self, name: &str) -> Self {
        self.0.path.push(PathSegment::Named(name.to_owned()));
        self
    }

    /// Adds the enclosing array index to the path.
    #[must_use]
    pub fn in_index(mut self, index: usize) -> Self {
        self.0.path.push(PathSegment::Index(index));
        self
    }

    /// Adds the enclosing subsection to the path.
    #[must_use]
    pub fn in_subsection(mut self, name: &str) -> Self {
        self.0.path.push(PathSegment::Subsection(name.to_owned()));
        self
    }

    /// Names the device, unless an inner layer already did.
    #[must_use]
    pub fn in_device(mut self, name: &str) -> Self {
        if self.0.device.is_none() {
            self.0.device = Some(name.to_owned());
        }
        self
    }

    /// The same error at `offset`: a description's error where the stream uses it.
    pub(crate) fn at(mut self, offset: u64) -> Self {
        self.0.offset = offset;
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.path();
        let text = if path.is_empty() {
            format!("at byte {}: {}", self.0.offset, self.0.kind)
        } else {
            format!("{path} at byte {}: {}", self.0.offset, self.0.kind)
        };
        f.write_str(&printable(&text))
    }
}

/// `text` with its control characters escaped as Rust writes them (`\0`, `\u{1b}`):
/// names from a stream (idstrs, RAM blocks, fields) may hold any byte, and one
/// printed raw would act on the terminal.
pub fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

impl std::error::Error for Error {}

/// The result type of vmstate operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_reads_outermost_first() {
        let e = Error::new(ErrorKind::UnexpectedEof, 57)
            .in_field("cmp")
            .in_index(2)
            .in_field("timers")
            .in_device("hpet");
        assert_eq!(e.path(), "hpet.timers[2].cmp");
        assert_eq!(
            e.to_string(),
            "hpet.timers[2].cmp at byte 57: unexpected end of input"
        );
        // An outer layer does not rename the device an inner layer named.
        assert_eq!(e.in_device("other").device(), Some("hpet"));
    }

    #[test]
    fn names_from_a_stream_print_escaped() {
        let e = Error::new(ErrorKind::UnknownRamBlock("pc\0.ram\x1b[2J".into()), 9);
        assert_eq!(
            e.to_string(),
            "at byte 9: unknown RAM block pc\\0.ram\\u{1b}[2J"
        );
        assert_eq!(printable("pc.ram"), "pc.ram");
    }
}
