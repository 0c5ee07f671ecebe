//! Snapshots of the legacy encoding of every example device at every version it can
//! be saved at, and of its vmdesc JSON. The QEMU mirrors are filled from the real
//! QEMU 7.2 stream `pc-kvm-bios.mig`, so these are QEMU's bytes at their current
//! version, and what an older QEMU would read at older ones.

use vmstate_examples::demo;
use vmstate_qemu::*;
use vmstate_runtime::{dump, snapshot, VMState};
use vmstate_test_support::catalog;

/// The published rendering: the legacy bytes at every version, then the vmdesc.
fn render<T: VMState>(value: &T) -> String {
    snapshot::legacy(value).expect("saves")
}

fn from_qemu<T: VMState + Clone + Default>(idstr: &str) -> T {
    from_fixture("pc-kvm-bios.mig", idstr)
}

fn from_fixture<T: VMState + Clone + Default>(fixture: &str, idstr: &str) -> T {
    let bytes = catalog::read_fixture(fixture);
    let s = dump::walk_legacy(&bytes).unwrap();
    let mut v = T::default();
    dump::load_section(&mut v, s.device(idstr, 0).unwrap()).unwrap();
    v
}

#[test]
fn demo_dma() {
    insta::assert_snapshot!(render(&demo::sample()));
}

/// An old-style section (QEMU's `vmstate_save_old_style` vmdesc), from QEMU 10.0.
#[test]
fn slirp() {
    insta::assert_snapshot!(render(&from_fixture::<Slirp>(
        "pc-i440fx-10.0-tcg-devices.mig",
        "slirp"
    )));
}

#[test]
fn tour() {
    insta::assert_snapshot!(render(&vmstate_examples::constructs::sample()));
}

macro_rules! qemu_snapshots {
    ($($test:ident: $ty:ty = $idstr:literal;)*) => {$(
        #[test]
        fn $test() {
            insta::assert_snapshot!(render(&from_qemu::<$ty>($idstr)));
        }
    )*};
}

qemu_snapshots! {
    mc146818rtc: Rtc = "mc146818rtc";
    hpet: Hpet = "hpet";
    i8254: Pit = "i8254";
    i8259: Pic = "i8259";
    ioapic: Ioapic = "ioapic";
    fw_cfg: FwCfg = "fw_cfg";
    dma: Dma = "dma";
    pckbd: IsaKbd = "pckbd";
    ps2kbd: Ps2Kbd = "ps2kbd";
    ps2mouse: Ps2Mouse = "ps2mouse";
    port92: Port92 = "port92";
    fdc: IsaFdc = "fdc";
    serial: IsaSerial = "serial";
    timer: Timers = "timer";
    pcspk: PcSpk = "pcspk";
    kvmclock: KvmClock = "kvmclock";
    globalstate: GlobalState = "globalstate";
    cpu_common: CpuCommon = "cpu_common";
    kvm_tpr_opt: KvmTprOpt = "kvm-tpr-opt";
    pci_host: PciHost = "PCIHost";
    pci_bus: PciBus = "PCIBUS";
    i440fx: I440fx = "0000:00:00.0/I440FX";
    piix3: Piix3 = "0000:00:01.0/PIIX3";
    piix_ide: PciIde = "0000:00:01.1/ide";
    piix4_pm: Piix4Pm = "0000:00:01.3/piix4_pm";
    vmmouse: Vmmouse = "vmmouse";
    i2c_bus: I2cBus = "i2c_bus";
    acpi_build: AcpiBuild = "acpi_build";
}
