//! Whole migration streams: a [`Registry`] of typed sections saved and loaded in
//! either format, and [`walk_legacy`], which splits a QEMU stream into sections
//! without any device type. Both read and write records through
//! [`crate::framing`].

mod device;
mod live;
mod load;
mod machine_types;
mod registry;
mod walk;

pub use self::device::SectionDevice;
pub use self::live::LiveSave;
pub use self::machine_types::{qemu_release, sends_switchover_start, MachineTypes};
pub use self::registry::Registry;
pub use self::walk::{load_section, walk_legacy, LegacyStream, PlacedCommand, Section};
pub use crate::framing::{IterativeSection, Part, SectionKind};
