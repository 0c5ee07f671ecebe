//! See [`vmstate_test_support::fuzzing::return_path`].
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| vmstate_test_support::fuzzing::return_path(data));
