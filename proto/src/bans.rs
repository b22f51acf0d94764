//! Tier G's memory of identities hung up for conformance violations (reference 5.5, PRD).
//!
//! ```text
//!  hung up (Abusive), no live entry      ──> Cooldown until now + cooldown
//!  hung up again while a Cooldown holds  ──> Blocked  until now + block
//!  hung up while Blocked                 ──> Blocked, renewed from now
//!  an entry's `until` passes             ──> gone (joins are accepted again)
//! ```
//!
//! A join by an identity with a live entry is refused with the typed Hangup. The control
//! plane holds the relay's table and decides ([`BanTable::escalate`]); every shard holds a
//! copy fed by the control plane's [`Ban`]s ([`BanTable::hold`]), and escalates locally too,
//! so the shard that hung an identity up refuses it at once, before the control plane's
//! answer arrives.
//!
//! Identities are WZP fingerprints (of the caller's signing key). The table is bounded: when
//! it is full, the entry that would expire first makes room (counted by the caller).

use crate::control::{Ban, BanKind};
use crate::signal::ViolationCode;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// How long an identity is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BanPolicy {
    /// After a first hang-up (the PRD's 1 h).
    pub cooldown: Duration,
    /// After a hang-up during the cool-down (the PRD's and the reference code's 24 h).
    pub block: Duration,
    /// Identities held at most.
    pub capacity: usize,
}

impl Default for BanPolicy {
    fn default() -> Self {
        Self {
            cooldown: Duration::from_secs(3_600),
            block: Duration::from_secs(86_400),
            capacity: 65_536,
        }
    }
}

/// The identities refused now, each with its reason and end.
#[derive(Debug, Clone, Default)]
pub struct BanTable {
    entries: HashMap<String, (ViolationCode, BanKind, Instant)>,
}

/// What a bounded insert did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Held {
    Held,
    /// Held, and another identity's entry (the soonest to expire) was dropped to make room.
    Evicted,
    /// Not held: the table holds a longer or stronger entry for the identity.
    Kept,
}

impl BanTable {
    /// Decides what a conformance hang-up of `fingerprint` at `now` earns it, holds it, and
    /// returns it (to be sent to every shard).
    pub fn escalate(
        &mut self,
        now: Instant,
        fingerprint: &str,
        code: ViolationCode,
        policy: &BanPolicy,
    ) -> (Ban, Held) {
        let (kind, length) = if self.refusal(fingerprint, now).is_some() {
            (BanKind::Blocked, policy.block)
        } else {
            (BanKind::Cooldown, policy.cooldown)
        };
        let ban = Ban {
            fingerprint: fingerprint.to_owned(),
            code,
            kind,
            until: now + length,
        };
        let held = self.hold(&ban, now, policy.capacity);
        (ban, held)
    }

    /// Holds `ban` unless a longer entry for the same identity is already held.
    pub fn hold(&mut self, ban: &Ban, now: Instant, capacity: usize) -> Held {
        if capacity == 0 {
            return Held::Kept;
        }
        if let Some((_, _, until)) = self.entries.get(&ban.fingerprint) {
            if *until >= ban.until {
                return Held::Kept;
            }
        }
        let mut held = Held::Held;
        if !self.entries.contains_key(&ban.fingerprint) && self.entries.len() >= capacity {
            self.expire(now);
            if self.entries.len() >= capacity {
                let soonest = self
                    .entries
                    .iter()
                    .min_by_key(|(_, (_, _, until))| *until)
                    .map(|(fp, _)| fp.clone());
                if let Some(fp) = soonest {
                    self.entries.remove(&fp);
                    held = Held::Evicted;
                }
            }
        }
        self.entries
            .insert(ban.fingerprint.clone(), (ban.code, ban.kind, ban.until));
        held
    }

    /// Why and how `fingerprint` is refused at `now`, if it is.
    pub fn refusal(&self, fingerprint: &str, now: Instant) -> Option<(ViolationCode, BanKind)> {
        self.entries
            .get(fingerprint)
            .filter(|(_, _, until)| *until > now)
            .map(|(code, kind, _)| (*code, *kind))
    }

    /// Forgets every entry whose time is over.
    pub fn expire(&mut self, now: Instant) {
        self.entries.retain(|_, (_, _, until)| *until > now);
    }

    /// Entries held (expired ones included until the next [`Self::expire`]).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Live entries of each kind at `now`: (cool-downs, blocks).
    pub fn counts(&self, now: Instant) -> (usize, usize) {
        self.entries
            .values()
            .filter(|(_, _, until)| *until > now)
            .fold((0, 0), |(c, b), (_, kind, _)| match kind {
                BanKind::Cooldown => (c + 1, b),
                BanKind::Blocked => (c, b + 1),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Duration = Duration::from_secs(3_600);
    const DAY: Duration = Duration::from_secs(86_400);
    const NS: Duration = Duration::from_nanos(1);

    fn t0() -> Instant {
        switchyard_testclock::origin()
    }

    #[test]
    fn a_first_hang_up_cools_down_for_the_cooldown_and_expires_exactly() {
        let (t0, policy) = (t0(), BanPolicy::default());
        let mut table = BanTable::default();
        let (ban, held) = table.escalate(t0, "fp", ViolationCode::Bitrate, &policy);
        assert_eq!(held, Held::Held);
        assert_eq!(ban.kind, BanKind::Cooldown);
        assert_eq!(ban.until, t0 + HOUR);
        assert_eq!(
            table.refusal("fp", t0 + HOUR - NS),
            Some((ViolationCode::Bitrate, BanKind::Cooldown))
        );
        assert_eq!(table.refusal("fp", t0 + HOUR), None, "over at its end");
        assert_eq!(table.refusal("other", t0), None);
        table.expire(t0 + HOUR);
        assert!(table.is_empty());
    }

    #[test]
    fn a_repeat_within_the_cooldown_blocks_for_the_block_time() {
        let (t0, policy) = (t0(), BanPolicy::default());
        let mut table = BanTable::default();
        table.escalate(t0, "fp", ViolationCode::Bitrate, &policy);
        let at = t0 + HOUR - NS;
        let (ban, _) = table.escalate(at, "fp", ViolationCode::PayloadSize, &policy);
        assert_eq!(ban.kind, BanKind::Blocked);
        assert_eq!(ban.until, at + DAY);
        assert_eq!(
            table.refusal("fp", at + DAY - NS),
            Some((ViolationCode::PayloadSize, BanKind::Blocked))
        );
        assert_eq!(table.refusal("fp", at + DAY), None, "the block expires");
        assert_eq!(table.counts(at), (0, 1));
    }

    #[test]
    fn a_hang_up_after_the_cooldown_is_a_first_one_again() {
        let (t0, policy) = (t0(), BanPolicy::default());
        let mut table = BanTable::default();
        table.escalate(t0, "fp", ViolationCode::Bitrate, &policy);
        let (ban, _) = table.escalate(t0 + HOUR, "fp", ViolationCode::Bitrate, &policy);
        assert_eq!(ban.kind, BanKind::Cooldown);
        assert_eq!(ban.until, t0 + HOUR + HOUR);
    }

    #[test]
    fn a_shorter_copy_does_not_replace_a_longer_entry() {
        let (t0, policy) = (t0(), BanPolicy::default());
        let mut table = BanTable::default();
        table.escalate(t0, "fp", ViolationCode::Bitrate, &policy);
        let (block, _) = table.escalate(t0, "fp", ViolationCode::Bitrate, &policy);
        let cooldown = Ban {
            kind: BanKind::Cooldown,
            until: t0 + HOUR,
            ..block.clone()
        };
        assert_eq!(table.hold(&cooldown, t0, 8), Held::Kept);
        assert_eq!(
            table.refusal("fp", t0 + HOUR),
            Some((ViolationCode::Bitrate, BanKind::Blocked))
        );
    }

    #[test]
    fn a_full_table_drops_the_entry_that_expires_first() {
        let t0 = t0();
        let mut table = BanTable::default();
        let ban = |fp: &str, secs| Ban {
            fingerprint: fp.to_owned(),
            code: ViolationCode::Entropy,
            kind: BanKind::Cooldown,
            until: t0 + Duration::from_secs(secs),
        };
        assert_eq!(table.hold(&ban("a", 30), t0, 2), Held::Held);
        assert_eq!(table.hold(&ban("b", 10), t0, 2), Held::Held);
        assert_eq!(table.hold(&ban("c", 20), t0, 2), Held::Evicted);
        assert!(table.refusal("b", t0).is_none(), "b expired first");
        assert!(table.refusal("a", t0).is_some() && table.refusal("c", t0).is_some());
        // Expired entries make room before anything live is dropped.
        assert_eq!(
            table.hold(&ban("d", 40), t0 + Duration::from_secs(25), 2),
            Held::Held
        );
        assert_eq!(table.len(), 2);
        assert_eq!(table.hold(&ban("e", 40), t0, 0), Held::Kept);
    }
}
