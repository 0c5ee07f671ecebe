//! `docs/vmstate-examples.asn`, the ASN.1 module of the example types, is what the
//! derive generates today. After a deliberate change, review the diff of
//! `VMSTATE_BLESS=1 cargo test -p vmstate-examples --test asn1_module`.

use std::path::PathBuf;
use vmstate_examples::catalog;

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
