// `priority` names one of QEMU's MigrationPriority values; the section traits are a
// VMStateDescription's, not a field type's.
use vmstate_runtime::VMState;

#[derive(VMState, Clone, Default)]
#[vmstate(name = "dev", version = 1, priority = "urgent")]
struct Dev {
    x: u8,
}

#[derive(VMState, Clone, Copy, Default)]
#[repr(u8)]
#[vmstate(unmigratable, early_setup)]
enum Mode {
    #[default]
    Off = 0,
}

fn main() {}
