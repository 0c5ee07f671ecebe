// Hooks and predicates are a path to a function or a closure.
use vmstate_runtime::VMState;

#[derive(VMState, Clone, Default)]
#[vmstate(name = "dev", version = 1, pre_save = 42)]
struct Dev {
    x: u8,
}

fn main() {}
