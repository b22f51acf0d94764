//! Relay-judged quality through a real relay over loopback: the shards' samples cross the
//! event rings to the control-plane thread, its judge's order crosses back on the directive
//! ring, and the owner shard signals every member of the room.

use std::time::Duration;
use switchyard_bench::impair::Impairment;
use switchyard_bench::quality::QualityKind;
use switchyard_bench::run::PathPlan;
use switchyard_proto::Tier;
use switchyard_tests::{counters, load, relay_options, run_load, start};

#[test]
fn a_lossy_participant_gets_its_room_and_only_its_room_directed_down() {
    let mut relay = start(relay_options("quality"));
    let mut config = load(&relay, 2, 4, Duration::from_secs(7));
    let lossy = Impairment {
        loss: 0.10,
        ..Impairment::none()
    };
    config.paths = PathPlan {
        uplink: lossy,
        downlink: lossy,
        rooms: vec![0],
        slot: Some(3),
        impair_after: Some(Duration::from_secs(1)),
        ..PathPlan::default()
    };
    let results = run_load(&config);
    let onset = results[3]
        .impairment_onset
        .expect("participant 3 is impaired");
    for r in &results[..4] {
        assert!(
            r.joined,
            "participant {} did not join: {:?}",
            r.index, r.error
        );
        let degraded = r
            .quality
            .iter()
            .find(|q| q.kind == QualityKind::Directive && q.tier == Tier::Degraded)
            .unwrap_or_else(|| panic!("participant {} was not directed: {:?}", r.index, r.quality));
        assert!(
            degraded.at > onset && degraded.at - onset <= Duration::from_secs(5),
            "participant {}: {:?} after the onset",
            r.index,
            degraded.at.checked_sub(onset)
        );
        assert_eq!(degraded.reason.as_deref(), Some("weakest link: Degraded"));
    }
    for r in &results[4..] {
        assert!(r.joined);
        assert!(
            r.quality.is_empty(),
            "participant {}: {:?}",
            r.index,
            r.quality
        );
    }
    let snap = counters(&mut relay);
    assert!(snap.quality.directives >= 4, "{:?}", snap.quality);
    assert_eq!(snap.quality_orders_dropped, 0);
    let t = &snap.total;
    assert_eq!(t.quality_directives_sent, snap.quality.directives);
    assert!(t.quality_samples >= 8 * 5, "samples: {}", t.quality_samples);
    assert!(
        t.quality_reports_in >= 8 * 4,
        "trailers: {}",
        t.quality_reports_in
    );
    assert_eq!(t.quality_samples_dropped, 0);
    relay.stop();
}
