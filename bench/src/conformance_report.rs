//! What a run with abusive participants (`--abuser`) shows of the relay's conformance: for each
//! abuser, the time from its first media datagram to the relay's Hangup and the
//! PolicyViolation code it named; for the legitimate participants, any PolicyViolation at all
//! (a good run has none), any other Hangup, and any error.

use crate::run::ParticipantResult;
use serde::Serialize;
use std::fmt::Write as _;
use switchyard_proto::signal::HangupReason;

/// One abusive participant.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AbuserOutcome {
    pub index: u32,
    pub room: u32,
    pub profile: String,
    /// The first two groups of its fingerprint.
    pub fingerprint: String,
    pub joined: bool,
    /// The PolicyViolation code of the Hangup it got (or the Hangup's other reason).
    pub hangup: Option<String>,
    /// From its first media datagram to the Hangup.
    pub time_to_hangup_ms: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConformanceSummary {
    pub abusers: Vec<AbuserOutcome>,
    pub legitimate: u32,
    /// Legitimate participants hung up with PolicyViolation: must be 0.
    pub legitimate_policy_violations: u32,
    /// Legitimate participants that got any other Hangup, or ended with an error.
    pub legitimate_other_hangups: u32,
    pub legitimate_errors: u32,
}

/// `None` when the run had no abusive participant.
pub fn summarize_conformance(results: &[ParticipantResult]) -> Option<ConformanceSummary> {
    if !results.iter().any(|r| r.abusive) {
        return None;
    }
    let abusers = results
        .iter()
        .filter(|r| r.abusive)
        .map(|r| AbuserOutcome {
            index: r.index,
            room: r.room,
            profile: format!("{:?}", r.profile).to_lowercase(),
            fingerprint: r
                .fingerprint
                .split(':')
                .take(2)
                .collect::<Vec<_>>()
                .join(":"),
            joined: r.joined,
            hangup: r.hangup.as_ref().map(|h| match h {
                HangupReason::PolicyViolation { code, .. } => format!("{code:?}"),
                other => format!("{other:?}"),
            }),
            time_to_hangup_ms: match (r.first_media_at, r.hangup_at) {
                (Some(first), Some(hangup)) => {
                    Some(hangup.saturating_sub(first).as_secs_f64() * 1000.0)
                }
                _ => None,
            },
        })
        .collect();
    let legitimate: Vec<&ParticipantResult> = results.iter().filter(|r| !r.abusive).collect();
    let policy =
        |r: &ParticipantResult| matches!(r.hangup, Some(HangupReason::PolicyViolation { .. }));
    Some(ConformanceSummary {
        abusers,
        legitimate: legitimate.len() as u32,
        legitimate_policy_violations: legitimate.iter().filter(|r| policy(r)).count() as u32,
        legitimate_other_hangups: legitimate
            .iter()
            .filter(|r| r.hangup.is_some() && !policy(r))
            .count() as u32,
        legitimate_errors: legitimate.iter().filter(|r| r.error.is_some()).count() as u32,
    })
}

/// The human-readable section printed after the main table.
pub fn conformance_table(s: &ConformanceSummary) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "conformance: {} abusive participants", s.abusers.len());
    let _ = writeln!(
        out,
        "  {:>5} {:>5}  {:<12} {:<10} {:>14}  hangup",
        "index", "room", "profile", "identity", "to hangup (ms)"
    );
    for a in &s.abusers {
        let _ = writeln!(
            out,
            "  {:>5} {:>5}  {:<12} {:<10} {:>14}  {}",
            a.index,
            a.room,
            a.profile,
            a.fingerprint,
            a.time_to_hangup_ms
                .map_or_else(|| "-".to_owned(), |ms| format!("{ms:.1}")),
            a.hangup.as_deref().unwrap_or(if a.joined {
                "not hung up"
            } else {
                "never joined"
            }),
        );
    }
    let _ = writeln!(
        out,
        "  legitimate participants {}: PolicyViolation hang-ups {}, other hang-ups {}, errors {}",
        s.legitimate,
        s.legitimate_policy_violations,
        s.legitimate_other_hangups,
        s.legitimate_errors
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::Profile;
    use std::time::Duration;
    use switchyard_proto::signal::ViolationCode;

    fn result(index: u32, abusive: bool) -> ParticipantResult {
        let mut r = ParticipantResult::new(index, 4, format!("aaaa:bb{index:02}:cccc:dddd"));
        r.joined = true;
        r.abusive = abusive;
        r
    }

    #[test]
    fn abusers_get_their_time_to_hangup_and_legitimate_violations_are_counted() {
        let mut tunnel = result(3, true);
        tunnel.profile = Profile::Tunnel;
        tunnel.first_media_at = Some(Duration::from_millis(1_000));
        tunnel.hangup_at = Some(Duration::from_millis(1_012));
        tunnel.hangup = Some(HangupReason::PolicyViolation {
            code: ViolationCode::PayloadSize,
            reason: "Tier G enforcement: PayloadSize".into(),
        });
        let mut covert = result(7, true);
        covert.profile = Profile::Covert;
        covert.first_media_at = Some(Duration::from_millis(900));
        let mut flagged = result(8, false);
        flagged.hangup = Some(HangupReason::PolicyViolation {
            code: ViolationCode::Bitrate,
            reason: "x".into(),
        });
        let mut busy = result(9, false);
        busy.hangup = Some(HangupReason::Busy);
        busy.error = Some("closed".into());
        let results = vec![result(0, false), tunnel, covert, flagged, busy];

        let s = summarize_conformance(&results).expect("abusers");
        assert_eq!(s.abusers.len(), 2);
        let t = &s.abusers[0];
        assert_eq!(
            (t.index, t.room, t.profile.as_str(), t.fingerprint.as_str()),
            (3, 0, "tunnel", "aaaa:bb03")
        );
        assert_eq!(t.hangup.as_deref(), Some("PayloadSize"));
        assert!((t.time_to_hangup_ms.unwrap() - 12.0).abs() < 1e-9);
        assert_eq!(
            (s.abusers[1].hangup.clone(), s.abusers[1].time_to_hangup_ms),
            (None, None)
        );
        assert_eq!(
            (
                s.legitimate,
                s.legitimate_policy_violations,
                s.legitimate_other_hangups,
                s.legitimate_errors
            ),
            (3, 1, 1, 1)
        );
        let text = conformance_table(&s);
        assert!(
            text.contains("conformance: 2 abusive participants"),
            "{text}"
        );
        assert!(
            text.contains("tunnel       aaaa:bb03            12.0  PayloadSize"),
            "{text}"
        );
        assert!(
            text.contains("covert       aaaa:bb07               -  not hung up"),
            "{text}"
        );
        assert!(
            text.contains(
                "legitimate participants 3: PolicyViolation hang-ups 1, other hang-ups 1, errors 1"
            ),
            "{text}"
        );
    }

    #[test]
    fn a_run_without_abusers_has_no_section() {
        assert_eq!(summarize_conformance(&[result(0, false)]), None);
    }
}
