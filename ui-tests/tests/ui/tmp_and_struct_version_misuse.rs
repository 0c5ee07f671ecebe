// `tmp` and `struct_version` apply to one nested VMState struct; `prepare` is a
// VMStateDescription's.
use vmstate_runtime::VMState;

#[derive(VMState, Clone, Default)]
#[vmstate(name = "inner", version = 2, minimum_version = 2)]
struct Inner {
    x: u8,
}

#[derive(VMState, Clone, Default)]
#[vmstate(name = "dev", version = 1)]
struct Dev {
    #[vmstate(tmp)]
    arr: [Inner; 2],
    #[vmstate(struct_version = 2, tmp)]
    both: Inner,
}

#[derive(VMState, Clone, Copy, Default)]
#[vmstate(transparent, prepare = |_: &mut Wrapped| Ok::<(), String>(()))]
struct Wrapped(u8);

fn main() {}
