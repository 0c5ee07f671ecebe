// `le` and `equal` are two checks of one loaded value: one at a time.
use vmstate_runtime::VMState;

#[derive(VMState, Clone, Default)]
#[vmstate(name = "dev", version = 1)]
struct Dev {
    #[vmstate(le, equal)]
    both: u32,
}

fn main() {}
