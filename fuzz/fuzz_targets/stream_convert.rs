//! See [`vmstate_test_support::fuzzing::stream_convert`].
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| vmstate_test_support::fuzzing::stream_convert(data));
