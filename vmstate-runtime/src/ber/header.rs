//! Identifier and length octets (X.690 8.1): what a TLV header holds, its size, and
//! its encoding.

use crate::error::Result;
use crate::io::Writer;
use std::fmt;
use std::io;

/// The class of a tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    /// Types defined by ASN.1 itself (INTEGER, SEQUENCE...).
    Universal = 0,
    /// `[APPLICATION n]`: vmstate's framing and devices that ask for a tag.
    Application = 1,
    /// `[n]`: a field's declaration index inside its struct.
    Context = 2,
    /// `[PRIVATE n]`: not used by vmstate.
    Private = 3,
}

/// A tag: class, primitive/constructed form and number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Tag {
    /// Tag class.
    pub class: Class,
    /// Constructed (holds TLVs) rather than primitive (holds octets).
    pub constructed: bool,
    /// Tag number.
    pub number: u32,
}

impl Tag {
    /// BOOLEAN.
    pub const BOOLEAN: Tag = Tag::universal(1, false);
    /// INTEGER.
    pub const INTEGER: Tag = Tag::universal(2, false);
    /// BIT STRING (primitive form).
    pub const BIT_STRING: Tag = Tag::universal(3, false);
    /// OCTET STRING (primitive form, as vmstate writes it).
    pub const OCTET_STRING: Tag = Tag::universal(4, false);
    /// ENUMERATED.
    pub const ENUMERATED: Tag = Tag::universal(10, false);
    /// UTF8String.
    pub const UTF8_STRING: Tag = Tag::universal(12, false);
    /// SEQUENCE and SEQUENCE OF.
    pub const SEQUENCE: Tag = Tag::universal(16, true);
    /// The list of a struct's subsections, after its fields.
    pub const SUBSECTIONS: Tag = Tag::application(2);

    const fn universal(number: u32, constructed: bool) -> Tag {
        Tag {
            class: Class::Universal,
            constructed,
            number,
        }
    }

    /// The tag of a one-octet identifier (a number below 31).
    #[inline]
    pub const fn from_identifier(id: u8) -> Tag {
        Tag {
            class: match id >> 6 {
                0 => Class::Universal,
                1 => Class::Application,
                2 => Class::Context,
                _ => Class::Private,
            },
            constructed: id & 0x20 != 0,
            number: (id & 0x1f) as u32,
        }
    }

    /// The tag's identifier when it is one octet (a number below 31).
    #[inline]
    pub const fn short_identifier(&self) -> Option<u8> {
        if self.number >= 31 {
            return None;
        }
        Some((self.class as u8) << 6 | (self.constructed as u8) << 5 | self.number as u8)
    }

    /// `[APPLICATION n]`, constructed.
    pub const fn application(number: u32) -> Tag {
        Tag {
            class: Class::Application,
            constructed: true,
            number,
        }
    }

    /// `[n]` (context-specific) with the form of `like`: the implicit tag of a field.
    #[inline]
    pub const fn context(number: u32, like: Tag) -> Tag {
        Tag {
            class: Class::Context,
            constructed: like.constructed,
            number,
        }
    }

    /// `[n]` (context-specific) in the given form.
    #[inline]
    pub const fn field(number: u32, constructed: bool) -> Tag {
        Tag {
            class: Class::Context,
            constructed,
            number,
        }
    }

    /// Same class and number (the form is checked separately).
    #[inline]
    pub const fn same_id(&self, other: &Tag) -> bool {
        self.class as u8 == other.class as u8 && self.number == other.number
    }

    /// Octets of the identifier.
    #[inline]
    pub const fn encoded_len(&self) -> usize {
        if self.number < 31 {
            1
        } else {
            1 + base128_len(self.number as u64)
        }
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let form = if self.constructed {
            "constructed"
        } else {
            "primitive"
        };
        match (self.class, self.number) {
            (Class::Universal, 1) => write!(f, "BOOLEAN"),
            (Class::Universal, 2) => write!(f, "INTEGER"),
            (Class::Universal, 4) => write!(f, "OCTET STRING ({form})"),
            (Class::Universal, 10) => write!(f, "ENUMERATED"),
            (Class::Universal, 12) => write!(f, "UTF8String"),
            (Class::Universal, 16) => write!(f, "SEQUENCE"),
            (Class::Universal, n) => write!(f, "[UNIVERSAL {n}] ({form})"),
            (Class::Application, n) => write!(f, "[APPLICATION {n}] ({form})"),
            (Class::Context, n) => write!(f, "[{n}] ({form})"),
            (Class::Private, n) => write!(f, "[PRIVATE {n}] ({form})"),
        }
    }
}

/// The length octets' value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Length {
    /// A definite length in octets.
    Definite(u64),
    /// Indefinite: the contents end with an end-of-contents TLV (`00 00`).
    Indefinite,
}

/// A decoded TLV header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The tag.
    pub tag: Tag,
    /// The length.
    pub length: Length,
    /// Offset of the identifier's first octet.
    pub offset: u64,
    /// Octets of identifier and length together.
    pub header_len: usize,
}

impl Header {
    /// Offset of the first content octet.
    #[inline]
    pub fn content_offset(&self) -> u64 {
        self.offset + self.header_len as u64
    }
}

const fn base128_len(mut n: u64) -> usize {
    let mut k = 1;
    while n >= 0x80 {
        n >>= 7;
        k += 1;
    }
    k
}

/// Octets of a definite length's encoding (DER: short form below 128, else minimal
/// long form).
#[inline]
pub const fn length_len(len: usize) -> usize {
    if len < 0x80 {
        1
    } else {
        1 + (usize::BITS - len.leading_zeros()).div_ceil(8) as usize
    }
}

/// Octets of a whole TLV with `len` content octets.
#[inline]
pub const fn tlv_len(tag: Tag, len: usize) -> usize {
    tag.encoded_len() + length_len(len) + len
}

/// Writes identifier and definite length octets.
/// (The framing's records; a value's own headers go through the
/// [`Encoder`](super::Encoder).)
pub fn put_header<W: io::Write>(w: &mut Writer<W>, tag: Tag, len: usize) -> Result<()> {
    let (buf, n) = header_bytes(tag, len);
    w.put(&buf[..n])
}

/// Identifier and definite length octets: the first of the returned octets.
pub(super) fn header_bytes(tag: Tag, len: usize) -> ([u8; 16], usize) {
    let mut buf = [0u8; 16];
    let mut n = 0;
    let first = ((tag.class as u8) << 6) | if tag.constructed { 0x20 } else { 0 };
    if tag.number < 31 {
        buf[0] = first | tag.number as u8;
        n = 1;
    } else {
        buf[0] = first | 0x1f;
        n += 1;
        let k = base128_len(tag.number as u64);
        for i in (0..k).rev() {
            let more = if i > 0 { 0x80 } else { 0 };
            buf[n] = ((tag.number >> (7 * i)) & 0x7f) as u8 | more;
            n += 1;
        }
    }
    if len < 0x80 {
        buf[n] = len as u8;
        n += 1;
    } else {
        let k = length_len(len) - 1;
        buf[n] = 0x80 | k as u8;
        n += 1;
        buf[n..n + k].copy_from_slice(&len.to_be_bytes()[std::mem::size_of::<usize>() - k..]);
        n += k;
    }
    (buf, n)
}

/// Writes a header with indefinite length (the contents must end with [`put_eoc`]).
pub fn put_indefinite_header<W: io::Write>(w: &mut Writer<W>, tag: Tag) -> Result<()> {
    debug_assert!(
        tag.constructed,
        "indefinite length needs the constructed form"
    );
    let mut buf = [0u8; 8];
    let mut sink = Writer::new(&mut buf[..]);
    put_header(&mut sink, tag, 0)?;
    let n = sink.written() as usize;
    buf[n - 1] = 0x80;
    w.put(&buf[..n])
}

/// Writes end-of-contents octets.
pub fn put_eoc<W: io::Write>(w: &mut Writer<W>) -> Result<()> {
    w.put(&[0, 0])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(tag: Tag, len: usize) -> Vec<u8> {
        let mut w = Writer::new(Vec::new());
        put_header(&mut w, tag, len).unwrap();
        let v = w.into_inner();
        assert_eq!(v.len(), tag.encoded_len() + length_len(len));
        v
    }

    #[test]
    fn identifiers_and_lengths() {
        assert_eq!(header(Tag::INTEGER, 1), [0x02, 0x01]);
        assert_eq!(header(Tag::SEQUENCE, 200), [0x30, 0x81, 200]);
        assert_eq!(header(Tag::SUBSECTIONS, 0x1234), [0x62, 0x82, 0x12, 0x34]);
        assert_eq!(header(Tag::context(3, Tag::OCTET_STRING), 5), [0x83, 0x05]);
        assert_eq!(
            header(Tag::context(200, Tag::SEQUENCE), 0),
            [0xbf, 0x81, 0x48, 0x00]
        );
        assert_eq!(header(Tag::application(31), 0), [0x7f, 0x1f, 0x00]);
    }

    #[test]
    fn indefinite_header() {
        let mut w = Writer::new(Vec::new());
        put_indefinite_header(&mut w, Tag::application(200)).unwrap();
        assert_eq!(w.into_inner(), [0x7f, 0x81, 0x48, 0x80]);
    }
}
