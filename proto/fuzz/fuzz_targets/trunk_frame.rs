#![no_main]
//! Fuzz target: `switchyard_proto::fuzz::trunk_frame` (the decoder's contract, not just "no panic").
libfuzzer_sys::fuzz_target!(|data: &[u8]| switchyard_proto::fuzz::trunk_frame(data));
