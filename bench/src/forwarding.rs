//! One shard's forwarding path in-process, for the benches: a real [`Endpoint`], built from
//! the shard's own settings ([`ShardSettings::quic_config`]), and real load-generator
//! [`Client`]s joined to one room through it, with packets carried in memory. No sockets.
//!
//! [`ForwardingRoom::forward`] has member 0 send one media datagram and returns the time the
//! endpoint spent on it: receiving and decrypting the sender's packet, the room's packet path
//! (parse, keyframe cache, fan-out), encrypting one packet per receiver, and processing the
//! acknowledgements that come back. The clients' work is not counted.

use crate::client::{client_config, Client, ClientOptions, Phase};
use crate::participant::identity_of;
use rand::rngs::StdRng;
use rand::SeedableRng;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use switchyard_dataplane::identity_store::tls_material;
use switchyard_dataplane::shard::settings::ShardSettings;
use switchyard_engine::{Endpoint, EndpointConfig, Transmits};
use switchyard_proto::control::ShardId;

const RELAY: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 4433);
/// Handshake rounds before giving up on the in-memory join.
const JOIN_ROUNDS: usize = 200;

/// A room of `fanout + 1` members on one in-memory endpoint.
pub struct ForwardingRoom {
    endpoint: Endpoint,
    clients: Vec<Client>,
    out: Transmits,
    buf: Vec<u8>,
    dgram: Vec<u8>,
    /// Media datagrams each member has received.
    received: Vec<u64>,
    dir: PathBuf,
}

impl std::fmt::Debug for ForwardingRoom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ForwardingRoom")
            .field("members", &self.clients.len())
            .finish()
    }
}

/// Member `i`'s address.
fn address(i: usize) -> SocketAddr {
    SocketAddr::from((
        [127, 0, 0, 2],
        5000 + u16::try_from(i).unwrap_or(u16::MAX - 5000),
    ))
}

/// The settings a one-shard relay runs with, its TLS files written under `dir`.
pub fn shard_settings(dir: &std::path::Path) -> Result<ShardSettings, String> {
    let seed = [9u8; 32];
    let (cert, key, _) = tls_material(&seed).map_err(|e| e.to_string())?;
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let (cert_pem, key_pem) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_pem, cert).map_err(|e| e.to_string())?;
    std::fs::write(&key_pem, key).map_err(|e| e.to_string())?;
    Ok(ShardSettings {
        endpoint: EndpointConfig::new(ShardId(0), 1, seed),
        cert_pem,
        key_pem,
        idle_timeout: Duration::from_secs(60),
        dgram_queue: 1024,
    })
}

impl ForwardingRoom {
    /// An endpoint nobody has connected to.
    pub fn empty() -> Result<Self, String> {
        Self::with_members(0)
    }

    /// A room of `fanout + 1` joined members.
    pub fn new(fanout: usize) -> Result<Self, String> {
        Self::with_members(fanout + 1)
    }

    fn with_members(members: usize) -> Result<Self, String> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "switchyard-bench-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let settings = shard_settings(&dir)?;
        let quic = settings.quic_config().map_err(|e| e.to_string())?;
        let now = Instant::now();
        let endpoint = Endpoint::new(settings.endpoint, quic, StdRng::seed_from_u64(1), now);
        let mut config = client_config().map_err(|e| e.to_string())?;
        let mut clients = Vec::with_capacity(members);
        for i in 0..members {
            let scid = [u8::try_from(i % 256).unwrap_or(0); 16];
            let client = Client::connect(
                ClientOptions::new("bench"),
                identity_of(7, u32::try_from(i).unwrap_or(u32::MAX)),
                &scid,
                address(i),
                RELAY,
                &mut config,
            )
            .map_err(|e| e.to_string())?;
            clients.push(client);
        }
        let mut room = Self {
            endpoint,
            clients,
            out: Transmits::new(),
            buf: vec![0u8; 2048],
            dgram: vec![0u8; 2048],
            received: vec![0; members],
            dir,
        };
        for _ in 0..JOIN_ROUNDS {
            if room.clients.iter().all(|c| c.phase() == Phase::Joined) {
                return Ok(room);
            }
            room.round(Instant::now());
        }
        Err("in-memory join did not complete".into())
    }

    /// Member 0 sends `datagram` to the room. Returns the endpoint's time on it.
    pub fn forward(&mut self, datagram: &[u8]) -> Duration {
        let now = Instant::now();
        let mut spent = Duration::ZERO;
        if let Some(sender) = self.clients.first_mut() {
            sender.send_datagram(datagram);
        }
        // The sender's packet in, the copies out; then the receivers' ACKs in.
        for _ in 0..2 {
            let packets = self.take_client_packets(now);
            let started = Instant::now();
            for (mut packet, from) in packets {
                self.endpoint.handle_datagram(now, from, RELAY, &mut packet);
            }
            self.endpoint.poll_transmits(&mut self.out);
            spent += started.elapsed();
            self.deliver(now);
        }
        spent
    }

    /// Feeds the endpoint one datagram from `from` (anything: the fuzz target's input) and
    /// delivers what it answers. Returns how many packets it sent.
    pub fn inject(&mut self, from: SocketAddr, datagram: &mut [u8]) -> usize {
        let now = Instant::now();
        self.endpoint.handle_datagram(now, from, RELAY, datagram);
        self.endpoint.poll_transmits(&mut self.out);
        let sent = self.out.len();
        self.deliver(now);
        while self.endpoint.poll_handoff().is_some() {}
        sent
    }

    /// Runs the endpoint's clock past every handshake deadline: connections that never
    /// completed a handshake are gone afterwards.
    pub fn expire_handshakes(&mut self) {
        let later = Instant::now() + Duration::from_secs(3600);
        self.endpoint.handle_timeout(later);
        self.endpoint.poll_transmits(&mut self.out);
        self.deliver(later);
    }

    /// The endpoint's counters as they stand.
    pub fn counters(&self) -> &switchyard_proto::control::ShardCounters {
        self.endpoint.counters()
    }

    /// Connections the endpoint holds.
    pub fn connections(&self) -> usize {
        self.endpoint.connection_count()
    }

    /// Member `i`'s address, and the connection ID the relay gave it.
    pub fn member(&self, i: usize) -> Option<(SocketAddr, Vec<u8>)> {
        let c = self.clients.get(i)?;
        Some((address(i), c.destination_id()))
    }

    /// Media datagrams each member has received so far (member 0 first).
    pub fn received(&self) -> &[u64] {
        &self.received
    }

    /// One exchange both ways, with timers.
    fn round(&mut self, now: Instant) {
        for c in &mut self.clients {
            c.on_timeout(now);
        }
        self.endpoint.handle_timeout(now);
        for (mut packet, from) in self.take_client_packets(now) {
            self.endpoint.handle_datagram(now, from, RELAY, &mut packet);
        }
        self.endpoint.poll_transmits(&mut self.out);
        self.deliver(now);
    }

    fn take_client_packets(&mut self, now: Instant) -> Vec<(Vec<u8>, SocketAddr)> {
        let mut packets = Vec::new();
        for (i, c) in self.clients.iter_mut().enumerate() {
            while let Some(out) = c.poll_transmit(&mut self.buf, now) {
                packets.push((
                    self.buf.get(..out.len).unwrap_or_default().to_vec(),
                    address(i),
                ));
            }
        }
        packets
    }

    /// Hands the endpoint's packets to the clients; its events are not needed here.
    fn deliver(&mut self, now: Instant) {
        for (bytes, t) in self.out.iter() {
            let Some(i) = (0..self.clients.len()).find(|i| address(*i) == t.to) else {
                continue;
            };
            let mut packet = bytes.to_vec();
            if let Some(c) = self.clients.get_mut(i) {
                c.on_datagram(&mut packet, RELAY, address(i));
                c.on_timeout(now);
                while c.recv_datagram(&mut self.dgram).is_some() {
                    if let Some(n) = self.received.get_mut(i) {
                        *n += 1;
                    }
                }
            }
        }
        self.out.clear();
        while self.endpoint.poll_event().is_some() {}
    }
}

impl Drop for ForwardingRoom {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::{MediaSource, Profile};

    #[test]
    fn every_receiver_gets_each_forwarded_datagram_once() {
        let mut packet = Vec::new();
        MediaSource::new(Profile::Audio, 1, 1).next_tick(0, &mut packet);
        let mut room = ForwardingRoom::new(3).unwrap();
        assert_eq!(room.received(), &[0, 0, 0, 0]);
        for _ in 0..10 {
            room.forward(&packet[0]);
        }
        assert_eq!(
            room.received(),
            &[0, 10, 10, 10],
            "never back to the sender"
        );
        let c = room.endpoint.counters();
        assert_eq!(
            (c.media_datagrams_in, c.media_datagrams_forwarded),
            (10, 30)
        );
        assert_eq!(c.media_datagrams_sent, 30);
    }
}
