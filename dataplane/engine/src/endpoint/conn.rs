//! The endpoint's connections: each quiche connection with its lifecycle phase and signal
//! streams, and the table that finds them by connection ID, remembers which were touched since
//! the last flush, and keeps one deadline per connection.

use super::lifecycle::Phase;
use super::path::PathSample;
use super::quality::QualityMeter;
use crate::admission::HalfOpen;
use crate::conformance::SenderConformance;
use crate::deadlines::Deadlines;
use crate::signal_streams::{Limits, SignalStreams};
use slab::Slab;
use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Instant;
use switchyard_proto::control::ShardCounters;
use switchyard_proto::signal::SignalMessage;

/// Signal streams a joined participant may have half-read at once (and the most quiche lets
/// it open).
pub const MAX_OPEN_SIGNAL_STREAMS: usize = 8;
/// Signal messages one connection may have waiting; one more is dropped and counted.
pub const SIGNAL_QUEUE_CAP: usize = 64;
/// What a connection may hold of unfinished signal frames before it has joined: enough for
/// an AuthToken and a CallOffer with the longest alias, in flight together.
pub const SIGNAL_BEFORE_JOIN: Limits = Limits {
    open_readers: 2,
    buffered_bytes: 16 * 1024,
    queued: SIGNAL_QUEUE_CAP,
};
/// ... and once joined.
pub const SIGNAL_AFTER_JOIN: Limits = Limits {
    open_readers: MAX_OPEN_SIGNAL_STREAMS,
    buffered_bytes: 64 * 1024,
    queued: SIGNAL_QUEUE_CAP,
};

/// A connection's slot in its endpoint; valid until the connection is removed, then reused.
/// Other threads name participants by [`switchyard_proto::control::ParticipantId`] instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnKey(usize);

impl ConnKey {
    pub fn index(self) -> usize {
        self.0
    }
}

pub(crate) struct Conn {
    pub quic: quiche::Connection,
    pub phase: Phase,
    pub signals: SignalStreams,
    /// Connection IDs that map to this connection: the one the relay issued and the one the
    /// client chose for its first Initial.
    pub cids: [quiche::ConnectionId<'static>; 2],
    touched: bool,
    /// quiche's counts at the previous bandwidth estimate.
    pub path: PathSample,
    /// What the quality sampler has gathered since its previous sample.
    pub quality: QualityMeter,
    /// Tiers A-E of what this participant sends.
    pub conformance: SenderConformance,
    /// Until the handshake completes on a connection that came without a Retry token: what
    /// the relay received from the peer and sent it, to hold the anti-amplification limit.
    pub amplification: Option<Amplification>,
    /// When the oldest of the peer's unfinished signal frames must be finished by.
    pub partial_frame_deadline: Option<Instant>,
    /// The source IP whose half-open share this connection holds, until its handshake
    /// completes or it goes.
    half_open_ip: Option<IpAddr>,
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn")
            .field("trace_id", &self.quic.trace_id())
            .field("phase", &self.phase)
            .finish()
    }
}

impl Conn {
    pub fn new(
        quic: quiche::Connection,
        phase: Phase,
        cids: [quiche::ConnectionId<'static>; 2],
    ) -> Self {
        Self {
            quic,
            phase,
            signals: SignalStreams::server(SIGNAL_BEFORE_JOIN),
            cids,
            touched: false,
            path: PathSample::default(),
            quality: QualityMeter::default(),
            conformance: SenderConformance::default(),
            half_open_ip: None,
            partial_frame_deadline: None,
            amplification: None,
        }
    }

    /// Counts the connection as half-open for `ip` once the table takes it.
    pub fn half_open_from(mut self, ip: IpAddr) -> Self {
        self.half_open_ip = Some(ip);
        self
    }

    /// The earliest time something must happen on this connection.
    pub fn next_deadline(&self) -> Option<Instant> {
        [
            self.quic.timeout_instant(),
            self.phase.deadline(),
            self.partial_frame_deadline,
        ]
        .into_iter()
        .flatten()
        .min()
    }
}

/// Bytes received from and sent to a peer whose address is not validated yet.
///
/// quiche holds the limit itself, but does not charge the padding it adds to a datagram that
/// carries an Initial (up to 1,200 bytes) against it, so its retransmissions can pass 3x
/// (found by `tests/tests/amplification.rs`). The endpoint gives quiche no more room than the
/// limit leaves.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Amplification {
    pub received: usize,
    pub sent: usize,
}

impl Amplification {
    /// RFC 9000 8.1.
    pub const FACTOR: usize = 3;

    /// Bytes the relay may still send.
    pub fn budget(&self) -> usize {
        (Self::FACTOR * self.received).saturating_sub(self.sent)
    }
}

/// Every connection of the endpoint.
#[derive(Debug, Default)]
pub(crate) struct Connections {
    slab: Slab<Conn>,
    by_cid: HashMap<quiche::ConnectionId<'static>, ConnKey>,
    touched: Vec<ConnKey>,
    deadlines: Deadlines<ConnKey>,
    /// Connections whose handshake has not completed, by source IP.
    pub half_open: HalfOpen,
    /// Bytes one connection's outgoing datagram queue holds at most; 0 until configured.
    datagram_queue_bytes: usize,
    /// Queued datagrams dropped, oldest first, to make room under that bound.
    pub datagrams_purged: u64,
}

impl Connections {
    pub fn len(&self) -> usize {
        self.slab.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slab.is_empty()
    }

    pub fn keys(&self) -> Vec<ConnKey> {
        self.slab.iter().map(|(k, _)| ConnKey(k)).collect()
    }

    pub fn get(&self, key: ConnKey) -> Option<&Conn> {
        self.slab.get(key.0)
    }

    pub fn get_mut(&mut self, key: ConnKey) -> Option<&mut Conn> {
        self.slab.get_mut(key.0)
    }

    /// The connection a packet's destination connection ID names.
    pub fn lookup(&self, dcid: &quiche::ConnectionId<'static>) -> Option<ConnKey> {
        self.by_cid.get(dcid).copied()
    }

    pub fn insert(&mut self, conn: Conn) -> ConnKey {
        let cids = conn.cids.clone();
        if let Some(ip) = conn.half_open_ip {
            self.half_open.open(ip);
        }
        let key = ConnKey(self.slab.insert(conn));
        for cid in cids {
            self.by_cid.insert(cid, key);
        }
        key
    }

    /// Removes a connection, its deadline and every ID that maps to it.
    pub fn remove(&mut self, key: ConnKey) -> Option<Conn> {
        self.deadlines.arm(key, None);
        let conn = self.slab.try_remove(key.0)?;
        if let Some(ip) = conn.half_open_ip {
            self.half_open.close(ip);
        }
        for cid in &conn.cids {
            if self.by_cid.get(cid) == Some(&key) {
                self.by_cid.remove(cid);
            }
        }
        Some(conn)
    }

    /// The connection's handshake completed: it no longer counts as half-open.
    pub fn settle(&mut self, key: ConnKey) {
        if let Some(ip) = self.slab.get_mut(key.0).and_then(|c| c.half_open_ip.take()) {
            self.half_open.close(ip);
        }
    }

    /// Marks `key` to be flushed at the next [`super::Endpoint::poll_transmits`].
    pub fn touch(&mut self, key: ConnKey) {
        if let Some(c) = self.slab.get_mut(key.0) {
            if !c.touched {
                c.touched = true;
                self.touched.push(key);
            }
        }
    }

    /// The connections touched since the last call, in the order they were touched; they are
    /// no longer marked. `into` is cleared first (the caller reuses it).
    pub fn take_touched(&mut self, into: &mut Vec<ConnKey>) {
        into.clear();
        std::mem::swap(into, &mut self.touched);
        for key in into.iter() {
            if let Some(c) = self.slab.get_mut(key.0) {
                c.touched = false;
            }
        }
    }

    /// Bounds every connection's outgoing datagram queue to `bytes`.
    pub fn set_datagram_queue_bytes(&mut self, bytes: usize) {
        self.datagram_queue_bytes = bytes;
    }

    /// Queues a media datagram to `key` and marks it touched; `false` when its queue (or
    /// the connection) refuses it. A receiver that falls behind (its queue would pass its
    /// byte bound) loses its oldest queued media first: what it has not been sent yet is the
    /// stalest, and late media is worth less than current.
    pub fn queue_datagram(&mut self, key: ConnKey, datagram: &[u8]) -> bool {
        let Some(conn) = self.slab.get_mut(key.0) else {
            return false;
        };
        let bound = self.datagram_queue_bytes;
        if bound > 0 && datagram.len() <= bound {
            let queued = conn.quic.dgram_send_queue_byte_size();
            if queued + datagram.len() > bound {
                let before = conn.quic.dgram_send_queue_len();
                let excess = std::cell::Cell::new(queued + datagram.len() - bound);
                conn.quic.dgram_purge_outgoing(|d: &[u8]| {
                    let left = excess.get();
                    excess.set(left.saturating_sub(d.len()));
                    left > 0
                });
                let purged = before.saturating_sub(conn.quic.dgram_send_queue_len());
                self.datagrams_purged += purged as u64;
            }
        }
        if conn.quic.dgram_send(datagram).is_err() {
            return false;
        }
        self.touch(key);
        true
    }

    /// Queues a signal message to `key`, counts it, and marks the connection touched.
    pub fn send_signal(
        &mut self,
        key: ConnKey,
        message: &SignalMessage,
        counters: &mut ShardCounters,
    ) {
        let Some(conn) = self.slab.get_mut(key.0) else {
            return;
        };
        match conn.signals.queue(message) {
            Ok(()) => counters.signal_messages_out += 1,
            Err(_) => counters.signal_send_queue_full += 1,
        }
        self.touch(key);
    }

    pub fn arm(&mut self, key: ConnKey, at: Option<Instant>) {
        self.deadlines.arm(key, at);
    }

    pub fn pop_expired(&mut self, now: Instant) -> Option<ConnKey> {
        self.deadlines.pop_expired(now)
    }

    pub fn earliest_deadline(&mut self) -> Option<Instant> {
        self.deadlines.earliest()
    }
}
