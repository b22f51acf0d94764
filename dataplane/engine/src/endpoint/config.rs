//! What an endpoint is configured with, besides its quiche configuration: plain values that
//! cross to the shard thread once, at start.

use super::conn::{SIGNAL_AFTER_JOIN, SIGNAL_BEFORE_JOIN};
use crate::admission::AdmissionConfig;
use crate::conformance::ConformanceConfig;
use crate::keyframes::{
    DEFAULT_ROOM_SHARE, DEFAULT_SENDER_SHARE, DEFAULT_SHARD_CAP, DEFAULT_STREAM_CAP,
};
use crate::layers::LayerPolicy;
use crate::pli::PliPolicy;
use crate::session::AuthGate;
use crate::signal_streams::Limits;
use std::time::{Duration, Instant};
use switchyard_proto::control::ShardId;

/// Default bound of a connection's outgoing datagram queue: about a second of 2 Mbps video.
pub const DEFAULT_DATAGRAM_QUEUE_BYTES: usize = 256 * 1024;

/// Quality samples leave at most this often per participant.
pub const MIN_QUALITY_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Debug, Clone)]
pub struct EndpointConfig {
    /// This endpoint's shard, and how many there are (room owners and connection IDs
    /// depend on both).
    pub shard: ShardId,
    pub shards: u16,
    /// The relay seed; the identity key that signs CallAnswer derives from it.
    pub seed: [u8; 32],
    pub auth: AuthGate,
    pub room_capacity: usize,
    /// Bytes one connection's outgoing datagram queue holds at most; a receiver that falls
    /// behind loses its oldest queued media. 0: only quiche's count bound.
    pub datagram_queue_bytes: usize,
    /// New connections beyond this are ignored (counted as unknown packets).
    pub max_connections: usize,
    /// Time from the first Initial to a joined participant; also bounds a ClientHello that
    /// spans several Initials.
    pub handshake_timeout: Duration,
    /// Signal streams and bytes of unfinished frames a connection may hold before it joins,
    /// and once joined.
    pub signal_before_join: Limits,
    pub signal_after_join: Limits,
    /// An unfinished signal frame must be finished within this; after it the connection's
    /// unfinished frames are given up (and one that has not joined is hung up).
    pub signal_frame_deadline: Duration,
    /// How often the endpoint reports its counters to the control plane.
    pub counters_interval: Duration,
    /// How often each participant's quality is sampled for the judge; never more often than
    /// once a second ([`Self::quality_interval`]).
    pub quality_sample_interval: Duration,
    /// How long a stopping endpoint waits for its connections to close.
    pub shutdown_grace: Duration,
    pub video: VideoSettings,
    /// Each conformance tier's mode (observe-only by default).
    pub conformance: ConformanceConfig,
    /// Retry policy, half-open budgets, rates of stateless replies.
    pub admission: AdmissionConfig,
    /// Drawn once per relay start and shared by its shards: Retry tokens die with the process.
    pub token_salt: [u8; 16],
    /// The instant Retry token expiries count from, shared by the relay's shards; `None`: the
    /// endpoint's own start.
    pub token_epoch: Option<Instant>,
}

impl EndpointConfig {
    /// Defaults for shard `shard` of `shards`.
    pub fn new(shard: ShardId, shards: u16, seed: [u8; 32]) -> Self {
        Self {
            shard,
            shards,
            seed,
            auth: AuthGate::open(),
            room_capacity: 100,
            datagram_queue_bytes: DEFAULT_DATAGRAM_QUEUE_BYTES,
            max_connections: 10_000,
            handshake_timeout: Duration::from_secs(10),
            signal_before_join: SIGNAL_BEFORE_JOIN,
            signal_after_join: SIGNAL_AFTER_JOIN,
            signal_frame_deadline: Duration::from_secs(5),
            counters_interval: Duration::from_secs(1),
            quality_sample_interval: MIN_QUALITY_INTERVAL,
            shutdown_grace: Duration::from_secs(2),
            video: VideoSettings::default(),
            conformance: ConformanceConfig::default(),
            admission: AdmissionConfig::default(),
            token_salt: [0; 16],
            token_epoch: None,
        }
    }
}

impl EndpointConfig {
    /// The quality sample interval, held to at least [`MIN_QUALITY_INTERVAL`].
    pub fn quality_interval(&self) -> Duration {
        self.quality_sample_interval.max(MIN_QUALITY_INTERVAL)
    }
}

/// Limits of the video features: keyframe cache, PLI gate, simulcast layer selection.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VideoSettings {
    /// Largest keyframe cached per stream, bytes.
    pub keyframe_stream_cap: usize,
    /// Every keyframe cache of one shard together, bytes.
    pub keyframe_shard_cap: usize,
    /// One room's keyframe caches, and one sender's streams in its room, bytes.
    pub keyframe_room_share: usize,
    pub keyframe_sender_share: usize,
    pub pli: PliPolicy,
    pub layers: LayerPolicy,
}

impl Default for VideoSettings {
    fn default() -> Self {
        Self {
            keyframe_stream_cap: DEFAULT_STREAM_CAP,
            keyframe_shard_cap: DEFAULT_SHARD_CAP,
            keyframe_room_share: DEFAULT_ROOM_SHARE,
            keyframe_sender_share: DEFAULT_SENDER_SHARE,
            pli: PliPolicy::default(),
            layers: LayerPolicy::default(),
        }
    }
}
