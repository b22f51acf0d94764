//! One direction of one participant's link, with hysteresis: the reference's
//! AdaptiveQualityController (reference 3.3) without its probing and network contexts.
//!
//! - Worse: after `downgrade_reports` consecutive worse observations the tier drops straight
//!   down (tiers may be skipped) to the best of those observations. The reference drops to
//!   the last one; at a steady 10 % loss a single noisy report of 15 % would then decide
//!   Catastrophic, where all three agree only on Degraded.
//! - Better: after enough consecutive better observations (`upgrade_reports_from_good` at
//!   Good or above, `upgrade_reports_below_good` below) it climbs one step.
//! - Equal: an observation at the current tier resets both counts.
//!
//! Observations above the ceiling count as the ceiling, so a controller never climbs past it.

use super::config::JudgeConfig;
use std::cmp::Ordering;
use switchyard_proto::Tier;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Controller {
    tier: Tier,
    worse: u32,
    /// The best observation of the current run of worse ones.
    worse_best: Option<Tier>,
    better: u32,
}

impl Controller {
    pub fn new(start: Tier) -> Self {
        Self {
            tier: start,
            worse: 0,
            worse_best: None,
            better: 0,
        }
    }

    pub fn tier(&self) -> Tier {
        self.tier
    }

    /// Feeds one observation; the new tier when it changed.
    pub fn observe(&mut self, observed: Tier, config: &JudgeConfig) -> Option<Tier> {
        let observed = observed.min(config.ceiling);
        match observed.cmp(&self.tier) {
            Ordering::Less => {
                self.better = 0;
                self.worse = self.worse.saturating_add(1);
                let best = self.worse_best.map_or(observed, |b| b.max(observed));
                self.worse_best = Some(best);
                (self.worse >= config.downgrade_reports).then(|| self.move_to(best))
            }
            Ordering::Greater => {
                self.worse = 0;
                self.worse_best = None;
                self.better = self.better.saturating_add(1);
                let needed = if self.tier >= Tier::Good {
                    config.upgrade_reports_from_good
                } else {
                    config.upgrade_reports_below_good
                };
                if self.better < needed {
                    return None;
                }
                // `observed` is above the tier and at most the ceiling, so the next step is too.
                let next = self.tier.up()?;
                Some(self.move_to(next))
            }
            Ordering::Equal => {
                self.worse = 0;
                self.worse_best = None;
                self.better = 0;
                None
            }
        }
    }

    fn move_to(&mut self, tier: Tier) -> Tier {
        *self = Self::new(tier);
        tier
    }
}
