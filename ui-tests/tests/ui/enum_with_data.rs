use vmstate_runtime::VMState;

#[derive(VMState)]
#[repr(u8)]
enum Mode {
    Off,
    On(u32),
}

fn main() {}
