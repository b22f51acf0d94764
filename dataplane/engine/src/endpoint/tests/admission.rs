//! Admission: Retry and its tokens, the half-open budgets, and the stateless replies (rate
//! limits, stateless reset after a restart).

use super::support::{endpoint, join, pump, room_owned_by, TestClient, MS, RELAY};
use super::unknown_version_packet;
use crate::admission::RetryPolicy;
use crate::endpoint::{Endpoint, EndpointConfig};
use crate::steering::CID_LEN;
use std::time::{Duration, Instant};
use switchyard_proto::control::ShardId;
use switchyard_testclock::origin;

fn retry(policy: RetryPolicy) -> impl FnOnce(&mut EndpointConfig) {
    move |c| c.admission.retry = policy
}

fn packet_type(packet: &[u8]) -> quiche::Type {
    let mut packet = packet.to_vec();
    quiche::Header::from_slice(&mut packet, CID_LEN).unwrap().ty
}

/// Sends `client`'s first Initials to `ep`, hands it the first Retry that comes back, and
/// returns the Initials it sends in answer (carrying the token).
fn answer_a_retry(ep: &mut Endpoint, client: &mut TestClient, t0: Instant) -> Vec<Vec<u8>> {
    let initials = client.datagrams();
    for mut d in initials.clone() {
        ep.handle_datagram(t0, client.addr, RELAY, &mut d);
    }
    let pumped = pump(ep, &mut [], t0);
    assert_eq!(
        pumped.transmits.len(),
        initials.len(),
        "one Retry per tokenless Initial (a post-quantum ClientHello takes two), nothing else"
    );
    for (to, retry) in &pumped.transmits {
        assert_eq!(*to, client.addr);
        assert_eq!(packet_type(retry), quiche::Type::Retry);
        assert!(retry.len() < 200, "a Retry is small: {} B", retry.len());
    }
    assert_eq!(ep.connection_count(), 0, "a Retry keeps no state");
    client.receive(&pumped.transmits[0].1);
    let answer = client.datagrams();
    let mut first = answer[0].clone();
    let hdr = quiche::Header::from_slice(&mut first, CID_LEN).unwrap();
    assert!(
        hdr.token.is_some_and(|t| !t.is_empty()),
        "the answer carries the token"
    );
    answer
}

#[test]
fn with_retry_always_a_client_proves_its_address_then_joins() {
    let t0 = origin();
    let mut ep = endpoint(0, 1, t0, retry(RetryPolicy::Always));
    let mut client = TestClient::connect("room", 1);
    let initials = client.datagrams().len() as u64;
    client = TestClient::connect("room", 1);
    let pumped = pump(&mut ep, &mut [&mut client], t0);
    assert_eq!(packet_type(&pumped.transmits[0].1), quiche::Type::Retry);
    assert!(
        client.quic.is_established(),
        "quiche checks both IDs of the exchange"
    );
    let c = ep.counters();
    assert_eq!((c.retries_sent, c.connections_accepted), (initials, 1));
    assert_eq!(
        ep.half_open(),
        0,
        "an established connection is no longer half-open"
    );
    let offer = client.offer(2, false);
    join(&mut ep, &mut client, offer, t0);
    assert!(client.joined());
}

#[test]
fn a_forged_token_is_dropped_and_counted() {
    let t0 = origin();
    let mut ep = endpoint(0, 1, t0, retry(RetryPolicy::Always));
    let mut client = TestClient::connect("room", 1);
    let mut answer = answer_a_retry(&mut ep, &mut client, t0);
    let mut copy = answer[0].clone();
    let token = quiche::Header::from_slice(&mut copy, CID_LEN)
        .unwrap()
        .token
        .unwrap();
    let at = answer[0]
        .windows(token.len())
        .position(|w| w == token.as_slice())
        .unwrap();
    answer[0][at + token.len() - 1] ^= 0x01;
    ep.handle_datagram(t0, client.addr, RELAY, &mut answer[0]);
    assert!(pump(&mut ep, &mut [], t0).transmits.is_empty());
    assert_eq!(ep.counters().tokens_forged, 1);
    assert_eq!(ep.connection_count(), 0);
}

#[test]
fn a_token_from_another_address_is_refused() {
    let t0 = origin();
    let mut ep = endpoint(0, 1, t0, retry(RetryPolicy::Always));
    let mut client = TestClient::connect("room", 1);
    let answer = answer_a_retry(&mut ep, &mut client, t0);
    let elsewhere = super::support::client_addr(77);
    ep.handle_datagram(t0, elsewhere, RELAY, &mut answer[0].clone());
    assert!(pump(&mut ep, &mut [], t0).transmits.is_empty());
    assert_eq!(ep.counters().tokens_wrong_address, 1);
    assert_eq!(ep.connection_count(), 0);
    ep.handle_datagram(t0, client.addr, RELAY, &mut answer[0].clone());
    assert_eq!(ep.connection_count(), 1, "from its own address it is good");
}

#[test]
fn an_expired_token_is_refused_and_one_in_its_lifetime_accepted() {
    let t0 = origin();
    let mut ep = endpoint(0, 1, t0, retry(RetryPolicy::Always));
    let lifetime = crate::admission::AdmissionConfig::default().token_lifetime;
    let mut client = TestClient::connect("room", 1);
    let answer = answer_a_retry(&mut ep, &mut client, t0);
    ep.handle_datagram(
        t0 + lifetime + MS,
        client.addr,
        RELAY,
        &mut answer[0].clone(),
    );
    assert_eq!(ep.counters().tokens_expired, 1);
    assert_eq!(ep.connection_count(), 0);
    ep.handle_datagram(t0 + lifetime, client.addr, RELAY, &mut answer[0].clone());
    assert_eq!(ep.connection_count(), 1);
}

#[test]
fn under_pressure_a_retry_comes_only_once_the_shard_holds_retry_above_half_open() {
    let t0 = origin();
    let mut ep = endpoint(0, 1, t0, |c| {
        c.admission.retry = RetryPolicy::UnderPressure;
        c.admission.retry_above = 2;
    });
    let mut silent: Vec<TestClient> = (1..=2).map(|n| TestClient::connect("room", n)).collect();
    for client in &mut silent {
        for mut d in client.datagrams() {
            ep.handle_datagram(t0, client.addr, RELAY, &mut d);
        }
    }
    assert_eq!(ep.half_open(), 2, "two handshakes nobody finishes");
    assert_eq!(ep.counters().retries_sent, 0);
    let mut late = TestClient::connect("room", 3);
    let pumped = pump(&mut ep, &mut [&mut late], t0);
    let (_, first) = pumped
        .transmits
        .iter()
        .find(|(to, _)| *to == late.addr)
        .unwrap();
    assert_eq!(packet_type(first), quiche::Type::Retry);
    assert!(
        late.quic.is_established(),
        "the validated client is let in over the threshold"
    );
    assert!(ep.counters().retries_sent >= 1);
    assert_eq!(ep.half_open(), 2);
}

#[test]
fn the_per_ip_share_and_the_shard_cap_refuse_initials_beyond_them() {
    let t0 = origin();
    let mut ep = endpoint(0, 1, t0, |c| {
        c.admission.retry = RetryPolicy::Never;
        c.admission.max_half_open = 3;
        c.admission.max_half_open_per_ip = 2;
    });
    let send_initials = |ep: &mut Endpoint, client: &mut TestClient| {
        for mut d in client.datagrams() {
            ep.handle_datagram(t0, client.addr, RELAY, &mut d);
        }
    };
    let mut same_ip: Vec<TestClient> = (1..=3).map(|n| TestClient::connect("room", n)).collect();
    for client in &mut same_ip {
        send_initials(&mut ep, client);
    }
    assert_eq!(ep.half_open(), 2);
    let per_client = same_ip[0].datagrams().len().max(2) as u64;
    assert_eq!(
        ep.counters().initials_refused_source_full,
        per_client,
        "each Initial of the third"
    );

    let mut other = TestClient::connect("room", 4);
    other.addr = "127.0.0.9:7000".parse().unwrap();
    let mut third = TestClient::connect("room", 5);
    third.addr = "127.0.0.10:7000".parse().unwrap();
    send_initials(&mut ep, &mut other);
    send_initials(&mut ep, &mut third);
    assert_eq!(ep.half_open(), 3);
    assert_eq!(ep.counters().initials_refused_shard_full, per_client);

    // Finishing a handshake frees its share at once.
    pump(&mut ep, &mut [&mut same_ip[0]], t0);
    assert!(same_ip[0].quic.is_established());
    assert_eq!(ep.half_open(), 2);
    let mut fresh = TestClient::connect("room", 6);
    send_initials(&mut ep, &mut fresh);
    assert_eq!(
        ep.half_open(),
        3,
        "a freed place takes a new half-open connection"
    );
}

#[test]
fn a_flood_of_ten_times_the_half_open_cap_leaves_a_legitimate_join_succeeding() {
    let t0 = origin();
    let cap = 20;
    let mut ep = endpoint(0, 1, t0, |c| {
        c.admission.max_half_open = cap;
        c.admission.retry_above = cap / 2;
    });
    let mut flood_bytes = 0;
    let mut answered = 0;
    for n in 0..(10 * cap as u16) {
        let mut attacker = TestClient::connect("room", 100 + n);
        attacker.addr = std::net::SocketAddr::from(([127, 0, 0, 3], 10_000 + n));
        for mut d in attacker.datagrams() {
            flood_bytes += d.len();
            ep.handle_datagram(t0, attacker.addr, RELAY, &mut d);
        }
        let turn = pump(&mut ep, &mut [], t0);
        answered += turn.transmits.iter().map(|(_, b)| b.len()).sum::<usize>();
    }
    assert_eq!(ep.half_open(), cap / 2, "only the first ones are held");
    let c = ep.counters();
    let initials_each = 2;
    assert_eq!(
        c.retries_sent as usize,
        initials_each * (10 * cap - cap / 2)
    );
    assert_eq!(c.initials_refused_shard_full, 0);
    assert!(
        answered < flood_bytes / 5,
        "retries are small: {answered} B answered {flood_bytes} B"
    );
    let mut legit = TestClient::connect(&room_owned_by(0, 1), 1);
    let offer = legit.offer(2, false);
    join(&mut ep, &mut legit, offer, t0);
    assert!(legit.joined());
}

#[test]
fn an_initial_passed_on_with_a_token_is_accepted_by_the_owner_with_both_ids() {
    let t0 = origin();
    let mut first = endpoint(0, 2, t0, retry(RetryPolicy::Always));
    let mut owner = endpoint(1, 2, t0, retry(RetryPolicy::Always));
    let mut client = TestClient::connect(&room_owned_by(1, 2), 1);
    let answer = answer_a_retry(&mut first, &mut client, t0);
    for mut d in answer {
        first.handle_datagram(t0, client.addr, RELAY, &mut d);
    }
    let pumped = pump(&mut first, &mut [], t0);
    assert!(pumped.transmits.is_empty());
    assert_eq!((first.connection_count(), first.half_open()), (0, 0));
    assert!(!pumped.handoffs.is_empty());
    for h in pumped.handoffs {
        owner.handle_handoff(t0, h);
    }
    assert_eq!(owner.counters().retries_sent, 0, "no second Retry");
    let offer = client.offer(2, false);
    let served = join(&mut owner, &mut client, offer, t0);
    assert!(client.joined());
    assert_eq!(super::shard_named_by(&served.transmits[0].1, 2), ShardId(1));
}

#[test]
fn version_negotiation_is_rate_limited() {
    let t0 = origin();
    let mut ep = endpoint(0, 1, t0, |c| c.admission.version_negotiations_per_sec = 3);
    let from = super::support::client_addr(9);
    for _ in 0..5 {
        ep.handle_datagram(t0, from, RELAY, &mut unknown_version_packet(1_200));
    }
    assert_eq!(pump(&mut ep, &mut [], t0).transmits.len(), 3);
    let c = ep.counters();
    assert_eq!(
        (c.version_negotiations_sent, c.version_negotiations_limited),
        (3, 2)
    );
    ep.handle_datagram(
        t0 + Duration::from_secs(1),
        from,
        RELAY,
        &mut unknown_version_packet(1_200),
    );
    assert_eq!(
        ep.counters().version_negotiations_sent,
        4,
        "the rate refills"
    );
}

/// A client joined to a relay that then restarts (a new endpoint with the same seed).
fn joined_then_restarted() -> (TestClient, Endpoint) {
    let t0 = origin();
    let mut ep = endpoint(0, 1, t0, |_| {});
    let mut client = TestClient::connect("room", 1);
    let offer = client.offer(2, false);
    join(&mut ep, &mut client, offer, t0);
    assert!(client.joined());
    drop(ep);
    (
        client,
        endpoint(0, 1, t0, |c| c.admission.stateless_resets_per_sec = 2),
    )
}

#[test]
fn a_restarted_relay_resets_its_predecessors_client_at_once() {
    let t0 = origin();
    let (mut client, mut restarted) = joined_then_restarted();
    client
        .quic
        .dgram_send(&super::support::opus24k(1, 60))
        .unwrap();
    let sent = client.datagrams();
    let mut trigger = sent[0].clone();
    restarted.handle_datagram(t0, client.addr, RELAY, &mut trigger);
    let pumped = pump(&mut restarted, &mut [], t0);
    assert_eq!(pumped.transmits.len(), 1, "one reset");
    let (to, reset) = &pumped.transmits[0];
    assert_eq!(*to, client.addr);
    assert!(reset.len() < sent[0].len(), "smaller than its trigger");
    assert_eq!(restarted.counters().stateless_resets_sent, 1);
    assert!(!client.quic.is_closed());
    client.receive(reset);
    assert!(client.quic.is_closed(), "the client learns at once");
}

#[test]
fn stateless_resets_are_rate_limited() {
    let t0 = origin();
    let (mut client, mut restarted) = joined_then_restarted();
    for seq in 0..5 {
        client
            .quic
            .dgram_send(&super::support::opus24k(seq, 60))
            .unwrap();
        for mut d in client.datagrams() {
            restarted.handle_datagram(t0, client.addr, RELAY, &mut d);
        }
    }
    let c = restarted.counters();
    assert_eq!(
        (c.stateless_resets_sent, c.stateless_resets_limited),
        (2, 3)
    );
}

#[test]
fn an_owner_under_pressure_answers_an_initial_passed_on_with_a_retry_naming_itself() {
    let t0 = origin();
    let mut first = endpoint(0, 2, t0, retry(RetryPolicy::Never));
    let mut owner = endpoint(1, 2, t0, |c| {
        c.admission.retry = RetryPolicy::UnderPressure;
        c.admission.retry_above = 0;
    });
    let mut client = TestClient::connect(&room_owned_by(1, 2), 1);
    for mut d in client.datagrams() {
        first.handle_datagram(t0, client.addr, RELAY, &mut d);
    }
    let pumped = pump(&mut first, &mut [], t0);
    assert!(!pumped.handoffs.is_empty());
    for h in pumped.handoffs {
        owner.handle_handoff(t0, h);
    }
    let answered = pump(&mut owner, &mut [], t0);
    assert!(!answered.transmits.is_empty());
    for (to, packet) in &answered.transmits {
        assert_eq!(*to, client.addr);
        assert_eq!(packet_type(packet), quiche::Type::Retry);
        assert_eq!(
            super::shard_named_by(packet, 2),
            ShardId(1),
            "the answer comes straight back"
        );
    }
    assert_eq!(owner.connection_count(), 0, "nothing held for it");
    client.receive(&answered.transmits[0].1);
    let offer = client.offer(2, false);
    join(&mut owner, &mut client, offer, t0);
    assert!(client.joined());
}
