//! What the judge is configured with. Every number names its source: the reference digest of
//! the WZP v2 relay (section), the PRD "Coordinated Codec Switching" (the seed), or Switchyard's
//! own choice where neither gives one.
//!
//! Durations are whole milliseconds (`*_ms`), like the rest of the relay's configuration.

use serde::{Deserialize, Serialize};
use std::time::Duration;
use switchyard_proto::Tier;

/// Whose link sets whose tier.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RoomPolicy {
    /// The room's weakest link sets everyone's tier (reference 3.5, the PRD's option 1).
    #[default]
    WeakestLink,
    /// Each participant encodes for the weakest receiver of its own media (the PRD's option 2,
    /// asymmetric encoding).
    PerSender,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct JudgeConfig {
    /// When false the judge keeps its books (rooms, members, controllers) but decides nothing
    /// and emits no order.
    pub enabled: bool,
    pub policy: RoomPolicy,
    /// The tier a room and each joiner start at (reference 3.5: `current_tier = Good`). Held
    /// to at most `ceiling`.
    pub baseline: Tier,
    /// No participant is ever directed or proposed above this tier (Switchyard's).
    pub ceiling: Tier,
    /// Consecutive worse observations before a controller drops, straight to the observed
    /// tier (reference 3.3: 3, not on cellular).
    pub downgrade_reports: u32,
    /// Consecutive better observations before a controller below Good climbs one step
    /// (reference 3.3: 5).
    pub upgrade_reports_below_good: u32,
    /// Consecutive better observations before a controller at Good or above climbs one step
    /// (reference 3.3: STUDIO_UPGRADE_THRESHOLD, 10).
    pub upgrade_reports_from_good: u32,
    /// How long every participant must have seen nothing worse than its tiers before an
    /// upgrade is proposed (seed, "30s stable"; reference 3.6 step 1).
    pub stable_window_ms: u64,
    /// How long a proposal waits for every answer (seed, "within 5s"; reference 3.6 step 4).
    pub proposal_timeout_ms: u64,
    /// Least time between two changes of a room's tiers, so a flapping link cannot cause a
    /// storm of directives (Switchyard's).
    pub min_change_interval_ms: u64,
    /// After a rejected or timed-out proposal, how long before the next one (Switchyard's;
    /// the same 30 s as the stability window).
    pub retry_after_ms: u64,
    /// Consecutive proposals a participant leaves unanswered before it stops being a voter
    /// and is told negotiated upgrades by directive instead (Switchyard's: clients of this era
    /// do not implement the negotiation, reference 3.6 "Status").
    pub silent_proposals: u32,
    /// Path loss counts only when the relay sent at least this many packets in the interval
    /// (Switchyard's: a handful of packets says nothing about a path).
    pub path_min_packets: u32,
}

impl Default for JudgeConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            policy: RoomPolicy::WeakestLink,
            baseline: Tier::Good,
            ceiling: Tier::Studio64k,
            downgrade_reports: 3,
            upgrade_reports_below_good: 5,
            upgrade_reports_from_good: 10,
            stable_window_ms: 30_000,
            proposal_timeout_ms: 5_000,
            min_change_interval_ms: 2_000,
            retry_after_ms: 30_000,
            silent_proposals: 2,
            path_min_packets: 20,
        }
    }
}

impl JudgeConfig {
    pub fn stable_window(&self) -> Duration {
        Duration::from_millis(self.stable_window_ms)
    }

    pub fn proposal_timeout(&self) -> Duration {
        Duration::from_millis(self.proposal_timeout_ms)
    }

    pub fn min_change_interval(&self) -> Duration {
        Duration::from_millis(self.min_change_interval_ms)
    }

    pub fn retry_after(&self) -> Duration {
        Duration::from_millis(self.retry_after_ms)
    }
}
