//! A device's legacy body: byte 0 picks the type, byte 1 the version, the rest is
//! the body. A load fails leaving the target unchanged, or what it loaded saves and
//! loads back to itself.
#![no_main]
use libfuzzer_sys::fuzz_target;
use vmstate_fuzz::{check_load, version_of, with_device};
use vmstate_runtime::{legacy, VMState};

fn run<T: VMState + Clone + Default + PartialEq + std::fmt::Debug>(v: u8, body: &[u8]) {
    let version = version_of::<T>(v);
    let mut dev = T::default();
    let r = legacy::load_into(&mut dev, body, version);
    check_load(r, &dev, version);
}

fuzz_target!(|data: &[u8]| {
    if let [selector, v, body @ ..] = data {
        with_device!(*selector, run, *v, body);
    }
});
