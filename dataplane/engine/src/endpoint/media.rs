//! Media: the rooms of this endpoint and what they do with datagrams and video requests.
//!
//! - Forward: every datagram a participant sends is metered by Tiers A-E (an enforcing tier
//!   drops it, counted, and Tier G hangs the sender up; a Suspect sender's packets over its
//!   tighter bucket are dropped, counted) and goes, byte-identical, to every other member of
//!   its room that takes its simulcast layer; the room's keyframe cache and stream registry
//!   see it first, once ([`crate::forward::forward_packet`]). A receiver whose quiche queue is
//!   full loses that copy, counted.
//! - Replay: a joiner gets each publisher's cached video keyframe (its chosen layer of a
//!   simulcast publisher) before any live packet, and the publishers of streams with no cached
//!   keyframe are asked for one.
//! - PLI routing: a receiver's PictureLossIndication goes only to the publisher(s) of that
//!   stream, through the room's dedup and flood gate.
//! - Video tick: receivers' path estimates feed layer selection; layer switches still waiting
//!   for a keyframe ask for one.

use super::config::VideoSettings;
use super::conn::{ConnKey, Connections};
use super::path::estimate;
use crate::conformance::{Check, ConformanceConfig};
use crate::forward::{forward_packet, Packet};
use crate::keyframes::{CacheLedger, StreamKey};
use crate::layers::{LateKeyframe, Layer};
use crate::pli::PliVerdict;
use crate::rooms::{RoomId, RoomTable};
use std::time::{Duration, Instant};
use switchyard_proto::codec::MediaType;
use switchyard_proto::control::ShardCounters;
use switchyard_proto::datagram::{DropReason, InboundDatagram};
use switchyard_proto::signal::{default_signal_version, SignalMessage, ViolationCode};

/// How often estimates are sampled and overdue switches checked.
pub const VIDEO_TICK: Duration = Duration::from_millis(100);

/// One keyframe request: `requester` wants a keyframe of `stream_id` from `owner`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct KeyframeRequest {
    room: RoomId,
    requester: ConnKey,
    owner: ConnKey,
    stream_id: u8,
}

/// The rooms owned by this endpoint, with the shard-wide keyframe ledger and video policy.
#[derive(Debug)]
pub(crate) struct Rooms {
    pub table: RoomTable<ConnKey>,
    /// Bytes and counts of every room's keyframe cache on this shard.
    pub ledger: CacheLedger,
    video: VideoSettings,
    conformance: ConformanceConfig,
    /// Scratch for the video tick.
    late: Vec<(RoomId, LateKeyframe<ConnKey>)>,
}

impl Rooms {
    pub fn new(room_capacity: usize, video: VideoSettings, conformance: ConformanceConfig) -> Self {
        Self {
            table: RoomTable::new(room_capacity),
            ledger: CacheLedger::new(video.keyframe_stream_cap, video.keyframe_shard_cap)
                .with_shares(video.keyframe_room_share, video.keyframe_sender_share),
            video,
            conformance,
            late: Vec::new(),
        }
    }

    /// Forwards every datagram `sender` has received to the rest of its room. Stops at a
    /// packet an enforcing tier failed (dropped) and returns its code: Tier G hangs the
    /// sender up.
    pub fn forward_from(
        &mut self,
        conns: &mut Connections,
        counters: &mut ShardCounters,
        sender: ConnKey,
        buf: &mut [u8],
        now: Instant,
    ) -> Option<ViolationCode> {
        let policy = &self.video.layers;
        loop {
            let conn = conns.get_mut(sender)?;
            let Ok(len) = conn.quic.dgram_recv(buf) else {
                return None;
            };
            let room = conn.phase.member().map(|m| m.room);
            counters.media_datagrams_in += 1;
            let data = buf.get(..len).unwrap_or_default();
            let inbound = match InboundDatagram::parse(data) {
                Ok(d) => d,
                Err(reason) => {
                    counters.media_dropped[reason.index()] += 1;
                    continue;
                }
            };
            if let Some(report) = inbound.packet().and_then(|p| p.quality) {
                counters.quality_reports_in += 1;
                conn.quality.on_report(report);
            }
            if room.is_some() && !self.conformance.is_off() {
                match conn.conformance.check(now, &inbound, &self.conformance) {
                    Check::Unmetered => counters.conformance_unmetered += 1,
                    Check::Metered {
                        codec,
                        flagged,
                        enforced,
                        throttled,
                    } => {
                        if let Some(row) = counters.conformance_violations.get_mut(codec.index()) {
                            for tier in flagged.iter() {
                                if let Some(n) = row.get_mut(tier.index()) {
                                    *n += 1;
                                }
                            }
                        }
                        if let Some(tier) = enforced {
                            counters.conformance_dropped += 1;
                            return Some(tier.code());
                        }
                        if throttled {
                            counters.conformance_throttled += 1;
                            continue;
                        }
                    }
                }
            }
            let Some((members, media)) = room.and_then(|r| self.table.split_mut(r)) else {
                counters.media_dropped[DropReason::NotJoined.index()] += 1;
                continue;
            };
            let packet = Packet {
                sender,
                header: inbound.packet().map(|p| &p.header),
                datagram: data,
                now,
            };
            let forwarded = forward_packet(members, media, &mut self.ledger, policy, packet, |r| {
                conns.queue_datagram(r, data)
            });
            let out = forwarded.fan_out;
            counters.layer_switches += u64::from(forwarded.layer_switches);
            counters.media_datagrams_forwarded += u64::from(out.queued);
            counters.media_bytes_forwarded += u64::from(out.queued) * len as u64;
            counters.forward_queue_full += u64::from(out.dropped);
            counters.layer_filtered += u64::from(out.skipped);
        }
    }

    /// Sends the joiner, for every publisher in the room, each video stream's cached keyframe
    /// (for a simulcast publisher: only the layer chosen for the joiner), and asks the
    /// publisher of every stream that has none for one. Runs before any live packet can reach
    /// the joiner, so the replay comes first on its datagram queue.
    pub fn replay_to_joiner(
        &mut self,
        conns: &mut Connections,
        counters: &mut ShardCounters,
        joiner: ConnKey,
        room: RoomId,
        now: Instant,
    ) {
        let policy = self.video.layers;
        let initial = conns.get_mut(joiner).map_or(Layer::Low, |c| {
            Layer::for_estimate(estimate(&c.quic, &mut c.path), &policy)
        });
        let Some((members, media)) = self.table.split_mut(room) else {
            return;
        };
        media.simulcast.join(joiner, initial);
        let mut missing = Vec::new();
        for publisher in members.iter().map(|m| m.key).filter(|k| *k != joiner) {
            let start = media
                .simulcast
                .starting_layer(publisher, joiner, now, &policy);
            for stream_id in media.simulcast.video_streams(publisher) {
                let other_layer =
                    start.is_some_and(|l| Layer::from_stream_id(stream_id).is_some_and(|s| s != l));
                if other_layer {
                    continue;
                }
                let stream = StreamKey {
                    sender: publisher,
                    media_type: MediaType::Video,
                    stream_id,
                };
                let Some(packets) = media.keyframes.cached(&stream) else {
                    missing.push((publisher, stream_id));
                    continue;
                };
                counters.keyframe_replays += 1;
                for packet in packets {
                    if conns.queue_datagram(joiner, packet) {
                        counters.keyframe_replay_packets += 1;
                    } else {
                        counters.keyframe_replay_dropped += 1;
                    }
                }
            }
        }
        for (owner, stream_id) in missing {
            let request = KeyframeRequest {
                room,
                requester: joiner,
                owner,
                stream_id,
            };
            self.request_keyframe(conns, counters, request, now);
        }
        conns.touch(joiner);
    }

    /// A receiver's PictureLossIndication: to the publisher(s) of that video stream only.
    pub fn picture_loss(
        &mut self,
        conns: &mut Connections,
        counters: &mut ShardCounters,
        requester: ConnKey,
        stream_id: u8,
        now: Instant,
    ) {
        counters.pli_received += 1;
        let Some(room) = conns
            .get(requester)
            .and_then(|c| c.phase.member())
            .map(|m| m.room)
        else {
            return;
        };
        let owners: Vec<ConnKey> = self
            .table
            .split_mut(room)
            .map(|(_, media)| {
                media
                    .simulcast
                    .publishers_of(stream_id)
                    .filter(|k| *k != requester)
                    .collect()
            })
            .unwrap_or_default();
        if owners.is_empty() {
            counters.pli_no_owner += 1;
        }
        for owner in owners {
            let request = KeyframeRequest {
                room,
                requester,
                owner,
                stream_id,
            };
            self.request_keyframe(conns, counters, request, now);
        }
    }

    /// Feeds every joined receiver's estimate to its room's layer selection and asks for the
    /// keyframes pending layer switches have waited too long for.
    pub fn video_tick(
        &mut self,
        conns: &mut Connections,
        counters: &mut ShardCounters,
        now: Instant,
    ) {
        let policy = self.video.layers;
        let mut late = std::mem::take(&mut self.late);
        let mut overdue = Vec::new();
        for (room, members, media) in self.table.iter_mut() {
            for member in members {
                if let Some(conn) = conns.get_mut(member.key) {
                    let e = estimate(&conn.quic, &mut conn.path);
                    media.simulcast.on_estimate(member.key, e, now, &policy);
                }
            }
            media.simulcast.overdue(now, &policy, &mut overdue);
            late.extend(overdue.drain(..).map(|l| (room, l)));
        }
        for (room, l) in late.drain(..) {
            let request = KeyframeRequest {
                room,
                requester: l.receiver,
                owner: l.publisher,
                stream_id: l.stream_id,
            };
            self.request_keyframe(conns, counters, request, now);
        }
        self.late = late;
    }

    /// One keyframe request through the room's PLI gate; sent to the owner if it passes.
    fn request_keyframe(
        &mut self,
        conns: &mut Connections,
        counters: &mut ShardCounters,
        request: KeyframeRequest,
        now: Instant,
    ) {
        let KeyframeRequest {
            room,
            requester,
            owner,
            stream_id,
        } = request;
        let Some((_, media)) = self.table.split_mut(room) else {
            return;
        };
        match media
            .pli
            .request(requester, owner, stream_id, now, self.video.pli)
        {
            PliVerdict::Forward => {
                counters.pli_forwarded += 1;
                if let Some(conn) = conns.get_mut(owner) {
                    conn.conformance.on_keyframe_request(now);
                }
                let pli = SignalMessage::PictureLossIndication {
                    version: default_signal_version(),
                    stream_id,
                };
                conns.send_signal(owner, &pli, counters);
            }
            PliVerdict::Suppressed => counters.pli_suppressed += 1,
            PliVerdict::Flood => counters.pli_flood_dropped += 1,
        }
    }
}
