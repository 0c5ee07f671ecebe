//! Machine types: which version each device saves at for a destination.

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
