// An opaque type has a fixed size, as QEMU's VMStateInfo does: a newtype of a
// struct with a variable array cannot be one (a compile-time error where it is used).
use vmstate_runtime::VMState;

#[derive(VMState, Clone, Default)]
#[vmstate(name = "inner", version = 1)]
struct Inner {
    n: u8,
    #[vmstate(len = n, max = 4)]
    v: Vec<u8>,
}

#[derive(VMState, Clone, Default)]
#[vmstate(transparent, info = "opaque")]
struct Opaque(Inner);

#[derive(VMState, Clone, Default)]
#[vmstate(name = "dev", version = 1)]
struct Dev {
    o: Opaque,
}

fn main() {
    let _ = vmstate_runtime::legacy::to_bytes(&Dev::default());
}
