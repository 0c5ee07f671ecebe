use vmstate_runtime::VMState;

#[derive(VMState)]
#[vmstate(name = "dev", version = 2, name = "dev2")]
struct Dev {
    a: u32,
}

fn main() {}
