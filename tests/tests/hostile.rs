//! Hostile input from a joined participant: 10,000 random and truncated datagrams are dropped
//! and counted while the room keeps forwarding; an oversized and a garbage signal frame close
//! their streams with an error, not the connection or anyone else's.

use std::sync::Arc;
use std::time::Duration;
use switchyard_proto::datagram::DropReason;
use switchyard_proto::framing::FrameError;
use switchyard_tests::{
    assert_everyone_got_everything, counters, load, relay_options, run_load, start,
};

#[test]
fn ten_thousand_bad_datagrams_are_dropped_and_counted_while_the_room_forwards() {
    let mut relay = start(relay_options("garbage"));
    let mut config = load(&relay, 1, 3, Duration::from_secs(4));
    config.tweak = Some(Arc::new(|index, plan| {
        if index == 0 {
            plan.garbage = 10_000;
        }
    }));
    let results = run_load(&config);
    assert_eq!(
        results[0].garbage_sent, 10_000,
        "the client queued every bad datagram"
    );
    assert_everyone_got_everything(&results);
    let snap = counters(&mut relay);
    let t = &snap.total;
    assert_eq!(t.media_dropped_total(), 10_000);
    let too_short = t.media_dropped[DropReason::TooShort.index()];
    assert!(
        too_short > 1_000,
        "truncated headers are counted as too short: {too_short}"
    );
    let sent: u64 = results.iter().map(|r| r.sent).sum();
    assert_eq!(t.media_datagrams_in, sent + 10_000);
    assert_eq!(t.media_datagrams_forwarded, 2 * sent);
    relay.stop();
}

#[test]
fn bad_signal_frames_reset_their_stream_and_nothing_else() {
    let mut relay = start(relay_options("badframes"));
    let mut config = load(&relay, 1, 3, Duration::from_secs(2));
    config.tweak = Some(Arc::new(|index, plan| {
        if index == 0 {
            plan.bad_signal_frames = true;
        }
    }));
    let results = run_load(&config);
    assert_everyone_got_everything(&results);
    for r in &results {
        assert!(
            r.hangup.is_none(),
            "participant {} was hung up: {:?}",
            r.index,
            r.hangup
        );
        if let Some((is_app, code, _)) = &r.peer_error {
            assert!(
                *is_app && *code == 0,
                "participant {} closed with an error",
                r.index
            );
        }
    }
    assert!(results[1].sent > 0 && results[0].sent > 0);
    let snap = counters(&mut relay);
    assert_eq!(
        snap.total.signal_frame_errors[FrameError::Oversized.index()],
        1
    );
    assert_eq!(
        snap.total.signal_frame_errors[FrameError::Malformed.index()],
        1
    );
    assert_eq!(snap.total.handshakes_completed, 3);
    relay.stop();
}
