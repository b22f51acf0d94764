//! The relay's block list (Tier G), sans-IO: conformance hang-ups in, bans out for every shard.
//!
//! A shard that hangs a participant up for a conformance violation reports it
//! ([`ShardEvent::Violation`]). The warden decides what the identity earns from the relay-wide
//! table ([`BanTable::escalate`]: a cool-down, or a block when it was already cooling down)
//! and queues the [`Ban`] for every shard, since the identity may come back through any of
//! them. Expired entries are forgotten on [`Warden::handle_timeout`].

use std::collections::VecDeque;
use std::time::{Duration, Instant};
use switchyard_proto::bans::{BanPolicy, BanTable, Held};
use switchyard_proto::control::{Ban, BanKind, ShardEvent};

/// How often expired entries are swept.
const SWEEP: Duration = Duration::from_secs(1);

/// The warden's counters and gauges.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct WardenStats {
    /// Conformance hang-ups reported by the shards.
    pub violations: u64,
    pub cooldowns_issued: u64,
    pub blocks_issued: u64,
    /// Identities refused now, by kind (gauges).
    pub cooling_down: u64,
    pub blocked: u64,
    /// Entries dropped because the table was full.
    pub evicted: u64,
}

#[derive(Debug, Default)]
pub struct Warden {
    policy: BanPolicy,
    table: BanTable,
    outbox: VecDeque<Ban>,
    stats: WardenStats,
    next_sweep: Option<Instant>,
}

impl Warden {
    pub fn new(policy: BanPolicy) -> Self {
        Self {
            policy,
            ..Self::default()
        }
    }

    /// Takes the Violation events; every other event is not the warden's.
    pub fn handle_event(&mut self, now: Instant, event: &ShardEvent) {
        let ShardEvent::Violation {
            fingerprint, code, ..
        } = event
        else {
            return;
        };
        self.stats.violations += 1;
        let (ban, held) = self.table.escalate(now, fingerprint, *code, &self.policy);
        if held == Held::Evicted {
            self.stats.evicted += 1;
        }
        match ban.kind {
            BanKind::Cooldown => self.stats.cooldowns_issued += 1,
            BanKind::Blocked => self.stats.blocks_issued += 1,
        }
        log::info!(
            "conformance: {fingerprint} {} for {code:?} until {:?} from now",
            match ban.kind {
                BanKind::Cooldown => "cools down",
                BanKind::Blocked => "is blocked",
            },
            ban.until.saturating_duration_since(now)
        );
        self.outbox.push_back(ban);
        self.next_sweep.get_or_insert(now + SWEEP);
    }

    /// The next ban to send to every shard.
    pub fn poll_ban(&mut self) -> Option<Ban> {
        self.outbox.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.next_sweep
    }

    /// Forgets expired entries.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.next_sweep.is_some_and(|t| t <= now) {
            self.table.expire(now);
            self.next_sweep = (!self.table.is_empty()).then_some(now + SWEEP);
        }
    }

    pub fn stats(&self, now: Instant) -> WardenStats {
        let (cooling_down, blocked) = self.table.counts(now);
        WardenStats {
            cooling_down: cooling_down as u64,
            blocked: blocked as u64,
            ..self.stats
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_proto::control::{ParticipantId, ShardId};
    use switchyard_proto::signal::ViolationCode;
    use switchyard_testclock::origin;

    fn violation(fingerprint: &str, code: ViolationCode) -> ShardEvent {
        ShardEvent::Violation {
            participant: ParticipantId::new(ShardId(1), 7),
            fingerprint: fingerprint.to_owned(),
            code,
        }
    }

    #[test]
    fn a_violation_cools_down_a_repeat_blocks_and_both_go_to_the_shards() {
        let t0 = origin();
        let policy = BanPolicy {
            cooldown: Duration::from_secs(10),
            block: Duration::from_secs(100),
            capacity: 8,
        };
        let mut w = Warden::new(policy);
        w.handle_event(t0, &violation("fp", ViolationCode::Bitrate));
        let first = w.poll_ban().expect("a ban");
        assert_eq!(
            (first.kind, first.until, first.code),
            (
                BanKind::Cooldown,
                t0 + Duration::from_secs(10),
                ViolationCode::Bitrate
            )
        );
        assert_eq!(w.poll_ban(), None);
        let during = t0 + Duration::from_secs(9);
        w.handle_event(during, &violation("fp", ViolationCode::Entropy));
        let second = w.poll_ban().expect("a ban");
        assert_eq!(
            (second.kind, second.until),
            (BanKind::Blocked, during + Duration::from_secs(100))
        );
        let s = w.stats(during);
        assert_eq!(
            (s.violations, s.cooldowns_issued, s.blocks_issued),
            (2, 1, 1)
        );
        assert_eq!((s.cooling_down, s.blocked), (0, 1));
    }

    #[test]
    fn other_events_are_ignored_and_expired_entries_are_swept() {
        let t0 = origin();
        let policy = BanPolicy {
            cooldown: Duration::from_secs(2),
            ..BanPolicy::default()
        };
        let mut w = Warden::new(policy);
        w.handle_event(
            t0,
            &ShardEvent::Capability {
                participant: ParticipantId::new(ShardId(0), 1),
                max: switchyard_proto::Tier::Good,
            },
        );
        assert_eq!((w.poll_ban(), w.poll_timeout()), (None, None));
        w.handle_event(t0, &violation("fp", ViolationCode::RateCap));
        assert_eq!(w.stats(t0).cooling_down, 1);
        let mut now = t0;
        while let Some(at) = w.poll_timeout() {
            now = at;
            w.handle_timeout(now);
        }
        assert_eq!(now, t0 + Duration::from_secs(2), "swept when it expired");
        assert_eq!(w.stats(now).cooling_down, 0);
        // After the cool-down a new violation is a first one again.
        w.poll_ban();
        w.handle_event(now, &violation("fp", ViolationCode::RateCap));
        assert_eq!(w.poll_ban().map(|b| b.kind), Some(BanKind::Cooldown));
    }
}
