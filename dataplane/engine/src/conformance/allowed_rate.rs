//! The video scorer's bandwidth source for one sender: the video bitrate the relay's quality
//! judge orders it to (its tier), and when the scorer may compare the sender's rates.
//!
//! ```text
//!  Steady ──order to another rate at t──> Grace: the scorer's interval ends at t, at the old
//!                                         figure (the sender's rate before the order)
//!  Grace ──tick, RESPONSE_GRACE after t──> Measuring: the interval restarts (the switch-over
//!                                          is not measured: the order may take a few RTTs
//!                                          to arrive over a lossy path)
//!  Measuring ──tick, MEASURE_FOR later──> Steady: the interval ends at the new figure; a drop
//!                                         of more than 30 % is judged (reference 5.4)
//!  Grace | Measuring ──another order──> Grace: the interval so far is discarded, and the
//!                                       rate before the first order stays the reference
//! ```
//!
//! Time comes in with each call; [`AllowedRate::tick`] runs with the once-a-second judgement.

use super::video_score::VideoScorer;
use std::time::{Duration, Instant};

/// Time a sender gets to act on an order before its rate is measured.
pub const RESPONSE_GRACE: Duration = Duration::from_secs(1);
/// How long its rate is measured after the grace.
pub const MEASURE_FOR: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Steady,
    Grace { until: Instant },
    Measuring { until: Instant },
}

/// What the judge allows one sender, and where the comparison of its rates stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AllowedRate {
    kbps: u32,
    phase: Phase,
}

impl AllowedRate {
    /// A sender starting at `kbps` (WZP clients start at the Good tier).
    pub fn new(kbps: u32) -> Self {
        Self {
            kbps,
            phase: Phase::Steady,
        }
    }

    pub fn kbps(&self) -> u32 {
        self.kbps
    }

    /// The judge ordered the sender to `kbps` at `now`.
    pub fn on_order(&mut self, now: Instant, kbps: u32, scorer: &mut VideoScorer) {
        if kbps == self.kbps {
            return;
        }
        match self.phase {
            Phase::Steady => scorer.on_bandwidth(self.kbps),
            Phase::Grace { .. } | Phase::Measuring { .. } => scorer.restart_interval(),
        }
        self.kbps = kbps;
        self.phase = Phase::Grace {
            until: now + RESPONSE_GRACE,
        };
    }

    /// Moves on when a phase's time is over.
    pub fn tick(&mut self, now: Instant, scorer: &mut VideoScorer) {
        match self.phase {
            Phase::Grace { until } if until <= now => {
                scorer.restart_interval();
                self.phase = Phase::Measuring {
                    until: now + MEASURE_FOR,
                };
            }
            Phase::Measuring { until } if until <= now => {
                scorer.on_bandwidth(self.kbps);
                self.phase = Phase::Steady;
            }
            Phase::Steady | Phase::Grace { .. } | Phase::Measuring { .. } => {}
        }
    }

    /// Whether a comparison is under way.
    pub fn is_pending(&self) -> bool {
        self.phase != Phase::Steady
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    /// 30 fps of `len(second)` bytes per frame from `from` to `to` (s), arriving on time.
    fn frames(
        scorer: &mut VideoScorer,
        t0: Instant,
        from: u64,
        to: u64,
        len: impl Fn(u64) -> usize,
    ) {
        for frame in from * 30..to * 30 {
            let media = Duration::from_nanos(33_333_333 * frame);
            scorer.observe(
                t0 + media,
                len(frame / 30),
                frame % 60 == 0,
                frame as u32 * 33,
            );
        }
    }

    #[test]
    fn each_transition_and_a_slow_order_judged_responsive() {
        let t0 = switchyard_testclock::origin();
        let mut scorer = VideoScorer::new();
        let mut rate = AllowedRate::new(1_500);
        // The order to 600 kbps at 10 s reaches the sender 700 ms late (a lossy path); it
        // then sends half. Judged by the rate from 11 s on: responsive.
        let order_arrives = 10_700;
        let len = |second: u64| {
            if second * 1000 < order_arrives {
                1_000
            } else {
                500
            }
        };
        frames(&mut scorer, t0, 0, 10, len);
        rate.on_order(t0 + 10 * SECOND, 1_500, &mut scorer);
        assert!(!rate.is_pending(), "the same rate is no order");
        rate.on_order(t0 + 10 * SECOND, 600, &mut scorer);
        assert_eq!(
            (rate.kbps(), rate.phase),
            (
                600,
                Phase::Grace {
                    until: t0 + 11 * SECOND
                }
            )
        );
        frames(&mut scorer, t0, 10, 11, |_| 1_000);
        rate.tick(t0 + 10 * SECOND + SECOND / 2, &mut scorer);
        assert!(matches!(rate.phase, Phase::Grace { .. }), "not yet");
        rate.tick(t0 + 11 * SECOND, &mut scorer);
        assert_eq!(
            rate.phase,
            Phase::Measuring {
                until: t0 + 12 * SECOND
            }
        );
        frames(&mut scorer, t0, 11, 12, |_| 500);
        rate.tick(t0 + 12 * SECOND, &mut scorer);
        assert_eq!(rate.phase, Phase::Steady);
        assert_eq!(scorer.judged(), (1, 0), "responsive");
    }

    #[test]
    fn a_sender_that_keeps_its_rate_is_unresponsive_and_a_second_order_restarts_the_grace() {
        let t0 = switchyard_testclock::origin();
        let mut scorer = VideoScorer::new();
        let mut rate = AllowedRate::new(1_500);
        frames(&mut scorer, t0, 0, 10, |_| 1_000);
        rate.on_order(t0 + 10 * SECOND, 600, &mut scorer);
        frames(&mut scorer, t0, 10, 11, |_| 1_000);
        rate.tick(t0 + 11 * SECOND, &mut scorer);
        // A second order while measuring: back to the grace, from the new order.
        rate.on_order(t0 + 11 * SECOND + SECOND / 2, 150, &mut scorer);
        assert_eq!(
            rate.phase,
            Phase::Grace {
                until: t0 + 12 * SECOND + SECOND / 2
            }
        );
        frames(&mut scorer, t0, 11, 13, |_| 1_000);
        rate.tick(t0 + 13 * SECOND, &mut scorer);
        frames(&mut scorer, t0, 13, 14, |_| 1_000);
        rate.tick(t0 + 14 * SECOND, &mut scorer);
        assert_eq!(rate.phase, Phase::Steady);
        assert_eq!(
            scorer.judged(),
            (0, 1),
            "1,500 to 150 kbps and the same rate"
        );
    }
}
