//! Whole migration streams: a [`Registry`] of typed sections saved and loaded in
//! either format, its records read and written through [`crate::framing`]. (A QEMU
//! stream split into its sections without any device type, by its own vmdesc, is
//! [`crate::dump::walk_legacy`].)

mod device;
mod live;
mod load;
mod machine_types;
mod registry;

pub use self::device::SectionDevice;
pub use self::live::LiveSave;
pub use self::machine_types::{qemu_release, sends_switchover_start, MachineTypes};
pub use self::registry::Registry;
pub use crate::framing::{IterativeSection, Part, SectionKind};
