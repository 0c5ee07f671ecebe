use vmstate_runtime::VMState;

#[derive(VMState)]
#[vmstate(name = "dev", version = 1)]
struct Dev {
    items: Vec<u32>,
}

fn main() {}
