//! A device's BER value: byte 0 picks the type, byte 1 the version, the rest is the
//! value. A load fails leaving the target unchanged, or what it loaded saves in both
//! codecs; and a value that loads re-encodes to bytes that load to it again.
#![no_main]
use libfuzzer_sys::fuzz_target;
use vmstate_fuzz::{check_load, same, version_of, with_device};
use vmstate_runtime::{ber, VMState};

fn run<T: VMState + Clone + Default + PartialEq + std::fmt::Debug>(v: u8, value: &[u8]) {
    let version = version_of::<T>(v);
    let mut dev = T::default();
    let r = ber::load_into(&mut dev, value, version);
    let ok = r.is_ok();
    check_load(r, &dev, version);
    if ok {
        let again = ber::to_bytes_at(&dev, version).expect("a loaded value saves in BER");
        let mut back = T::default();
        ber::load_into(&mut back, &again, version).expect("our BER loads");
        assert!(same(&back, &dev), "BER save then load changed the value");
    }
}

fuzz_target!(|data: &[u8]| {
    if let [selector, v, value @ ..] = data {
        with_device!(*selector, run, *v, value);
    }
});
