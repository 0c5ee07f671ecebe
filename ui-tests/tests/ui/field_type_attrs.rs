// An enum is one integer on the wire: description attributes do not apply to it.
use vmstate_runtime::VMState;

#[derive(VMState, Clone, Copy, Default)]
#[repr(u8)]
#[vmstate(name = "mode", version = 2, ber_tag = 20, transparent)]
enum Mode {
    #[default]
    Off = 0,
}

fn main() {}
