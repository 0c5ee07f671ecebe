//! The machine types of QEMU 7.2 and 10.0 for the mirrored devices: the version each
//! device section saves at for a destination of that machine type.
//!
//! Both releases save every mirrored device at the same version (the `cpu` at 12,
//! the `hpet` at 2, ...); what a QEMU 10.0 machine type adds is in the framing
//! (`SWITCHOVER_START`, which [`Registry`](vmstate_runtime::stream::Registry) writes
//! for it) and in subsections sent only when needed (`i8259/ltim`).

use crate::*;
use vmstate_runtime::stream::MachineTypes;
use vmstate_runtime::VMState;

/// The i440FX and Q35 machine types of QEMU 7.2 and 10.0.
pub const MACHINES: [&str; 4] = [
    "pc-i440fx-7.2",
    "pc-q35-7.2",
    "pc-i440fx-10.0",
    "pc-q35-10.0",
];

/// Each mirrored device's section name and the version QEMU 7.2 and 10.0 save it at.
pub fn device_versions() -> Vec<(&'static str, u32)> {
    vec![
        ("timer", Timers::DESC.version),
        ("fw_cfg", FwCfg::DESC.version),
        ("dma", Dma::DESC.version),
        ("i8259", Pic::DESC.version),
        ("ioapic", Ioapic::DESC.version),
        ("hpet", Hpet::DESC.version),
        ("mc146818rtc", Rtc::DESC.version),
        ("i8254", Pit::DESC.version),
        ("pcspk", PcSpk::DESC.version),
        ("ps2kbd", Ps2Kbd::DESC.version),
        ("ps2mouse", Ps2Mouse::DESC.version),
        ("pckbd", IsaKbd::DESC.version),
        ("port92", Port92::DESC.version),
        ("globalstate", GlobalState::DESC.version),
        ("fdc", IsaFdc::DESC.version),
        ("serial", IsaSerial::DESC.version),
        ("kvmclock", KvmClock::DESC.version),
        ("cpu", X86Cpu::DESC.version),
        ("apic", Apic::DESC.version),
        ("cpu_common", CpuCommon::DESC.version),
        ("kvm-tpr-opt", KvmTprOpt::DESC.version),
        ("PCIHost", PciHost::DESC.version),
        ("PCIBUS", PciBus::DESC.version),
        ("vmmouse", Vmmouse::DESC.version),
        ("i2c_bus", I2cBus::DESC.version),
        ("acpi_build", AcpiBuild::DESC.version),
    ]
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
