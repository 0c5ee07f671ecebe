// A subsection is checked by its own type (its post_load), not by `validate`, and
// prepared by its own `pre_load`, not by a field's.
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
    #[vmstate(subsection, pre_load = |_: &mut Dev| Ok::<(), String>(()))]
    more: Option<Extra>,
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
