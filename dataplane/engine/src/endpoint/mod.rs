//! One shard's relay, sans-IO: the [`Endpoint`].
//!
//! It owns the shard's quiche connections, the connection-ID table and held Initials, the
//! join sessions, the rooms with their video state, and the relay's own timers.
//!
//! Inputs, each with `now`:
//! - [`Endpoint::handle_datagram`]: a UDP datagram from the socket (from, to, bytes);
//! - [`Endpoint::handle_handoff`]: a datagram another shard passed on;
//! - [`Endpoint::handle_directive`]: a directive from the control plane;
//! - [`Endpoint::handle_timeout`]: the time [`Endpoint::poll_timeout`] asked for has come.
//!
//! Outputs, drained by the caller after its inputs and before it waits (the drain contract in
//! the crate docs):
//! - [`Endpoint::poll_transmits`]: every packet the touched connections have to send,
//!   written into the caller's [`Transmits`];
//! - [`Endpoint::poll_handoff`]: datagrams for other shards;
//! - [`Endpoint::poll_event`]: membership events and counters for the control plane;
//! - [`Endpoint::poll_timeout`]: when to call [`Endpoint::handle_timeout`], and why.
//!
//! One file per job: [`accept`] (where a datagram goes, Initials, hand-off), [`lifecycle`]
//! (the phase of each connection and its transitions), [`media`] (forward, replay, PLI, video
//! tick), [`path`] (estimates from quiche's path statistics), [`quality`] (samples for the
//! control plane's judge, and its signals carried out), [`policy`] (conformance hang-ups and
//! bans: Tier G), [`conn`] (the connection table), [`stateless`] (Version Negotiation, Retry,
//! stateless reset),
//! [`timers`], [`transmit`]. Signal framing is [`crate::signal_streams`].

mod accept;
mod config;
mod conn;
mod lifecycle;
mod media;
mod path;
mod policy;
mod quality;
mod stateless;
mod timers;
mod transmit;

#[cfg(test)]
mod tests;

pub use accept::{Handoff, HandoffKind, MAX_HELD_INITIALS, MIN_INITIAL_DATAGRAM};
pub use config::{EndpointConfig, VideoSettings, DEFAULT_DATAGRAM_QUEUE_BYTES};
pub use conn::{
    ConnKey, MAX_OPEN_SIGNAL_STREAMS, SIGNAL_AFTER_JOIN, SIGNAL_BEFORE_JOIN, SIGNAL_QUEUE_CAP,
};
pub use lifecycle::{Purpose, CLOSE_UNSUPPORTED, HANGUP_LINGER};
pub use media::VIDEO_TICK;
pub use path::PathSample;
pub use policy::CLOSE_POLICY_VIOLATION;
pub use timers::Timer;
pub use transmit::{Transmit, Transmits, MAX_PACKET};

use crate::address_validation::TokenKey;
use crate::admission::RateLimit;
use crate::identity::Identity;
use crate::signal_streams::Inbound;
use crate::stateless_reset::ResetKey;
use accept::Arrival;
use conn::Connections;
use media::Rooms;
use rand::rngs::StdRng;
use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::time::Instant;
use switchyard_proto::bans::BanTable;
use switchyard_proto::control::{Directive, ParticipantId, ShardCounters, ShardEvent};
use timers::TimerTable;

/// Stateless replies (Version Negotiation, Retry, stateless reset) one turn may queue; more
/// are dropped and counted.
const STATELESS_QUEUE: usize = 64;

/// Whether the endpoint is serving.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RunState {
    Running,
    /// Everyone was told to leave; new connections are refused.
    Stopping,
    /// Every connection closed, or the grace ran out. The final counters were reported.
    Stopped,
}

/// What waits for the caller besides transmits.
#[derive(Debug, Default)]
struct Outbox {
    events: VecDeque<ShardEvent>,
    handoffs: VecDeque<Handoff>,
    /// Replies that belong to no connection (Version Negotiation, Retry, stateless reset).
    stateless: Transmits,
}

/// Reusable buffers.
#[derive(Debug)]
struct Scratch {
    datagram: Vec<u8>,
    stream: Vec<u8>,
    inbound: Vec<Inbound>,
    touched: Vec<ConnKey>,
}

pub struct Endpoint {
    config: EndpointConfig,
    quic_config: quiche::Config,
    identity: Identity,
    rng: StdRng,
    conns: Connections,
    rooms: Rooms,
    counters: ShardCounters,
    timers: TimerTable,
    outbox: Outbox,
    scratch: Scratch,
    /// Joined participants by id (ordered, so samples leave in a repeatable order).
    members: BTreeMap<ParticipantId, ConnKey>,
    /// Serial of the next participant id.
    participants_joined: u64,
    /// Tier G: identities this shard refuses (cool-downs and blocks).
    bans: BanTable,
    /// The newest counters generation the control plane asked for.
    generation: u64,
    state: RunState,
    /// Mints and checks Retry tokens (see [`crate::admission`]).
    tokens: TokenKey,
    /// Derives stateless reset tokens from the seed.
    resets: ResetKey,
    version_negotiations: RateLimit,
    stateless_resets: RateLimit,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("shard", &self.config.shard)
            .field("connections", &self.conns.len())
            .field("rooms", &self.rooms.table.room_count())
            .field("state", &self.state)
            .finish()
    }
}

impl Endpoint {
    /// An endpoint started at `now`. `quic_config` carries the TLS identity and transport
    /// parameters; `rng` makes connection IDs and the ephemeral keys of CallAnswer.
    pub fn new(
        config: EndpointConfig,
        quic_config: quiche::Config,
        rng: StdRng,
        now: Instant,
    ) -> Self {
        let mut timers = TimerTable::default();
        timers.set(Timer::VideoTick, now + VIDEO_TICK);
        timers.set(Timer::Counters, now + config.counters_interval);
        timers.set(Timer::QualitySamples, now + config.quality_interval());
        let mut conns = Connections::default();
        conns.set_datagram_queue_bytes(config.datagram_queue_bytes);
        Self {
            identity: Identity::relay_from_seed(&config.seed),
            rooms: Rooms::new(config.room_capacity, config.video, config.conformance),
            quic_config,
            rng,
            conns,
            counters: ShardCounters::default(),
            timers,
            outbox: Outbox::default(),
            scratch: Scratch {
                datagram: vec![0; 65_536],
                stream: vec![0; 65_536],
                inbound: Vec::new(),
                touched: Vec::new(),
            },
            members: BTreeMap::new(),
            participants_joined: 0,
            bans: BanTable::default(),
            generation: 0,
            state: RunState::Running,
            tokens: TokenKey::new(
                &config.seed,
                &config.token_salt,
                config.token_epoch.unwrap_or(now),
                config.admission.token_lifetime,
            ),
            resets: ResetKey::new(&config.seed),
            version_negotiations: RateLimit::default(),
            stateless_resets: RateLimit::default(),
            config,
        }
    }

    /// A UDP datagram that arrived on `to` from `from`. quiche decrypts in place.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        from: SocketAddr,
        to: SocketAddr,
        data: &mut [u8],
    ) {
        self.counters.udp_datagrams_in += 1;
        self.route(now, from, to, data, Arrival::Socket);
    }

    /// A datagram another shard passed on (see [`HandoffKind`]).
    pub fn handle_handoff(&mut self, now: Instant, mut handoff: Handoff) {
        if handoff.kind == HandoffKind::Initial {
            self.counters.initials_redirected_in += 1;
        }
        self.route(
            now,
            handoff.from,
            handoff.local,
            &mut handoff.datagram,
            Arrival::Handoff,
        );
    }

    pub fn handle_directive(&mut self, now: Instant, directive: Directive) {
        match directive {
            Directive::Shutdown => self.begin_shutdown(now),
            Directive::ReportCounters { generation } => {
                self.generation = self.generation.max(generation);
                self.report_counters();
            }
            Directive::Quality(order) => self.apply_quality_order(&order, now),
            Directive::Ban(ban) => self.hold_ban(&ban, now),
        }
    }

    /// Carries out whatever is due at `now`: connection deadlines, the video tick, the
    /// counter report, the quality samples, the end of the shutdown grace.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(key) = self.conns.pop_expired(now) {
            self.on_deadline(key, now);
        }
        if self.timers.take_expired(Timer::VideoTick, now) {
            self.timers.set(Timer::VideoTick, now + VIDEO_TICK);
            self.rooms
                .video_tick(&mut self.conns, &mut self.counters, now);
        }
        if self.timers.take_expired(Timer::Counters, now) {
            self.timers
                .set(Timer::Counters, now + self.config.counters_interval);
            self.report_counters();
        }
        if self.timers.take_expired(Timer::QualitySamples, now) {
            self.timers
                .set(Timer::QualitySamples, now + self.config.quality_interval());
            self.sample_quality(now);
        }
        if self.timers.take_expired(Timer::ShutdownGrace, now) {
            self.finish_stopping();
        }
    }

    /// Writes every packet the connections touched since the last call have to send into
    /// `out`, re-arms their deadlines, and removes the ones quiche has closed (a removed
    /// participant's room is told, which touches its members in turn).
    pub fn poll_transmits(&mut self, out: &mut Transmits) {
        let mut touched = std::mem::take(&mut self.scratch.touched);
        loop {
            self.conns.take_touched(&mut touched);
            if touched.is_empty() {
                break;
            }
            for &key in &touched {
                self.flush(key, out);
            }
        }
        self.scratch.touched = touched;
        out.append(&self.outbox.stateless);
        self.outbox.stateless.clear();
        if self.state == RunState::Stopping && self.conns.is_empty() {
            self.finish_stopping();
        }
    }

    /// The next datagram for another shard.
    pub fn poll_handoff(&mut self) -> Option<Handoff> {
        self.outbox.handoffs.pop_front()
    }

    /// The next event for the control plane.
    pub fn poll_event(&mut self) -> Option<ShardEvent> {
        self.outbox.events.pop_front()
    }

    /// When [`Self::handle_timeout`] must next run, and why. Valid after the outputs are
    /// drained.
    pub fn poll_timeout(&mut self) -> Option<(Instant, Timer)> {
        let connection = self
            .conns
            .earliest_deadline()
            .map(|at| (at, Timer::Connection));
        match (connection, self.timers.next()) {
            (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
            (a, b) => a.or(b),
        }
    }

    /// Stopped: every connection closed, or the shutdown grace ran out. The final counters
    /// are among the events.
    pub fn is_stopped(&self) -> bool {
        self.state == RunState::Stopped
    }

    /// Connections this endpoint holds, in any phase.
    pub fn connection_count(&self) -> usize {
        self.conns.len()
    }

    /// Connections whose QUIC handshake has not completed.
    pub fn half_open(&self) -> usize {
        self.conns.half_open.total()
    }

    /// The counters as they stand (the control plane gets them as events).
    pub fn counters(&self) -> &ShardCounters {
        &self.counters
    }

    fn is_running(&self) -> bool {
        self.state == RunState::Running
    }

    fn flush(&mut self, key: ConnKey, out: &mut Transmits) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        if let lifecycle::Phase::AwaitingSni { deadline, .. } = conn.phase {
            // Nothing leaves until the owner shard is known.
            self.conns.arm(key, Some(deadline));
            return;
        }
        conn.signals.flush(&mut conn.quic);
        if conn.quic.is_established() {
            conn.amplification = None;
        }
        loop {
            let queued = conn.quic.dgram_send_queue_len();
            let buf = out.reserve();
            let buf = match conn.amplification {
                Some(a) => {
                    let limit = a.budget().min(buf.len());
                    buf.get_mut(..limit).unwrap_or_default()
                }
                None => buf,
            };
            if buf.is_empty() {
                break;
            }
            match conn.quic.send(buf) {
                Ok((len, info)) => {
                    if let Some(a) = &mut conn.amplification {
                        a.sent += len;
                    }
                    let carried = queued.saturating_sub(conn.quic.dgram_send_queue_len());
                    let carried = u16::try_from(carried).unwrap_or(u16::MAX);
                    self.counters.media_datagrams_sent += u64::from(carried);
                    out.commit(len, info.to, carried);
                }
                Err(quiche::Error::Done) => break,
                Err(e) => {
                    log::debug!("{}: send failed: {e}", conn.quic.trace_id());
                    let _ = conn.quic.close(false, 0x1, b"internal error");
                    break;
                }
            }
        }
        if conn.quic.is_closed() {
            self.reap(key);
        } else {
            let deadline = conn.next_deadline();
            self.conns.arm(key, deadline);
        }
    }

    fn begin_shutdown(&mut self, now: Instant) {
        if self.state != RunState::Running {
            return;
        }
        self.state = RunState::Stopping;
        self.timers
            .set(Timer::ShutdownGrace, now + self.config.shutdown_grace);
        self.hang_up_everyone(now);
    }

    fn finish_stopping(&mut self) {
        if self.state == RunState::Stopping {
            self.state = RunState::Stopped;
            self.report_counters();
        }
    }

    fn report_counters(&mut self) {
        let c = &mut self.counters;
        c.rooms = self.rooms.table.room_count() as u64;
        c.participants = self.rooms.table.participant_count() as u64;
        c.half_open = self.conns.half_open.total() as u64;
        c.datagrams_purged = self.conns.datagrams_purged;
        let cache = self.rooms.ledger.stats;
        c.keyframe_cache_bytes = self.rooms.ledger.bytes() as u64;
        c.keyframes_cached = cache.keyframes_cached;
        c.keyframe_partials_discarded = cache.partials_discarded;
        c.keyframes_over_stream_cap = cache.over_stream_cap;
        c.keyframes_over_shard_cap = cache.over_shard_cap;
        c.keyframes_over_room_share = cache.over_room_share;
        c.keyframes_over_sender_share = cache.over_sender_share;
        c.keyframe_slots_refused = cache.slots_refused;
        self.outbox.events.push_back(ShardEvent::Counters {
            shard: self.config.shard,
            generation: self.generation,
            counters: Box::new(self.counters.clone()),
        });
    }
}
