//! The shard: one glommio executor thread that owns one UDP socket of the reuseport group and
//! the rings, and drives its [`Endpoint`], which owns everything else (connections, rooms,
//! timers). The loop only moves bytes and values between them:
//!
//! ```text
//! loop {
//!     endpoint.handle_timeout(now)                      whatever is due
//!     drain: poll_transmits -> sendmmsg, hand-offs -> peer rings, events -> control ring
//!     wait: socket readable, or the endpoint's timeout, or 5 ms (the rings cannot wake us)
//!     recvmmsg batches -> handle_datagram; peer rings -> handle_handoff;
//!     directives -> handle_directive
//! }
//! ```
//!
//! Every datagram of a receive batch is fed before the drain, so a receiver that several
//! senders reached in one batch is flushed once.

pub mod settings;
pub mod socket;

use settings::ShardSettings;
use socket::RecvBatch;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, RawFd};
use std::time::{Duration, Instant};
use switchyard_controlplane::{RingReceiver, RingSender};
use switchyard_engine::{Endpoint, Handoff, Transmits};
use switchyard_proto::control::{Directive, ShardCounters, ShardEvent, ShardId};

/// Longest the loop sleeps without a deadline: bounds inbox and directive latency.
const IDLE_WAIT: Duration = Duration::from_millis(5);
/// Socket batches drained per loop turn before timers and flushes get their turn.
const RECV_BATCHES_PER_TURN: usize = 8;

/// The shard's ends of its rings.
#[derive(Debug)]
pub struct ShardRings {
    pub events: RingSender<ShardEvent>,
    pub directives: RingReceiver<Directive>,
    /// To every other shard (index = shard id; `None` for self).
    pub to_peers: Vec<Option<RingSender<Handoff>>>,
    pub from_peers: Vec<RingReceiver<Handoff>>,
}

/// What only the loop sees: the socket's results and the rings' drops.
#[derive(Debug, Default, Clone, Copy)]
struct LoopCounters {
    udp_datagrams_out: u64,
    udp_send_errors: u64,
    inbox_full_drops: u64,
    quality_samples_dropped: u64,
}

impl LoopCounters {
    /// Writes the loop's figures into the endpoint's counters on their way out.
    fn stamp(&self, counters: &mut ShardCounters, event_ring_drops: u64) {
        counters.udp_datagrams_out = self.udp_datagrams_out;
        counters.udp_send_errors = self.udp_send_errors;
        counters.inbox_full_drops = self.inbox_full_drops;
        counters.event_ring_drops = event_ring_drops;
        counters.quality_samples_dropped = self.quality_samples_dropped;
    }
}

pub struct Shard {
    id: ShardId,
    endpoint: Endpoint,
    socket: glommio::net::UdpSocket,
    fd: RawFd,
    local: SocketAddr,
    rings: ShardRings,
    recv: RecvBatch,
    out: Transmits,
    counters: LoopCounters,
}

impl std::fmt::Debug for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shard")
            .field("id", &self.id)
            .field("endpoint", &self.endpoint)
            .finish()
    }
}

impl Shard {
    /// Builds the shard's state on its own thread.
    pub fn new(
        settings: ShardSettings,
        socket: socket2::Socket,
        rings: ShardRings,
    ) -> Result<Self, String> {
        let local = socket
            .local_addr()
            .ok()
            .and_then(|a| a.as_socket())
            .ok_or("shard socket has no local address")?;
        // glommio links its own socket2 major version: hand the descriptor over instead.
        // SAFETY: `into_raw_fd` gives up ownership, so the glommio socket is its sole owner.
        let socket = unsafe { glommio::net::UdpSocket::from_raw_fd(socket.into_raw_fd()) };
        let quic_config = settings
            .quic_config()
            .map_err(|e| format!("quic config: {e}"))?;
        let id = settings.endpoint.shard;
        let rng = rand::SeedableRng::from_entropy();
        Ok(Self {
            id,
            endpoint: Endpoint::new(settings.endpoint, quic_config, rng, Instant::now()),
            fd: socket.as_raw_fd(),
            socket,
            local,
            rings,
            recv: RecvBatch::default(),
            out: Transmits::new(),
            counters: LoopCounters::default(),
        })
    }

    /// Runs until the endpoint has stopped (after a Shutdown directive).
    pub async fn run(mut self) {
        let mut probe = [0u8; 1];
        loop {
            self.endpoint.handle_timeout(Instant::now());
            self.drain().await;
            if self.endpoint.is_stopped() {
                return;
            }
            let wait = self
                .endpoint
                .poll_timeout()
                .map_or(IDLE_WAIT, |(at, _)| {
                    at.saturating_duration_since(Instant::now())
                })
                .min(IDLE_WAIT);
            if wait >= Duration::from_micros(20) && self.socket.set_read_timeout(Some(wait)).is_ok()
            {
                // Readiness only: MSG_PEEK leaves the datagram for the batch read below.
                let _ = self.socket.peek_from(&mut probe).await;
            }
            let now = Instant::now();
            self.receive(now);
            self.receive_handoffs(now);
            self.receive_directives(now);
        }
    }

    fn receive(&mut self, now: Instant) {
        for _ in 0..RECV_BATCHES_PER_TURN {
            let n = match self.recv.recv(self.fd) {
                Ok(n) => n,
                Err(e) => {
                    log::warn!("shard {}: recvmmsg: {e}", self.id.0);
                    0
                }
            };
            for i in 0..n {
                if let Some((data, from)) = self.recv.get_mut(i) {
                    self.endpoint.handle_datagram(now, from, self.local, data);
                }
            }
            if n < socket::BATCH {
                break;
            }
        }
    }

    fn receive_handoffs(&mut self, now: Instant) {
        for ring in &self.rings.from_peers {
            while let Ok(Some(handoff)) = ring.try_pop() {
                self.endpoint.handle_handoff(now, handoff);
            }
        }
    }

    fn receive_directives(&mut self, now: Instant) {
        while let Ok(Some(directive)) = self.rings.directives.try_pop() {
            self.endpoint.handle_directive(now, directive);
        }
    }

    /// Sends what the endpoint has to send and passes on its hand-offs and events.
    async fn drain(&mut self) {
        self.endpoint.poll_transmits(&mut self.out);
        self.send().await;
        while let Some(handoff) = self.endpoint.poll_handoff() {
            let pushed = self
                .rings
                .to_peers
                .get_mut(handoff.to.index())
                .and_then(Option::as_mut)
                .is_some_and(|ring| ring.push(handoff));
            if !pushed {
                self.counters.inbox_full_drops += 1;
            }
        }
        while let Some(mut event) = self.endpoint.poll_event() {
            if let ShardEvent::Counters { counters, .. } = &mut event {
                self.counters.stamp(counters, self.rings.events.dropped());
            }
            let sample = matches!(event, ShardEvent::Quality { .. });
            if !self.rings.events.push(event) && sample {
                self.counters.quality_samples_dropped += 1;
            }
        }
    }

    async fn send(&mut self) {
        if self.out.is_empty() {
            return;
        }
        let total = self.out.len();
        let mut progress = socket::send_batch(self.fd, &self.out, 0);
        // The socket buffer is full: wait for room through io_uring, then batch again.
        while progress.next < total {
            if let Some((data, t)) = self.out.get(progress.next) {
                if self.socket.send_to(data, t.to).await.is_err() {
                    progress.errors += 1;
                }
            }
            let errors = progress.errors;
            progress = socket::send_batch(self.fd, &self.out, progress.next + 1);
            progress.errors += errors;
        }
        self.counters.udp_send_errors += progress.errors;
        self.counters.udp_datagrams_out += total as u64 - progress.errors;
        self.out.clear();
    }
}
