use vmstate_runtime::VMState;

#[derive(VMState, Clone, Default)]
#[vmstate(name = "backend", version = 2)]
enum Backend {
    #[default]
    Null,
    #[vmstate(skip)]
    File { path_hash: u64 },
}

#[derive(VMState, Clone, Default)]
enum Generic<T> {
    #[default]
    Null,
    One(T),
}

fn main() {}
