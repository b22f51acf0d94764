//! Values exchanged between shards and the control-plane thread. They cross threads by value
//! through one bounded SPSC ring per shard per direction; a full ring drops and counts.

use crate::codec::CodecId;
use crate::datagram::DropReason;
use crate::framing::FrameError;
use crate::media::QualityReport;
use crate::quality::Tier;
use crate::signal::ViolationCode;
use serde::Serialize;
use std::time::Instant;

/// Conformance tiers with a per-packet check (A-E).
pub const CONFORMANCE_TIERS: usize = 5;

/// Index of a data-plane shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct ShardId(pub u16);

impl ShardId {
    pub fn index(self) -> usize {
        usize::from(self.0)
    }
}

/// A participant, unique across the relay's shards for the life of the process: the shard
/// that serves it in the top 16 bits, a per-shard serial in the low 48. Events to the control
/// plane name participants by this id, and directives from it will address them by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct ParticipantId(u64);

impl ParticipantId {
    const SERIAL_BITS: u32 = 48;

    /// The `serial`-th participant of `shard` (the serial wraps at 2^48).
    pub fn new(shard: ShardId, serial: u64) -> Self {
        let serial = serial & ((1 << Self::SERIAL_BITS) - 1);
        Self((u64::from(shard.0) << Self::SERIAL_BITS) | serial)
    }

    pub fn shard(self) -> ShardId {
        ShardId(u16::try_from(self.0 >> Self::SERIAL_BITS).unwrap_or(u16::MAX))
    }

    pub fn serial(self) -> u64 {
        self.0 & ((1 << Self::SERIAL_BITS) - 1)
    }
}

impl std::fmt::Display for ParticipantId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.shard().0, self.serial())
    }
}

/// Shard -> control plane.
#[derive(Debug, Clone, PartialEq)]
pub enum ShardEvent {
    /// A participant completed the handshake and joined a room owned by `shard`.
    Joined {
        shard: ShardId,
        participant: ParticipantId,
        room: String,
        fingerprint: String,
        participants: u32,
    },
    /// A participant left (closed, timed out, or was hung up).
    Left {
        shard: ShardId,
        participant: ParticipantId,
        room: String,
        fingerprint: String,
        participants: u32,
    },
    /// Cumulative counters, sent about once a second and on request. `generation` is that of
    /// the newest [`Directive::ReportCounters`] the shard had seen.
    Counters {
        shard: ShardId,
        generation: u64,
        counters: Box<ShardCounters>,
    },
    /// What the relay saw of a participant's connection over the last sample interval (at
    /// most one per participant per interval).
    Quality {
        participant: ParticipantId,
        sample: QualitySample,
    },
    /// A participant answered an upgrade proposal.
    UpgradeAnswer {
        participant: ParticipantId,
        proposal_id: u64,
        accepted: bool,
    },
    /// A participant declared the highest tier it can take (QualityCapability).
    Capability {
        participant: ParticipantId,
        max: Tier,
    },
    /// Tier G: the shard hung up a participant for a conformance violation (typed Hangup
    /// PolicyViolation with `code`). The control plane decides the identity's cool-down or
    /// block.
    Violation {
        participant: ParticipantId,
        fingerprint: String,
        code: ViolationCode,
    },
}

/// One participant's connection over one sample interval, as the relay sees it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct QualitySample {
    /// The newest QualityReport trailer the participant sent in the interval: its own view
    /// of its path (loss among what it sent, RTT, jitter, bitrate cap).
    pub report: Option<ReportFigures>,
    /// quiche's figures for the relay's side of the active path.
    pub path: Option<PathFigures>,
}

/// A QualityReport trailer in units.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct ReportFigures {
    pub loss_pct: f32,
    pub rtt_ms: u32,
    pub jitter_ms: u8,
    pub bitrate_cap_kbps: u8,
}

impl From<QualityReport> for ReportFigures {
    fn from(q: QualityReport) -> Self {
        Self {
            loss_pct: q.loss_percent(),
            rtt_ms: q.rtt_ms(),
            jitter_ms: q.jitter_ms,
            bitrate_cap_kbps: q.bitrate_cap_kbps,
        }
    }
}

/// quiche's path statistics over one interval: packets the relay sent to the participant and
/// how many of them quiche declared lost, the smoothed RTT, and the delivery rate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PathFigures {
    pub rtt_ms: u32,
    pub sent: u32,
    pub lost: u32,
    pub delivery_rate_kbps: u32,
}

impl PathFigures {
    /// Lost among sent, in percent; `None` when fewer than `min_sent` packets went out (a
    /// handful of packets says nothing about a path).
    pub fn loss_pct(&self, min_sent: u32) -> Option<f32> {
        (self.sent >= min_sent.max(1)).then(|| self.lost as f32 * 100.0 / self.sent as f32)
    }
}

/// Control plane -> shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Directive {
    /// Close every connection (Hangup Normal), then stop the shard loop.
    Shutdown,
    /// Send counters now, tagged with this generation.
    ReportCounters { generation: u64 },
    /// Quality signals for participants of one room (the shard that owns the room).
    Quality(Box<QualityOrder>),
    /// Tier G: refuse this identity's joins until `ban.until` (every shard).
    Ban(Box<Ban>),
}

/// An identity the relay refuses for a while, after a conformance hang-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ban {
    pub fingerprint: String,
    pub code: ViolationCode,
    pub kind: BanKind,
    pub until: Instant,
}

/// How long, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum BanKind {
    /// The first hang-up: the identity waits out the cool-down.
    Cooldown,
    /// Hung up again during its cool-down: blocked for the (longer) block time.
    Blocked,
}

/// One decision of the quality judge for one room: at most one signal per participant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QualityOrder {
    pub room: String,
    pub signals: Vec<(ParticipantId, QualitySignal)>,
}

/// What the owner shard sends one participant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum QualitySignal {
    /// `QualityDirective`: encode at `tier` now.
    Directive { tier: Tier, reason: DirectiveReason },
    /// `UpgradeProposal`: may the participant move up to `tier`?
    Proposal { proposal_id: u64, tier: Tier },
    /// `UpgradeConfirm`: everyone accepted; move to `tier` now.
    Confirm { proposal_id: u64, tier: Tier },
}

/// Why a QualityDirective was sent; becomes its `reason` text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum DirectiveReason {
    /// The room's weakest link sets everyone's tier (reference 3.5's reason text).
    WeakestLink,
    /// Per-sender policy: the weakest receiver of this participant's media sets its tier.
    WeakestReceiver,
    /// A negotiated upgrade, told to a participant that does not take part in negotiation.
    Upgrade,
    /// A joiner is told the tier the room is at.
    RoomTier,
}

impl DirectiveReason {
    /// The directive's `reason` text.
    pub fn text(self, tier: Tier) -> String {
        match self {
            Self::WeakestLink => format!("weakest link: {tier}"),
            Self::WeakestReceiver => format!("weakest receiver: {tier}"),
            Self::Upgrade => format!("coordinated upgrade: {tier}"),
            Self::RoomTier => format!("room tier: {tier}"),
        }
    }
}

/// Cumulative per-shard counters. Plain integers owned by one shard; copied out by value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ShardCounters {
    pub udp_datagrams_in: u64,
    pub udp_datagrams_out: u64,
    pub udp_send_errors: u64,
    /// QUIC packets that reached a shard without a connection and were not an Initial.
    pub unknown_connection_packets: u64,
    /// Initial datagrams this shard received for a room another shard owns, and passed on.
    pub initials_redirected_out: u64,
    /// Initial datagrams another shard passed to this one.
    pub initials_redirected_in: u64,
    /// Connections forgotten before their ClientHello completed: the handshake deadline
    /// passed, too many Initials came without completing it, or quiche refused the Initial.
    pub initials_abandoned: u64,
    /// Packets passed on because they still carried an ID of another shard.
    pub packets_passed_on: u64,
    /// Cross-shard messages dropped because the target's inbox was full.
    pub inbox_full_drops: u64,
    pub connections_accepted: u64,
    pub connections_closed: u64,
    pub handshakes_completed: u64,
    pub handshakes_rejected: u64,
    pub auth_rejected: u64,
    pub version_rejected: u64,
    pub signature_rejected: u64,
    pub room_full_rejected: u64,
    pub media_datagrams_in: u64,
    /// Copies queued to receivers (one per receiver per forwarded datagram).
    pub media_datagrams_forwarded: u64,
    pub media_bytes_forwarded: u64,
    /// Media datagrams that left in a packet (queued copies, replays included, once sent).
    pub media_datagrams_sent: u64,
    /// Copies dropped because a receiver's datagram queue was full.
    pub forward_queue_full: u64,
    pub media_dropped: [u64; DropReason::COUNT],
    pub signal_messages_in: u64,
    pub signal_messages_out: u64,
    pub signal_frame_errors: [u64; FrameError::COUNT],
    pub signal_send_queue_full: u64,
    /// Bytes held by the shard's keyframe caches now (pending frames included); a gauge.
    pub keyframe_cache_bytes: u64,
    /// Keyframes completed and cached (each replaces the stream's previous one).
    pub keyframes_cached: u64,
    /// Incomplete keyframes thrown away (a non-keyframe packet or a new keyframe came first).
    pub keyframe_partials_discarded: u64,
    /// Keyframes refused for exceeding the per-stream cap.
    pub keyframes_over_stream_cap: u64,
    /// Keyframes refused because the shard's caches were full.
    pub keyframes_over_shard_cap: u64,
    /// Cached keyframes sent to a joiner (one per stream per joiner).
    pub keyframe_replays: u64,
    /// Packets of those replays queued.
    pub keyframe_replay_packets: u64,
    /// Replay packets the joiner's datagram queue refused.
    pub keyframe_replay_dropped: u64,
    /// PictureLossIndication messages received from participants.
    pub pli_received: u64,
    /// PLIs sent to stream owners (from receivers, joiners and layer switches).
    pub pli_forwarded: u64,
    /// PLIs collapsed into one already sent within the dedup window.
    pub pli_suppressed: u64,
    /// PLIs dropped because the requester exceeded its rate.
    pub pli_flood_dropped: u64,
    /// PLIs for a stream nobody in the room publishes.
    pub pli_no_owner: u64,
    /// Simulcast switches carried out (at a keyframe of the new layer).
    pub layer_switches: u64,
    /// Copies not sent because the receiver gets another simulcast layer.
    pub layer_filtered: u64,
    /// Events dropped because the ring to the control plane was full.
    pub event_ring_drops: u64,
    /// QualityReport trailers read from participants' media.
    pub quality_reports_in: u64,
    /// Quality samples queued for the control plane (one per participant per interval).
    pub quality_samples: u64,
    /// Quality samples the full ring to the control plane refused (also in event_ring_drops).
    pub quality_samples_dropped: u64,
    /// QualityDirective messages sent.
    pub quality_directives_sent: u64,
    pub upgrade_proposals_sent: u64,
    pub upgrade_confirms_sent: u64,
    /// UpgradeResponse messages received.
    pub upgrade_answers_in: u64,
    /// QualityCapability messages received (with a codec on the ladder).
    pub quality_capabilities_in: u64,
    /// Quality signals for participants that had left, or were not in the named room.
    pub quality_signals_stale: u64,
    /// Conformance violations (tiers not off) per codec (index of `CodecId::ALL`), per tier
    /// A-E.
    pub conformance_violations: [[u64; CONFORMANCE_TIERS]; CodecId::ALL.len()],
    /// Packets dropped by an enforcing tier.
    pub conformance_dropped: u64,
    /// Media not metered: data and control streams, mini frames before any full header.
    pub conformance_unmetered: u64,
    /// Tier F: the once-a-second audio legitimacy scores of joined senders, by tenth
    /// (bucket 9 holds 0.9 to 1.0).
    pub conformance_scores: [u64; 10],
    /// Tier F: senders whose sustained verdict is Suspect / Abusive now (gauges).
    pub conformance_suspect: u64,
    pub conformance_abusive: u64,
    /// Tier G: participants hung up with PolicyViolation, per `ViolationCode::ALL` index.
    pub conformance_hangups: [u64; ViolationCode::ALL.len()],
    /// Tier G: packets of Suspect senders dropped by their tighter rate cap.
    pub conformance_throttled: u64,
    /// Tier G: joins refused (typed Hangup) because the identity is cooling down or blocked.
    pub joins_refused_banned: u64,
    /// CallOffers refused because their alias was longer than the relay takes.
    pub alias_rejected: u64,
    /// Older connections replaced by a newer one of the same identity in the same room.
    pub connections_replaced: u64,
    /// Initials (and unknown-version packets) dropped for coming in a datagram under 1,200 B.
    pub initials_too_small: u64,
    /// Retry packets sent (address validation; no state kept).
    pub retries_sent: u64,
    /// Initials whose Retry token was not this relay's (forged, altered, or from before a restart).
    pub tokens_forged: u64,
    /// Initials whose genuine Retry token was minted for another address.
    pub tokens_wrong_address: u64,
    /// Initials whose genuine Retry token was past its lifetime.
    pub tokens_expired: u64,
    /// Initials dropped because the shard held `max_half_open` half-open connections.
    pub initials_refused_shard_full: u64,
    /// Initials dropped because their source IP held its half-open share of the shard.
    pub initials_refused_source_full: u64,
    /// Connections whose QUIC handshake has not completed (gauge).
    pub half_open: u64,
    /// Version Negotiation packets sent.
    pub version_negotiations_sent: u64,
    /// Version Negotiation packets not sent: the shard's rate was spent (or its queue full).
    pub version_negotiations_limited: u64,
    /// Stateless resets sent for packets to connection IDs this relay no longer knows.
    pub stateless_resets_sent: u64,
    /// Stateless resets not sent: the shard's rate was spent (or its queue full).
    pub stateless_resets_limited: u64,
    /// Queued datagrams dropped, oldest first, to keep a receiver's queue under its byte bound.
    pub datagrams_purged: u64,
    /// Signal streams stopped for going over the connection's budget (half-read streams or bytes of unfinished frames).
    pub signal_streams_over_budget: u64,
    /// Unfinished signal frames given up at their deadline (slow-loris streams).
    pub signal_frames_abandoned: u64,
    /// Keyframes refused because their room's caches were at the room share.
    pub keyframes_over_room_share: u64,
    /// Keyframes refused because their sender's streams were at the sender share.
    pub keyframes_over_sender_share: u64,
    /// Keyframe packets of a media type or stream id that cannot carry video (no slot opened).
    pub keyframe_slots_refused: u64,
    /// Tier G: identities this shard refuses now (gauge).
    pub bans_held: u64,
    /// Tier G: bans not held because the shard's list was full (the soonest to expire went).
    pub bans_evicted: u64,
    pub rooms: u64,
    pub participants: u64,
}

impl ShardCounters {
    pub fn media_dropped_total(&self) -> u64 {
        self.media_dropped.iter().sum()
    }

    /// Conformance violations of every codec and tier.
    pub fn conformance_violations_total(&self) -> u64 {
        self.conformance_violations.iter().flatten().sum()
    }

    /// Adds every field of `other` into `self` (for relay-wide aggregates). The destructuring
    /// is exhaustive, so a new counter cannot be left out of the sum.
    pub fn accumulate(&mut self, other: &ShardCounters) {
        let ShardCounters {
            udp_datagrams_in,
            udp_datagrams_out,
            udp_send_errors,
            unknown_connection_packets,
            initials_redirected_out,
            initials_redirected_in,
            initials_abandoned,
            packets_passed_on,
            inbox_full_drops,
            connections_accepted,
            connections_closed,
            handshakes_completed,
            handshakes_rejected,
            auth_rejected,
            version_rejected,
            signature_rejected,
            room_full_rejected,
            media_datagrams_in,
            media_datagrams_forwarded,
            media_bytes_forwarded,
            media_datagrams_sent,
            forward_queue_full,
            media_dropped,
            signal_messages_in,
            signal_messages_out,
            signal_frame_errors,
            signal_send_queue_full,
            keyframe_cache_bytes,
            keyframes_cached,
            keyframe_partials_discarded,
            keyframes_over_stream_cap,
            keyframes_over_shard_cap,
            keyframe_replays,
            keyframe_replay_packets,
            keyframe_replay_dropped,
            pli_received,
            pli_forwarded,
            pli_suppressed,
            pli_flood_dropped,
            pli_no_owner,
            layer_switches,
            layer_filtered,
            event_ring_drops,
            quality_reports_in,
            quality_samples,
            quality_samples_dropped,
            quality_directives_sent,
            upgrade_proposals_sent,
            upgrade_confirms_sent,
            upgrade_answers_in,
            quality_capabilities_in,
            quality_signals_stale,
            conformance_violations,
            conformance_dropped,
            conformance_unmetered,
            conformance_scores,
            conformance_suspect,
            conformance_abusive,
            conformance_hangups,
            conformance_throttled,
            joins_refused_banned,
            alias_rejected,
            connections_replaced,
            initials_too_small,
            keyframes_over_room_share,
            keyframes_over_sender_share,
            keyframe_slots_refused,
            signal_streams_over_budget,
            signal_frames_abandoned,
            datagrams_purged,
            retries_sent,
            tokens_forged,
            tokens_wrong_address,
            tokens_expired,
            initials_refused_shard_full,
            initials_refused_source_full,
            half_open,
            version_negotiations_sent,
            version_negotiations_limited,
            stateless_resets_sent,
            stateless_resets_limited,
            bans_held,
            bans_evicted,
            rooms,
            participants,
        } = other;
        self.udp_datagrams_in += udp_datagrams_in;
        self.udp_datagrams_out += udp_datagrams_out;
        self.udp_send_errors += udp_send_errors;
        self.unknown_connection_packets += unknown_connection_packets;
        self.initials_redirected_out += initials_redirected_out;
        self.initials_redirected_in += initials_redirected_in;
        self.initials_abandoned += initials_abandoned;
        self.packets_passed_on += packets_passed_on;
        self.inbox_full_drops += inbox_full_drops;
        self.connections_accepted += connections_accepted;
        self.connections_closed += connections_closed;
        self.handshakes_completed += handshakes_completed;
        self.handshakes_rejected += handshakes_rejected;
        self.auth_rejected += auth_rejected;
        self.version_rejected += version_rejected;
        self.signature_rejected += signature_rejected;
        self.room_full_rejected += room_full_rejected;
        self.media_datagrams_in += media_datagrams_in;
        self.media_datagrams_forwarded += media_datagrams_forwarded;
        self.media_bytes_forwarded += media_bytes_forwarded;
        self.media_datagrams_sent += media_datagrams_sent;
        self.forward_queue_full += forward_queue_full;
        self.signal_messages_in += signal_messages_in;
        self.signal_messages_out += signal_messages_out;
        self.signal_send_queue_full += signal_send_queue_full;
        self.keyframe_cache_bytes += keyframe_cache_bytes;
        self.keyframes_cached += keyframes_cached;
        self.keyframe_partials_discarded += keyframe_partials_discarded;
        self.keyframes_over_stream_cap += keyframes_over_stream_cap;
        self.keyframes_over_shard_cap += keyframes_over_shard_cap;
        self.keyframe_replays += keyframe_replays;
        self.keyframe_replay_packets += keyframe_replay_packets;
        self.keyframe_replay_dropped += keyframe_replay_dropped;
        self.pli_received += pli_received;
        self.pli_forwarded += pli_forwarded;
        self.pli_suppressed += pli_suppressed;
        self.pli_flood_dropped += pli_flood_dropped;
        self.pli_no_owner += pli_no_owner;
        self.layer_switches += layer_switches;
        self.layer_filtered += layer_filtered;
        self.event_ring_drops += event_ring_drops;
        self.quality_reports_in += quality_reports_in;
        self.quality_samples += quality_samples;
        self.quality_samples_dropped += quality_samples_dropped;
        self.quality_directives_sent += quality_directives_sent;
        self.upgrade_proposals_sent += upgrade_proposals_sent;
        self.upgrade_confirms_sent += upgrade_confirms_sent;
        self.upgrade_answers_in += upgrade_answers_in;
        self.quality_capabilities_in += quality_capabilities_in;
        self.quality_signals_stale += quality_signals_stale;
        self.conformance_dropped += conformance_dropped;
        self.conformance_unmetered += conformance_unmetered;
        self.conformance_suspect += conformance_suspect;
        self.conformance_abusive += conformance_abusive;
        for (a, b) in self
            .conformance_hangups
            .iter_mut()
            .zip(conformance_hangups.iter())
        {
            *a += b;
        }
        self.conformance_throttled += conformance_throttled;
        self.joins_refused_banned += joins_refused_banned;
        self.alias_rejected += alias_rejected;
        self.connections_replaced += connections_replaced;
        self.initials_too_small += initials_too_small;
        self.keyframes_over_room_share += keyframes_over_room_share;
        self.keyframes_over_sender_share += keyframes_over_sender_share;
        self.keyframe_slots_refused += keyframe_slots_refused;
        self.signal_streams_over_budget += signal_streams_over_budget;
        self.signal_frames_abandoned += signal_frames_abandoned;
        self.datagrams_purged += datagrams_purged;
        self.retries_sent += retries_sent;
        self.tokens_forged += tokens_forged;
        self.tokens_wrong_address += tokens_wrong_address;
        self.tokens_expired += tokens_expired;
        self.initials_refused_shard_full += initials_refused_shard_full;
        self.initials_refused_source_full += initials_refused_source_full;
        self.half_open += half_open;
        self.version_negotiations_sent += version_negotiations_sent;
        self.version_negotiations_limited += version_negotiations_limited;
        self.stateless_resets_sent += stateless_resets_sent;
        self.stateless_resets_limited += stateless_resets_limited;
        self.bans_held += bans_held;
        self.bans_evicted += bans_evicted;
        for (a, b) in self
            .conformance_scores
            .iter_mut()
            .zip(conformance_scores.iter())
        {
            *a += b;
        }
        for (mine, theirs) in self
            .conformance_violations
            .iter_mut()
            .zip(conformance_violations.iter())
        {
            for (a, b) in mine.iter_mut().zip(theirs.iter()) {
                *a += b;
            }
        }
        self.rooms += rooms;
        self.participants += participants;
        for (a, b) in self.media_dropped.iter_mut().zip(media_dropped.iter()) {
            *a += b;
        }
        for (a, b) in self
            .signal_frame_errors
            .iter_mut()
            .zip(signal_frame_errors.iter())
        {
            *a += b;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn participant_ids_name_their_shard_and_serial() {
        let id = ParticipantId::new(ShardId(3), 41);
        assert_eq!((id.shard(), id.serial()), (ShardId(3), 41));
        assert_eq!(id.to_string(), "3.41");
        assert_ne!(id, ParticipantId::new(ShardId(2), 41));
        let wrapped = ParticipantId::new(ShardId(1), (1 << 48) + 5);
        assert_eq!((wrapped.shard(), wrapped.serial()), (ShardId(1), 5));
        let last = ParticipantId::new(ShardId(u16::MAX), u64::MAX);
        assert_eq!(last.shard(), ShardId(u16::MAX));
    }

    #[test]
    fn path_loss_needs_enough_packets() {
        let p = PathFigures {
            rtt_ms: 20,
            sent: 200,
            lost: 20,
            delivery_rate_kbps: 0,
        };
        assert_eq!(p.loss_pct(20), Some(10.0));
        assert_eq!(p.loss_pct(201), None);
        let idle = PathFigures::default();
        assert_eq!(idle.loss_pct(0), None, "nothing sent says nothing");
    }

    #[test]
    fn report_figures_are_in_units() {
        let r = ReportFigures::from(QualityReport {
            loss: 255,
            rtt_4ms: 25,
            jitter_ms: 7,
            bitrate_cap_kbps: 200,
        });
        assert_eq!((r.loss_pct, r.rtt_ms, r.jitter_ms), (100.0, 100, 7));
        assert_eq!(
            DirectiveReason::WeakestLink.text(Tier::Degraded),
            "weakest link: Degraded"
        );
    }

    #[test]
    fn accumulate_adds_every_field() {
        let mut a = ShardCounters {
            media_datagrams_forwarded: 3,
            rooms: 1,
            ..Default::default()
        };
        a.media_dropped[DropReason::TooShort.index()] = 2;
        a.conformance_violations[3][1] = 4;
        let mut b = a.clone();
        b.signal_frame_errors[FrameError::Oversized.index()] = 5;
        a.accumulate(&b);
        assert_eq!(a.media_datagrams_forwarded, 6);
        assert_eq!(a.rooms, 2);
        assert_eq!(a.media_dropped_total(), 4);
        assert_eq!(a.signal_frame_errors[FrameError::Oversized.index()], 5);
        assert_eq!(a.conformance_violations[3][1], 8);
        assert_eq!(a.conformance_violations_total(), 8);
    }
}
