//! The BER codec: the same `#[derive(VMState)]` types, encoded with ASN.1 Basic
//! Encoding Rules so that a reader detects a wrong type or shape instead of
//! misreading it, and an independent ASN.1 tool can decode the bytes against the
//! schema that [`asn1`] generates from the types.
//!
//! - A struct is a SEQUENCE (or `[APPLICATION n]` with `ber_tag = n`) of its fields
//!   present at the version, each tagged `[i]` with its declaration index; padding
//!   (`Unused`) is not sent. Integers are minimal INTEGERs, enums ENUMERATED, `bool`
//!   BOOLEAN, byte arrays OCTET STRING, other arrays SEQUENCE OF, `f64` the OCTET
//!   STRING of its 8 IEEE-754 octets.
//! - Subsections follow the fields in one `[APPLICATION 2]` list, each entry `[i]`
//!   holding its name, version and body.
//! - Lengths are definite and minimal (DER-style): the [`Encoder`] writes back to
//!   front, each value's contents before its header, so every length is known when
//!   its header is written, in one pass. The decoder accepts all of BER.
//! - A type with `ber_blob_until = N` is written, at versions up to `N`, as an OCTET
//!   STRING holding its legacy encoding; the loader accepts either form at any
//!   version and tells them apart by the tag.
//!
//! ```
//! use vmstate_runtime::{ber, VMState};
//!
//! #[derive(VMState, Clone, Debug, Default, PartialEq)]
//! #[vmstate(name = "port92", version = 1)]
//! pub struct Port92 {
//!     pub outport: u8,
//! }
//!
//! let bytes = ber::to_bytes(&Port92 { outport: 2 }).unwrap();
//! // SEQUENCE { [0] 2 }
//! assert_eq!(bytes, [0x30, 0x03, 0x80, 0x01, 0x02]);
//! let back: Port92 = ber::from_bytes(&bytes, 1).unwrap();
//! assert_eq!(back.outport, 2);
//! ```

mod annotate;
pub mod asn1;
mod decoder;
mod encoder;
mod header;
mod scan;
mod value;

pub use self::annotate::annotate;
pub use self::decoder::{
    check_form, peek_header_at, Decoder, Options, Report, Skipped, SubsectionEntry,
};
pub use self::encoder::Encoder;
pub use self::header::{
    length_len, put_eoc, put_header, put_indefinite_header, tlv_len, Class, Header, Length, Tag,
};
pub use self::scan::{Id, Scan};
pub use self::value::{
    get_contents, get_slice, get_value, get_vec, int_contents, int_len, is_octets, octets_json,
    out_of_range, out_of_range_at, put_slice, put_slice_field, put_value, scan_slice, scan_struct,
    slice_json, slice_tag, INTEGER_ID,
};

use crate::error::{Error, ErrorKind, Result};
use crate::io::{Input, ReadInput, SliceInput, Take, Writer};
use crate::VMState;
use std::io;

/// The first `[APPLICATION n]` a device may take (`ber_tag`): 0 to 15 are the
/// stream framing's (`framing::ber`), those above and others to come. Here, below
/// the framing, so that the field codecs and the derive's check see it.
pub const FIRST_DEVICE_TAG: u32 = 16;

/// Whether `T` at `version` is written as a legacy blob.
pub fn is_blob<T: VMState>(version: u32) -> bool {
    T::DESC.ber_blob_until.is_some_and(|n| version <= n)
}

/// Encodes `value` at its current version.
pub fn to_bytes<T: VMState>(value: &T) -> Result<Vec<u8>> {
    to_bytes_at(value, T::DESC.version)
}

/// Encodes `value` as `version` has it, for an older peer.
pub fn to_bytes_at<T: VMState>(value: &T, version: u32) -> Result<Vec<u8>> {
    with_encoder(|e| {
        encode(value, e, version)?;
        Ok(e.as_bytes().to_vec())
    })
}

/// Writes `value` at `version` to `w`; returns the octets written.
pub fn save<T: VMState, W: io::Write>(value: &T, w: W, version: u32) -> Result<u64> {
    with_encoder(|e| {
        encode(value, e, version)?;
        let mut w = Writer::new(w);
        w.put(e.as_bytes())
            .map_err(|err| err.in_device(T::DESC.name))?;
        Ok(w.written())
    })
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Encoder> = std::cell::RefCell::new(Encoder::new());
}

/// Runs `f` with an empty encoder: this thread's, which keeps its buffer from one
/// encoding to the next (nothing allocated or cleared per device), or a new one
/// while that is in use (an encoding from a hook of another).
fn with_encoder<R>(f: impl FnOnce(&mut Encoder) -> R) -> R {
    SCRATCH.with(|scratch| match scratch.try_borrow_mut() {
        Ok(mut e) => {
            e.clear();
            f(&mut e)
        }
        Err(_) => f(&mut Encoder::new()),
    })
}

/// Prepends the whole encoding of `value` at `version`.
fn encode<T: VMState>(value: &T, e: &mut Encoder, version: u32) -> Result<()> {
    T::DESC
        .check_version(version, 0)
        .and_then(|()| put_top(value, e, version))
        .map_err(|err| err.in_device(T::DESC.name))
}

fn put_top<T: VMState>(value: &T, e: &mut Encoder, version: u32) -> Result<()> {
    if is_blob::<T>(version) {
        let n = value.legacy_size_at(version);
        e.put_forward(n, |w| value.legacy_save_at(w, version))?;
        e.put_header(Tag::OCTET_STRING, n);
    } else {
        let end = e.len();
        value.ber_save_at(e, version)?;
        e.put_header(T::BER_TAG, e.len() - end);
    }
    Ok(())
}

/// Encodes `value` at `version` with its name and version: `SEQUENCE { name
/// UTF8String, version INTEGER, body }`, the body being what [`to_bytes_at`]
/// writes. One device's bytes that say what they are and at which version (a
/// snapshot file of one device), which [`load_versioned`] reads without being told
/// the version; the ASN.1 type is [`asn1::Module::with_versioned`]'s. QEMU's legacy
/// form carries no version outside a stream's section header, so a legacy save of
/// one device needs its version kept beside it.
///
/// ```
/// use vmstate_runtime::{ber, VMState};
///
/// #[derive(VMState, Clone, Default, PartialEq, Debug)]
/// #[vmstate(name = "uart", version = 3, minimum_version = 1)]
/// struct Uart {
///     lcr: u8,
///     #[vmstate(version = 2..)]
///     scr: u8,
/// }
///
/// let old = ber::to_bytes_versioned(&Uart { lcr: 3, scr: 0 }, 1)?;
/// let mut uart = Uart::default();
/// assert_eq!(ber::load_versioned(&mut uart, &old)?, 1);
/// assert_eq!(uart.lcr, 3);
/// # Ok::<(), vmstate_runtime::Error>(())
/// ```
pub fn to_bytes_versioned<T: VMState>(value: &T, version: u32) -> Result<Vec<u8>> {
    with_encoder(|e| {
        encode(value, e, version)?;
        let name = T::DESC.name;
        e.put_int_tlv(Tag::INTEGER, version.into());
        e.put(name.as_bytes());
        e.put_header(Tag::UTF8_STRING, name.len());
        e.put_header(Tag::SEQUENCE, e.len());
        Ok(e.as_bytes().to_vec())
    })
}

/// Loads what [`to_bytes_versioned`] wrote into `target` at the version it names,
/// strictly (the name must be `T`'s, the version one `T` loads, the value must
/// fill `bytes`); returns that version. On error `target` is unchanged.
pub fn load_versioned<T: VMState + Clone>(target: &mut T, bytes: &[u8]) -> Result<u32> {
    versioned(target, bytes).map_err(|e| e.in_device(T::DESC.name))
}

fn versioned<T: VMState + Clone>(target: &mut T, bytes: &[u8]) -> Result<u32> {
    let mut input = SliceInput::new(bytes);
    let mut d = Decoder::new(&mut input, Options::STRICT);
    let h = d.expect(Tag::SEQUENCE)?;
    let Length::Definite(len) = h.length else {
        return Err(Error::new(
            ErrorKind::MalformedBer("a versioned value has a definite length".into()),
            h.offset,
        ));
    };
    let end = h.content_offset().saturating_add(len);
    let total = bytes.len() as u64;
    if end > total {
        return Err(Error::new(ErrorKind::UnexpectedEof, h.offset));
    }
    if end < total {
        return Err(Error::new(ErrorKind::TrailingBytes(total - end), end));
    }
    d.enter(&h)?;
    let (name, version) = d.name_and_version()?;
    if name != T::DESC.name {
        return Err(Error::new(ErrorKind::UnknownSection(name), h.offset));
    }
    T::DESC.check_version(version, h.offset)?;
    drop(d);
    let body = input.offset();
    load_at(
        target,
        &bytes[body as usize..],
        body,
        version,
        &Options::STRICT,
    )?;
    Ok(version)
}

/// Loads a `version` encoding that must fill `bytes` into `target`, strictly. On
/// error `target` is unchanged.
pub fn load_into<T: VMState + Clone>(target: &mut T, bytes: &[u8], version: u32) -> Result<()> {
    load_into_with(target, bytes, version, &Options::STRICT).map(drop)
}

/// [`load_into`] for `bytes` found at offset `base` of a larger stream: error offsets
/// point into that stream.
pub fn load_exact<T: VMState + Clone>(
    target: &mut T,
    bytes: &[u8],
    base: u64,
    version: u32,
) -> Result<()> {
    load_at(target, bytes, base, version, &Options::STRICT).map(drop)
}

/// [`load_into`] with options; returns what a lenient load skipped.
pub fn load_into_with<T: VMState + Clone>(
    target: &mut T,
    bytes: &[u8],
    version: u32,
    options: &Options,
) -> Result<Report> {
    load_at(target, bytes, 0, version, options)
}

/// The loads above: all of `bytes` (found at `base`) into a copy, which replaces
/// `target` only on success.
fn load_at<T: VMState + Clone>(
    target: &mut T,
    bytes: &[u8],
    base: u64,
    version: u32,
    options: &Options,
) -> Result<Report> {
    let mut r = SliceInput::with_base(bytes, base);
    let (value, report) = load_value(target, &mut r, version, options)?;
    r.expect_end().map_err(|e| e.in_device(T::DESC.name))?;
    *target = value;
    Ok(report)
}

/// Decodes a `version` encoding, starting from `T::default()`.
pub fn from_bytes<T: VMState + Default>(bytes: &[u8], version: u32) -> Result<T> {
    // A fresh value is dropped on error, so it is loaded in place: no working copy.
    let mut v = T::default();
    let mut r = SliceInput::new(bytes);
    load_in_place(&mut v, &mut r, version, &Options::STRICT)?;
    r.expect_end().map_err(|e| e.in_device(T::DESC.name))?;
    Ok(v)
}

/// Loads one value from a reader, consuming exactly its octets (a BER value says
/// where it ends). On error `target` is unchanged.
pub fn load_from<T: VMState + Clone, R: io::Read>(
    target: &mut T,
    reader: R,
    version: u32,
) -> Result<()> {
    load_input(
        target,
        &mut ReadInput::new(reader),
        version,
        &Options::STRICT,
    )
    .map(drop)
}

/// Loads one value from any [`Input`] (the stream layer uses this with its own
/// offsets). On error `target` is unchanged.
pub fn load_input<T: VMState + Clone, I: Input + ?Sized>(
    target: &mut T,
    input: &mut I,
    version: u32,
    options: &Options,
) -> Result<Report> {
    let (value, report) = load_value(target, input, version, options)?;
    *target = value;
    Ok(report)
}

fn load_value<T: VMState + Clone, I: Input + ?Sized>(
    target: &T,
    input: &mut I,
    version: u32,
    options: &Options,
) -> Result<(T, Report)> {
    let mut work = target.clone();
    let report = load_in_place(&mut work, input, version, options)?;
    Ok((work, report))
}

/// Loads into `work`, which is left part-loaded on error.
fn load_in_place<T: VMState, I: Input + ?Sized>(
    work: &mut T,
    input: &mut I,
    version: u32,
    options: &Options,
) -> Result<Report> {
    // What a scan takes whole needs no decoder. (A value left over after it is the
    // caller's to refuse, as after the general path.)
    let b = input.buffered();
    let mut s = Scan::new(b, b.len(), options.max_depth);
    if scan_value(work, &mut s, version) {
        let taken = s.taken();
        input.skip(taken).map_err(|e| e.in_device(T::DESC.name))?;
        return Ok(Report::default());
    }
    let mut d = Decoder::new(input, *options);
    load_top(work, &mut d, version).map_err(|e| e.in_device(T::DESC.name))?;
    Ok(d.into_report())
}

fn load_top<T: VMState, I: Input + ?Sized>(
    work: &mut T,
    d: &mut Decoder<'_, I>,
    version: u32,
) -> Result<()> {
    T::DESC.check_version(version, d.offset())?;
    let h = d.next_header(&T::BER_TAG)?;
    if h.tag.same_id(&T::BER_TAG) {
        check_form(&h, T::BER_TAG)?;
        return load_struct_at(d, &h, work, version);
    }
    if T::DESC.ber_blob_until.is_some() && h.tag.same_id(&Tag::OCTET_STRING) {
        return load_blob(d, &h, work, version);
    }
    Err(Error::new(
        ErrorKind::UnexpectedTag {
            expected: T::BER_TAG.to_string(),
            found: h.tag.to_string(),
        },
        h.offset,
    ))
}

/// The whole value in place (see [`Scan`]), which a scan takes at the value's
/// current version. Not tried for a type with subsections: a scan stops where
/// they begin, and the general path would then scan the fields again (its
/// `ber_load_at` scans them before reading the subsections).
#[inline]
fn scan_value<T: VMState>(v: &mut T, s: &mut Scan<'_>, version: u32) -> bool {
    match const { Id::of(T::BER_TAG) } {
        Some(id) if T::DESC.subsections.is_empty() => {
            version == T::DESC.version && v.ber_scan(s, id)
        }
        _ => false,
    }
}

/// A legacy encoding inside a primitive OCTET STRING, read in place.
fn load_blob<T: VMState, I: Input + ?Sized>(
    d: &mut Decoder<'_, I>,
    h: &Header,
    work: &mut T,
    version: u32,
) -> Result<()> {
    let Length::Definite(len) = h.length else {
        return Err(Error::new(
            ErrorKind::MalformedBer("a legacy blob must be a primitive OCTET STRING".into()),
            h.offset,
        ));
    };
    if h.tag.constructed {
        return Err(Error::new(
            ErrorKind::MalformedBer("a legacy blob must be a primitive OCTET STRING".into()),
            h.offset,
        ));
    }
    let mut t = Take::new(d.input(), len);
    work.legacy_load_at(&mut t, version)?;
    let left = t.left();
    if left == 0 {
        return Ok(());
    }
    // The legacy value ended before the blob: trailing bytes, unless the input
    // itself ends before the blob does (looked at through a bounded window).
    let window = left.min(4096) as usize;
    let kind = if t.peek(window)?.len() < window {
        ErrorKind::UnexpectedEof
    } else {
        ErrorKind::TrailingBytes(left)
    };
    Err(t.error(kind))
}

/// Loads the struct whose header was consumed, at `version`.
pub fn load_struct_at<T: VMState, I: Input + ?Sized>(
    d: &mut Decoder<'_, I>,
    h: &Header,
    target: &mut T,
    version: u32,
) -> Result<()> {
    d.enter(h)?;
    target.ber_load_at(d, version)?;
    d.leave(Some(T::DESC.name))
}

/// Prepends a sent subsection's entry `[number] { name, version, body }`, its
/// body at `version`.
pub fn put_subsection<T: VMState>(e: &mut Encoder, number: u32, v: &T, version: u32) -> Result<()> {
    let d = T::DESC;
    let end = e.len();
    v.ber_save_at(e, version)?;
    e.put_header(T::BER_TAG, e.len() - end);
    e.put_int_tlv(Tag::INTEGER, version.into());
    e.put(d.name.as_bytes());
    e.put_header(Tag::UTF8_STRING, d.name.len());
    e.put_header(Tag::context(number, Tag::SEQUENCE), e.len() - end);
    Ok(())
}

/// Loads the body of subsection entry `e` (name and version read, body next) into
/// `target`, and leaves the entry.
pub fn load_subsection<T: VMState, I: Input + ?Sized>(
    d: &mut Decoder<'_, I>,
    e: SubsectionEntry,
    target: &mut T,
) -> Result<()> {
    if e.name != T::DESC.name {
        return Err(Error::new(ErrorKind::UnknownSubsection(e.name), e.offset));
    }
    T::DESC.check_version(e.version, e.offset)?;
    let h = d.expect(T::BER_TAG)?;
    load_struct_at(d, &h, target, e.version)?;
    d.leave(None)
}
