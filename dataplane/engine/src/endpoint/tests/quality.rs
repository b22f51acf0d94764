//! The endpoint's side of relay-judged quality: samples out on the timer, orders in, answers
//! and capabilities out as events.

use super::support::{endpoint, join_all, pump, TestClient, MS};
use crate::Endpoint;
use std::time::{Duration, Instant};
use switchyard_proto::codec::{CodecId, MediaType};
use switchyard_proto::control::{
    Directive, DirectiveReason, ParticipantId, QualityOrder, QualitySignal, ShardEvent, ShardId,
};
use switchyard_proto::media::{Flags, MediaHeader, QualityReport};
use switchyard_proto::signal::{QualityProfile, SignalMessage};
use switchyard_proto::Tier;
use switchyard_testclock::origin;

fn id(serial: u64) -> ParticipantId {
    ParticipantId::new(ShardId(0), serial)
}

fn media(media_type: MediaType, seq: u32, quality: Option<QualityReport>) -> Vec<u8> {
    let header = MediaHeader {
        flags: Flags::empty(),
        media_type,
        codec: if media_type == MediaType::Video {
            CodecId::H264Baseline
        } else {
            CodecId::Opus24k
        },
        stream_id: 0,
        fec_ratio: 0,
        seq,
        timestamp: seq * 20,
        fec_block: 0,
    };
    let mut datagram = Vec::new();
    header.encode(b"opaque payload", quality, &mut datagram);
    datagram
}

/// Joins `clients` to their rooms on a one-shard endpoint, in order (serials 0, 1, ...).
fn joined(t0: Instant, clients: &mut [&mut TestClient]) -> Endpoint {
    let mut ep = endpoint(0, 1, t0, |_| {});
    join_all(&mut ep, clients, t0);
    ep
}

fn quality_events(
    events: &[ShardEvent],
) -> Vec<(ParticipantId, switchyard_proto::control::QualitySample)> {
    events
        .iter()
        .filter_map(|e| match e {
            ShardEvent::Quality {
                participant,
                sample,
            } => Some((*participant, *sample)),
            _ => None,
        })
        .collect()
}

fn order(room: &str, signals: Vec<(ParticipantId, QualitySignal)>) -> Directive {
    Directive::Quality(Box::new(QualityOrder {
        room: room.into(),
        signals,
    }))
}

/// Quality messages a client received, in order.
fn quality_messages(client: &TestClient) -> Vec<SignalMessage> {
    client
        .messages
        .iter()
        .filter(|m| {
            matches!(
                m,
                SignalMessage::QualityDirective { .. }
                    | SignalMessage::UpgradeProposal { .. }
                    | SignalMessage::UpgradeConfirm { .. }
            )
        })
        .cloned()
        .collect()
}

#[test]
fn every_joined_participant_is_sampled_once_per_interval_with_its_newest_trailer() {
    let t0 = origin();
    let (mut a, mut b) = (
        TestClient::connect("room", 1),
        TestClient::connect("room", 2),
    );
    let mut ep = joined(t0, &mut [&mut a, &mut b]);
    let report = |loss| QualityReport {
        loss,
        rtt_4ms: 10,
        jitter_ms: 3,
        bitrate_cap_kbps: 200,
    };
    a.quic
        .dgram_send(&media(MediaType::Audio, 1, Some(report(25))))
        .unwrap();
    a.quic
        .dgram_send(&media(MediaType::Audio, 2, None))
        .unwrap();
    a.quic
        .dgram_send(&media(MediaType::Audio, 3, Some(report(51))))
        .unwrap();
    pump(&mut ep, &mut [&mut a, &mut b], t0 + MS);
    assert_eq!(ep.counters().quality_reports_in, 2);

    ep.handle_timeout(t0 + Duration::from_millis(999));
    let early = pump(
        &mut ep,
        &mut [&mut a, &mut b],
        t0 + Duration::from_millis(999),
    );
    assert!(
        quality_events(&early.events).is_empty(),
        "not before the interval"
    );

    let at = t0 + Duration::from_secs(1);
    ep.handle_timeout(at);
    let samples = quality_events(&pump(&mut ep, &mut [&mut a, &mut b], at).events);
    let ids: Vec<ParticipantId> = samples.iter().map(|(p, _)| *p).collect();
    assert_eq!(ids, vec![id(0), id(1)], "one each, in participant order");
    let a_report = samples[0].1.report.expect("a sent trailers");
    assert!(
        (a_report.loss_pct - 20.0).abs() < 1e-3,
        "the newest trailer wins"
    );
    assert_eq!((a_report.rtt_ms, a_report.jitter_ms), (40, 3));
    assert_eq!(samples[1].1.report, None, "b sent none");
    for (_, sample) in &samples {
        let path = sample.path.expect("the active path's figures");
        assert!(path.sent > 0, "the relay sent to everyone: {path:?}");
    }

    let next = at + Duration::from_secs(1);
    ep.handle_timeout(next);
    let again = quality_events(&pump(&mut ep, &mut [&mut a, &mut b], next).events);
    assert_eq!(again.len(), 2);
    assert_eq!(again[0].1.report, None, "a trailer is reported once");
    assert_eq!(ep.counters().quality_samples, 4);
}

#[test]
fn an_order_reaches_only_participants_joined_to_the_room_it_names() {
    let t0 = origin();
    let mut a = TestClient::connect("room", 1);
    let mut b = TestClient::connect("room", 2);
    let mut c = TestClient::connect("other", 3);
    let mut ep = joined(t0, &mut [&mut a, &mut b, &mut c]);
    let degraded = QualitySignal::Directive {
        tier: Tier::Degraded,
        reason: DirectiveReason::WeakestLink,
    };
    ep.handle_directive(
        t0 + MS,
        order(
            "room",
            vec![
                (id(0), degraded),
                (
                    id(1),
                    QualitySignal::Proposal {
                        proposal_id: 7,
                        tier: Tier::Good,
                    },
                ),
                (id(2), degraded),
                (id(99), degraded),
            ],
        ),
    );
    pump(&mut ep, &mut [&mut a, &mut b, &mut c], t0 + MS);
    assert_eq!(
        quality_messages(&a),
        vec![SignalMessage::QualityDirective {
            version: 1,
            recommended_profile: QualityProfile::DEGRADED,
            reason: Some("weakest link: Degraded".into()),
        }]
    );
    assert_eq!(
        quality_messages(&b),
        vec![SignalMessage::UpgradeProposal {
            version: 1,
            call_id: "room".into(),
            proposal_id: 7,
            proposed_profile: QualityProfile::GOOD,
            local_loss_pct: None,
            local_rtt_ms: None,
        }]
    );
    assert!(quality_messages(&c).is_empty(), "c is in another room");
    let counters = ep.counters();
    assert_eq!(
        (
            counters.quality_directives_sent,
            counters.upgrade_proposals_sent,
            counters.quality_signals_stale
        ),
        (1, 1, 2)
    );

    b.send(&SignalMessage::hangup(
        switchyard_proto::signal::HangupReason::Normal,
    ));
    pump(&mut ep, &mut [&mut a, &mut b, &mut c], t0 + 2 * MS);
    let confirm = |p| {
        (
            p,
            QualitySignal::Confirm {
                proposal_id: 7,
                tier: Tier::Good,
            },
        )
    };
    ep.handle_directive(
        t0 + 3 * MS,
        order("room", vec![confirm(id(0)), confirm(id(1))]),
    );
    pump(&mut ep, &mut [&mut a, &mut b, &mut c], t0 + 3 * MS);
    assert_eq!(
        quality_messages(&a).last(),
        Some(&SignalMessage::UpgradeConfirm {
            version: 1,
            call_id: "room".into(),
            proposal_id: 7,
            confirmed_profile: QualityProfile::GOOD,
        })
    );
    assert_eq!(
        quality_messages(&b).len(),
        1,
        "the leaver gets nothing more"
    );
    assert_eq!(ep.counters().quality_signals_stale, 3);
    assert_eq!(ep.counters().upgrade_confirms_sent, 1);
}

#[test]
fn a_room_carrying_video_is_directed_with_the_tiers_video_fields() {
    let t0 = origin();
    let (mut a, mut b) = (
        TestClient::connect("room", 1),
        TestClient::connect("room", 2),
    );
    let mut ep = joined(t0, &mut [&mut a, &mut b]);
    b.quic
        .dgram_send(&media(MediaType::Video, 1, None))
        .unwrap();
    pump(&mut ep, &mut [&mut a, &mut b], t0 + MS);
    let signal = QualitySignal::Directive {
        tier: Tier::Degraded,
        reason: DirectiveReason::WeakestLink,
    };
    ep.handle_directive(t0 + 2 * MS, order("room", vec![(id(0), signal)]));
    pump(&mut ep, &mut [&mut a, &mut b], t0 + 2 * MS);
    let Some(SignalMessage::QualityDirective {
        recommended_profile,
        ..
    }) = quality_messages(&a).pop()
    else {
        panic!("a was directed");
    };
    assert_eq!(recommended_profile, Tier::Degraded.profile_for(true));
    assert_eq!(recommended_profile.video_bitrate_kbps, Some(600));
}

#[test]
fn upgrade_answers_and_capabilities_go_to_the_judge_as_events() {
    let t0 = origin();
    let (mut a, mut b) = (
        TestClient::connect("room", 1),
        TestClient::connect("room", 2),
    );
    let mut ep = joined(t0, &mut [&mut a, &mut b]);
    b.send(&SignalMessage::UpgradeResponse {
        version: 1,
        call_id: "room".into(),
        proposal_id: 4,
        accepted: true,
        reason: None,
    });
    b.send(&SignalMessage::QualityCapability {
        version: 1,
        call_id: String::new(),
        max_profile: QualityProfile::DEGRADED,
        loss_pct: None,
        rtt_ms: None,
    });
    let events = pump(&mut ep, &mut [&mut a, &mut b], t0 + MS).events;
    let quality: Vec<&ShardEvent> = events
        .iter()
        .filter(|e| {
            matches!(
                e,
                ShardEvent::UpgradeAnswer { .. } | ShardEvent::Capability { .. }
            )
        })
        .collect();
    assert_eq!(
        quality,
        vec![
            &ShardEvent::UpgradeAnswer {
                participant: id(1),
                proposal_id: 4,
                accepted: true,
            },
            &ShardEvent::Capability {
                participant: id(1),
                max: Tier::Degraded,
            },
        ]
    );
    let c = ep.counters();
    assert_eq!((c.upgrade_answers_in, c.quality_capabilities_in), (1, 1));
}
