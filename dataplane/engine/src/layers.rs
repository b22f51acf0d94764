//! Simulcast layer selection of one room: per receiver, which layer of each publisher's video
//! it is sent.
//!
//! A publisher is simulcast while it sends video on two or more of the layer streams
//! (stream_id 0 = low, 1 = mid, 2 = high, reference 1.9) within [`LayerPolicy::stale_after`];
//! anything else (audio, other stream ids, single-stream video) is never filtered.
//!
//! Two state machines per receiver:
//!
//! ```text
//! LayerTarget (per receiver): the layer its estimate supports
//!   estimate asks for the current layer ──────────────> stay, forget any candidate
//!   estimate asks for another layer L ────────────────> candidate L since now
//!   candidate L asked for without a break for 3 s ────> current = L
//!
//! LayerSwitch (per receiver and publisher): the layer actually forwarded
//!   want(forwarded layer) ─────────────────────────────> no switch pending
//!   want(other layer T) ───────────────────────────────> pending T since now
//!   packet of T that starts a keyframe, T pending ─────> forward T from this packet on
//!   pending T for 500 ms without one ──────────────────> one PLI for T (overdue)
//! ```
//!
//! Until the switch, the old layer keeps flowing, so the receiver never has nothing to decode.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};
use switchyard_proto::codec::MediaType;
use switchyard_proto::media::MediaHeader;

/// One simulcast layer; its stream_id is its index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Layer {
    Low = 0,
    Mid = 1,
    High = 2,
}

impl Layer {
    pub const ALL: [Layer; 3] = [Self::Low, Self::Mid, Self::High];

    pub fn from_stream_id(stream_id: u8) -> Option<Self> {
        Self::ALL.get(usize::from(stream_id)).copied()
    }

    pub fn stream_id(self) -> u8 {
        self as u8
    }

    /// The layer a receiver with this estimate can take.
    pub fn for_estimate(estimate: Estimate, policy: &LayerPolicy) -> Self {
        if estimate.bandwidth_kbps > policy.high_kbps
            && estimate.loss_percent < policy.high_max_loss_percent
        {
            Self::High
        } else if estimate.bandwidth_kbps > policy.mid_kbps {
            Self::Mid
        } else {
            Self::Low
        }
    }
}

/// A receiver's downlink as the relay sees it (from quiche's path statistics).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    pub bandwidth_kbps: u32,
    pub loss_percent: f32,
}

/// Thresholds and times (reference 4.1 and 4.3).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LayerPolicy {
    pub high_kbps: u32,
    pub high_max_loss_percent: f32,
    pub mid_kbps: u32,
    /// A different layer must be asked for this long before the target changes.
    pub hysteresis: Duration,
    /// A pending switch waits this long for a keyframe before the relay asks for one.
    pub keyframe_wait: Duration,
    /// A layer not seen for this long is not offered.
    pub stale_after: Duration,
}

impl Default for LayerPolicy {
    fn default() -> Self {
        Self {
            high_kbps: 3000,
            high_max_loss_percent: 2.0,
            mid_kbps: 800,
            hysteresis: Duration::from_secs(3),
            keyframe_wait: Duration::from_millis(500),
            stale_after: Duration::from_secs(1),
        }
    }
}

/// The layer one receiver's estimate supports, with hysteresis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayerTarget {
    current: Layer,
    candidate: Option<(Layer, Instant)>,
}

impl LayerTarget {
    pub fn new(initial: Layer) -> Self {
        Self {
            current: initial,
            candidate: None,
        }
    }

    pub fn current(&self) -> Layer {
        self.current
    }

    /// Feeds one estimate's layer; returns the new target when it changes.
    pub fn observe(&mut self, wanted: Layer, now: Instant, hysteresis: Duration) -> Option<Layer> {
        if wanted == self.current {
            self.candidate = None;
            return None;
        }
        match self.candidate {
            Some((layer, since)) if layer == wanted => {
                if now.saturating_duration_since(since) >= hysteresis {
                    self.current = wanted;
                    self.candidate = None;
                    return Some(wanted);
                }
            }
            _ => self.candidate = Some((wanted, now)),
        }
        None
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PendingSwitch {
    to: Layer,
    since: Instant,
    asked: bool,
}

/// The layer of one publisher forwarded to one receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayerSwitch {
    forwarding: Layer,
    pending: Option<PendingSwitch>,
}

impl LayerSwitch {
    pub fn new(layer: Layer) -> Self {
        Self {
            forwarding: layer,
            pending: None,
        }
    }

    pub fn forwarding(&self) -> Layer {
        self.forwarding
    }

    pub fn pending(&self) -> Option<Layer> {
        self.pending.map(|p| p.to)
    }

    /// The layer this receiver should get from now on.
    pub fn want(&mut self, layer: Layer, now: Instant) {
        if layer == self.forwarding {
            self.pending = None;
            return;
        }
        if self.pending.is_some_and(|p| p.to == layer) {
            return;
        }
        self.pending = Some(PendingSwitch {
            to: layer,
            since: now,
            asked: false,
        });
    }

    /// Whether a packet of `layer` goes to this receiver. Returns `(admit, switched)`.
    pub fn admit(&mut self, layer: Layer, keyframe_start: bool) -> (bool, bool) {
        if keyframe_start && self.pending.is_some_and(|p| p.to == layer) {
            self.forwarding = layer;
            self.pending = None;
            return (true, true);
        }
        (layer == self.forwarding, false)
    }

    /// The pending layer, once, when its keyframe is late.
    pub fn overdue(&mut self, now: Instant, wait: Duration) -> Option<Layer> {
        let p = self.pending.as_mut()?;
        if p.asked || now.saturating_duration_since(p.since) < wait {
            return None;
        }
        p.asked = true;
        Some(p.to)
    }
}

/// The highest layer in `available` at most `target`; the lowest available otherwise.
fn pick(available: [bool; 3], target: Layer) -> Option<Layer> {
    let present = |l: Layer| available.get(usize::from(l.stream_id())) == Some(&true);
    Layer::ALL
        .into_iter()
        .rev()
        .find(|l| present(*l) && *l <= target)
        .or_else(|| Layer::ALL.into_iter().find(|l| present(*l)))
}

/// The layers seen within `stale_after`, or `None` when fewer than two are (not simulcast).
fn live_layers(
    seen: [Option<Instant>; 3],
    now: Instant,
    policy: &LayerPolicy,
) -> Option<[bool; 3]> {
    let fresh =
        seen.map(|s| s.is_some_and(|t| now.saturating_duration_since(t) < policy.stale_after));
    (fresh.iter().filter(|f| **f).count() >= 2).then_some(fresh)
}

/// A packet on a layer of a simulcast publisher, filtered per receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layered {
    pub layer: Layer,
    /// The publisher's live layers when the packet arrived.
    pub available: [bool; 3],
}

#[derive(Debug)]
struct ReceiverLayers<K> {
    target: LayerTarget,
    switches: HashMap<K, LayerSwitch>,
}

/// A layer request the room owes a publisher: `receiver` waits for `stream_id` of `publisher`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LateKeyframe<K> {
    pub receiver: K,
    pub publisher: K,
    pub stream_id: u8,
}

/// The verdict for one packet and one receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admission {
    pub admit: bool,
    /// The receiver moved to this packet's layer with it.
    pub switched: bool,
}

const ADMIT: Admission = Admission {
    admit: true,
    switched: false,
};

/// What one publisher sends on video.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct PublisherStreams {
    /// When each layer stream was last seen.
    layer_seen: [Option<Instant>; 3],
    /// Every video stream_id seen, as a 256-bit set.
    streams: [u64; 4],
}

/// The simulcast state of one room, and the registry of who publishes which video stream.
#[derive(Debug)]
pub struct Simulcast<K> {
    publishers: HashMap<K, PublisherStreams>,
    receivers: HashMap<K, ReceiverLayers<K>>,
}

impl<K> Default for Simulcast<K> {
    fn default() -> Self {
        Self {
            publishers: HashMap::new(),
            receivers: HashMap::new(),
        }
    }
}

impl<K: Copy + Eq + Hash> Simulcast<K> {
    pub fn new() -> Self {
        Self::default()
    }

    /// A participant joined; `initial` is the layer its first estimate supports.
    pub fn join(&mut self, receiver: K, initial: Layer) {
        self.receivers.insert(
            receiver,
            ReceiverLayers {
                target: LayerTarget::new(initial),
                switches: HashMap::new(),
            },
        );
    }

    /// A participant left: forget it as receiver and as publisher.
    pub fn leave(&mut self, participant: K) {
        self.receivers.remove(&participant);
        self.publishers.remove(&participant);
        for r in self.receivers.values_mut() {
            r.switches.remove(&participant);
        }
    }

    /// Records one accepted packet (once per packet, before the fan-out). Returns its layer
    /// and the publisher's live layers when it must be filtered per receiver: a layer stream
    /// of a publisher that is simulcast now.
    pub fn on_packet(
        &mut self,
        publisher: K,
        header: &MediaHeader,
        now: Instant,
        policy: &LayerPolicy,
    ) -> Option<Layered> {
        if header.media_type != MediaType::Video {
            return None;
        }
        let p = self.publishers.entry(publisher).or_default();
        let id = usize::from(header.stream_id);
        if let Some(word) = p.streams.get_mut(id / 64) {
            *word |= 1 << (id % 64);
        }
        let layer = Layer::from_stream_id(header.stream_id)?;
        if let Some(seen) = p.layer_seen.get_mut(id) {
            *seen = Some(now);
        }
        let available = live_layers(p.layer_seen, now, policy)?;
        Some(Layered { layer, available })
    }

    /// Whether anyone in the room has sent video.
    pub fn has_video(&self) -> bool {
        !self.publishers.is_empty()
    }

    /// The video stream ids `publisher` has sent, ascending.
    pub fn video_streams(&self, publisher: K) -> impl Iterator<Item = u8> + '_ {
        let streams = self.publishers.get(&publisher).map(|p| p.streams);
        (0..=u8::MAX).filter(move |id| {
            let id = usize::from(*id);
            streams
                .and_then(|s| s.get(id / 64).copied())
                .is_some_and(|w| w & (1 << (id % 64)) != 0)
        })
    }

    /// Members that have sent video on `stream_id`.
    pub fn publishers_of(&self, stream_id: u8) -> impl Iterator<Item = K> + '_ {
        let id = usize::from(stream_id);
        self.publishers
            .iter()
            .filter(move |(_, p)| {
                p.streams
                    .get(id / 64)
                    .is_some_and(|w| w & (1 << (id % 64)) != 0)
            })
            .map(|(k, _)| *k)
    }

    /// Whether this packet (as [`Simulcast::on_packet`] classified it) goes to `receiver`.
    pub fn admit(
        &mut self,
        publisher: K,
        receiver: K,
        packet: Layered,
        keyframe_start: bool,
        now: Instant,
    ) -> Admission {
        let Some(rx) = self.receivers.get_mut(&receiver) else {
            return ADMIT;
        };
        let Some(want) = pick(packet.available, rx.target.current()) else {
            return ADMIT;
        };
        let switch = rx
            .switches
            .entry(publisher)
            .or_insert_with(|| LayerSwitch::new(want));
        switch.want(want, now);
        let (admit, switched) = switch.admit(packet.layer, keyframe_start);
        Admission { admit, switched }
    }

    /// The stream of `publisher` a joiner starts on (and is replayed), or `None` when the
    /// publisher is not simulcast (then every stream is).
    pub fn starting_layer(
        &mut self,
        publisher: K,
        receiver: K,
        now: Instant,
        policy: &LayerPolicy,
    ) -> Option<Layer> {
        let seen = self.publishers.get(&publisher)?.layer_seen;
        let available = live_layers(seen, now, policy)?;
        let rx = self.receivers.get_mut(&receiver)?;
        let layer = pick(available, rx.target.current())?;
        rx.switches.insert(publisher, LayerSwitch::new(layer));
        Some(layer)
    }

    /// Feeds a receiver's estimate; returns the new target layer when it changes.
    pub fn on_estimate(
        &mut self,
        receiver: K,
        estimate: Estimate,
        now: Instant,
        policy: &LayerPolicy,
    ) -> Option<Layer> {
        let rx = self.receivers.get_mut(&receiver)?;
        let wanted = Layer::for_estimate(estimate, policy);
        let changed = rx.target.observe(wanted, now, policy.hysteresis)?;
        for switch in rx.switches.values_mut() {
            switch.want(changed, now);
        }
        Some(changed)
    }

    /// Switches whose keyframe is overdue, each reported once.
    pub fn overdue(&mut self, now: Instant, policy: &LayerPolicy, out: &mut Vec<LateKeyframe<K>>) {
        for (receiver, rx) in &mut self.receivers {
            for (publisher, switch) in &mut rx.switches {
                if let Some(layer) = switch.overdue(now, policy.keyframe_wait) {
                    out.push(LateKeyframe {
                        receiver: *receiver,
                        publisher: *publisher,
                        stream_id: layer.stream_id(),
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_proto::codec::CodecId;
    use switchyard_proto::media::Flags;

    const MS: Duration = Duration::from_millis(1);

    fn estimate(kbps: u32, loss: f32) -> Estimate {
        Estimate {
            bandwidth_kbps: kbps,
            loss_percent: loss,
        }
    }

    fn video(stream_id: u8) -> MediaHeader {
        MediaHeader {
            flags: Flags::empty(),
            media_type: MediaType::Video,
            codec: CodecId::H264Baseline,
            stream_id,
            fec_ratio: 0,
            seq: 0,
            timestamp: 0,
            fec_block: 0,
        }
    }

    /// One packet through the room as the packet path runs it: classify once, then admit.
    fn deliver(
        room: &mut Simulcast<u32>,
        publisher: u32,
        receiver: u32,
        header: &MediaHeader,
        keyframe_start: bool,
        now: Instant,
        p: &LayerPolicy,
    ) -> Admission {
        match room.on_packet(publisher, header, now, p) {
            Some(l) => room.admit(publisher, receiver, l, keyframe_start, now),
            None => ADMIT,
        }
    }

    #[test]
    fn layer_choice_follows_bandwidth_and_loss() {
        let p = LayerPolicy::default();
        assert_eq!(Layer::for_estimate(estimate(3001, 1.9), &p), Layer::High);
        assert_eq!(
            Layer::for_estimate(estimate(3000, 0.0), &p),
            Layer::Mid,
            "above, not at"
        );
        assert_eq!(
            Layer::for_estimate(estimate(5000, 2.0), &p),
            Layer::Mid,
            "loss bars high"
        );
        assert_eq!(Layer::for_estimate(estimate(801, 50.0), &p), Layer::Mid);
        assert_eq!(Layer::for_estimate(estimate(800, 0.0), &p), Layer::Low);
        assert_eq!(Layer::for_estimate(estimate(0, 0.0), &p), Layer::Low);
    }

    #[test]
    fn hysteresis_changes_target_only_after_three_steady_seconds() {
        let h = Duration::from_secs(3);
        let t0 = switchyard_testclock::origin();
        let mut t = LayerTarget::new(Layer::Low);
        assert_eq!(t.observe(Layer::High, t0, h), None, "candidate starts");
        assert_eq!(
            t.observe(Layer::High, t0 + 2999 * MS, h),
            None,
            "just before"
        );
        assert_eq!(t.current(), Layer::Low);
        assert_eq!(
            t.observe(Layer::High, t0 + 3000 * MS, h),
            Some(Layer::High),
            "at 3 s"
        );
        assert_eq!(t.current(), Layer::High);
    }

    #[test]
    fn hysteresis_restarts_when_the_estimate_wavers() {
        let h = Duration::from_secs(3);
        let t0 = switchyard_testclock::origin();
        let mut t = LayerTarget::new(Layer::Low);
        t.observe(Layer::High, t0, h);
        t.observe(Layer::Low, t0 + 1000 * MS, h);
        assert_eq!(
            t.observe(Layer::High, t0 + 3500 * MS, h),
            None,
            "restarted at 3.5 s"
        );
        t.observe(Layer::Mid, t0 + 4000 * MS, h);
        assert_eq!(t.observe(Layer::Mid, t0 + 6999 * MS, h), None);
        assert_eq!(t.observe(Layer::Mid, t0 + 7000 * MS, h), Some(Layer::Mid));
    }

    #[test]
    fn switch_keeps_the_old_layer_until_a_keyframe_of_the_new() {
        let t0 = switchyard_testclock::origin();
        let mut s = LayerSwitch::new(Layer::Low);
        s.want(Layer::High, t0);
        assert_eq!(s.pending(), Some(Layer::High));
        assert_eq!(s.admit(Layer::Low, false), (true, false), "old layer flows");
        assert_eq!(
            s.admit(Layer::High, false),
            (false, false),
            "no mid-GOP entry"
        );
        assert_eq!(s.admit(Layer::Low, true), (true, false));
        assert_eq!(
            s.admit(Layer::High, true),
            (true, true),
            "switch at the keyframe"
        );
        assert_eq!(s.forwarding(), Layer::High);
        assert_eq!(s.admit(Layer::Low, true), (false, false), "old layer stops");
        assert_eq!(s.admit(Layer::High, false), (true, false));
    }

    #[test]
    fn wanting_the_forwarded_layer_cancels_a_pending_switch() {
        let t0 = switchyard_testclock::origin();
        let mut s = LayerSwitch::new(Layer::Mid);
        s.want(Layer::High, t0);
        s.want(Layer::Mid, t0 + MS);
        assert_eq!(s.pending(), None);
        assert_eq!(s.admit(Layer::High, true), (false, false));
    }

    #[test]
    fn late_keyframe_is_reported_once_after_the_wait() {
        let wait = Duration::from_millis(500);
        let t0 = switchyard_testclock::origin();
        let mut s = LayerSwitch::new(Layer::Low);
        s.want(Layer::Mid, t0);
        assert_eq!(s.overdue(t0 + 499 * MS, wait), None);
        assert_eq!(s.overdue(t0 + 500 * MS, wait), Some(Layer::Mid));
        assert_eq!(s.overdue(t0 + 900 * MS, wait), None, "once");
        s.want(Layer::High, t0 + 1000 * MS);
        assert_eq!(
            s.overdue(t0 + 1500 * MS, wait),
            Some(Layer::High),
            "a new target re-arms"
        );
    }

    #[test]
    fn room_filters_simulcast_publishers_only() {
        let p = LayerPolicy::default();
        let t0 = switchyard_testclock::origin();
        let mut room = Simulcast::new();
        room.join(2u32, Layer::Low);
        room.on_packet(1, &video(0), t0, &p);
        assert!(
            deliver(&mut room, 1, 2, &video(0), false, t0, &p).admit,
            "one stream: not simulcast"
        );
        room.on_packet(1, &video(2), t0, &p);
        assert!(deliver(&mut room, 1, 2, &video(0), false, t0, &p).admit);
        assert!(
            !deliver(&mut room, 1, 2, &video(2), true, t0, &p).admit,
            "low receiver"
        );
        let mut audio = video(2);
        audio.media_type = MediaType::Audio;
        assert!(
            deliver(&mut room, 1, 2, &audio, false, t0, &p).admit,
            "audio always"
        );
        assert!(
            deliver(&mut room, 1, 2, &video(7), false, t0, &p).admit,
            "not a layer"
        );
    }

    #[test]
    fn receiver_takes_the_best_layer_the_publisher_sends() {
        let p = LayerPolicy::default();
        let t0 = switchyard_testclock::origin();
        let mut room = Simulcast::new();
        room.join(2u32, Layer::High);
        room.on_packet(1, &video(0), t0, &p);
        room.on_packet(1, &video(1), t0, &p);
        assert_eq!(
            room.starting_layer(1, 2, t0, &p),
            Some(Layer::Mid),
            "no high layer"
        );
        let later = t0 + 2 * p.stale_after;
        room.on_packet(1, &video(0), later, &p);
        room.on_packet(1, &video(2), later, &p);
        assert!(
            !deliver(&mut room, 1, 2, &video(2), false, later, &p).admit,
            "waits for a keyframe"
        );
        let a = deliver(&mut room, 1, 2, &video(2), true, later, &p);
        assert_eq!(
            (a.admit, a.switched),
            (true, true),
            "mid went stale; high replaces it"
        );
    }

    #[test]
    fn estimate_change_moves_every_publisher_after_hysteresis() {
        let p = LayerPolicy::default();
        let t0 = switchyard_testclock::origin();
        let mut room = Simulcast::new();
        room.join(9u32, Layer::High);
        for publisher in [1, 2] {
            room.on_packet(publisher, &video(0), t0, &p);
            room.on_packet(publisher, &video(2), t0, &p);
            assert_eq!(room.starting_layer(publisher, 9, t0, &p), Some(Layer::High));
        }
        assert_eq!(room.on_estimate(9, estimate(100, 0.0), t0, &p), None);
        assert_eq!(
            room.on_estimate(9, estimate(100, 0.0), t0 + 3000 * MS, &p),
            Some(Layer::Low)
        );
        let mut late = Vec::new();
        room.overdue(t0 + 3499 * MS, &p, &mut late);
        assert!(late.is_empty());
        room.overdue(t0 + 3500 * MS, &p, &mut late);
        late.sort_by_key(|l| l.publisher);
        assert_eq!(
            late,
            vec![
                LateKeyframe {
                    receiver: 9,
                    publisher: 1,
                    stream_id: 0
                },
                LateKeyframe {
                    receiver: 9,
                    publisher: 2,
                    stream_id: 0
                }
            ]
        );
    }

    #[test]
    fn registry_knows_who_publishes_which_video_stream() {
        let p = LayerPolicy::default();
        let t0 = switchyard_testclock::origin();
        let mut room = Simulcast::new();
        room.on_packet(1u32, &video(0), t0, &p);
        room.on_packet(1, &video(200), t0, &p);
        room.on_packet(2, &video(200), t0, &p);
        let mut audio = video(5);
        audio.media_type = MediaType::Audio;
        room.on_packet(3, &audio, t0, &p);
        assert_eq!(room.video_streams(1).collect::<Vec<_>>(), vec![0, 200]);
        assert_eq!(room.video_streams(3).count(), 0, "audio is not registered");
        let mut owners: Vec<u32> = room.publishers_of(200).collect();
        owners.sort_unstable();
        assert_eq!(owners, vec![1, 2]);
        room.leave(1);
        assert_eq!(room.publishers_of(200).collect::<Vec<_>>(), vec![2]);
    }

    #[test]
    fn leave_forgets_publisher_and_receiver() {
        let p = LayerPolicy::default();
        let t0 = switchyard_testclock::origin();
        let mut room = Simulcast::new();
        room.join(2u32, Layer::Low);
        room.on_packet(1, &video(0), t0, &p);
        room.on_packet(1, &video(1), t0, &p);
        room.starting_layer(1, 2, t0, &p);
        room.leave(1);
        assert!(
            deliver(&mut room, 1, 2, &video(1), false, t0, &p).admit,
            "no state left for 1"
        );
        room.leave(2);
        assert_eq!(room.on_estimate(2, estimate(0, 0.0), t0, &p), None);
    }
}
