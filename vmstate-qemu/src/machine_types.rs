//! The machine types of QEMU 7.2 and 10.0 for the mirrored devices: the version each
//! device section saves at for a destination of that machine type.
//!
//! Both releases save every mirrored device at the same version (the `cpu` at 12,
//! the `hpet` at 2, ...); what a QEMU 10.0 machine type adds is in the framing
//! (`SWITCHOVER_START`, which [`Registry`](vmstate_runtime::stream::Registry) writes
//! for it) and in subsections sent only when needed (`i8259/ltim`).

use vmstate_runtime::stream::MachineTypes;

/// The i440FX and Q35 machine types of QEMU 7.2 and 10.0.
pub const MACHINES: [&str; 4] = [
    "pc-i440fx-7.2",
    "pc-q35-7.2",
    "pc-i440fx-10.0",
    "pc-q35-10.0",
];

/// Each mirrored device's section name and the version QEMU 7.2 and 10.0 save it
/// at: the hand-written and the generated mirrors' own (the tables
/// [`mirror`](crate::mirror) builds from). A name two descriptions share at two
/// versions (`ne2000`: the ISA card's 2, the PCI card's 3) is left out: each
/// saves at its own.
pub fn device_versions() -> Vec<(&'static str, u32)> {
    let all = all_versions();
    let mut versions: Vec<(&str, u32)> = Vec::new();
    for (name, version) in &all {
        let one = all.iter().all(|(n, v)| n != name || v == version);
        if one && !versions.iter().any(|(n, _)| n == name) {
            versions.push((name, *version));
        }
    }
    versions
}

/// Every mirror's section name and version, as a fresh destination builds it.
fn all_versions() -> Vec<(&'static str, u32)> {
    let fresh = crate::devices::Destination {
        instance: 0,
        machine_type: MACHINES[3],
        cpus: 1,
    };
    let hand = crate::devices::HAND_MIRRORS
        .iter()
        .map(|(name, make)| (*name, make(&fresh).desc().version));
    let generated = crate::catalog::GENERATED_MIRRORS
        .iter()
        .map(|m| (m.name, (m.new)().desc().version));
    hand.chain(generated).collect()
}

/// A table of [`MACHINES`] for a [`Registry`](vmstate_runtime::stream::Registry):
/// `Registry::new("pc-q35-7.2").with_machine_types(vmstate_qemu::machine_types())`
/// saves each mirrored device at the version that machine type's QEMU writes.
pub fn machine_types() -> MachineTypes {
    let versions = device_versions();
    MACHINES
        .iter()
        .fold(MachineTypes::new(), |t, m| t.machine(m, &versions))
}

/// The QEMU release a machine type names (`pc-q35-7.2` -> (7, 2)).
pub fn version_of(machine_type: &str) -> Option<(u32, u32)> {
    let (major, minor) = machine_type.rsplit('-').next()?.split_once('.')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A section name is listed at its one version, or not at all when two
    /// descriptions of that name save at two.
    #[test]
    fn each_listed_name_has_its_one_version() {
        let all = all_versions();
        let versions = device_versions();
        for (name, version) in &all {
            let listed = versions.iter().find(|(n, _)| n == name).map(|v| v.1);
            let shared = all.iter().any(|(n, v)| n == name && v != version);
            assert_eq!(listed, (!shared).then_some(*version), "{name}");
        }
        assert!(versions.iter().all(|(n, _)| *n != "ne2000"));
        assert!(versions.len() > 100, "{} sections", versions.len());
    }
}
