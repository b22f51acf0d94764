//! A NAT rebinding over loopback: mid-call, a participant's source port changes (the load
//! generator swaps its socket while the client keeps believing its old address). Its packets
//! still carry the relay's connection ID, so the kernel steers them to the room's owner
//! shard, and the relay answers the new address: nobody reconnects, rejoins or misses more
//! than what was in flight to the old port.

use std::time::Duration;
use switchyard_bench::run::PathPlan;
use switchyard_tests::{counters, load, relay_options, run_load, start};

#[test]
fn a_participant_whose_port_changes_mid_call_stays_in_its_room() {
    let mut relay = start(relay_options("rebinding"));
    let mut config = load(&relay, 2, 3, Duration::from_secs(3));
    config.paths = PathPlan {
        slot: Some(0),
        rebind_after: Some(Duration::from_millis(1500)),
        ..PathPlan::default()
    };
    let results = run_load(&config);
    for r in &results {
        assert!(
            r.joined,
            "participant {} did not join: {:?}",
            r.index, r.error
        );
        assert_eq!(r.impaired, r.index % 3 == 0);
        let s = &r.stats;
        assert_eq!(
            (s.duplicates, s.misrouted, s.own_echo, s.corrupted),
            (0, 0, 0, 0),
            "participant {}",
            r.index
        );
        let expected: u64 = results
            .iter()
            .filter(|o| o.room == r.room && o.index != r.index)
            .map(|o| o.sent)
            .sum();
        if r.impaired {
            // Only what the relay sent to the old port before it heard the new one.
            assert!(
                s.delivered + 10 >= expected && s.delivered <= expected,
                "participant {} got {} of {expected}",
                r.index,
                s.delivered
            );
        } else {
            assert_eq!(s.delivered, expected, "participant {} lost media", r.index);
        }
    }
    let snap = counters(&mut relay);
    let t = &snap.total;
    assert_eq!(t.connections_accepted, 6, "nobody reconnected");
    assert_eq!(t.handshakes_completed, 6);
    assert_eq!(snap.joins, 6, "nobody joined twice");
    assert_eq!(
        t.packets_passed_on, 0,
        "the kernel kept steering to the owner"
    );
    relay.stop();
}
