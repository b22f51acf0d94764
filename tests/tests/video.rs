//! Video SFU features end to end, on a 2-shard relay with real QUIC clients: a late joiner
//! gets each publisher's cached keyframe before any live packet of that stream; a departed
//! publisher's keyframe is never replayed; a PictureLossIndication reaches only the owner of
//! the stream, and requests within the dedup window collapse into one.

use std::sync::Arc;
use std::time::Duration;
use switchyard_bench::media::{inspect, Profile, Received};
use switchyard_bench::run::ParticipantResult;
use switchyard_tests::{counters, load, relay_options, run_load, start};

fn from(log: &[Vec<u8>], sender: u32) -> Vec<(Received, &Vec<u8>)> {
    log.iter()
        .filter_map(|d| inspect(d).map(|r| (r, d)))
        .filter(|(r, _)| r.sender == sender)
        .collect()
}

/// The first datagrams `joiner` got from `publisher` are one whole keyframe, byte-identical
/// and in the publisher's order; the next one is a live packet that follows it. Returns the
/// keyframe's packet count.
fn assert_replayed_first(joiner: &ParticipantResult, publisher: &ParticipantResult) -> usize {
    let got = from(&joiner.recv_log, publisher.index);
    let (first, _) = got.first().expect("something arrived from the publisher");
    assert!(
        first.header.flags.is_keyframe(),
        "publisher {}: the first packet is a keyframe packet",
        publisher.index
    );
    let (_, count) = first.part.expect("video packets carry their place");
    let count = usize::from(count);
    assert_eq!(
        first.part,
        Some((0, count as u16)),
        "the keyframe starts at part 0"
    );
    let replay: Vec<&Vec<u8>> = got.iter().take(count).map(|(_, d)| *d).collect();
    let at = publisher
        .sent_log
        .iter()
        .position(|d| d == replay[0])
        .expect("the replayed bytes are bytes the publisher sent");
    let sent: Vec<&Vec<u8>> = publisher.sent_log[at..at + count].iter().collect();
    assert_eq!(replay, sent, "byte-identical, in the sender's order");
    let last = inspect(replay[count - 1]).unwrap();
    assert!(last.header.flags.is_frame_end() && last.header.flags.is_keyframe());
    if let Some((live, _)) = got.get(count) {
        assert!(
            live.seq > last.seq,
            "publisher {}: live media follows the replayed keyframe",
            publisher.index
        );
    }
    count
}

#[test]
fn mid_gop_joiner_gets_every_cached_keyframe_before_live_packets() {
    let mut relay = start(relay_options("video-late"));
    let mut config = load(&relay, 1, 4, Duration::from_secs(3));
    config.profile = Profile::Video;
    config.join_late = 1;
    // Keyframes leave at 0 s and 2 s of media: 1 s is mid-GOP.
    config.join_late_after = Duration::from_secs(1);
    config.tweak = Some(Arc::new(|_, plan| plan.record = true));
    let results = run_load(&config);
    let joiner = &results[3];
    assert!(joiner.late && joiner.joined, "{:?}", joiner.error);
    let mut replayed_packets = 0;
    for publisher in &results[..3] {
        assert!(publisher.joined && publisher.sent > 0);
        replayed_packets += assert_replayed_first(joiner, publisher);
    }
    assert_eq!(
        joiner.time_to_first_keyframe.len(),
        3,
        "a whole keyframe of every publisher"
    );
    assert!(joiner.stats.corrupted == 0 && joiner.stats.duplicates == 0);

    let snap = counters(&mut relay);
    assert_eq!(snap.total.keyframe_replays, 3);
    assert_eq!(snap.total.keyframe_replay_packets, replayed_packets as u64);
    assert_eq!(snap.total.keyframe_replay_dropped, 0);
    assert_eq!(
        snap.total.pli_forwarded, 0,
        "every stream had a keyframe cached"
    );
    assert!(snap.total.keyframes_cached >= 3);
    assert_eq!(
        snap.total.keyframe_cache_bytes, 0,
        "the closed room gave its bytes back"
    );
    relay.stop();
}

#[test]
fn a_departed_publisher_is_never_replayed() {
    let mut relay = start(relay_options("video-leave"));
    let mut config = load(&relay, 1, 3, Duration::from_secs(2));
    config.profile = Profile::Video;
    config.join_late = 1;
    config.join_late_after = Duration::from_millis(1500);
    config.tweak = Some(Arc::new(|i, plan| {
        plan.record = true;
        if i == 0 {
            plan.leave_after = Some(Duration::from_millis(700));
        }
    }));
    let results = run_load(&config);
    let (gone, stays, joiner) = (&results[0], &results[1], &results[2]);
    assert!(gone.sent > 0 && joiner.joined);
    assert!(
        from(&joiner.recv_log, gone.index).is_empty(),
        "nothing of the publisher that left"
    );
    assert_replayed_first(joiner, stays);
    let snap = counters(&mut relay);
    assert_eq!(
        snap.total.keyframe_replays, 1,
        "only the publisher still present"
    );
    assert_eq!(snap.total.keyframe_cache_bytes, 0);
    relay.stop();
}

#[test]
fn pli_reaches_only_the_owner_and_collapses_within_the_window() {
    let mut relay = start(relay_options("video-pli"));
    let mut config = load(&relay, 1, 3, Duration::from_secs(2));
    config.tweak = Some(Arc::new(|i, plan| match i {
        0 => plan.profile = Profile::Video,
        2 => {
            let ms = Duration::from_millis;
            // Two inside one 200 ms window, one after it, one for a stream nobody sends.
            plan.plis = vec![(ms(600), 0), (ms(650), 0), (ms(1100), 0), (ms(1150), 9)];
        }
        _ => {}
    }));
    let results = run_load(&config);
    for r in &results {
        assert!(r.joined, "participant {}: {:?}", r.index, r.error);
    }
    assert_eq!(
        results[0].plis_received,
        vec![0, 0],
        "owner: one per window"
    );
    assert!(
        results[1].plis_received.is_empty(),
        "audio on stream 0 is not the owner"
    );
    assert!(
        results[2].plis_received.is_empty(),
        "never back to the requester"
    );
    let snap = counters(&mut relay);
    assert_eq!(snap.total.pli_received, 4);
    assert_eq!(snap.total.pli_forwarded, 2);
    assert_eq!(snap.total.pli_suppressed, 1);
    assert_eq!(snap.total.pli_no_owner, 1);
    assert_eq!(snap.total.pli_flood_dropped, 0);
    relay.stop();
}
