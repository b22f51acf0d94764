//! Tier G carried out on this shard: hanging an abusive sender up, and the identities this
//! shard refuses.
//!
//! ```text
//!  enforcing tier A-E fails a packet ─┐
//!  Tier F (enforcing) says Abusive  ──┴─> expel: Hangup PolicyViolation{code}, leave the room
//!        now (RoomUpdate, Left event), Violation event, local cool-down, Closing (linger)
//!  Ban directive (control plane)    ──> held until its end; joins of that identity are
//!        refused with the typed Hangup (lifecycle)
//! ```
//!
//! The shard escalates locally as the control plane does
//! ([`switchyard_proto::bans::BanTable::escalate`]) so a rejoin
//! to this shard is refused at once; the control plane's decision, sent to every shard,
//! is the one the other shards learn.

use super::conn::ConnKey;
use super::lifecycle::{PendingClose, Phase, HANGUP_LINGER};
use super::Endpoint;
use std::time::{Duration, Instant};
use switchyard_proto::bans::Held;
use switchyard_proto::control::{Ban, ShardEvent};
use switchyard_proto::signal::{HangupReason, SignalMessage, ViolationCode};

/// Application close code after a conformance hang-up (same as a banned join's).
pub const CLOSE_POLICY_VIOLATION: u64 = 0x108;

impl Endpoint {
    /// Hangs up a joined participant for a conformance violation (Tier G).
    pub(super) fn expel(&mut self, key: ConnKey, code: ViolationCode, now: Instant) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        if !matches!(conn.phase, Phase::Joined { .. }) {
            return;
        }
        let rtt = conn
            .quic
            .path_stats()
            .find(|p| p.active)
            .map_or(Duration::ZERO, |p| p.rtt);
        let since = conn.conformance.since_first_packet(now);
        let mut member = None;
        conn.phase.leave_for(|m| {
            member = m;
            Phase::Closing {
                close: PendingClose {
                    at: now + HANGUP_LINGER + rtt * 2,
                    code: CLOSE_POLICY_VIOLATION,
                    reason: "policy violation",
                },
                member: None,
            }
        });
        let Some(member) = member else {
            return;
        };
        let hangup = SignalMessage::hangup(HangupReason::PolicyViolation {
            code,
            reason: format!("Tier G enforcement: {code:?}"),
        });
        self.conns.send_signal(key, &hangup, &mut self.counters);
        if let Some(n) = self.counters.conformance_hangups.get_mut(code.index()) {
            *n += 1;
        }
        let (_, held) = self.bans.escalate(
            now,
            &member.fingerprint,
            code,
            &self.config.conformance.bans,
        );
        self.count_held(held);
        log::info!(
            "conformance: participant {} ({}) hung up ({code:?}) {:.3} s after its first packet",
            member.id,
            member.fingerprint,
            since.as_secs_f64()
        );
        self.outbox.events.push_back(ShardEvent::Violation {
            participant: member.id,
            fingerprint: member.fingerprint.clone(),
            code,
        });
        self.leave_room(key, member);
        self.conns.touch(key);
    }

    /// The control plane's decision on an identity: refuse its joins until the ban ends.
    pub(super) fn hold_ban(&mut self, ban: &Ban, now: Instant) {
        let held = self
            .bans
            .hold(ban, now, self.config.conformance.bans.capacity);
        self.count_held(held);
        self.counters.bans_held = self.bans.len() as u64;
    }

    /// Forgets bans that are over (with the quality samples, once a second).
    pub(super) fn expire_bans(&mut self, now: Instant) {
        self.bans.expire(now);
        self.counters.bans_held = self.bans.len() as u64;
    }

    fn count_held(&mut self, held: Held) {
        if held == Held::Evicted {
            self.counters.bans_evicted += 1;
        }
    }
}
