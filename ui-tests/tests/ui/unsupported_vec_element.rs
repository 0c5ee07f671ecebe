use vmstate_runtime::VMState;

// An element type that is not a Field: one error, at the element type (not one per
// generated method, at the derive).
#[derive(VMState, Default)]
#[vmstate(name = "dev", version = 1)]
struct Dev {
    n: u32,
    #[vmstate(len = n, max = 8)]
    items: Vec<std::path::PathBuf>,
}

fn main() {}
