//! What one receiver observed: deliveries, duplicates, misrouting, corruption, latency.

use crate::media::inspect;
use hdrhistogram::Histogram;
use std::collections::HashMap;

/// Participants are numbered globally; room `r` holds `r*P .. (r+1)*P`.
#[derive(Debug, Clone, Copy)]
pub struct Layout {
    pub participants_per_room: u32,
}

impl Layout {
    pub fn room_of(self, participant: u32) -> u32 {
        participant / self.participants_per_room.max(1)
    }
}

#[derive(Debug, Clone)]
pub struct ReceiverStats {
    /// Unique datagrams from other members of the own room, intact.
    pub delivered: u64,
    pub duplicates: u64,
    /// Datagrams from a participant of another room.
    pub misrouted: u64,
    /// The participant's own datagrams coming back.
    pub own_echo: u64,
    /// Datagrams whose bytes changed on the way.
    pub corrupted: u64,
    /// Datagrams that are not ours at all.
    pub foreign: u64,
    /// One-way latency in microseconds.
    pub latency_us: Histogram<u64>,
    seen: HashMap<u32, Vec<u64>>,
}

impl Default for ReceiverStats {
    fn default() -> Self {
        Self {
            delivered: 0,
            duplicates: 0,
            misrouted: 0,
            own_echo: 0,
            corrupted: 0,
            foreign: 0,
            latency_us: new_histogram(),
            seen: HashMap::new(),
        }
    }
}

/// 1 µs to 60 s at 3 significant digits.
pub fn new_histogram() -> Histogram<u64> {
    match Histogram::new_with_bounds(1, 60_000_000, 3) {
        Ok(h) => h,
        Err(e) => unreachable!("constant histogram bounds are valid: {e}"),
    }
}

impl ReceiverStats {
    /// Records one received datagram at `now_us` (same clock as the senders' `send_us`).
    pub fn record(&mut self, datagram: &[u8], me: u32, layout: Layout, now_us: u32) -> Option<u32> {
        let Some(r) = inspect(datagram) else {
            self.foreign += 1;
            return None;
        };
        if !r.intact {
            self.corrupted += 1;
            return None;
        }
        if r.sender == me {
            self.own_echo += 1;
            return None;
        }
        if layout.room_of(r.sender) != layout.room_of(me) {
            self.misrouted += 1;
            return None;
        }
        let bits = self.seen.entry(r.sender).or_default();
        let (word, bit) = ((r.seq / 64) as usize, r.seq % 64);
        if bits.len() <= word {
            bits.resize(word + 1, 0);
        }
        let slot = bits.get_mut(word)?;
        if *slot & (1 << bit) != 0 {
            self.duplicates += 1;
            return None;
        }
        *slot |= 1 << bit;
        self.delivered += 1;
        let latency = now_us.wrapping_sub(r.send_us);
        let _ = self.latency_us.record(u64::from(latency.max(1)));
        Some(r.sender)
    }

    /// Unique datagrams delivered from `sender`.
    pub fn delivered_from(&self, sender: u32) -> u64 {
        self.seen
            .get(&sender)
            .map_or(0, |b| b.iter().map(|w| u64::from(w.count_ones())).sum())
    }

    pub fn merge(&mut self, other: &ReceiverStats) {
        self.delivered += other.delivered;
        self.duplicates += other.duplicates;
        self.misrouted += other.misrouted;
        self.own_echo += other.own_echo;
        self.corrupted += other.corrupted;
        self.foreign += other.foreign;
        let _ = self.latency_us.add(&other.latency_us);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::{MediaSource, Profile};

    #[test]
    fn classifies_every_kind_of_arrival() {
        let layout = Layout {
            participants_per_room: 3,
        };
        let mut from_peer = Vec::new();
        MediaSource::new(Profile::Audio, 1, 0).next_tick(100, &mut from_peer);
        let mut from_other_room = Vec::new();
        MediaSource::new(Profile::Audio, 4, 0).next_tick(100, &mut from_other_room);
        let mut own = Vec::new();
        MediaSource::new(Profile::Audio, 0, 0).next_tick(100, &mut own);
        let mut s = ReceiverStats::default();
        assert_eq!(s.record(&from_peer[0], 0, layout, 350), Some(1));
        assert_eq!(s.record(&from_peer[0], 0, layout, 360), None);
        s.record(&from_other_room[0], 0, layout, 400);
        s.record(&own[0], 0, layout, 400);
        s.record(b"junk", 0, layout, 400);
        let mut bad = from_peer[0].clone();
        let last = bad.len() - 1;
        bad[last] ^= 0xff;
        s.record(&bad, 0, layout, 400);
        assert_eq!(
            (
                s.delivered,
                s.duplicates,
                s.misrouted,
                s.own_echo,
                s.foreign,
                s.corrupted
            ),
            (1, 1, 1, 1, 1, 1)
        );
        assert_eq!(s.latency_us.max(), 250);
        assert_eq!(s.delivered_from(1), 1);
    }
}
