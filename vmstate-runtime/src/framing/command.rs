//! QEMU's `QEMU_VM_COMMAND` records: a be16 command number, a be16 length and that
//! many bytes of data, between sections. QEMU 10.0 writes one into every precopy
//! stream of its own machine types (`SWITCHOVER_START`, no data, after the last RAM
//! iteration); the others drive postcopy, COLO and the return path, which a file or
//! a one-way stream cannot have. The numbers, names and lengths are QEMU's
//! (`enum qemu_vm_cmd` and `mig_cmd_args` in `migration/savevm.c`).

use super::framing_error;
use crate::error::Result;

/// One command record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// QEMU's command number (1 to 11).
    pub number: u16,
    /// Its data (empty for most).
    pub data: Vec<u8>,
}

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
    /// `SWITCHOVER_START`'s number.
    pub const SWITCHOVER_START: u16 = 11;
    /// The highest number QEMU 7.2 knows (`RECV_BITMAP`): a 7.2 destination rejects
    /// a stream with a command above it.
    pub const LAST_IN_QEMU_7_2: u16 = 10;

    /// `SWITCHOVER_START`: the source is about to send the device state (QEMU 10.0
    /// machine types and later).
    pub fn switchover_start() -> Command {
        Command {
            number: Self::SWITCHOVER_START,
            data: Vec::new(),
        }
    }

    /// Every command QEMU 10.0 knows, in number order, without data.
    pub fn all() -> impl Iterator<Item = Command> {
        KNOWN.iter().map(|k| Command {
            number: k.number,
            data: Vec::new(),
        })
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
        KNOWN.iter().find(|k| k.name == name).map(|k| Command {
            number: k.number,
            data,
        })
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
            _ => Ok(()),
        }
    }

    /// Whether it means something in a stream read from a file or one-way
    /// connection: only `SWITCHOVER_START` does (a notification); the others need a
    /// return path, postcopy or COLO, which a loader of such a stream cannot give.
    pub fn is_one_way(&self) -> bool {
        self.number == Self::SWITCHOVER_START
    }

    /// Whether all it needs is the return path: `OPEN_RETURN_PATH`, and `PING`
    /// (answered by `PONG` on it); a carrier of the return path passes them.
    pub fn is_return_path(&self) -> bool {
        matches!(self.number, 1 | 2)
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
        assert!(Command {
            number: 2,
            data: vec![]
        }
        .check(0)
        .is_err());
        let unknown = Command {
            number: 12,
            data: vec![],
        }
        .check(7)
        .unwrap_err();
        assert_eq!(unknown.offset(), 7);
        assert!(Command {
            number: 0,
            data: vec![]
        }
        .check(0)
        .is_err());
        assert!(Command {
            number: 6,
            data: vec![1; 300]
        }
        .check(0)
        .is_ok());
        for (i, k) in KNOWN.iter().enumerate() {
            assert_eq!(usize::from(k.number), i + 1);
        }
    }
}
