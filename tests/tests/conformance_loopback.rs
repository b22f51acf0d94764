//! Tier G through a real 2-shard relay over loopback: the owner shard hangs a tunnel up, its
//! `Violation` event crosses the ring to the control plane's warden, the ban crosses back to
//! both shards, and the same identity coming back through the other shard is refused with
//! the typed Hangup. Everyone else keeps every datagram.

use std::time::Duration;
use switchyard_bench::media::inspect;
use switchyard_bench::run::ParticipantResult;
use switchyard_engine::conformance::{ConformanceConfig, Mode};
use switchyard_engine::steering::owner_of;
use switchyard_proto::signal::{HangupReason, ViolationCode};
use switchyard_tests::{counters, load, relay_options, run_load, start, tunnel_and_comeback};

fn received_from(results: &[ParticipantResult], receiver: usize, sender: u32) -> u64 {
    results[receiver]
        .recv_log
        .iter()
        .filter(|d| inspect(d).is_some_and(|r| r.sender == sender))
        .count() as u64
}

#[test]
fn a_tunnel_is_hung_up_and_refused_through_the_other_shard_over_real_sockets() {
    let mut options = relay_options("conformance");
    options.conformance = ConformanceConfig {
        modes: [Mode::Enforce; 5],
        scorers: Mode::Enforce,
        ..ConformanceConfig::default()
    };
    let mut relay = start(options);
    let mut config = load(&relay, 3, 3, Duration::from_secs(4));
    let home = owner_of(&config.room_name(0), 2);
    // Participant 0 tunnels; participant 8 is its identity coming back 2 s in, elsewhere.
    let elsewhere = tunnel_and_comeback(&mut config, Duration::from_secs(2));
    let results = run_load(&config);
    assert_eq!(
        results[0].hangup,
        Some(HangupReason::PolicyViolation {
            code: ViolationCode::PayloadSize,
            reason: "Tier G enforcement: PayloadSize".into(),
        })
    );
    assert_eq!(results[8].fingerprint, results[0].fingerprint);
    assert_eq!(
        results[8].hangup,
        Some(HangupReason::PolicyViolation {
            code: ViolationCode::PayloadSize,
            reason: "cooling down after a policy violation".into(),
        })
    );
    for receiver in [1, 2] {
        assert_eq!(received_from(&results, receiver, 0), 0);
    }
    // The tunnel's room mates got each other's every datagram, and so did the next room.
    let pairs = [
        (1, 2),
        (2, 1),
        (3, 4),
        (3, 5),
        (4, 3),
        (4, 5),
        (5, 3),
        (5, 4),
    ];
    for (receiver, sender) in pairs {
        assert!(results[receiver].hangup.is_none());
        assert_eq!(
            received_from(&results, receiver, sender),
            results[sender as usize].sent,
            "{receiver} from {sender}"
        );
        assert!(results[sender as usize].sent > 100);
    }
    let snap = counters(&mut relay);
    assert_eq!(snap.bans.violations, 1);
    assert_eq!(snap.bans.cooling_down, 1);
    assert_eq!(snap.ban_directives_dropped, 0);
    let other = owner_of(&elsewhere, 2);
    assert_eq!(snap.shards[other.index()].joins_refused_banned, 1);
    assert_eq!(snap.shards[home.index()].joins_refused_banned, 0);
    assert_eq!(
        snap.shards[home.index()].conformance_hangups[ViolationCode::PayloadSize.index()],
        1
    );
    assert_eq!(snap.total.conformance_violations_total(), 1);
    relay.stop();
}
