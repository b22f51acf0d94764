//! Conformance Tiers A-E against legitimate senders, in memory: every profile the load
//! generator has (speech with silences and trailers, synthetic video, simulcast, a real H.264
//! file), over clean and impaired paths, through a 2-shard relay's endpoints with every tier
//! enforcing. A legitimate sender must never trip a tier: every counter stays 0 and every
//! datagram its path delivered arrives.

switchyard_testclock::install_virtual_clock!();

use std::sync::Arc;
use std::time::Duration;
use switchyard_bench::impair::Impairment;
use switchyard_bench::media::Profile;
use switchyard_bench::run::{PathPlan, RunConfig};
use switchyard_engine::conformance::{ConformanceConfig, Mode};
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
    assert_clean(&outcome, "audio");
    // Tier F: every participant scored once a second, all of them legitimate (0.7 and up),
    // the impaired ones included.
    let mut scores = [0u64; 10];
    for c in &outcome.counters {
        for (total, n) in scores.iter_mut().zip(c.conformance_scores) {
            *total += n;
        }
    }
    assert!(scores.iter().sum::<u64>() >= 9 * 4, "scored: {scores:?}");
    assert_eq!(
        scores[..7].iter().sum::<u64>(),
        0,
        "scores by tenth: {scores:?}"
    );
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

#[test]
fn an_enforcing_relay_stops_a_tunnel_and_everyone_else_keeps_every_datagram() {
    let mut c = legitimate(Profile::Audio, 2, 3, 12);
    c.tweak = Some(Arc::new(|index, plan| {
        plan.record = true;
        if index == 0 {
            plan.profile = Profile::Tunnel;
        }
    }));
    let outcome = run(c);
    let tunnel = &outcome.results[0];
    assert!(tunnel.sent > 2_000, "the tunnel sent {}", tunnel.sent);
    // Its 1,184 B payloads fail Tier D from the first packet (and Tier A from the ninth of
    // every second): not one of its datagrams reaches anyone.
    for receiver in [1, 2] {
        assert_eq!(
            received_from(&outcome, receiver, 0),
            0,
            "receiver {receiver}"
        );
    }
    let dropped: u64 = outcome.counters.iter().map(|c| c.conformance_dropped).sum();
    assert_eq!(
        dropped, tunnel.sent,
        "every tunnel datagram was dropped, and counted"
    );
    let violations: u64 = outcome
        .counters
        .iter()
        .map(|c| c.conformance_violations_total())
        .sum();
    assert!(
        violations >= dropped,
        "{violations} violations for {dropped} drops"
    );
    // Everyone else, in the tunnel's room and the other, got every datagram of every other
    // legitimate sender.
    for receiver in 1..6usize {
        for sender in 1..6u32 {
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
}
