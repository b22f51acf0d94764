//! Tier F audio scorer (reference 5.3): how much one participant's audio stream behaves like
//! a person talking through a WZP codec, as a legitimacy score in [0, 1].
//!
//! Speech has jittery but bounded timing, pauses that the codec sends as tiny packets, a
//! bitrate near the codec's, and a client that attaches a QualityReport at a steady cadence.
//! A tunnel or a covert channel misses some of these. The score starts at 1.0 and each
//! feature subtracts its penalty; the sum is clamped to [0, 1]. No score below 20 packets.
//!
//! ```text
//! feature                     window                     penalty
//! inter-arrival CoV           last 200 IATs (>= 10)      CoV > 0.4:  min((CoV-0.4)/0.6, 1) x 0.25
//! silence fraction (<= 16 B)  every packet so far        f < 0.02:   min((0.02-f)/0.02, 1) x 0.25
//!                                                        f > 0.60:   min((f-0.6)/0.4, 1) x 0.15
//! bitrate / nominal           last complete 30 s window  r > 1.2:    min((r-1.2)/0.8, 1) x 0.25
//! QualityReport cadence CV    last 32 intervals (>= 3)   CV > 0.5:   min((CV-0.5)/0.5, 1) x 0.15
//!                                                        none at all after 100 packets: 0.10
//! size bimodality             last 200 sizes             1 - |p_small-0.5| x 2 < 0.2: 0.10
//! ```
//!
//! CoVs are population standard deviation over mean, of arrival gaps in seconds. The nominal
//! bitrate is that of the first packet's codec; a codec with none (ComfortNoise) is never
//! penalised for bitrate. Where this differs from the reference code:
//!
//! - Bitrate counts payload bytes, not the 16 B header as well: header overhead alone is
//!   3.2 kbps at 25 packets/s, which would put every honest Codec2_1200 stream past 1.2x.
//! - It is judged on the last *complete* window (windows aligned to the first packet; a
//!   window with no packets counts as 0 bps), not on the window still filling, whose
//!   `bytes x 8 / 30` understates the rate until it is full.
//! - "No QualityReport" means none at all (the reference code also penalises fewer than four).
//!   "After 100 packets" is the reference code's `> 100`.
//!
//! All state is fixed-size (about 2 KB per stream): nothing is allocated per packet.
//! [`AudioScorer::legitimacy`] walks its rings (some 230 samples), so call it on a tick, not
//! per packet.
#![deny(clippy::indexing_slicing)]

use super::samples::Samples;
use std::time::{Duration, Instant};
use switchyard_proto::codec::CodecId;

/// Packets before [`AudioScorer::legitimacy`] gives a score.
pub const MIN_PACKETS: u64 = 20;
/// A payload this size or smaller is a silence (or comfort-noise) frame.
pub const SILENCE_MAX_BYTES: usize = 16;
/// The tumbling window over which bitrate is compared with the codec's.
pub const BITRATE_WINDOW: Duration = Duration::from_secs(30);

const IAT_SAMPLES: usize = 200;
const IAT_MIN_SAMPLES: usize = 10;
const QUALITY_INTERVALS: usize = 32;
const QUALITY_MIN_INTERVALS: usize = 3;
const NO_QUALITY_AFTER_PACKETS: u64 = 100;
const SIZE_SAMPLES: usize = 200;

/// One participant's audio stream, fed every audio packet it sends.
#[derive(Debug, Clone)]
pub struct AudioScorer {
    packets: u64,
    silent_packets: u64,
    quality_reports: u64,
    nominal_bps: Option<u32>,
    last_arrival: Option<Instant>,
    inter_arrivals: Samples<IAT_SAMPLES>,
    last_quality_report: Option<Instant>,
    quality_intervals: Samples<QUALITY_INTERVALS>,
    sizes: SmallShare<SIZE_SAMPLES>,
    bitrate: TumblingBytes,
}

impl Default for AudioScorer {
    fn default() -> Self {
        Self::new()
    }
}

impl AudioScorer {
    pub fn new() -> Self {
        Self {
            packets: 0,
            silent_packets: 0,
            quality_reports: 0,
            nominal_bps: None,
            last_arrival: None,
            inter_arrivals: Samples::new(),
            last_quality_report: None,
            quality_intervals: Samples::new(),
            sizes: SmallShare::new(),
            bitrate: TumblingBytes::default(),
        }
    }

    /// One audio packet: its arrival, codec, payload length (bytes after the MediaHeader) and
    /// whether it carries a QualityReport (the Q flag).
    pub fn observe(
        &mut self,
        now: Instant,
        codec: CodecId,
        payload_len: usize,
        quality_flag: bool,
    ) {
        self.packets += 1;
        self.nominal_bps.get_or_insert(codec.nominal_bitrate_bps());
        if let Some(last) = self.last_arrival.replace(now) {
            self.inter_arrivals
                .push(now.saturating_duration_since(last).as_secs_f64());
        }
        let silent = payload_len <= SILENCE_MAX_BYTES;
        if silent {
            self.silent_packets += 1;
        }
        self.sizes.push(silent);
        self.bitrate.add(now, payload_len);
        if quality_flag {
            self.quality_reports += 1;
            if let Some(last) = self.last_quality_report.replace(now) {
                self.quality_intervals
                    .push(now.saturating_duration_since(last).as_secs_f64());
            }
        }
    }

    /// The legitimacy score in [0, 1], or `None` before [`MIN_PACKETS`] packets.
    pub fn legitimacy(&self) -> Option<f64> {
        if self.packets < MIN_PACKETS {
            return None;
        }
        let mut score = 1.0;
        if let Some(cov) = self.inter_arrivals.cov(IAT_MIN_SAMPLES) {
            if cov > 0.4 {
                score -= ((cov - 0.4) / 0.6).min(1.0) * 0.25;
            }
        }
        let silence = self.silent_packets as f64 / self.packets as f64;
        if silence < 0.02 {
            score -= ((0.02 - silence) / 0.02).min(1.0) * 0.25;
        } else if silence > 0.6 {
            score -= ((silence - 0.6) / 0.4).min(1.0) * 0.15;
        }
        if let Some(ratio) = self.bitrate_ratio() {
            if ratio > 1.2 {
                score -= ((ratio - 1.2) / 0.8).min(1.0) * 0.25;
            }
        }
        match self.quality_intervals.cov(QUALITY_MIN_INTERVALS) {
            Some(cv) if cv > 0.5 => score -= ((cv - 0.5) / 0.5).min(1.0) * 0.15,
            Some(_) => {}
            None if self.quality_reports == 0 && self.packets > NO_QUALITY_AFTER_PACKETS => {
                score -= 0.10;
            }
            None => {}
        }
        if self.sizes.bimodality() < 0.2 {
            score -= 0.10;
        }
        Some(score.clamp(0.0, 1.0))
    }

    /// The last complete window's bitrate over the first codec's nominal one.
    fn bitrate_ratio(&self) -> Option<f64> {
        let nominal = self.nominal_bps.filter(|&bps| bps > 0)?;
        let bytes = self.bitrate.last_complete?;
        Some(bytes as f64 * 8.0 / BITRATE_WINDOW.as_secs_f64() / f64::from(nominal))
    }
}

/// Bytes per [`BITRATE_WINDOW`], windows aligned to the first packet.
#[derive(Debug, Clone, Copy, Default)]
struct TumblingBytes {
    start: Option<Instant>,
    bytes: u64,
    last_complete: Option<u64>,
}

impl TumblingBytes {
    fn add(&mut self, now: Instant, len: usize) {
        let start = *self.start.get_or_insert(now);
        let elapsed = now.saturating_duration_since(start);
        if elapsed >= BITRATE_WINDOW {
            let window = BITRATE_WINDOW.as_nanos();
            let whole = elapsed.as_nanos() / window;
            // Past a gap of whole windows, the newest complete one carried nothing.
            self.last_complete = Some(if whole == 1 { self.bytes } else { 0 });
            let into_current = u64::try_from(elapsed.as_nanos() % window).unwrap_or(0);
            self.start = Some(
                now.checked_sub(Duration::from_nanos(into_current))
                    .unwrap_or(now),
            );
            self.bytes = 0;
        }
        self.bytes = self.bytes.saturating_add(len as u64);
    }
}

/// Of the newest `N` packets, how many were small (silence-sized).
#[derive(Debug, Clone)]
struct SmallShare<const N: usize> {
    small: [bool; N],
    next: usize,
    len: usize,
    small_count: usize,
}

impl<const N: usize> SmallShare<N> {
    const fn new() -> Self {
        Self {
            small: [false; N],
            next: 0,
            len: 0,
            small_count: 0,
        }
    }

    fn push(&mut self, small: bool) {
        if let Some(slot) = self.small.get_mut(self.next) {
            if self.len == N && *slot {
                self.small_count -= 1;
            }
            *slot = small;
        }
        if small {
            self.small_count += 1;
        }
        self.next = if self.next + 1 >= N { 0 } else { self.next + 1 };
        self.len = (self.len + 1).min(N);
    }

    /// `1 - |p_small - 0.5| x 2`: 1 for an even split, 0 for all one kind. Written over a
    /// single division so that a share on the threshold lands on it exactly.
    fn bimodality(&self) -> f64 {
        if self.len == 0 {
            return 0.0;
        }
        let spread = (2 * self.small_count).abs_diff(self.len);
        (self.len - spread.min(self.len)) as f64 / self.len as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance::verdict::{instant, Verdict, VerdictConfig};

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn assert_score(scorer: &AudioScorer, expected: f64) {
        let score = scorer.legitimacy().expect("enough packets to score");
        assert!(
            (score - expected).abs() < 1e-9,
            "score {score}, expected {expected}"
        );
    }

    /// The score's verdict by the reference code's mapping and by the PRD's thresholds.
    fn verdicts(scorer: &AudioScorer) -> (Verdict, Verdict) {
        let score = scorer.legitimacy().expect("enough packets to score");
        let by = |config| instant(score, config);
        (by(VerdictConfig::REFERENCE_CODE), by(VerdictConfig::PRD))
    }

    /// `n` Opus24k packets; packet `i` arrives at `at(i)`, `len(i)` bytes, Q flag `q(i)`.
    fn scored(
        n: u64,
        at: impl Fn(u64) -> Duration,
        len: impl Fn(u64) -> usize,
        q: impl Fn(u64) -> bool,
    ) -> AudioScorer {
        let t0 = switchyard_testclock::origin();
        let mut scorer = AudioScorer::new();
        for i in 0..n {
            scorer.observe(t0 + at(i), CodecId::Opus24k, len(i), q(i));
        }
        scorer
    }

    // The baseline that no feature penalises: steady 20 ms, every other packet silent, a
    // QualityReport every 10 packets, well under the codec's bitrate.
    fn every_20ms(i: u64) -> Duration {
        ms(20 * i)
    }
    fn half_silent(i: u64) -> usize {
        if i.is_multiple_of(2) {
            8
        } else {
            60
        }
    }
    fn q_every_10(i: u64) -> bool {
        i.is_multiple_of(10)
    }

    /// Arrival jitter of 0..=8 ms, from a fixed xorshift sequence.
    fn jitter(i: u64) -> Duration {
        let mut x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        Duration::from_micros(x % 8_001)
    }

    #[test]
    fn scores_from_twenty_packets() {
        assert_eq!(
            scored(19, every_20ms, half_silent, q_every_10).legitimacy(),
            None
        );
        assert_score(&scored(20, every_20ms, half_silent, q_every_10), 1.0);
    }

    #[test]
    fn inter_arrival_cov_penalty_from_both_sides_of_0_4() {
        // Gaps alternate short and long around 20 ms: CoV = half the difference over 20 ms.
        let alternating = |short: u64| move |i: u64| ms(i / 2 * 40 + (i % 2) * short);
        assert_score(&scored(101, alternating(12), half_silent, q_every_10), 1.0);
        assert_score(
            &scored(101, alternating(11), half_silent, q_every_10),
            1.0 - 0.05 / 0.6 * 0.25,
        );
        assert_score(
            &scored(101, alternating(1), half_silent, q_every_10),
            1.0 - 0.55 / 0.6 * 0.25,
        );
    }

    #[test]
    fn silence_under_two_percent_from_both_sides() {
        // So little silence also leaves sizes unimodal (bimodality under 0.2): 0.10 more.
        let first_silent = |k: u64| move |i: u64| if i < k { 8 } else { 60 };
        assert_score(&scored(100, every_20ms, first_silent(2), q_every_10), 0.9);
        assert_score(
            &scored(100, every_20ms, first_silent(1), q_every_10),
            0.9 - 0.125,
        );
        assert_score(&scored(100, every_20ms, first_silent(0), q_every_10), 0.65);
    }

    #[test]
    fn silence_over_sixty_percent_from_both_sides() {
        let first_silent = |k: u64| move |i: u64| if i < k { 8 } else { 60 };
        assert_score(&scored(100, every_20ms, first_silent(60), q_every_10), 1.0);
        assert_score(
            &scored(100, every_20ms, first_silent(61), q_every_10),
            1.0 - 0.01 / 0.4 * 0.15,
        );
        assert_score(
            &scored(100, every_20ms, first_silent(100), q_every_10),
            1.0 - 0.15 - 0.10,
        );
    }

    #[test]
    fn silence_is_sixteen_bytes_or_less() {
        let sized = |small: usize| move |i: u64| if i.is_multiple_of(2) { small } else { 60 };
        assert_score(&scored(100, every_20ms, sized(16), q_every_10), 1.0);
        assert_score(
            &scored(100, every_20ms, sized(17), q_every_10),
            1.0 - 0.25 - 0.10,
        );
    }

    #[test]
    fn bitrate_ratio_penalty_from_both_sides_of_1_2() {
        // 750 silent (8 B) and 750 voiced packets fill the first 30 s window; the packet at
        // 30 s completes it. 750 x (8 + 136) B = 108 000 B = 28 800 bps = 1.2 x 24 kbps.
        let voiced = |v: usize| move |i: u64| if i.is_multiple_of(2) { 8 } else { v };
        assert_score(&scored(1501, every_20ms, voiced(136), q_every_10), 1.0);
        let ratio = (750.0 * (8.0 + 137.0)) * 8.0 / 30.0 / 24_000.0;
        assert_score(
            &scored(1501, every_20ms, voiced(137), q_every_10),
            1.0 - (ratio - 1.2) / 0.8 * 0.25,
        );
        assert_score(
            &scored(1501, every_20ms, voiced(600), q_every_10),
            1.0 - 0.25,
        );
    }

    #[test]
    fn bitrate_is_judged_on_a_complete_window_against_the_first_codec() {
        let t0 = switchyard_testclock::origin();
        let mut scorer = AudioScorer::new();
        for i in 0..1501u64 {
            // Only the first packet says Opus24k; the rest run at Opus64k's rate.
            let codec = if i == 0 {
                CodecId::Opus24k
            } else {
                CodecId::Opus64k
            };
            let len = if i.is_multiple_of(2) { 8 } else { 312 };
            scorer.observe(t0 + every_20ms(i), codec, len, q_every_10(i));
            if i == 1499 {
                assert_score(&scorer, 1.0);
            }
        }
        assert_score(&scorer, 1.0 - 0.25);
    }

    #[test]
    fn tumbling_windows_align_to_the_first_packet_and_count_gaps_as_empty() {
        let t0 = switchyard_testclock::origin();
        let mut bytes = TumblingBytes::default();
        bytes.add(t0 + ms(5), 100);
        bytes.add(t0 + ms(30_004), 10);
        assert_eq!(bytes.last_complete, None, "the window ends at 30.005 s");
        bytes.add(t0 + ms(30_005), 1);
        assert_eq!(bytes.last_complete, Some(110));
        bytes.add(t0 + ms(60_004), 2);
        assert_eq!(bytes.last_complete, Some(110));
        bytes.add(t0 + ms(60_005), 4);
        assert_eq!(bytes.last_complete, Some(3));
        bytes.add(t0 + ms(125_000), 8);
        assert_eq!(
            bytes.last_complete,
            Some(0),
            "60.005..90.005 s carried nothing"
        );
        bytes.add(t0 + ms(150_005), 0);
        assert_eq!(
            bytes.last_complete,
            Some(8),
            "windows stay on the 30 s grid"
        );
    }

    #[test]
    fn comfort_noise_has_no_nominal_bitrate_to_exceed() {
        let t0 = switchyard_testclock::origin();
        let mut scorer = AudioScorer::new();
        for i in 0..1501u64 {
            let len = if i.is_multiple_of(2) { 8 } else { 600 };
            scorer.observe(
                t0 + every_20ms(i),
                CodecId::ComfortNoise,
                len,
                q_every_10(i),
            );
        }
        assert_score(&scorer, 1.0);
    }

    #[test]
    fn quality_cadence_cv_penalty_from_both_sides_of_0_5() {
        // QualityReports alternately `short` and `20 - short` packets apart: 8 intervals,
        // CV = |20 - 2 short| / 20.
        let cadence = |short: u64| move |i: u64| i.is_multiple_of(20) || i % 20 == short;
        assert_score(&scored(81, every_20ms, half_silent, cadence(5)), 1.0);
        assert_score(
            &scored(81, every_20ms, half_silent, cadence(4)),
            1.0 - 0.1 / 0.5 * 0.15,
        );
        assert_score(
            &scored(81, every_20ms, half_silent, cadence(1)),
            1.0 - 0.4 / 0.5 * 0.15,
        );
    }

    #[test]
    fn no_quality_report_at_all_costs_0_10_after_100_packets() {
        let never = |_| false;
        assert_score(&scored(100, every_20ms, half_silent, never), 1.0);
        assert_score(&scored(101, every_20ms, half_silent, never), 0.9);
        assert_score(&scored(101, every_20ms, half_silent, |i| i == 50), 1.0);
    }

    #[test]
    fn size_bimodality_penalty_from_both_sides_of_0_2() {
        let first_silent = |k: u64| move |i: u64| if i < k { 8 } else { 60 };
        assert_score(&scored(200, every_20ms, first_silent(20), q_every_10), 1.0);
        assert_score(&scored(200, every_20ms, first_silent(19), q_every_10), 0.9);
        // Only the newest 200 sizes count: half silent overall, none of late.
        assert_score(&scored(400, every_20ms, first_silent(200), q_every_10), 0.9);
    }

    #[test]
    fn speech_like_audio_is_legitimate() {
        // 20 ms +0..8 ms jitter (IAT CoV about 0.16), 30 % silence in talk spurts of 70
        // voiced packets, a QualityReport every 50 packets, 23.4 kbps of Opus24k, 32 s.
        let scorer = scored(
            1600,
            |i| every_20ms(i) + jitter(i),
            |i| if i % 100 < 70 { 80 } else { 8 },
            |i| i.is_multiple_of(50),
        );
        assert_score(&scorer, 1.0);
        assert_eq!(
            verdicts(&scorer),
            (Verdict::Legitimate, Verdict::Legitimate)
        );
    }

    #[test]
    fn five_megabit_tunnel_declared_as_opus24k() {
        // 1250 B every 2 ms, steady, no silence, no QualityReport. Penalised for silence,
        // bitrate (208x), the missing reports and unimodal sizes: 0.30, Suspect by the
        // reference mapping and exactly on the PRD's threshold (not below it up to float
        // rounding). Tier A's 82.8 kbps ceiling is what stops this one.
        let steady = scored(15_001, |i| ms(2 * i), |_| 1250, |_| false);
        assert_score(&steady, 0.30);
        assert_eq!(verdicts(&steady).0, Verdict::Suspect);
        // Sent in bursts of ten back to back every 20 ms, the CoV of 3 costs 0.25 more.
        let bursts = scored(15_001, |i| ms(i / 10 * 20), |_| 1250, |_| false);
        assert_score(&bursts, 0.05);
        assert_eq!(verdicts(&bursts), (Verdict::Abusive, Verdict::Abusive));
    }

    #[test]
    fn stuffed_payloads_at_the_nominal_rate() {
        // 60 B every 20 ms is exactly 24 kbps, client-like jitter and reports, no silence:
        // only silence (0.25) and bimodality (0.10) see it. 0.65: Suspect by the reference
        // mapping, above the PRD's 0.3. Tier D's payload bound is the PRD's answer.
        let scorer = scored(
            1501,
            |i| every_20ms(i) + jitter(i),
            |_| 60,
            |i| i.is_multiple_of(50),
        );
        assert_score(&scorer, 0.65);
        assert_eq!(verdicts(&scorer), (Verdict::Suspect, Verdict::Legitimate));
    }

    #[test]
    fn constant_interval_covert_timing_without_silence() {
        // Exactly 20 ms, one size, no reports: silence 0.25, no reports 0.10, bimodality
        // 0.10. 0.55: Suspect by the reference mapping, above the PRD's 0.3.
        let scorer = scored(1501, every_20ms, |_| 60, |_| false);
        assert_score(&scorer, 0.55);
        assert_eq!(verdicts(&scorer), (Verdict::Suspect, Verdict::Legitimate));
    }
}
