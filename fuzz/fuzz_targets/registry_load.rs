//! A whole stream, either format, loaded by a registry of RAM (two small blocks)
//! and three devices: an error, or devices and RAM that save again.
#![no_main]
use libfuzzer_sys::fuzz_target;
use vmstate_examples::demo::DemoDma;
use vmstate_qemu::{Hpet, Rtc};
use vmstate_runtime::ram::{RamBlockMut, RamLoader};
use vmstate_runtime::stream::Registry;
use vmstate_runtime::Format;

fuzz_target!(|data: &[u8]| {
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
    let (mut rtc, mut hpet, mut demo) = (Rtc::default(), Hpet::default(), DemoDma::default());
    let mut reg = Registry::new("pc-i440fx-7.2");
    reg.iterative("ram", 0, &mut loader);
    reg.device("mc146818rtc", 0, &mut rtc);
    reg.device("hpet", 0, &mut hpet);
    reg.device("demo-dma", 0, &mut demo);
    if reg.load(data).is_ok() {
        drop(reg);
        drop(loader);
        let mut again = Registry::new("pc-i440fx-7.2");
        again.device("mc146818rtc", 0, &mut rtc);
        again.device("hpet", 0, &mut hpet);
        again.device("demo-dma", 0, &mut demo);
        again.save(Format::Legacy).expect("loaded devices save");
        again.save(Format::Ber).expect("loaded devices save in BER");
    }
});
