//! One RAM part, legacy (byte 0 even) or BER (odd), into two small blocks: an error,
//! or pages only inside the blocks (the loader checks every address).
#![no_main]
use libfuzzer_sys::fuzz_target;
use vmstate_runtime::ram::{RamBlockMut, RamLoader};

fuzz_target!(|data: &[u8]| {
    let [mode, part @ ..] = data else { return };
    let (mut ram, mut rom) = (vec![0u8; 64 << 10], vec![0u8; 8 << 10]);
    let mut loader = RamLoader::new(vec![
        RamBlockMut {
            name: "pc.ram",
            mem: &mut ram,
        },
        RamBlockMut {
            name: "pc.rom",
            mem: &mut rom,
        },
    ]);
    if mode % 2 == 0 {
        if let Ok(n) = loader.load_legacy(part, 0) {
            assert!(n <= part.len());
        }
    } else {
        let _ = loader.load_ber(part, 0);
    }
});
