// `elements` must lie within the array: checked when the description is built.
use vmstate_runtime::VMState;

#[derive(VMState, Clone, Default)]
#[vmstate(name = "dev", version = 1)]
struct Dev {
    #[vmstate(elements = 6..10)]
    outside: [u16; 8],
}

fn main() {
    let _ = <Dev as vmstate_runtime::VMState>::DESC;
}
