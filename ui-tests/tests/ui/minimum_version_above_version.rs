use vmstate_runtime::VMState;

#[derive(VMState)]
#[vmstate(name = "dev", version = 2, minimum_version = 3)]
struct Dev {
    a: u32,
}

fn main() {}
