use vmstate_runtime::VMState;

#[derive(VMState)]
#[vmstate(name = "dev", version = 1)]
struct Dev {
    count: u8,
    #[vmstate(len = cuont)]
    items: [u32; 8],
}

fn main() {}
