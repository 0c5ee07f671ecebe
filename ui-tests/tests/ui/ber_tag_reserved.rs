use vmstate_runtime::VMState;

#[derive(VMState)]
#[vmstate(name = "dev", version = 1, ber_tag = 2)]
struct Dev {
    a: u32,
}

fn main() {}
