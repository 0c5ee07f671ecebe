// The counter is on the wire from version 3, the array from 2: a version-2 stream
// would hold elements without their count.
use vmstate_runtime::VMState;

#[derive(VMState, Clone, Default)]
#[vmstate(name = "dev", version = 3, minimum_version = 2)]
struct Dev {
    #[vmstate(version = 3..)]
    n: u8,
    #[vmstate(version = 2.., len = n, max = 4)]
    items: Vec<u32>,
}

fn main() {}
