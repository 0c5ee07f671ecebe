use vmstate_runtime::VMState;

// Every mistake is reported in one compile, each at its own attribute.
#[derive(VMState)]
#[vmstate(name = "dev", version = 2, minimum_version = 1)]
struct Dev {
    #[vmstate(version = 3..)]
    a: u32,
    #[vmstate(len = nothing)]
    b: [u8; 4],
    #[vmstate(max = 4)]
    c: [u8; 4],
}

fn main() {}
