//! Snapshots of the BER encoding of every example device at every version it can be
//! saved at (hex and an annotated TLV dump), and the ASN.1 module the derive generates
//! for the demonstration device. The module of every example type is pinned as
//! `docs/vmstate-examples.asn` (see `vmstate-runtime/tests/asn1_module.rs`). The QEMU mirrors
//! are filled from the real QEMU 7.2 stream `pc-kvm-bios.mig`.

use vmstate_runtime::ber;
use vmstate_test_support::catalog::{self, Device, Visitor};
use vmstate_test_support::testing::hexdump;

fn render<T: Device>(value: &T) -> String {
    let d = T::DESC;
    let mut out = String::new();
    for version in d.minimum_version..=d.version {
        let bytes = ber::to_bytes_at(value, version).expect("saves");
        let form = if ber::is_blob::<T>(version) {
            " (legacy blob)"
        } else {
            ""
        };
        out.push_str(&format!(
            "== version {version}{form}: {} bytes\n",
            bytes.len()
        ));
        out.push_str(&hexdump(&bytes));
        out.push_str(&ber::annotate(&bytes, Some(d)).expect("annotates"));
    }
    out
}

struct Snap;

impl Visitor for Snap {
    fn visit<T: Device>(&mut self, idstr: &str, instance: u32, value: &T) {
        let name = format!("{}_{instance}", idstr.replace(['-', ':', '/'], "_"));
        insta::assert_snapshot!(name, render(value));
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
