//! Machine types: which version each device saves at for a destination, and what
//! the QEMU release of a versioned machine type expects of the stream's framing.

/// Per machine type, the version each device saves at: a newer VMM writes what an
/// older destination reads by naming the destination's machine type.
#[derive(Debug, Clone, Default)]
pub struct MachineTypes {
    machines: Vec<(String, Vec<(String, u32)>)>,
}

impl MachineTypes {
    /// An empty table: every device saves at its current version.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `machine`, pinning each listed device (by idstr) to a version.
    #[must_use]
    pub fn machine(mut self, machine: &str, versions: &[(&str, u32)]) -> Self {
        let v = versions
            .iter()
            .map(|(d, v)| ((*d).to_owned(), *v))
            .collect();
        self.machines.push((machine.to_owned(), v));
        self
    }

    /// The version `idstr` saves at for `machine`, if the table pins it.
    pub fn version(&self, machine: &str, idstr: &str) -> Option<u32> {
        self.machines
            .iter()
            .find(|(m, _)| m == machine)?
            .1
            .iter()
            .find(|(d, _)| d == idstr)
            .map(|(_, v)| *v)
    }
}

/// The QEMU release of a versioned machine type (`pc-i440fx-10.0`, `pc-q35-7.2`:
/// the number after the last `-`), as (major, minor); `None` for other names.
pub fn qemu_release(machine: &str) -> Option<(u32, u32)> {
    let (_, version) = machine.rsplit_once('-')?;
    let (major, minor) = version.split_once('.')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// Whether a stream for `machine` carries QEMU's `SWITCHOVER_START` command before
/// the device state: QEMU 10.0 sends it for its own machine types and later, not for
/// older ones (`hw_compat_9_2` turns it off), and QEMU 7.2 refuses a stream holding
/// it. Names without a QEMU version do not.
pub fn sends_switchover_start(machine: &str) -> bool {
    qemu_release(machine).is_some_and(|r| r >= (10, 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn releases_of_machine_types() {
        assert_eq!(qemu_release("pc-i440fx-10.0"), Some((10, 0)));
        assert_eq!(qemu_release("pc-q35-7.2"), Some((7, 2)));
        assert_eq!(qemu_release("microvm"), None);
        assert!(sends_switchover_start("pc-q35-10.1"));
        assert!(sends_switchover_start("pc-i440fx-11.0"));
        assert!(!sends_switchover_start("pc-i440fx-9.2"));
        assert!(!sends_switchover_start("pc-i440fx-7.2"));
        assert!(!sends_switchover_start("vmstate-demo"));
    }
}
