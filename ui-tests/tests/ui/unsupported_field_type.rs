use vmstate_runtime::VMState;

#[derive(VMState)]
#[vmstate(name = "dev", version = 1)]
struct Dev {
    a: u32,
    label: std::path::PathBuf,
}

fn main() {}
