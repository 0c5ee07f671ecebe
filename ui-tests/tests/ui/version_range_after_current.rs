use vmstate_runtime::VMState;

#[derive(VMState)]
#[vmstate(name = "dev", version = 3, minimum_version = 1)]
struct Dev {
    a: u32,
    #[vmstate(version = 4..)]
    b: u32,
}

fn main() {}
