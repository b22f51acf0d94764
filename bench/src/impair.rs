//! What a network path does to UDP packets: loss (independent or in bursts), delay, jitter,
//! reordering and duplication, as a pure seeded model.
//!
//! A [`Link`] is one direction of one path. It decides each packet's [`Fate`] when the packet
//! is sent: lost, or delivered at an instant, perhaps twice. It never reads the clock (the
//! caller passes `now`, real or simulated) and never sleeps: the caller holds the packet until
//! its instant. All randomness comes from one `StdRng` seeded by the caller, so the same seed
//! and the same calls give the same fates.
//!
//! Each packet goes through these steps, in this order. A step whose parameter is zero draws
//! no random number, so a link without impairment draws none and costs a branch.
//! 1. Loss: one draw, an independent coin or one step of a Gilbert chain
//!    ([`Impairment::burst`]). The chain starts in the good state and steps before each
//!    packet; the state it lands in decides the packet.
//! 2. One-way delay: `delay` plus a uniform offset in `[-jitter, +jitter]`, at least zero,
//!    then raised to the in-order floor (the latest arrival of a packet not held back), so
//!    jitter alone never reorders.
//! 3. Reordering: a held-back packet arrives `2 * jitter + 5 ms` after its in-order instant,
//!    past every packet sent up to 5 ms after it that is not held back too, and leaves the
//!    floor where it was.
//! 4. Duplication: the copy arrives at the same instant as the packet.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

/// How much longer than the jitter window a held-back packet waits.
const HOLD_MARGIN: Duration = Duration::from_millis(5);

/// What one direction of a path does to packets.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize)]
pub struct Impairment {
    /// Fraction of packets lost, 0.0..=1.0.
    pub loss: f64,
    /// Mean length of a loss burst in packets. Up to 1.0: independent (Bernoulli) losses.
    /// Above 1.0: a Gilbert two-state model (good state delivers, bad state loses every
    /// packet, P(bad->good) = 1/burst, P(good->bad) chosen so the long-run loss equals `loss`).
    /// A good run lasts at least one packet, so `loss` can be at most `burst / (1 + burst)`.
    pub burst: f64,
    pub delay: Duration,
    /// Each packet's one-way delay is `delay` plus a uniform offset in [-jitter, +jitter]
    /// (never below zero). Jitter alone never reorders: a packet never arrives before one
    /// sent earlier on the same link (arrival = max(computed, previous in-order arrival)).
    pub jitter: Duration,
    /// Fraction of packets held back by an extra `2 * jitter + 5 ms`; later packets overtake
    /// them (they do not move the in-order arrival floor).
    pub reorder: f64,
    /// Fraction of packets delivered twice (the copy arrives at the same instant).
    pub duplicate: f64,
}

impl Impairment {
    /// A perfect path: every packet arrives at once, exactly once, in order.
    pub fn none() -> Self {
        Self::default()
    }

    /// True when the impairment changes nothing (`burst` alone does not count).
    pub fn is_none(&self) -> bool {
        self.loss == 0.0
            && self.reorder == 0.0
            && self.duplicate == 0.0
            && self.delay.is_zero()
            && self.jitter.is_zero()
    }

    /// Checks every field. [`Link::new`] does not: a link built from an impairment that
    /// fails here does not panic, but it models nothing meaningful.
    pub fn validate(&self) -> Result<(), String> {
        fraction("loss", self.loss)?;
        fraction("reorder", self.reorder)?;
        fraction("duplicate", self.duplicate)?;
        if !self.burst.is_finite() || self.burst < 0.0 {
            return Err(format!(
                "burst must be a mean loss burst length in packets, 0 or more, not {}",
                self.burst
            ));
        }
        if self.burst > 1.0 && self.loss > 0.0 {
            let (enter, _) = gilbert(self.loss, self.burst);
            // Tolerance for rounding at exactly loss = burst / (1 + burst).
            if enter > 1.0 + 1e-9 {
                return Err(format!(
                    "loss {} with burst {} is unreachable: with bursts of {} packets the loss \
                     can be at most {:.4} (a good run lasts at least one packet); lower loss, \
                     raise burst, or use burst 1 for independent losses",
                    self.loss,
                    self.burst,
                    self.burst,
                    self.burst / (1.0 + self.burst)
                ));
            }
        }
        Ok(())
    }
}

fn fraction(name: &str, value: f64) -> Result<(), String> {
    if (0.0..=1.0).contains(&value) {
        Ok(())
    } else {
        Err(format!(
            "{name} must be a fraction between 0 and 1 (0 % to 100 %), not {value}"
        ))
    }
}

/// P(good->bad) and P(bad->good) of the Gilbert chain with long-run loss `loss` and mean
/// burst `burst`. The chain spends `enter / (enter + leave)` of the packets in the bad
/// state; setting that to `loss` gives `enter`.
fn gilbert(loss: f64, burst: f64) -> (f64, f64) {
    let leave = 1.0 / burst;
    (leave * loss / (1.0 - loss), leave)
}

/// What happens to one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    Lost,
    /// Arrives at `at`; with `duplicate`, a second copy arrives at the same instant.
    Delivered {
        at: Instant,
        duplicate: bool,
    },
}

/// Counts of what a link did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct LinkStats {
    /// Packets sent into the link, lost or not.
    pub packets: u64,
    pub lost: u64,
    pub duplicated: u64,
    /// Packets held back (later packets may overtake them).
    pub reordered: u64,
}

/// How a link decides losses, fixed when it is built.
#[derive(Debug, Clone, Copy)]
enum LossModel {
    Never,
    Independent(f64),
    Bursts { enter: f64, leave: f64 },
}

/// When a link's impairment begins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Onset {
    /// With the first packet.
    Start,
    /// Not yet known: clean until it is.
    Deferred,
    At(Instant),
}

/// One direction of one path.
#[derive(Debug)]
pub struct Link {
    impairment: Impairment,
    /// `impairment.is_none()`: skip every step.
    passthrough: bool,
    loss: LossModel,
    /// The Gilbert chain is in the bad (losing) state.
    bad: bool,
    /// `jitter` in nanoseconds, capped so that twice it fits a u64.
    jitter_ns: u64,
    /// Extra wait of a held-back packet.
    hold: Duration,
    /// Latest arrival of a packet that was not held back.
    floor: Option<Instant>,
    /// When the impairment begins; before it packets pass untouched.
    onset: Onset,
    rng: StdRng,
    stats: LinkStats,
}

impl Link {
    pub fn new(impairment: Impairment, seed: u64) -> Self {
        let Impairment {
            loss,
            burst,
            jitter,
            ..
        } = impairment;
        let loss_model = if loss > 0.0 && burst > 1.0 {
            let (enter, leave) = gilbert(loss, burst);
            LossModel::Bursts { enter, leave }
        } else if loss > 0.0 {
            LossModel::Independent(loss)
        } else {
            LossModel::Never
        };
        Self {
            impairment,
            passthrough: impairment.is_none(),
            loss: loss_model,
            bad: false,
            jitter_ns: u64::try_from(jitter.as_nanos())
                .unwrap_or(u64::MAX)
                .min(u64::MAX / 2),
            hold: jitter.saturating_mul(2).saturating_add(HOLD_MARGIN),
            floor: None,
            onset: Onset::Start,
            rng: StdRng::seed_from_u64(seed),
            stats: LinkStats::default(),
        }
    }

    /// The fate of one packet sent at `now`.
    pub fn transmit(&mut self, now: Instant) -> Fate {
        self.stats.packets += 1;
        let clean = match self.onset {
            Onset::Start => false,
            Onset::Deferred => true,
            Onset::At(onset) => now < onset,
        };
        if self.passthrough || clean {
            return Fate::Delivered {
                at: now,
                duplicate: false,
            };
        }
        if self.lose() {
            self.stats.lost += 1;
            return Fate::Lost;
        }
        let mut at = later(now, self.one_way_delay());
        if let Some(floor) = self.floor {
            at = at.max(floor);
        }
        if self.chance(self.impairment.reorder) {
            self.stats.reordered += 1;
            at = later(at, self.hold);
        } else {
            self.floor = Some(at);
        }
        let duplicate = self.chance(self.impairment.duplicate);
        if duplicate {
            self.stats.duplicated += 1;
        }
        Fate::Delivered { at, duplicate }
    }

    pub fn stats(&self) -> LinkStats {
        self.stats
    }

    /// The impairment waits until [`Self::start_at`] names its start: until then packets
    /// pass at once, untouched (for an onset relative to an event still to come, like
    /// joining).
    pub fn defer(&mut self) {
        self.onset = Onset::Deferred;
    }

    /// The impairment begins at `at`: packets sent before it pass at once, untouched (the
    /// default is impaired from the first packet).
    pub fn start_at(&mut self, at: Instant) {
        self.onset = Onset::At(at);
    }

    /// When the impairment began (or begins), if it was delayed and is known.
    pub fn onset(&self) -> Option<Instant> {
        match self.onset {
            Onset::At(at) => Some(at),
            Onset::Start | Onset::Deferred => None,
        }
    }

    pub fn impairment(&self) -> &Impairment {
        &self.impairment
    }

    fn lose(&mut self) -> bool {
        match self.loss {
            LossModel::Never => false,
            LossModel::Independent(p) => self.chance(p),
            LossModel::Bursts { enter, leave } => {
                let u: f64 = self.rng.gen();
                self.bad = if self.bad { u >= leave } else { u < enter };
                self.bad
            }
        }
    }

    /// True with probability `p`; draws nothing when `p` is zero (or NaN).
    fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.rng.gen::<f64>() < p
    }

    fn one_way_delay(&mut self) -> Duration {
        let delay = self.impairment.delay;
        if self.jitter_ns == 0 {
            return delay;
        }
        let offset = self.rng.gen_range(0..=2 * self.jitter_ns);
        if offset >= self.jitter_ns {
            delay.saturating_add(Duration::from_nanos(offset - self.jitter_ns))
        } else {
            delay.saturating_sub(Duration::from_nanos(self.jitter_ns - offset))
        }
    }
}

/// `t + d`. Only a delay of centuries overflows an `Instant`; such a packet then arrives at
/// `t` rather than panicking the caller.
fn later(t: Instant, d: Duration) -> Instant {
    t.checked_add(d).unwrap_or(t)
}

/// Packets in flight on a path: each is held until its arrival instant; packets due at the
/// same instant come out in the order they were put in.
#[derive(Debug)]
pub struct DelayLine<T> {
    queue: BinaryHeap<Reverse<Held<T>>>,
    next_seq: u64,
}

#[derive(Debug)]
struct Held<T> {
    at: Instant,
    seq: u64,
    item: T,
}

impl<T> PartialEq for Held<T> {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}

impl<T> Eq for Held<T> {}

impl<T> PartialOrd for Held<T> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl<T> Ord for Held<T> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

impl<T> Default for DelayLine<T> {
    fn default() -> Self {
        Self {
            queue: BinaryHeap::new(),
            next_seq: 0,
        }
    }
}

impl<T> DelayLine<T> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Holds `item` until `at`.
    pub fn push(&mut self, at: Instant, item: T) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.queue.push(Reverse(Held { at, seq, item }));
    }

    /// The next item due at or before `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<T> {
        if self.queue.peek()?.0.at > now {
            return None;
        }
        self.queue.pop().map(|Reverse(h)| h.item)
    }

    /// When the next item is due.
    pub fn next_at(&self) -> Option<Instant> {
        self.queue.peek().map(|Reverse(h)| h.at)
    }

    pub fn len(&self) -> usize {
        self.queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }
}

/// Parses a fraction for the command line: "5%", "5 %", "0.05", "0". Err on anything outside
/// 0..=1 or unparsable, with a message.
pub fn parse_fraction(s: &str) -> Result<f64, String> {
    let text = s.trim();
    let (number, scale) = match text.strip_suffix('%') {
        Some(percent) => (percent.trim_end(), 100.0),
        None => (text, 1.0),
    };
    let value = number
        .parse::<f64>()
        .map_err(|_| format!("{s:?} is not a fraction (like 5%, 5 % or 0.05)"))?
        / scale;
    if (0.0..=1.0).contains(&value) {
        Ok(value)
    } else {
        Err(format!(
            "{s:?} is not a fraction between 0 and 1 (0 % to 100 %)"
        ))
    }
}

/// Parses a duration for the command line with humantime: "40ms", "1s", "250us", "0".
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s.trim())
        .map_err(|e| format!("{s:?} is not a duration (like 40ms, 1s or 250us): {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    /// Sends `n` packets `gap` apart from one origin; returns each send instant with its fate.
    fn run(link: &mut Link, n: u32, gap: Duration) -> Vec<(Instant, Fate)> {
        let origin = Instant::now();
        (0..n)
            .map(|i| {
                let sent = origin + gap * i;
                (sent, link.transmit(sent))
            })
            .collect()
    }

    fn lost(fates: &[(Instant, Fate)]) -> usize {
        fates.iter().filter(|(_, f)| *f == Fate::Lost).count()
    }

    /// Arrivals of the delivered packets, with their send instants.
    fn arrivals(fates: &[(Instant, Fate)]) -> Vec<(Instant, Instant)> {
        fates
            .iter()
            .filter_map(|(sent, f)| match f {
                Fate::Delivered { at, .. } => Some((*sent, *at)),
                Fate::Lost => None,
            })
            .collect()
    }

    /// Mean length of the runs of consecutive losses.
    fn mean_loss_run(fates: &[(Instant, Fate)]) -> f64 {
        let mut runs = 0u32;
        let mut previous_lost = false;
        for (_, f) in fates {
            let is_lost = *f == Fate::Lost;
            if is_lost && !previous_lost {
                runs += 1;
            }
            previous_lost = is_lost;
        }
        lost(fates) as f64 / f64::from(runs)
    }

    #[test]
    fn none_delivers_everything_at_once_in_order_and_draws_nothing() {
        assert!(Impairment::none().is_none());
        let only_burst = Impairment {
            burst: 4.0,
            ..Impairment::none()
        };
        assert!(only_burst.is_none(), "burst without loss changes nothing");
        let delayed = Impairment {
            delay: MS,
            ..Impairment::none()
        };
        assert!(!delayed.is_none());

        let mut link = Link::new(Impairment::none(), 7);
        let fates = run(&mut link, 1000, Duration::from_micros(100));
        for (sent, fate) in &fates {
            assert_eq!(
                *fate,
                Fate::Delivered {
                    at: *sent,
                    duplicate: false
                }
            );
        }
        assert_eq!(
            link.stats(),
            LinkStats {
                packets: 1000,
                ..LinkStats::default()
            }
        );
        assert_eq!(link.rng, StdRng::seed_from_u64(7), "no random number drawn");
        assert_eq!(*link.impairment(), Impairment::none());
    }

    #[test]
    fn a_delayed_onset_passes_everything_untouched_until_it_comes() {
        let path = Impairment {
            loss: 1.0,
            ..Impairment::none()
        };
        let origin = Instant::now();
        let mut link = Link::new(path, 3);
        link.defer();
        assert_eq!(link.onset(), None);
        let early = link.transmit(origin);
        assert_eq!(
            early,
            Fate::Delivered {
                at: origin,
                duplicate: false
            },
            "deferred: clean until the start is named"
        );
        let onset = origin + 10 * MS;
        link.start_at(onset);
        assert_eq!(link.onset(), Some(onset));
        let before = link.transmit(onset - Duration::from_nanos(1));
        assert_eq!(
            before,
            Fate::Delivered {
                at: onset - Duration::from_nanos(1),
                duplicate: false
            }
        );
        assert_eq!(
            link.transmit(onset),
            Fate::Lost,
            "impaired from the onset on"
        );
        assert_eq!(
            link.stats(),
            LinkStats {
                packets: 3,
                lost: 1,
                ..LinkStats::default()
            }
        );
    }

    #[test]
    fn independent_loss_matches_the_fraction() {
        let at = |loss| Impairment {
            loss,
            ..Impairment::none()
        };
        let mut link = Link::new(at(0.05), 1);
        let fates = run(&mut link, 100_000, MS);
        let n = lost(&fates);
        assert!((4_700..=5_300).contains(&n), "{n} lost of 100000");
        assert_eq!(link.stats().lost, n as u64);
        assert_eq!(link.stats().packets, 100_000);
        assert!(
            mean_loss_run(&fates) < 1.1,
            "independent losses rarely touch"
        );

        // delay keeps the link off the pass-through path, so the loss step really runs.
        let mut never = Link::new(
            Impairment {
                delay: MS,
                ..at(0.0)
            },
            1,
        );
        assert_eq!(lost(&run(&mut never, 10_000, MS)), 0);
        let mut always = Link::new(at(1.0), 1);
        assert_eq!(lost(&run(&mut always, 10_000, MS)), 10_000);
        assert_eq!(always.stats().lost, 10_000);
    }

    #[test]
    fn bursts_have_the_mean_length_and_the_long_run_loss() {
        let bursty = Impairment {
            loss: 0.1,
            burst: 4.0,
            ..Impairment::none()
        };
        let fates = run(&mut Link::new(bursty, 3), 200_000, MS);
        let n = lost(&fates);
        assert!((18_000..=22_000).contains(&n), "{n} lost of 200000");
        let mean = mean_loss_run(&fates);
        assert!((3.5..=4.5).contains(&mean), "mean burst {mean}");

        let independent = Impairment {
            burst: 1.0,
            ..bursty
        };
        let fates = run(&mut Link::new(independent, 3), 200_000, MS);
        let n = lost(&fates);
        assert!((18_000..=22_000).contains(&n), "{n} lost of 200000");
        let mean = mean_loss_run(&fates);
        assert!(mean < 1.3, "mean run {mean} with independent losses");
    }

    #[test]
    fn jitter_stays_in_its_window_and_never_reorders() {
        let (delay, jitter) = (40 * MS, 10 * MS);
        let imp = Impairment {
            delay,
            jitter,
            ..Impairment::none()
        };
        // 1 ms apart, within the 20 ms window, the floor often lifts a packet to the arrival
        // before it; 50 ms apart it never does, and the offsets show their full spread.
        for (gap, lifts) in [(MS, true), (50 * MS, false)] {
            let mut link = Link::new(imp, 5);
            let got = arrivals(&run(&mut link, 10_000, gap));
            assert_eq!(got.len(), 10_000);
            for (sent, at) in &got {
                assert!(*at >= *sent + delay - jitter && *at <= *sent + delay + jitter);
            }
            let mut lifted = 0;
            for pair in got.windows(2) {
                let ((_, before), (_, at)) = (pair[0], pair[1]);
                assert!(at >= before, "arrivals never decrease");
                if at == before {
                    lifted += 1;
                }
            }
            assert_eq!(lifted > 1_000, lifts, "{lifted} lifted, {gap:?} apart");
            assert_eq!(lifted == 0, !lifts, "{lifted} lifted, {gap:?} apart");
            assert_eq!(link.stats().reordered, 0);
            if !lifts {
                let one_way: Vec<Duration> = got.iter().map(|(sent, at)| *at - *sent).collect();
                let spread = Duration::from_micros(100);
                let min = one_way.iter().min().copied().unwrap_or_default();
                let max = one_way.iter().max().copied().unwrap_or_default();
                assert!(min < delay - jitter + spread, "shortest {min:?}");
                assert!(max > delay + jitter - spread, "longest {max:?}");
                let mean = one_way.iter().sum::<Duration>() / 10_000;
                assert!(
                    mean.abs_diff(delay) < Duration::from_micros(200),
                    "mean {mean:?}"
                );
            }
        }

        // Jitter wider than the delay: a packet can arrive at once, never before it was sent.
        let wide = Impairment {
            delay: 2 * MS,
            jitter: 10 * MS,
            ..Impairment::none()
        };
        let got = arrivals(&run(&mut Link::new(wide, 5), 10_000, MS));
        assert!(got.iter().all(|(sent, at)| *at >= *sent));
        assert!(got.iter().all(|(sent, at)| *at <= *sent + 12 * MS));
        assert!(got.iter().any(|(sent, at)| at == sent));
    }

    #[test]
    fn held_back_packets_are_overtaken_and_counted() {
        let (delay, jitter) = (20 * MS, 2 * MS);
        let imp = Impairment {
            delay,
            jitter,
            reorder: 0.1,
            ..Impairment::none()
        };
        let mut link = Link::new(imp, 9);
        let got = arrivals(&run(&mut link, 10_000, MS));
        // Only a held-back packet arrives after its jitter window (by at least 5 ms).
        let held: Vec<bool> = got
            .iter()
            .map(|(sent, at)| *at > *sent + delay + jitter)
            .collect();
        let n_held = held.iter().filter(|h| **h).count();
        assert!((900..=1_100).contains(&n_held), "{n_held} held of 10000");
        assert_eq!(link.stats().reordered, n_held as u64);
        for (i, pair) in got.windows(2).enumerate() {
            let ((_, at), (_, next_at)) = (pair[0], pair[1]);
            if held[i] && !held[i + 1] {
                assert!(next_at < at, "packet {} overtakes held packet {i}", i + 1);
            }
        }
        // Held-back packets leave the floor alone: the others stay in order.
        let in_order: Vec<Instant> = got
            .iter()
            .zip(&held)
            .filter(|(_, h)| !**h)
            .map(|((_, at), _)| *at)
            .collect();
        assert!(in_order.windows(2).all(|w| w[0] <= w[1]));
    }

    #[test]
    fn duplicates_are_flagged_and_counted() {
        let imp = Impairment {
            duplicate: 0.05,
            ..Impairment::none()
        };
        let mut link = Link::new(imp, 11);
        let fates = run(&mut link, 100_000, MS);
        let mut copies = 0;
        for (sent, fate) in &fates {
            match fate {
                Fate::Delivered { at, duplicate } => {
                    assert_eq!(at, sent, "no delay configured");
                    copies += u64::from(*duplicate);
                }
                Fate::Lost => panic!("no loss configured"),
            }
        }
        assert!((4_700..=5_300).contains(&copies), "{copies} duplicated");
        assert_eq!(link.stats().duplicated, copies);
    }

    #[test]
    fn same_seed_same_fates_different_seed_different_fates() {
        let imp = Impairment {
            loss: 0.05,
            burst: 3.0,
            delay: 30 * MS,
            jitter: 5 * MS,
            reorder: 0.05,
            duplicate: 0.02,
        };
        let origin = Instant::now();
        let fates = |seed| {
            let mut link = Link::new(imp, seed);
            let fates: Vec<Fate> = (0..10_000u32)
                .map(|i| link.transmit(origin + MS * i))
                .collect();
            (fates, link.stats())
        };
        let (a, a_stats) = fates(42);
        let (b, b_stats) = fates(42);
        let (c, _) = fates(43);
        assert_eq!(a, b);
        assert_eq!(a_stats, b_stats);
        assert_ne!(a, c);
        assert!(a_stats.lost > 0 && a_stats.reordered > 0 && a_stats.duplicated > 0);
    }

    #[test]
    fn validate_refuses_out_of_range_values() {
        assert_eq!(Impairment::none().validate(), Ok(()));
        let good = Impairment {
            loss: 0.1,
            burst: 4.0,
            delay: 40 * MS,
            jitter: 10 * MS,
            reorder: 0.01,
            duplicate: 0.01,
        };
        assert_eq!(good.validate(), Ok(()));
        let refused = |imp: Impairment, field: &str| match imp.validate() {
            Ok(()) => panic!("{imp:?} accepted"),
            Err(e) => assert!(e.contains(field), "{e:?} does not name {field}"),
        };
        refused(Impairment { loss: 1.5, ..good }, "loss");
        refused(
            Impairment {
                loss: f64::NAN,
                ..good
            },
            "loss",
        );
        refused(
            Impairment {
                burst: -1.0,
                ..good
            },
            "burst",
        );
        refused(
            Impairment {
                burst: f64::NAN,
                ..good
            },
            "burst",
        );
        refused(
            Impairment {
                reorder: -0.1,
                ..good
            },
            "reorder",
        );
        refused(
            Impairment {
                duplicate: 2.0,
                ..good
            },
            "duplicate",
        );
        // Bursts of 4 lose at most 4/5 of the packets.
        refused(Impairment { loss: 0.9, ..good }, "at most 0.8000");
        assert_eq!(Impairment { loss: 0.8, ..good }.validate(), Ok(()));
        assert_eq!(
            Impairment {
                loss: 1.0,
                burst: 1.0,
                ..good
            }
            .validate(),
            Ok(())
        );
    }

    #[test]
    fn parse_fraction_accepts_percent_and_plain_fractions() {
        assert_eq!(parse_fraction("5%"), Ok(0.05));
        assert_eq!(parse_fraction("5 %"), Ok(0.05));
        assert_eq!(parse_fraction("0.05"), Ok(0.05));
        assert_eq!(parse_fraction("0"), Ok(0.0));
        assert_eq!(parse_fraction("100%"), Ok(1.0));
        for bad in ["150%", "-1", "abc", "", "%", "NaN", "1.01"] {
            assert!(parse_fraction(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn parse_duration_uses_humantime() {
        assert_eq!(parse_duration("40ms"), Ok(40 * MS));
        assert_eq!(parse_duration("1s"), Ok(Duration::from_secs(1)));
        assert_eq!(parse_duration("250us"), Ok(Duration::from_micros(250)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        let refused = parse_duration("forty");
        assert!(
            refused.as_ref().is_err_and(|e| e.contains("forty")),
            "{refused:?}"
        );
    }

    #[test]
    fn delay_line_releases_in_time_order_then_in_send_order() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut line = DelayLine::new();
        line.push(t0 + ms(30), "late");
        line.push(t0 + ms(10), "first");
        line.push(t0 + ms(10), "second");
        assert_eq!(line.next_at(), Some(t0 + ms(10)));
        assert_eq!(line.pop_due(t0 + ms(9)), None);
        assert_eq!(line.pop_due(t0 + ms(10)), Some("first"));
        assert_eq!(line.pop_due(t0 + ms(10)), Some("second"));
        assert_eq!(line.pop_due(t0 + ms(29)), None);
        assert_eq!(line.len(), 1);
        assert_eq!(line.pop_due(t0 + ms(30)), Some("late"));
        assert!(line.is_empty());
        assert_eq!(line.next_at(), None);
    }
}
