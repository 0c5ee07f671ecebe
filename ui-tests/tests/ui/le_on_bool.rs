// `le` (QEMU's _POSITIVE_LE) compares integers: on a bool it is an error at the field.
use vmstate_runtime::VMState;

#[derive(VMState, Clone, Default)]
#[vmstate(name = "dev", version = 1)]
struct Dev {
    #[vmstate(le)]
    flag: bool,
}

fn main() {}
