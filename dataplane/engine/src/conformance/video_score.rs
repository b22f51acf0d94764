//! Tier F video scorer (reference 5.4): how much one participant's video stream behaves like
//! an encoder's output, as a legitimacy score in [0, 1].
//!
//! An encoder sends keyframes on a steady GOP, mostly delta (P) packets between them, and
//! lowers its rate when the network's bandwidth falls. The score starts at 1.0 and each
//! feature subtracts its penalty; the sum is clamped to [0, 1]. No score below 30 packets.
//!
//! ```text
//! feature                 penalty
//! keyframe regularity     reg = 1/(1+CoV) of the last 50 keyframe gaps (>= 3): (1-reg) x 0.35
//!                         fewer gaps: no keyframe packet after 120 packets 0.50, else 0.10
//! I/P ratio (frames)      no P packet (after 30 packets): 0.60; no I packet: 0.10
//!                         else P/I frames >= 29 scores 1, <= 5 scores 0, linear: (1-s) x 0.30
//! BWE responsiveness      (1 - responsive/judged) x 0.40; nothing judged yet: 0.15
//! ```
//!
//! Bandwidth: [`VideoScorer::on_bandwidth`] gives an estimate of the paths this sender's
//! media goes to, and closes an interval; the sender's rate over an interval is the payload
//! bytes that arrived in it over the media time they cover (their timestamps' span), so a
//! path's stall and the burst after it do not change it. A sample that is more than 30 % below the previous
//! one is judged: the estimate covers the interval that just ended, so the sender's rate in
//! that interval must be at least 10 % below its rate in the interval before (responsive),
//! or it is unresponsive. As in the reference code, "nothing judged" (no sample, or no drop
//! over 30 %) costs 0.15. Where this differs from the reference code:
//!
//! - Keyframe gaps are between keyframe *frames*, in media time: consecutive KeyFrame packets
//!   with the same timestamp are one keyframe, and a gap is the difference of two keyframes'
//!   timestamps (ms). The reference takes a gap per packet in arrival time, and a real
//!   keyframe spans dozens of packets, whose sub-millisecond gaps would make any real GOP look
//!   irregular; arrival times also carry every stall of the path. Tier C holds timestamps to
//!   wall time, so a sender cannot fake a regular GOP with them.
//! - A keyframe that answers the relay's own request (a PictureLossIndication it sent the
//!   sender within the last second: a joiner, a layer switch, a receiver's loss) is left out
//!   of the keyframe gaps and the I/P ratio. Otherwise every join to a room would count
//!   against every video publisher in it.
//! - The I/P ratio counts frames the same way (consecutive delta packets with one timestamp
//!   are one frame). The reference counts packets, and a keyframe
//!   is many times a delta frame's size: a real 30 fps stream with a 2 s GOP has 59 delta
//!   frames per keyframe but only 5 to 10 delta packets per keyframe packet, which the
//!   reference would score as 0.4 to 0.6, among the abusers.
//! - Rates count payload bytes only (the reference adds the 16 B header), and a drop after an
//!   interval in which the sender sent nothing is not judged (the reference counts it
//!   unresponsive: a sender at zero cannot lower its rate).
#![deny(clippy::indexing_slicing)]

use super::samples::Samples;
use std::time::{Duration, Instant};

/// Packets before [`VideoScorer::legitimacy`] gives a score.
pub const MIN_PACKETS: u64 = 30;
/// A keyframe starting this soon after the relay asked for one answers the request.
pub const KEYFRAME_ANSWER_WITHIN: Duration = Duration::from_secs(1);

const KEYFRAME_GAPS: usize = 50;
const KEYFRAME_MIN_GAPS: usize = 3;
const NO_KEYFRAME_AFTER_PACKETS: u64 = 120;
const ALL_KEYFRAME_AFTER_PACKETS: u64 = 30;
const BWE_DROP: f64 = 0.30;
const RATE_DROP: f64 = 0.10;

/// One participant's video stream, fed every video packet it sends and the bandwidth samples
/// of the paths it is forwarded on.
#[derive(Debug, Clone)]
pub struct VideoScorer {
    packets: u64,
    keyframe_packets: u64,
    keyframe_frames: u64,
    delta_frames: u64,
    /// The media timestamps of the last delta and KeyFrame packets (a frame's packets share
    /// one).
    last_delta_timestamp: Option<u32>,
    last_keyframe_timestamp: Option<u32>,
    /// The media timestamp (ms) of the last GOP keyframe.
    last_keyframe_start: Option<u32>,
    keyframe_requested_until: Option<Instant>,
    keyframe_gaps: Samples<KEYFRAME_GAPS>,
    interval_bytes: u64,
    /// The first timestamp of the interval, and the earliest and latest timestamps seen, as
    /// signed offsets from it (ms; packets may arrive out of order).
    interval_media: Option<(u32, i64, i64)>,
    last_bwe_kbps: Option<u32>,
    last_rate_kbps: f64,
    responsive: u64,
    unresponsive: u64,
}

impl Default for VideoScorer {
    fn default() -> Self {
        Self::new()
    }
}

impl VideoScorer {
    pub fn new() -> Self {
        Self {
            packets: 0,
            keyframe_packets: 0,
            keyframe_frames: 0,
            delta_frames: 0,
            last_delta_timestamp: None,
            last_keyframe_timestamp: None,
            last_keyframe_start: None,
            keyframe_requested_until: None,
            keyframe_gaps: Samples::new(),
            interval_bytes: 0,
            interval_media: None,
            last_bwe_kbps: None,
            last_rate_kbps: 0.0,
            responsive: 0,
            unresponsive: 0,
        }
    }

    /// One video packet: its arrival, payload length, whether it has the KeyFrame flag, and
    /// its media timestamp.
    pub fn observe(&mut self, now: Instant, payload_len: usize, keyframe: bool, timestamp: u32) {
        self.packets += 1;
        self.interval_bytes = self.interval_bytes.saturating_add(payload_len as u64);
        let (first, earliest, latest) = self.interval_media.get_or_insert((timestamp, 0, 0));
        // Wrapping difference read as signed: a packet from before the first is negative.
        let offset = i64::from(timestamp.wrapping_sub(*first) as i32);
        *earliest = (*earliest).min(offset);
        *latest = (*latest).max(offset);
        if !keyframe {
            if self.last_delta_timestamp.replace(timestamp) != Some(timestamp) {
                self.delta_frames += 1;
            }
            return;
        }
        self.keyframe_packets += 1;
        if self.last_keyframe_timestamp.replace(timestamp) == Some(timestamp) {
            return;
        }
        let requested = self
            .keyframe_requested_until
            .take()
            .is_some_and(|until| now <= until);
        if requested {
            // An answer to the relay's request is not the sender's GOP: neither the gap
            // that ends here nor the one that starts here is measured, and it is not an I
            // frame of the I/P ratio.
            self.last_keyframe_start = None;
            return;
        }
        self.keyframe_frames += 1;
        if let Some(last) = self.last_keyframe_start.replace(timestamp) {
            self.keyframe_gaps
                .push(f64::from(timestamp.wrapping_sub(last)) / 1000.0);
        }
    }

    /// The relay asked this sender for a keyframe (a PictureLossIndication): the next
    /// keyframe to start within [`KEYFRAME_ANSWER_WITHIN`] answers it.
    pub fn on_keyframe_request(&mut self, now: Instant) {
        self.keyframe_requested_until = Some(now + KEYFRAME_ANSWER_WITHIN);
    }

    /// A bandwidth estimate for the paths this sender's media goes to; ends a rate interval.
    pub fn on_bandwidth(&mut self, bwe_kbps: u32) {
        // Bytes per media millisecond are kilobytes per second.
        let span_ms = self
            .interval_media
            .map_or(0, |(_, earliest, latest)| latest - earliest);
        let rate_kbps = if span_ms > 0 {
            self.interval_bytes as f64 * 8.0 / span_ms as f64
        } else {
            0.0
        };
        if let Some(previous) = self.last_bwe_kbps.filter(|&kbps| kbps > 0) {
            let bwe_drop = (f64::from(previous) - f64::from(bwe_kbps)) / f64::from(previous);
            if bwe_drop > BWE_DROP && self.last_rate_kbps > 0.0 {
                let rate_drop = (self.last_rate_kbps - rate_kbps) / self.last_rate_kbps;
                if rate_drop >= RATE_DROP {
                    self.responsive += 1;
                } else {
                    self.unresponsive += 1;
                }
            }
        }
        self.last_bwe_kbps = Some(bwe_kbps);
        self.last_rate_kbps = rate_kbps;
        self.interval_media = None;
        self.interval_bytes = 0;
    }

    /// Discards the bytes of the current rate interval (a switch-over not to be measured).
    pub fn restart_interval(&mut self) {
        self.interval_bytes = 0;
        self.interval_media = None;
    }

    /// Bandwidth drops judged so far: (responsive, unresponsive).
    pub fn judged(&self) -> (u64, u64) {
        (self.responsive, self.unresponsive)
    }

    /// The legitimacy score in [0, 1], or `None` before [`MIN_PACKETS`] packets.
    pub fn legitimacy(&self) -> Option<f64> {
        if self.packets < MIN_PACKETS {
            return None;
        }
        let mut score = 1.0;
        match self.keyframe_gaps.cov(KEYFRAME_MIN_GAPS) {
            Some(cov) => score -= (1.0 - 1.0 / (1.0 + cov)) * 0.35,
            None if self.keyframe_packets == 0 && self.packets > NO_KEYFRAME_AFTER_PACKETS => {
                score -= 0.50;
            }
            None => score -= 0.10,
        }
        if self.delta_frames == 0 && self.packets > ALL_KEYFRAME_AFTER_PACKETS {
            score -= 0.60;
        } else if self.keyframe_frames == 0 {
            score -= 0.10;
        } else {
            let p_per_i = self.delta_frames as f64 / self.keyframe_frames as f64;
            let ip_score = ((p_per_i - 5.0) / (29.0 - 5.0)).clamp(0.0, 1.0);
            score -= (1.0 - ip_score) * 0.30;
        }
        let judged = self.responsive + self.unresponsive;
        if judged == 0 {
            score -= 0.15;
        } else {
            score -= (1.0 - self.responsive as f64 / judged as f64) * 0.40;
        }
        Some(score.clamp(0.0, 1.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance::verdict::{instant, Verdict, VerdictConfig};

    const FRAME: Duration = Duration::from_nanos(33_333_333);

    #[derive(Debug, Clone, Copy)]
    enum Event {
        Packet {
            len: usize,
            keyframe: bool,
            ts: u32,
        },
        Bandwidth(u32),
        /// The relay asked for a keyframe.
        Request,
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    fn play(mut events: Vec<(Duration, Event)>) -> VideoScorer {
        events.sort_by_key(|(at, _)| *at);
        let t0 = switchyard_testclock::origin();
        let mut scorer = VideoScorer::new();
        for (at, event) in events {
            match event {
                Event::Packet { len, keyframe, ts } => scorer.observe(t0 + at, len, keyframe, ts),
                Event::Bandwidth(kbps) => scorer.on_bandwidth(kbps),
                Event::Request => scorer.on_keyframe_request(t0 + at),
            }
        }
        scorer
    }

    /// 30 fps for `seconds`: every 60th frame (2 s) a keyframe of 24 packets, the others 6
    /// packets; a frame's packets 1 ms apart, `len(at)` bytes each.
    fn gop(seconds: u64, len: impl Fn(Duration) -> usize) -> Vec<(Duration, Event)> {
        let mut events = Vec::new();
        for frame in 0..seconds * 30 {
            let keyframe = frame.is_multiple_of(60);
            let start = Duration::from_nanos(33_333_333 * frame);
            for p in 0..if keyframe { 24 } else { 6 } {
                let at = start + ms(p);
                events.push((
                    at,
                    Event::Packet {
                        len: len(at),
                        keyframe,
                        ts: frame as u32 * 33,
                    },
                ));
            }
        }
        events
    }

    fn bandwidth(samples: impl IntoIterator<Item = (u64, u32)>) -> Vec<(Duration, Event)> {
        samples
            .into_iter()
            .map(|(s, kbps)| (secs(s), Event::Bandwidth(kbps)))
            .collect()
    }

    /// A one-packet delta frame (its timestamp: its arrival in ms).
    fn delta(at: Duration) -> (Duration, Event) {
        delta_part(at, at.as_millis() as u32)
    }

    /// A one-packet keyframe (its timestamp: its arrival in ms).
    fn key(at: Duration) -> (Duration, Event) {
        key_part(at, at.as_millis() as u32)
    }

    /// A packet of the delta frame with timestamp `ts`.
    fn delta_part(at: Duration, ts: u32) -> (Duration, Event) {
        let packet = Event::Packet {
            len: 500,
            keyframe: false,
            ts,
        };
        (at, packet)
    }

    /// A packet of the keyframe with timestamp `ts`.
    fn key_part(at: Duration, ts: u32) -> (Duration, Event) {
        let packet = Event::Packet {
            len: 1000,
            keyframe: true,
            ts,
        };
        (at, packet)
    }

    /// The score's verdict by the reference code's mapping and by the PRD's thresholds.
    fn verdicts(scorer: &VideoScorer) -> (Verdict, Verdict) {
        let score = scorer.legitimacy().expect("enough packets to score");
        let by = |config| instant(score, config);
        (by(VerdictConfig::REFERENCE_CODE), by(VerdictConfig::PRD))
    }

    fn assert_score(scorer: &VideoScorer, expected: f64) {
        let score = scorer.legitimacy().expect("enough packets to score");
        assert!(
            (score - expected).abs() < 1e-9,
            "score {score}, expected {expected}"
        );
    }

    // 354 delta frames over 6 keyframes: P/I = 59 frames, so the I/P feature costs nothing
    // (by packets, 2124 over 144, P/I = 14.75, it would cost (1 - 9.75/24) x 0.30).
    const GOP_IP_PENALTY: f64 = 0.0;

    #[test]
    fn scores_from_thirty_packets() {
        let stream = |n: u64| play((0..n).map(|i| delta(ms(33 * i))).collect());
        assert_eq!(stream(29).legitimacy(), None);
        assert!(stream(30).legitimacy().is_some());
    }

    #[test]
    fn regular_gop_that_follows_the_bandwidth_is_legitimate() {
        // Bandwidth halves at 11 s; the sender halved its rate from 10 s, inside the
        // interval the sample covers: responsive, and the only judged sample.
        let mut events = gop(12, |at| if at < secs(10) { 1000 } else { 500 });
        events.extend(bandwidth((1..=10).map(|s| (s, 4000))));
        events.extend(bandwidth([(11, 2000), (12, 2000)]));
        let scorer = play(events);
        assert_score(&scorer, 1.0 - GOP_IP_PENALTY);
        assert_eq!(
            verdicts(&scorer),
            (Verdict::Legitimate, Verdict::Legitimate)
        );
    }

    #[test]
    fn regular_gop_on_a_steady_network_pays_for_no_judged_sample() {
        // No drop over 30 %, nothing judged: 0.15. 0.85 is Legitimate by both mappings.
        let mut events = gop(12, |_| 1000);
        events.extend(bandwidth((1..=12).map(|s| (s, 4000))));
        let scorer = play(events);
        assert_score(&scorer, 1.0 - GOP_IP_PENALTY - 0.15);
        assert_eq!(
            verdicts(&scorer),
            (Verdict::Legitimate, Verdict::Legitimate)
        );
    }

    #[test]
    fn video_that_ignores_bandwidth_drops() {
        let mut events = gop(12, |_| 1000);
        events.extend(bandwidth([
            (1, 4000),
            (2, 4000),
            (3, 2000),
            (4, 4000),
            (5, 1000),
        ]));
        let ignores = play(events);
        assert_score(&ignores, 1.0 - GOP_IP_PENALTY - 0.40);
        assert_eq!(verdicts(&ignores), (Verdict::Suspect, Verdict::Legitimate));
        // Responsive to one of two drops: half the penalty.
        let mut events = gop(12, |at| if at < secs(4) { 1000 } else { 300 });
        events.extend(bandwidth([
            (1, 4000),
            (2, 4000),
            (3, 2000),
            (4, 4000),
            (5, 1000),
        ]));
        assert_score(&play(events), 1.0 - GOP_IP_PENALTY - 0.20);
    }

    #[test]
    fn keyframes_the_relay_asked_for_are_not_gop_keyframes() {
        // A regular 2 s GOP, plus three 24-packet keyframes in the first second (a room
        // filling up), each 20 ms after a request: the answers are left out.
        let extra: Vec<_> = [100u64, 400, 700]
            .into_iter()
            .flat_map(|r| {
                (0..24).map(move |p| {
                    key_part(ms(r + 20) + Duration::from_micros(100 * p), 5 + r as u32)
                })
            })
            .collect();
        let requests: Vec<_> = [100u64, 400, 700]
            .into_iter()
            .map(|r| (ms(r), Event::Request))
            .collect();
        let asked = play([gop(12, |_| 1000), extra.clone(), requests].concat());
        let plain = play(gop(12, |_| 1000));
        assert_eq!(asked.keyframe_frames, plain.keyframe_frames);
        assert_score(&asked, 0.85);
        assert_score(&plain, 0.85);
        // Unasked, the same three keyframes are held against it (irregular gaps).
        let unasked = play([gop(12, |_| 1000), extra].concat());
        assert_eq!(unasked.keyframe_frames, plain.keyframe_frames + 3);
        assert!(
            unasked.legitimacy().unwrap() < 0.8,
            "{:?}",
            unasked.legitimacy()
        );
        // An answer later than a second is not an answer.
        let late = play(vec![(ms(0), Event::Request), key(ms(1_001))]);
        assert_eq!(late.keyframe_frames, 1);
    }

    #[test]
    fn keyframe_packets_with_one_timestamp_are_one_keyframe_however_spread() {
        let t0 = switchyard_testclock::origin();
        let mut scorer = VideoScorer::new();
        // 40 packets over 80 ms (a paced keyframe), one timestamp: one keyframe.
        for p in 0..40 {
            scorer.observe(t0 + ms(2 * p), 1000, true, 990);
        }
        assert_eq!(
            scorer.last_keyframe_start,
            Some(990),
            "one keyframe, 78 ms long"
        );
        assert_eq!(scorer.keyframe_frames, 1);
        // The next timestamp is the next keyframe, however soon.
        let next = t0 + ms(79);
        scorer.observe(next, 1000, true, 1_023);
        assert_eq!(scorer.last_keyframe_start, Some(1_023));
        assert_eq!((scorer.keyframe_frames, scorer.keyframe_packets), (2, 41));
        // Delta packets group the same way.
        for p in 0..5 {
            scorer.observe(next + ms(p), 300, false, 1_056);
        }
        scorer.observe(next + ms(40), 300, false, 1_089);
        assert_eq!(scorer.delta_frames, 2);
    }

    #[test]
    fn keyframe_regularity_is_measured_in_media_time_not_arrival_time() {
        // A 2 s GOP whose keyframes arrive 0.5, 3.5, 4 and 6 s in (a stall held the second
        // back): in media time the gaps are all 2 s.
        let mut events = gop(12, |_| 1000);
        events.retain(|(_, e)| !matches!(e, Event::Packet { keyframe: true, .. }));
        for (n, arrival) in [500u64, 3_500, 4_000, 6_000, 8_000, 10_000]
            .into_iter()
            .enumerate()
        {
            events.push(key_part(ms(arrival), n as u32 * 1_980));
        }
        let scorer = play(events);
        assert_eq!(scorer.keyframe_gaps.cov(KEYFRAME_MIN_GAPS), Some(0.0));
    }

    #[test]
    fn keyframe_regularity_costs_one_minus_one_over_one_plus_cov() {
        // A delta packet every 20 ms for 8 s; single-packet keyframes at 0, 1, 4, 5 and
        // 8 s: gaps 1, 3, 1, 3 s, CoV 0.5, regularity 2/3. P/I = 79 scores 1.
        let keys = [0, 1, 4, 5, 8].map(|s| key(secs(s)));
        let mut events: Vec<_> = (0..400).map(|i| delta(ms(20 * i) + ms(10))).collect();
        events.extend(keys);
        assert_score(&play(events), 1.0 - (1.0 - 2.0 / 3.0) * 0.35 - 0.15);
    }

    #[test]
    fn never_keyframe_video_after_120_packets() {
        let stream = |n: u64| play((0..n).map(|i| delta(FRAME * i as u32)).collect());
        // Too few gaps 0.10, no I packet 0.10, nothing judged 0.15.
        assert_score(&stream(120), 0.65);
        assert_score(&stream(121), 1.0 - 0.50 - 0.10 - 0.15);
        assert_eq!(verdicts(&stream(121)), (Verdict::Abusive, Verdict::Suspect));
    }

    #[test]
    fn all_keyframe_video() {
        // 30 fps, six KeyFrame packets a frame: every frame is a keyframe, perfectly
        // regular, but there is no P packet: 0.60, and nothing judged 0.15.
        let events = (0..300u32)
            .flat_map(|f| (0..6).map(move |p| key_part(FRAME * f + ms(p), f * 33)))
            .collect();
        let all_key = play(events);
        assert_score(&all_key, 0.25);
        assert_eq!(verdicts(&all_key), (Verdict::Abusive, Verdict::Suspect));
        // A back-to-back keyframe flood with one timestamp is one long keyframe: too few
        // gaps, 0.10.
        let flood = |n: u64| play((0..n).map(|i| key_part(ms(i), 0)).collect());
        assert_score(&flood(30), 1.0 - 0.10 - 0.30 - 0.15);
        assert_score(&flood(31), 1.0 - 0.10 - 0.60 - 0.15);
    }

    #[test]
    fn ip_ratio_scores_linearly_from_5_to_29_p_per_i() {
        // `keys` one-packet keyframes 20 ms apart, then `deltas` one-packet delta frames.
        // Nothing judged (0.15); under 3 keyframe gaps 0.10, more are perfectly regular (0).
        let stream = |keys: u64, deltas: u64| {
            let mut events: Vec<_> = (0..keys).map(|i| key(ms(20 * i))).collect();
            events.extend((0..deltas).map(|i| delta(ms(300 + 33 * i))));
            play(events)
        };
        assert_score(&stream(1, 29), 0.75);
        assert_score(&stream(1, 40), 0.75);
        assert_score(&stream(2, 34), 0.75 - 0.5 * 0.30);
        assert_score(&stream(5, 25), 0.85 - 0.30);
        assert_score(&stream(10, 30), 0.85 - 0.30);
        // Packets of one frame (under 10 ms apart) are one frame: 29 frames of 3 packets
        // against one keyframe of 30 packets is P/I = 29.
        let mut events: Vec<_> = (0..30)
            .map(|i| key(Duration::from_micros(100 * i)))
            .collect();
        for f in 0..29u64 {
            events.extend((0..3).map(|p| delta(ms(300 + 33 * f + p))));
        }
        assert_score(&play(events), 0.75);
    }

    /// One delta-only interval a second: nine 10 000 B packets and one that brings the
    /// second's total to `bytes[s]`, their timestamps spanning 1000 ms. Samples at the end of
    /// each second.
    fn paced(bytes: [u64; 3], bwe: [u32; 3]) -> VideoScorer {
        let mut events = Vec::new();
        for (s, (total, kbps)) in (0u64..).zip(bytes.into_iter().zip(bwe)) {
            for p in 0..10 {
                let len = if p < 9 { 10_000 } else { total - 90_000 };
                let packet = Event::Packet {
                    len: len as usize,
                    keyframe: false,
                    // Media time spans the second: 0 to 1000 ms.
                    ts: (s * 1000 + p * 1000 / 9) as u32,
                };
                events.push((secs(s) + ms(50 + 100 * p), packet));
            }
            events.push((secs(s + 1), Event::Bandwidth(kbps)));
        }
        play(events)
    }

    #[test]
    fn a_bandwidth_drop_is_judged_over_30_percent() {
        // 30 delta packets: too few gaps 0.10, no I packet 0.10.
        let rates = [125_000, 125_000, 112_500];
        assert_score(&paced(rates, [1000, 1000, 700]), 0.8 - 0.15);
        assert_score(&paced(rates, [1000, 1000, 699]), 0.8);
    }

    #[test]
    fn a_responsive_sender_drops_its_rate_by_10_percent() {
        // 1000 kbps, then 900 kbps (exactly 10 % less), then 901 kbps.
        assert_score(&paced([125_000, 125_000, 112_500], [1000, 1000, 699]), 0.8);
        assert_score(&paced([125_000, 125_000, 112_625], [1000, 1000, 699]), 0.4);
    }

    #[test]
    fn a_stall_before_a_bandwidth_drop_does_not_make_a_responsive_sender_unresponsive() {
        // 30 fps of 1000 B frames; the bandwidth halves at 10 s and the sender halves its
        // frames from then on. The frames of 9-10 s were held by the path and arrive at
        // 10.5 s: by arrival, the second after the drop carried more bytes than the one
        // before; by media time the sender's rate fell by a quarter.
        let mut events = Vec::new();
        for frame in 0..330u64 {
            let media = Duration::from_nanos(33_333_333 * frame);
            let arrival = if (secs(9)..secs(10)).contains(&media) {
                ms(10_500)
            } else {
                media
            };
            let len = if media < secs(10) { 1000 } else { 500 };
            let packet = Event::Packet {
                len,
                keyframe: false,
                ts: frame as u32 * 33,
            };
            events.push((arrival, packet));
        }
        events.extend(bandwidth([(10, 4000), (11, 2000)]));
        let scorer = play(events);
        assert_eq!((scorer.responsive, scorer.unresponsive), (1, 0));
    }

    #[test]
    fn a_drop_after_a_silent_interval_is_not_judged() {
        let t0 = switchyard_testclock::origin();
        let mut scorer = VideoScorer::new();
        scorer.on_bandwidth(4000);
        scorer.on_bandwidth(4000);
        for i in 0..30u64 {
            scorer.observe(t0 + secs(1) + ms(10 + 30 * i), 1000, false, i as u32);
        }
        scorer.on_bandwidth(1000);
        assert_eq!((scorer.responsive, scorer.unresponsive), (0, 0));
        assert_score(&scorer, 0.65);
    }
}
