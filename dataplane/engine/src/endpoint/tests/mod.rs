//! Unit tests of the endpoint's transitions, with real quiche clients in memory and the
//! endpoint's time passed in: accept, hand-off, a ClientHello in two datagrams, the SNI and
//! join deadlines, refused joins, join and leave, media, shutdown; relay-judged quality in
//! [`quality`]; conformance in [`conformance`] and its Tier G responses in [`policy`]; Retry,
//! half-open budgets and stateless replies in [`admission`].

mod admission;
mod budgets;
mod conformance;
mod policy;
mod quality;
mod support;

use super::{HandoffKind, HANGUP_LINGER, MAX_HELD_INITIALS};
use crate::steering::{shard_of_cid, CID_LEN};
use support::{endpoint, join, pump, room_owned_by, TestClient, MS, RELAY};
use switchyard_proto::codec::{CodecId, MediaType};
use switchyard_proto::control::{Directive, ParticipantId, ShardEvent, ShardId};
use switchyard_proto::media::{Flags, MediaHeader};
use switchyard_proto::signal::{HangupReason, SignalMessage};
use switchyard_testclock::origin;

/// The shard a server packet's source connection ID names.
pub(super) fn shard_named_by(packet: &[u8], shards: u16) -> ShardId {
    let mut packet = packet.to_vec();
    let hdr = quiche::Header::from_slice(&mut packet, CID_LEN).unwrap();
    shard_of_cid(&hdr.scid, shards).unwrap()
}

fn hangups(client: &TestClient) -> Vec<HangupReason> {
    client
        .messages
        .iter()
        .filter_map(|m| match m {
            SignalMessage::Hangup { reason, .. } => Some(reason.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn an_initial_for_a_local_room_is_accepted_and_answered_with_an_id_naming_this_shard() {
    let t0 = origin();
    let mut ep = endpoint(0, 2, t0, |_| {});
    let mut client = TestClient::connect(&room_owned_by(0, 2), 1);
    let pumped = pump(&mut ep, &mut [&mut client], t0);
    assert!(client.quic.is_established());
    assert!(pumped.handoffs.is_empty());
    let (to, first) = pumped.transmits.first().expect("the relay answered");
    assert_eq!(*to, client.addr);
    assert_eq!(shard_named_by(first, 2), ShardId(0));
    let c = ep.counters();
    assert_eq!((c.connections_accepted, c.initials_redirected_out), (1, 0));
    assert_eq!(ep.connection_count(), 1);
}

#[test]
fn an_initial_under_1200_bytes_is_dropped_and_the_same_one_whole_is_accepted() {
    let t0 = origin();
    let mut ep = endpoint(0, 1, t0, |_| {});
    let mut client = TestClient::connect("room", 1);
    let initials = client.datagrams();
    let first = initials[0].clone();
    assert!(
        first.len() >= super::MIN_INITIAL_DATAGRAM,
        "quiche pads Initials"
    );
    let mut short = first[..super::MIN_INITIAL_DATAGRAM - 1].to_vec();
    ep.handle_datagram(t0, client.addr, RELAY, &mut short);
    let pumped = pump(&mut ep, &mut [], t0);
    assert!(
        pumped.transmits.is_empty(),
        "nothing answers a short Initial"
    );
    assert_eq!(ep.connection_count(), 0);
    assert_eq!(ep.counters().initials_too_small, 1);
    for mut d in initials {
        ep.handle_datagram(t0, client.addr, RELAY, &mut d);
    }
    assert_eq!(ep.connection_count(), 1);
    pump(&mut ep, &mut [&mut client], t0);
    assert!(
        client.quic.is_established(),
        "the whole Initial starts a handshake"
    );
}

/// A long-header packet of an unknown QUIC version, `len` bytes in all.
pub(super) fn unknown_version_packet(len: usize) -> Vec<u8> {
    let mut p = vec![0xc0, 0x1a, 0x2a, 0x3a, 0x4a, 8];
    p.extend_from_slice(&[0x11; 8]);
    p.push(8);
    p.extend_from_slice(&[0x22; 8]);
    p.resize(len, 0);
    p
}

#[test]
fn version_negotiation_answers_only_datagrams_of_1200_bytes_or_more() {
    let t0 = origin();
    let mut ep = endpoint(0, 1, t0, |_| {});
    let from = support::client_addr(9);
    ep.handle_datagram(t0, from, RELAY, &mut unknown_version_packet(1_199));
    let pumped = pump(&mut ep, &mut [], t0);
    assert!(pumped.transmits.is_empty());
    assert_eq!(ep.counters().initials_too_small, 1);
    ep.handle_datagram(t0, from, RELAY, &mut unknown_version_packet(1_200));
    let pumped = pump(&mut ep, &mut [], t0);
    assert_eq!(pumped.transmits.len(), 1, "one Version Negotiation");
    let (to, reply) = &pumped.transmits[0];
    assert_eq!(*to, from);
    assert!(reply.len() < 1_200, "smaller than what it answers");
    assert_eq!(
        &reply[1..5],
        &[0, 0, 0, 0],
        "version 0: Version Negotiation"
    );
}

#[test]
fn an_initial_for_another_shards_room_is_handed_off_untouched_and_served_there() {
    let t0 = origin();
    let mut first_shard = endpoint(0, 2, t0, |_| {});
    let mut owner = endpoint(1, 2, t0, |_| {});
    let mut client = TestClient::connect(&room_owned_by(1, 2), 1);
    let initials = client.datagrams();
    for d in &initials {
        first_shard.handle_datagram(t0, client.addr, RELAY, &mut d.clone());
    }
    let pumped = pump(&mut first_shard, &mut [], t0);
    assert!(
        pumped.transmits.is_empty(),
        "nothing leaves the wrong shard"
    );
    assert_eq!(first_shard.connection_count(), 0, "and it keeps nothing");
    let handed: Vec<Vec<u8>> = pumped.handoffs.iter().map(|h| h.datagram.clone()).collect();
    assert_eq!(handed, initials, "the original bytes, in order");
    for h in &pumped.handoffs {
        assert_eq!(
            (h.to, h.kind, h.from, h.local),
            (ShardId(1), HandoffKind::Initial, client.addr, RELAY)
        );
    }
    let sent = initials.len() as u64;
    assert_eq!(first_shard.counters().initials_redirected_out, sent);

    for h in pumped.handoffs {
        owner.handle_handoff(t0, h);
    }
    assert_eq!(owner.counters().initials_redirected_in, sent);
    let offer = client.offer(2, false);
    let served = join(&mut owner, &mut client, offer, t0);
    assert!(client.joined());
    assert_eq!(shard_named_by(&served.transmits[0].1, 2), ShardId(1));
    assert_eq!(owner.counters().connections_accepted, 1);
}

#[test]
fn a_client_hello_in_two_datagrams_is_answered_only_when_whole() {
    let t0 = origin();
    let mut ep = endpoint(0, 1, t0, |_| {});
    let mut client = TestClient::connect("room", 1);
    let initials = client.datagrams();
    assert_eq!(
        initials.len(),
        2,
        "this client's ClientHello spans two Initials"
    );
    ep.handle_datagram(t0, client.addr, RELAY, &mut initials[0].clone());
    let half = pump(&mut ep, &mut [], t0);
    assert!(
        half.transmits.is_empty(),
        "no reply before the SNI is known"
    );
    assert_eq!(ep.connection_count(), 1);
    assert_eq!(ep.counters().connections_accepted, 0);

    ep.handle_datagram(t0 + MS, client.addr, RELAY, &mut initials[1].clone());
    let whole = pump(&mut ep, &mut [], t0 + MS);
    assert!(!whole.transmits.is_empty(), "answered once whole");
    assert_eq!(ep.counters().connections_accepted, 1);
}

#[test]
fn a_client_hello_never_completed_is_forgotten_at_the_handshake_deadline_without_a_word() {
    let t0 = origin();
    let mut ep = endpoint(0, 1, t0, |c| c.handshake_timeout = 3_000 * MS);
    let mut client = TestClient::connect("room", 1);
    let initials = client.datagrams();
    ep.handle_datagram(t0, client.addr, RELAY, &mut initials[0].clone());
    let mut transmits = pump(&mut ep, &mut [], t0).transmits;

    ep.handle_timeout(t0 + 2_999 * MS);
    transmits.extend(pump(&mut ep, &mut [], t0 + 2_999 * MS).transmits);
    assert_eq!(
        ep.connection_count(),
        1,
        "still waiting 1 ms before the deadline"
    );

    ep.handle_timeout(t0 + 3_000 * MS);
    transmits.extend(pump(&mut ep, &mut [], t0 + 3_000 * MS).transmits);
    assert_eq!(ep.connection_count(), 0);
    assert_eq!(ep.counters().initials_abandoned, 1);
    assert_eq!(ep.counters().connections_accepted, 0);
    assert!(transmits.is_empty(), "nothing was ever sent");
}

#[test]
fn initials_that_never_complete_a_client_hello_are_abandoned_at_the_cap() {
    let t0 = origin();
    let mut ep = endpoint(0, 1, t0, |_| {});
    let mut client = TestClient::connect("room", 1);
    let first = client.datagrams().remove(0);
    for i in 0..MAX_HELD_INITIALS {
        assert_eq!(ep.connection_count(), 1.min(i), "after {i} Initials");
        ep.handle_datagram(t0, client.addr, RELAY, &mut first.clone());
    }
    assert_eq!(ep.connection_count(), 0);
    assert_eq!(ep.counters().initials_abandoned, 1);
}

#[test]
fn an_initial_quiche_refuses_is_counted_and_leaves_nothing() {
    let t0 = origin();
    let mut ep = endpoint(0, 1, t0, |_| {});
    // A well-formed Initial header (version 1, fresh DCID) around bytes that do not decrypt.
    let mut initial = vec![0xC0, 0, 0, 0, 1, 16];
    initial.extend_from_slice(&[0xAB; 16]);
    initial.extend_from_slice(&[0, 0, 0x44, 0xb0]);
    initial.resize(1200, 0);
    ep.handle_datagram(t0, support::client_addr(1), RELAY, &mut initial);
    let pumped = pump(&mut ep, &mut [], t0);
    assert!(pumped.transmits.is_empty());
    assert_eq!(ep.connection_count(), 0);
    assert_eq!(ep.counters().initials_abandoned, 1);
    assert_eq!(ep.counters().unknown_connection_packets, 0);
}

/// Joins with `offer` on an endpoint built by `tweak`, then checks the refusal: the typed
/// Hangup at once, the close code after the linger and not before.
fn assert_refused(
    tweak: impl FnOnce(&mut crate::endpoint::EndpointConfig),
    before_offer: Option<SignalMessage>,
    offer: impl FnOnce(&TestClient) -> SignalMessage,
    hangup: HangupReason,
    close_code: u64,
) -> switchyard_proto::control::ShardCounters {
    let t0 = origin();
    let mut ep = endpoint(0, 1, t0, tweak);
    let mut client = TestClient::connect("room", 1);
    pump(&mut ep, &mut [&mut client], t0);
    if let Some(m) = before_offer {
        client.send(&m);
    }
    let offer = offer(&client);
    client.send(&offer);
    let pumped = pump(&mut ep, &mut [&mut client], t0);
    assert!(!client.joined());
    assert_eq!(hangups(&client), vec![hangup]);
    assert!(
        pumped.events.is_empty(),
        "no membership event for a refused join"
    );

    ep.handle_timeout(t0 + HANGUP_LINGER - MS);
    pump(&mut ep, &mut [&mut client], t0 + HANGUP_LINGER - MS);
    assert_eq!(client.close_code(), None, "the Hangup gets its linger");

    ep.handle_timeout(t0 + 1_000 * MS);
    pump(&mut ep, &mut [&mut client], t0 + 1_000 * MS);
    assert_eq!(client.close_code(), Some(close_code));
    let c = ep.counters().clone();
    assert_eq!((c.handshakes_rejected, c.handshakes_completed), (1, 0));
    c
}

#[test]
fn a_join_without_the_auth_token_is_declined() {
    let c = assert_refused(
        |c| c.auth = crate::session::AuthGate::with_tokens(["s3cret".to_string()]),
        None,
        |client| client.offer(2, false),
        HangupReason::Declined,
        0x101,
    );
    assert_eq!(c.auth_rejected, 1);
}

/// `client`'s CallOffer with an alias of `len` ASCII bytes.
fn offer_with_alias(client: &TestClient, len: usize) -> SignalMessage {
    let mut offer = client.offer(2, false);
    if let SignalMessage::CallOffer { alias, .. } = &mut offer {
        *alias = Some("a".repeat(len));
    }
    offer
}

#[test]
fn an_alias_over_256_bytes_is_refused_as_too_long() {
    let c = assert_refused(
        |_| {},
        None,
        |client| offer_with_alias(client, crate::session::MAX_ALIAS_BYTES + 1),
        HangupReason::Error,
        0x109,
    );
    assert_eq!(c.alias_rejected, 1);
}

#[test]
fn a_1_mib_alias_is_refused_at_once_not_at_the_join_deadline() {
    // The offer's frame is over the 1 MiB cap: refused from its length prefix, and before the
    // join that ends the session with the typed Hangup (assert_refused checks it arrives at
    // once and the connection closes after the linger).
    let c = assert_refused(
        |_| {},
        None,
        |client| offer_with_alias(client, 1 << 20),
        HangupReason::Error,
        0x10a,
    );
    let oversized = switchyard_proto::framing::FrameError::Oversized.index();
    assert_eq!(c.signal_frame_errors[oversized], 1);
    assert_eq!(c.alias_rejected, 0);
}

#[test]
fn the_same_identity_joining_a_room_again_replaces_its_older_connection() {
    let t0 = origin();
    let mut ep = endpoint(0, 1, t0, |_| {});
    let (mut old, mut other) = (
        TestClient::connect("room", 1),
        TestClient::connect("room", 2),
    );
    support::join_all(&mut ep, &mut [&mut old, &mut other], t0);
    assert_eq!(other.room_updates(), vec![2]);
    // The same identity (client 1's key) from a new connection: a reconnecting client.
    let mut newer = TestClient::connect("room", 3);
    newer.identity = old.identity.clone();
    let offer = newer.offer(2, false);
    // Every client is pumped: a client left out of a pump loses what the relay sent it.
    pump(&mut ep, &mut [&mut newer], t0 + MS);
    newer.send(&offer);
    let pumped = pump(&mut ep, &mut [&mut old, &mut other, &mut newer], t0 + MS);
    assert!(newer.joined());
    assert_eq!(hangups(&old), vec![HangupReason::Normal]);
    assert_eq!(
        other.room_updates(),
        vec![2, 1, 2],
        "the older one left, then the newer one joined"
    );
    assert_eq!(newer.room_updates(), vec![2]);
    let left = pumped
        .events
        .iter()
        .filter(|e| matches!(e, ShardEvent::Left { .. }))
        .count();
    assert_eq!(left, 1);
    let c = ep.counters();
    assert_eq!((c.connections_replaced, c.handshakes_completed), (1, 3));
    ep.handle_timeout(t0 + 1_000 * MS);
    pump(
        &mut ep,
        &mut [&mut old, &mut other, &mut newer],
        t0 + 1_000 * MS,
    );
    assert_eq!(old.close_code(), Some(0), "closed after the linger");
    // Media from the newer connection reaches the other member; one member per identity.
    let mut buf = [0u8; 64];
    newer
        .quic
        .dgram_send(&support::opus24k(0, 40))
        .expect("queued");
    pump(
        &mut ep,
        &mut [&mut old, &mut other, &mut newer],
        t0 + 1_001 * MS,
    );
    assert!(other.quic.dgram_recv(&mut buf).is_ok());
    assert_eq!(ep.counters().participants, 2);
}

#[test]
fn a_join_with_a_wrong_auth_token_is_declined() {
    let c = assert_refused(
        |c| c.auth = crate::session::AuthGate::with_tokens(["s3cret".to_string()]),
        Some(SignalMessage::AuthToken {
            version: 1,
            token: "guess".into(),
        }),
        |client| client.offer(2, false),
        HangupReason::Declined,
        0x101,
    );
    assert_eq!(c.auth_rejected, 1);
}

#[test]
fn a_join_with_the_right_token_is_answered() {
    let t0 = origin();
    let mut ep = endpoint(0, 1, t0, |c| {
        c.auth = crate::session::AuthGate::with_tokens(["s3cret".to_string()]);
    });
    let mut client = TestClient::connect("room", 1);
    pump(&mut ep, &mut [&mut client], t0);
    client.send(&SignalMessage::AuthToken {
        version: 1,
        token: "s3cret".into(),
    });
    let offer = client.offer(2, false);
    client.send(&offer);
    pump(&mut ep, &mut [&mut client], t0);
    assert!(client.joined());
}

#[test]
fn protocol_version_1_is_refused_with_the_versions_the_relay_speaks() {
    let c = assert_refused(
        |_| {},
        None,
        |client| client.offer(1, false),
        HangupReason::ProtocolVersionMismatch {
            server_supported: vec![2],
        },
        0x102,
    );
    assert_eq!(c.version_rejected, 1);
}

#[test]
fn a_bad_offer_signature_is_refused() {
    let c = assert_refused(
        |_| {},
        None,
        |client| client.offer(2, true),
        HangupReason::Error,
        0x103,
    );
    assert_eq!(c.signature_rejected, 1);
}

#[test]
fn a_full_room_is_refused_as_busy() {
    let t0 = origin();
    let mut ep = endpoint(0, 1, t0, |c| c.room_capacity = 1);
    let mut first = TestClient::connect("room", 1);
    let offer = first.offer(2, false);
    join(&mut ep, &mut first, offer, t0);
    assert!(first.joined());
    let mut second = TestClient::connect("room", 2);
    let offer = second.offer(2, false);
    join(&mut ep, &mut second, offer, t0);
    assert!(!second.joined());
    assert_eq!(hangups(&second), vec![HangupReason::Busy]);
    ep.handle_timeout(t0 + 1_000 * MS);
    pump(&mut ep, &mut [&mut first, &mut second], t0 + 1_000 * MS);
    assert_eq!(second.close_code(), Some(0x104));
    assert_eq!(first.close_code(), None, "the member is untouched");
    assert_eq!(ep.counters().room_full_rejected, 1);
}

#[test]
fn a_client_that_never_offers_is_hung_up_at_the_join_deadline() {
    let t0 = origin();
    let mut ep = endpoint(0, 1, t0, |c| c.handshake_timeout = 2_000 * MS);
    let mut client = TestClient::connect("room", 1);
    pump(&mut ep, &mut [&mut client], t0);
    assert!(client.quic.is_established());
    ep.handle_timeout(t0 + 1_999 * MS);
    pump(&mut ep, &mut [&mut client], t0 + 1_999 * MS);
    assert!(hangups(&client).is_empty());
    ep.handle_timeout(t0 + 2_000 * MS);
    pump(&mut ep, &mut [&mut client], t0 + 2_000 * MS);
    assert_eq!(hangups(&client), vec![HangupReason::Timeout]);
    ep.handle_timeout(t0 + 3_000 * MS);
    pump(&mut ep, &mut [&mut client], t0 + 3_000 * MS);
    assert_eq!(client.close_code(), Some(0x105));
}

#[test]
fn join_and_leave_are_announced_to_the_room_and_the_control_plane() {
    let t0 = origin();
    let mut ep = endpoint(3, 4, t0, |_| {});
    let room = room_owned_by(3, 4);
    let mut a = TestClient::connect(&room, 1);
    let mut b = TestClient::connect(&room, 2);
    let offer = a.offer(2, false);
    let joined_a = join(&mut ep, &mut a, offer, t0);
    // Both members are pumped from here on: the RoomUpdate to `a` must reach it.
    pump(&mut ep, &mut [&mut a, &mut b], t0);
    let offer = b.offer(2, false);
    b.send(&offer);
    let joined_b = pump(&mut ep, &mut [&mut a, &mut b], t0);
    let (id_a, id_b) = (
        ParticipantId::new(ShardId(3), 0),
        ParticipantId::new(ShardId(3), 1),
    );
    let joined: Vec<(ParticipantId, u32)> = joined_a
        .events
        .iter()
        .chain(&joined_b.events)
        .filter_map(|e| match e {
            ShardEvent::Joined {
                participant,
                participants,
                room: r,
                fingerprint,
                ..
            } => {
                assert_eq!(r, &room);
                assert!(
                    *fingerprint == a.identity.fingerprint()
                        || *fingerprint == b.identity.fingerprint()
                );
                Some((*participant, *participants))
            }
            _ => None,
        })
        .collect();
    assert_eq!(joined, vec![(id_a, 1), (id_b, 2)]);
    assert_eq!(a.room_updates(), vec![1, 2]);
    assert_eq!(b.room_updates(), vec![2]);

    a.send(&SignalMessage::hangup(HangupReason::Normal));
    let left = pump(&mut ep, &mut [&mut a, &mut b], t0 + MS);
    let left: Vec<(ParticipantId, u32)> = left
        .events
        .iter()
        .filter_map(|e| match e {
            ShardEvent::Left {
                participant,
                participants,
                ..
            } => Some((*participant, *participants)),
            _ => None,
        })
        .collect();
    assert_eq!(left, vec![(id_a, 1)]);
    assert_eq!(b.room_updates(), vec![2, 1]);
    assert_eq!(
        a.room_updates(),
        vec![1, 2],
        "the leaver hears nothing more"
    );
    assert_eq!(a.close_code(), Some(0), "closed normally");
}

#[test]
fn media_reaches_every_other_member_byte_identical_and_never_the_sender() {
    let t0 = origin();
    let mut ep = endpoint(0, 1, t0, |_| {});
    let (mut a, mut b, mut c) = (
        TestClient::connect("room", 1),
        TestClient::connect("room", 2),
        TestClient::connect("room", 3),
    );
    for client in [&mut a, &mut b, &mut c] {
        let offer = client.offer(2, false);
        join(&mut ep, client, offer, t0);
    }
    let header = MediaHeader {
        flags: Flags::empty(),
        media_type: MediaType::Audio,
        codec: CodecId::Opus24k,
        stream_id: 0,
        fec_ratio: 0,
        seq: 1,
        timestamp: 20,
        fec_block: 0,
    };
    let mut datagram = Vec::new();
    header.encode(b"end-to-end encrypted payload", None, &mut datagram);
    a.quic.dgram_send(&datagram).unwrap();
    let pumped = pump(&mut ep, &mut [&mut a, &mut b, &mut c], t0 + MS);
    let mut buf = [0u8; 1500];
    for receiver in [&mut b, &mut c] {
        let n = receiver.quic.dgram_recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], &datagram[..]);
    }
    assert!(
        a.quic.dgram_recv(&mut buf).is_err(),
        "nothing back to the sender"
    );
    let counters = ep.counters();
    assert_eq!(counters.media_datagrams_in, 1);
    assert_eq!(counters.media_datagrams_forwarded, 2);
    assert_eq!(counters.media_datagrams_sent, 2);
    assert_eq!(counters.media_dropped_total(), 0);
    assert!(pumped.transmits.iter().all(|(to, _)| *to != RELAY));
}

#[test]
fn shutdown_hangs_up_everyone_refuses_newcomers_and_stops() {
    let t0 = origin();
    let mut ep = endpoint(0, 1, t0, |_| {});
    let (mut a, mut b) = (
        TestClient::connect("room", 1),
        TestClient::connect("room", 2),
    );
    for client in [&mut a, &mut b] {
        let offer = client.offer(2, false);
        join(&mut ep, client, offer, t0);
    }
    ep.handle_directive(t0 + MS, Directive::Shutdown);
    pump(&mut ep, &mut [&mut a, &mut b], t0 + MS);
    assert_eq!(hangups(&a), vec![HangupReason::Normal]);
    assert_eq!(hangups(&b), vec![HangupReason::Normal]);
    assert!(!ep.is_stopped());

    let mut late = TestClient::connect("room", 3);
    let refused = pump(&mut ep, &mut [&mut late], t0 + 2 * MS);
    assert!(refused.transmits.iter().all(|(to, _)| *to != late.addr));
    assert_eq!(ep.counters().connections_accepted, 2, "no new connection");

    ep.handle_timeout(t0 + MS + HANGUP_LINGER);
    pump(&mut ep, &mut [&mut a, &mut b], t0 + MS + HANGUP_LINGER);
    assert_eq!((a.close_code(), b.close_code()), (Some(0), Some(0)));

    // quiche drains on its own clock; the grace ends the wait on the endpoint's.
    ep.handle_timeout(t0 + MS + 1_999 * MS);
    assert!(!ep.is_stopped());
    ep.handle_timeout(t0 + MS + 2_000 * MS);
    let stopped = pump(&mut ep, &mut [], t0 + MS + 2_000 * MS);
    assert!(ep.is_stopped());
    assert!(
        matches!(stopped.events.last(), Some(ShardEvent::Counters { .. })),
        "the final counters are reported"
    );
}
