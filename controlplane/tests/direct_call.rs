//! The judge without a relay: a two-party direct call (the PRD's "P2P quality" case).
//!
//! The caller, A, holds the [`Judge`] for a room "call-1" with both parties in it. Once a
//! second each endpoint measures its own side of the direct path (loss among the packets it
//! sent, RTT) and makes it a [`QualitySample`] with only `report` set; there is no relay in
//! the middle, so there are no path figures. B sends its sample to A over the call's signal
//! channel, and A feeds both to the judge. Every order the judge emits is carried out: A
//! applies its own signals, and sends B's over the signal channel; B's answers to upgrade
//! proposals come back the same way.
//!
//! Without path figures the downlink controllers stay at the baseline, so a direct call
//! climbs no higher than the baseline (Good); it falls as fast as either side reports trouble
//! and comes back by negotiation, exactly as a relay room does.

use std::time::{Duration, Instant};
use switchyard_controlplane::{Judge, JudgeConfig};
use switchyard_proto::control::{
    DirectiveReason, ParticipantId, QualitySample, QualitySignal, ReportFigures, ShardId,
};
use switchyard_proto::Tier;

const CALL: &str = "call-1";

/// One party of the call: what it measures of the path, what it encodes at, and the answers
/// it owes the judge.
struct Endpoint {
    id: ParticipantId,
    loss_pct: f32,
    rtt_ms: u32,
    encoding: Tier,
    answers: Vec<(u64, bool)>,
}

impl Endpoint {
    fn new(serial: u64) -> Self {
        Self {
            id: ParticipantId::new(ShardId(0), serial),
            loss_pct: 0.0,
            rtt_ms: 40,
            encoding: Tier::Good,
            answers: Vec::new(),
        }
    }

    /// This second's view of the path: the QualityReport it would put in its trailers.
    fn sample(&self) -> QualitySample {
        QualitySample {
            report: Some(ReportFigures {
                loss_pct: self.loss_pct,
                rtt_ms: self.rtt_ms,
                ..Default::default()
            }),
            path: None,
        }
    }

    /// Carries out one signal: switch the encoder, or answer a proposal (this one accepts).
    fn on_signal(&mut self, signal: QualitySignal) {
        match signal {
            QualitySignal::Directive { tier, .. } | QualitySignal::Confirm { tier, .. } => {
                self.encoding = tier;
            }
            QualitySignal::Proposal { proposal_id, .. } => {
                self.answers.push((proposal_id, true));
            }
        }
    }
}

/// The call as the caller runs it.
struct Call {
    judge: Judge,
    origin: Instant,
    a: Endpoint,
    b: Endpoint,
    /// Every signal carried out: (second, to whom, what).
    log: Vec<(u64, ParticipantId, QualitySignal)>,
}

impl Call {
    fn start() -> Self {
        let origin = switchyard_testclock::origin();
        let (a, b) = (Endpoint::new(1), Endpoint::new(2));
        let mut judge = Judge::new(JudgeConfig::default());
        judge.join(origin, CALL, a.id);
        judge.join(origin, CALL, b.id);
        Self {
            judge,
            origin,
            a,
            b,
            log: Vec::new(),
        }
    }

    /// One second of the call at `second`: timers, both samples, the answers owed, and the
    /// orders that result.
    fn second(&mut self, second: u64) {
        let now = self.origin + Duration::from_secs(second);
        if self.judge.poll_timeout().is_some_and(|t| t <= now) {
            self.judge.handle_timeout(now);
        }
        self.judge.sample(now, self.a.id, &self.a.sample());
        // B's sample and answers arrive over the signal channel.
        self.judge.sample(now, self.b.id, &self.b.sample());
        for party in [&mut self.a, &mut self.b] {
            for (proposal_id, accepted) in party.answers.drain(..) {
                self.judge.answer(now, party.id, proposal_id, accepted);
            }
        }
        while let Some(order) = self.judge.poll_order() {
            assert_eq!(order.room, CALL);
            for (to, signal) in order.signals {
                self.log.push((second, to, signal));
                if to == self.a.id {
                    self.a.on_signal(signal);
                } else {
                    // In a real call: sent to B over the signal channel.
                    self.b.on_signal(signal);
                }
            }
        }
    }
}

#[test]
fn a_direct_call_falls_together_and_recovers_by_agreement() {
    let mut call = Call::start();
    let (a, b) = (call.a.id, call.b.id);
    for second in 1..=9 {
        call.second(second);
    }
    assert!(
        call.log.is_empty(),
        "a healthy call at the baseline: nothing to say"
    );

    // A's path loses 8 % of what it sends for three reports: both fall to Degraded.
    call.a.loss_pct = 8.0;
    for second in 10..=12 {
        call.second(second);
    }
    let degraded = QualitySignal::Directive {
        tier: Tier::Degraded,
        reason: DirectiveReason::WeakestLink,
    };
    assert_eq!(call.log, vec![(12, a, degraded), (12, b, degraded)]);
    assert_eq!(
        (call.a.encoding, call.b.encoding),
        (Tier::Degraded, Tier::Degraded)
    );

    // The path recovers. 30 s after A's last bad report both are asked; both accept; both
    // are confirmed at Good.
    call.a.loss_pct = 0.0;
    call.log.clear();
    for second in 13..=60 {
        call.second(second);
    }
    let proposal = QualitySignal::Proposal {
        proposal_id: 1,
        tier: Tier::Good,
    };
    let confirm = QualitySignal::Confirm {
        proposal_id: 1,
        tier: Tier::Good,
    };
    assert_eq!(
        call.log,
        vec![
            (42, a, proposal),
            (42, b, proposal),
            (43, a, confirm),
            (43, b, confirm),
        ]
    );
    assert_eq!((call.a.encoding, call.b.encoding), (Tier::Good, Tier::Good));
    assert_eq!(call.judge.room_tier(CALL), Some(Tier::Good));
}
