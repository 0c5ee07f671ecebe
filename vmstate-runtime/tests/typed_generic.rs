//! The typed BER codec (the derive's) and the generic one (`dump`, which knows a
//! stream only by its description) agree: for the demo device and every mirrored
//! section of every fixture, at every version the type saves at, a registry's BER
//! stream decodes to a tree that re-encodes to the same bytes, and converts to
//! exactly the legacy stream the registry saves for the same device.

use vmstate_runtime::dump;
use vmstate_runtime::stream::{MachineTypes, Registry};
use vmstate_runtime::Format;
use vmstate_test_support::catalog::{self, Device, Visitor};

#[derive(Default)]
struct Agree {
    cases: usize,
}

impl Visitor for Agree {
    fn visit<T: Device>(&mut self, idstr: &str, instance: u32, value: &T) {
        // A machine type of no QEMU release (QEMU 7.2's vmdesc form) and one of
        // 10.0 (its vmdesc describes the configuration and lists arrays its way).
        let machines = ["m", "pc-i440fx-10.0"];
        for (version, machine) in
            (T::DESC.minimum_version..=T::DESC.version).flat_map(|v| machines.map(|m| (v, m)))
        {
            let mut dev = value.clone();
            let table = MachineTypes::new().machine(machine, &[(idstr, version)]);
            let mut reg = Registry::new(machine).with_machine_types(table);
            reg.device(idstr, instance, &mut dev);
            let ber = reg.save(Format::Ber).unwrap();
            let legacy = reg.save(Format::Legacy).unwrap();
            drop(reg);
            let case = format!("{idstr}#{instance} at version {version} on {machine}");
            let tree = dump::from_bytes(&ber).unwrap_or_else(|e| panic!("{case}: {e}"));
            let again = dump::to_bytes(&tree, Format::Ber).unwrap();
            assert!(again == ber, "{case}: BER -> tree -> BER differs");
            assert!(
                dump::to_bytes(&tree, Format::Legacy).unwrap() == legacy,
                "{case}: BER -> tree -> legacy differs from the typed legacy save"
            );
            assert!(dump::convert(&ber, Format::Ber).unwrap() == ber, "{case}");
            assert!(
                dump::convert(&ber, Format::Legacy).unwrap() == legacy,
                "{case}: BER -> legacy differs from the typed legacy save"
            );
            self.cases += 1;
        }
    }
}

#[test]
fn typed_ber_streams_convert_like_typed_saves() {
    let mut agree = Agree::default();
    catalog::visit_demo(&mut agree);
    // The demo at versions 1 (a legacy blob in BER), 2 and 3; the tour at 1 and 2;
    // the VMM's serial at 1 and 2, virtio-blk at 1 to 3, config at 1; each on both
    // machine types.
    assert_eq!(agree.cases, 22);
    for fixture in [
        "pc-kvm-bios.mig",
        "pc-tcg-reset.mig",
        "q35-tcg-devices.mig",
        "pc-i440fx-10.0-tcg-devices.mig",
        "pc-q35-10.0-kvm-devices.mig",
    ] {
        catalog::visit_stream(&catalog::read_fixture(fixture), &mut agree).unwrap();
    }
    assert!(agree.cases > 120, "{} cases", agree.cases);
}
