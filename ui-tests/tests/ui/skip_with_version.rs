use vmstate_runtime::VMState;

#[derive(VMState)]
#[vmstate(name = "dev", version = 2)]
struct Dev {
    a: u32,
    #[vmstate(skip, version = 2..)]
    cache: u32,
}

fn main() {}
