//! The shard: one glommio executor thread that owns one UDP socket of the reuseport group,
//! the quiche connections the kernel steers to it, and the rooms it owns.
//!
//! Loop shape (one task, state owned through `&mut self`, no locks):
//!
//! ```text
//! loop {
//!     fire expired deadlines (quiche timers, handshake deadlines, pending closes)
//!     flush every touched connection into one send batch, sendmmsg it
//!     wait: socket readable, or the next deadline, or 5 ms (inbox and directive polling)
//!     drain the socket in recvmmsg batches, then the inbox from other shards, then directives
//!     every 100 ms: video tick (bandwidth estimates -> simulcast layers, late keyframes)
//! }
//! ```
//!
//! Packet path: recvmmsg -> quiche recv -> drain datagrams -> parse the 16-byte header ->
//! keyframe cache and simulcast registry of the room -> for every other member of the room
//! that takes this layer: `dgram_send` of the original bytes -> after the batch, flush each
//! touched connection once.

pub mod conn;
mod handle;
pub mod settings;
pub mod socket;
mod video;

use crate::engine::deadlines::Deadlines;
use crate::engine::keyframes::CacheLedger;
use crate::engine::rooms::RoomTable;
use crate::engine::session::AuthGate;
use crate::identity::Identity;
use conn::Conn;
use rand::rngs::StdRng;
use rand::SeedableRng;
use settings::ShardSettings;
use slab::Slab;
use socket::{RecvBatch, SendBatch};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, RawFd};
use std::time::{Duration, Instant};
use switchyard_controlplane::{RingReceiver, RingSender};
use switchyard_proto::control::{Directive, ShardCounters, ShardEvent, ShardId};

/// Longest the loop sleeps without a deadline: bounds inbox and directive latency.
const IDLE_WAIT: Duration = Duration::from_millis(5);
/// Socket batches drained per loop turn before timers and flushes get their turn.
const RECV_BATCHES_PER_TURN: usize = 8;
/// How long a shutting-down shard waits for connections to close.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// A datagram passed from the shard that received it to the shard that serves it.
#[derive(Debug)]
pub struct Redirected {
    pub data: Vec<u8>,
    pub from: SocketAddr,
    /// An Initial the sender read the SNI of (as opposed to a packet for a known ID).
    pub initial: bool,
}

/// The shard's ends of its rings.
#[derive(Debug)]
pub struct ShardRings {
    pub events: RingSender<ShardEvent>,
    pub directives: RingReceiver<Directive>,
    /// To every other shard (index = shard id; `None` for self).
    pub to_peers: Vec<Option<RingSender<Redirected>>>,
    pub from_peers: Vec<RingReceiver<Redirected>>,
}

pub struct Shard {
    id: ShardId,
    settings: ShardSettings,
    socket: glommio::net::UdpSocket,
    fd: RawFd,
    local: SocketAddr,
    quic_config: quiche::Config,
    identity: Identity,
    auth: AuthGate,
    rng: StdRng,
    conns: Slab<Conn>,
    by_cid: HashMap<quiche::ConnectionId<'static>, usize>,
    rooms: RoomTable<usize>,
    /// Bytes and counts of every room's keyframe cache on this shard.
    ledger: CacheLedger,
    deadlines: Deadlines<usize>,
    counters: ShardCounters,
    rings: ShardRings,
    recv: Option<RecvBatch>,
    out: SendBatch,
    dgram_buf: Vec<u8>,
    stream_buf: Vec<u8>,
    touched: Vec<usize>,
    generation: u64,
    next_report: Instant,
    next_video_tick: Instant,
    stopping: Option<Instant>,
}

impl std::fmt::Debug for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shard")
            .field("id", &self.id)
            .field("conns", &self.conns.len())
            .finish()
    }
}

impl Shard {
    /// Builds the shard's state on its own thread.
    pub fn new(
        id: ShardId,
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
        let now = Instant::now();
        Ok(Self {
            id,
            fd: socket.as_raw_fd(),
            socket,
            local,
            quic_config,
            identity: Identity::relay_from_seed(&settings.seed),
            auth: settings.auth.clone(),
            rng: StdRng::from_entropy(),
            conns: Slab::new(),
            by_cid: HashMap::new(),
            rooms: RoomTable::new(settings.room_capacity),
            ledger: CacheLedger::new(
                settings.video.keyframe_stream_cap,
                settings.video.keyframe_shard_cap,
            ),
            deadlines: Deadlines::new(),
            counters: ShardCounters::default(),
            rings,
            recv: Some(RecvBatch::default()),
            out: SendBatch::default(),
            dgram_buf: vec![0; 65_536],
            stream_buf: vec![0; 65_536],
            touched: Vec::new(),
            generation: 0,
            next_report: now + settings.counters_interval,
            next_video_tick: now + video::VIDEO_TICK,
            stopping: None,
            settings,
        })
    }

    /// Runs until a Shutdown directive has been carried out.
    pub async fn run(mut self) {
        let mut probe = [0u8; 1];
        loop {
            let now = Instant::now();
            self.fire_deadlines(now);
            self.flush().await;
            if let Some(since) = self.stopping {
                if self.conns.is_empty() || now.duration_since(since) > SHUTDOWN_GRACE {
                    self.report_counters();
                    return;
                }
            }
            let wait = self
                .deadlines
                .earliest()
                .map_or(IDLE_WAIT, |d| d.saturating_duration_since(Instant::now()))
                .min(IDLE_WAIT);
            if wait >= Duration::from_micros(20) && self.socket.set_read_timeout(Some(wait)).is_ok()
            {
                // Readiness only: MSG_PEEK leaves the datagram for the batch read below.
                let _ = self.socket.peek_from(&mut probe).await;
            }
            let now = Instant::now();
            self.drain_socket(now);
            self.drain_peers(now);
            self.drain_directives(now);
            if now >= self.next_video_tick {
                self.next_video_tick = now + video::VIDEO_TICK;
                self.video_tick(now);
            }
            if now >= self.next_report {
                self.next_report = now + self.settings.counters_interval;
                self.report_counters();
            }
        }
    }

    fn drain_socket(&mut self, now: Instant) {
        let Some(mut batch) = self.recv.take() else {
            return;
        };
        for _ in 0..RECV_BATCHES_PER_TURN {
            let n = match batch.recv(self.fd) {
                Ok(n) => n,
                Err(e) => {
                    log::warn!("shard {}: recvmmsg: {e}", self.id.0);
                    0
                }
            };
            for i in 0..n {
                if let Some((data, from)) = batch.get_mut(i) {
                    self.counters.udp_datagrams_in += 1;
                    self.on_datagram(data, from, now, false);
                }
            }
            if n < socket::BATCH {
                break;
            }
        }
        self.recv = Some(batch);
    }

    fn drain_peers(&mut self, now: Instant) {
        for i in 0..self.rings.from_peers.len() {
            while let Some(Ok(Some(mut msg))) = self.rings.from_peers.get(i).map(|r| r.try_pop()) {
                if msg.initial {
                    self.counters.initials_redirected_in += 1;
                }
                self.on_datagram(&mut msg.data, msg.from, now, true);
            }
        }
    }

    fn drain_directives(&mut self, now: Instant) {
        while let Ok(Some(directive)) = self.rings.directives.try_pop() {
            match directive {
                Directive::Shutdown => self.begin_shutdown(now),
                Directive::ReportCounters { generation } => {
                    self.generation = self.generation.max(generation);
                    self.report_counters();
                }
            }
        }
    }

    fn report_counters(&mut self) {
        self.counters.rooms = self.rooms.room_count() as u64;
        self.counters.participants = self.rooms.participant_count() as u64;
        self.counters.event_ring_drops = self.rings.events.dropped();
        let cache = self.ledger.stats;
        self.counters.keyframe_cache_bytes = self.ledger.bytes() as u64;
        self.counters.keyframes_cached = cache.keyframes_cached;
        self.counters.keyframe_partials_discarded = cache.partials_discarded;
        self.counters.keyframes_over_stream_cap = cache.over_stream_cap;
        self.counters.keyframes_over_shard_cap = cache.over_shard_cap;
        let event = ShardEvent::Counters {
            shard: self.id,
            generation: self.generation,
            counters: Box::new(self.counters.clone()),
        };
        self.rings.events.push(event);
    }

    fn mark_touched(&mut self, key: usize) {
        if let Some(c) = self.conns.get_mut(key) {
            if !c.touched {
                c.touched = true;
                self.touched.push(key);
            }
        }
    }

    /// Sends what every touched connection has to send, re-arms its deadline, and reaps the
    /// connections that closed.
    async fn flush(&mut self) {
        let touched = std::mem::take(&mut self.touched);
        for &key in &touched {
            let Some(conn) = self.conns.get_mut(key) else {
                continue;
            };
            conn.touched = false;
            if conn.purpose == conn::Purpose::AwaitingSni {
                // Nothing leaves until the owner shard is known.
                self.deadlines.arm(key, conn.sni_deadline);
                continue;
            }
            conn.flush_signals();
            loop {
                let buf = self.out.reserve();
                match conn.quic.send(buf) {
                    Ok((len, info)) => self.out.commit(len, info.to),
                    Err(quiche::Error::Done) => {
                        self.out.cancel();
                        break;
                    }
                    Err(e) => {
                        self.out.cancel();
                        log::debug!("{}: send failed: {e}", conn.quic.trace_id());
                        let _ = conn.quic.close(false, 0x1, b"internal error");
                        break;
                    }
                }
            }
            let deadline = conn.next_deadline();
            let closed = conn.quic.is_closed();
            if closed {
                self.remove_conn(key);
            } else {
                self.deadlines.arm(key, deadline);
            }
        }
        self.touched = touched;
        self.touched.clear();
        self.send_batch().await;
    }

    async fn send_batch(&mut self) {
        if self.out.is_empty() {
            return;
        }
        let total = self.out.len();
        let mut progress = self.out.send(self.fd, 0);
        // The socket buffer is full: wait for room through io_uring, then batch again.
        while progress.next < total {
            if let Some((data, to)) = self.out.item(progress.next) {
                if self.socket.send_to(data, to).await.is_err() {
                    progress.errors += 1;
                }
            }
            let errors = progress.errors;
            progress = self.out.send(self.fd, progress.next + 1);
            progress.errors += errors;
        }
        self.counters.udp_send_errors += progress.errors;
        self.counters.udp_datagrams_out += total as u64 - progress.errors;
        self.out.clear();
    }
}
