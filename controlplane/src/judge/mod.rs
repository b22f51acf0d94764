//! The relay's quality judge: a pure, sans-IO engine. Shard events in (joins, leaves, quality
//! samples, upgrade answers, capabilities), [`QualityOrder`]s out; time is whatever `now` the
//! caller passes, and [`Judge::poll_timeout`] says when to call [`Judge::handle_timeout`].
//!
//! The model (reference 3.2-3.6, the PRD "Coordinated Codec Switching"):
//!
//! - Each participant has two controllers with hysteresis (`controller.rs`): the uplink, fed by
//!   its QualityReport trailer (its view of what it sends), and the downlink, fed by quiche's
//!   path figures (the relay's view of what it sends it). Observations are tiers
//!   ([`classify`]).
//! - Each participant has a target: under [`RoomPolicy::WeakestLink`] the room's weakest
//!   uplink, downlink or cap; under [`RoomPolicy::PerSender`] the weakest of its own uplink,
//!   its cap and the downlinks of those who receive it.
//! - Each participant has a directed tier: what it was last told. Decisions move directed
//!   tiers towards targets; downgrades at once, upgrades only by negotiation.
//!
//! ```text
//!   event or 1 s tick ──► targets ──► any target < directed? ──yes──► min interval passed?
//!                                           │ no                     │ yes          │ no
//!                                           ▼                        ▼              ▼
//!                                    proposal in flight?    cancel the proposal;  hold until
//!                                      │ no        │ yes    Directive(target) to  it has
//!                                      ▼           ▼        each lowered one      (poll_timeout)
//!        any target > directed, everyone stable   wait
//!        for the window, past retry_at and the
//!        min interval? ──yes──► voters among the raised?
//!                                 │ some                       │ none
//!                                 ▼                            ▼
//!                      Proposal(id, tier) to the voters   Directive(tier, Upgrade) to all
//!                                 │                           raised, at once
//!              ┌──────────────────┼──────────────────────┐
//!        all voters accept   one rejects            deadline passes
//!              ▼                  ▼                      ▼
//!      Confirm to voters,    cancelled;           cancelled; a strike for each
//!      Directive(Upgrade)    retry after          voter that did not answer;
//!      to the non-voters     retry_after          retry after retry_after
//! ```
//!
//! "Stable for the window" means no observation worse than its tiers for `stable_window`. To
//! return to the baseline, a participant that never reported worse counts as stable however
//! young its membership (it is not what degraded the room: when the weak link leaves, the
//! rest come back at once); above the baseline every member must also have been in the room
//! for the whole window.
//!
//! The offered tier: from below the baseline straight back to it; above it one step up. A
//! proposal is also cancelled when some target falls below what it offers (a confirmation
//! would only be undone). A joiner cancels the proposal in flight and, under weakest link, is
//! told the room's tier (unless the same decision already directs it);
//! a leaver is forgotten and the room decides at once. A participant that leaves
//! `silent_proposals` proposals in a row unanswered stops being a voter (clients of this era
//! do not negotiate) and is told confirmed upgrades by directive; any answer makes it a voter
//! again. Each decision is at most one order per room with at most one signal per
//! participant, and a room changes at most once per `min_change_interval`: no storms.

pub mod classify;
pub mod config;
mod controller;
mod member;
mod room;

#[cfg(test)]
mod tests;

pub use config::{JudgeConfig, RoomPolicy};

use room::{later, Ctx, Room, Signals};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};
use switchyard_proto::control::{ParticipantId, QualityOrder, QualitySample, ShardEvent};
use switchyard_proto::Tier;

/// Rooms are re-evaluated this often even without events (the PRD's monitor runs every
/// second).
const TICK: Duration = Duration::from_secs(1);

/// What the judge has done: gauges (`rooms`, `participants`, `rooms_below_baseline`,
/// `silent_participants`) and counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct JudgeStats {
    pub rooms: u64,
    pub participants: u64,
    /// Rooms whose lowest directed tier is below the baseline.
    pub rooms_below_baseline: u64,
    /// QualityDirective signals (one per participant told).
    pub directives: u64,
    /// Upgrade proposals opened (each asks one or more voters). Every one ends confirmed,
    /// rejected, timed out or cancelled, or is still in flight.
    pub proposals: u64,
    pub confirms: u64,
    pub rejected: u64,
    pub timed_out: u64,
    /// Proposals dropped because a participant joined, a downgrade came first, their target
    /// fell away, or everyone they would raise left.
    pub cancelled: u64,
    /// Answers from participants that matched no proposal awaiting them.
    pub stale_answers: u64,
    /// Participants that are currently no voters.
    pub silent_participants: u64,
    /// Capability declarations taken.
    pub capabilities: u64,
}

#[derive(Debug)]
pub struct Judge {
    config: JudgeConfig,
    rooms: BTreeMap<Arc<str>, Room>,
    membership: HashMap<ParticipantId, Arc<str>>,
    orders: VecDeque<QualityOrder>,
    /// The counters of [`JudgeStats`]; the gauges are computed when asked.
    stats: JudgeStats,
    last_proposal_id: u64,
    next_tick: Option<Instant>,
}

impl Judge {
    pub fn new(mut config: JudgeConfig) -> Self {
        config.baseline = config.baseline.min(config.ceiling);
        Self {
            config,
            rooms: BTreeMap::new(),
            membership: HashMap::new(),
            orders: VecDeque::new(),
            stats: JudgeStats::default(),
            last_proposal_id: 0,
            next_tick: None,
        }
    }

    /// Feeds one shard event: Joined, Left, Quality, UpgradeAnswer, Capability (Counters and
    /// Violation are not the judge's).
    pub fn handle_event(&mut self, now: Instant, event: &ShardEvent) {
        match event {
            ShardEvent::Joined {
                room, participant, ..
            } => self.join(now, room, *participant),
            ShardEvent::Left { participant, .. } => self.leave(now, *participant),
            ShardEvent::Quality {
                participant,
                sample,
            } => self.sample(now, *participant, sample),
            ShardEvent::UpgradeAnswer {
                participant,
                proposal_id,
                accepted,
            } => self.answer(now, *participant, *proposal_id, *accepted),
            ShardEvent::Capability { participant, max } => {
                self.capability(now, *participant, *max);
            }
            ShardEvent::Counters { .. } | ShardEvent::Violation { .. } => {}
        }
    }

    /// A participant joined `room` (a participant already in another room moves).
    pub fn join(&mut self, now: Instant, room: &str, participant: ParticipantId) {
        match self.membership.get(&participant) {
            Some(current) if **current == *room => return,
            Some(_) => self.leave(now, participant),
            None => {}
        }
        let name: Arc<str> = match self.rooms.get_key_value(room) {
            Some((name, _)) => Arc::clone(name),
            None => Arc::from(room),
        };
        self.membership.insert(participant, Arc::clone(&name));
        self.next_tick.get_or_insert(later(now, TICK));
        let Judge {
            config,
            rooms,
            stats,
            last_proposal_id,
            orders,
            ..
        } = self;
        let mut cx = Ctx {
            config,
            stats,
            last_proposal_id,
        };
        let state = rooms.entry(Arc::clone(&name)).or_default();
        for signals in state.join(now, participant, &mut cx) {
            emit(orders, &name, signals);
        }
    }

    /// A participant left; its room decides at once (and is forgotten when empty).
    pub fn leave(&mut self, now: Instant, participant: ParticipantId) {
        let Some(name) = self.membership.get(&participant).cloned() else {
            return;
        };
        self.with_room(now, participant, |state, cx| {
            state.leave(now, participant, cx).unwrap_or_default()
        });
        self.membership.remove(&participant);
        if self.rooms.get(&name).is_some_and(Room::is_empty) {
            self.rooms.remove(&name);
            if self.rooms.is_empty() {
                self.next_tick = None;
            }
        }
    }

    /// One quality sample of a participant: feeds its controllers, then its room decides.
    pub fn sample(&mut self, now: Instant, participant: ParticipantId, sample: &QualitySample) {
        let uplink = sample.report.as_ref().map(classify::uplink);
        let downlink = sample
            .path
            .as_ref()
            .map(|p| classify::downlink(p, self.config.path_min_packets));
        self.with_room(now, participant, |state, cx| {
            state.observe(now, participant, uplink, downlink, cx.config);
            Vec::new()
        });
    }

    /// A participant answered upgrade proposal `proposal_id`.
    pub fn answer(
        &mut self,
        now: Instant,
        participant: ParticipantId,
        proposal_id: u64,
        accepted: bool,
    ) {
        self.with_room(now, participant, |state, cx| {
            state
                .answer(now, participant, proposal_id, accepted, cx)
                .unwrap_or_default()
        });
    }

    /// A participant can take at most `max`.
    pub fn capability(&mut self, now: Instant, participant: ParticipantId, max: Tier) {
        self.with_room(now, participant, |state, cx| {
            if state.set_cap(participant, max) {
                cx.stats.capabilities += 1;
            }
            Vec::new()
        });
    }

    /// Expires proposal deadlines and re-evaluates every room.
    pub fn handle_timeout(&mut self, now: Instant) {
        let Judge {
            config,
            rooms,
            stats,
            last_proposal_id,
            orders,
            next_tick,
            ..
        } = self;
        let mut cx = Ctx {
            config,
            stats,
            last_proposal_id,
        };
        for (name, state) in rooms.iter_mut() {
            state.expire(now, &mut cx);
            let decision = state.decide(now, &mut cx);
            emit(orders, name, decision);
        }
        if next_tick.is_some_and(|t| t <= now) {
            *next_tick = Some(later(now, TICK));
        }
    }

    /// The earliest instant handle_timeout must run (proposal deadlines, held changes, the
    /// periodic re-evaluation tick of 1 s); None when there are no rooms, or when the judge is
    /// disabled (it then has nothing to time).
    pub fn poll_timeout(&self) -> Option<Instant> {
        if !self.config.enabled {
            return None;
        }
        let rooms = self.rooms.values().filter_map(Room::next_timeout);
        self.next_tick.into_iter().chain(rooms).min()
    }

    /// The next order, FIFO. One order = one decision for one room, at most one signal per participant.
    pub fn poll_order(&mut self) -> Option<QualityOrder> {
        self.orders.pop_front()
    }

    pub fn stats(&self) -> JudgeStats {
        let count = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
        let baseline = self.config.baseline;
        JudgeStats {
            rooms: count(self.rooms.len()),
            participants: count(self.rooms.values().map(Room::len).sum()),
            rooms_below_baseline: count(
                self.rooms
                    .values()
                    .filter(|r| r.tier().is_some_and(|t| t < baseline))
                    .count(),
            ),
            silent_participants: count(self.rooms.values().map(|r| r.silent(&self.config)).sum()),
            ..self.stats.clone()
        }
    }

    /// Weakest link: the room's directed tier; per sender: the lowest directed tier.
    pub fn room_tier(&self, room: &str) -> Option<Tier> {
        self.rooms.get(room).and_then(Room::tier)
    }

    /// The tier the participant was last told (or assumed at on joining).
    pub fn directed(&self, participant: ParticipantId) -> Option<Tier> {
        let name = self.membership.get(&participant)?;
        self.rooms.get(name)?.directed(participant)
    }

    /// Runs `f` on the participant's room (its signals, if any, are one order), then lets the
    /// room decide; ignores participants that never joined.
    fn with_room(
        &mut self,
        now: Instant,
        participant: ParticipantId,
        f: impl FnOnce(&mut Room, &mut Ctx) -> Signals,
    ) {
        let Some(name) = self.membership.get(&participant) else {
            return;
        };
        let Judge {
            config,
            rooms,
            stats,
            last_proposal_id,
            orders,
            ..
        } = self;
        let Some(state) = rooms.get_mut(&**name) else {
            return;
        };
        let mut cx = Ctx {
            config,
            stats,
            last_proposal_id,
        };
        emit(orders, name, f(state, &mut cx));
        let decision = state.decide(now, &mut cx);
        emit(orders, name, decision);
    }
}

fn emit(orders: &mut VecDeque<QualityOrder>, room: &str, signals: Signals) {
    if !signals.is_empty() {
        orders.push_back(QualityOrder {
            room: room.to_owned(),
            signals,
        });
    }
}
