//! The join handshake refuses what it must, with a typed Hangup and a close code:
//! protocol_version 1, a bad CallOffer signature, a missing or wrong AuthToken.

use std::sync::Arc;
use std::time::Duration;
use switchyard_proto::signal::HangupReason;
use switchyard_tests::{counters, load, relay_options, run_load, start};

#[test]
fn version_1_and_bad_signatures_are_refused_with_typed_hangups() {
    let mut relay = start(relay_options("handshake"));
    let mut config = load(&relay, 3, 1, Duration::from_millis(300));
    config.tweak = Some(Arc::new(|index, plan| match index {
        0 => plan.client.protocol_version = 1,
        1 => plan.client.tamper_signature = true,
        _ => {}
    }));
    let results = run_load(&config);

    let v1 = &results[0];
    assert!(!v1.joined);
    assert_eq!(
        v1.hangup,
        Some(HangupReason::ProtocolVersionMismatch {
            server_supported: vec![2]
        })
    );
    assert_eq!(
        v1.peer_error.as_ref().map(|e| (e.0, e.1)),
        Some((true, 0x102))
    );

    let forged = &results[1];
    assert!(!forged.joined);
    assert_eq!(forged.hangup, Some(HangupReason::Error));
    assert_eq!(
        forged.peer_error.as_ref().map(|e| (e.0, e.1)),
        Some((true, 0x103))
    );

    assert!(results[2].joined, "a valid v2 offer still joins");

    let snap = counters(&mut relay);
    assert_eq!(snap.total.version_rejected, 1);
    assert_eq!(snap.total.signature_rejected, 1);
    assert_eq!(snap.total.handshakes_completed, 1);
    relay.stop();
}

#[test]
fn auth_gate_rejects_missing_and_wrong_tokens() {
    let mut options = relay_options("auth");
    options.auth_tokens = vec!["s3cret".into()];
    let mut relay = start(options);
    let mut config = load(&relay, 3, 1, Duration::from_millis(300));
    config.tweak = Some(Arc::new(|index, plan| {
        plan.client.auth_token = match index {
            0 => None,
            1 => Some("guess".into()),
            _ => Some("s3cret".into()),
        }
    }));
    let results = run_load(&config);
    for r in &results[..2] {
        assert!(
            !r.joined,
            "participant {} joined without a valid token",
            r.index
        );
        assert_eq!(r.hangup, Some(HangupReason::Declined));
        assert_eq!(
            r.peer_error.as_ref().map(|e| (e.0, e.1)),
            Some((true, 0x101))
        );
    }
    assert!(results[2].joined, "the right token joins");
    let snap = counters(&mut relay);
    assert_eq!(snap.total.auth_rejected, 2);
    assert_eq!(snap.total.handshakes_completed, 1);
    relay.stop();
}
