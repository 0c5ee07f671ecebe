use vmstate_runtime::VMState;

#[derive(VMState)]
#[vmstate(name = "dev", version = 5, minimum_version = 1)]
struct Dev {
    #[vmstate(version = 2..4)]
    a: u32,
    #[vmstate(version = 2..3)]
    b: u32,
    #[vmstate(version = ..3)]
    c: u32,
    #[vmstate(version = 3..3)]
    d: u32,
}

fn main() {}
