//! The stream framing of both formats, in one place: what a migration stream is made
//! of around the device values and RAM pages.
//!
//! | concept | legacy (QEMU) | BER (vmstate) |
//! |---|---|---|
//! | stream start | `QEVM`, be32 version 3 ([`legacy::put_prelude`]) | `[APPLICATION 0]`, indefinite, then header `[APPLICATION 1]` ([`ber::put_prelude`]) |
//! | configuration | `0x07` + [`Configuration`] | `[APPLICATION 3]` [`Configuration`] |
//! | section kind | one byte ([`SectionKind::legacy_byte`]) | `[0]` ENUMERATED ([`SectionKind::ber_number`]) |
//! | section header | be32 id, idstr, be32 instance, be32 version | `[1]` to `[4]` of `[APPLICATION 4]` |
//! | section end | footer `0x7e` + be32 id | the record's length, or end-of-contents for a RAM part written open ([`ber::put_open_section`]) |
//! | description of the devices | the vmdesc trailer, after EOF | `[APPLICATION 5]`, just before the first device section ([`ber::put_description`]) |
//! | command ([`Command`]) | `0x08`, be16 number, be16 length, data ([`legacy::put_command`]) | `[APPLICATION 6]`: number `[0]`, data `[1]` ([`ber::put_command`]) |
//! | return-path message ([`return_path::ReturnMessage`], the other way) | be16 type, be16 length, data | `[APPLICATION 7]`: type `[0]`, data `[1]` |
//! | stream end | `0x00`, then `0x06` + be32 length + vmdesc JSON ([`legacy::put_trailer`]) | end-of-contents ([`ber::put_end`]) |
//!
//! Every reader and writer of records is here: the registry ([`crate::stream`]), the
//! legacy walker ([`crate::dump::walk_legacy`]) and the generic dump
//! ([`crate::dump`]) call it, so a new record (QEMU's commands, say) is added once.
//! The contracts of what goes inside a section's body ([`IterativeSection`],
//! [`Part`]) are here too, below the RAM section that implements them.

pub mod asn1;
pub mod ber;
mod capability;
mod command;
mod configuration;
pub mod legacy;
mod part;
pub mod return_path;

pub(crate) use self::capability::{check_configuration, multifd_flush, ram_flags};
pub use self::capability::{libvirt_image_stream, MULTIFD_MAGIC};
pub use self::command::Command;
pub use self::configuration::{
    Capabilities, Capability, ConfigUuid, Configuration, TargetPageBits,
};
pub use self::part::{IterativeSection, Part};
pub use crate::unplugged::UnpluggedRam;

use crate::error::{Error, ErrorKind, Result};
use crate::format::Format;
use std::collections::HashMap;

/// `QEVM`.
pub const MAGIC: u32 = 0x5145_564d;
/// The legacy stream version QEMU writes (3), also recorded in a BER stream's header.
pub const VERSION: u32 = 3;

/// The format of `bytes`, from their first octets.
pub fn detect(bytes: &[u8]) -> Option<Format> {
    if bytes.starts_with(&MAGIC.to_be_bytes()) {
        Some(Format::Legacy)
    } else if ber::is_stream(bytes) {
        Some(Format::Ber)
    } else {
        None
    }
}

/// The error for bytes that are neither format, starting with `head`: what they
/// are when their first octets say so (a multifd channel, a qcow2 image, a libvirt
/// save image, with the way to a stream).
pub fn unknown_format(head: &[u8]) -> Error {
    capability::foreign(head)
}

/// [`unknown_format`] of what `r` starts with: its first 4 octets, and up to the 32
/// that name a libvirt save image when they are not a multifd channel's (a live
/// channel sends no more until it is answered).
pub(crate) fn unknown_format_at(r: &mut impl crate::io::Input) -> Error {
    let n = match r.peek(4) {
        Ok(head) if head == MULTIFD_MAGIC.to_be_bytes() => 4,
        _ => 32,
    };
    match r.peek(n) {
        Ok(head) => capability::foreign(head),
        Err(e) => e,
    }
}

/// A name from the stream (an idstr, a RAM block, a machine type) as text: QEMU's
/// are ASCII, and a name read lossily would no longer re-encode to its bytes.
pub(crate) fn name_text(bytes: &[u8], what: &str, offset: u64) -> Result<String> {
    String::from_utf8(bytes.to_vec())
        .map_err(|_| framing_error(format!("{what} {bytes:02x?} is not UTF-8"), offset))
}

/// A [`ErrorKind::Framing`] error at `offset`.
pub(crate) fn framing_error(msg: impl Into<String>, offset: u64) -> Error {
    Error::new(ErrorKind::Framing(msg.into()), offset)
}

/// The kind of a section record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SectionKind {
    /// START: first part of an iterative section.
    Start,
    /// PART: a middle part.
    Part,
    /// END: the last part.
    End,
    /// FULL: a whole device.
    Full,
}

impl SectionKind {
    /// Every kind, in the order of their encodings.
    pub const ALL: [SectionKind; 4] = [Self::Start, Self::Part, Self::End, Self::Full];

    /// Its section type byte in a legacy stream (QEMU's `QEMU_VM_SECTION_*`).
    pub const fn legacy_byte(self) -> u8 {
        match self {
            Self::Start => legacy::tag::START,
            Self::Part => legacy::tag::PART,
            Self::End => legacy::tag::END,
            Self::Full => legacy::tag::FULL,
        }
    }

    /// Its `kind` number in a BER section record (the same numbers as QEMU's bytes).
    pub const fn ber_number(self) -> u8 {
        self.legacy_byte()
    }

    /// Its name in the dump's tree and the ASN.1 `ENUMERATED`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Start => "start",
            Self::Part => "part",
            Self::End => "end",
            Self::Full => "full",
        }
    }

    /// The kind whose legacy byte is `b`.
    pub fn from_legacy_byte(b: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.legacy_byte() == b)
    }

    /// The kind whose BER number is `n`.
    pub fn from_ber_number(n: i128) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|k| i128::from(k.ber_number()) == n)
    }

    /// The kind named `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Whether its record names the section ([`SectionId`]): START and FULL do,
    /// PART and END give only the section id of their START.
    pub const fn names_section(self) -> bool {
        matches!(self, Self::Start | Self::Full)
    }
}

/// Which section a record belongs to, as a START or FULL record names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SectionId {
    /// The id string (`mc146818rtc`, `ram`, `0000:00:01.1/ide`).
    pub idstr: String,
    /// Instance id: several devices of one type (`dma` 0 and 1).
    pub instance: u32,
    /// The version its body is encoded at.
    pub version: u32,
    /// Which section of this idstr and instance it is in its stream, from 0:
    /// QEMU's loader takes the same one more than once (QEMU 7.2 registers every
    /// `-netdev user` as `slirp` instance 0, and sends `slirp#0` once for each),
    /// and its vmdesc describes each in stream order. Not on the wire: a reader
    /// counts it ([`Started::resolve`]); 0 for a section written.
    pub occurrence: u32,
}

/// A section record's header: kind, section id (numbering the sections of one
/// stream), and the section's identity where the kind carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SectionHeader {
    /// Record kind.
    pub kind: SectionKind,
    /// Section id: ties PART and END to their START.
    pub id: u32,
    /// Present exactly when [`SectionKind::names_section`].
    pub ident: Option<SectionId>,
}

/// The sections a stream has started, by section id, so that a PART or END (which
/// carries only the id) is resolved to its section. One lookup per record.
#[derive(Debug, Default, Clone)]
pub struct Started {
    /// Each section id: its section, and whether more parts may follow.
    by_id: HashMap<u32, (SectionId, bool)>,
    /// Each section (idstr, instance) begun so far, and how many times.
    idents: Occurrences,
}

/// How many sections of each idstr and instance a stream has begun so far.
#[derive(Debug, Default, Clone)]
pub struct Occurrences(HashMap<(String, u32), u32>);

impl Occurrences {
    /// Counts one more section of `ident`'s idstr and instance: which it is,
    /// from 0 ([`SectionId::occurrence`]).
    pub fn next(&mut self, ident: &SectionId) -> u32 {
        let seen = self
            .0
            .entry((ident.idstr.clone(), ident.instance))
            .or_insert(0);
        *seen += 1;
        *seen - 1
    }
}

impl Started {
    /// The identity of `h`'s section: its own, recorded under its id and counted
    /// ([`SectionId::occurrence`]), for a START or FULL; its START's for a PART
    /// or END. It refuses at `at` a section id used twice, an iterative section
    /// begun twice (a device section sent again is taken, as QEMU's loader takes
    /// it), a PART or END of a section that did not begin, was whole (FULL) or
    /// has ended.
    pub fn resolve(&mut self, h: &SectionHeader, at: u64) -> Result<SectionId> {
        match &h.ident {
            Some(ident) => {
                if self.by_id.contains_key(&h.id) {
                    return Err(framing_error(format!("section id {} used twice", h.id), at));
                }
                let occurrence = self.idents.next(ident);
                if occurrence > 0 && h.kind == SectionKind::Start {
                    return Err(framing_error(
                        format!("section {}#{} begun twice", ident.idstr, ident.instance),
                        at,
                    ));
                }
                let ident = SectionId {
                    occurrence,
                    ..ident.clone()
                };
                let open = h.kind == SectionKind::Start;
                self.by_id.insert(h.id, (ident.clone(), open));
                Ok(ident)
            }
            None => match self.by_id.get_mut(&h.id) {
                Some((ident, open)) if *open => {
                    *open = h.kind != SectionKind::End;
                    Ok(ident.clone())
                }
                Some((ident, _)) => Err(framing_error(
                    format!("{} of {} after its end", h.kind.name(), ident.idstr),
                    at,
                )),
                None => Err(framing_error(
                    format!("part of unknown section {}", h.id),
                    at,
                )),
            },
        }
    }
}

/// Appends one whole section record in `format`: header, body, and (legacy) footer.
pub fn put_section(
    out: &mut Vec<u8>,
    format: Format,
    header: &SectionHeader,
    body: &[u8],
) -> Result<()> {
    match format {
        Format::Legacy => {
            let mut w = crate::io::Writer::new(&mut *out);
            legacy::put_section_header(&mut w, header)?;
            w.put(body)?;
            legacy::put_footer(&mut w, header.id)
        }
        Format::Ber => {
            ber::put_section(out, header, body);
            Ok(())
        }
    }
}

/// Appends a command record in `format`.
pub fn put_command(out: &mut Vec<u8>, format: Format, c: &Command) -> Result<()> {
    match format {
        Format::Legacy => legacy::put_command(&mut crate::io::Writer::new(out), c),
        Format::Ber => {
            ber::put_command(out, c);
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn section_ids_are_used_as_qemu_uses_them() {
        let id = |idstr: &str| SectionId {
            idstr: idstr.into(),
            instance: 0,
            version: 1,
            occurrence: 0,
        };
        let h = |kind, id: u32, ident: Option<SectionId>| SectionHeader { kind, id, ident };
        let mut s = Started::default();
        s.resolve(&h(SectionKind::Start, 1, Some(id("ram"))), 0)
            .unwrap();
        s.resolve(&h(SectionKind::Part, 1, None), 0).unwrap();
        s.resolve(&h(SectionKind::End, 1, None), 0).unwrap();
        let after_end = s.resolve(&h(SectionKind::Part, 1, None), 9).unwrap_err();
        assert_eq!(
            (after_end.to_string().as_str(), after_end.offset()),
            (
                "at byte 9: bad stream framing: part of ram after its end",
                9
            )
        );
        let reused = s
            .resolve(&h(SectionKind::Full, 1, Some(id("dev"))), 0)
            .unwrap_err();
        assert!(reused.to_string().contains("section id 1 used twice"));
        let first = s.resolve(&h(SectionKind::Full, 2, Some(id("dev"))), 0);
        assert_eq!(first.unwrap().occurrence, 0);
        // Sent again (7.2's slirp#0): taken, and counted.
        let again = s.resolve(&h(SectionKind::Full, 3, Some(id("dev"))), 0);
        assert_eq!(again.unwrap().occurrence, 1);
        let twice = s
            .resolve(&h(SectionKind::Start, 4, Some(id("ram"))), 0)
            .unwrap_err();
        assert!(twice.to_string().contains("section ram#0 begun twice"));
        let full_part = s.resolve(&h(SectionKind::Part, 2, None), 0).unwrap_err();
        assert!(full_part.to_string().contains("part of dev after its end"));
    }

    #[test]
    fn each_kind_maps_both_ways_in_every_encoding() {
        for k in SectionKind::ALL {
            assert_eq!(SectionKind::from_legacy_byte(k.legacy_byte()), Some(k));
            assert_eq!(SectionKind::from_ber_number(k.ber_number().into()), Some(k));
            assert_eq!(SectionKind::from_name(k.name()), Some(k));
        }
        assert_eq!(SectionKind::from_legacy_byte(legacy::tag::FOOTER), None);
        assert_eq!(SectionKind::from_ber_number(0), None);
        assert_eq!(SectionKind::from_name("FULL"), None);
    }

    #[test]
    fn a_part_resolves_to_its_start() {
        let mut s = Started::default();
        let ram = SectionId {
            idstr: "ram".into(),
            instance: 0,
            version: 4,
            occurrence: 0,
        };
        let start = SectionHeader {
            kind: SectionKind::Start,
            id: 2,
            ident: Some(ram.clone()),
        };
        let part = SectionHeader {
            kind: SectionKind::Part,
            id: 2,
            ident: None,
        };
        assert_eq!(s.resolve(&start, 0).unwrap(), ram);
        assert_eq!(s.resolve(&part, 9).unwrap(), ram);
        let stray = SectionHeader { id: 3, ..part };
        let e = s.resolve(&stray, 9).unwrap_err();
        assert_eq!(e.offset(), 9);
    }
}
