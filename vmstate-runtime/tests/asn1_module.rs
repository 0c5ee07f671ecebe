//! `docs/vmstate-examples.asn`, the ASN.1 module of the example types, is what the
//! derive generates today. After a deliberate change, review the diff of
//! `VMSTATE_BLESS=1 cargo test -p vmstate-runtime --test asn1_module`.

use std::path::PathBuf;
use vmstate_test_support::catalog;

#[test]
fn committed_module_is_current() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/vmstate-examples.asn");
    let generated = catalog::asn1_module().render().unwrap();
    if std::env::var_os("VMSTATE_BLESS").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{} is stale: rerun with VMSTATE_BLESS=1 and review the diff",
        path.display()
    );
}

mod a {
    #[derive(vmstate_runtime::VMState, Clone, Default)]
    #[vmstate(name = "a", version = 1, ber_tag = 40)]
    pub struct Dev {
        pub x: u8,
    }
}

mod b {
    #[derive(vmstate_runtime::VMState, Clone, Default)]
    #[vmstate(name = "b", version = 1, ber_tag = 40)]
    pub struct Dev {
        pub y: u16,
    }
}

#[test]
fn a_module_refuses_two_types_with_one_application_tag() {
    use vmstate_runtime::ber::asn1::Module;
    let m = Module::new("Clash").with::<a::Dev>().with::<b::Dev>();
    let e = m.render().unwrap_err();
    assert_eq!(
        e.to_string(),
        "Dev and Dev-2 both have ber_tag 40; a reader could not tell them apart"
    );
    // Same Rust name, different types: the second is renamed, not merged.
    assert_eq!(
        m.type_name(<b::Dev as vmstate_runtime::VMState>::DESC),
        Some("Dev-2")
    );
}
