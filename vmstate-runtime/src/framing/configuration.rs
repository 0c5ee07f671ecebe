//! The configuration section: the machine type, and the checks QEMU may add to it.
//! The same VMState value in both formats (legacy `0x07`, BER `[APPLICATION 3]`).

/// Capability names sent in the configuration (QEMU's `vmstate_capability`).
#[derive(crate::VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "capability", version = 1)]
pub struct Capability {
    /// Name length.
    pub len: u8,
    /// Capability name.
    #[vmstate(len = len, max = 255)]
    pub name: Vec<u8>,
}

/// `configuration/target-page-bits`.
#[derive(crate::VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "configuration/target-page-bits", version = 1)]
pub struct TargetPageBits {
    /// log2 of the target page size.
    pub target_page_bits: u32,
}

/// `configuration/capabilities`.
#[derive(crate::VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "configuration/capabilities", version = 1)]
pub struct Capabilities {
    /// Number of capabilities.
    pub caps_count: u32,
    /// The capabilities.
    #[vmstate(len = caps_count, max = 64)]
    pub capabilities: Vec<Capability>,
}

/// `configuration/uuid`.
#[derive(crate::VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "configuration/uuid", version = 1)]
pub struct ConfigUuid {
    /// The VM's UUID.
    #[vmstate(as_array)]
    pub uuid: [u8; 16],
}

/// The configuration section: the machine type, and optional checks.
#[derive(crate::VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "configuration", version = 1)]
pub struct Configuration {
    /// Machine type length.
    pub len: u32,
    /// Machine type, e.g. `pc-i440fx-7.2`.
    #[vmstate(len = len, max = 256)]
    pub name: Vec<u8>,
    /// Sent when the target page size is not the default.
    #[vmstate(subsection)]
    pub target_page_bits: Option<TargetPageBits>,
    /// Sent when capabilities are validated.
    #[vmstate(subsection)]
    pub capabilities: Option<Capabilities>,
    /// Sent when the UUID is validated.
    #[vmstate(subsection)]
    pub uuid: Option<ConfigUuid>,
}

impl Configuration {
    /// The configuration of a VM of `machine_type`, without optional checks.
    pub fn for_machine(machine_type: &str) -> Self {
        Configuration {
            len: machine_type.len() as u32,
            name: machine_type.as_bytes().to_vec(),
            ..Configuration::default()
        }
    }

    /// The machine type it names.
    pub fn machine_type(&self) -> String {
        String::from_utf8_lossy(&self.name).into_owned()
    }

    /// The configuration with `capability` added to its list, as QEMU sends it
    /// when that capability is on (at most 255 octets of name, 64 names).
    pub fn with_capability(mut self, capability: &str) -> Self {
        let caps = self.capabilities.get_or_insert_with(Capabilities::default);
        let name = &capability.as_bytes()[..capability.len().min(255)];
        caps.capabilities.push(Capability {
            len: name.len() as u8,
            name: name.to_vec(),
        });
        caps.caps_count = caps.capabilities.len() as u32;
        self
    }

    /// Whether its capability list names `capability` (QEMU lists those that change
    /// what the stream holds).
    pub fn lists_capability(&self, capability: &[u8]) -> bool {
        self.capabilities
            .as_ref()
            .is_some_and(|c| c.capabilities.iter().any(|c| c.name == capability))
    }
}
