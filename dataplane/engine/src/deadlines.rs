//! One deadline structure per shard: a min-heap of `(deadline, key)` with lazy invalidation.
//!
//! Each key has at most one live deadline, recorded in `current`. Re-arming pushes a new heap
//! entry and leaves the old one in place; stale entries are skipped when they surface. That
//! keeps `arm` O(log n) without a decrease-key operation.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::hash::Hash;
use std::time::Instant;

#[derive(Debug)]
pub struct Deadlines<K: Copy + Eq + Hash + Ord> {
    heap: BinaryHeap<Reverse<(Instant, K)>>,
    current: HashMap<K, Instant>,
}

impl<K: Copy + Eq + Hash + Ord> Default for Deadlines<K> {
    fn default() -> Self {
        Self {
            heap: BinaryHeap::new(),
            current: HashMap::new(),
        }
    }
}

impl<K: Copy + Eq + Hash + Ord> Deadlines<K> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets (or clears, with `None`) the deadline of `key`.
    pub fn arm(&mut self, key: K, at: Option<Instant>) {
        match at {
            Some(at) => {
                if self.current.insert(key, at) != Some(at) {
                    self.heap.push(Reverse((at, key)));
                }
            }
            None => {
                self.current.remove(&key);
            }
        }
        // Bound the garbage: rebuild when stale entries dominate.
        if self.heap.len() > 64 && self.heap.len() > 4 * self.current.len() {
            self.heap = self
                .current
                .iter()
                .map(|(k, at)| Reverse((*at, *k)))
                .collect();
        }
    }

    /// The earliest live deadline.
    pub fn earliest(&mut self) -> Option<Instant> {
        self.drop_stale();
        self.heap.peek().map(|Reverse((at, _))| *at)
    }

    /// Removes and returns one key whose deadline is at or before `now`.
    pub fn pop_expired(&mut self, now: Instant) -> Option<K> {
        self.drop_stale();
        let Reverse((at, key)) = *self.heap.peek()?;
        if at > now {
            return None;
        }
        self.heap.pop();
        self.current.remove(&key);
        Some(key)
    }

    pub fn len(&self) -> usize {
        self.current.len()
    }

    pub fn is_empty(&self) -> bool {
        self.current.is_empty()
    }

    fn drop_stale(&mut self) {
        while let Some(Reverse((at, key))) = self.heap.peek() {
            if self.current.get(key) == Some(at) {
                return;
            }
            self.heap.pop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn t0() -> Instant {
        // The one clock read in these tests: a fixed origin, then simulated offsets.
        switchyard_testclock::origin()
    }

    #[test]
    fn earliest_deadline_first_and_only_when_expired() {
        let base = t0();
        let mut d = Deadlines::new();
        d.arm(1u32, Some(base + Duration::from_millis(30)));
        d.arm(2, Some(base + Duration::from_millis(10)));
        assert_eq!(d.earliest(), Some(base + Duration::from_millis(10)));
        assert_eq!(d.pop_expired(base + Duration::from_millis(9)), None);
        assert_eq!(d.pop_expired(base + Duration::from_millis(10)), Some(2));
        assert_eq!(d.pop_expired(base + Duration::from_millis(10)), None);
        assert_eq!(d.pop_expired(base + Duration::from_millis(31)), Some(1));
        assert!(d.is_empty());
    }

    #[test]
    fn rearm_replaces_and_clear_removes() {
        let base = t0();
        let mut d = Deadlines::new();
        d.arm(7u32, Some(base + Duration::from_millis(5)));
        d.arm(7, Some(base + Duration::from_millis(50)));
        assert_eq!(
            d.pop_expired(base + Duration::from_millis(10)),
            None,
            "old deadline is stale"
        );
        assert_eq!(d.earliest(), Some(base + Duration::from_millis(50)));
        d.arm(7, None);
        assert_eq!(d.earliest(), None);
        assert_eq!(d.pop_expired(base + Duration::from_secs(9)), None);
    }

    #[test]
    fn garbage_stays_bounded_under_constant_rearming() {
        let base = t0();
        let mut d = Deadlines::new();
        for i in 0..10_000u64 {
            d.arm(i % 3, Some(base + Duration::from_micros(i)));
        }
        assert_eq!(d.len(), 3);
        assert!(
            d.heap.len() <= 64 * 4 + 4,
            "heap has {} entries",
            d.heap.len()
        );
        let mut popped = Vec::new();
        while let Some(k) = d.pop_expired(base + Duration::from_secs(1)) {
            popped.push(k);
        }
        popped.sort();
        assert_eq!(popped, vec![0, 1, 2]);
    }
}
