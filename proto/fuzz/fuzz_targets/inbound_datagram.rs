#![no_main]
//! Fuzz target: `switchyard_proto::fuzz::inbound_datagram` (the decoder's contract, not just "no panic").
libfuzzer_sys::fuzz_target!(|data: &[u8]| switchyard_proto::fuzz::inbound_datagram(data));
