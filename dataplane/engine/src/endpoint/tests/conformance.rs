//! Conformance on the endpoint's packet path: an observing tier counts and forwards, an
//! enforcing one counts, drops and (Tier G, `policy.rs`) hangs the sender up.

use super::support::{endpoint, join_all, opus24k, pump, TestClient, MS};
use crate::conformance::{ConformanceConfig, Mode};
use switchyard_proto::codec::CodecId;
use switchyard_testclock::origin;

/// Runs a stuffed sender (one 700 B payload) and a normal one past a relay in `mode`; what
/// the receiver got and the relay's counters.
fn stuffed_under(mode: Mode) -> (usize, u64, u64) {
    let t0 = origin();
    let mut ep = endpoint(0, 1, t0, |c| {
        c.conformance = ConformanceConfig {
            modes: [mode; 5],
            ..ConformanceConfig::default()
        }
    });
    let (mut a, mut b) = (
        TestClient::connect("room", 1),
        TestClient::connect("room", 2),
    );
    join_all(&mut ep, &mut [&mut a, &mut b], t0);
    a.quic.dgram_send(&opus24k(0, 700)).unwrap();
    a.quic.dgram_send(&opus24k(1, 60)).unwrap();
    pump(&mut ep, &mut [&mut a, &mut b], t0 + MS);
    let mut buf = [0u8; 1500];
    let mut received = 0;
    while b.quic.dgram_recv(&mut buf).is_ok() {
        received += 1;
    }
    let c = ep.counters();
    let d = c.conformance_violations[CodecId::Opus24k.index()][3];
    (received, d, c.conformance_dropped)
}

#[test]
fn an_observing_tier_counts_and_forwards() {
    assert_eq!(
        stuffed_under(Mode::Observe),
        (2, 2, 0),
        "the EWMA stays over 320 B"
    );
}

#[test]
fn an_enforcing_tier_counts_and_drops_and_the_sender_is_gone() {
    assert_eq!(
        stuffed_under(Mode::Enforce),
        (0, 1, 1),
        "the first packet fails D and its sender is hung up: the second is never metered"
    );
}

#[test]
fn a_tier_switched_off_neither_counts_nor_drops() {
    assert_eq!(stuffed_under(Mode::Off), (2, 0, 0));
}

#[test]
fn senders_are_scored_once_a_second_into_the_distribution() {
    let t0 = origin();
    let mut ep = endpoint(0, 1, t0, |_| {});
    let (mut a, mut b) = (
        TestClient::connect("room", 1),
        TestClient::connect("room", 2),
    );
    join_all(&mut ep, &mut [&mut a, &mut b], t0);
    // Covert timing: a constant 20 ms, never a silence, one size. The audio scorer takes 0.25
    // for no silence and 0.10 for no size bimodality: 0.65.
    for seq in 0..30u32 {
        a.quic.dgram_send(&opus24k(seq, 60)).unwrap();
        pump(&mut ep, &mut [&mut a, &mut b], t0 + MS * (20 * seq + 1));
    }
    let at = t0 + std::time::Duration::from_secs(1);
    ep.handle_timeout(at);
    let c = ep.counters();
    let mut expected = [0u64; 10];
    expected[6] = 1;
    assert_eq!(c.conformance_scores, expected, "a scored, b sent nothing");
    assert_eq!(
        (c.conformance_suspect, c.conformance_abusive),
        (0, 0),
        "no verdict before 30 s"
    );
}
