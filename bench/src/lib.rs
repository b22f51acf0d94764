//! Switchyard's load generator, as a library: the end-to-end tests use the same clients.
//!
//! - [`annexb`]: H.264 Annex-B files split into access units, replayed as WZP video.
//! - [`client`]: a sans-IO WZP v2 client over quiche (real handshake, signed CallOffer).
//! - [`participant`]: one participant's scenario around a client, sans-IO: join, media, PLIs,
//!   hang-up, and what it observed. Driven over sockets by [`run`], in memory by `tests/`.
//! - [`media`]: audio, video, simulcast and H.264-replay streams with measurement fields in
//!   the payload, and the abusive profiles the relay's conformance must catch.
//! - [`quality`]: the client side of relay-judged quality: follow directives, answer
//!   proposals, report the path in the QualityReport trailer.
//! - [`stats`]: what one receiver observed.
//! - [`impair`]: seeded path impairment: loss, bursts, delay, jitter, reordering, duplicates.
//! - [`run`]: R rooms x P participants, each a glommio task with its own UDP socket, paths
//!   impaired as the run says.
//! - [`report`]: summary, table, JSON and `.hgrm` output; [`quality_report`]: what the
//!   participants heard about quality, per room; [`conformance_report`]: how fast the relay
//!   hung each abusive participant up, and whether any legitimate one was touched.
//! - [`forwarding`]: a real endpoint and real clients in memory, for the criterion benches.
//! - [`flood`]: Initial and junk floods from many source ports, for the admission tests.
//! - [`fuzz`]: the endpoint's datagram input as a fuzz entry point.

pub mod annexb;
pub mod client;
pub mod conformance_report;
pub mod flood;
pub mod forwarding;
pub mod fuzz;
pub mod impair;
pub mod media;
pub mod participant;
pub mod quality;
pub mod quality_report;
pub mod report;
pub mod run;
pub mod stats;
