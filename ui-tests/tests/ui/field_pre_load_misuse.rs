// A field's `pre_load` runs on the whole struct before that field is read: a
// subsection, which QEMU loads as a VMState of its own, has its own `pre_load`
// instead.
use vmstate_runtime::VMState;

#[derive(VMState, Clone, Default)]
#[vmstate(name = "dev/extra", version = 1)]
struct Extra {
    x: u8,
}

#[derive(VMState, Clone, Default)]
#[vmstate(name = "dev", version = 1)]
struct Dev {
    x: u8,
    #[vmstate(subsection, pre_load = |_: &mut Dev| Ok::<(), String>(()))]
    extra: Option<Extra>,
}

fn main() {}
