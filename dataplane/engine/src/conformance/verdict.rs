//! From Tier F legitimacy scores to a verdict on one participant's stream (reference 5.1, 5.5).
//!
//! The PRD flags a stream whose score stays low for a while, not one low score:
//!
//! ```text
//!   score <  suspect_below without a break for suspect_sustain ──> Suspect
//!   score <  abusive_below without a break for abusive_sustain ──> Abusive
//!   score >= a threshold ──> that threshold's run ends (the verdict steps down at once)
//!   no score yet (None)  ──> runs untouched, verdict unchanged
//! ```
//!
//! Three settings of the same rule:
//! - [`VerdictConfig::PRD`]: below 0.3 for 60 s is Suspect, below 0.1 for 60 s Abusive.
//! - [`VerdictConfig::REFERENCE_CODE`]: the reference code has no duration; its scorers map
//!   each score directly, ≥ 0.7 Legitimate, ≥ 0.3 Suspect, else Abusive (**CONFLICT** with
//!   the PRD). [`instant`] is that mapping.
//! - [`VerdictConfig::SWITCHYARD`], the default: the PRD's sustained rule on the scale the
//!   reference's scorers actually produce. Their formulas cap each feature's penalty, so the
//!   PRD's 0.3 and 0.1 are reached only by what Tiers A-E already close, while a covert
//!   constant-timing stream lands at 0.55 and video that ignores bandwidth drops at 0.60;
//!   legitimate speech, impaired or not, stays at 0.7 or above. So: below 0.65 for 30 s is
//!   Suspect (Tier G throttles, which is reversible), below 0.3 for 60 s is Abusive (Tier G
//!   hangs up, so the PRD's full minute of evidence).
#![deny(clippy::indexing_slicing)]

use std::time::{Duration, Instant};

/// What the relay concludes about a stream, in increasing severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Verdict {
    Legitimate,
    /// Tier G answers with a tighter quota.
    Suspect,
    /// Tier G answers with a typed Hangup and a cool-down.
    Abusive,
}

/// Thresholds on the legitimacy score, and how long a score must stay under one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VerdictConfig {
    pub suspect_below: f64,
    pub suspect_sustain: Duration,
    pub abusive_below: f64,
    pub abusive_sustain: Duration,
}

impl VerdictConfig {
    /// The PRD's rule: below 0.3 for 60 s is Suspect, below 0.1 for 60 s is Abusive.
    pub const PRD: Self = Self {
        suspect_below: 0.3,
        suspect_sustain: Duration::from_secs(60),
        abusive_below: 0.1,
        abusive_sustain: Duration::from_secs(60),
    };

    /// The reference code's mapping: below 0.7 is Suspect, below 0.3 Abusive, at once.
    pub const REFERENCE_CODE: Self = Self {
        suspect_below: 0.7,
        suspect_sustain: Duration::ZERO,
        abusive_below: 0.3,
        abusive_sustain: Duration::ZERO,
    };

    /// Switchyard's default (see the module docs): below 0.65 for 30 s is Suspect, below 0.3
    /// for 60 s is Abusive.
    pub const SWITCHYARD: Self = Self {
        suspect_below: 0.65,
        suspect_sustain: Duration::from_secs(30),
        abusive_below: 0.3,
        abusive_sustain: Duration::from_secs(60),
    };
}

impl Default for VerdictConfig {
    fn default() -> Self {
        Self::SWITCHYARD
    }
}

/// One score mapped on its own, with no duration condition.
pub fn instant(score: f64, config: VerdictConfig) -> Verdict {
    if score < config.abusive_below {
        Verdict::Abusive
    } else if score < config.suspect_below {
        Verdict::Suspect
    } else {
        Verdict::Legitimate
    }
}

/// The verdict on one stream over time: when its score went under each threshold and stayed.
#[derive(Debug, Clone, Copy)]
pub struct SustainedVerdict {
    below_suspect_since: Option<Instant>,
    below_abusive_since: Option<Instant>,
    current: Verdict,
}

impl Default for SustainedVerdict {
    fn default() -> Self {
        Self::new()
    }
}

impl SustainedVerdict {
    pub fn new() -> Self {
        Self {
            below_suspect_since: None,
            below_abusive_since: None,
            current: Verdict::Legitimate,
        }
    }

    /// The verdict as of the last update.
    pub fn current(&self) -> Verdict {
        self.current
    }

    /// Takes the scorer's latest legitimacy (`None` while it has too few packets) at `now`.
    pub fn update(
        &mut self,
        now: Instant,
        legitimacy: Option<f64>,
        config: VerdictConfig,
    ) -> Verdict {
        let Some(score) = legitimacy else {
            return self.current;
        };
        let held = |run: &mut Option<Instant>, below: bool, sustain: Duration| {
            if !below {
                *run = None;
                return false;
            }
            let since = *run.get_or_insert(now);
            now.saturating_duration_since(since) >= sustain
        };
        let abusive = held(
            &mut self.below_abusive_since,
            score < config.abusive_below,
            config.abusive_sustain,
        );
        let suspect = held(
            &mut self.below_suspect_since,
            score < config.suspect_below,
            config.suspect_sustain,
        );
        self.current = if abusive {
            Verdict::Abusive
        } else if suspect {
            Verdict::Suspect
        } else {
            Verdict::Legitimate
        };
        self.current
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRD: VerdictConfig = VerdictConfig::PRD;

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    #[test]
    fn the_prd_rule_and_the_default() {
        assert_eq!(PRD.suspect_below, 0.3);
        assert_eq!(PRD.abusive_below, 0.1);
        assert_eq!(PRD.suspect_sustain, Duration::from_secs(60));
        assert_eq!(PRD.abusive_sustain, Duration::from_secs(60));
        assert_eq!(VerdictConfig::default(), VerdictConfig::SWITCHYARD);
        assert_eq!(SustainedVerdict::default().current(), Verdict::Legitimate);
    }

    #[test]
    fn switchyard_default_suspect_after_30_s_below_0_65_abusive_after_60_s_below_0_3() {
        let d = VerdictConfig::SWITCHYARD;
        let t0 = switchyard_testclock::origin();
        let mut covert = SustainedVerdict::new();
        covert.update(t0, Some(0.55), d);
        assert_eq!(
            covert.update(t0 + secs(29.999), Some(0.55), d),
            Verdict::Legitimate
        );
        assert_eq!(
            covert.update(t0 + secs(30.0), Some(0.55), d),
            Verdict::Suspect
        );
        assert_eq!(
            covert.update(t0 + secs(600.0), Some(0.55), d),
            Verdict::Suspect,
            "0.55 is never abusive"
        );
        let mut edge = SustainedVerdict::new();
        edge.update(t0, Some(0.65), d);
        assert_eq!(
            edge.update(t0 + secs(60.0), Some(0.65), d),
            Verdict::Legitimate,
            "on the threshold is not below it"
        );
        let mut bad = SustainedVerdict::new();
        bad.update(t0, Some(0.25), d);
        assert_eq!(bad.update(t0 + secs(30.0), Some(0.25), d), Verdict::Suspect);
        assert_eq!(
            bad.update(t0 + secs(59.999), Some(0.25), d),
            Verdict::Suspect
        );
        assert_eq!(bad.update(t0 + secs(60.0), Some(0.25), d), Verdict::Abusive);
    }

    #[test]
    fn instant_with_the_reference_code_mapping() {
        let reference = VerdictConfig::REFERENCE_CODE;
        assert_eq!(instant(1.0, reference), Verdict::Legitimate);
        assert_eq!(instant(0.7, reference), Verdict::Legitimate);
        assert_eq!(instant(0.699_999, reference), Verdict::Suspect);
        assert_eq!(instant(0.3, reference), Verdict::Suspect);
        assert_eq!(instant(0.299_999, reference), Verdict::Abusive);
        assert_eq!(instant(0.0, reference), Verdict::Abusive);
    }

    #[test]
    fn instant_with_the_prd_thresholds() {
        assert_eq!(instant(0.3, PRD), Verdict::Legitimate);
        assert_eq!(instant(0.299_999, PRD), Verdict::Suspect);
        assert_eq!(instant(0.1, PRD), Verdict::Suspect);
        assert_eq!(instant(0.099_999, PRD), Verdict::Abusive);
    }

    #[test]
    fn suspect_after_sixty_seconds_below_0_3_and_not_before() {
        let t0 = switchyard_testclock::origin();
        let mut v = SustainedVerdict::new();
        assert_eq!(v.update(t0, Some(0.2), PRD), Verdict::Legitimate);
        assert_eq!(
            v.update(t0 + secs(30.0), Some(0.25), PRD),
            Verdict::Legitimate
        );
        assert_eq!(
            v.update(t0 + secs(59.999), Some(0.2), PRD),
            Verdict::Legitimate
        );
        assert_eq!(v.update(t0 + secs(60.0), Some(0.2), PRD), Verdict::Suspect);
        assert_eq!(v.current(), Verdict::Suspect);
    }

    #[test]
    fn abusive_after_sixty_seconds_below_0_1_and_not_before() {
        let t0 = switchyard_testclock::origin();
        let mut v = SustainedVerdict::new();
        v.update(t0, Some(0.2), PRD);
        assert_eq!(
            v.update(t0 + secs(30.0), Some(0.05), PRD),
            Verdict::Legitimate
        );
        assert_eq!(v.update(t0 + secs(60.0), Some(0.05), PRD), Verdict::Suspect);
        assert_eq!(
            v.update(t0 + secs(89.999), Some(0.0), PRD),
            Verdict::Suspect
        );
        assert_eq!(v.update(t0 + secs(90.0), Some(0.05), PRD), Verdict::Abusive);
    }

    #[test]
    fn straight_to_abusive_when_both_runs_start_together() {
        let t0 = switchyard_testclock::origin();
        let mut v = SustainedVerdict::new();
        v.update(t0, Some(0.0), PRD);
        assert_eq!(
            v.update(t0 + secs(59.999), Some(0.0), PRD),
            Verdict::Legitimate
        );
        assert_eq!(v.update(t0 + secs(60.0), Some(0.0), PRD), Verdict::Abusive);
    }

    #[test]
    fn a_score_on_the_threshold_is_not_below_it() {
        let t0 = switchyard_testclock::origin();
        let mut v = SustainedVerdict::new();
        v.update(t0, Some(0.3), PRD);
        assert_eq!(
            v.update(t0 + secs(120.0), Some(0.3), PRD),
            Verdict::Legitimate
        );
        v.update(t0 + secs(200.0), Some(0.1), PRD);
        assert_eq!(
            v.update(t0 + secs(300.0), Some(0.1), PRD),
            Verdict::Suspect,
            "0.1 is below 0.3 but not below 0.1"
        );
    }

    #[test]
    fn one_good_score_resets_the_run() {
        let t0 = switchyard_testclock::origin();
        let mut v = SustainedVerdict::new();
        v.update(t0, Some(0.2), PRD);
        assert_eq!(
            v.update(t0 + secs(30.0), Some(0.5), PRD),
            Verdict::Legitimate
        );
        v.update(t0 + secs(31.0), Some(0.2), PRD);
        assert_eq!(
            v.update(t0 + secs(60.0), Some(0.2), PRD),
            Verdict::Legitimate
        );
        assert_eq!(
            v.update(t0 + secs(90.999), Some(0.2), PRD),
            Verdict::Legitimate
        );
        assert_eq!(v.update(t0 + secs(91.0), Some(0.2), PRD), Verdict::Suspect);
        assert_eq!(
            v.update(t0 + secs(92.0), Some(0.3), PRD),
            Verdict::Legitimate,
            "a verdict steps down on the first good score"
        );
    }

    #[test]
    fn abusive_steps_down_to_suspect_while_the_suspect_run_holds() {
        let t0 = switchyard_testclock::origin();
        let mut v = SustainedVerdict::new();
        v.update(t0, Some(0.05), PRD);
        assert_eq!(v.update(t0 + secs(60.0), Some(0.05), PRD), Verdict::Abusive);
        assert_eq!(v.update(t0 + secs(61.0), Some(0.2), PRD), Verdict::Suspect);
        v.update(t0 + secs(62.0), Some(0.05), PRD);
        assert_eq!(
            v.update(t0 + secs(121.999), Some(0.05), PRD),
            Verdict::Suspect,
            "the abusive run restarted at 62 s"
        );
        assert_eq!(
            v.update(t0 + secs(122.0), Some(0.05), PRD),
            Verdict::Abusive
        );
    }

    #[test]
    fn none_leaves_the_runs_and_the_verdict_untouched() {
        let t0 = switchyard_testclock::origin();
        let mut v = SustainedVerdict::new();
        assert_eq!(v.update(t0, None, PRD), Verdict::Legitimate);
        v.update(t0 + secs(1.0), Some(0.2), PRD);
        assert_eq!(v.update(t0 + secs(30.0), None, PRD), Verdict::Legitimate);
        assert_eq!(
            v.update(t0 + secs(61.0), Some(0.2), PRD),
            Verdict::Suspect,
            "the run from 1 s went on through the None"
        );
        assert_eq!(v.update(t0 + secs(200.0), None, PRD), Verdict::Suspect);
    }

    #[test]
    fn reference_code_config_makes_the_sustained_rule_instant() {
        let t0 = switchyard_testclock::origin();
        let reference = VerdictConfig::REFERENCE_CODE;
        let mut v = SustainedVerdict::new();
        for (score, expected) in [
            (0.7, Verdict::Legitimate),
            (0.69, Verdict::Suspect),
            (0.29, Verdict::Abusive),
            (0.3, Verdict::Suspect),
            (0.9, Verdict::Legitimate),
        ] {
            assert_eq!(v.update(t0, Some(score), reference), expected, "{score}");
            assert_eq!(instant(score, reference), expected, "{score}");
        }
    }
}
