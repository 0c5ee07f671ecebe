use vmstate_runtime::VMState;

#[derive(VMState, Clone, Copy)]
enum Mode {
    Off,
    On,
}

fn main() {}
