//! The shard's video duties around the room engines: replaying cached keyframes to a joiner,
//! routing PictureLossIndication to the publisher of a stream, and the periodic tick that
//! feeds receivers' bandwidth estimates to simulcast layer selection and asks for keyframes a
//! layer switch is still waiting for.

use super::Shard;
use crate::engine::keyframes::StreamKey;
use crate::engine::layers::{Estimate, LateKeyframe, Layer};
use crate::engine::pli::PliVerdict;
use crate::engine::rooms::RoomId;
use std::time::{Duration, Instant};
use switchyard_proto::codec::MediaType;
use switchyard_proto::signal::{default_signal_version, SignalMessage};

/// How often estimates are sampled and overdue switches checked.
pub const VIDEO_TICK: Duration = Duration::from_millis(100);

/// What a receiver's downlink carries, from quiche's view of it since the last sample.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LossSample {
    pub sent: usize,
    pub lost: usize,
}

impl Shard {
    /// Sends the joiner, for every publisher in the room, each video stream's cached keyframe
    /// (for a simulcast publisher: only the layer chosen for the joiner), and asks the
    /// publisher of every stream that has none for one. Runs before any live packet can
    /// reach the joiner, so the replay comes first on its datagram queue.
    pub(super) fn replay_to_joiner(&mut self, key: usize, room: RoomId, now: Instant) {
        let policy = self.settings.video.layers;
        let initial = self.conns.get_mut(key).map_or(Layer::Low, |c| {
            Layer::for_estimate(estimate(&c.quic, &mut c.loss_sample), &policy)
        });
        let Shard {
            rooms,
            conns,
            counters,
            ..
        } = self;
        let Some((members, media)) = rooms.split_mut(room) else {
            return;
        };
        media.simulcast.join(key, initial);
        let mut missing = Vec::new();
        for publisher in members.iter().map(|m| m.key).filter(|k| *k != key) {
            let start = media.simulcast.starting_layer(publisher, key, now, &policy);
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
                let Some(joiner) = conns.get_mut(key) else {
                    return;
                };
                counters.keyframe_replays += 1;
                for packet in packets {
                    if joiner.quic.dgram_send(packet).is_ok() {
                        counters.keyframe_replay_packets += 1;
                    } else {
                        counters.keyframe_replay_dropped += 1;
                    }
                }
            }
        }
        for (publisher, stream_id) in missing {
            self.request_keyframe(room, key, publisher, stream_id, now);
        }
        self.mark_touched(key);
    }

    /// A receiver's PictureLossIndication: to the publisher(s) of that video stream only.
    pub(super) fn on_picture_loss(&mut self, key: usize, stream_id: u8, now: Instant) {
        self.counters.pli_received += 1;
        let Some(room) = self.conns.get(key).and_then(|c| c.room) else {
            return;
        };
        let owners: Vec<usize> = self
            .rooms
            .split_mut(room)
            .map(|(_, media)| {
                media
                    .simulcast
                    .publishers_of(stream_id)
                    .filter(|k| *k != key)
                    .collect()
            })
            .unwrap_or_default();
        if owners.is_empty() {
            self.counters.pli_no_owner += 1;
        }
        for owner in owners {
            self.request_keyframe(room, key, owner, stream_id, now);
        }
    }

    /// One keyframe request through the room's PLI gate; sent to `owner` if it passes.
    fn request_keyframe(
        &mut self,
        room: RoomId,
        requester: usize,
        owner: usize,
        stream_id: u8,
        now: Instant,
    ) {
        let policy = self.settings.video.pli;
        let Some((_, media)) = self.rooms.split_mut(room) else {
            return;
        };
        match media.pli.request(requester, owner, stream_id, now, policy) {
            PliVerdict::Forward => {
                self.counters.pli_forwarded += 1;
                let pli = SignalMessage::PictureLossIndication {
                    version: default_signal_version(),
                    stream_id,
                };
                self.send_signal(owner, &pli);
            }
            PliVerdict::Suppressed => self.counters.pli_suppressed += 1,
            PliVerdict::Flood => self.counters.pli_flood_dropped += 1,
        }
    }

    /// Feeds every joined receiver's estimate to its room's layer selection and asks for the
    /// keyframes pending layer switches have waited too long for.
    pub(super) fn video_tick(&mut self, now: Instant) {
        let policy = self.settings.video.layers;
        let Shard { rooms, conns, .. } = self;
        let mut late: Vec<(RoomId, LateKeyframe<usize>)> = Vec::new();
        let mut overdue = Vec::new();
        for (room, members, media) in rooms.iter_mut() {
            for member in members {
                if let Some(conn) = conns.get_mut(member.key) {
                    let e = estimate(&conn.quic, &mut conn.loss_sample);
                    media.simulcast.on_estimate(member.key, e, now, &policy);
                }
            }
            media.simulcast.overdue(now, &policy, &mut overdue);
            late.extend(overdue.drain(..).map(|l| (room, l)));
        }
        for (room, l) in late {
            self.request_keyframe(room, l.receiver, l.publisher, l.stream_id, now);
        }
    }
}

/// The receiver's downlink: capacity from the congestion window over the smoothed RTT (or
/// the measured delivery rate when higher), loss from packets quiche declared lost since the
/// previous sample.
fn estimate(quic: &quiche::Connection, last: &mut LossSample) -> Estimate {
    let Some(path) = quic.path_stats().next() else {
        return Estimate {
            bandwidth_kbps: 0,
            loss_percent: 0.0,
        };
    };
    let rtt = path.rtt.max(Duration::from_millis(1));
    let window_bps = (path.cwnd as f64 * 8.0) / rtt.as_secs_f64();
    let bps = window_bps.max(path.delivery_rate as f64 * 8.0);
    let now = LossSample {
        sent: path.sent,
        lost: path.lost,
    };
    let sent = now.sent.saturating_sub(last.sent);
    let lost = now.lost.saturating_sub(last.lost);
    *last = now;
    Estimate {
        bandwidth_kbps: (bps / 1000.0).min(f64::from(u32::MAX)) as u32,
        loss_percent: if sent == 0 {
            0.0
        } else {
            lost as f32 * 100.0 / sent as f32
        },
    }
}
