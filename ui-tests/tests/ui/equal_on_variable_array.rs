// QEMU has no VARRAY_EQUAL: `equal` on a variable array is refused, not ignored.
use vmstate_runtime::VMState;

#[derive(VMState, Clone, Default)]
#[vmstate(name = "dev", version = 1)]
struct Dev {
    n: u8,
    #[vmstate(len = n, max = 4, equal)]
    items: Vec<u32>,
}

fn main() {}
