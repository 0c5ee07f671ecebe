// `elements` picks a fixed part of an array: not of a scalar, not with `len`, and
// not the whole array.
use vmstate_runtime::VMState;

#[derive(VMState, Clone, Default)]
#[vmstate(name = "dev", version = 1)]
struct Dev {
    n: u8,
    #[vmstate(elements = 1..3)]
    scalar: u32,
    #[vmstate(elements = 2.., len = n)]
    both: [u8; 8],
    #[vmstate(elements = ..)]
    whole: [u8; 8],
}

fn main() {}
