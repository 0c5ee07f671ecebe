use vmstate_runtime::VMState;

#[derive(VMState, Default)]
#[vmstate(name = "other/extra", version = 1)]
struct Extra {
    x: u8,
}

#[derive(VMState)]
#[vmstate(name = "dev", version = 1)]
struct Dev {
    a: u32,
    #[vmstate(subsection)]
    extra: Option<Extra>,
}

fn main() {}
