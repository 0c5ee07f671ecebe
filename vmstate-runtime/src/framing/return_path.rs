//! The return path: the destination's messages to the source on the same
//! connection, the other way (QEMU's `MIG_RP_MSG_*`, `migrate_send_rp_message`).
//! A source with `return-path`, `postcopy-ram` or `switchover-ack` on waits for
//! them (`SHUT` at the end, `SWITCHOVER_ACK` before it stops the guest, `PONG`,
//! page requests in postcopy), so a carrier of the migration carries them back,
//! converted as the stream is.
//!
//! | | legacy (QEMU) | BER (vmstate) |
//! |---|---|---|
//! | message | be16 type, be16 length, data | `[APPLICATION 7]`: type `[0]`, data `[1]` (absent when empty) |
//! | `RECV_BITMAP`'s bitmap | after the message: be64 size, the bitmap, be64 `0x0123456789abcdef` | bitmap `[2]` in the message |
//!
//! The channel has no header and no end marker: it ends when the connection does.
//! `RECV_BITMAP` (postcopy recovery: the pages the destination has, for a source
//! that resumes on a new connection) is the one message with more after it:
//! QEMU's `migrate_send_rp_recv_bitmap` writes the bitmap outside the message,
//! which BER keeps inside it, so that the message stays one item.

use super::ber::{numbered_tlv, read_numbered};
use super::framing_error;
use crate::ber::{self, Length, Tag};
use crate::error::Result;
use crate::format::Format;
use crate::io::{Input, ReadInput, StreamInput, Writer};
use std::io;

/// `[APPLICATION 7]`: one return-path message.
pub const MESSAGE: Tag = Tag::application(7);

/// `[APPLICATION 10] SEQUENCE { octets INTEGER }` (`VMState-Delivered`): how
/// many octets of QEMU's stream a bridge that writes it (`--to legacy`) has
/// handed its destination so far, for the bridge that sends it the BER, which
/// reads and keeps it: a compressing
/// bridge runs at most a window ahead of what reached the destination, so
/// that its source measures the rate at which the destination is fed
/// (docs/BRIDGE.md). Never passed on to QEMU.
pub const DELIVERED: Tag = Tag::application(10);

/// Appends a `[APPLICATION 10]` saying `octets` were delivered.
pub fn put_delivered(out: &mut Vec<u8>, octets: u64) {
    let int = super::ber::int_tlv(Tag::INTEGER, octets.into());
    out.extend(super::ber::tlv(DELIVERED, &int));
}

/// One message of the return path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReturnMessage {
    /// QEMU's `mig_rp_message_type`.
    pub kind: u16,
    /// Its data, as QEMU sent it.
    pub data: Vec<u8>,
    /// `RECV_BITMAP`'s bitmap (one bit per target page of the block the data
    /// names, little-endian longs, padded to 8 octets); empty for the others.
    pub bitmap: Vec<u8>,
}

/// The messages QEMU 7.2 to 10.0 send: number, name, data length (`None`:
/// variable), as QEMU's `rp_cmd_args`.
const KNOWN: [(u16, &str, Option<usize>); 7] = [
    (1, "SHUT", Some(4)),
    (2, "PONG", Some(4)),
    (3, "REQ_PAGES_ID", None),
    (4, "REQ_PAGES", Some(12)),
    (5, "RECV_BITMAP", None),
    (6, "RESUME_ACK", Some(4)),
    (7, "SWITCHOVER_ACK", Some(0)),
];

/// `MIG_RP_MSG_RECV_BITMAP`: postcopy recovery, whose bitmap follows the message
/// outside it.
const RECV_BITMAP: u16 = 5;

/// What QEMU writes after a `RECV_BITMAP`'s bitmap (`RAMBLOCK_RECV_BITMAP_ENDING`).
const BITMAP_ENDING: u64 = 0x0123_4567_89ab_cdef;

/// The largest bitmap read: a block of 2 TiB (64 Mi pages of 4 KiB), checked
/// before anything is read for it.
pub const MAX_BITMAP: usize = 1 << 26;

impl ReturnMessage {
    /// The message types QEMU defines, in order.
    pub fn kinds() -> impl Iterator<Item = u16> {
        KNOWN.iter().map(|k| k.0)
    }

    /// QEMU's name of the message (`UNKNOWN` for a number it does not define).
    pub fn name(&self) -> &'static str {
        KNOWN
            .iter()
            .find(|k| k.0 == self.kind)
            .map_or("UNKNOWN", |k| k.1)
    }

    /// A message without a bitmap.
    pub fn new(kind: u16, data: Vec<u8>) -> ReturnMessage {
        ReturnMessage {
            kind,
            data,
            bitmap: Vec::new(),
        }
    }

    /// Checks the message as QEMU's `source_return_path_thread` does (a known
    /// type, its length; `RECV_BITMAP`'s block name, its bitmap's size as
    /// `ram_dirty_bitmap_reload` reads it), at offset `at`.
    pub fn check(&self, at: u64) -> Result<()> {
        let Some(&(_, name, len)) = KNOWN.iter().find(|k| k.0 == self.kind) else {
            return Err(framing_error(
                format!(
                    "unknown return-path message {} (QEMU knows 1 to 7)",
                    self.kind
                ),
                at,
            ));
        };
        if self.kind == RECV_BITMAP && self.data.is_empty() {
            return Err(framing_error(
                "return-path message RECV_BITMAP names no block",
                at,
            ));
        }
        if self.bitmap.len() % 8 != 0 || self.kind != RECV_BITMAP && !self.bitmap.is_empty() {
            return Err(framing_error(
                format!(
                    "return-path message {name} carries a bitmap of {} octets; only \
                     RECV_BITMAP has one, of whole 8-octet words",
                    self.bitmap.len()
                ),
                at,
            ));
        }
        match len {
            Some(len) if len != self.data.len() => Err(framing_error(
                format!(
                    "return-path message {name} carries {} bytes; QEMU's takes {len}",
                    self.data.len()
                ),
                at,
            )),
            _ => Ok(()),
        }
    }

    /// Reads the next message in `format` from `r`, checked; `None` where the
    /// channel ends (between messages).
    pub fn read(r: &mut StreamInput<'_>, format: Format) -> Result<Option<ReturnMessage>> {
        if r.peek(1)?.is_empty() {
            return Ok(None);
        }
        let at = r.offset();
        let m = match format {
            Format::Legacy => {
                let kind = u16::from_be_bytes(r.read_array()?);
                let len = u16::from_be_bytes(r.read_array()?);
                let data = r.take_bytes(usize::from(len))?.into_owned();
                let bitmap = match kind {
                    RECV_BITMAP => read_bitmap(r)?,
                    _ => Vec::new(),
                };
                ReturnMessage { kind, data, bitmap }
            }
            Format::Ber => read_ber(r)?,
        };
        m.check(at)?;
        Ok(Some(m))
    }

    /// Writes the message in `format`.
    pub fn write<W: io::Write>(&self, w: &mut Writer<W>, format: Format) -> Result<()> {
        match format {
            Format::Legacy => {
                w.put(&self.kind.to_be_bytes())?;
                w.put(&(self.data.len() as u16).to_be_bytes())?;
                w.put(&self.data)?;
                if self.kind == RECV_BITMAP {
                    w.put(&(self.bitmap.len() as u64).to_be_bytes())?;
                    w.put(&self.bitmap)?;
                    w.put(&BITMAP_ENDING.to_be_bytes())?;
                }
                Ok(())
            }
            Format::Ber => w.put(&numbered_tlv(
                MESSAGE,
                self.kind,
                &[(1, &self.data), (2, &self.bitmap)],
            )),
        }
    }
}

/// One `[APPLICATION 7]`, its length bounded by the largest message before
/// anything is read for it.
fn read_ber(r: &mut StreamInput<'_>) -> Result<ReturnMessage> {
    let base = r.offset();
    let h = ber::peek_header_at(r, 0)?;
    // Type, data and bitmap headers, 16 bits of data, the largest bitmap.
    const MAX: u64 = 24 + u16::MAX as u64 + MAX_BITMAP as u64;
    let len = match h.length {
        Length::Definite(n) if h.tag == MESSAGE && n <= MAX => n as usize,
        _ => {
            return Err(framing_error(
                format!(
                    "a return-path message is a definite [APPLICATION 7] of at most {MAX} octets"
                ),
                base,
            ))
        }
    };
    let item = r.take_bytes(h.header_len + len)?;
    let fields = [
        (1, usize::from(u16::MAX), "return-path data"),
        (2, MAX_BITMAP, "a RECV_BITMAP bitmap"),
    ];
    let (kind, [data, bitmap]) = read_numbered(
        &item,
        base,
        MESSAGE,
        ("return-path message", "type"),
        fields,
    )?;
    Ok(ReturnMessage { kind, data, bitmap })
}

/// The bitmap QEMU writes after a `RECV_BITMAP` message, its size bounded by
/// [`MAX_BITMAP`] before it is read, its end mark checked.
fn read_bitmap(r: &mut StreamInput<'_>) -> Result<Vec<u8>> {
    let at = r.offset();
    let size = u64::from_be_bytes(r.read_array()?);
    if size > MAX_BITMAP as u64 {
        return Err(framing_error(
            format!("a RECV_BITMAP bitmap of {size} octets (at most {MAX_BITMAP} are read)"),
            at,
        ));
    }
    let bitmap = r.take_bytes(size as usize)?.into_owned();
    let end = r.offset();
    if u64::from_be_bytes(r.read_array()?) != BITMAP_ENDING {
        return Err(framing_error(
            "a RECV_BITMAP bitmap without QEMU's end mark 0x0123456789abcdef",
            end,
        ));
    }
    Ok(bitmap)
}

/// Carries a return path: reads messages in format `from` from `input` and writes
/// each, converted to `to`, to `output` at once (the source waits for it), until
/// `input` ends between two messages. Returns how many it carried; an error (a
/// message QEMU would refuse, a channel cut inside a message) stops it.
/// In BER, a bridge's `[APPLICATION 10]` ([`DELIVERED`]) is taken, not
/// carried ([`carry_taking`] hands it over).
pub fn carry(
    input: &mut dyn io::Read,
    output: &mut dyn io::Write,
    from: Format,
    to: Format,
) -> Result<u64> {
    carry_taking(input, output, from, to, &mut |_| {})
}

/// [`carry`], handing what each `[APPLICATION 10]` says to `delivered`. Each
/// message is written with one call, so that another thread may write whole
/// items between them on the same connection.
pub fn carry_taking(
    input: &mut dyn io::Read,
    output: &mut dyn io::Write,
    from: Format,
    to: Format,
    delivered: &mut dyn FnMut(u64),
) -> Result<u64> {
    let mut r = StreamInput::Read(ReadInput::new(input));
    let mut out = Writer::new(output);
    let mut n = 0;
    loop {
        if from == Format::Ber && !r.peek(1)?.is_empty() {
            let at = r.offset();
            let h = ber::peek_header_at(&mut r, 0)?;
            if h.tag == DELIVERED {
                let len = match h.length {
                    Length::Definite(n) if n <= 11 => n as usize,
                    _ => {
                        return Err(framing_error(
                            "a [APPLICATION 10] of more than 11 octets",
                            at,
                        ))
                    }
                };
                let item = r.take_bytes(h.header_len + len)?;
                let mut input = crate::io::SliceInput::with_base(&item[h.header_len..], at);
                let mut d = ber::Decoder::new(&mut input, ber::Options::STRICT);
                let ih = d.expect(Tag::INTEGER)?;
                let v = d.integer(&ih)?;
                delivered(u64::try_from(v).map_err(|_| ber::out_of_range(v, "uint64", &ih))?);
                continue;
            }
        }
        let Some(m) = ReturnMessage::read(&mut r, from)? else {
            return Ok(n);
        };
        let mut w = Writer::new(Vec::new());
        m.write(&mut w, to)?;
        out.put(&w.into_inner())?;
        out.flush()?;
        n += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    fn bytes(messages: &[ReturnMessage], format: Format) -> Vec<u8> {
        let mut w = Writer::new(Vec::new());
        for m in messages {
            m.write(&mut w, format).unwrap();
        }
        w.into_inner()
    }

    #[test]
    fn messages_convert_both_ways_exactly() {
        let messages = [
            ReturnMessage::new(2, vec![0, 0, 0, 1]),
            ReturnMessage::new(3, [&[0u8; 8][..], &[0, 0, 16, 0], &[6], b"pc.ram"].concat()),
            ReturnMessage::new(7, vec![]),
            ReturnMessage {
                kind: 5,
                data: [&[6u8][..], b"pc.ram"].concat(),
                bitmap: [0xff, 0x0f, 0, 0, 0, 0, 0, 0x80].repeat(2),
            },
            ReturnMessage::new(6, vec![0, 0, 0, 1]),
            ReturnMessage::new(1, vec![0; 4]),
        ];
        let legacy = bytes(&messages, Format::Legacy);
        assert_eq!(&legacy[..8], &[0, 2, 0, 4, 0, 0, 0, 1]);
        // RECV_BITMAP as migrate_send_rp_recv_bitmap writes it: the message, then
        // the bitmap's size, the bitmap and the end mark.
        let recv = [
            &[0u8, 5, 0, 7, 6][..],
            b"pc.ram",
            &16u64.to_be_bytes(),
            &messages[3].bitmap,
            &[0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef],
        ]
        .concat();
        assert!(legacy.windows(recv.len()).any(|w| w == recv));
        let mut ber = Vec::new();
        assert_eq!(
            carry(&mut &legacy[..], &mut ber, Format::Legacy, Format::Ber).unwrap(),
            6
        );
        assert_eq!(ber, bytes(&messages, Format::Ber));
        let mut back = Vec::new();
        carry(&mut &ber[..], &mut back, Format::Ber, Format::Legacy).unwrap();
        assert_eq!(back, legacy);
    }

    #[test]
    fn a_bridges_delivered_octets_are_taken_not_carried() {
        let messages = [
            ReturnMessage::new(2, vec![0, 0, 0, 1]),
            ReturnMessage::new(7, vec![]),
        ];
        let mut ber = bytes(&messages[..1], Format::Ber);
        put_delivered(&mut ber, 5 << 20);
        ber.extend(bytes(&messages[1..], Format::Ber));
        put_delivered(&mut ber, 0);
        let (mut legacy, mut said) = (Vec::new(), Vec::new());
        let n = carry_taking(
            &mut &ber[..],
            &mut legacy,
            Format::Ber,
            Format::Legacy,
            &mut |d| said.push(d),
        )
        .unwrap();
        assert_eq!((n, said), (2, vec![5 << 20, 0]));
        assert_eq!(legacy, bytes(&messages, Format::Legacy));
        // Not an octet count (negative): refused.
        let mut big = vec![0x6a, 10, 0x02, 8];
        big.extend([0xff; 8]);
        assert!(carry(&mut &big[..], &mut Vec::new(), Format::Ber, Format::Legacy).is_err());
    }

    #[test]
    fn what_qemu_refuses_is_refused() {
        for (m, text) in [
            (
                [0u8, 9, 0, 0].to_vec(),
                "at byte 0: bad stream framing: unknown return-path message 9 (QEMU knows 1 to 7)",
            ),
            (
                [0, 1, 0, 2, 0, 0].to_vec(),
                "at byte 0: bad stream framing: return-path message SHUT carries 2 bytes; \
                 QEMU's takes 4",
            ),
            (
                [
                    &[0u8, 5, 0, 0][..],
                    &0u64.to_be_bytes(),
                    &BITMAP_ENDING.to_be_bytes(),
                ]
                .concat(),
                "at byte 0: bad stream framing: return-path message RECV_BITMAP names no block",
            ),
            (
                [&[0u8, 5, 0, 1, 0][..], &(1u64 << 27).to_be_bytes()].concat(),
                "at byte 5: bad stream framing: a RECV_BITMAP bitmap of 134217728 octets \
                 (at most 67108864 are read)",
            ),
            (
                [
                    &[0u8, 5, 0, 1, 0][..],
                    &8u64.to_be_bytes(),
                    &[0xff; 8],
                    &[0; 8],
                ]
                .concat(),
                "at byte 21: bad stream framing: a RECV_BITMAP bitmap without QEMU's end \
                 mark 0x0123456789abcdef",
            ),
            (
                [
                    &[0u8, 5, 0, 1, 0][..],
                    &3u64.to_be_bytes(),
                    &[0xff; 3],
                    &BITMAP_ENDING.to_be_bytes(),
                ]
                .concat(),
                "at byte 0: bad stream framing: return-path message RECV_BITMAP carries a \
                 bitmap of 3 octets; only RECV_BITMAP has one, of whole 8-octet words",
            ),
        ] {
            let e = carry(&mut &m[..], &mut Vec::new(), Format::Legacy, Format::Ber).unwrap_err();
            assert_eq!(e.to_string(), text);
        }
        // Cut inside a message: where it began.
        let e = carry(
            &mut &[0u8, 1, 0, 4, 0][..],
            &mut Vec::new(),
            Format::Legacy,
            Format::Ber,
        )
        .unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::UnexpectedEof), "{e}");
        // A BER length past any message's is refused before it is read.
        let e = carry(
            &mut &[0x67u8, 0x84, 0x7f, 0xff, 0xff, 0xff][..],
            &mut Vec::new(),
            Format::Ber,
            Format::Legacy,
        )
        .unwrap_err();
        assert!(e.to_string().contains("at most 67174423 octets"), "{e}");
    }
}
