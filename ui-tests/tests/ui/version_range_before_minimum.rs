use vmstate_runtime::VMState;

#[derive(VMState)]
#[vmstate(name = "dev", version = 5, minimum_version = 3)]
struct Dev {
    #[vmstate(version = ..=2)]
    removed: u32,
}

fn main() {}
