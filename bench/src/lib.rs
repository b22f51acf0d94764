//! Switchyard's load generator, as a library: the end-to-end tests use the same clients.
//!
//! - [`annexb`]: H.264 Annex-B files split into access units, replayed as WZP video.
//! - [`client`]: a sans-IO WZP v2 client over quiche (real handshake, signed CallOffer).
//! - [`media`]: audio, video, simulcast and H.264-replay streams with measurement fields in
//!   the payload.
//! - [`stats`]: what one receiver observed.
//! - [`impair`]: seeded path impairment: loss, bursts, delay, jitter, reordering, duplicates.
//! - [`run`]: R rooms x P participants, each a glommio task with its own UDP socket.
//! - [`report`]: summary, table, JSON and `.hgrm` output.
//! - [`forwarding`]: a real endpoint and real clients in memory, for the criterion benches.

pub mod annexb;
pub mod client;
pub mod forwarding;
pub mod impair;
pub mod media;
pub mod report;
pub mod run;
pub mod stats;
