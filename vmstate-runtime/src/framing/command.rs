//! QEMU's `QEMU_VM_COMMAND` records: a be16 command number, a be16 length and that
//! many bytes of data, between sections. QEMU 10.0 writes one into every precopy
//! stream of its own machine types (`SWITCHOVER_START`, no data, after the last RAM
//! iteration); the others drive postcopy, COLO and the return path, which a file or
//! a one-way stream cannot have. The numbers, names and lengths are QEMU's
//! (`enum qemu_vm_cmd` and `mig_cmd_args` in `migration/savevm.c`).
//!
//! `PACKAGED` (postcopy) is followed by the package its be32 data announces: a
//! nested stream of the device state (`POSTCOPY_LISTEN`, the device sections,
//! `PING`, `POSTCOPY_RUN`), which QEMU sends without a vmdesc. It is read with its
//! command, as QEMU's loader reads it (`loadvm_handle_cmd_packaged`), and kept as
//! QEMU's bytes.

use super::framing_error;
use crate::error::Result;

/// One command record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// QEMU's command number (1 to 11).
    pub number: u16,
    /// Its data (empty for most).
    pub data: Vec<u8>,
    /// `PACKAGED`'s package, the bytes after the record (empty for the others).
    pub package: Vec<u8>,
}

/// `MIG_CMD_PACKAGED`.
const PACKAGED: u16 = 7;

/// QEMU's largest package (`MAX_VM_CMD_PACKAGED_SIZE`, 16 MiB).
pub const MAX_PACKAGE: usize = 1 << 24;

/// A command number QEMU knows: its name and, where QEMU fixes it, its length.
struct Known {
    number: u16,
    name: &'static str,
    len: Option<usize>,
}

/// QEMU 10.0's commands. `ENABLE_COLO` has no entry in QEMU's length table, whose
/// zeroed slot makes QEMU require a length of 0.
const KNOWN: [Known; 11] = [
    Known {
        number: 1,
        name: "OPEN_RETURN_PATH",
        len: Some(0),
    },
    Known {
        number: 2,
        name: "PING",
        len: Some(4),
    },
    Known {
        number: 3,
        name: "POSTCOPY_ADVISE",
        len: None,
    },
    Known {
        number: 4,
        name: "POSTCOPY_LISTEN",
        len: Some(0),
    },
    Known {
        number: 5,
        name: "POSTCOPY_RUN",
        len: Some(0),
    },
    Known {
        number: 6,
        name: "POSTCOPY_RAM_DISCARD",
        len: None,
    },
    Known {
        number: 7,
        name: "PACKAGED",
        len: Some(4),
    },
    Known {
        number: 8,
        name: "ENABLE_COLO",
        len: Some(0),
    },
    Known {
        number: 9,
        name: "POSTCOPY_RESUME",
        len: Some(0),
    },
    Known {
        number: 10,
        name: "RECV_BITMAP",
        len: None,
    },
    Known {
        number: 11,
        name: "SWITCHOVER_START",
        len: Some(0),
    },
];

impl Command {
    /// `OPEN_RETURN_PATH`'s number.
    pub const OPEN_RETURN_PATH: u16 = 1;
    /// `POSTCOPY_ADVISE`: its data gives the blocks' page sizes.
    pub const POSTCOPY_ADVISE: u16 = 3;
    /// `SWITCHOVER_START`'s number.
    pub const SWITCHOVER_START: u16 = 11;
    /// The highest number QEMU 7.2 knows (`RECV_BITMAP`): a 7.2 destination rejects
    /// a stream with a command above it.
    pub const LAST_IN_QEMU_7_2: u16 = 10;

    /// A command with `data` (and no package).
    pub fn new(number: u16, data: Vec<u8>) -> Command {
        Command {
            number,
            data,
            package: Vec::new(),
        }
    }

    /// The length of the package that follows it: `PACKAGED`'s be32 data, within
    /// QEMU's bound (checked before anything is read for it); 0 for the others.
    pub fn package_len(&self, at: u64) -> Result<usize> {
        if self.number != PACKAGED {
            return Ok(0);
        }
        let len = match <[u8; 4]>::try_from(self.data.as_slice()) {
            Ok(b) => u32::from_be_bytes(b) as usize,
            Err(_) => return self.check(at).map(|()| 0),
        };
        if len > MAX_PACKAGE {
            return Err(framing_error(
                format!("a PACKAGED package of {len} bytes (QEMU's are at most {MAX_PACKAGE})"),
                at,
            ));
        }
        Ok(len)
    }

    /// `SWITCHOVER_START`: the source is about to send the device state (QEMU 10.0
    /// machine types and later).
    pub fn switchover_start() -> Command {
        Command::new(Self::SWITCHOVER_START, Vec::new())
    }

    /// Every command QEMU 10.0 knows, in number order, without data.
    pub fn all() -> impl Iterator<Item = Command> {
        KNOWN.iter().map(|k| Command::new(k.number, Vec::new()))
    }

    fn known(number: u16) -> Option<&'static Known> {
        KNOWN.iter().find(|k| k.number == number)
    }

    /// QEMU's name of the command (`SWITCHOVER_START`).
    pub fn name(&self) -> &'static str {
        Self::known(self.number).map_or("UNKNOWN", |k| k.name)
    }

    /// The command of `name` (as [`Command::name`] gives it) with `data`.
    pub fn from_name(name: &str, data: Vec<u8>) -> Option<Command> {
        KNOWN
            .iter()
            .find(|k| k.name == name)
            .map(|k| Command::new(k.number, data))
    }

    /// Checks what QEMU checks when it reads one: a known number, and the length
    /// QEMU fixes for it. `at` is the record's offset, for the error.
    pub fn check(&self, at: u64) -> Result<()> {
        let Some(k) = Self::known(self.number) else {
            return Err(framing_error(
                format!("unknown command {} (QEMU knows 1 to 11)", self.number),
                at,
            ));
        };
        match k.len {
            Some(len) if len != self.data.len() => Err(framing_error(
                format!(
                    "command {} carries {} bytes; QEMU's takes {len}",
                    k.name,
                    self.data.len()
                ),
                at,
            )),
            _ if self.package.len() != self.package_len(at)? => Err(framing_error(
                format!(
                    "command {} is followed by {} bytes of package; it announces {}",
                    k.name,
                    self.package.len(),
                    self.package_len(at)?
                ),
                at,
            )),
            _ => Ok(()),
        }
    }

    /// Whether it means something in a stream read from a file or one-way
    /// connection: only `SWITCHOVER_START` does (a notification); the others need a
    /// return path, postcopy or COLO, which a loader of such a stream cannot give.
    pub fn is_one_way(&self) -> bool {
        self.number == Self::SWITCHOVER_START
    }

    /// Whether all it needs is the return path: `OPEN_RETURN_PATH`, `PING`
    /// (answered by `PONG` on it) and postcopy's (`POSTCOPY_ADVISE` to `PACKAGED`:
    /// the destination asks for the pages it faults on); a carrier of the return
    /// path passes them. Postcopy recovery and COLO need more.
    pub fn needs_return_path(&self) -> bool {
        matches!(self.number, 1..=PACKAGED)
    }

    /// Whether it is postcopy recovery's (`POSTCOPY_RESUME`, `RECV_BITMAP`): sent
    /// on the connection a paused postcopy migration resumes on, which a carrier
    /// of the return path passes there.
    pub fn resumes_postcopy(&self) -> bool {
        matches!(self.number, 9 | 10)
    }

    /// The error for a command a one-way load or carrier cannot carry out: QEMU's
    /// name of it, the capability that sent it, and the way out
    /// ([`ErrorKind::Unsupported`](crate::ErrorKind::Unsupported)).
    pub fn not_one_way(&self, at: u64) -> crate::Error {
        super::capability::command(self, at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_numbers_and_lengths_are_qemus() {
        let c = Command::switchover_start();
        assert_eq!((c.name(), c.number), ("SWITCHOVER_START", 11));
        assert!(c.check(0).is_ok() && c.is_one_way());
        let ping = Command::from_name("PING", vec![0; 4]).unwrap();
        assert_eq!(ping.number, 2);
        assert!(ping.check(0).is_ok() && !ping.is_one_way());
        assert!(Command::new(2, vec![]).check(0).is_err());
        let unknown = Command::new(12, vec![]).check(7).unwrap_err();
        assert_eq!(unknown.offset(), 7);
        assert!(Command::new(0, vec![]).check(0).is_err());
        assert!(Command::new(6, vec![1; 300]).check(0).is_ok());
        for (i, k) in KNOWN.iter().enumerate() {
            assert_eq!(usize::from(k.number), i + 1);
        }
    }
}
