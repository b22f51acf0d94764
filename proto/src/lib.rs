//! WZP protocol v2 as the relay sees it: wire format and signal schema, nothing else.
//!
//! This crate has no IO, no clock and no runtime. Decoders borrow their input and never
//! allocate on the datagram path ([`media::MediaPacket::parse`], [`compact`], [`trunk`]);
//! every rejection is a typed, `Copy` error that the data plane counts per reason.
//!
//! - [`media`]: the 16-byte MediaHeader v2, its flags, and the 4-byte QualityReport trailer.
//! - [`codec`]: the codec id table (reserved ids rejected) and media types.
//! - [`compact`]: the frame-type byte and the 5-byte MiniHeader v2.
//! - [`trunk`]: TrunkFrame, the relay-to-peer batch container.
//! - [`datagram`]: classifies one QUIC DATAGRAM into the forms above.
//! - [`signal`]: the SignalMessage schema (serde JSON, externally tagged).
//! - [`quality`]: the six quality tiers and the profile each names.
//! - [`framing`]: one signal message per bidirectional stream, `u32` BE length + JSON, 1 MiB cap.
//! - [`control`]: the values shards and the control plane exchange through their rings.
//! - [`bans`]: Tier G's table of identities refused after a conformance hang-up.
#![forbid(unsafe_code)]
#![deny(clippy::indexing_slicing)]

pub mod bans;
pub mod codec;
pub mod compact;
pub mod control;
pub mod datagram;
pub mod framing;
pub mod fuzz;
pub mod media;
pub mod quality;
pub mod signal;
pub mod trunk;

pub use codec::{CodecId, MediaType};
pub use datagram::{DropReason, InboundDatagram};
pub use media::{Flags, MediaHeader, MediaPacket, QualityReport};
pub use quality::Tier;
pub use signal::{HangupReason, QualityProfile, SignalMessage};
