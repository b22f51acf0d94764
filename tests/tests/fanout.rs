//! Fan-out: 3 rooms x 3 participants on a 2-shard relay. Every participant receives every
//! other participant's datagrams byte-identical, never its own, never another room's.

use std::collections::BTreeSet;
use std::time::Duration;
use switchyard_tests::{counters, load, relay_options, run_load, start};

#[test]
fn three_rooms_of_three_get_exactly_each_others_datagrams() {
    let mut relay = start(relay_options("fanout"));
    let mut config = load(&relay, 3, 3, Duration::from_secs(2));
    config.tweak = Some(std::sync::Arc::new(|_, plan| plan.record = true));
    let results = run_load(&config);

    assert_eq!(results.len(), 9);
    for r in &results {
        assert!(
            r.joined,
            "participant {} did not join: {:?} {:?}",
            r.index, r.error, r.peer_error
        );
        assert!(r.sent >= 90, "participant {} sent only {}", r.index, r.sent);
        assert_eq!(r.send_failures, 0);
    }
    for r in &results {
        let expected: BTreeSet<Vec<u8>> = results
            .iter()
            .filter(|o| o.room == r.room && o.index != r.index)
            .flat_map(|o| o.sent_log.iter().cloned())
            .collect();
        let received: BTreeSet<Vec<u8>> = r.recv_log.iter().cloned().collect();
        assert_eq!(
            r.recv_log.len(),
            received.len(),
            "participant {} got duplicates",
            r.index
        );
        assert_eq!(
            received.len(),
            expected.len(),
            "participant {}: wrong number of datagrams",
            r.index
        );
        assert!(
            received == expected,
            "participant {} received bytes that no room peer sent",
            r.index
        );
        assert_eq!(r.stats.own_echo, 0);
        assert_eq!(r.stats.misrouted, 0);
        assert_eq!(r.stats.corrupted, 0);
        assert_eq!(r.stats.delivered, expected.len() as u64);
    }

    let snap = counters(&mut relay);
    let sent: u64 = results.iter().map(|r| r.sent).sum();
    assert_eq!(snap.total.media_datagrams_in, sent);
    assert_eq!(
        snap.total.media_datagrams_forwarded,
        2 * sent,
        "each datagram to the 2 other members"
    );
    assert_eq!(snap.total.media_dropped_total(), 0);
    assert_eq!(snap.total.forward_queue_full, 0);
    relay.stop();
}
