// A predicate closure takes what QEMU's does (`field_exists`: the state and the
// version); one of another shape is an error at the attribute.
use vmstate_runtime::VMState;

#[derive(VMState, Clone, Default)]
#[vmstate(name = "dev", version = 1)]
struct Dev {
    y: u8,
    #[vmstate(exists = |s: &Dev| s.y > 0)]
    x: u8,
}

fn main() {}
