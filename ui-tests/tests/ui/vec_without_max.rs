use vmstate_runtime::VMState;

#[derive(VMState)]
#[vmstate(name = "dev", version = 1)]
struct Dev {
    count: u32,
    #[vmstate(len = count)]
    items: Vec<u32>,
}

fn main() {}
