// `multiply` scales a `len`; `bitmap` sends u64 words for a bit count.
use vmstate_runtime::VMState;

#[derive(VMState, Clone, Default)]
#[vmstate(name = "dev", version = 1)]
struct Dev {
    n: u32,
    #[vmstate(multiply = 2)]
    no_len: [u32; 4],
    #[vmstate(len = n, bitmap, max = 128)]
    not_words: Vec<u32>,
    #[vmstate(bitmap)]
    no_count: [u64; 2],
}

fn main() {}
