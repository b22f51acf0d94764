//! The judge in simulated time: one real `Instant` per test as the origin, everything else is
//! that origin plus milliseconds. Every test asserts the exact orders (when, room,
//! participant, signal).

use super::classify::classify;
use super::controller::Controller;
use super::*;
use switchyard_proto::control::{
    DirectiveReason, PathFigures, QualitySignal, ReportFigures, ShardId,
};

const ROOM: &str = "room-1";

/// The test's time origin (the engines never read the clock).
fn t0() -> Instant {
    switchyard_testclock::origin()
}

fn p(n: u64) -> ParticipantId {
    ParticipantId::new(ShardId(0), n)
}

const A: u64 = 1;
const B: u64 = 2;
const C: u64 = 3;
const D: u64 = 4;

/// A judge driven in simulated time. Every action first runs the judge's timers up to its
/// instant (at the instants `poll_timeout` names), and every order is logged with the
/// millisecond it came out at.
struct Sim {
    judge: Judge,
    t0: Instant,
    now_ms: u64,
    log: Vec<(u64, QualityOrder)>,
}

impl Sim {
    fn new(config: JudgeConfig) -> Self {
        Self {
            judge: Judge::new(config),
            t0: t0(),
            now_ms: 0,
            log: Vec::new(),
        }
    }

    /// A judge with participants 1..=n joined to [`ROOM`] at 0 ms.
    fn room(config: JudgeConfig, n: u64) -> Self {
        let mut sim = Self::new(config);
        for who in 1..=n {
            sim.join(0, ROOM, who);
        }
        sim
    }

    fn at(&self, ms: u64) -> Instant {
        self.t0 + Duration::from_millis(ms)
    }

    /// Runs every timer due up to `ms`.
    fn advance(&mut self, ms: u64) {
        assert!(ms >= self.now_ms, "simulated time goes forward");
        let until = self.at(ms);
        while let Some(t) = self.judge.poll_timeout().filter(|&t| t <= until) {
            self.judge.handle_timeout(t);
            let due = u64::try_from(t.duration_since(self.t0).as_millis()).unwrap();
            self.collect(due);
        }
        self.now_ms = ms;
    }

    fn collect(&mut self, ms: u64) {
        while let Some(order) = self.judge.poll_order() {
            self.log.push((ms, order));
        }
    }

    fn join(&mut self, ms: u64, room: &str, who: u64) {
        self.advance(ms);
        self.judge.join(self.at(ms), room, p(who));
        self.collect(ms);
    }

    fn leave(&mut self, ms: u64, who: u64) {
        self.advance(ms);
        self.judge.leave(self.at(ms), p(who));
        self.collect(ms);
    }

    fn sample(&mut self, ms: u64, who: u64, sample: QualitySample) {
        self.advance(ms);
        self.judge.sample(self.at(ms), p(who), &sample);
        self.collect(ms);
    }

    fn samples(&mut self, ms: u64, who: &[u64], sample: QualitySample, times: usize) {
        for _ in 0..times {
            for &w in who {
                self.sample(ms, w, sample);
            }
        }
    }

    fn answer(&mut self, ms: u64, who: u64, proposal_id: u64, accepted: bool) {
        self.advance(ms);
        self.judge
            .answer(self.at(ms), p(who), proposal_id, accepted);
        self.collect(ms);
    }

    fn accept_all(&mut self, ms: u64, who: &[u64], proposal_id: u64) {
        for &w in who {
            self.answer(ms, w, proposal_id, true);
        }
    }

    fn capability(&mut self, ms: u64, who: u64, max: Tier) {
        self.advance(ms);
        self.judge.capability(self.at(ms), p(who), max);
        self.collect(ms);
    }

    /// The orders logged since the last call.
    fn take(&mut self) -> Vec<(u64, QualityOrder)> {
        std::mem::take(&mut self.log)
    }
}

fn report(loss_pct: f32, rtt_ms: u32) -> QualitySample {
    QualitySample {
        report: Some(ReportFigures {
            loss_pct,
            rtt_ms,
            ..Default::default()
        }),
        path: None,
    }
}

fn path(sent: u32, lost: u32, rtt_ms: u32) -> QualitySample {
    QualitySample {
        report: None,
        path: Some(PathFigures {
            rtt_ms,
            sent,
            lost,
            delivery_rate_kbps: 0,
        }),
    }
}

/// A flawless link both ways: Studio64k observed by both controllers.
fn clean() -> QualitySample {
    QualitySample {
        report: report(0.0, 10).report,
        path: path(100, 0, 10).path,
    }
}

/// Loss on the participant's uplink, short RTT.
fn lossy(loss_pct: f32) -> QualitySample {
    report(loss_pct, 20)
}

/// A sample that feeds nothing (but still lets the room decide).
fn empty() -> QualitySample {
    QualitySample::default()
}

fn directive(tier: Tier, reason: DirectiveReason) -> QualitySignal {
    QualitySignal::Directive { tier, reason }
}

fn proposal(proposal_id: u64, tier: Tier) -> QualitySignal {
    QualitySignal::Proposal { proposal_id, tier }
}

fn confirm(proposal_id: u64, tier: Tier) -> QualitySignal {
    QualitySignal::Confirm { proposal_id, tier }
}

fn order(room: &str, signals: &[(u64, QualitySignal)]) -> QualityOrder {
    QualityOrder {
        room: room.into(),
        signals: signals.iter().map(|&(w, s)| (p(w), s)).collect(),
    }
}

/// One order at `ms` giving `signal` to each of `who`.
fn to_each(ms: u64, who: &[u64], signal: QualitySignal) -> (u64, QualityOrder) {
    let signals: Vec<_> = who.iter().map(|&w| (w, signal)).collect();
    (ms, order(ROOM, &signals))
}

const WEAKEST: DirectiveReason = DirectiveReason::WeakestLink;

fn config() -> JudgeConfig {
    JudgeConfig::default()
}

fn per_sender() -> JudgeConfig {
    JudgeConfig {
        policy: RoomPolicy::PerSender,
        ..config()
    }
}

// ---- classification -------------------------------------------------------------------

#[test]
fn classify_every_boundary_from_both_sides() {
    use Tier::*;
    let rows: [(f32, u32, Tier); 20] = [
        (14.99, 0, Degraded),
        (15.0, 0, Catastrophic),
        (0.0, 199, Degraded),
        (0.0, 200, Catastrophic),
        (4.99, 0, Good),
        (5.0, 0, Degraded),
        (0.0, 99, Good),
        (0.0, 100, Degraded),
        (1.99, 0, Studio32k),
        (2.0, 0, Good),
        (0.0, 79, Studio32k),
        (0.0, 80, Good),
        (0.99, 0, Studio64k),
        (1.0, 0, Studio32k),
        (0.0, 49, Studio48k),
        (0.0, 50, Studio32k),
        (0.0, 29, Studio64k),
        (0.0, 30, Studio48k),
        (0.99, 29, Studio64k),
        (100.0, 10_000, Catastrophic),
    ];
    for (loss, rtt, tier) in rows {
        assert_eq!(classify(loss, rtt), tier, "loss {loss} %, rtt {rtt} ms");
    }
}

#[test]
fn path_loss_below_min_packets_is_ignored() {
    let mut sim = Sim::room(config(), 2);
    // 10 of 19 lost: too few packets to say anything, so only the 10 ms RTT counts.
    sim.samples(1_000, &[A], path(19, 10, 10), 3);
    assert_eq!(sim.take(), vec![]);
    // 10 of 20 lost: 50 %, three times.
    sim.samples(2_000, &[A], path(20, 10, 10), 3);
    let down = directive(Tier::Catastrophic, WEAKEST);
    assert_eq!(sim.take(), vec![to_each(2_000, &[A, B], down)]);
}

// ---- the controller (reference 3.3) ---------------------------------------------------

#[test]
fn controller_two_worse_then_an_equal_report_resets() {
    let cfg = config();
    let mut c = Controller::new(Tier::Good);
    assert_eq!(c.observe(Tier::Degraded, &cfg), None);
    assert_eq!(c.observe(Tier::Degraded, &cfg), None);
    assert_eq!(c.observe(Tier::Good, &cfg), None);
    assert_eq!(c.observe(Tier::Degraded, &cfg), None);
    assert_eq!(c.observe(Tier::Degraded, &cfg), None);
    assert_eq!(c.tier(), Tier::Good);
    assert_eq!(c.observe(Tier::Degraded, &cfg), Some(Tier::Degraded));
}

#[test]
fn controller_three_worse_jump_straight_to_the_best_of_them() {
    let cfg = config();
    let mut c = Controller::new(Tier::Studio48k);
    assert_eq!(c.observe(Tier::Catastrophic, &cfg), None);
    assert_eq!(c.observe(Tier::Catastrophic, &cfg), None);
    assert_eq!(
        c.observe(Tier::Catastrophic, &cfg),
        Some(Tier::Catastrophic),
        "four tiers skipped at once"
    );
    let mut c = Controller::new(Tier::Good);
    assert_eq!(c.observe(Tier::Degraded, &cfg), None);
    assert_eq!(c.observe(Tier::Catastrophic, &cfg), None);
    assert_eq!(
        c.observe(Tier::Catastrophic, &cfg),
        Some(Tier::Degraded),
        "all three agree only on Degraded"
    );
    assert_eq!(c.observe(Tier::Catastrophic, &cfg), None);
    assert_eq!(
        c.observe(Tier::Degraded, &cfg),
        None,
        "an equal report resets the run"
    );
    assert_eq!(c.observe(Tier::Catastrophic, &cfg), None);
    assert_eq!(c.observe(Tier::Catastrophic, &cfg), None);
    assert_eq!(
        c.observe(Tier::Catastrophic, &cfg),
        Some(Tier::Catastrophic)
    );
}

#[test]
fn controller_below_good_climbs_one_step_after_five_better() {
    let cfg = config();
    let mut c = Controller::new(Tier::Catastrophic);
    for _ in 0..4 {
        assert_eq!(c.observe(Tier::Studio64k, &cfg), None);
    }
    assert_eq!(c.observe(Tier::Studio64k, &cfg), Some(Tier::Degraded));
    // A worse report in between starts the count again.
    for _ in 0..4 {
        assert_eq!(c.observe(Tier::Studio64k, &cfg), None);
    }
    assert_eq!(c.observe(Tier::Catastrophic, &cfg), None);
    for _ in 0..4 {
        assert_eq!(c.observe(Tier::Studio64k, &cfg), None);
    }
    assert_eq!(c.observe(Tier::Studio64k, &cfg), Some(Tier::Good));
}

#[test]
fn controller_from_good_climbs_one_step_after_ten_better() {
    let cfg = config();
    let mut c = Controller::new(Tier::Good);
    for _ in 0..9 {
        assert_eq!(c.observe(Tier::Studio64k, &cfg), None);
    }
    assert_eq!(c.observe(Tier::Studio64k, &cfg), Some(Tier::Studio32k));
    for _ in 0..9 {
        assert_eq!(c.observe(Tier::Studio64k, &cfg), None);
    }
    assert_eq!(c.observe(Tier::Studio64k, &cfg), Some(Tier::Studio48k));
}

#[test]
fn controller_ceiling_holds() {
    let cfg = JudgeConfig {
        ceiling: Tier::Studio32k,
        ..config()
    };
    let mut c = Controller::new(Tier::Good);
    for _ in 0..9 {
        assert_eq!(c.observe(Tier::Studio64k, &cfg), None);
    }
    assert_eq!(c.observe(Tier::Studio64k, &cfg), Some(Tier::Studio32k));
    for _ in 0..50 {
        assert_eq!(c.observe(Tier::Studio64k, &cfg), None);
    }
    assert_eq!(c.tier(), Tier::Studio32k);
}

// ---- downgrades -----------------------------------------------------------------------

#[test]
fn three_reports_downgrade_everyone_in_the_room_and_no_one_else() {
    let mut sim = Sim::room(config(), 4);
    sim.join(0, "other", 5);
    sim.join(0, "other", 6);
    sim.sample(1_000, C, lossy(10.0));
    sim.sample(2_000, C, lossy(10.0));
    assert_eq!(sim.take(), vec![], "two worse reports are not enough");
    sim.sample(3_000, C, lossy(10.0));
    let down = directive(Tier::Degraded, WEAKEST);
    assert_eq!(sim.take(), vec![to_each(3_000, &[A, B, C, D], down)]);
    assert_eq!(sim.judge.room_tier(ROOM), Some(Tier::Degraded));
    assert_eq!(sim.judge.room_tier("other"), Some(Tier::Good));
    assert_eq!(sim.judge.directed(p(5)), Some(Tier::Good));
    sim.advance(60_000);
    assert_eq!(sim.take(), vec![], "the weak link holds the room down");
}

#[test]
fn a_downgrade_jumps_tiers() {
    let mut sim = Sim::room(config(), 2);
    sim.samples(1_000, &[B], lossy(20.0), 3);
    let down = directive(Tier::Catastrophic, WEAKEST);
    assert_eq!(sim.take(), vec![to_each(1_000, &[A, B], down)]);
}

#[test]
fn min_change_interval_holds_a_second_downgrade() {
    let mut sim = Sim::room(config(), 2);
    for ms in [100, 200, 300] {
        sim.sample(ms, A, lossy(10.0));
    }
    for ms in [400, 500, 600] {
        sim.sample(ms, A, lossy(20.0));
    }
    sim.advance(2_000);
    assert_eq!(
        sim.judge.poll_timeout(),
        Some(sim.at(2_300)),
        "held until 300 + 2000"
    );
    sim.advance(10_000);
    assert_eq!(
        sim.take(),
        vec![
            to_each(300, &[A, B], directive(Tier::Degraded, WEAKEST)),
            to_each(2_300, &[A, B], directive(Tier::Catastrophic, WEAKEST)),
        ]
    );
}

#[test]
fn capability_cap_drags_a_weakest_link_room_down() {
    let mut sim = Sim::room(config(), 4);
    sim.capability(1_000, B, Tier::Degraded);
    let down = directive(Tier::Degraded, WEAKEST);
    assert_eq!(sim.take(), vec![to_each(1_000, &[A, B, C, D], down)]);
    assert_eq!(sim.judge.stats().capabilities, 1);
}

// ---- upgrades -------------------------------------------------------------------------

#[test]
fn upgrade_below_good_needs_five_better_reports_and_the_window() {
    let mut sim = Sim::room(config(), 2);
    sim.samples(3_000, &[A], lossy(10.0), 3);
    let down = directive(Tier::Degraded, WEAKEST);
    assert_eq!(sim.take(), vec![to_each(3_000, &[A, B], down)]);
    // Four better reports leave A's uplink at Degraded: the room stays there.
    for s in 4..=7 {
        sim.sample(s * 1_000, A, report(0.0, 10));
    }
    sim.advance(100_000);
    assert_eq!(sim.take(), vec![]);
    // The fifth lifts it to Good; A has been stable since 3 s, long enough: a proposal back to
    // the baseline at once.
    sim.sample(100_000, A, report(0.0, 10));
    let up = proposal(1, Tier::Good);
    assert_eq!(sim.take(), vec![to_each(100_000, &[A, B], up)]);
}

#[test]
fn upgrade_below_good_waits_for_the_window_after_the_last_worse_report() {
    let mut sim = Sim::room(config(), 2);
    sim.samples(3_000, &[A], lossy(10.0), 3);
    sim.take();
    // Better every second from 4 s: Good again at 8 s, but A was unstable until 3 s.
    for s in 4..=40 {
        sim.sample(s * 1_000, A, report(0.0, 10));
    }
    assert_eq!(
        sim.take(),
        vec![to_each(33_000, &[A, B], proposal(1, Tier::Good))]
    );
}

#[test]
fn upgrade_from_good_needs_ten_better_reports() {
    let mut sim = Sim::room(config(), 2);
    for s in 1..=9 {
        sim.samples(s * 1_000, &[A, B], clean(), 1);
    }
    sim.advance(60_000);
    assert_eq!(
        sim.take(),
        vec![],
        "nine reports leave the controllers at Good"
    );
    sim.samples(61_000, &[A, B], clean(), 1);
    assert_eq!(
        sim.take(),
        vec![to_each(61_000, &[A, B], proposal(1, Tier::Studio32k))]
    );
}

#[test]
fn stable_window_boundary() {
    let mut sim = Sim::room(config(), 2);
    sim.samples(0, &[A, B], clean(), 10);
    sim.sample(29_999, A, empty());
    assert_eq!(sim.take(), vec![], "29.999 s is not 30 s");
    sim.advance(30_000);
    assert_eq!(
        sim.take(),
        vec![to_each(30_000, &[A, B], proposal(1, Tier::Studio32k))]
    );
}

#[test]
fn a_worse_report_restarts_the_window() {
    let mut sim = Sim::room(config(), 2);
    sim.samples(0, &[A, B], clean(), 10);
    // One Good report against A's Studio32k controllers: no downgrade, but unstable.
    sim.sample(20_000, A, report(3.0, 10));
    sim.advance(49_999);
    assert_eq!(sim.take(), vec![]);
    sim.advance(50_000);
    assert_eq!(
        sim.take(),
        vec![to_each(50_000, &[A, B], proposal(1, Tier::Studio32k))]
    );
}

#[test]
fn a_proposal_accepted_by_all_is_confirmed_then_the_next_step_follows() {
    let mut sim = Sim::room(config(), 4);
    sim.samples(0, &[A, B, C, D], clean(), 30);
    sim.advance(30_000);
    let up = proposal(1, Tier::Studio32k);
    assert_eq!(sim.take(), vec![to_each(30_000, &[A, B, C, D], up)]);
    sim.accept_all(31_000, &[A, B, C], 1);
    assert_eq!(sim.take(), vec![], "D has not answered yet");
    sim.answer(31_000, D, 1, true);
    let done = confirm(1, Tier::Studio32k);
    assert_eq!(sim.take(), vec![to_each(31_000, &[A, B, C, D], done)]);
    assert_eq!(sim.judge.directed(p(A)), Some(Tier::Studio32k));
    assert_eq!(sim.judge.room_tier(ROOM), Some(Tier::Studio32k));
    // Above the baseline one step at a time, once the minimum interval has passed.
    sim.advance(33_000);
    let next = proposal(2, Tier::Studio48k);
    assert_eq!(sim.take(), vec![to_each(33_000, &[A, B, C, D], next)]);
}

#[test]
fn a_rejection_cancels_and_the_next_proposal_waits_retry_after() {
    let mut sim = Sim::room(config(), 2);
    sim.samples(0, &[A, B], clean(), 10);
    sim.advance(30_000);
    sim.take();
    sim.answer(31_000, A, 1, true);
    sim.answer(32_000, B, 1, false);
    assert_eq!(sim.take(), vec![], "no Confirm");
    assert_eq!(sim.judge.directed(p(A)), Some(Tier::Good));
    assert_eq!(sim.judge.stats().rejected, 1);
    sim.sample(61_999, A, empty());
    assert_eq!(sim.take(), vec![]);
    sim.sample(62_000, A, empty());
    assert_eq!(
        sim.take(),
        vec![to_each(62_000, &[A, B], proposal(2, Tier::Studio32k))]
    );
}

#[test]
fn time_outs_make_a_silent_participant_a_non_voter_until_it_answers() {
    let mut sim = Sim::room(config(), 4);
    sim.samples(0, &[A, B, C, D], clean(), 30);
    let all = [A, B, C, D];
    // Twice D leaves the proposal unanswered.
    sim.advance(30_000);
    sim.accept_all(31_000, &[A, B, C], 1);
    sim.advance(65_000);
    sim.accept_all(66_000, &[A, B, C], 2);
    sim.advance(100_000);
    assert_eq!(
        sim.take(),
        vec![
            to_each(30_000, &all, proposal(1, Tier::Studio32k)),
            to_each(65_000, &all, proposal(2, Tier::Studio32k)),
            to_each(100_000, &[A, B, C], proposal(3, Tier::Studio32k)),
        ],
        "time-outs at 35 s and 70 s, each followed by retry_after"
    );
    let stats = sim.judge.stats();
    assert_eq!((stats.timed_out, stats.silent_participants), (2, 1));
    // The voters agree; the silent one is told by directive.
    sim.accept_all(101_000, &[A, B, C], 3);
    let done = confirm(3, Tier::Studio32k);
    let told = directive(Tier::Studio32k, DirectiveReason::Upgrade);
    assert_eq!(
        sim.take(),
        vec![(
            101_000,
            order(ROOM, &[(A, done), (B, done), (C, done), (D, told)])
        )]
    );
    assert_eq!(sim.judge.directed(p(D)), Some(Tier::Studio32k));
    // A late answer, even to an old proposal, makes D a voter again.
    sim.answer(102_000, D, 1, true);
    let stats = sim.judge.stats();
    assert_eq!((stats.stale_answers, stats.silent_participants), (1, 0));
    sim.advance(103_000);
    assert_eq!(
        sim.take(),
        vec![to_each(103_000, &all, proposal(4, Tier::Studio48k))]
    );
}

#[test]
fn with_no_voters_left_an_upgrade_is_applied_by_directive() {
    let cfg = JudgeConfig {
        silent_proposals: 1,
        ..config()
    };
    let mut sim = Sim::room(cfg, 2);
    sim.samples(0, &[A, B], clean(), 10);
    sim.advance(65_000);
    let told = directive(Tier::Studio32k, DirectiveReason::Upgrade);
    assert_eq!(
        sim.take(),
        vec![
            to_each(30_000, &[A, B], proposal(1, Tier::Studio32k)),
            to_each(65_000, &[A, B], told),
        ]
    );
}

#[test]
fn upgrades_never_propose_above_a_cap() {
    let mut sim = Sim::room(config(), 2);
    sim.capability(0, A, Tier::Studio32k);
    sim.samples(0, &[A, B], clean(), 30);
    sim.advance(30_000);
    sim.accept_all(31_000, &[A, B], 1);
    sim.advance(300_000);
    assert_eq!(
        sim.take(),
        vec![
            to_each(30_000, &[A, B], proposal(1, Tier::Studio32k)),
            to_each(31_000, &[A, B], confirm(1, Tier::Studio32k)),
        ]
    );
}

#[test]
fn a_ceiling_keeps_a_healthy_room_from_proposals() {
    let cfg = JudgeConfig {
        ceiling: Tier::Good,
        ..config()
    };
    let mut sim = Sim::room(cfg, 2);
    for s in 1..=120 {
        sim.samples(s * 1_000, &[A, B], clean(), 1);
    }
    assert_eq!(sim.take(), vec![]);
    assert_eq!(sim.judge.stats().proposals, 0);
}

// ---- membership -----------------------------------------------------------------------

#[test]
fn the_weak_participant_leaving_brings_the_room_back_at_once() {
    let mut sim = Sim::room(config(), 4);
    sim.samples(3_000, &[D], lossy(10.0), 3);
    sim.advance(40_000);
    assert_eq!(sim.judge.room_tier(ROOM), Some(Tier::Degraded));
    sim.leave(40_500, D);
    assert_eq!(
        sim.take(),
        vec![
            to_each(3_000, &[A, B, C, D], directive(Tier::Degraded, WEAKEST)),
            to_each(40_500, &[A, B, C], proposal(1, Tier::Good)),
        ]
    );
    sim.accept_all(41_000, &[A, B, C], 1);
    assert_eq!(
        sim.take(),
        vec![to_each(41_000, &[A, B, C], confirm(1, Tier::Good))]
    );
    assert_eq!(sim.judge.room_tier(ROOM), Some(Tier::Good));
}

#[test]
fn a_leave_can_complete_the_agreement() {
    let mut sim = Sim::room(config(), 3);
    sim.samples(0, &[A, B, C], clean(), 10);
    sim.advance(30_000);
    sim.accept_all(31_000, &[A, B], 1);
    sim.take();
    sim.leave(32_000, C);
    assert_eq!(
        sim.take(),
        vec![to_each(32_000, &[A, B], confirm(1, Tier::Studio32k))]
    );
}

#[test]
fn a_join_cancels_the_proposal_in_flight() {
    let mut sim = Sim::room(config(), 2);
    sim.samples(1_000, &[A], lossy(10.0), 3);
    sim.samples(2_000, &[A], report(0.0, 10), 5);
    sim.advance(31_000);
    assert_eq!(
        sim.take(),
        vec![
            to_each(1_000, &[A, B], directive(Tier::Degraded, WEAKEST)),
            to_each(31_000, &[A, B], proposal(1, Tier::Good)),
        ]
    );
    // The joiner does not lower the target, but the room it would confirm for has changed:
    // the proposal is dropped. The joiner never reported worse, so a return to the baseline
    // need not wait for it: a new proposal, the joiner included, goes out at once, after the
    // joiner is told the tier the room is at.
    sim.join(32_000, ROOM, C);
    sim.accept_all(32_500, &[A, B], 1);
    assert_eq!(
        sim.take(),
        vec![
            (
                32_000,
                order(
                    ROOM,
                    &[(C, directive(Tier::Degraded, DirectiveReason::RoomTier))]
                )
            ),
            to_each(32_000, &[A, B, C], proposal(2, Tier::Good)),
        ],
        "no Confirm for a cancelled proposal"
    );
    let stats = sim.judge.stats();
    assert_eq!((stats.cancelled, stats.stale_answers), (1, 2));
    sim.accept_all(33_000, &[A, B, C], 2);
    assert_eq!(
        sim.take(),
        vec![to_each(33_000, &[A, B, C], confirm(2, Tier::Good))]
    );
}

#[test]
fn a_young_room_returns_to_the_baseline_when_its_weak_link_leaves_but_earns_studio() {
    let mut sim = Sim::room(config(), 4);
    sim.samples(1_000, &[D], lossy(10.0), 3);
    sim.samples(1_000, &[A, B, C], clean(), 14);
    sim.leave(15_000, D);
    assert_eq!(
        sim.take(),
        vec![
            to_each(1_000, &[A, B, C, D], directive(Tier::Degraded, WEAKEST)),
            to_each(15_000, &[A, B, C], proposal(1, Tier::Good)),
        ],
        "A, B and C never reported worse: 14 s of membership is enough to return"
    );
    sim.accept_all(15_500, &[A, B, C], 1);
    sim.take();
    // Above the baseline every member needs a whole window of membership.
    sim.samples(16_000, &[A, B, C], clean(), 13);
    sim.advance(29_999);
    assert_eq!(sim.take(), vec![], "not before 30 s of membership");
    sim.advance(30_000);
    assert_eq!(
        sim.take(),
        vec![to_each(30_000, &[A, B, C], proposal(2, Tier::Studio32k))]
    );
}

#[test]
fn a_proposal_whose_target_falls_away_is_cancelled() {
    let mut sim = Sim::room(config(), 2);
    sim.samples(0, &[A, B], clean(), 10);
    sim.advance(30_000);
    sim.take();
    // B's links fall back to Good: no downgrade (the room is at Good), but no upgrade either.
    sim.samples(31_000, &[B], report(3.0, 10), 3);
    sim.accept_all(31_500, &[A, B], 1);
    assert_eq!(sim.take(), vec![]);
    let stats = sim.judge.stats();
    assert_eq!((stats.cancelled, stats.confirms), (1, 0));
    assert_eq!(sim.judge.room_tier(ROOM), Some(Tier::Good));
}

#[test]
fn a_downgrade_cancels_the_proposal_in_flight() {
    let mut sim = Sim::room(config(), 2);
    sim.samples(0, &[A, B], clean(), 10);
    sim.advance(30_000);
    sim.take();
    sim.samples(31_000, &[B], lossy(10.0), 3);
    sim.answer(31_500, A, 1, true);
    assert_eq!(
        sim.take(),
        vec![to_each(31_000, &[A, B], directive(Tier::Degraded, WEAKEST))]
    );
    let stats = sim.judge.stats();
    assert_eq!((stats.cancelled, stats.stale_answers), (1, 1));
}

#[test]
fn a_joiner_into_a_degraded_room_is_told_the_room_tier() {
    let mut sim = Sim::room(config(), 2);
    sim.samples(1_000, &[A], lossy(10.0), 3);
    sim.take();
    sim.join(5_000, ROOM, C);
    sim.join(5_000, "other", 5);
    assert_eq!(
        sim.take(),
        vec![(
            5_000,
            order(
                ROOM,
                &[(C, directive(Tier::Degraded, DirectiveReason::RoomTier))]
            )
        )],
        "nothing for a joiner at the baseline"
    );
    assert_eq!(sim.judge.directed(p(C)), Some(Tier::Degraded));
}

#[test]
fn a_joiner_into_a_room_above_the_baseline_brings_it_to_the_baseline() {
    let mut sim = Sim::room(config(), 2);
    sim.samples(0, &[A, B], clean(), 10);
    sim.advance(30_000);
    sim.accept_all(30_000, &[A, B], 1);
    sim.take();
    // Nothing is known of the joiner's link yet: safety first, one order for all three.
    sim.join(40_000, ROOM, C);
    assert_eq!(
        sim.take(),
        vec![to_each(40_000, &[A, B, C], directive(Tier::Good, WEAKEST))]
    );
}

#[test]
fn events_for_unknown_participants_are_ignored() {
    let mut sim = Sim::room(config(), 2);
    sim.samples(1_000, &[9], lossy(50.0), 3);
    sim.answer(1_000, 9, 1, true);
    sim.capability(1_000, 9, Tier::Catastrophic);
    sim.leave(1_000, 9);
    assert_eq!(sim.take(), vec![]);
    assert_eq!(
        sim.judge.stats(),
        JudgeStats {
            rooms: 1,
            participants: 2,
            ..JudgeStats::default()
        }
    );
    assert_eq!(sim.judge.directed(p(9)), None);
}

#[test]
fn empty_rooms_are_forgotten_and_stop_the_clock() {
    let mut sim = Sim::room(config(), 2);
    assert_eq!(sim.judge.poll_timeout(), Some(sim.at(1_000)));
    sim.leave(500, A);
    sim.leave(600, B);
    assert_eq!(sim.judge.room_tier(ROOM), None);
    assert_eq!(sim.judge.poll_timeout(), None);
    assert_eq!(sim.judge.stats(), JudgeStats::default());
}

// ---- per-sender policy ----------------------------------------------------------------

#[test]
fn per_sender_a_bad_uplink_lowers_only_its_sender() {
    let mut sim = Sim::room(per_sender(), 4);
    sim.samples(1_000, &[C], lossy(10.0), 3);
    let down = directive(Tier::Degraded, DirectiveReason::WeakestReceiver);
    assert_eq!(sim.take(), vec![(1_000, order(ROOM, &[(C, down)]))]);
    for who in [A, B, D] {
        assert_eq!(sim.judge.directed(p(who)), Some(Tier::Good));
    }
    assert_eq!(sim.judge.room_tier(ROOM), Some(Tier::Degraded));
}

#[test]
fn per_sender_a_bad_downlink_lowers_those_who_send_to_it() {
    let mut sim = Sim::room(per_sender(), 4);
    sim.samples(1_000, &[D], path(100, 10, 20), 3);
    let down = directive(Tier::Degraded, DirectiveReason::WeakestReceiver);
    assert_eq!(sim.take(), vec![to_each(1_000, &[A, B, C], down)]);
    assert_eq!(sim.judge.directed(p(D)), Some(Tier::Good));
}

// ---- switches and counters ------------------------------------------------------------

#[test]
fn a_disabled_judge_emits_nothing() {
    let cfg = JudgeConfig {
        enabled: false,
        ..config()
    };
    let mut sim = Sim::room(cfg, 2);
    sim.samples(1_000, &[A], lossy(20.0), 3);
    sim.capability(1_000, B, Tier::Catastrophic);
    sim.join(2_000, ROOM, C);
    sim.leave(3_000, C);
    sim.judge.handle_timeout(sim.at(60_000));
    assert_eq!(sim.take(), vec![]);
    assert_eq!(sim.judge.poll_timeout(), None);
    assert_eq!(sim.judge.room_tier(ROOM), Some(Tier::Good));
    let stats = sim.judge.stats();
    assert_eq!((stats.participants, stats.directives), (2, 0));
}

#[test]
fn stats_count_what_happened() {
    let mut sim = Sim::room(config(), 4);
    sim.join(0, "other", 5);
    sim.samples(1_000, &[D], lossy(10.0), 3);
    sim.capability(1_500, 5, Tier::Studio48k);
    let stats = sim.judge.stats();
    assert_eq!(
        stats,
        JudgeStats {
            rooms: 2,
            participants: 5,
            rooms_below_baseline: 1,
            directives: 4,
            capabilities: 1,
            ..JudgeStats::default()
        }
    );
    sim.leave(40_000, D);
    sim.answer(41_000, A, 1, false);
    sim.answer(41_000, B, 1, true);
    sim.advance(71_000);
    sim.accept_all(72_000, &[A, B, C], 2);
    assert_eq!(
        sim.take().len(),
        4,
        "downgrade, proposal, proposal, confirm"
    );
    assert_eq!(
        sim.judge.stats(),
        JudgeStats {
            rooms: 2,
            participants: 4,
            rooms_below_baseline: 0,
            directives: 4,
            proposals: 2,
            confirms: 1,
            rejected: 1,
            stale_answers: 1,
            capabilities: 1,
            ..JudgeStats::default()
        }
    );
}

#[test]
fn config_reads_from_toml_with_every_key_optional() {
    let parsed: JudgeConfig =
        toml::from_str("policy = \"per-sender\"\nceiling = \"studio48k\"\nretry_after_ms = 60000")
            .unwrap();
    assert_eq!(
        parsed,
        JudgeConfig {
            policy: RoomPolicy::PerSender,
            ceiling: Tier::Studio48k,
            retry_after_ms: 60_000,
            ..config()
        }
    );
    let written = toml::to_string(&config()).unwrap();
    assert!(written.contains("policy = \"weakest-link\""), "{written}");
    assert_eq!(toml::from_str::<JudgeConfig>(&written).unwrap(), config());
    assert!(toml::from_str::<JudgeConfig>("stable_window = 3").is_err());
}
