// `struct_version` must be a version the nested struct saves and loads.
use vmstate_runtime::VMState;

#[derive(VMState, Clone, Default)]
#[vmstate(name = "inner", version = 2, minimum_version = 2)]
struct Inner {
    x: u8,
}

#[derive(VMState, Clone, Default)]
#[vmstate(name = "dev", version = 1)]
struct Dev {
    #[vmstate(struct_version = 1)]
    too_old: Inner,
}

fn main() {
    let _ = vmstate_runtime::legacy::to_bytes(&Dev::default());
}
