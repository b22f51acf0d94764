//! Everything a shard needs to build its state inside its executor: plain values that cross
//! to the shard thread once, at start. The benches build their endpoints from the same
//! settings, so they measure the shard's quiche configuration.

use std::path::PathBuf;
use std::time::Duration;
use switchyard_engine::endpoint::MAX_OPEN_SIGNAL_STREAMS;
use switchyard_engine::EndpointConfig;
use switchyard_proto::control::ShardId;

#[derive(Debug, Clone)]
pub struct ShardSettings {
    /// The endpoint's configuration; [`ShardSettings::for_shard`] sets the shard.
    pub endpoint: EndpointConfig,
    pub cert_pem: PathBuf,
    pub key_pem: PathBuf,
    pub idle_timeout: Duration,
    /// Datagrams quiche may queue per connection, each direction.
    pub dgram_queue: usize,
}

impl ShardSettings {
    /// The settings of shard `shard`.
    pub fn for_shard(&self, shard: ShardId) -> Self {
        let mut s = self.clone();
        s.endpoint.shard = shard;
        s
    }

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
        c.set_initial_max_streams_bidi(MAX_OPEN_SIGNAL_STREAMS as u64);
        c.set_initial_max_streams_uni(4);
        // quiche grows a window the application reads promptly, up to 16 MiB a stream and
        // 24 MiB a connection by default; signalling needs none of that, so the windows stay
        // at WZP's (reference 2.1: 64 KiB a stream, 256 KiB a connection).
        c.set_max_stream_window(64 * 1024);
        c.set_max_connection_window(256 * 1024);
        c.set_initial_rtt(Duration::from_millis(300));
        c.set_disable_active_migration(true);
        c.enable_dgram(true, self.dgram_queue, self.dgram_queue);
        Ok(c)
    }
}
