use vmstate_runtime::VMState;

#[derive(VMState)]
#[vmstate(name = "dev", version = 5, minimum_version = 1)]
struct Dev {
    #[vmstate(version = 4..=2)]
    a: u32,
}

fn main() {}
