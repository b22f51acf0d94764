//! The endpoint's own timers: a fixed table, one slot per [`Timer`] (quinn's `TimerTable`).
//! Per-connection deadlines live in the connection table's heap; [`Timer::Connection`] names
//! them when they are the earliest.

use std::time::Instant;

/// Why the endpoint wants to be woken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Timer {
    /// A connection's deadline: quiche's timer, a handshake or SNI deadline, a hangup linger.
    Connection,
    /// Sample bandwidth estimates into simulcast layers; ask for overdue switch keyframes.
    VideoTick,
    /// Report counters to the control plane.
    Counters,
    /// Sample every participant's quality for the control plane's judge.
    QualitySamples,
    /// A stopping endpoint gives up waiting for its connections.
    ShutdownGrace,
}

impl Timer {
    const TABLE: [Timer; 4] = [
        Timer::VideoTick,
        Timer::Counters,
        Timer::QualitySamples,
        Timer::ShutdownGrace,
    ];

    fn slot(self) -> Option<usize> {
        Self::TABLE.iter().position(|t| *t == self)
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Connection => "connection",
            Self::VideoTick => "video tick",
            Self::Counters => "counters",
            Self::QualitySamples => "quality samples",
            Self::ShutdownGrace => "shutdown grace",
        }
    }
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct TimerTable {
    at: [Option<Instant>; Timer::TABLE.len()],
}

impl TimerTable {
    pub fn set(&mut self, timer: Timer, at: Instant) {
        if let Some(slot) = timer.slot().and_then(|i| self.at.get_mut(i)) {
            *slot = Some(at);
        }
    }

    /// True once, when `timer` is set and due at `now`; it is then cleared.
    pub fn take_expired(&mut self, timer: Timer, now: Instant) -> bool {
        let Some(slot) = timer.slot().and_then(|i| self.at.get_mut(i)) else {
            return false;
        };
        if slot.is_some_and(|at| at <= now) {
            *slot = None;
            return true;
        }
        false
    }

    /// The earliest set timer.
    pub fn next(&self) -> Option<(Instant, Timer)> {
        self.at
            .iter()
            .zip(Timer::TABLE)
            .filter_map(|(at, timer)| at.map(|at| (at, timer)))
            .min_by_key(|(at, _)| *at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn earliest_wins_and_expiry_fires_once() {
        let t0 = switchyard_testclock::origin();
        let mut table = TimerTable::default();
        assert_eq!(table.next(), None);
        table.set(Timer::Counters, t0 + Duration::from_secs(1));
        table.set(Timer::VideoTick, t0 + Duration::from_millis(100));
        assert_eq!(
            table.next(),
            Some((t0 + Duration::from_millis(100), Timer::VideoTick))
        );
        assert!(!table.take_expired(Timer::VideoTick, t0 + Duration::from_millis(99)));
        assert!(table.take_expired(Timer::VideoTick, t0 + Duration::from_millis(100)));
        assert!(!table.take_expired(Timer::VideoTick, t0 + Duration::from_secs(5)));
        assert_eq!(table.next().map(|n| n.1), Some(Timer::Counters));
        table.set(Timer::Connection, t0);
        assert_eq!(
            table.next().map(|n| n.1),
            Some(Timer::Counters),
            "connection deadlines are not kept here"
        );
    }
}
