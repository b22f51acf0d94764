//! Tier G on the endpoint: each response (hang-up by an enforcing tier, throttle and hang-up
//! by the scorers' verdicts), the local cool-down and its expiry, and a ban from the control
//! plane and its expiry.

use super::super::CLOSE_POLICY_VIOLATION;
use super::support::{endpoint, join, join_all, opus24k, pump, TestClient, MS};
use crate::conformance::verdict::VerdictConfig;
use crate::conformance::{ConformanceConfig, Mode};
use crate::identity::Identity;
use crate::Endpoint;
use std::time::{Duration, Instant};
use switchyard_proto::bans::BanPolicy;
use switchyard_proto::control::{Ban, BanKind, Directive, ShardEvent};
use switchyard_proto::signal::{HangupReason, SignalMessage, ViolationCode};
use switchyard_testclock::origin;

const SECOND: Duration = Duration::from_secs(1);

fn policy_hangups(client: &TestClient) -> Vec<(ViolationCode, String)> {
    client
        .messages
        .iter()
        .filter_map(|m| match m {
            SignalMessage::Hangup {
                reason: HangupReason::PolicyViolation { code, reason },
                ..
            } => Some((*code, reason.clone())),
            _ => None,
        })
        .collect()
}

fn received(client: &mut TestClient) -> usize {
    let mut buf = [0u8; 1500];
    let mut n = 0;
    while client.quic.dgram_recv(&mut buf).is_ok() {
        n += 1;
    }
    n
}

/// A new connection (address `n`) with the identity of client `as_client`.
fn same_identity(room: &str, n: u16, as_client: u16) -> TestClient {
    let mut c = TestClient::connect(room, n);
    c.identity = Identity::from_secret([u8::try_from(as_client).unwrap() + 1; 32]);
    c
}

fn bans(cooldown_s: u64) -> BanPolicy {
    BanPolicy {
        cooldown: Duration::from_secs(cooldown_s),
        block: Duration::from_secs(cooldown_s * 24),
        capacity: 16,
    }
}

fn enforcing(scorers: Mode, verdict: VerdictConfig) -> ConformanceConfig {
    ConformanceConfig {
        modes: [Mode::Enforce; 5],
        scorers,
        verdict,
        bans: bans(60),
    }
}

/// Suspect below 0.65 after 5 s; Abusive below `abusive_below` after `abusive_after_s`.
fn quick_verdict(abusive_below: f64, abusive_after_s: u64) -> VerdictConfig {
    VerdictConfig {
        suspect_below: 0.65,
        suspect_sustain: Duration::from_secs(5),
        abusive_below,
        abusive_sustain: Duration::from_secs(abusive_after_s),
    }
}

/// An endpoint configured with `conformance`, and two clients joined to one room.
fn pair_under(conformance: ConformanceConfig, t0: Instant) -> (Endpoint, TestClient, TestClient) {
    let mut ep = endpoint(0, 1, t0, |c| c.conformance = conformance);
    let (mut a, mut b) = (
        TestClient::connect("room", 1),
        TestClient::connect("room", 2),
    );
    join_all(&mut ep, &mut [&mut a, &mut b], t0);
    (ep, a, b)
}

#[test]
fn an_enforcing_tier_hangs_the_sender_up_and_its_rejoin_is_refused_until_the_cooldown_ends() {
    let t0 = origin();
    let (mut ep, mut a, mut b) = pair_under(enforcing(Mode::Observe, VerdictConfig::default()), t0);
    a.quic.dgram_send(&opus24k(0, 700)).unwrap();
    let pumped = pump(&mut ep, &mut [&mut a, &mut b], t0 + MS);
    pump(&mut ep, &mut [&mut a, &mut b], t0 + MS * 2);

    assert_eq!(
        policy_hangups(&a),
        vec![(
            ViolationCode::PayloadSize,
            "Tier G enforcement: PayloadSize".to_owned()
        )]
    );
    assert_eq!(received(&mut b), 0, "the failing packet was dropped");
    assert_eq!(b.room_updates(), vec![2, 1], "b sees a leave at once");
    let violations: Vec<_> = pumped
        .events
        .iter()
        .filter_map(|e| match e {
            ShardEvent::Violation {
                fingerprint, code, ..
            } => Some((fingerprint.clone(), *code)),
            _ => None,
        })
        .collect();
    assert_eq!(
        violations,
        vec![(a.identity.fingerprint(), ViolationCode::PayloadSize)]
    );
    assert!(pumped
        .events
        .iter()
        .any(|e| matches!(e, ShardEvent::Left { .. })));
    let c = ep.counters();
    assert_eq!(c.conformance_hangups[ViolationCode::PayloadSize.index()], 1);
    assert_eq!(c.conformance_hangups.iter().sum::<u64>(), 1);
    // The connection closes after the Hangup's linger.
    ep.handle_timeout(t0 + SECOND);
    pump(&mut ep, &mut [&mut a, &mut b], t0 + SECOND);
    assert_eq!(a.close_code(), Some(CLOSE_POLICY_VIOLATION));

    // The same identity from a new connection, just before the cool-down ends: refused.
    let at = t0 + MS + Duration::from_secs(60) - MS;
    let mut again = same_identity("room", 3, 1);
    let offer = again.offer(2, false);
    join(&mut ep, &mut again, offer, at);
    pump(&mut ep, &mut [&mut again], at + MS);
    assert!(!again.joined());
    assert_eq!(
        policy_hangups(&again),
        vec![(
            ViolationCode::PayloadSize,
            "cooling down after a policy violation".to_owned()
        )]
    );
    assert_eq!(ep.counters().joins_refused_banned, 1);

    // Once it has ended: joined.
    let after = t0 + MS + Duration::from_secs(60);
    let mut later = same_identity("room", 4, 1);
    let offer = later.offer(2, false);
    join(&mut ep, &mut later, offer, after);
    assert!(later.joined());
    assert!(policy_hangups(&later).is_empty());
}

#[test]
fn a_ban_from_the_control_plane_refuses_the_identity_until_it_ends() {
    let t0 = origin();
    let mut ep = endpoint(0, 1, t0, |c| {
        c.conformance = enforcing(Mode::Observe, VerdictConfig::default());
    });
    let blocked = TestClient::connect("room", 1);
    ep.handle_directive(
        t0,
        Directive::Ban(Box::new(Ban {
            fingerprint: blocked.identity.fingerprint(),
            code: ViolationCode::Bitrate,
            kind: BanKind::Blocked,
            until: t0 + Duration::from_secs(100),
        })),
    );
    assert_eq!(ep.counters().bans_held, 1);
    let mut first = blocked;
    let offer = first.offer(2, false);
    join(&mut ep, &mut first, offer, t0 + SECOND);
    pump(&mut ep, &mut [&mut first], t0 + SECOND + MS);
    assert!(!first.joined());
    assert_eq!(
        policy_hangups(&first),
        vec![(
            ViolationCode::Bitrate,
            "blocked after repeated policy violations".to_owned()
        )]
    );
    // Another identity is not affected.
    let mut other = TestClient::connect("room", 2);
    let offer = other.offer(2, false);
    join(&mut ep, &mut other, offer, t0 + SECOND);
    assert!(other.joined());

    // The ban expires with the once-a-second tick after its end.
    let end = t0 + Duration::from_secs(100);
    ep.handle_timeout(end);
    assert_eq!(ep.counters().bans_held, 0);
    let mut back = same_identity("room", 3, 1);
    let offer = back.offer(2, false);
    join(&mut ep, &mut back, offer, end);
    assert!(back.joined());
}

/// Covert timing: Opus24k every 20 ms, never silent, one size, no trailers: the audio scorer
/// gives 0.55 once it has 100 packets.
fn covert_for(
    ep: &mut Endpoint,
    a: &mut TestClient,
    b: &mut TestClient,
    t0: Instant,
    packets: u32,
    payload: impl Fn(u32) -> usize,
) {
    for seq in 0..packets {
        let at = t0 + MS * (20 * seq + 1);
        a.quic.dgram_send(&opus24k(seq, payload(seq))).unwrap();
        pump(ep, &mut [&mut *a, &mut *b], at);
        ep.handle_timeout(at);
    }
}

#[test]
fn a_suspect_sender_is_throttled_and_its_excess_dropped_and_counted() {
    let t0 = origin();
    let verdict = quick_verdict(0.3, 60);
    let (mut ep, mut a, mut b) = pair_under(enforcing(Mode::Enforce, verdict), t0);
    // 10 s at a steady 60 B: scored 0.55 from the 100th packet (2 s), Suspect 5 s later.
    covert_for(&mut ep, &mut a, &mut b, t0, 500, |_| 60);
    let c = ep.counters();
    assert_eq!(c.conformance_suspect, 1);
    assert_eq!(
        c.conformance_throttled, 0,
        "60 B at 50/s is within 4,400 B/s"
    );
    assert_eq!(received(&mut b), 500);

    // Now 140 B frames (7,800 B/s): over the throttle once its 2 s burst is spent. Nothing
    // fails Tiers A-E (Tier D's EWMA stays under 320 B), so only the throttle drops.
    let later = t0 + Duration::from_secs(10);
    covert_for(&mut ep, &mut a, &mut b, later, 250, |_| 140);
    let c = ep.counters();
    assert!(c.conformance_throttled > 50, "{}", c.conformance_throttled);
    assert_eq!(c.conformance_dropped, 0, "no tier A-E dropped anything");
    assert_eq!(c.conformance_hangups.iter().sum::<u64>(), 0);
    assert_eq!(
        received(&mut b) as u64,
        250 - c.conformance_throttled,
        "every other packet arrived"
    );
    assert!(policy_hangups(&a).is_empty(), "throttled, not hung up");
}

#[test]
fn observing_scorers_count_the_verdict_and_throttle_nothing() {
    let t0 = origin();
    let verdict = quick_verdict(0.6, 5);
    let (mut ep, mut a, mut b) = pair_under(enforcing(Mode::Observe, verdict), t0);
    covert_for(&mut ep, &mut a, &mut b, t0, 500, |_| 60);
    covert_for(
        &mut ep,
        &mut a,
        &mut b,
        t0 + Duration::from_secs(10),
        250,
        |_| 140,
    );
    let c = ep.counters();
    assert_eq!((c.conformance_suspect, c.conformance_abusive), (0, 1));
    assert_eq!(c.conformance_throttled, 0);
    assert!(policy_hangups(&a).is_empty());
    assert_eq!(received(&mut b), 750);
}

#[test]
fn an_abusive_verdict_hangs_the_sender_up_with_entropy() {
    let t0 = origin();
    // Thresholds that make covert timing (0.55) abusive after 5 s.
    let verdict = quick_verdict(0.6, 5);
    let (mut ep, mut a, mut b) = pair_under(enforcing(Mode::Enforce, verdict), t0);
    covert_for(&mut ep, &mut a, &mut b, t0, 500, |_| 60);
    assert_eq!(
        policy_hangups(&a),
        vec![(
            ViolationCode::Entropy,
            "Tier G enforcement: Entropy".to_owned()
        )]
    );
    let c = ep.counters();
    assert_eq!(c.conformance_hangups[ViolationCode::Entropy.index()], 1);
    assert_eq!(b.room_updates().last(), Some(&1));
    // Hung up at the first tick with the verdict (7 s: 0.55 from 2 s, 5 s sustained); its
    // packets after that are not forwarded.
    let got = received(&mut b);
    assert!((345..=355).contains(&got), "{got}");
}
