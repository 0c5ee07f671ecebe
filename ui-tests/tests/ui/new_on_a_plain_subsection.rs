use vmstate_runtime::VMState;

#[derive(VMState, Default)]
#[vmstate(name = "dev/sub", version = 1)]
struct Sub {
    a: u8,
}

#[derive(VMState)]
#[vmstate(name = "dev", version = 1)]
struct Dev {
    a: u8,
    #[vmstate(subsection, needed = |_: &Dev| true, new = |_: &Dev| Sub::default())]
    sub: Sub,
}

fn main() {}
