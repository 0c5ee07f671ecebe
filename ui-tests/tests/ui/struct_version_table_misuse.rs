// A release table lists parent versions in increasing order, from the oldest the
// field is sent at, up to the current one; it applies to nested structs.
use vmstate_runtime::VMState;

#[derive(VMState, Clone, Default)]
#[vmstate(name = "inner", version = 2, minimum_version = 1)]
struct Inner {
    x: u8,
}

#[derive(VMState, Clone, Default)]
#[vmstate(name = "unordered", version = 3, minimum_version = 1)]
struct Unordered {
    #[vmstate(struct_version(1 => 1, 1 => 2))]
    a: Inner,
}

#[derive(VMState, Clone, Default)]
#[vmstate(name = "dev", version = 3, minimum_version = 1)]
struct Dev {
    #[vmstate(struct_version(2 => 1, 3 => 2))]
    starts_late: Inner,
    #[vmstate(struct_version(1 => 1, 4 => 2))]
    beyond_current: Inner,
    #[vmstate(struct_version = 1)]
    not_a_struct: Option<Inner>,
}

fn main() {}
