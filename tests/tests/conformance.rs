//! Conformance against legitimate and abusive senders, in memory: every legitimate profile the
//! load generator has (speech with silences and trailers, synthetic video, simulcast, a real
//! H.264 file), over clean and impaired paths, through a 2-shard relay's endpoints with every
//! tier enforcing (A-E and the scorers). A legitimate sender must never trip a tier: every
//! counter stays 0 and every datagram its path delivered arrives. An abusive one is hung up
//! (Tier G) and cannot come back through the other shard during its cool-down.

switchyard_testclock::install_virtual_clock!();

use std::sync::Arc;
use std::time::Duration;
use switchyard_bench::impair::Impairment;
use switchyard_bench::media::Profile;
use switchyard_bench::run::{PathPlan, RunConfig};
use switchyard_controlplane::judge::JudgeConfig;
use switchyard_engine::conformance::{ConformanceConfig, Mode};
use switchyard_proto::control::{BanKind, ShardEvent, ShardId};
use switchyard_proto::signal::{HangupReason, ViolationCode};
use switchyard_proto::Tier;
use switchyard_tests::sim::{Outcome, RELAY};

const LIMIT: Duration = Duration::from_secs(120);

fn legitimate(profile: Profile, rooms: u32, participants: u32, seed: u64) -> RunConfig {
    let mut c = RunConfig::new(RELAY, rooms, participants, profile, Duration::from_secs(6));
    c.seed = seed;
    c.drain = Duration::from_secs(2);
    c.join_timeout = Duration::from_secs(30);
    c
}

fn enforcing() -> ConformanceConfig {
    ConformanceConfig {
        modes: [Mode::Enforce; 5],
        scorers: Mode::Enforce,
        ..ConformanceConfig::default()
    }
}

fn assert_clean(outcome: &Outcome, what: &str) {
    for r in &outcome.results {
        assert!(r.joined, "{what}: participant {} did not join", r.index);
        assert!(r.sent > 0, "{what}: participant {} sent nothing", r.index);
    }
    for (shard, c) in outcome.counters.iter().enumerate() {
        assert_eq!(
            (c.conformance_violations_total(), c.conformance_dropped),
            (0, 0),
            "{what}, shard {shard}: {:?}",
            c.conformance_violations
        );
    }
    for c in &outcome.counters {
        assert_eq!(
            (c.conformance_suspect, c.conformance_abusive),
            (0, 0),
            "{what}"
        );
    }
    let mut scores = [0u64; 10];
    for c in &outcome.counters {
        for (total, n) in scores.iter_mut().zip(c.conformance_scores) {
            *total += n;
        }
    }
    // Tier F: every score is 0.7 or more (the default Suspect line is 0.65).
    assert!(scores.iter().sum::<u64>() > 0, "{what}: scored");
    assert_eq!(
        scores[..7].iter().sum::<u64>(),
        0,
        "{what}: scores by tenth {scores:?}"
    );
    let metered: u64 = outcome.counters.iter().map(|c| c.media_datagrams_in).sum();
    assert!(
        metered > 100,
        "{what}: media went through the meters: {metered}"
    );
}

fn run(config: RunConfig) -> Outcome {
    switchyard_tests::sim::Sim::with_conformance(2, config, enforcing()).run(LIMIT)
}

#[test]
fn speech_with_silences_and_trailers_never_trips_a_tier_even_over_a_bad_path() {
    let mut c = legitimate(Profile::Audio, 3, 3, 31);
    let bad = Impairment {
        loss: 0.05,
        delay: Duration::from_millis(40),
        jitter: Duration::from_millis(20),
        reorder: 0.01,
        duplicate: 0.005,
        ..Impairment::none()
    };
    c.paths = PathPlan {
        uplink: bad,
        downlink: bad,
        slot: Some(0),
        ..PathPlan::default()
    };
    let outcome = run(c);
    // Tier F (in assert_clean): every participant scored once a second, all of them 0.7 and
    // up, the impaired ones included.
    assert_clean(&outcome, "audio");
    let scored: u64 = outcome
        .counters
        .iter()
        .flat_map(|c| c.conformance_scores)
        .sum();
    assert!(scored >= 9 * 4, "scored: {scored}");
}

#[test]
fn speech_at_each_of_the_six_quality_profiles_never_trips_a_tier() {
    // Room r's senders encode at the r-th tier (Catastrophic, Codec2 1200 at 40 ms, to
    // Studio64k, Opus 64k), with the judge off so they stay there; one sender per room has a
    // lossy, jittery path.
    let mut c = legitimate(Profile::Audio, 6, 3, 41);
    c.duration = Duration::from_secs(10);
    let bad = Impairment {
        loss: 0.05,
        jitter: Duration::from_millis(20),
        ..Impairment::none()
    };
    c.paths = PathPlan {
        uplink: bad,
        downlink: bad,
        slot: Some(0),
        ..PathPlan::default()
    };
    c.tweak = Some(Arc::new(|index, plan| {
        plan.initial_tier = Tier::ALL.get((index / 3) as usize).copied();
    }));
    let judge_off = JudgeConfig {
        enabled: false,
        ..JudgeConfig::default()
    };
    let outcome =
        switchyard_tests::sim::Sim::with_judge_and_conformance(2, c, judge_off, enforcing())
            .run(LIMIT);
    assert_clean(&outcome, "six profiles");
    // Every codec of the ladder was metered: each room's speech codec has packets forwarded,
    // and none of them failed a tier (assert_clean).
    for tier in Tier::ALL {
        let codec = tier.profile().codec;
        let room = tier.index() as u32;
        let sent: u64 = outcome
            .results
            .iter()
            .filter(|r| r.room == room)
            .map(|r| r.sent)
            .sum();
        assert!(sent > 3 * 200, "{tier:?} ({codec:?}): {sent}");
    }
}

#[test]
fn synthetic_video_and_simulcast_never_trip_a_tier() {
    assert_clean(&run(legitimate(Profile::Video, 2, 3, 5)), "video");
    assert_clean(&run(legitimate(Profile::Simulcast, 1, 3, 6)), "simulcast");
}

#[test]
fn a_real_h264_stream_never_trips_a_tier() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../bench/fixtures/testsrc-640x360-30fps-gop60.h264"
    );
    let units = switchyard_bench::annexb::load(std::path::Path::new(path)).expect("the fixture");
    let mut c = legitimate(Profile::H264, 1, 3, 8);
    c.h264 = Some(Arc::clone(&units));
    assert_clean(&run(c), "h264");
}

/// Datagrams `receiver` got from `sender` (the sender's index is in every payload).
fn received_from(outcome: &Outcome, receiver: usize, sender: u32) -> usize {
    outcome.results[receiver]
        .recv_log
        .iter()
        .filter(|d| switchyard_bench::media::inspect(d).is_some_and(|r| r.sender == sender))
        .count()
}

/// The shard that owns `room` in a 2-shard relay.
fn owner(room: &str) -> ShardId {
    switchyard_engine::steering::owner_of(room, 2)
}

#[test]
fn a_tunnel_is_hung_up_at_once_refused_through_the_other_shard_and_no_one_else_loses_a_datagram() {
    let mut c = legitimate(Profile::Audio, 3, 3, 12);
    let abuser_room = c.room_name(0);
    // The abuser comes back 3 s in, with its identity, to a room owned by the other shard.
    let elsewhere = switchyard_tests::tunnel_and_comeback(&mut c, Duration::from_secs(3));
    let outcome = run(c);
    let tunnel = &outcome.results[0];
    // Tier D fails its first 1,184 B payload: dropped, and the sender hung up with the typed
    // Hangup; not one of its datagrams reached anyone.
    assert_eq!(
        tunnel.hangup,
        Some(HangupReason::PolicyViolation {
            code: ViolationCode::PayloadSize,
            reason: "Tier G enforcement: PayloadSize".into(),
        })
    );
    for receiver in [1, 2] {
        assert_eq!(
            received_from(&outcome, receiver, 0),
            0,
            "receiver {receiver}"
        );
    }
    let shard_of = |s: ShardId| &outcome.counters[s.index()];
    let home = shard_of(owner(&abuser_room));
    assert_eq!(
        home.conformance_dropped, 1,
        "one datagram dropped, then gone"
    );
    assert_eq!(
        home.conformance_hangups[ViolationCode::PayloadSize.index()],
        1
    );
    let violation_at = outcome
        .events
        .iter()
        .find_map(|(shard, at, e)| {
            matches!(e, ShardEvent::Violation { .. }).then_some((*shard, *at))
        })
        .expect("a Violation event");
    assert_eq!(violation_at.0, owner(&abuser_room));
    // The block list made it a cool-down and sent it to both shards.
    assert_eq!(outcome.bans.len(), 1);
    let (_, ban) = &outcome.bans[0];
    assert_eq!(
        (ban.fingerprint.as_str(), ban.kind),
        (tunnel.fingerprint.as_str(), BanKind::Cooldown)
    );
    assert_eq!(outcome.warden.cooling_down, 1);

    // Its comeback through the other shard is refused with the typed Hangup.
    let comeback = &outcome.results[8];
    assert_eq!(comeback.fingerprint, tunnel.fingerprint);
    assert!(!comeback.media_started);
    assert_eq!(
        comeback.hangup,
        Some(HangupReason::PolicyViolation {
            code: ViolationCode::PayloadSize,
            reason: "cooling down after a policy violation".into(),
        })
    );
    assert_eq!(shard_of(owner(&elsewhere)).joins_refused_banned, 1);
    assert_eq!(shard_of(owner(&abuser_room)).joins_refused_banned, 0);

    // Everyone else, in the tunnel's room and the others, got every datagram of every other
    // legitimate sender, and nobody else was flagged.
    for receiver in 1..8usize {
        assert_eq!(outcome.results[receiver].hangup, None, "{receiver}");
        for sender in 1..8u32 {
            let same_room = (receiver / 3) as u32 == sender / 3;
            if sender as usize == receiver || !same_room {
                continue;
            }
            assert_eq!(
                received_from(&outcome, receiver, sender) as u64,
                outcome.results[sender as usize].sent,
                "receiver {receiver} from sender {sender}"
            );
        }
    }
    let hangups: u64 = outcome
        .counters
        .iter()
        .map(|c| c.conformance_hangups.iter().sum::<u64>())
        .sum();
    assert_eq!(hangups, 1);
}
