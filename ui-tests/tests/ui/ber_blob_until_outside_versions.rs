use vmstate_runtime::VMState;

#[derive(VMState)]
#[vmstate(name = "old", version = 3, minimum_version = 2, ber_blob_until = 1)]
struct TooOld {
    a: u32,
}

#[derive(VMState)]
#[vmstate(name = "current", version = 3, ber_blob_until = 3)]
struct Current {
    a: u32,
}

#[derive(VMState, Clone, Copy)]
#[vmstate(ber_blob_until = 1)]
#[repr(u8)]
enum Mode {
    A = 0,
}

fn main() {}
