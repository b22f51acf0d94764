//! What one receiver observed: deliveries, duplicates, misrouting, corruption, latency, and
//! when each sender's first whole keyframe was in hand.

use crate::media::{inspect, layer_index, Received};
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
    /// Video datagrams delivered per simulcast layer (stream_id 0, 1, 2).
    pub delivered_by_layer: [u64; 3],
    /// Per sender: when (receiver clock, µs) the first complete keyframe was in hand.
    pub first_keyframe_us: HashMap<u32, u32>,
    /// Per (sender, media_type, stream_id): the sequence numbers seen, as a bitset.
    seen: HashMap<(u32, u8, u8), Vec<u64>>,
    /// Per (sender, stream_id): the keyframe being assembled.
    assembling: HashMap<(u32, u8), Assembly>,
}

/// Parts of one keyframe received so far.
#[derive(Debug, Clone, Default)]
struct Assembly {
    timestamp: u32,
    count: u16,
    got: u16,
    bits: Vec<u64>,
}

impl Assembly {
    /// Adds part `index` of `count`; true when the keyframe is whole.
    fn add(&mut self, timestamp: u32, index: u16, count: u16) -> bool {
        if self.timestamp != timestamp || self.count != count || self.bits.is_empty() {
            *self = Self {
                timestamp,
                count,
                got: 0,
                bits: vec![0; usize::from(count) / 64 + 1],
            };
        }
        let (word, bit) = (usize::from(index) / 64, index % 64);
        if let Some(w) = self.bits.get_mut(word) {
            if *w & (1 << bit) == 0 && index < count {
                *w |= 1 << bit;
                self.got += 1;
            }
        }
        self.got == count
    }
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
            delivered_by_layer: [0; 3],
            first_keyframe_us: HashMap::new(),
            seen: HashMap::new(),
            assembling: HashMap::new(),
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
        let h = r.header;
        let bits = self
            .seen
            .entry((r.sender, h.media_type.to_wire(), h.stream_id))
            .or_default();
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
        if let Some(n) = layer_index(&h).and_then(|l| self.delivered_by_layer.get_mut(l)) {
            *n += 1;
        }
        self.watch_keyframe(&r, now_us);
        Some(r.sender)
    }

    fn watch_keyframe(&mut self, r: &Received, now_us: u32) {
        let (Some((index, count)), true) = (r.part, r.header.flags.is_keyframe()) else {
            return;
        };
        let assembly = self
            .assembling
            .entry((r.sender, r.header.stream_id))
            .or_default();
        if assembly.add(r.header.timestamp, index, count) {
            self.first_keyframe_us.entry(r.sender).or_insert(now_us);
        }
    }

    /// Unique datagrams delivered from `sender`.
    pub fn delivered_from(&self, sender: u32) -> u64 {
        self.seen
            .iter()
            .filter(|((s, _, _), _)| *s == sender)
            .flat_map(|(_, b)| b.iter())
            .map(|w| u64::from(w.count_ones()))
            .sum()
    }

    pub fn merge(&mut self, other: &ReceiverStats) {
        self.delivered += other.delivered;
        self.duplicates += other.duplicates;
        self.misrouted += other.misrouted;
        self.own_echo += other.own_echo;
        self.corrupted += other.corrupted;
        self.foreign += other.foreign;
        let _ = self.latency_us.add(&other.latency_us);
        for (a, b) in self
            .delivered_by_layer
            .iter_mut()
            .zip(other.delivered_by_layer)
        {
            *a += b;
        }
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

    #[test]
    fn first_whole_keyframe_is_timed_per_sender_and_layers_do_not_collide() {
        let layout = Layout {
            participants_per_room: 4,
        };
        let mut out = Vec::new();
        MediaSource::new(Profile::Simulcast, 1, 0).next_tick(100, &mut out);
        let mut s = ReceiverStats::default();
        let (last, rest) = out.split_last().unwrap();
        for (i, d) in rest.iter().enumerate() {
            assert_eq!(s.record(d, 0, layout, 200 + i as u32), Some(1));
        }
        assert!(
            s.first_keyframe_us.contains_key(&1),
            "layers 0 and 1 completed"
        );
        let low_done = s.first_keyframe_us[&1];
        s.record(last, 0, layout, 9_000);
        assert_eq!(s.first_keyframe_us[&1], low_done, "only the first counts");
        assert_eq!(s.duplicates, 0, "every layer starts at seq 0");
        assert_eq!(s.delivered_by_layer.iter().sum::<u64>(), out.len() as u64);
        assert!(s.delivered_by_layer.iter().all(|n| *n > 0));
    }

    #[test]
    fn a_keyframe_missing_a_part_is_not_whole() {
        let layout = Layout {
            participants_per_room: 4,
        };
        let mut out = Vec::new();
        MediaSource::new(Profile::Video, 2, 0).next_tick(100, &mut out);
        let mut s = ReceiverStats::default();
        for d in out.iter().skip(1) {
            s.record(d, 0, layout, 500);
        }
        assert!(s.first_keyframe_us.is_empty(), "part 0 never came");
        s.record(&out[0], 0, layout, 700);
        assert_eq!(s.first_keyframe_us.get(&2), Some(&700));
    }
}
