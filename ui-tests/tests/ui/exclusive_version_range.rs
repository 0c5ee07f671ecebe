use vmstate_runtime::VMState;

#[derive(VMState)]
#[vmstate(name = "dev", version = 5, minimum_version = 1)]
struct Dev {
    #[vmstate(version = 2..4)]
    a: u32,
}

fn main() {}
