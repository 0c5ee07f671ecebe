//! See [`vmstate_test_support::fuzzing::vmm_incoming`].
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| vmstate_test_support::fuzzing::vmm_incoming(data));
