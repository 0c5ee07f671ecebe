//! See [`vmstate_test_support::fuzzing::postcopy_resume`].
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| vmstate_test_support::fuzzing::postcopy_resume(data));
