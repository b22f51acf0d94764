//! One participant as the judge sees it (its two controllers, its cap, the tier it was last
//! told, since when it has been stable, how many proposals in a row it left unanswered), and
//! the targets a room policy derives from all of a room's members.

use super::config::{JudgeConfig, RoomPolicy};
use super::controller::Controller;
use std::collections::BTreeMap;
use std::time::Instant;
use switchyard_proto::control::ParticipantId;
use switchyard_proto::Tier;

#[derive(Debug)]
pub struct Member {
    uplink: Controller,
    downlink: Controller,
    pub cap: Option<Tier>,
    /// The tier the participant was last told to encode at (or assumed at, on joining).
    pub directed: Tier,
    joined: Instant,
    /// The last observation worse than its controllers' tiers.
    last_worse: Option<Instant>,
    /// Consecutive proposals it left unanswered.
    pub silent: u32,
}

impl Member {
    pub fn new(now: Instant, directed: Tier, config: &JudgeConfig) -> Self {
        Self {
            uplink: Controller::new(config.baseline),
            downlink: Controller::new(config.baseline),
            cap: None,
            directed,
            joined: now,
            last_worse: None,
            silent: 0,
        }
    }

    fn cap_or_ceiling(&self, config: &JudgeConfig) -> Tier {
        self.cap.unwrap_or(config.ceiling)
    }

    pub fn is_voter(&self, config: &JudgeConfig) -> bool {
        self.silent < config.silent_proposals
    }

    /// Stable for the window: nothing worse than its tiers for the whole window. To return
    /// to the baseline (`recovery`), a participant that never reported worse counts as
    /// stable however young it is: it was not the cause, and the room should not stay
    /// degraded because its call is new. Above the baseline it must also have been a member
    /// for the whole window.
    pub fn is_stable(&self, now: Instant, config: &JudgeConfig, recovery: bool) -> bool {
        let window = config.stable_window();
        match self.last_worse {
            Some(t) => now.saturating_duration_since(t) >= window,
            None => recovery || now.saturating_duration_since(self.joined) >= window,
        }
    }

    /// Feeds one sample's observations to the controllers; a worse one than a controller's
    /// tier restarts the stability window.
    pub fn observe(
        &mut self,
        now: Instant,
        uplink: Option<Tier>,
        downlink: Option<Tier>,
        config: &JudgeConfig,
    ) {
        for (controller, observed) in [(&mut self.uplink, uplink), (&mut self.downlink, downlink)] {
            let Some(observed) = observed else { continue };
            if observed < controller.tier() {
                self.last_worse = Some(now);
            }
            controller.observe(observed, config);
        }
    }
}

/// Each member's target tier under the room's policy, in participant order.
pub fn targets(
    members: &BTreeMap<ParticipantId, Member>,
    config: &JudgeConfig,
) -> Vec<(ParticipantId, Tier)> {
    let ceiling = config.ceiling;
    match config.policy {
        RoomPolicy::WeakestLink => {
            let weakest = members
                .values()
                .map(|m| {
                    m.uplink
                        .tier()
                        .min(m.downlink.tier())
                        .min(m.cap_or_ceiling(config))
                })
                .min()
                .unwrap_or(ceiling)
                .min(ceiling);
            members.keys().map(|&p| (p, weakest)).collect()
        }
        RoomPolicy::PerSender => {
            // The two weakest receivers, so that each sender can leave itself out.
            let mut weakest: [(Tier, Option<ParticipantId>); 2] = [(ceiling, None); 2];
            for (&p, m) in members {
                let down = m.downlink.tier();
                if down < weakest[0].0 {
                    weakest[1] = weakest[0];
                    weakest[0] = (down, Some(p));
                } else if down < weakest[1].0 {
                    weakest[1] = (down, Some(p));
                }
            }
            members
                .iter()
                .map(|(&p, m)| {
                    let receivers = if weakest[0].1 == Some(p) {
                        weakest[1].0
                    } else {
                        weakest[0].0
                    };
                    let own = m.uplink.tier().min(m.cap_or_ceiling(config));
                    (p, own.min(receivers).min(ceiling))
                })
                .collect()
        }
    }
}
