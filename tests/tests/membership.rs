//! Join and leave produce RoomUpdate to the right participants with the right counts.

use std::sync::Arc;
use std::time::Duration;
use switchyard_tests::{counters, load, relay_options, run_load, start};

#[test]
fn joins_and_a_leave_are_announced_to_the_room_only() {
    let mut relay = start(relay_options("membership"));
    // Room 0: p0 at 0 ms, p1 at 400 ms, p2 at 800 ms; p2 leaves 400 ms after joining.
    // Room 1 (p3, p4, p5): only p3 joins, to show room 0's changes never reach it.
    let mut config = load(&relay, 2, 3, Duration::from_secs(2));
    config.tweak = Some(Arc::new(|index, plan| {
        plan.wait_for_all = false;
        match index {
            0 => {}
            1 => plan.join_delay = Duration::from_millis(400),
            2 => {
                plan.join_delay = Duration::from_millis(800);
                plan.leave_after = Some(Duration::from_millis(400));
            }
            3 => {}
            _ => plan.client.room = format!("absent-{index}"),
        }
    }));
    let results = run_load(&config);
    for r in &results[..4] {
        assert!(r.joined, "participant {} did not join", r.index);
    }
    let updates = |i: usize| results[i].room_updates.clone();
    assert_eq!(
        updates(0)[..4],
        [1, 2, 3, 2],
        "p0 sees itself, p1, p2 join, p2 leave"
    );
    assert_eq!(
        updates(1)[..3],
        [2, 3, 2],
        "p1 sees itself join, p2 join, p2 leave"
    );
    assert_eq!(
        updates(2),
        vec![3],
        "p2 sees its own join and nothing after it left"
    );
    assert_eq!(updates(3), vec![1], "room 1 hears nothing of room 0");

    let snap = counters(&mut relay);
    assert!(snap.joins >= 6, "six joins in all: {}", snap.joins);
    assert!(snap.total.connections_closed >= 1);
    relay.stop();
}
