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
//!
//! The channel has no header and no end marker: it ends when the connection does.

use super::ber::{numbered_tlv, read_numbered};
use super::framing_error;
use crate::ber::{self, Length, Tag};
use crate::error::{Error, ErrorKind, Result};
use crate::format::Format;
use crate::io::{Input, ReadInput, StreamInput, Writer};
use std::io;

/// `[APPLICATION 7]`: one return-path message.
pub const MESSAGE: Tag = Tag::application(7);

/// One message of the return path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReturnMessage {
    /// QEMU's `mig_rp_message_type`.
    pub kind: u16,
    /// Its data, as QEMU sent it.
    pub data: Vec<u8>,
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

    /// Checks the message as QEMU's `source_return_path_thread` does (a known
    /// type, its length), at offset `at`. `RECV_BITMAP` is refused by name: the
    /// bitmap QEMU sends after it is not a message, so a carrier cannot pass it.
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
        if self.kind == RECV_BITMAP {
            return Err(Error::new(
                ErrorKind::Unsupported {
                    what: "return-path message RECV_BITMAP (5)".into(),
                    capability: "postcopy-ram (postcopy recovery)".into(),
                    remedy: "recover a paused postcopy migration without a vmstate bridge \
                             between the QEMUs"
                        .into(),
                },
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
                ReturnMessage { kind, data }
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
                w.put(&self.data)
            }
            Format::Ber => w.put(&numbered_tlv(MESSAGE, self.kind, &[(1, &self.data)])),
        }
    }
}

/// One `[APPLICATION 7]`, its length bounded by the largest message before
/// anything is read for it.
fn read_ber(r: &mut StreamInput<'_>) -> Result<ReturnMessage> {
    let base = r.offset();
    let h = ber::peek_header_at(r, 0)?;
    // Type and data headers, and a 16-bit length of data.
    const MAX: u64 = 16 + u16::MAX as u64;
    let len = match h.length {
        Length::Definite(n) if h.tag == MESSAGE && n <= MAX => n as usize,
        _ => {
            return Err(framing_error(
                "a return-path message is a definite [APPLICATION 7] of at most 65551 octets",
                base,
            ))
        }
    };
    let item = r.take_bytes(h.header_len + len)?;
    let fields = [(1, usize::from(u16::MAX), "return-path data")];
    let (kind, [data]) = read_numbered(
        &item,
        base,
        MESSAGE,
        ("return-path message", "type"),
        fields,
    )?;
    Ok(ReturnMessage { kind, data })
}

/// Carries a return path: reads messages in format `from` from `input` and writes
/// each, converted to `to`, to `output` at once (the source waits for it), until
/// `input` ends between two messages. Returns how many it carried; an error (a
/// message QEMU would refuse, a channel cut inside a message) stops it.
pub fn carry(
    input: &mut dyn io::Read,
    output: &mut dyn io::Write,
    from: Format,
    to: Format,
) -> Result<u64> {
    let mut r = StreamInput::Read(ReadInput::new(input));
    let mut w = Writer::new(output);
    let mut n = 0;
    while let Some(m) = ReturnMessage::read(&mut r, from)? {
        m.write(&mut w, to)?;
        w.flush()?;
        n += 1;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

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
            ReturnMessage {
                kind: 2,
                data: vec![0, 0, 0, 1],
            },
            ReturnMessage {
                kind: 3,
                data: [&[0u8; 8][..], &[0, 0, 16, 0], &[6], b"pc.ram"].concat(),
            },
            ReturnMessage {
                kind: 7,
                data: vec![],
            },
            ReturnMessage {
                kind: 1,
                data: vec![0; 4],
            },
        ];
        let legacy = bytes(&messages, Format::Legacy);
        assert_eq!(&legacy[..8], &[0, 2, 0, 4, 0, 0, 0, 1]);
        let mut ber = Vec::new();
        assert_eq!(
            carry(&mut &legacy[..], &mut ber, Format::Legacy, Format::Ber).unwrap(),
            4
        );
        assert_eq!(ber, bytes(&messages, Format::Ber));
        let mut back = Vec::new();
        carry(&mut &ber[..], &mut back, Format::Ber, Format::Legacy).unwrap();
        assert_eq!(back, legacy);
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
                [0, 5, 0, 0].to_vec(),
                "at byte 0: return-path message RECV_BITMAP (5), from the migration \
                 capability postcopy-ram (postcopy recovery), is not supported: recover a \
                 paused postcopy migration without a vmstate bridge between the QEMUs",
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
        assert!(e.to_string().contains("at most 65551 octets"), "{e}");
    }
}
