//! A WZP v2 client over quiche, sans-IO: the caller feeds UDP datagrams and `now`, drains
//! packets to send, and reads media datagrams and signal events.
//!
//! Handshake as a real client does it: QUIC with SNI = room and ALPN `wzp`, then (optionally)
//! AuthToken, then a signed CallOffer on a new bidirectional stream; the relay's CallAnswer
//! signature is verified before the client counts itself joined.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use switchyard_engine::identity::{verify_handshake, Identity, ANSWER_CONTEXT};
use switchyard_engine::signal_streams::{Inbound, Limits, SignalStreams};
use switchyard_proto::signal::{HangupReason, SignalMessage};

/// Send an ack-eliciting packet when idle this long (WZP's keepalive).
const KEEPALIVE: Duration = Duration::from_secs(5);
/// The client trusts its relay: generous bounds on its signal streams.
const SIGNAL_LIMITS: Limits = Limits {
    open_readers: 1024,
    buffered_bytes: 64 * 1024 * 1024,
    queued: 1024,
};

/// How the client behaves during the handshake.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    pub room: String,
    pub alias: Option<String>,
    pub protocol_version: u8,
    pub auth_token: Option<String>,
    /// Corrupt the CallOffer signature (to test the relay's refusal).
    pub tamper_signature: bool,
    /// The destination connection ID of the first Initial (to choose the shard it reaches).
    pub initial_dcid: Option<Vec<u8>>,
}

impl ClientOptions {
    pub fn new(room: impl Into<String>) -> Self {
        Self {
            room: room.into(),
            alias: None,
            protocol_version: 2,
            auth_token: None,
            tamper_signature: false,
            initial_dcid: None,
        }
    }
}

/// Where the client is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Connecting,
    AwaitingAnswer,
    Joined,
    Closed,
}

/// A protocol-level event for the caller.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientEvent {
    Joined,
    RoomUpdate {
        count: u32,
    },
    Hangup(HangupReason),
    Other(SignalMessage),
    /// The relay's CallAnswer signature did not verify.
    BadAnswer,
}

/// quiche configuration for a WZP client.
///
/// WZP relays present a self-signed Ed25519 certificate; BoringSSL leaves Ed25519 out of a
/// client's signature algorithms unless asked, so the TLS context is built here.
pub fn client_config() -> Result<quiche::Config, quiche::Error> {
    use boring::ssl::{SslContextBuilder, SslMethod, SslSignatureAlgorithm};
    let mut tls = SslContextBuilder::new(SslMethod::tls()).map_err(|_| quiche::Error::TlsFail)?;
    tls.set_verify_algorithm_prefs(&[
        SslSignatureAlgorithm::ED25519,
        SslSignatureAlgorithm::ECDSA_SECP256R1_SHA256,
        SslSignatureAlgorithm::RSA_PSS_RSAE_SHA256,
        SslSignatureAlgorithm::RSA_PKCS1_SHA256,
    ])
    .map_err(|_| quiche::Error::TlsFail)?;
    let mut c = quiche::Config::with_boring_ssl_ctx_builder(quiche::PROTOCOL_VERSION, tls)?;
    c.set_application_protos(&[b"wzp"])?;
    c.verify_peer(false);
    c.set_max_idle_timeout(30_000);
    c.set_max_recv_udp_payload_size(1452);
    c.set_max_send_udp_payload_size(1452);
    c.set_initial_max_data(4 << 20);
    c.set_initial_max_stream_data_bidi_local(1 << 20);
    c.set_initial_max_stream_data_bidi_remote(1 << 20);
    c.set_initial_max_stream_data_uni(64 * 1024);
    c.set_initial_max_streams_bidi(100);
    c.set_initial_max_streams_uni(10);
    c.set_disable_active_migration(true);
    c.enable_dgram(true, 8192, 8192);
    Ok(c)
}

/// One UDP datagram the client wants sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outgoing {
    pub len: usize,
    pub to: SocketAddr,
    /// Media datagrams (QUIC DATAGRAM frames) the packet carries, in the order they were
    /// queued with [`Client::send_datagram`].
    pub datagrams: usize,
}

pub struct Client {
    quic: quiche::Connection,
    options: ClientOptions,
    identity: Identity,
    phase: Phase,
    offer_sent: bool,
    signals: SignalStreams,
    inbound: Vec<Inbound>,
    events: VecDeque<ClientEvent>,
    stream_buf: Vec<u8>,
    last_send: Option<Instant>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("room", &self.options.room)
            .field("phase", &self.phase)
            .finish()
    }
}

impl Client {
    pub fn connect(
        options: ClientOptions,
        identity: Identity,
        scid: &[u8],
        local: SocketAddr,
        peer: SocketAddr,
        config: &mut quiche::Config,
    ) -> Result<Self, quiche::Error> {
        let scid = quiche::ConnectionId::from_ref(scid);
        let quic = match &options.initial_dcid {
            Some(dcid) => quiche::connect_with_dcid(
                Some(&options.room),
                &scid,
                &quiche::ConnectionId::from_ref(dcid),
                local,
                peer,
                config,
            )?,
            None => quiche::connect(Some(&options.room), &scid, local, peer, config)?,
        };
        Ok(Self {
            quic,
            options,
            identity,
            phase: Phase::Connecting,
            offer_sent: false,
            signals: SignalStreams::client(SIGNAL_LIMITS),
            inbound: Vec::new(),
            events: VecDeque::new(),
            stream_buf: vec![0; 65_536],
            last_send: None,
        })
    }

    pub fn phase(&self) -> Phase {
        if self.quic.is_closed() {
            Phase::Closed
        } else {
            self.phase
        }
    }

    /// The connection ID the client sends to (the relay's, once it answered).
    pub fn destination_id(&self) -> Vec<u8> {
        self.quic.destination_id().to_vec()
    }

    pub fn fingerprint(&self) -> String {
        self.identity.fingerprint()
    }

    /// The active path as quiche sees it: packets sent, packets declared lost (both
    /// cumulative) and the smoothed RTT.
    pub fn path_figures(&self) -> Option<(usize, usize, Duration)> {
        self.quic
            .path_stats()
            .find(|p| p.active)
            .map(|p| (p.sent, p.lost, p.rtt))
    }

    /// The peer's CONNECTION_CLOSE: (application?, code, reason).
    pub fn peer_error(&self) -> Option<(bool, u64, String)> {
        self.quic.peer_error().map(|e| {
            (
                e.is_app,
                e.error_code,
                String::from_utf8_lossy(&e.reason).into_owned(),
            )
        })
    }

    pub fn on_datagram(&mut self, data: &mut [u8], from: SocketAddr, local: SocketAddr) {
        let _ = self.quic.recv(data, quiche::RecvInfo { from, to: local });
        self.progress();
    }

    pub fn next_timeout(&self) -> Option<Instant> {
        let keepalive = self.last_send.map(|t| t + KEEPALIVE);
        [self.quic.timeout_instant(), keepalive]
            .into_iter()
            .flatten()
            .min()
    }

    pub fn on_timeout(&mut self, now: Instant) {
        if self.quic.timeout_instant().is_some_and(|t| t <= now) {
            self.quic.on_timeout();
        }
        if self.last_send.is_some_and(|t| t + KEEPALIVE <= now) && self.quic.is_established() {
            let _ = self.quic.send_ack_eliciting();
        }
        self.progress();
    }

    /// Next UDP datagram to send, written into `out`.
    pub fn poll_transmit(&mut self, out: &mut [u8], now: Instant) -> Option<Outgoing> {
        self.signals.flush(&mut self.quic);
        let queued = self.quic.dgram_send_queue_len();
        let (len, info) = self.quic.send(out).ok()?;
        self.last_send = Some(now);
        Some(Outgoing {
            len,
            to: info.to,
            datagrams: queued.saturating_sub(self.quic.dgram_send_queue_len()),
        })
    }

    /// Queues a media datagram; `false` if quiche's queue is full or the peer refuses them.
    pub fn send_datagram(&mut self, data: &[u8]) -> bool {
        self.quic.dgram_send(data).is_ok()
    }

    /// Next received media datagram, copied into `buf`.
    pub fn recv_datagram(&mut self, buf: &mut [u8]) -> Option<usize> {
        self.quic.dgram_recv(buf).ok()
    }

    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        self.events.pop_front()
    }

    /// Sends a signal message on a new client-initiated bidirectional stream.
    pub fn send_signal(&mut self, message: &SignalMessage) {
        if self.signals.queue(message).is_err() {
            log::warn!("client signal queue full: message dropped");
        }
        self.signals.flush(&mut self.quic);
    }

    /// Sends arbitrary bytes as one signal stream (to test refusal of bad frames).
    pub fn send_raw_frame(&mut self, bytes: Vec<u8>) {
        if self.signals.queue_frame(bytes).is_err() {
            log::warn!("client signal queue full: frame dropped");
        }
        self.signals.flush(&mut self.quic);
    }

    /// Hangs up (Normal) and closes.
    pub fn hang_up(&mut self) {
        self.send_signal(&SignalMessage::hangup(HangupReason::Normal));
    }

    pub fn close(&mut self) {
        let _ = self.quic.close(true, 0, b"done");
    }

    /// Whether the QUIC handshake ever completed (the offer is sent right after).
    pub fn was_established(&self) -> bool {
        self.offer_sent
    }

    pub fn is_closed(&self) -> bool {
        self.quic.is_closed()
    }

    fn progress(&mut self) {
        if self.quic.is_established() && !self.offer_sent {
            self.offer_sent = true;
            if let Some(token) = self.options.auth_token.clone() {
                self.send_signal(&SignalMessage::AuthToken { version: 1, token });
            }
            let offer = self.offer();
            self.send_signal(&offer);
            self.phase = Phase::AwaitingAnswer;
        }
        let mut inbound = std::mem::take(&mut self.inbound);
        self.signals
            .read(&mut self.quic, &mut self.stream_buf, &mut inbound);
        for item in inbound.drain(..) {
            if let Inbound::Message(message) = item {
                self.on_signal(message);
            }
        }
        self.inbound = inbound;
        self.signals.flush(&mut self.quic);
    }

    fn offer(&self) -> SignalMessage {
        let ephemeral = x25519_dalek::PublicKey::from(
            &x25519_dalek::StaticSecret::random_from_rng(rand::rngs::OsRng),
        )
        .to_bytes();
        let mut offer = self.identity.call_offer(
            ephemeral,
            self.options.alias.clone(),
            self.options.protocol_version,
        );
        if let (true, SignalMessage::CallOffer { signature, .. }) =
            (self.options.tamper_signature, &mut offer)
        {
            if let Some(b) = signature.first_mut() {
                *b ^= 0x55;
            }
        }
        offer
    }

    fn on_signal(&mut self, msg: SignalMessage) {
        let event = match msg {
            SignalMessage::CallAnswer {
                identity_pub,
                ephemeral_pub,
                signature,
                ..
            } => {
                if verify_handshake(&identity_pub, &ephemeral_pub, ANSWER_CONTEXT, &signature) {
                    self.phase = Phase::Joined;
                    ClientEvent::Joined
                } else {
                    ClientEvent::BadAnswer
                }
            }
            SignalMessage::RoomUpdate { count, .. } => ClientEvent::RoomUpdate { count },
            SignalMessage::Hangup { reason, .. } => ClientEvent::Hangup(reason),
            other => ClientEvent::Other(other),
        };
        self.events.push_back(event);
    }
}
