// A field's `pre_load` is `fn(&mut Self) -> Result<(), E>` (QEMU's temporary
// struct's `.pre_load` sees the parent, not a version): one that takes a version is
// an error at the attribute.
use vmstate_runtime::VMState;

#[derive(VMState, Clone, Default)]
#[vmstate(name = "dev", version = 1)]
struct Dev {
    count: u8,
    #[vmstate(pre_load = |d: &mut Dev, _v: u32| { d.count = 0; Ok::<(), String>(()) })]
    x: u8,
}

fn main() {}
