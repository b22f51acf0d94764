//! One room: its members, the proposal in flight, when its tiers last changed, and the
//! decisions. Every decision returns the signals of at most one order, at most one signal per
//! member; the judge wraps them with the room's name.

use super::config::{JudgeConfig, RoomPolicy};
use super::member::{targets, Member};
use super::JudgeStats;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};
use switchyard_proto::control::{DirectiveReason, ParticipantId, QualitySignal};
use switchyard_proto::Tier;

/// The signals of one order, in participant order.
pub(super) type Signals = Vec<(ParticipantId, QualitySignal)>;

/// What a decision needs besides the room: the rules, the judge's counters, its proposal ids.
#[derive(Debug)]
pub(super) struct Ctx<'a> {
    pub config: &'a JudgeConfig,
    pub stats: &'a mut JudgeStats,
    pub last_proposal_id: &'a mut u64,
}

/// An upgrade waiting for its voters.
#[derive(Debug)]
struct Proposal {
    id: u64,
    deadline: Instant,
    /// Everyone the upgrade raises, and to what.
    tiers: BTreeMap<ParticipantId, Tier>,
    /// Those of them asked (the others are told by directive once it is confirmed).
    voters: BTreeSet<ParticipantId>,
    accepted: BTreeSet<ParticipantId>,
}

#[derive(Debug, Default)]
pub(super) struct Room {
    members: BTreeMap<ParticipantId, Member>,
    proposal: Option<Proposal>,
    /// When the room's directed tiers last changed.
    last_change: Option<Instant>,
    /// No proposal before this (set by a rejection or a time-out).
    retry_at: Option<Instant>,
    /// A downgrade waits for the minimum interval until this instant.
    held_until: Option<Instant>,
}

/// `t + d`, or `t` in the (absurd) case the sum overflows the clock.
pub(super) fn later(t: Instant, d: Duration) -> Instant {
    t.checked_add(d).unwrap_or(t)
}

impl Room {
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// The lowest directed tier: under weakest link, the tier everyone shares.
    pub fn tier(&self) -> Option<Tier> {
        self.members.values().map(|m| m.directed).min()
    }

    pub fn directed(&self, participant: ParticipantId) -> Option<Tier> {
        self.members.get(&participant).map(|m| m.directed)
    }

    /// Members that are no longer voters.
    pub fn silent(&self, config: &JudgeConfig) -> usize {
        self.members
            .values()
            .filter(|m| !m.is_voter(config))
            .count()
    }

    /// The earliest instant a timer of the room expires: the proposal's deadline, or the end
    /// of the minimum interval that holds a downgrade.
    pub fn next_timeout(&self) -> Option<Instant> {
        let deadline = self.proposal.as_ref().map(|p| p.deadline);
        [deadline, self.held_until].into_iter().flatten().min()
    }

    /// Adds a participant and decides; returns up to two orders: the room's tier for the
    /// joiner (unless the decision already tells it one), then the decision.
    pub fn join(&mut self, now: Instant, participant: ParticipantId, cx: &mut Ctx) -> Vec<Signals> {
        let baseline = cx.config.baseline;
        let starts_at = match cx.config.policy {
            RoomPolicy::WeakestLink => self.tier().unwrap_or(baseline),
            RoomPolicy::PerSender => baseline,
        };
        self.members
            .insert(participant, Member::new(now, starts_at, cx.config));
        // The room changed under the proposal: drop it, without strikes or retry delay.
        if self.proposal.take().is_some() {
            cx.stats.cancelled += 1;
        }
        let decision = self.decide(now, cx);
        let mut orders = Vec::new();
        let directed_now = decision
            .iter()
            .any(|&(p, s)| p == participant && matches!(s, QualitySignal::Directive { .. }));
        if starts_at != baseline && !directed_now {
            cx.stats.directives += 1;
            orders.push(vec![(
                participant,
                QualitySignal::Directive {
                    tier: starts_at,
                    reason: DirectiveReason::RoomTier,
                },
            )]);
        }
        if !decision.is_empty() {
            orders.push(decision);
        }
        orders
    }

    /// Removes a participant; the proposal's confirmation if it was the last voter to wait
    /// for. `None` if it was no member.
    pub fn leave(
        &mut self,
        now: Instant,
        participant: ParticipantId,
        cx: &mut Ctx,
    ) -> Option<Signals> {
        self.members.remove(&participant)?;
        if let Some(proposal) = &mut self.proposal {
            proposal.tiers.remove(&participant);
            proposal.voters.remove(&participant);
            proposal.accepted.remove(&participant);
            if proposal.tiers.is_empty() {
                self.proposal = None;
                cx.stats.cancelled += 1;
            }
        }
        Some(self.confirm_if_agreed(now, cx))
    }

    /// Feeds one sample's observations; `false` if the participant is no member.
    pub fn observe(
        &mut self,
        now: Instant,
        participant: ParticipantId,
        uplink: Option<Tier>,
        downlink: Option<Tier>,
        config: &JudgeConfig,
    ) -> bool {
        let Some(member) = self.members.get_mut(&participant) else {
            return false;
        };
        member.observe(now, uplink, downlink, config);
        true
    }

    /// Sets a participant's cap; `false` if it is no member.
    pub fn set_cap(&mut self, participant: ParticipantId, max: Tier) -> bool {
        let Some(member) = self.members.get_mut(&participant) else {
            return false;
        };
        member.cap = Some(max);
        true
    }

    /// An answer to a proposal; the confirmation if it was the last one awaited. `None` if the
    /// participant is no member.
    pub fn answer(
        &mut self,
        now: Instant,
        participant: ParticipantId,
        proposal_id: u64,
        accepted: bool,
        cx: &mut Ctx,
    ) -> Option<Signals> {
        // Whatever it answers, a participant that answers takes part in negotiation.
        self.members.get_mut(&participant)?.silent = 0;
        let Some(proposal) = self
            .proposal
            .as_mut()
            .filter(|p| p.id == proposal_id && p.voters.contains(&participant))
        else {
            cx.stats.stale_answers += 1;
            return Some(Vec::new());
        };
        if accepted {
            proposal.accepted.insert(participant);
            return Some(self.confirm_if_agreed(now, cx));
        }
        self.proposal = None;
        cx.stats.rejected += 1;
        self.retry_at = Some(later(now, cx.config.retry_after()));
        Some(Vec::new())
    }

    /// Cancels the proposal if its deadline has passed; each voter that did not answer gets a
    /// strike.
    pub fn expire(&mut self, now: Instant, cx: &mut Ctx) {
        let Some(proposal) = self.proposal.take_if(|p| p.deadline <= now) else {
            return;
        };
        for id in proposal.voters.difference(&proposal.accepted) {
            if let Some(member) = self.members.get_mut(id) {
                member.silent = member.silent.saturating_add(1);
            }
        }
        cx.stats.timed_out += 1;
        self.retry_at = Some(later(now, cx.config.retry_after()));
    }

    /// Decides once: a mandatory downgrade, or else a negotiated upgrade (see the module docs
    /// of [`super`] for the rules).
    pub fn decide(&mut self, now: Instant, cx: &mut Ctx) -> Signals {
        self.held_until = None;
        if !cx.config.enabled || self.members.is_empty() {
            return Vec::new();
        }
        let targets = targets(&self.members, cx.config);
        let lower: Vec<(ParticipantId, Tier)> = targets
            .iter()
            .copied()
            .filter(|&(p, target)| self.directed(p).is_some_and(|d| target < d))
            .collect();
        if !lower.is_empty() {
            return self.downgrade(now, lower, cx);
        }
        if let Some(proposal) = &self.proposal {
            // A target fell below what is on offer: the upgrade no longer stands.
            let stands = proposal.tiers.iter().all(|(p, tier)| {
                targets
                    .binary_search_by_key(p, |&(id, _)| id)
                    .is_ok_and(|i| targets[i].1 >= *tier)
            });
            if !stands {
                self.proposal = None;
                cx.stats.cancelled += 1;
            }
            return Vec::new();
        }
        self.upgrade(now, &targets, cx)
    }

    /// When the minimum interval since the last change lets the room change again.
    fn change_allowed_at(&self, config: &JudgeConfig) -> Option<Instant> {
        self.last_change
            .map(|t| later(t, config.min_change_interval()))
    }

    fn downgrade(
        &mut self,
        now: Instant,
        lower: Vec<(ParticipantId, Tier)>,
        cx: &mut Ctx,
    ) -> Signals {
        if let Some(allowed) = self.change_allowed_at(cx.config).filter(|&t| now < t) {
            self.held_until = Some(allowed);
            return Vec::new();
        }
        if self.proposal.take().is_some() {
            cx.stats.cancelled += 1;
        }
        let reason = match cx.config.policy {
            RoomPolicy::WeakestLink => DirectiveReason::WeakestLink,
            RoomPolicy::PerSender => DirectiveReason::WeakestReceiver,
        };
        self.last_change = Some(now);
        self.direct(lower, reason, cx)
    }

    fn upgrade(
        &mut self,
        now: Instant,
        targets: &[(ParticipantId, Tier)],
        cx: &mut Ctx,
    ) -> Signals {
        let config = cx.config;
        let raise: BTreeMap<ParticipantId, Tier> = targets
            .iter()
            .filter_map(|&(p, target)| {
                let directed = self.directed(p)?;
                (target > directed).then(|| (p, proposed(directed, target, config.baseline)))
            })
            .collect();
        let recovery = raise.values().all(|&tier| tier <= config.baseline);
        let ready = !raise.is_empty()
            && self
                .members
                .values()
                .all(|m| m.is_stable(now, config, recovery))
            && self.retry_at.is_none_or(|t| now >= t)
            && self.change_allowed_at(config).is_none_or(|t| now >= t);
        if !ready {
            return Vec::new();
        }
        let voters: BTreeSet<ParticipantId> = raise
            .keys()
            .copied()
            .filter(|p| self.members.get(p).is_some_and(|m| m.is_voter(config)))
            .collect();
        if voters.is_empty() {
            self.last_change = Some(now);
            return self.direct(raise.into_iter().collect(), DirectiveReason::Upgrade, cx);
        }
        *cx.last_proposal_id += 1;
        let id = *cx.last_proposal_id;
        cx.stats.proposals += 1;
        let signals = voters
            .iter()
            .filter_map(|p| {
                let tier = *raise.get(p)?;
                Some((
                    *p,
                    QualitySignal::Proposal {
                        proposal_id: id,
                        tier,
                    },
                ))
            })
            .collect();
        self.proposal = Some(Proposal {
            id,
            deadline: later(now, config.proposal_timeout()),
            tiers: raise,
            voters,
            accepted: BTreeSet::new(),
        });
        signals
    }

    /// Confirms the proposal once every voter still present has accepted: Confirm to the
    /// voters, a directive to the others it raises.
    fn confirm_if_agreed(&mut self, now: Instant, cx: &mut Ctx) -> Signals {
        let Some(proposal) = self.proposal.take_if(|p| p.voters.is_subset(&p.accepted)) else {
            return Vec::new();
        };
        let mut signals = Vec::with_capacity(proposal.tiers.len());
        for (&p, &tier) in &proposal.tiers {
            let Some(member) = self.members.get_mut(&p) else {
                continue;
            };
            member.directed = tier;
            let signal = if proposal.voters.contains(&p) {
                QualitySignal::Confirm {
                    proposal_id: proposal.id,
                    tier,
                }
            } else {
                cx.stats.directives += 1;
                QualitySignal::Directive {
                    tier,
                    reason: DirectiveReason::Upgrade,
                }
            };
            signals.push((p, signal));
        }
        self.last_change = Some(now);
        cx.stats.confirms += 1;
        signals
    }

    /// Sets and tells each participant its new tier.
    fn direct(
        &mut self,
        tiers: Vec<(ParticipantId, Tier)>,
        reason: DirectiveReason,
        cx: &mut Ctx,
    ) -> Signals {
        let mut signals = Vec::with_capacity(tiers.len());
        for (p, tier) in tiers {
            if let Some(member) = self.members.get_mut(&p) {
                member.directed = tier;
                cx.stats.directives += 1;
                signals.push((p, QualitySignal::Directive { tier, reason }));
            }
        }
        signals
    }
}

/// The tier an upgrade offers: a room below the baseline returns to it in one negotiation;
/// above it, one step at a time.
fn proposed(directed: Tier, target: Tier, baseline: Tier) -> Tier {
    if directed < baseline {
        target.min(baseline)
    } else {
        directed.up().unwrap_or(directed).min(target)
    }
}
