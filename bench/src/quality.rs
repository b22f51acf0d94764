//! The client side of relay-judged quality, as a WZP client would do it: follow the relay's
//! QualityDirective at once, answer its UpgradeProposal (accept, reject, or stay silent, by
//! flag), switch on UpgradeConfirm, and report its own path in the QualityReport trailer.
//!
//! [`QualityFollower`] is pure: a signal message and the time in, what to record, whether to
//! switch the encoder and what to answer out. [`TrailerMeter`] turns quiche's cumulative path
//! counts into the trailer's units (reference 1.5).

use std::time::Duration;
use switchyard_proto::media::QualityReport;
use switchyard_proto::signal::{default_signal_version, QualityProfile, SignalMessage};
use switchyard_proto::Tier;

/// How a participant answers the relay's upgrade proposals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum UpgradeAnswer {
    #[default]
    Accept,
    Reject,
    /// Never answer (a client of this era: the relay must not wait for it forever).
    Ignore,
}

/// Which quality message arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum QualityKind {
    Directive,
    Proposal,
    Confirm,
}

/// One quality message as the participant received it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct QualityReceived {
    /// Since the run's epoch.
    pub at: Duration,
    pub kind: QualityKind,
    pub tier: Tier,
    pub proposal_id: Option<u64>,
    pub reason: Option<String>,
}

/// What to do about one signal message.
#[derive(Debug, Clone, PartialEq)]
pub struct Reaction {
    pub received: QualityReceived,
    /// Switch the encoder to this tier now.
    pub switch_to: Option<Tier>,
    /// Send this answer.
    pub answer: Option<SignalMessage>,
}

/// Follows the relay's quality signals.
#[derive(Debug, Clone)]
pub struct QualityFollower {
    answer: UpgradeAnswer,
}

/// The tier a profile from the relay stands for: by codec, anything else Good (as WZP clients
/// map directives, reference 3.1).
fn tier_of(profile: &QualityProfile) -> Tier {
    Tier::from_profile(profile).unwrap_or(Tier::Good)
}

impl QualityFollower {
    pub fn new(answer: UpgradeAnswer) -> Self {
        Self { answer }
    }

    /// `None` for a message that is not about quality.
    pub fn on_signal(&self, at: Duration, message: &SignalMessage) -> Option<Reaction> {
        let received = |kind, tier, proposal_id, reason: &Option<String>| QualityReceived {
            at,
            kind,
            tier,
            proposal_id,
            reason: reason.clone(),
        };
        Some(match message {
            SignalMessage::QualityDirective {
                recommended_profile,
                reason,
                ..
            } => {
                let tier = tier_of(recommended_profile);
                Reaction {
                    received: received(QualityKind::Directive, tier, None, reason),
                    switch_to: Some(tier),
                    answer: None,
                }
            }
            SignalMessage::UpgradeProposal {
                call_id,
                proposal_id,
                proposed_profile,
                ..
            } => {
                let accepted = match self.answer {
                    UpgradeAnswer::Accept => Some(true),
                    UpgradeAnswer::Reject => Some(false),
                    UpgradeAnswer::Ignore => None,
                };
                Reaction {
                    received: received(
                        QualityKind::Proposal,
                        tier_of(proposed_profile),
                        Some(*proposal_id),
                        &None,
                    ),
                    switch_to: None,
                    answer: accepted.map(|accepted| SignalMessage::UpgradeResponse {
                        version: default_signal_version(),
                        call_id: call_id.clone(),
                        proposal_id: *proposal_id,
                        accepted,
                        reason: None,
                    }),
                }
            }
            SignalMessage::UpgradeConfirm {
                proposal_id,
                confirmed_profile,
                ..
            } => {
                let tier = tier_of(confirmed_profile);
                Reaction {
                    received: received(QualityKind::Confirm, tier, Some(*proposal_id), &None),
                    switch_to: Some(tier),
                    answer: None,
                }
            }
            _ => return None,
        })
    }
}

/// The client's own view of what it sends, in trailer units, from quiche's cumulative counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TrailerMeter {
    sent: usize,
    lost: usize,
}

impl TrailerMeter {
    /// The report for the interval since the previous call.
    pub fn report(&mut self, sent: usize, lost: usize, rtt: Duration) -> QualityReport {
        let sent_now = sent.saturating_sub(self.sent);
        let lost_now = lost.saturating_sub(self.lost);
        self.sent = sent;
        self.lost = lost;
        let fraction = if sent_now == 0 {
            0.0
        } else {
            (lost_now as f64 / sent_now as f64).min(1.0)
        };
        QualityReport {
            loss: (fraction * 255.0).round() as u8,
            rtt_4ms: u8::try_from(rtt.as_millis() / 4).unwrap_or(u8::MAX),
            jitter_ms: 0,
            // What WZP's `from_path_stats` always writes.
            bitrate_cap_kbps: 200,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proposal() -> SignalMessage {
        SignalMessage::UpgradeProposal {
            version: 1,
            call_id: "room-0".into(),
            proposal_id: 4,
            proposed_profile: QualityProfile::GOOD,
            local_loss_pct: None,
            local_rtt_ms: None,
        }
    }

    #[test]
    fn proposals_are_answered_as_the_flag_says_and_never_switch() {
        let at = Duration::from_secs(3);
        let answer = |how| {
            let r = QualityFollower::new(how)
                .on_signal(at, &proposal())
                .unwrap();
            assert_eq!(r.switch_to, None, "a proposal is no switch");
            assert_eq!(r.received.kind, QualityKind::Proposal);
            assert_eq!(r.received.proposal_id, Some(4));
            r.answer
        };
        let accepted = |accepted| {
            Some(SignalMessage::UpgradeResponse {
                version: 1,
                call_id: "room-0".into(),
                proposal_id: 4,
                accepted,
                reason: None,
            })
        };
        assert_eq!(answer(UpgradeAnswer::Accept), accepted(true));
        assert_eq!(answer(UpgradeAnswer::Reject), accepted(false));
        assert_eq!(answer(UpgradeAnswer::Ignore), None);
    }

    #[test]
    fn directives_and_confirms_switch_by_codec() {
        let f = QualityFollower::new(UpgradeAnswer::Accept);
        let at = Duration::from_millis(1500);
        let directive = SignalMessage::QualityDirective {
            version: 1,
            recommended_profile: QualityProfile::DEGRADED,
            reason: Some("weakest link: Degraded".into()),
        };
        let r = f.on_signal(at, &directive).unwrap();
        assert_eq!(r.switch_to, Some(Tier::Degraded));
        assert_eq!(
            r.received,
            QualityReceived {
                at,
                kind: QualityKind::Directive,
                tier: Tier::Degraded,
                proposal_id: None,
                reason: Some("weakest link: Degraded".into()),
            }
        );
        let mut odd = QualityProfile::GOOD;
        odd.codec = switchyard_proto::CodecId::Opus16k;
        let unknown = SignalMessage::QualityDirective {
            version: 1,
            recommended_profile: odd,
            reason: None,
        };
        assert_eq!(
            f.on_signal(at, &unknown).unwrap().switch_to,
            Some(Tier::Good)
        );
        let confirm = SignalMessage::UpgradeConfirm {
            version: 1,
            call_id: String::new(),
            proposal_id: 9,
            confirmed_profile: QualityProfile::STUDIO_32K,
        };
        assert_eq!(
            f.on_signal(at, &confirm).unwrap().switch_to,
            Some(Tier::Studio32k)
        );
        assert!(f.on_signal(at, &SignalMessage::Reflect).is_none());
    }

    #[test]
    fn the_trailer_reports_the_interval_in_reference_units() {
        let mut m = TrailerMeter::default();
        let r = m.report(200, 20, Duration::from_millis(41));
        // 10 % of 255 is 25.5, rounded; 41 ms in 4 ms units.
        assert_eq!((r.loss, r.rtt_4ms, r.bitrate_cap_kbps), (26, 10, 200));
        assert!((r.loss_percent() - 10.2).abs() < 0.1);
        let r = m.report(300, 20, Duration::from_secs(2));
        assert_eq!(
            (r.loss, r.rtt_4ms),
            (0, 255),
            "nothing lost since; RTT saturates"
        );
        let r = m.report(300, 20, Duration::ZERO);
        assert_eq!(r.loss, 0, "nothing sent, nothing lost");
    }
}
