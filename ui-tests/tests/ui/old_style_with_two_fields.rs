// An `old_style` section is one `data` buffer in QEMU's vmdesc: it has one migrated
// field (best an `info` newtype), no subsections.
use vmstate_runtime::VMState;

#[derive(VMState, Clone, Default)]
#[vmstate(name = "legacy-dev", version = 1, old_style)]
struct LegacyDev {
    a: u8,
    b: u16,
}

#[derive(VMState, Clone, Copy, Default)]
#[vmstate(transparent, old_style)]
struct Wrapped(u8);

fn main() {}
