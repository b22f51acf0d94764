//! Everything a shard needs to build its own state inside its executor. Plain values that
//! cross to the shard thread once, at start.

use crate::engine::keyframes::{DEFAULT_SHARD_CAP, DEFAULT_STREAM_CAP};
use crate::engine::layers::LayerPolicy;
use crate::engine::pli::PliPolicy;
use crate::engine::session::AuthGate;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct ShardSettings {
    pub shards: u16,
    pub cert_pem: PathBuf,
    pub key_pem: PathBuf,
    /// The relay seed; each shard derives the identity key from it.
    pub seed: [u8; 32],
    pub auth: AuthGate,
    pub room_capacity: usize,
    pub max_connections: usize,
    pub handshake_timeout: Duration,
    pub idle_timeout: Duration,
    /// Datagrams quiche may queue per connection, each direction.
    pub dgram_queue: usize,
    pub counters_interval: Duration,
    pub video: VideoSettings,
}

/// Limits of the video features: keyframe cache, PLI gate, simulcast layer selection.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VideoSettings {
    /// Largest keyframe cached per stream, bytes.
    pub keyframe_stream_cap: usize,
    /// Every keyframe cache of one shard together, bytes.
    pub keyframe_shard_cap: usize,
    pub pli: PliPolicy,
    pub layers: LayerPolicy,
}

impl Default for VideoSettings {
    fn default() -> Self {
        Self {
            keyframe_stream_cap: DEFAULT_STREAM_CAP,
            keyframe_shard_cap: DEFAULT_SHARD_CAP,
            pli: PliPolicy::default(),
            layers: LayerPolicy::default(),
        }
    }
}

impl ShardSettings {
    /// quiche configuration with WZP's transport parameters (reference section 2.1).
    pub fn quic_config(&self) -> Result<quiche::Config, quiche::Error> {
        let mut c = quiche::Config::new(quiche::PROTOCOL_VERSION)?;
        c.load_cert_chain_from_pem_file(&self.cert_pem.to_string_lossy())?;
        c.load_priv_key_from_pem_file(&self.key_pem.to_string_lossy())?;
        c.set_application_protos(&[b"wzp"])?;
        c.set_max_idle_timeout(u64::try_from(self.idle_timeout.as_millis()).unwrap_or(30_000));
        c.set_max_recv_udp_payload_size(1452);
        c.set_max_send_udp_payload_size(1452);
        c.set_initial_max_data(256 * 1024);
        c.set_initial_max_stream_data_bidi_local(64 * 1024);
        c.set_initial_max_stream_data_bidi_remote(64 * 1024);
        c.set_initial_max_stream_data_uni(64 * 1024);
        c.set_initial_max_streams_bidi(crate::shard::conn::MAX_OPEN_SIGNAL_STREAMS as u64);
        c.set_initial_max_streams_uni(4);
        c.set_initial_rtt(Duration::from_millis(300));
        c.set_disable_active_migration(true);
        c.enable_dgram(true, self.dgram_queue, self.dgram_queue);
        Ok(c)
    }
}
