use vmstate_runtime::VMState;

#[derive(VMState)]
#[vmstate(name = "dev", version = 1)]
struct Dev {
    #[vmstate(len = count)]
    items: [u32; 8],
    count: u8,
}

fn main() {}
