//! Bounded single-producer single-consumer rings between threads.
//!
//! Built on `crossbeam_channel::bounded`; the halves are not `Clone`, so each ring has exactly
//! one producer and one consumer. [`RingSender::push`] never blocks: on a full ring it drops
//! the value and counts the drop in a plain integer owned by the producer.

use crossbeam_channel::{Receiver, Sender, TryRecvError, TrySendError};
use std::time::Duration;

/// Producer half.
#[derive(Debug)]
pub struct RingSender<T> {
    tx: Sender<T>,
    dropped: u64,
}

/// Consumer half.
#[derive(Debug)]
pub struct RingReceiver<T> {
    rx: Receiver<T>,
}

/// A ring holding at most `capacity` values.
pub fn ring<T>(capacity: usize) -> (RingSender<T>, RingReceiver<T>) {
    let (tx, rx) = crossbeam_channel::bounded(capacity.max(1));
    (RingSender { tx, dropped: 0 }, RingReceiver { rx })
}

impl<T> RingSender<T> {
    /// Queues `value`; `false` (and one more drop counted) if the ring is full or the
    /// consumer is gone.
    pub fn push(&mut self, value: T) -> bool {
        match self.tx.try_send(value) {
            Ok(()) => true,
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.dropped += 1;
                false
            }
        }
    }

    /// Values dropped so far.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

impl<T> RingReceiver<T> {
    /// The next value, if one is queued. `Err(())` once the producer is gone and the ring is
    /// empty.
    pub fn try_pop(&self) -> Result<Option<T>, Disconnected> {
        match self.rx.try_recv() {
            Ok(v) => Ok(Some(v)),
            Err(TryRecvError::Empty) => Ok(None),
            Err(TryRecvError::Disconnected) => Err(Disconnected),
        }
    }

    /// Waits up to `timeout` for a value.
    pub fn pop_timeout(&self, timeout: Duration) -> Result<Option<T>, Disconnected> {
        match self.rx.recv_timeout(timeout) {
            Ok(v) => Ok(Some(v)),
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => Ok(None),
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => Err(Disconnected),
        }
    }

    pub(crate) fn inner(&self) -> &Receiver<T> {
        &self.rx
    }
}

/// The other half of the ring is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Disconnected;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_ring_drops_and_counts() {
        let (mut tx, rx) = ring(2);
        assert!(tx.push(1));
        assert!(tx.push(2));
        assert!(!tx.push(3));
        assert_eq!(tx.dropped(), 1);
        assert_eq!(rx.try_pop(), Ok(Some(1)));
        assert!(tx.push(4));
        assert_eq!(rx.try_pop(), Ok(Some(2)));
        assert_eq!(rx.try_pop(), Ok(Some(4)));
        assert_eq!(rx.try_pop(), Ok(None));
    }

    #[test]
    fn disconnect_is_reported_both_ways() {
        let (mut tx, rx) = ring::<u8>(1);
        drop(rx);
        assert!(!tx.push(1));
        assert_eq!(tx.dropped(), 1);
        let (tx, rx) = ring::<u8>(1);
        drop(tx);
        assert_eq!(rx.try_pop(), Err(Disconnected));
        assert_eq!(rx.pop_timeout(Duration::from_millis(1)), Err(Disconnected));
    }
}
