//! What QEMU's migration capabilities put in a stream that vmstate does not read or
//! carry yet, named as QEMU names it (`migration/ram.c`, `migration/savevm.c`,
//! `migration/multifd.h`), with the capability that produces it and the way out;
//! and the files that are not a migration stream but hold one, or VM state.
//!
//! A tool that meets one of these refuses at the first record that shows it: the
//! configuration's capability list, the command, the RAM word, the first octets.

use super::{Command, Configuration};
use crate::error::{Error, ErrorKind};

fn unsupported(what: String, capability: &str, remedy: &str, at: u64) -> Error {
    Error::new(
        ErrorKind::Unsupported {
            what,
            capability: capability.to_owned(),
            remedy: remedy.to_owned(),
        },
        at,
    )
}

/// The RAM flags QEMU defines beyond those vmstate reads: the flag, QEMU's name,
/// the capability or transport that makes QEMU send it, and the way out.
const RAM_FLAGS: [(u64, &str, &str, &str); 2] = [
    (
        0x01,
        "RAM_SAVE_FLAG_FULL",
        "none (obsolete)",
        "no QEMU since 1.x writes it",
    ),
    (
        0x80,
        "RAM_SAVE_FLAG_HOOK",
        "rdma (the rdma: transport)",
        "migrate over tcp:, unix:, fd: or exec:",
    ),
];

/// The error for a multifd main channel's `MULTIFD_FLUSH` where its channels are
/// not at hand (a bridge, a conversion of the main channel alone), at `at`.
pub(crate) fn multifd_flush(at: u64) -> Error {
    unsupported(
        "RAM_SAVE_FLAG_MULTIFD_FLUSH (0x200)".into(),
        "multifd",
        "its pages travel over extra connections that this stream does not hold; \
         migrate without it (migrate-set-capabilities multifd=off on both QEMUs)",
        at,
    )
}

/// The error for a RAM word whose `flags` hold one vmstate does not read, at `at`:
/// the lowest such flag by QEMU's name, or the unknown bits.
pub(crate) fn ram_flags(flags: u64, known: u64, at: u64) -> Error {
    let extra = flags & !known;
    match RAM_FLAGS.iter().find(|(f, ..)| extra & f != 0) {
        Some((flag, name, capability, remedy)) => {
            unsupported(format!("{name} ({flag:#x})"), capability, remedy, at)
        }
        None => super::framing_error(
            format!("unknown RAM flags {extra:#x} (QEMU defines flags up to 0x200)"),
            at,
        ),
    }
}

/// The capability that makes QEMU send a command other than `SWITCHOVER_START`, and
/// the way out, by the command's number.
fn command_source(number: u16) -> (&'static str, &'static str) {
    const RETURN_PATH: &str = "migrate without a return path: \
        migrate-set-capabilities return-path=off postcopy-ram=off switchover-ack=off \
        on both QEMUs (a vmstate bridge carries one direction)";
    const POSTCOPY: &str = "migrate pre-copy (migrate-set-capabilities postcopy-ram=off)";
    match number {
        1 => (
            "return-path (also postcopy-ram, switchover-ack)",
            RETURN_PATH,
        ),
        2 => ("return-path", RETURN_PATH),
        3..=7 => ("postcopy-ram", POSTCOPY),
        8 => ("x-colo", "migrate without COLO (x-colo=off)"),
        _ => ("postcopy-ram (postcopy recovery)", POSTCOPY),
    }
}

/// The error for a command that a one-way carrier (a bridge, a file) cannot carry
/// out, at `at`: QEMU's name of the command and the capability that sent it.
pub(crate) fn command(c: &Command, at: u64) -> Error {
    let (capability, remedy) = command_source(c.number);
    unsupported(
        format!("command {} ({})", c.name(), c.number),
        capability,
        remedy,
        at,
    )
}

/// The capabilities a configuration may list that vmstate reads.
const READ_CAPABILITIES: [&[u8]; 2] = [b"x-ignore-shared", b"mapped-ram"];

/// Refuses a configuration that lists a capability vmstate does not read: QEMU
/// lists only those that change what the stream holds (`x-ignore-shared` and,
/// from 9.0, `mapped-ram`, both read). `at` is the configuration's offset.
pub(crate) fn check_configuration(c: &Configuration, at: u64) -> crate::Result<()> {
    let Some(caps) = &c.capabilities else {
        return Ok(());
    };
    let Some(first) = caps
        .capabilities
        .iter()
        .find(|c| !READ_CAPABILITIES.contains(&c.name.as_slice()))
    else {
        return Ok(());
    };
    let name = String::from_utf8_lossy(&first.name);
    Err(unsupported(
        format!("a stream layout vmstate does not know (the configuration lists {name})"),
        &name,
        "save without it (migrate-set-capabilities)",
        at,
    ))
}

/// `MultiFDInit_t`'s magic: the first octets of a multifd channel.
pub const MULTIFD_MAGIC: u32 = 0x1122_3344;

/// A libvirt save image's header (`virQEMUSaveHeader`: the magic, then host-endian
/// u32s: version, data_len (the domain XML), was_running, compressed; 92 octets).
struct LibvirtHeader {
    /// `LibvirtQemudPart`: libvirt did not finish writing it.
    partial: bool,
    /// Where QEMU's stream starts.
    stream_at: u64,
    /// libvirt's compression of the stream (0: none).
    compressed: u32,
}

impl LibvirtHeader {
    const LEN: u64 = 92;

    /// The header `head` starts with, if it is one; `Some(None)` when it is cut.
    fn parse(head: &[u8]) -> Option<Option<LibvirtHeader>> {
        let partial = head.starts_with(b"LibvirtQemudPart");
        if !partial && !head.starts_with(b"LibvirtQemudSave") {
            return None;
        }
        let word = |n: usize| {
            head.get(n..n + 4)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        };
        Some(
            word(20)
                .zip(word(28))
                .map(|(xml, compressed)| LibvirtHeader {
                    partial,
                    stream_at: Self::LEN + u64::from(xml),
                    compressed,
                }),
        )
    }
}

/// Where QEMU's stream starts in `bytes` when they are a whole libvirt save image
/// that libvirt wrote uncompressed: tools read through its header and domain XML.
pub fn libvirt_image_stream(bytes: &[u8]) -> Option<usize> {
    match LibvirtHeader::parse(bytes) {
        Some(Some(h)) if !h.partial && h.compressed == 0 => {
            let at = usize::try_from(h.stream_at).ok()?;
            bytes
                .get(at..)?
                .starts_with(&super::MAGIC.to_be_bytes())
                .then_some(at)
        }
        _ => None,
    }
}

/// The error for bytes that are neither format, naming what they are when their
/// first octets say so (a multifd channel, a qcow2 image, a libvirt save image).
pub(crate) fn foreign(head: &[u8]) -> Error {
    if head.starts_with(&MULTIFD_MAGIC.to_be_bytes()) {
        return unsupported(
            "a multifd channel (MultiFDInit_t, magic 0x11223344), not a main channel".into(),
            "multifd",
            "migrate without it (migrate-set-capabilities multifd=off on both QEMUs)",
            0,
        );
    }
    let message = if head.starts_with(b"QFI\xfb") {
        "a qcow2 disk image, not a migration stream: its internal snapshots hold VM \
         state in qcow2's own layout. List them (qemu-img snapshot -l FILE), start the \
         VM with -loadvm NAME -S and save a stream (migrate \"exec:cat > state.mig\")"
            .to_owned()
    } else if let Some(header) = LibvirtHeader::parse(head) {
        match header {
            Some(h) => {
                let decompress = match h.compressed {
                    0 => "",
                    1 => " | gzip -d",
                    2 => " | bzip2 -d",
                    3 => " | xz -d",
                    4 => " | lzop -d",
                    5 => " | zstd -d",
                    _ => " | (its compressor, unknown) -d",
                };
                format!(
                    "a libvirt save image{}: a 92-octet header and the domain XML, then \
                     QEMU's stream from byte {}; take it out with \
                     tail -c +{} FILE{decompress} > state.mig",
                    if h.partial {
                        " that libvirt did not finish writing"
                    } else {
                        ""
                    },
                    h.stream_at,
                    h.stream_at + 1
                )
            }
            None => "a libvirt save image, cut short in its header".to_owned(),
        }
    } else {
        "neither a QEVM stream nor a vmstate BER stream".to_owned()
    };
    super::framing_error(message, 0)
}
