use vmstate_runtime::VMState;

#[derive(VMState)]
#[vmstate(version = 1)]
struct Dev {
    a: u32,
}

fn main() {}
