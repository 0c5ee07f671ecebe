use vmstate_runtime::VMState;

#[derive(VMState)]
#[vmstate(name = "dev")]
struct Dev {
    a: u32,
}

fn main() {}
