//! Tiers A-E for one stream of one sender: cheap checks on every packet, from the parsed
//! header and the shard's `now`. No allocation and no clock read per packet.
//!
//! - A: bytes (16 B header + payload) in a 1 s tumbling window over the ceiling. A window's
//!   ceiling is the highest of its packets' codecs, so a sender switching down mid-window is
//!   not flagged for the bytes it sent at the higher rate.
//! - B: packets in the same window over the limit (again the highest of the window).
//! - C: timestamps. Audio: over the last 200 packets the mean timestamp step per sequence step
//!   lies within the frame's bounds. Video: media time keeps pace with wall time, checked
//!   every 2 s.
//! - D: the EWMA (α 0.05) of payload sizes over the bound.
//! - E: a token bucket: refilled at the rate, never above the capacity, starts full.
//!
//! Every tier updates its state on every packet; [`StreamMeter::observe`] returns every tier
//! that failed, and [`Failures::first`] names the first in the order A, B, C, D, E (reference
//! 5.2), so a tier switched off cannot hide the next one.

use super::limits::{Limits, TimestampRule, HEADER_BYTES, PAYLOAD_EWMA_ALPHA, TIMESTAMP_WINDOW};
use std::time::{Duration, Instant};
use switchyard_proto::signal::ViolationCode;

const WINDOW: Duration = Duration::from_secs(1);
/// Video's timestamp pace is measured over at least this much wall time: long enough that a
/// sender catching up after a stall of a few seconds (its queued frames arriving at once) is
/// not taken for one whose clock runs fast.
const PACE_PERIOD: Duration = Duration::from_secs(10);

/// A conformance tier with a per-packet check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tier {
    A,
    B,
    C,
    D,
    E,
}

impl Tier {
    pub const ALL: [Tier; 5] = [Self::A, Self::B, Self::C, Self::D, Self::E];
    pub const COUNT: usize = 5;

    pub fn index(self) -> usize {
        self as usize
    }

    /// The code a PolicyViolation for this tier carries (reference 2.8).
    pub fn code(self) -> ViolationCode {
        match self {
            Self::A => ViolationCode::Bitrate,
            Self::B => ViolationCode::PacketRate,
            Self::C => ViolationCode::TimestampDrift,
            Self::D => ViolationCode::PayloadSize,
            Self::E => ViolationCode::RateCap,
        }
    }
}

/// The tiers one packet failed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Failures(u8);

impl Failures {
    fn with(self, tier: Option<Tier>) -> Self {
        tier.map_or(self, |t| self.with_tier(t))
    }

    /// These failures and `tier`.
    pub fn with_tier(self, tier: Tier) -> Self {
        Self(self.0 | 1 << tier.index())
    }

    pub fn contains(self, tier: Tier) -> bool {
        self.0 & (1 << tier.index()) != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The failed tiers, in order.
    pub fn iter(self) -> impl Iterator<Item = Tier> {
        Tier::ALL.into_iter().filter(move |t| self.contains(*t))
    }

    /// The first failed tier (reference 5.2 order).
    pub fn first(self) -> Option<Tier> {
        self.iter().next()
    }
}

/// What one packet tells the meters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet {
    pub seq: u32,
    pub timestamp: u32,
    pub payload_len: usize,
}

/// The 1 s tumbling window of Tiers A and B.
#[derive(Debug, Clone, Copy)]
struct Window {
    start: Instant,
    bytes: u64,
    packets: u32,
    ceiling_bps: u64,
    max_packets: u32,
}

/// Tier C's last packets, oldest overwritten first.
#[derive(Debug, Clone)]
struct Steps {
    ring: [(u32, u32); TIMESTAMP_WINDOW],
    next: usize,
    len: usize,
}

#[derive(Debug, Clone)]
pub struct StreamMeter {
    window: Option<Window>,
    steps: Steps,
    /// Video: (arrival, timestamp) where the current pace period began.
    pace_from: Option<(Instant, u32)>,
    payload_ewma: Option<f64>,
    bucket: TokenBucket,
    /// Tier G's tighter bucket, used only while the sender is Suspect.
    throttle: TokenBucket,
}

/// A token bucket that starts full; a refused take takes nothing.
#[derive(Debug, Clone, Copy, Default)]
struct TokenBucket {
    tokens: f64,
    refilled_at: Option<Instant>,
}

impl TokenBucket {
    /// Takes `bytes` if the bucket (refilled at `rate` bytes/s up to `capacity`) holds them.
    fn take(&mut self, now: Instant, bytes: u64, rate: u64, capacity: u64) -> bool {
        let capacity = capacity as f64;
        let refilled = match self.refilled_at {
            None => capacity,
            Some(at) => {
                let elapsed = now.saturating_duration_since(at).as_secs_f64();
                (self.tokens + elapsed * rate as f64).min(capacity)
            }
        };
        self.refilled_at = Some(now);
        let bytes = bytes as f64;
        let taken = refilled >= bytes;
        self.tokens = if taken { refilled - bytes } else { refilled };
        taken
    }
}

impl Default for StreamMeter {
    fn default() -> Self {
        Self::new()
    }
}

impl StreamMeter {
    pub fn new() -> Self {
        Self {
            window: None,
            steps: Steps {
                ring: [(0, 0); TIMESTAMP_WINDOW],
                next: 0,
                len: 0,
            },
            pace_from: None,
            payload_ewma: None,
            bucket: TokenBucket::default(),
            throttle: TokenBucket::default(),
        }
    }

    /// Meters one packet held to `limits`; the tiers it fails.
    pub fn observe(&mut self, now: Instant, packet: Packet, limits: &Limits) -> Failures {
        let bytes = HEADER_BYTES + packet.payload_len as u64;
        let (a, b) = self.window(now, bytes, limits);
        Failures::default()
            .with(a)
            .with(b)
            .with(self.timestamps(now, packet, limits.timestamps))
            .with(self.payload(packet.payload_len, limits.payload_ewma_max))
            .with(self.bucket(now, bytes, limits))
    }

    /// Tiers A and B.
    fn window(
        &mut self,
        now: Instant,
        bytes: u64,
        limits: &Limits,
    ) -> (Option<Tier>, Option<Tier>) {
        let w = match &mut self.window {
            Some(w) if now.saturating_duration_since(w.start) < WINDOW => w,
            slot => slot.insert(Window {
                start: now,
                bytes: 0,
                packets: 0,
                ceiling_bps: 0,
                max_packets: 0,
            }),
        };
        w.bytes += bytes;
        w.packets = w.packets.saturating_add(1);
        w.ceiling_bps = w.ceiling_bps.max(limits.ceiling_bps);
        w.max_packets = w.max_packets.max(limits.max_packets);
        (
            (w.bytes * 8 > w.ceiling_bps).then_some(Tier::A),
            (w.packets > w.max_packets).then_some(Tier::B),
        )
    }

    /// Tier C.
    fn timestamps(&mut self, now: Instant, packet: Packet, rule: TimestampRule) -> Option<Tier> {
        match rule {
            TimestampRule::PerPacket { min_ms, max_ms } => {
                let s = &mut self.steps;
                let oldest = (s.len == TIMESTAMP_WINDOW)
                    .then(|| s.ring.get(s.next).copied())
                    .flatten();
                if let Some(slot) = s.ring.get_mut(s.next) {
                    *slot = (packet.seq, packet.timestamp);
                }
                s.next = (s.next + 1) % TIMESTAMP_WINDOW;
                s.len = (s.len + 1).min(TIMESTAMP_WINDOW);
                let (seq0, ts0) = oldest?;
                let dseq = packet.seq.wrapping_sub(seq0);
                // Reordered or duplicated across the whole window: no measurement.
                if dseq == 0 || dseq > u32::MAX / 2 {
                    return None;
                }
                let step = f64::from(packet.timestamp.wrapping_sub(ts0)) / f64::from(dseq);
                (!(min_ms..=max_ms).contains(&step)).then_some(Tier::C)
            }
            TimestampRule::WallClock { min, max } => {
                let (from, ts0) = *self.pace_from.get_or_insert((now, packet.timestamp));
                let wall = now.saturating_duration_since(from);
                if wall < PACE_PERIOD {
                    return None;
                }
                self.pace_from = Some((now, packet.timestamp));
                let media_ms = f64::from(packet.timestamp.wrapping_sub(ts0));
                let pace = media_ms / (wall.as_secs_f64() * 1000.0);
                (!(min..=max).contains(&pace)).then_some(Tier::C)
            }
        }
    }

    /// Tier D.
    fn payload(&mut self, len: usize, max: Option<f64>) -> Option<Tier> {
        let len = len as f64;
        let ewma = match self.payload_ewma {
            Some(e) => PAYLOAD_EWMA_ALPHA * len + (1.0 - PAYLOAD_EWMA_ALPHA) * e,
            None => len,
        };
        self.payload_ewma = Some(ewma);
        max.is_some_and(|m| ewma > m).then_some(Tier::D)
    }

    /// Tier E: a refused packet takes no tokens.
    fn bucket(&mut self, now: Instant, bytes: u64, limits: &Limits) -> Option<Tier> {
        let taken = self
            .bucket
            .take(now, bytes, limits.bucket_rate, limits.bucket_capacity);
        (!taken).then_some(Tier::E)
    }

    /// Tier G's throttle of a Suspect sender: whether this packet fits its tighter bucket.
    pub fn throttle(&mut self, now: Instant, payload_len: usize, limits: &Limits) -> bool {
        let bytes = HEADER_BYTES + payload_len as u64;
        self.throttle
            .take(now, bytes, limits.throttle_rate, limits.throttle_capacity)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance::limits::Limits;
    use switchyard_proto::codec::{CodecId, MediaType};

    const MS: Duration = Duration::from_millis(1);

    fn opus24k() -> Limits {
        Limits::for_packet(MediaType::Audio, CodecId::Opus24k).unwrap()
    }

    fn packet(seq: u32, timestamp: u32, payload_len: usize) -> Packet {
        Packet {
            seq,
            timestamp,
            payload_len,
        }
    }

    /// Limits under which only `tier` can fail.
    fn only(tier: Tier, limits: Limits) -> Limits {
        let open = Limits {
            ceiling_bps: u64::MAX / 16,
            max_packets: u32::MAX,
            timestamps: TimestampRule::PerPacket {
                min_ms: 0.0,
                max_ms: f64::MAX,
            },
            payload_ewma_max: None,
            bucket_rate: 0,
            bucket_capacity: u64::MAX / 2,
            ..limits
        };
        match tier {
            Tier::A => Limits {
                ceiling_bps: limits.ceiling_bps,
                ..open
            },
            Tier::B => Limits {
                max_packets: limits.max_packets,
                ..open
            },
            Tier::C => Limits {
                timestamps: limits.timestamps,
                ..open
            },
            Tier::D => Limits {
                payload_ewma_max: limits.payload_ewma_max,
                ..open
            },
            Tier::E => Limits {
                bucket_rate: limits.bucket_rate,
                bucket_capacity: limits.bucket_capacity,
                ..open
            },
        }
    }

    /// Sends `n` packets `gap` apart from `t0`; the tiers they failed, in order.
    fn run(
        meter: &mut StreamMeter,
        t0: Instant,
        n: u32,
        gap: Duration,
        ts_step: u32,
        payload: usize,
        limits: &Limits,
    ) -> Vec<Option<Tier>> {
        (0..n)
            .map(|i| {
                meter
                    .observe(t0 + gap * i, packet(i, i * ts_step, payload), limits)
                    .first()
            })
            .collect()
    }

    #[test]
    fn tier_a_allows_the_ceiling_and_flags_one_byte_more() {
        let t0 = switchyard_testclock::origin();
        let limits = only(Tier::A, opus24k());
        // 12,750 B a second (102,000 bps): 50 packets of 16 + 239 B exactly.
        let mut m = StreamMeter::new();
        let fails = run(&mut m, t0, 50, 10 * MS, 20, 239, &limits);
        assert!(fails.iter().all(Option::is_none));
        assert_eq!(
            m.observe(t0 + 500 * MS, packet(50, 1000, 0), &limits)
                .first(),
            Some(Tier::A)
        );
        // The next window starts clean.
        assert!(m
            .observe(t0 + 1000 * MS, packet(51, 1020, 239), &limits)
            .is_empty());
    }

    #[test]
    fn tier_a_uses_the_highest_ceiling_seen_in_the_window() {
        let t0 = switchyard_testclock::origin();
        let good = only(Tier::A, opus24k());
        let degraded = only(
            Tier::A,
            Limits::for_packet(MediaType::Audio, CodecId::Opus6k).unwrap(),
        );
        let mut m = StreamMeter::new();
        // 4,000 B at Opus24k, then Opus6k packets: 3,787 B/s alone would be exceeded.
        let fails = run(&mut m, t0, 40, 10 * MS, 20, 84, &good);
        assert!(fails.iter().all(Option::is_none));
        assert!(m
            .observe(t0 + 450 * MS, packet(40, 800, 30), &degraded)
            .is_empty());
    }

    #[test]
    fn tier_b_allows_225_packets_a_second_at_20_ms_and_flags_the_226th() {
        let t0 = switchyard_testclock::origin();
        let limits = only(Tier::B, opus24k());
        let mut m = StreamMeter::new();
        let fails = run(&mut m, t0, 226, 4 * MS, 20, 10, &limits);
        assert!(fails[..225].iter().all(Option::is_none));
        assert_eq!(fails[225], Some(Tier::B));
    }

    #[test]
    fn tier_c_audio_holds_the_mean_step_between_half_and_twice_the_frame() {
        let t0 = switchyard_testclock::origin();
        let limits = only(Tier::C, opus24k());
        for (step, flagged) in [(10, false), (9, true), (40, false), (41, true), (20, false)] {
            let mut m = StreamMeter::new();
            let fails = run(&mut m, t0, 201, 20 * MS, step, 60, &limits);
            assert!(fails[..200].iter().all(Option::is_none), "not before 200");
            assert_eq!(fails[200].is_some(), flagged, "step {step} ms");
        }
    }

    #[test]
    fn tier_c_video_holds_media_time_to_wall_time() {
        let t0 = switchyard_testclock::origin();
        let video = only(
            Tier::C,
            Limits::for_packet(MediaType::Video, CodecId::H264Baseline).unwrap(),
        );
        // 30 frames a second of 33 ms, 5 packets per frame, over 10 s: pace 1.
        for (ts_per_frame, flagged) in [
            (33, false),
            (16, true),
            (17, false),
            (66, false),
            (67, true),
        ] {
            let mut m = StreamMeter::new();
            let mut fails = Vec::new();
            for frame in 0..=301u32 {
                for part in 0..5u32 {
                    let at = t0 + Duration::from_micros(u64::from(frame) * 33_333);
                    let p = packet(frame * 5 + part, frame * ts_per_frame, 1_100);
                    fails.push(m.observe(at, p, &video).first());
                }
            }
            assert_eq!(
                fails.iter().any(Option::is_some),
                flagged,
                "{ts_per_frame} ms of media per 33.3 ms"
            );
        }
    }

    #[test]
    fn tier_c_video_lets_a_sender_catch_up_after_a_stall() {
        let t0 = switchyard_testclock::origin();
        let video = only(
            Tier::C,
            Limits::for_packet(MediaType::Video, CodecId::H264Baseline).unwrap(),
        );
        // 30 s at 30 frames a second, but frames 90-179 (3 s) are held back by the path
        // and arrive together when it clears, at frame 180's time.
        for stall in [90u32, 150] {
            let mut m = StreamMeter::new();
            let mut flagged = 0;
            for frame in 0..900u32 {
                let sent = u64::from(frame) * 33_333;
                let held = (stall..stall + 90).contains(&frame);
                let at = t0
                    + Duration::from_micros(if held {
                        u64::from(stall + 90) * 33_333
                    } else {
                        sent
                    });
                let p = packet(frame, frame * 33, 1_100);
                flagged += usize::from(m.observe(at, p, &video).first().is_some());
            }
            assert_eq!(flagged, 0, "a 3 s stall from frame {stall}");
        }
    }

    #[test]
    fn tier_d_flags_an_ewma_over_twice_the_codecs_bound() {
        let t0 = switchyard_testclock::origin();
        let limits = only(Tier::D, opus24k());
        let mut m = StreamMeter::new();
        assert!(run(&mut m, t0, 100, 20 * MS, 20, 320, &limits)
            .iter()
            .all(Option::is_none));
        let mut m = StreamMeter::new();
        assert_eq!(
            m.observe(t0, packet(0, 0, 321), &limits).first(),
            Some(Tier::D)
        );
        // From typical speech, stuffed 400 B payloads cross after 32 packets (0.64 s).
        let mut m = StreamMeter::new();
        run(&mut m, t0, 50, 20 * MS, 20, 0, &limits);
        let stuffed: Vec<Option<Tier>> = (50..90u32)
            .map(|i| {
                m.observe(t0 + 20 * MS * i, packet(i, i * 20, 400), &limits)
                    .first()
            })
            .collect();
        assert_eq!(stuffed.iter().position(Option::is_some), Some(31));
    }

    #[test]
    fn tier_e_refills_at_the_rate_and_refuses_past_the_burst() {
        let t0 = switchyard_testclock::origin();
        let limits = only(Tier::E, opus24k());
        let mut m = StreamMeter::new();
        // The whole capacity at once (1,920,000 B), then one byte too many.
        assert!(m.observe(t0, packet(0, 0, 1_919_984), &limits).is_empty());
        assert_eq!(
            m.observe(t0, packet(1, 20, 0), &limits).first(),
            Some(Tier::E)
        );
        // Half a second refills 16,000 B: exactly 1,000 packets of 16 B.
        let later = t0 + 500 * MS;
        for i in 0..1_000u32 {
            assert!(
                m.observe(later, packet(i + 2, 0, 0), &limits).is_empty(),
                "{i}"
            );
        }
        assert_eq!(
            m.observe(later, packet(1_002, 0, 0), &limits).first(),
            Some(Tier::E)
        );
        // A sender at the rate forever is never refused.
        let mut m = StreamMeter::new();
        let steady = run(&mut m, t0, 3_000, 20 * MS, 20, 624, &limits);
        assert!(
            steady.iter().all(Option::is_none),
            "640 B per 20 ms is 32,000 B/s"
        );
    }

    #[test]
    fn the_first_failing_tier_in_order_is_reported() {
        let t0 = switchyard_testclock::origin();
        let limits = opus24k();
        let mut m = StreamMeter::new();
        // A 5 Mbps tunnel declared as Opus24k: 1,200 B every 2 ms. Its payloads fail D from
        // the first packet; from the 11th (105,600 bits > 102,000) A fails too, and A is
        // reported.
        let fails = run(&mut m, t0, 20, 2 * MS, 20, 1_184, &limits);
        assert_eq!(fails[..10], [Some(Tier::D); 10]);
        assert_eq!(fails[10], Some(Tier::A), "A comes before D");
        let both = m.observe(t0 + 40 * MS, packet(20, 400, 1_184), &limits);
        assert_eq!(both.iter().collect::<Vec<_>>(), vec![Tier::A, Tier::D]);
        assert_eq!(Tier::A.code(), ViolationCode::Bitrate);
        assert_eq!(Tier::E.code(), ViolationCode::RateCap);
    }

    #[test]
    fn the_throttle_passes_its_rate_and_refuses_past_its_two_second_burst() {
        let t0 = switchyard_testclock::origin();
        let limits = opus24k();
        let mut m = StreamMeter::new();
        // 4,400 B/s with 8,800 B of burst: 110 packets of 64 B (80 B each) at once...
        for i in 0..110 {
            assert!(m.throttle(t0, 64, &limits), "{i}");
        }
        assert!(!m.throttle(t0, 64, &limits), "the 111th is over the burst");
        // ...then 80 B every 20 ms (4,000 B/s, under the rate) fits for ever...
        let every = 20 * MS;
        for i in 1..=1_000u32 {
            assert!(m.throttle(t0 + every * i, 64, &limits), "{i}");
        }
        // ...and twice that does not: over 10 s it may send the burst plus 10 s of the rate,
        // (8,800 + 44,000) / 80 = 660 packets; the other 340 are refused.
        let mut m = StreamMeter::new();
        let refused = (0..1_000u32)
            .filter(|i| !m.throttle(t0 + 10 * MS * *i, 64, &limits))
            .count();
        assert!((339..=341).contains(&refused), "{refused}");
        // The throttle does not touch Tier E's own bucket.
        assert!(m.observe(t0, packet(0, 0, 1_000), &limits).first() != Some(Tier::E));
    }
}
