// `crate = "..."` names where the runtime is; a wrong path is an error at it.
use vmstate_runtime::VMState;

#[derive(VMState)]
#[vmstate(name = "dev", version = 1, crate = "not_the_runtime")]
struct Dev {
    a: u32,
}

fn main() {}
