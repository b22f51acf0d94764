//! Relay-judged quality end to end, in memory: the load generator's participants (which report
//! their path in the QualityReport trailer, follow directives and answer proposals), a 2-shard
//! relay's endpoints (samples out, orders in) and the control plane's judge, all through the
//! seeded impairment model in virtual time.

switchyard_testclock::install_virtual_clock!();

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;
use switchyard_bench::impair::Impairment;
use switchyard_bench::media::Profile;
use switchyard_bench::participant::ParticipantResult;
use switchyard_bench::quality::{QualityKind, UpgradeAnswer};
use switchyard_bench::run::{PathPlan, RunConfig};
use switchyard_controlplane::judge::JudgeConfig;
use switchyard_proto::control::{ShardEvent, ShardId};
use switchyard_proto::Tier;
use switchyard_tests::sim::{Sim, RELAY};

const LIMIT: Duration = Duration::from_secs(120);
const SECOND: Duration = Duration::from_secs(1);

/// `rooms` x 4 audio participants for `media` of media. Participant 3 (room 0, slot 3) loses
/// 10 % of its packets each way from 5 s after it joined, and hangs up 14 s after joining.
fn one_lossy_participant(rooms: u32, media: Duration, seed: u64) -> RunConfig {
    let mut c = RunConfig::new(RELAY, rooms, 4, Profile::Audio, media);
    c.seed = seed;
    c.drain = Duration::from_secs(2);
    c.join_timeout = Duration::from_secs(30);
    let lossy = Impairment {
        loss: 0.10,
        ..Impairment::none()
    };
    c.paths = PathPlan {
        uplink: lossy,
        downlink: lossy,
        rooms: vec![0],
        slot: Some(3),
        impair_after: Some(5 * SECOND),
        ..PathPlan::default()
    };
    c.tweak = Some(Arc::new(|index, plan| {
        if index == 3 {
            plan.leave_after = Some(14 * SECOND);
        }
    }));
    c
}

/// When `r` first received a directive to `tier`.
fn first_directive(r: &ParticipantResult, tier: Tier) -> Option<Duration> {
    r.quality
        .iter()
        .find(|q| q.kind == QualityKind::Directive && q.tier == tier)
        .map(|q| q.at)
}

#[test]
fn a_lossy_participant_degrades_its_room_within_5_s_and_its_leaving_brings_the_room_back_to_good() {
    let outcome = Sim::new(2, one_lossy_participant(4, 20 * SECOND, 7)).run(LIMIT);
    for r in &outcome.results {
        assert!(
            r.joined,
            "participant {} did not join: {:?}",
            r.index, r.error
        );
    }
    let shards: BTreeSet<ShardId> = outcome
        .events
        .iter()
        .filter(|(_, _, e)| matches!(e, ShardEvent::Joined { .. }))
        .map(|(shard, _, _)| *shard)
        .collect();
    assert_eq!(shards.len(), 2, "the rooms are spread over both shards");

    // Every connection of room 0, the lossy one's included, is told Degraded within 5 s.
    let onset = outcome.results[3]
        .impairment_onset
        .expect("participant 3's path is impaired");
    for r in &outcome.results[..4] {
        let at = first_directive(r, Tier::Degraded)
            .unwrap_or_else(|| panic!("participant {} got no Degraded: {:?}", r.index, r.quality));
        assert!(
            at > onset && at - onset <= 5 * SECOND,
            "participant {}: Degraded {:?} after the onset",
            r.index,
            at.checked_sub(onset)
        );
        assert_eq!(
            r.tier_switches.first().map(|s| s.1),
            Some(Tier::Degraded),
            "participant {} switched its encoder",
            r.index
        );
    }

    // The lossy participant hangs up; the other three get a proposal back to Good at once,
    // accept it, and are confirmed.
    for r in &outcome.results[..3] {
        let after_degraded: Vec<(QualityKind, Tier)> = r
            .quality
            .iter()
            .skip_while(|q| q.tier != Tier::Degraded)
            .skip(1)
            .map(|q| (q.kind, q.tier))
            .collect();
        assert_eq!(
            after_degraded,
            vec![
                (QualityKind::Proposal, Tier::Good),
                (QualityKind::Confirm, Tier::Good)
            ],
            "participant {}",
            r.index
        );
        assert_eq!(r.answers_sent, 1);
        assert_eq!(r.tier_switches.last().map(|s| s.1), Some(Tier::Good));
        let proposal = r.quality.iter().find(|q| q.kind == QualityKind::Proposal);
        let degraded = first_directive(r, Tier::Degraded).unwrap_or_default();
        assert!(
            proposal.is_some_and(|p| p.at > degraded),
            "the proposal follows the downgrade"
        );
    }

    // No other room hears anything about quality.
    for r in &outcome.results[4..] {
        assert!(
            r.quality.is_empty() && r.tier_switches.is_empty(),
            "participant {} (room {}) got {:?}",
            r.index,
            r.room,
            r.quality
        );
    }
    assert!(outcome.orders.iter().all(|(_, o)| o.room == "room-0"));
    let judge = &outcome.judge;
    assert_eq!(
        (judge.directives, judge.proposals, judge.confirms),
        (4, 1, 1),
        "{judge:?}"
    );
    let samples: u64 = outcome.counters.iter().map(|c| c.quality_samples).sum();
    let reports: u64 = outcome.counters.iter().map(|c| c.quality_reports_in).sum();
    assert!(
        samples > 16 * 15,
        "one sample per participant per second: {samples}"
    );
    assert!(
        reports > 16 * 10,
        "the clients' trailers reached the relay: {reports}"
    );
    for c in &outcome.counters {
        assert_eq!((c.quality_samples_dropped, c.quality_signals_stale), (0, 0));
        assert_eq!(
            c.conformance_violations_total(),
            0,
            "legitimate senders switching tiers: {:?}",
            c.conformance_violations
        );
    }
}

#[test]
fn clients_that_never_answer_are_brought_back_to_good_by_directive() {
    let mut c = one_lossy_participant(2, 40 * SECOND, 11);
    c.upgrade_answer = UpgradeAnswer::Ignore;
    let judge = JudgeConfig {
        retry_after_ms: 5_000,
        ceiling: Tier::Good,
        ..JudgeConfig::default()
    };
    let outcome = Sim::with_judge(2, c, judge).run(LIMIT);
    for r in &outcome.results[..3] {
        let kinds: Vec<(QualityKind, Tier)> = r.quality.iter().map(|q| (q.kind, q.tier)).collect();
        assert_eq!(
            kinds,
            vec![
                (QualityKind::Directive, Tier::Degraded),
                (QualityKind::Proposal, Tier::Good),
                (QualityKind::Proposal, Tier::Good),
                (QualityKind::Directive, Tier::Good),
            ],
            "participant {}: two proposals left unanswered, then told by directive",
            r.index
        );
        assert_eq!(r.answers_sent, 0);
        let last = r.quality.last().expect("a last message");
        assert_eq!(last.reason.as_deref(), Some("coordinated upgrade: Good"));
        assert_eq!(r.tier_switches.last().map(|s| s.1), Some(Tier::Good));
    }
    assert!(outcome.results[4..].iter().all(|r| r.quality.is_empty()));
    let judge = &outcome.judge;
    assert_eq!(
        (judge.proposals, judge.timed_out, judge.confirms),
        (2, 2, 0)
    );
}
