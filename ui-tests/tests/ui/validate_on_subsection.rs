// A subsection is checked by its own type (its post_load), not by `validate`.
use vmstate_runtime::VMState;

#[derive(VMState, Clone, Default)]
#[vmstate(name = "dev/extra", version = 1)]
struct Extra {
    x: u8,
}

#[derive(VMState, Clone, Default)]
#[vmstate(name = "dev", version = 1)]
struct Dev {
    a: u32,
    #[vmstate(subsection, needed = Dev::need, validate = Dev::check)]
    extra: Extra,
}

impl Dev {
    fn need(&self) -> bool {
        true
    }
    fn check(&self, _version: u32) -> Result<(), String> {
        Ok(())
    }
}

fn main() {}
