//! Quality: what the relay measures of each participant for the control plane's judge, and the
//! judge's signals carried out on the participants' connections.
//!
//! - Meter: each connection keeps the newest QualityReport trailer its media carried (read on
//!   the packet path from the already-parsed datagram, no allocation) and quiche's path counts
//!   at the previous sample.
//! - Samples: on [`super::Timer::QualitySamples`] (at most once a second) every joined
//!   participant yields one [`QualitySample`]: the trailer, if one came since the last sample,
//!   and the active path's RTT, sent and lost packets since the last sample, and delivery
//!   rate. Each becomes a [`ShardEvent::Quality`] for the control plane's ring.
//! - Orders: a [`QualityOrder`] names a room and participants; each named participant that is
//!   still joined to that room gets its QualityDirective, UpgradeProposal or UpgradeConfirm.
//!   Anything else is counted stale. When the room carries video, the profile has the tier's
//!   video fields.
//! - Answers: UpgradeResponse and QualityCapability go back as events
//!   ([`ShardEvent::UpgradeAnswer`], [`ShardEvent::Capability`]).
//! - Conformance, on the same tick: each sender's Tier F scores are judged and Tier G answers
//!   (see [`crate::conformance`]); the tier a participant is ordered to is its video scorer's
//!   bandwidth figure.

use super::conn::ConnKey;
use super::lifecycle::Phase;
use super::path::PathSample;
use super::Endpoint;
use crate::conformance::verdict::Verdict;
use crate::conformance::Response;
use std::time::Instant;
use switchyard_proto::control::{
    ParticipantId, PathFigures, QualityOrder, QualitySample, QualitySignal, ReportFigures,
    ShardEvent,
};
use switchyard_proto::media::QualityReport;
use switchyard_proto::signal::{default_signal_version, SignalMessage};
use switchyard_proto::Tier;

/// What one connection has measured since its previous sample.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct QualityMeter {
    report: Option<QualityReport>,
    path: PathSample,
}

impl QualityMeter {
    /// A media datagram carried a QualityReport trailer; the newest one wins.
    pub fn on_report(&mut self, report: QualityReport) {
        self.report = Some(report);
    }

    /// The sample of the interval that ends now; the next one starts from here.
    pub fn sample(&mut self, quic: &quiche::Connection) -> QualitySample {
        let path = quic.path_stats().find(|p| p.active).map(|p| {
            let now = PathSample {
                sent: p.sent,
                lost: p.lost,
            };
            let figures = path_figures(p.rtt, p.delivery_rate, self.path, now);
            self.path = now;
            figures
        });
        QualitySample {
            report: self.report.take().map(ReportFigures::from),
            path,
        }
    }
}

/// The interval's path figures from quiche's cumulative counts at both ends of it.
fn path_figures(
    rtt: std::time::Duration,
    delivery_rate: u64,
    before: PathSample,
    now: PathSample,
) -> PathFigures {
    let clamp = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    PathFigures {
        rtt_ms: u32::try_from(rtt.as_millis()).unwrap_or(u32::MAX),
        sent: clamp(now.sent.saturating_sub(before.sent)),
        lost: clamp(now.lost.saturating_sub(before.lost)),
        delivery_rate_kbps: u32::try_from(delivery_rate.saturating_mul(8) / 1000)
            .unwrap_or(u32::MAX),
    }
}

impl Endpoint {
    /// One sample per joined participant, in participant order. Each sender's Tier F scores
    /// are judged at the same time, and Tier G answers the verdicts (when Tier F enforces):
    /// a Suspect sender is throttled, an Abusive one hung up.
    pub(super) fn sample_quality(&mut self, now: Instant) {
        let judge = !self.config.conformance.is_off();
        let (mut suspect, mut abusive) = (0, 0);
        let mut expel = Vec::new();
        for (&participant, &key) in &self.members {
            let Some(conn) = self.conns.get_mut(key) else {
                continue;
            };
            if !matches!(conn.phase, Phase::Joined { .. }) {
                continue;
            }
            if judge {
                let before = conn.conformance.verdict();
                conn.conformance.tick(now);
                let judgement = conn.conformance.judge(now, &self.config.conformance);
                if let Some(score) = judgement.score() {
                    let tenth = ((score * 10.0) as usize).min(9);
                    if let Some(n) = self.counters.conformance_scores.get_mut(tenth) {
                        *n += 1;
                    }
                }
                match judgement.verdict {
                    Verdict::Legitimate => {}
                    Verdict::Suspect => suspect += 1,
                    Verdict::Abusive => abusive += 1,
                }
                log::debug!(
                    "conformance: participant {participant} audio {:?} video {:?} {:?}",
                    judgement.audio,
                    judgement.video,
                    judgement.verdict
                );
                if judgement.verdict != before {
                    let fingerprint = conn.phase.member().map_or("", |m| m.fingerprint.as_str());
                    log::info!(
                        "conformance: participant {participant} ({fingerprint}) is {:?} \
                         (score {:.2}) {:.3} s after its first packet; response {:?}",
                        judgement.verdict,
                        judgement.score().unwrap_or(1.0),
                        judgement.since_first_packet.as_secs_f64(),
                        judgement.response
                    );
                }
                if let Response::Close(code) = judgement.response {
                    expel.push((key, code));
                }
            }
            let sample = conn.quality.sample(&conn.quic);
            self.counters.quality_samples += 1;
            self.outbox.events.push_back(ShardEvent::Quality {
                participant,
                sample,
            });
        }
        self.counters.conformance_suspect = suspect;
        self.counters.conformance_abusive = abusive;
        for (key, code) in expel {
            self.expel(key, code, now);
        }
        self.expire_bans(now);
    }

    /// Carries out the judge's signals for the participants still joined to the named room.
    /// The tier a participant is told to encode at is also the video scorer's bandwidth figure
    /// for it.
    pub(super) fn apply_quality_order(&mut self, order: &QualityOrder, now: Instant) {
        for &(participant, signal) in &order.signals {
            let Some((key, with_video)) = self.member_of(participant, &order.room) else {
                self.counters.quality_signals_stale += 1;
                continue;
            };
            if let QualitySignal::Directive { tier, .. } | QualitySignal::Confirm { tier, .. } =
                signal
            {
                if let Some(conn) = self.conns.get_mut(key) {
                    conn.conformance.on_allowed_tier(now, tier);
                }
            }
            let call_id = || order.room.clone();
            let message = match signal {
                QualitySignal::Directive { tier, reason } => {
                    self.counters.quality_directives_sent += 1;
                    SignalMessage::QualityDirective {
                        version: default_signal_version(),
                        recommended_profile: tier.profile_for(with_video),
                        reason: Some(reason.text(tier)),
                    }
                }
                QualitySignal::Proposal { proposal_id, tier } => {
                    self.counters.upgrade_proposals_sent += 1;
                    SignalMessage::UpgradeProposal {
                        version: default_signal_version(),
                        call_id: call_id(),
                        proposal_id,
                        proposed_profile: tier.profile_for(with_video),
                        local_loss_pct: None,
                        local_rtt_ms: None,
                    }
                }
                QualitySignal::Confirm { proposal_id, tier } => {
                    self.counters.upgrade_confirms_sent += 1;
                    SignalMessage::UpgradeConfirm {
                        version: default_signal_version(),
                        call_id: call_id(),
                        proposal_id,
                        confirmed_profile: tier.profile_for(with_video),
                    }
                }
            };
            self.conns.send_signal(key, &message, &mut self.counters);
        }
    }

    /// A participant answered an upgrade proposal.
    pub(super) fn on_upgrade_answer(&mut self, key: ConnKey, proposal_id: u64, accepted: bool) {
        self.counters.upgrade_answers_in += 1;
        if let Some(participant) = self.participant_of(key) {
            self.outbox.events.push_back(ShardEvent::UpgradeAnswer {
                participant,
                proposal_id,
                accepted,
            });
        }
    }

    /// A participant declared the highest tier it takes.
    pub(super) fn on_capability(&mut self, key: ConnKey, max: Tier) {
        self.counters.quality_capabilities_in += 1;
        if let Some(participant) = self.participant_of(key) {
            self.outbox
                .events
                .push_back(ShardEvent::Capability { participant, max });
        }
    }

    fn participant_of(&self, key: ConnKey) -> Option<ParticipantId> {
        match &self.conns.get(key)?.phase {
            Phase::Joined { member, .. } => Some(member.id),
            _ => None,
        }
    }

    /// The connection of `participant` if it is joined to the room named `room`, and whether
    /// that room carries video.
    fn member_of(&mut self, participant: ParticipantId, room: &str) -> Option<(ConnKey, bool)> {
        let key = *self.members.get(&participant)?;
        let Phase::Joined { member, .. } = &self.conns.get(key)?.phase else {
            return None;
        };
        let id = member.room;
        if self.rooms.table.name(id) != Some(room) {
            return None;
        }
        let with_video = self
            .rooms
            .table
            .split_mut(id)
            .is_some_and(|(_, media)| media.simulcast.has_video());
        Some((key, with_video))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn path_figures_are_taken_between_samples() {
        let before = PathSample {
            sent: 1_000,
            lost: 10,
        };
        let now = PathSample {
            sent: 1_150,
            lost: 25,
        };
        let f = path_figures(Duration::from_micros(41_900), 250_000, before, now);
        assert_eq!(
            f,
            PathFigures {
                rtt_ms: 41,
                sent: 150,
                lost: 15,
                delivery_rate_kbps: 2_000,
            }
        );
        assert_eq!(f.loss_pct(20), Some(10.0));
        let stalled = path_figures(Duration::ZERO, 0, now, before);
        assert_eq!(
            (stalled.sent, stalled.lost),
            (0, 0),
            "counts never go negative"
        );
    }
}
