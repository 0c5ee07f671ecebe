//! See [`vmstate_test_support::fuzzing::multifd_channel`].
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| vmstate_test_support::fuzzing::multifd_channel(data));
