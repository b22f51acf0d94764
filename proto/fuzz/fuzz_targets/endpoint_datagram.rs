#![no_main]
//! Fuzz target: `switchyard_bench::fuzz::endpoint_datagram`, the relay endpoint's datagram input
//! before and after a join (the room must keep forwarding whatever arrives).
libfuzzer_sys::fuzz_target!(|data: &[u8]| switchyard_bench::fuzz::endpoint_datagram(data));
