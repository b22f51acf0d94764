//! What one connection may hold: its outgoing datagram queue in bytes, its signal streams and
//! their unfinished frames.

use super::support::{endpoint, join, opus24k, pump, TestClient, MS};
use crate::endpoint::{Endpoint, EndpointConfig, SIGNAL_BEFORE_JOIN};
use std::time::Duration;
use switchyard_proto::control::ShardId;
use switchyard_proto::signal::{HangupReason, SignalMessage};
use switchyard_testclock::origin;

const QUEUE_BYTES: usize = 32 * 1024;

#[test]
fn a_stalled_receivers_queue_stays_under_its_byte_bound_while_the_others_get_everything() {
    let t0 = origin();
    let mut ep = endpoint(0, 1, t0, |c| c.datagram_queue_bytes = QUEUE_BYTES);
    let (mut sender, mut listener, mut stalled) = (
        TestClient::connect("room", 1),
        TestClient::connect("room", 2),
        TestClient::connect("room", 3),
    );
    for client in [&mut sender, &mut listener, &mut stalled] {
        let offer = client.offer(2, false);
        join(&mut ep, client, offer, t0);
    }
    pump(&mut ep, &mut [&mut sender, &mut listener, &mut stalled], t0);
    let stalled_key = *ep.members.values().last().unwrap();

    // The stalled receiver stops reading: its packets are lost and its window closes, so
    // the relay's queue to it only grows, while the listener reads everything.
    let sent = 300u32;
    let mut buf = [0u8; 1500];
    let mut heard = Vec::new();
    let mut sent_bytes = Vec::new();
    let mut peak = 0;
    for seq in 0..sent {
        let datagram = opus24k(seq, 1_000);
        sender.quic.dgram_send(&datagram).unwrap();
        sent_bytes.push(datagram);
        pump(&mut ep, &mut [&mut sender, &mut listener], t0 + MS);
        while let Ok(n) = listener.quic.dgram_recv(&mut buf) {
            heard.push(buf[..n].to_vec());
        }
        let queued = ep
            .conns
            .get(stalled_key)
            .unwrap()
            .quic
            .dgram_send_queue_byte_size();
        peak = peak.max(queued);
    }
    assert_eq!(
        heard, sent_bytes,
        "the listener got every datagram, in order"
    );
    assert!(peak <= QUEUE_BYTES, "the stalled queue peaked at {peak} B");
    assert!(
        peak > QUEUE_BYTES - 2_000,
        "it did fill up to the bound: {peak} B"
    );
    let c = ep.counters();
    assert!(
        ep.conns.datagrams_purged > 200,
        "{}",
        ep.conns.datagrams_purged
    );
    assert_eq!(c.forward_queue_full, 0, "purged, not refused");
}

/// The start of a frame declaring `declared` bytes: its length prefix and `body` bytes of it.
fn partial_frame(declared: u32, body: usize) -> Vec<u8> {
    let mut bytes = declared.to_be_bytes().to_vec();
    bytes.resize(4 + body, b' ');
    bytes
}

/// A connected client that has not sent its offer, on an endpoint of its own.
fn connected() -> (Endpoint, TestClient) {
    let t0 = origin();
    let mut ep = endpoint(0, 1, t0, |_| {});
    let mut client = TestClient::connect("room", 1);
    pump(&mut ep, &mut [&mut client], t0);
    assert!(client.quic.is_established());
    (ep, client)
}

fn hangup_reasons(client: &TestClient) -> Vec<HangupReason> {
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
fn before_the_join_a_third_half_read_stream_ends_the_session() {
    let t0 = origin();
    let (mut ep, mut client) = connected();
    for stream in [4, 8] {
        client
            .quic
            .stream_send(stream, &partial_frame(100, 10), false)
            .unwrap();
    }
    pump(&mut ep, &mut [&mut client], t0);
    assert!(
        hangup_reasons(&client).is_empty(),
        "two are within the budget"
    );
    client
        .quic
        .stream_send(12, &partial_frame(100, 10), false)
        .unwrap();
    pump(&mut ep, &mut [&mut client], t0);
    assert_eq!(hangup_reasons(&client), vec![HangupReason::Error]);
    assert_eq!(ep.counters().signal_streams_over_budget, 1);
}

/// Sends all of `bytes` on `stream`, pumping while quiche's windows take it in parts.
fn send_all(ep: &mut Endpoint, client: &mut TestClient, stream: u64, mut bytes: &[u8]) {
    let t0 = origin();
    for _ in 0..100 {
        let n = client.quic.stream_send(stream, bytes, false).unwrap_or(0);
        bytes = &bytes[n..];
        pump(ep, &mut [&mut *client], t0);
        if bytes.is_empty() {
            return;
        }
    }
    panic!("{} bytes never left", bytes.len());
}

#[test]
fn before_the_join_a_frame_over_the_byte_budget_ends_the_session() {
    let (mut ep, mut client) = connected();
    let budget = SIGNAL_BEFORE_JOIN.buffered_bytes;
    send_all(&mut ep, &mut client, 4, &partial_frame(100_000, budget - 4));
    assert!(hangup_reasons(&client).is_empty(), "at the budget exactly");
    send_all(&mut ep, &mut client, 4, b"x");
    assert_eq!(hangup_reasons(&client), vec![HangupReason::Error]);
    assert_eq!(ep.counters().signal_streams_over_budget, 1);
}

#[test]
fn a_frame_left_unfinished_before_the_join_is_hung_up_at_its_deadline() {
    let t0 = origin();
    let (mut ep, mut client) = connected();
    client
        .quic
        .stream_send(4, &partial_frame(100, 10), false)
        .unwrap();
    pump(&mut ep, &mut [&mut client], t0);
    let deadline = EndpointConfig::new(ShardId(0), 1, [0; 32]).signal_frame_deadline;
    // A byte a second keeps the frame unfinished; the deadline runs from its start.
    let mut now = t0;
    while now + Duration::from_secs(1) < t0 + deadline {
        now += Duration::from_secs(1);
        client.quic.stream_send(4, b" ", false).unwrap();
        ep.handle_timeout(now);
        pump(&mut ep, &mut [&mut client], now);
    }
    assert!(hangup_reasons(&client).is_empty());
    ep.handle_timeout(t0 + deadline);
    pump(&mut ep, &mut [&mut client], t0 + deadline);
    assert_eq!(hangup_reasons(&client), vec![HangupReason::Error]);
    assert_eq!(ep.counters().signal_frames_abandoned, 1);
}

#[test]
fn once_joined_more_streams_fit_and_an_unfinished_frame_is_given_up_without_a_hangup() {
    let t0 = origin();
    let (mut ep, mut client) = connected();
    let offer = client.offer(2, false);
    join(&mut ep, &mut client, offer, t0);
    assert!(client.joined());
    for stream in [8, 12, 16, 20] {
        client
            .quic
            .stream_send(stream, &partial_frame(100, 10), false)
            .unwrap();
    }
    pump(&mut ep, &mut [&mut client], t0);
    assert_eq!(
        ep.counters().signal_streams_over_budget,
        0,
        "4 fit once joined"
    );
    let deadline = EndpointConfig::new(ShardId(0), 1, [0; 32]).signal_frame_deadline;
    ep.handle_timeout(t0 + deadline);
    pump(&mut ep, &mut [&mut client], t0 + deadline);
    assert_eq!(ep.counters().signal_frames_abandoned, 4);
    assert!(hangup_reasons(&client).is_empty(), "a member stays");
    assert_eq!(ep.members.len(), 1);
    assert_eq!(
        ep.counters().signal_frame_errors,
        [0; 5],
        "the client's FIN on the relay's own streams is no frame"
    );
}
