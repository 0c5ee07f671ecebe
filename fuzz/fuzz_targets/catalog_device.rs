//! See [`vmstate_test_support::fuzzing::catalog_device`].
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| vmstate_test_support::fuzzing::catalog_device(data));
