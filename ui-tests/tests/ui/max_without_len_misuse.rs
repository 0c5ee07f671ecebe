use vmstate_runtime::VMState;

// `max` without `len` bounds a container that sends its own count: a u32 has none.
#[derive(VMState, Default)]
#[vmstate(name = "dev", version = 1)]
struct Dev {
    #[vmstate(max = 4)]
    scalar: u32,
}

fn main() {}
