//! `#[vmstate(crate = "...")]`: a crate that re-exports the runtime under another
//! path derives through it (as serde's `#[serde(crate = "...")]`).

/// A VMM's facade crate, re-exporting vmstate under its own name.
mod facade {
    pub use vmstate_runtime as migration;
}

use facade::migration::{legacy, VMState};

#[derive(VMState, Clone, Copy, Debug, Default, PartialEq)]
#[vmstate(crate = "facade::migration")]
#[repr(u8)]
enum Mode {
    #[default]
    Off = 0,
    On = 1,
}

#[derive(VMState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "dev", version = 1, crate = "facade::migration")]
struct Dev {
    a: u16,
    mode: Mode,
}

#[test]
fn derives_through_a_reexported_runtime() {
    let dev = Dev {
        a: 0x1234,
        mode: Mode::On,
    };
    let bytes = legacy::to_bytes(&dev).unwrap();
    assert_eq!(bytes, [0x12, 0x34, 1]);
    assert_eq!(legacy::from_bytes::<Dev>(&bytes, 1).unwrap(), dev);
    assert_eq!(Dev::DESC.name, "dev");
}
