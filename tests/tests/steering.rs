//! Steering: a participant whose first packet reaches a shard that does not own its room
//! still joins and exchanges media, and all of a room's forwarding happens on its owner.

use std::sync::Arc;
use std::time::Duration;
use switchyard_engine::steering::{owner_of, CID_LEN};
use switchyard_tests::{
    assert_everyone_got_everything, counters, load, relay_options, run_load, start,
};

#[test]
fn first_packet_on_the_wrong_shard_still_joins_and_owner_forwards_everything() {
    let mut relay = start(relay_options("steering"));
    let shards = relay.shards;
    let mut config = load(&relay, 4, 3, Duration::from_secs(2));
    let rooms: Vec<String> = (0..4).map(|r| config.room_name(r)).collect();
    let owners: Vec<u16> = rooms.iter().map(|r| owner_of(r, shards).0).collect();
    let owners_for_tweak = owners.clone();
    config.tweak = Some(Arc::new(move |index, plan| {
        // A DCID whose first byte makes the kernel deliver the Initial to the other shard.
        let owner = owners_for_tweak[(index / 3) as usize];
        let wrong = (owner + 1) % shards;
        let mut dcid = vec![0xA5u8; CID_LEN];
        dcid[0] = u8::try_from(wrong + shards * (index as u16 % 8)).unwrap();
        plan.client.initial_dcid = Some(dcid);
    }));
    let results = run_load(&config);
    assert_everyone_got_everything(&results);

    let snap = counters(&mut relay);
    for shard in 0..shards {
        let own_rooms: Vec<usize> = (0..4).filter(|r| owners[*r] == shard).collect();
        let sent_in_own: u64 = results
            .iter()
            .filter(|r| own_rooms.contains(&(r.room as usize)))
            .map(|r| r.sent)
            .sum();
        let c = &snap.shards[usize::from(shard)];
        assert_eq!(
            c.media_datagrams_in, sent_in_own,
            "shard {shard} received media of rooms it does not own"
        );
        assert_eq!(
            c.media_datagrams_forwarded,
            2 * sent_in_own,
            "shard {shard} forwarded for rooms it does not own"
        );
        let redirected_here = results
            .iter()
            .filter(|r| owners[r.room as usize] != shard)
            .count() as u64;
        assert!(
            c.initials_redirected_out >= redirected_here,
            "shard {shard}: {} < {redirected_here}",
            c.initials_redirected_out
        );
        assert_eq!(
            c.connections_accepted,
            3 * own_rooms.len() as u64,
            "shard {shard} served connections of other shards' rooms"
        );
    }
    assert_eq!(
        snap.total.packets_passed_on, 0,
        "after the handshake the kernel steers every packet to the owner"
    );
    relay.stop();
}

#[test]
fn a_second_relay_on_the_same_port_is_refused() {
    let port = {
        let probe = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let mut options = relay_options("portlock");
    options.listen = format!("127.0.0.1:{port}").parse().unwrap();
    options.lock_dir = Some(options.identity_path.parent().unwrap().join("locks"));
    let first = start(options.clone());
    let err = switchyard_dataplane::relay::start(options.clone())
        .unwrap_err()
        .to_string();
    assert!(err.contains("another switchyard process"), "{err}");
    first.stop();
    start(options).stop();
}
