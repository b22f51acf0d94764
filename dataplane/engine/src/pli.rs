//! PictureLossIndication gate of one room: requests for the same `(owner, stream_id)` within
//! the window collapse into one, and each requester has a bounded rate, so a receiver (or a
//! crowd of them) cannot turn PLIs into a keyframe flood at the publisher.
//!
//! ```text
//!   request(requester, owner, stream, now)
//!     requester over its per-second budget ─> Flood       (counted, not forwarded)
//!     last forward to (owner, stream) < window ago ─> Suppressed
//!     otherwise ─> Forward, and the window restarts at now
//! ```

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// Default dedup window (reference: 200 ms).
pub const DEFAULT_WINDOW: Duration = Duration::from_millis(200);
/// Default requests one participant may make per second.
pub const DEFAULT_PER_SECOND: u32 = 20;

/// What to do with one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PliVerdict {
    /// Send PictureLossIndication to the owner.
    Forward,
    /// The owner was asked for this stream less than a window ago.
    Suppressed,
    /// The requester is over its rate.
    Flood,
}

/// The limits, from configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PliPolicy {
    pub window: Duration,
    pub per_second: u32,
}

impl Default for PliPolicy {
    fn default() -> Self {
        Self {
            window: DEFAULT_WINDOW,
            per_second: DEFAULT_PER_SECOND,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Budget {
    since: Instant,
    used: u32,
}

#[derive(Debug)]
pub struct PliGate<K> {
    last_forward: HashMap<(K, u8), Instant>,
    budgets: HashMap<K, Budget>,
}

impl<K> Default for PliGate<K> {
    fn default() -> Self {
        Self {
            last_forward: HashMap::new(),
            budgets: HashMap::new(),
        }
    }
}

impl<K: Copy + Eq + Hash> PliGate<K> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn request(
        &mut self,
        requester: K,
        owner: K,
        stream_id: u8,
        now: Instant,
        policy: PliPolicy,
    ) -> PliVerdict {
        let budget = self.budgets.entry(requester).or_insert(Budget {
            since: now,
            used: 0,
        });
        if now.saturating_duration_since(budget.since) >= Duration::from_secs(1) {
            *budget = Budget {
                since: now,
                used: 0,
            };
        }
        if budget.used >= policy.per_second {
            return PliVerdict::Flood;
        }
        budget.used += 1;
        match self.last_forward.get(&(owner, stream_id)) {
            Some(at) if now.saturating_duration_since(*at) < policy.window => {
                PliVerdict::Suppressed
            }
            _ => {
                self.last_forward.insert((owner, stream_id), now);
                PliVerdict::Forward
            }
        }
    }

    /// Forgets a participant that left, as requester and as owner.
    pub fn forget(&mut self, participant: K) {
        self.budgets.remove(&participant);
        self.last_forward
            .retain(|(owner, _), _| *owner != participant);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn first_request_is_forwarded() {
        let mut g = PliGate::new();
        let t0 = switchyard_testclock::origin();
        assert_eq!(
            g.request(1u32, 9, 0, t0, PliPolicy::default()),
            PliVerdict::Forward
        );
    }

    #[test]
    fn dedup_window_from_both_sides_of_its_boundary() {
        let policy = PliPolicy::default();
        let mut g = PliGate::new();
        let t0 = switchyard_testclock::origin();
        assert_eq!(g.request(1u32, 9, 0, t0, policy), PliVerdict::Forward);
        assert_eq!(
            g.request(2, 9, 0, t0 + 199 * MS, policy),
            PliVerdict::Suppressed
        );
        assert_eq!(
            g.request(3, 9, 0, t0 + 200 * MS - Duration::from_nanos(1), policy),
            PliVerdict::Suppressed
        );
        assert_eq!(
            g.request(2, 9, 0, t0 + 200 * MS, policy),
            PliVerdict::Forward
        );
        assert_eq!(
            g.request(1, 9, 0, t0 + 399 * MS, policy),
            PliVerdict::Suppressed,
            "the window restarts at the forwarded request"
        );
    }

    #[test]
    fn owners_and_streams_have_separate_windows() {
        let policy = PliPolicy::default();
        let mut g = PliGate::new();
        let t0 = switchyard_testclock::origin();
        assert_eq!(g.request(1u32, 9, 0, t0, policy), PliVerdict::Forward);
        assert_eq!(g.request(1, 9, 1, t0, policy), PliVerdict::Forward);
        assert_eq!(g.request(1, 8, 0, t0, policy), PliVerdict::Forward);
        assert_eq!(g.request(1, 9, 0, t0, policy), PliVerdict::Suppressed);
    }

    #[test]
    fn window_is_configurable() {
        let policy = PliPolicy {
            window: 50 * MS,
            ..PliPolicy::default()
        };
        let mut g = PliGate::new();
        let t0 = switchyard_testclock::origin();
        g.request(1u32, 9, 0, t0, policy);
        assert_eq!(
            g.request(1, 9, 0, t0 + 49 * MS, policy),
            PliVerdict::Suppressed
        );
        assert_eq!(
            g.request(1, 9, 0, t0 + 50 * MS, policy),
            PliVerdict::Forward
        );
    }

    #[test]
    fn flood_is_bounded_per_requester_per_second() {
        let policy = PliPolicy {
            per_second: 3,
            ..PliPolicy::default()
        };
        let mut g = PliGate::new();
        let t0 = switchyard_testclock::origin();
        let verdicts: Vec<_> = (0..5u8)
            .map(|s| g.request(1u32, 9, s, t0 + u32::from(s) * MS, policy))
            .collect();
        assert_eq!(
            verdicts,
            vec![
                PliVerdict::Forward,
                PliVerdict::Forward,
                PliVerdict::Forward,
                PliVerdict::Flood,
                PliVerdict::Flood
            ]
        );
        assert_eq!(
            g.request(2, 9, 7, t0, policy),
            PliVerdict::Forward,
            "others are not limited"
        );
        assert_eq!(
            g.request(1, 9, 8, t0 + 1000 * MS, policy),
            PliVerdict::Forward,
            "the budget refills after a second"
        );
    }

    #[test]
    fn forget_clears_a_leaver_as_owner_and_as_requester() {
        let policy = PliPolicy {
            per_second: 1,
            ..PliPolicy::default()
        };
        let mut g = PliGate::new();
        let t0 = switchyard_testclock::origin();
        g.request(1u32, 9, 0, t0, policy);
        g.forget(9);
        assert_eq!(
            g.request(2, 9, 0, t0, policy),
            PliVerdict::Forward,
            "window gone with the owner"
        );
        g.forget(1);
        assert_eq!(
            g.request(1, 8, 0, t0, policy),
            PliVerdict::Forward,
            "budget gone too"
        );
    }
}
