use vmstate_runtime::VMState;

#[derive(VMState)]
#[vmstate(name = "dev", version = 1)]
struct Dev {
    count: bool,
    #[vmstate(len = count)]
    items: [u32; 8],
}

fn main() {}
