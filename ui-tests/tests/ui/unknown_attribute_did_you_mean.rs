use vmstate_runtime::VMState;

#[derive(VMState)]
#[vmstate(name = "dev", verison = 1)]
struct Dev {
    #[vmstate(lenght = 3)]
    a: u32,
}

fn main() {}
