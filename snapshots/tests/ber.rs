//! Snapshots of the BER encoding of every example device at every version it can be
//! saved at (hex and an annotated TLV dump), and the ASN.1 module the derive generates
//! for the demonstration device. The module of every example type is pinned as
//! `docs/vmstate-examples.asn` (see `vmstate-runtime/tests/asn1_module.rs`). The QEMU mirrors
//! are filled from the real QEMU 7.2 stream `pc-kvm-bios.mig`.

use vmstate_runtime::{ber, snapshot};
use vmstate_test_support::catalog::{self, Device, Visitor};

struct Snap;

impl Visitor for Snap {
    fn visit<T: Device>(&mut self, idstr: &str, instance: u32, value: &T) {
        let name = format!("{}_{instance}", idstr.replace(['-', ':', '/'], "_"));
        insta::assert_snapshot!(name, snapshot::ber(value).expect("saves"));
    }
}

#[test]
fn every_example_device() {
    catalog::visit_all(&mut Snap);
}

#[test]
fn asn1_module_of_the_demo_device() {
    let module = ber::asn1::Module::new("VMState-Demo")
        .with::<vmstate_examples::demo::DemoDma>()
        .render()
        .expect("renders");
    insta::assert_snapshot!("asn1_module_demo", module);
}
