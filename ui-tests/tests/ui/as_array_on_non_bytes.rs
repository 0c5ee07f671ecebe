use vmstate_runtime::VMState;

#[derive(VMState)]
#[vmstate(name = "dev", version = 1)]
struct Dev {
    #[vmstate(as_array)]
    regs: [u32; 4],
}

fn main() {}
