use vmstate_runtime::VMState;

// A load fills the value: it cannot borrow its state.
#[derive(VMState)]
#[vmstate(name = "dev", version = 1)]
struct Borrowed<'a> {
    a: &'a u32,
}

// A parameter used by a field on the wire must make that field a VMState field.
#[derive(VMState, Default)]
#[vmstate(name = "dev", version = 1)]
struct Ring<T> {
    slots: [T; 4],
}

#[derive(Default)]
struct NotAField;

fn main() {
    let ring = Ring::<NotAField>::default();
    let _ = vmstate_runtime::legacy::to_bytes(&ring);
}
