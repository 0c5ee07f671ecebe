// `info` names a transparent newtype's opaque type (QEMU's VMStateInfo), not a struct's.
use vmstate_runtime::VMState;

#[derive(VMState, Clone, Default)]
#[vmstate(name = "dev", version = 1, info = "pci config")]
struct Dev {
    x: u8,
}

fn main() {}
