//! Switchyard's load generator, as a library: the end-to-end tests use the same clients.
//!
//! - [`client`]: a sans-IO WZP v2 client over quiche (real handshake, signed CallOffer).
//! - [`media`]: audio and video stream generators with measurement fields in the payload.
//! - [`stats`]: what one receiver observed.
//! - [`run`]: R rooms x P participants, each a glommio task with its own UDP socket.
//! - [`report`]: summary, table, JSON and `.hgrm` output.
//! - [`forwarding`]: the relay's in-process forwarding path, for the criterion benches.

pub mod client;
pub mod forwarding;
pub mod media;
pub mod report;
pub mod run;
pub mod stats;
