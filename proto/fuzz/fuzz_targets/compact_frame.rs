#![no_main]
//! Fuzz target: `switchyard_proto::fuzz::compact_frame` (the decoder's contract, not just "no panic").
libfuzzer_sys::fuzz_target!(|data: &[u8]| switchyard_proto::fuzz::compact_frame(data));
