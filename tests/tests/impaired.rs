//! The relay under loss, delay, jitter and a NAT rebinding, in memory: the load generator's
//! participants and a 2-shard relay's endpoints through the seeded impairment model, in
//! virtual time (no sockets, no sleeping). Each test has a fixed seed and accounts for every
//! media datagram: a receiver gets exactly what its path did not drop.

switchyard_testclock::install_virtual_clock!();

use std::sync::Arc;
use std::time::Duration;
use switchyard_bench::impair::Impairment;
use switchyard_bench::media::{inspect, Profile};
use switchyard_bench::participant::ParticipantResult;
use switchyard_bench::run::{PathPlan, RunConfig};
use switchyard_proto::control::{ShardEvent, ShardId};
use switchyard_tests::accounting::{expected_deliveries, same_datagrams};
use switchyard_tests::sim::{Outcome, Sim, Trace, RELAY};

const LIMIT: Duration = Duration::from_secs(120);
const MS: Duration = Duration::from_millis(1);

fn config(
    rooms: u32,
    participants: u32,
    profile: Profile,
    media: Duration,
    seed: u64,
) -> RunConfig {
    let mut c = RunConfig::new(RELAY, rooms, participants, profile, media);
    c.seed = seed;
    // Long enough that every participant's media is in before the first one hangs up.
    c.drain = Duration::from_secs(3);
    c.join_timeout = Duration::from_secs(30);
    c.tweak = Some(Arc::new(|_, plan| plan.record = true));
    c
}

fn lossy(loss: f64, delay: Duration, jitter: Duration) -> Impairment {
    Impairment {
        loss,
        delay,
        jitter,
        ..Impairment::none()
    }
}

/// Every participant's path impaired the same way, both ways.
fn both_ways(path: Impairment) -> PathPlan {
    PathPlan {
        uplink: path,
        downlink: path,
        ..PathPlan::default()
    }
}

/// The other members of `sender`'s room.
fn room_peers(participants: u32) -> impl Fn(usize) -> Vec<usize> {
    let p = participants as usize;
    move |sender| {
        let room = sender / p;
        (room * p..(room + 1) * p)
            .filter(|r| *r != sender)
            .collect()
    }
}

fn assert_all_joined(results: &[ParticipantResult]) {
    for r in results {
        assert!(
            r.joined,
            "participant {} did not join: {:?} {:?} {:?}",
            r.index, r.error, r.peer_error, r.final_phase
        );
    }
}

/// Every receiver got exactly the datagrams its path delivered, once, intact, from its room.
fn assert_exact_delivery(outcome: &Outcome, participants: u32) -> Vec<Vec<Vec<u8>>> {
    let expected = expected_deliveries(outcome, room_peers(participants));
    for r in &outcome.results {
        let i = r.index as usize;
        assert!(
            same_datagrams(&r.recv_log, &expected[i]),
            "participant {i}: received {} datagrams, its paths delivered {}",
            r.recv_log.len(),
            expected[i].len()
        );
        let s = &r.stats;
        assert_eq!(
            (
                s.duplicates,
                s.misrouted,
                s.own_echo,
                s.corrupted,
                s.foreign
            ),
            (0, 0, 0, 0, 0),
            "participant {i} got datagrams it should not have"
        );
    }
    expected
}

#[test]
fn three_rooms_of_three_under_5_percent_loss_and_20_ms_jitter_get_what_their_paths_delivered() {
    let mut c = config(3, 3, Profile::Audio, Duration::from_secs(3), 11);
    c.paths = both_ways(lossy(0.05, 40 * MS, 20 * MS));
    let outcome = Sim::new(2, c).run(LIMIT);
    assert_all_joined(&outcome.results);
    let expected = assert_exact_delivery(&outcome, 3);

    let sent: usize = outcome.results.iter().map(|r| r.sent_log.len()).sum();
    let delivered: usize = expected.iter().map(Vec::len).sum();
    assert!(
        sent >= 9 * 140,
        "every participant sent 3 s of audio: {sent}"
    );
    // Each datagram crosses two lossy links on its way to each of 2 receivers.
    let ratio = delivered as f64 / (2 * sent) as f64;
    assert!(
        (0.85..0.95).contains(&ratio),
        "delivered {ratio:.3} of the copies"
    );
    let lost_up: u64 = outcome.links.iter().map(|(up, _)| up.lost).sum();
    let lost_down: u64 = outcome.links.iter().map(|(_, down)| down.lost).sum();
    assert!(
        lost_up > 50 && lost_down > 50,
        "the paths lost {lost_up} up, {lost_down} down"
    );
    for c in &outcome.counters {
        assert_eq!(c.forward_queue_full, 0);
        assert_eq!(c.media_dropped_total(), 0);
    }
}

#[test]
fn a_room_of_three_joins_under_20_percent_loss_each_way() {
    let mut c = config(1, 3, Profile::Audio, Duration::from_secs(2), 23);
    c.paths = both_ways(lossy(0.20, 25 * MS, Duration::ZERO));
    let outcome = Sim::new(2, c).run(LIMIT);
    assert_all_joined(&outcome.results);
    for r in &outcome.results {
        assert!(
            !r.bad_answer,
            "participant {}: the CallAnswer verifies",
            r.index
        );
        assert!(
            r.room_updates.contains(&3),
            "participant {} saw the whole room: {:?}",
            r.index,
            r.room_updates
        );
        assert!(r.stats.delivered > 0, "participant {} got media", r.index);
        let (up, down) = (r.uplink, r.downlink);
        assert!(
            up.lost > 0 && down.lost > 0,
            "participant {}'s paths lost packets",
            r.index
        );
    }
    let completed: u64 = outcome
        .counters
        .iter()
        .map(|c| c.handshakes_completed)
        .sum();
    let accepted: u64 = outcome
        .counters
        .iter()
        .map(|c| c.connections_accepted)
        .sum();
    assert_eq!(
        (completed, accepted),
        (3, 3),
        "one connection each, no retry from scratch"
    );
    assert_exact_delivery(&outcome, 3);
}

#[test]
fn a_participant_whose_path_loses_everything_gives_up_at_the_join_deadline() {
    let mut c = config(1, 2, Profile::Audio, Duration::from_secs(1), 3);
    c.join_timeout = Duration::from_secs(5);
    c.paths = PathPlan {
        uplink: lossy(1.0, 10 * MS, Duration::ZERO),
        slot: Some(1),
        ..PathPlan::default()
    };
    let outcome = Sim::new(2, c).run(LIMIT);
    let (ok, cut_off) = (&outcome.results[0], &outcome.results[1]);
    assert!(ok.joined, "the other participant joins: {:?}", ok.error);
    assert!(!cut_off.joined && !cut_off.quic_established);
    assert_eq!(
        cut_off.error, None,
        "it finished on its own, not at the harness limit"
    );
    assert!(cut_off.uplink.packets > 0 && cut_off.uplink.lost == cut_off.uplink.packets);
    let accepted: u64 = outcome
        .counters
        .iter()
        .map(|c| c.connections_accepted)
        .sum();
    assert_eq!(accepted, 1, "the relay never heard from it");
    assert_eq!(ok.stats.delivered, 0, "alone in its room");
}

/// The packets of the keyframe access unit whose first packet `joiner` got first from
/// `publisher`, as the publisher sent them, and the leading run of them the joiner got.
fn cached_and_replayed<'a>(
    joiner: &'a ParticipantResult,
    publisher: &'a ParticipantResult,
) -> (Vec<&'a Vec<u8>>, Vec<&'a Vec<u8>>) {
    let is_part_of = |au: u32| {
        move |d: &&Vec<u8>| {
            inspect(d).is_some_and(|r| r.header.flags.is_keyframe() && r.header.timestamp == au)
        }
    };
    let from: Vec<&Vec<u8>> = joiner
        .recv_log
        .iter()
        .filter(|d| inspect(d).is_some_and(|r| r.sender == publisher.index))
        .collect();
    let first = inspect(from[0]).expect("our datagram");
    assert!(
        first.header.flags.is_keyframe(),
        "publisher {}: the joiner's first packet from it is a keyframe packet",
        publisher.index
    );
    let au = first.header.timestamp;
    let replayed: Vec<&Vec<u8>> = from.iter().copied().take_while(is_part_of(au)).collect();
    let last_seq = inspect(replayed[replayed.len() - 1]).unwrap().seq;
    for d in &from[replayed.len()..] {
        assert!(
            inspect(d).unwrap().seq > last_seq,
            "live media follows the replay"
        );
    }
    let cached = publisher.sent_log.iter().filter(is_part_of(au)).collect();
    (cached, replayed)
}

/// Per datagram the relay sent `host`, in order, up to `n`: whether its packet was lost.
fn lost_slots(outcome: &Outcome, host: usize, n: usize) -> Vec<bool> {
    let arrived: std::collections::HashSet<u64> = outcome
        .trace
        .iter()
        .filter_map(|t| match t {
            Trace::Arrived { id } => Some(*id),
            _ => None,
        })
        .collect();
    let mut slots = Vec::with_capacity(n);
    for t in &outcome.trace {
        if let Trace::Downlink {
            id,
            host: h,
            datagrams,
        } = *t
        {
            if h == host {
                slots.extend(std::iter::repeat_n(!arrived.contains(&id), datagrams));
            }
        }
    }
    slots.truncate(n);
    slots
}

#[test]
fn a_late_joiner_under_10_percent_loss_still_gets_the_cached_keyframes_first() {
    let mut c = config(1, 4, Profile::Video, Duration::from_secs(3), 5);
    c.join_late = 1;
    // Keyframes leave at 0 s and 2 s of media: 1 s is mid-GOP.
    c.join_late_after = Duration::from_secs(1);
    c.paths = PathPlan {
        slot: Some(3),
        ..both_ways(lossy(0.10, 20 * MS, Duration::ZERO))
    };
    let outcome = Sim::new(2, c).run(LIMIT);
    assert_all_joined(&outcome.results);
    let joiner = &outcome.results[3];
    assert!(joiner.late && joiner.impaired);
    let first = inspect(&joiner.recv_log[0]).unwrap();
    assert!(
        first.header.flags.is_keyframe(),
        "the replay comes before any live packet"
    );

    // The relay replays in the room's join order, each publisher's cached keyframe whole;
    // the first R datagrams on the joiner's downlink are the replay.
    let order: Vec<usize> = outcome
        .events
        .iter()
        .filter_map(|(_, _, e)| match e {
            ShardEvent::Joined { fingerprint, .. } => outcome
                .results
                .iter()
                .position(|r| &r.fingerprint == fingerprint),
            _ => None,
        })
        .filter(|i| *i != 3)
        .collect();
    assert_eq!(order.len(), 3);
    let queued: u64 = outcome
        .counters
        .iter()
        .map(|c| c.keyframe_replay_packets)
        .sum();
    let replays: u64 = outcome.counters.iter().map(|c| c.keyframe_replays).sum();
    assert_eq!(replays, 3, "one cached keyframe per publisher");
    let lost = lost_slots(&outcome, 3, usize::try_from(queued).unwrap());
    let mut at = 0;
    for p in order {
        let (cached, replayed) = cached_and_replayed(joiner, &outcome.results[p]);
        let slots = &lost[at..at + cached.len()];
        at += cached.len();
        let delivered: Vec<&Vec<u8>> = cached
            .iter()
            .zip(slots)
            .filter(|(_, lost)| !**lost)
            .map(|(d, _)| *d)
            .collect();
        assert_eq!(
            replayed, delivered,
            "publisher {p}: the cached keyframe minus what the path lost, byte-identical, in order"
        );
    }
    assert_eq!(
        at as u64, queued,
        "the replay was exactly the cached keyframes"
    );
    assert!(lost.iter().any(|l| *l), "the loss hit the replay");
}

#[test]
fn a_nat_rebinding_mid_call_keeps_the_participant_in_its_room_on_its_owner_shard() {
    let mut c = config(1, 3, Profile::Audio, Duration::from_secs(3), 31);
    c.paths = PathPlan {
        slot: Some(0),
        rebind_after: Some(Duration::from_millis(1500)),
        ..both_ways(lossy(0.0, 10 * MS, Duration::ZERO))
    };
    let room = c.room_name(0);
    let owner = switchyard_engine::steering::owner_of(&room, 2);
    let outcome = Sim::new(2, c).run(LIMIT);
    assert_all_joined(&outcome.results);
    let rebound = outcome.rebound_at[0].expect("participant 0's address changed");
    let after_us = u32::try_from((rebound - outcome.epoch).as_micros()).unwrap();

    assert_exact_delivery(&outcome, 3);
    let rebinder = &outcome.results[0];
    let sent_after = rebinder
        .sent_log
        .iter()
        .filter(|d| inspect(d).unwrap().send_us > after_us)
        .count();
    assert!(
        sent_after > 40,
        "it kept sending after the rebinding: {sent_after}"
    );
    for r in &outcome.results[1..] {
        let got_after = r
            .recv_log
            .iter()
            .filter_map(|d| inspect(d))
            .filter(|d| d.sender == 0 && d.send_us > after_us)
            .count();
        assert_eq!(
            got_after, sent_after,
            "participant {} heard it from its new address",
            r.index
        );
    }
    let heard_after = rebinder
        .recv_log
        .iter()
        .filter_map(|d| inspect(d))
        .filter(|d| d.send_us > after_us + 50_000)
        .count();
    assert!(
        heard_after > 80,
        "the relay sends to the new address: {heard_after}"
    );

    let other = ShardId(1 - owner.0);
    let (o, x) = (
        &outcome.counters[owner.index()],
        &outcome.counters[other.index()],
    );
    assert_eq!(
        o.connections_accepted, 3,
        "every connection on the owner shard"
    );
    assert_eq!((x.connections_accepted, x.media_datagrams_in), (0, 0));
    assert_eq!(
        x.packets_passed_on + o.packets_passed_on,
        0,
        "no packet needed a second hop"
    );
    let joins: Vec<_> = outcome
        .events
        .iter()
        .filter_map(|(shard, _, e)| match e {
            ShardEvent::Joined { participant, .. } => Some((*shard, *participant)),
            _ => None,
        })
        .collect();
    assert_eq!(joins.len(), 3, "nobody joined twice: {joins:?}");
    assert!(joins
        .iter()
        .all(|(shard, p)| *shard == owner && p.shard() == owner));
    let left_before_end = outcome.events.iter().any(|(_, at, e)| {
        matches!(e, ShardEvent::Left { .. }) && *at < rebound + Duration::from_secs(1)
    });
    assert!(!left_before_end, "nobody left around the rebinding");
}
