//! What the endpoint's unit tests need: quiche configurations with an in-memory certificate,
//! a minimal WZP client (quiche plus the shared signal streams), and a pump that carries
//! packets between clients and endpoints until nothing moves.
//!
//! Time: the endpoint's own deadlines follow the `now` the tests pass; quiche reads the real
//! clock inside, and no test waits for one of quiche's timers.

use crate::endpoint::{Endpoint, EndpointConfig, Handoff, Transmits};
use crate::identity::Identity;
use crate::signal_streams::{Inbound, Limits, SignalStreams};
use boring::pkey::PKey;
use boring::ssl::{SslContextBuilder, SslMethod};
use boring::x509::X509;
use rand::rngs::StdRng;
use rand::SeedableRng;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use switchyard_proto::codec::{CodecId, MediaType};
use switchyard_proto::control::{ShardEvent, ShardId};
use switchyard_proto::media::{Flags, MediaHeader};
use switchyard_proto::signal::SignalMessage;

pub const RELAY: SocketAddr = SocketAddr::new(
    std::net::IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 1)),
    4433,
);

pub fn client_addr(n: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 2], 6000 + n))
}

/// The relay's transport settings, with a self-signed certificate made in memory.
pub fn server_quic() -> quiche::Config {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["switchyard".into()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let mut tls = SslContextBuilder::new(SslMethod::tls()).unwrap();
    tls.set_certificate(&X509::from_pem(cert.pem().as_bytes()).unwrap())
        .unwrap();
    tls.set_private_key(&PKey::private_key_from_pem(key.serialize_pem().as_bytes()).unwrap())
        .unwrap();
    let mut c = quiche::Config::with_boring_ssl_ctx_builder(quiche::PROTOCOL_VERSION, tls).unwrap();
    c.set_application_protos(&[b"wzp"]).unwrap();
    c.set_max_idle_timeout(30_000);
    c.set_max_recv_udp_payload_size(1452);
    c.set_max_send_udp_payload_size(1452);
    c.set_initial_max_data(256 * 1024);
    c.set_initial_max_stream_data_bidi_local(64 * 1024);
    c.set_initial_max_stream_data_bidi_remote(64 * 1024);
    c.set_initial_max_streams_bidi(8);
    c.set_initial_max_streams_uni(4);
    c.set_disable_active_migration(true);
    c.enable_dgram(true, 1024, 1024);
    c
}

fn client_quic() -> quiche::Config {
    let mut c = quiche::Config::new(quiche::PROTOCOL_VERSION).unwrap();
    c.set_application_protos(&[b"wzp"]).unwrap();
    c.verify_peer(false);
    c.set_max_idle_timeout(30_000);
    c.set_initial_max_data(1 << 20);
    c.set_initial_max_stream_data_bidi_local(1 << 20);
    c.set_initial_max_stream_data_bidi_remote(1 << 20);
    c.set_initial_max_streams_bidi(100);
    c.set_initial_max_streams_uni(10);
    c.enable_dgram(true, 1024, 1024);
    c
}

/// Shard `shard` of `shards`, started at `t0`, configured by `tweak`.
pub fn endpoint(
    shard: u16,
    shards: u16,
    t0: Instant,
    tweak: impl FnOnce(&mut EndpointConfig),
) -> Endpoint {
    let mut config = EndpointConfig::new(ShardId(shard), shards, [7; 32]);
    tweak(&mut config);
    Endpoint::new(
        config,
        server_quic(),
        StdRng::seed_from_u64(u64::from(shard)),
        t0,
    )
}

/// A room name whose owner among `shards` is `shard`.
pub fn room_owned_by(shard: u16, shards: u16) -> String {
    (0..)
        .map(|i| format!("room-{i}"))
        .find(|r| crate::steering::owner_of(r, shards) == ShardId(shard))
        .unwrap()
}

/// A WZP client reduced to what the tests need.
pub struct TestClient {
    pub quic: quiche::Connection,
    pub addr: SocketAddr,
    pub identity: Identity,
    signals: SignalStreams,
    inbound: Vec<Inbound>,
    /// Signal messages received, in order.
    pub messages: Vec<SignalMessage>,
    buf: Vec<u8>,
}

impl TestClient {
    pub fn connect(room: &str, n: u16) -> Self {
        let scid = [0xC0 ^ u8::try_from(n % 256).unwrap(); 16];
        let addr = client_addr(n);
        let quic = quiche::connect(
            Some(room),
            &quiche::ConnectionId::from_ref(&scid),
            addr,
            RELAY,
            &mut client_quic(),
        )
        .unwrap();
        Self {
            quic,
            addr,
            identity: Identity::from_secret([u8::try_from(n % 256).unwrap().wrapping_add(1); 32]),
            signals: SignalStreams::client(Limits {
                open_readers: 64,
                buffered_bytes: 1 << 26,
                queued: 64,
            }),
            inbound: Vec::new(),
            messages: Vec::new(),
            buf: vec![0; 65_536],
        }
    }

    /// Every datagram the client has to send now.
    pub fn datagrams(&mut self) -> Vec<Vec<u8>> {
        self.signals.flush(&mut self.quic);
        let mut out = Vec::new();
        let mut buf = [0u8; 1500];
        while let Ok((len, _)) = self.quic.send(&mut buf) {
            out.push(buf[..len].to_vec());
        }
        out
    }

    pub fn receive(&mut self, packet: &[u8]) {
        let mut packet = packet.to_vec();
        let _ = self.quic.recv(
            &mut packet,
            quiche::RecvInfo {
                from: RELAY,
                to: self.addr,
            },
        );
        self.signals
            .read(&mut self.quic, &mut self.buf, &mut self.inbound);
        for item in self.inbound.drain(..) {
            if let Inbound::Message(m) = item {
                self.messages.push(m);
            }
        }
    }

    pub fn send(&mut self, message: &SignalMessage) {
        self.signals.queue(message).unwrap();
    }

    /// A CallOffer signed by this client (or with a broken signature).
    pub fn offer(&self, protocol_version: u8, tamper: bool) -> SignalMessage {
        let alias = Some(format!("client-{}", self.addr.port()));
        let mut offer = self.identity.call_offer([5; 32], alias, protocol_version);
        if let (true, SignalMessage::CallOffer { signature, .. }) = (tamper, &mut offer) {
            signature[0] ^= 1;
        }
        offer
    }

    /// The relay's CONNECTION_CLOSE application code, once it arrived.
    pub fn close_code(&self) -> Option<u64> {
        self.quic
            .peer_error()
            .filter(|e| e.is_app)
            .map(|e| e.error_code)
    }

    pub fn room_updates(&self) -> Vec<u32> {
        self.messages
            .iter()
            .filter_map(|m| match m {
                SignalMessage::RoomUpdate { count, .. } => Some(*count),
                _ => None,
            })
            .collect()
    }

    pub fn joined(&self) -> bool {
        self.messages
            .iter()
            .any(|m| matches!(m, SignalMessage::CallAnswer { .. }))
    }
}

/// What a pump collected from the endpoints besides transmits.
#[derive(Debug, Default)]
pub struct Pumped {
    pub events: Vec<ShardEvent>,
    pub handoffs: Vec<Handoff>,
    /// Packets the endpoint sent, per destination.
    pub transmits: Vec<(SocketAddr, Vec<u8>)>,
}

/// Carries packets between `clients` and `endpoint` at `now` until neither side has
/// anything to send (bounded). Hand-offs are collected, not delivered.
pub fn pump(endpoint: &mut Endpoint, clients: &mut [&mut TestClient], now: Instant) -> Pumped {
    let mut pumped = Pumped::default();
    let mut out = Transmits::new();
    for _ in 0..50 {
        let mut moved = 0;
        for c in clients.iter_mut() {
            for mut d in c.datagrams() {
                endpoint.handle_datagram(now, c.addr, RELAY, &mut d);
                moved += 1;
            }
        }
        endpoint.poll_transmits(&mut out);
        for (bytes, t) in out.iter() {
            pumped.transmits.push((t.to, bytes.to_vec()));
            if let Some(c) = clients.iter_mut().find(|c| c.addr == t.to) {
                c.receive(bytes);
            }
            moved += 1;
        }
        out.clear();
        while let Some(h) = endpoint.poll_handoff() {
            pumped.handoffs.push(h);
        }
        while let Some(e) = endpoint.poll_event() {
            pumped.events.push(e);
        }
        if moved == 0 {
            break;
        }
    }
    pumped
}

/// Connects `client` and completes the join handshake with `offer`.
pub fn join(
    endpoint: &mut Endpoint,
    client: &mut TestClient,
    offer: SignalMessage,
    now: Instant,
) -> Pumped {
    let mut pumped = pump(endpoint, &mut [&mut *client], now);
    assert!(client.quic.is_established(), "QUIC handshake completes");
    client.send(&offer);
    let more = pump(endpoint, &mut [&mut *client], now);
    pumped.events.extend(more.events);
    pumped.handoffs.extend(more.handoffs);
    pumped.transmits.extend(more.transmits);
    pumped
}

pub const MS: Duration = Duration::from_millis(1);

/// Joins every client, in order, to the room its SNI names on `endpoint` (participant
/// serials 0, 1, ...), then pumps them all once more so the RoomUpdates arrive.
pub fn join_all(endpoint: &mut Endpoint, clients: &mut [&mut TestClient], now: Instant) {
    for client in clients.iter_mut() {
        let offer = client.offer(2, false);
        join(endpoint, client, offer, now);
    }
    pump(endpoint, clients, now);
}

/// An Opus24k datagram: sequence `seq` (timestamp 20 ms a step), `payload` bytes of payload.
pub fn opus24k(seq: u32, payload: usize) -> Vec<u8> {
    let header = MediaHeader {
        flags: Flags::empty(),
        media_type: MediaType::Audio,
        codec: CodecId::Opus24k,
        stream_id: 0,
        fec_ratio: 20,
        seq,
        timestamp: seq * 20,
        fec_block: 0,
    };
    let mut d = Vec::new();
    header.encode(&vec![7u8; payload], None, &mut d);
    d
}
