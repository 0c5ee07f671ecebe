use vmstate_runtime::VMState;

#[derive(VMState)]
#[vmstate(name = "dev", version = 1)]
struct Dev {
    #[vmstate(needed = Dev::always)]
    a: u32,
}

impl Dev {
    fn always(&self) -> bool {
        true
    }
}

fn main() {}
