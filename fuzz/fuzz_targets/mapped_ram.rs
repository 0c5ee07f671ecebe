//! See [`vmstate_test_support::fuzzing::mapped_ram`].
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| vmstate_test_support::fuzzing::mapped_ram(data));
