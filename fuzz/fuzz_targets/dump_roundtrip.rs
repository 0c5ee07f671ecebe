//! See [`vmstate_test_support::fuzzing::dump_roundtrip`].
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| vmstate_test_support::fuzzing::dump_roundtrip(data));
