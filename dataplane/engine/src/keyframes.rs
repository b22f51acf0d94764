//! The keyframe cache of one room: for every stream `(sender, media_type, stream_id)`, the
//! packets of the newest complete keyframe, as the sender sent them, so a participant who
//! joins mid-GOP can be handed a picture before the live packets of that stream.
//!
//! Per stream, two buffers ([`Frame`]: packets stored back to back) and one state machine:
//!
//! ```text
//!   KeyFrame packet ──────────────> pending += packet           (Buffered)
//!   KeyFrame + FrameEnd ──────────> pending becomes cached,     (Promoted)
//!                                   the previous cached frame is released
//!   non-keyframe, pending open ───> pending discarded           (PartialDiscarded)
//!   KeyFrame of a new timestamp ──> pending discarded, restarted with this packet
//!   repair (T) packet ────────────> nothing                     (Ignored)
//!   pending over the stream cap ──> pending and cached dropped, rest of the frame refused
//!   shard total over its cap ─────> the same, counted apart
//! ```
//!
//! Dropping the cached frame on a refusal is deliberate: it belongs to an older GOP, and the
//! stream now relies on PictureLossIndication. Promotion swaps the two buffers, so a steady
//! stream reuses its allocations. Every byte held (pending and cached) is charged to the
//! shard's [`CacheLedger`], which all rooms of the shard share.
//!
//! The relay cannot tell a lost packet from a sequence number spent on a repair packet, so a
//! frame is complete when its FrameEnd packet arrives with the same timestamp as the rest.

use std::collections::HashMap;
use std::hash::Hash;
use switchyard_proto::codec::MediaType;
use switchyard_proto::media::MediaHeader;

/// Default largest keyframe cached per stream (reference: 200 KB).
pub const DEFAULT_STREAM_CAP: usize = 200_000;
/// Default bound on every cache of one shard together.
pub const DEFAULT_SHARD_CAP: usize = 64 * 1024 * 1024;

/// One stream of one room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamKey<K> {
    pub sender: K,
    pub media_type: MediaType,
    pub stream_id: u8,
}

/// What the cache did with a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheEvent {
    /// Not a keyframe packet, and nothing was pending (or a repair packet).
    Ignored,
    /// Appended to the pending keyframe.
    Buffered,
    /// Completed a keyframe, which is now the stream's cached one.
    Promoted,
    /// A non-keyframe packet ended an incomplete keyframe, which was thrown away.
    PartialDiscarded,
    /// The keyframe outgrew the per-stream cap; the stream's cache is empty until the next.
    OverStreamCap,
    /// The shard's caches together would exceed their cap; the stream's cache is emptied.
    OverShardCap,
}

/// The cache's answer for one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observation {
    pub event: CacheEvent,
    /// The packet is the first of a keyframe (where a receiver may start decoding).
    pub keyframe_start: bool,
}

/// Shard-wide limits and totals, shared by the caches of every room on the shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheLedger {
    stream_cap: usize,
    shard_cap: usize,
    bytes: usize,
    pub stats: CacheStats,
}

/// Cumulative counts for the shard's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    pub keyframes_cached: u64,
    pub partials_discarded: u64,
    pub over_stream_cap: u64,
    pub over_shard_cap: u64,
}

impl CacheLedger {
    pub fn new(stream_cap: usize, shard_cap: usize) -> Self {
        Self {
            stream_cap,
            shard_cap,
            bytes: 0,
            stats: CacheStats::default(),
        }
    }

    /// Bytes held by every cache of the shard, pending frames included.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    fn release(&mut self, frame: &mut Frame) {
        self.bytes = self.bytes.saturating_sub(frame.len());
        frame.clear();
    }
}

/// The packets of one access unit, back to back; `ends[i]` is where packet `i` ends.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Frame {
    bytes: Vec<u8>,
    ends: Vec<usize>,
    timestamp: u32,
}

impl Frame {
    fn len(&self) -> usize {
        self.bytes.len()
    }

    fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    fn clear(&mut self) {
        self.bytes.clear();
        self.ends.clear();
    }

    fn push(&mut self, timestamp: u32, packet: &[u8]) {
        if self.ends.is_empty() {
            self.timestamp = timestamp;
        }
        self.bytes.extend_from_slice(packet);
        self.ends.push(self.bytes.len());
    }

    fn packets(&self) -> Packets<'_> {
        Packets {
            frame: self,
            next: 0,
            start: 0,
        }
    }
}

/// The packets of a cached keyframe, in the order the sender sent them.
#[derive(Debug, Clone)]
pub struct Packets<'a> {
    frame: &'a Frame,
    next: usize,
    start: usize,
}

impl<'a> Iterator for Packets<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let end = *self.frame.ends.get(self.next)?;
        let packet = self.frame.bytes.get(self.start..end)?;
        self.next += 1;
        self.start = end;
        Some(packet)
    }
}

#[derive(Debug, Default)]
struct Slot {
    pending: Frame,
    cached: Frame,
    /// Keyframe packets with this timestamp are refused (the frame went over a cap).
    refusing: Option<u32>,
}

impl Slot {
    /// Something a non-keyframe packet must end.
    fn is_open(&self) -> bool {
        !self.pending.is_empty() || self.refusing.is_some()
    }

    fn empty_all(&mut self, ledger: &mut CacheLedger) {
        ledger.release(&mut self.pending);
        ledger.release(&mut self.cached);
    }
}

/// The keyframe cache of one room.
#[derive(Debug)]
pub struct KeyframeCache<K> {
    slots: HashMap<StreamKey<K>, Slot>,
    /// Slots with a pending frame or a refusal: when zero, a non-keyframe packet needs no
    /// lookup at all (the common case on the packet path).
    open: usize,
}

impl<K> Default for KeyframeCache<K> {
    fn default() -> Self {
        Self {
            slots: HashMap::new(),
            open: 0,
        }
    }
}

impl<K: Copy + Eq + Hash> KeyframeCache<K> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds one accepted packet of `sender`; `packet` is the whole datagram.
    pub fn observe(
        &mut self,
        sender: K,
        header: &MediaHeader,
        packet: &[u8],
        ledger: &mut CacheLedger,
    ) -> Observation {
        let ignored = Observation {
            event: CacheEvent::Ignored,
            keyframe_start: false,
        };
        if header.flags.is_repair() {
            return ignored;
        }
        let keyframe = header.flags.is_keyframe();
        if !keyframe && self.open == 0 {
            return ignored;
        }
        let key = StreamKey {
            sender,
            media_type: header.media_type,
            stream_id: header.stream_id,
        };
        let slot = if keyframe {
            self.slots.entry(key).or_default()
        } else {
            match self.slots.get_mut(&key) {
                Some(slot) => slot,
                None => return ignored,
            }
        };
        let was_open = slot.is_open();
        let observation = step(slot, header, packet, ledger);
        match (was_open, slot.is_open()) {
            (false, true) => self.open += 1,
            (true, false) => self.open = self.open.saturating_sub(1),
            _ => {}
        }
        observation
    }

    /// The cached keyframe of `key`, if it has one.
    pub fn cached(&self, key: &StreamKey<K>) -> Option<Packets<'_>> {
        self.slots
            .get(key)
            .filter(|s| !s.cached.is_empty())
            .map(|s| s.cached.packets())
    }

    /// Every stream with a cached keyframe.
    pub fn cached_streams(&self) -> impl Iterator<Item = StreamKey<K>> + '_ {
        self.slots
            .iter()
            .filter(|(_, s)| !s.cached.is_empty())
            .map(|(k, _)| *k)
    }

    /// Drops every stream of `sender` (it left the room).
    pub fn purge_sender(&mut self, sender: K, ledger: &mut CacheLedger) {
        let open = &mut self.open;
        self.slots.retain(|key, slot| {
            if key.sender != sender {
                return true;
            }
            if slot.is_open() {
                *open = open.saturating_sub(1);
            }
            slot.empty_all(ledger);
            false
        });
    }

    /// Drops everything (the room closed).
    pub fn clear(&mut self, ledger: &mut CacheLedger) {
        for slot in self.slots.values_mut() {
            slot.empty_all(ledger);
        }
        self.slots.clear();
        self.open = 0;
    }
}

/// One packet through one stream's state machine.
fn step(
    slot: &mut Slot,
    header: &MediaHeader,
    packet: &[u8],
    ledger: &mut CacheLedger,
) -> Observation {
    let ts = header.timestamp;
    if !header.flags.is_keyframe() {
        slot.refusing = None;
        if slot.pending.is_empty() {
            return Observation {
                event: CacheEvent::Ignored,
                keyframe_start: false,
            };
        }
        ledger.release(&mut slot.pending);
        ledger.stats.partials_discarded += 1;
        return Observation {
            event: CacheEvent::PartialDiscarded,
            keyframe_start: false,
        };
    }
    let frame_end = header.flags.is_frame_end();
    if slot.refusing == Some(ts) {
        if frame_end {
            slot.refusing = None;
        }
        return Observation {
            event: CacheEvent::Ignored,
            keyframe_start: false,
        };
    }
    slot.refusing = None;
    let mut keyframe_start = slot.pending.is_empty();
    if !slot.pending.is_empty() && slot.pending.timestamp != ts {
        // The previous keyframe never saw its FrameEnd.
        ledger.release(&mut slot.pending);
        ledger.stats.partials_discarded += 1;
        keyframe_start = true;
    }
    let refusal = if slot.pending.len() + packet.len() > ledger.stream_cap {
        ledger.stats.over_stream_cap += 1;
        Some(CacheEvent::OverStreamCap)
    } else if ledger.bytes + packet.len() > ledger.shard_cap {
        ledger.stats.over_shard_cap += 1;
        Some(CacheEvent::OverShardCap)
    } else {
        None
    };
    if let Some(event) = refusal {
        slot.empty_all(ledger);
        slot.refusing = (!frame_end).then_some(ts);
        return Observation {
            event,
            keyframe_start,
        };
    }
    slot.pending.push(ts, packet);
    ledger.bytes += packet.len();
    if !frame_end {
        return Observation {
            event: CacheEvent::Buffered,
            keyframe_start,
        };
    }
    ledger.release(&mut slot.cached);
    std::mem::swap(&mut slot.pending, &mut slot.cached);
    ledger.stats.keyframes_cached += 1;
    Observation {
        event: CacheEvent::Promoted,
        keyframe_start,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_proto::codec::CodecId;
    use switchyard_proto::media::Flags;

    const VIDEO: MediaType = MediaType::Video;

    fn header(stream_id: u8, seq: u32, ts: u32, flags: u8) -> MediaHeader {
        MediaHeader {
            flags: Flags::from_wire(flags).unwrap(),
            media_type: VIDEO,
            codec: CodecId::H264Baseline,
            stream_id,
            fec_ratio: 0,
            seq,
            timestamp: ts,
            fec_block: 0,
        }
    }

    fn bytes(h: &MediaHeader, len: usize) -> Vec<u8> {
        let mut out = Vec::new();
        h.encode(&vec![h.seq as u8; len], None, &mut out);
        out
    }

    const K: u8 = Flags::KEYFRAME;
    const E: u8 = Flags::FRAME_END;
    const KE: u8 = Flags::KEYFRAME | Flags::FRAME_END;

    struct Rig {
        cache: KeyframeCache<u32>,
        ledger: CacheLedger,
    }

    impl Rig {
        fn new(stream_cap: usize, shard_cap: usize) -> Self {
            Self {
                cache: KeyframeCache::new(),
                ledger: CacheLedger::new(stream_cap, shard_cap),
            }
        }

        /// Sends one packet of `len` payload bytes; returns the event and the bytes sent.
        fn send(&mut self, sender: u32, h: MediaHeader, len: usize) -> (Observation, Vec<u8>) {
            let b = bytes(&h, len);
            (self.cache.observe(sender, &h, &b, &mut self.ledger), b)
        }

        fn cached(&self, sender: u32, stream_id: u8) -> Option<Vec<Vec<u8>>> {
            let key = StreamKey {
                sender,
                media_type: VIDEO,
                stream_id,
            };
            self.cache
                .cached(&key)
                .map(|p| p.map(<[u8]>::to_vec).collect())
        }
    }

    #[test]
    fn keyframe_packet_is_buffered_not_cached() {
        let mut r = Rig::new(DEFAULT_STREAM_CAP, DEFAULT_SHARD_CAP);
        let (o, b) = r.send(1, header(0, 10, 100, K), 500);
        assert_eq!(o.event, CacheEvent::Buffered);
        assert!(o.keyframe_start);
        assert_eq!(r.cached(1, 0), None, "incomplete frames are not served");
        assert_eq!(r.ledger.bytes(), b.len(), "pending bytes are charged");
        let (o, _) = r.send(1, header(0, 11, 100, K), 500);
        assert_eq!((o.event, o.keyframe_start), (CacheEvent::Buffered, false));
    }

    #[test]
    fn frame_end_promotes_packets_in_order_byte_identical() {
        let mut r = Rig::new(DEFAULT_STREAM_CAP, DEFAULT_SHARD_CAP);
        let (_, a) = r.send(1, header(0, 10, 100, K), 700);
        let (_, b) = r.send(1, header(0, 11, 100, K), 300);
        let (o, c) = r.send(1, header(0, 12, 100, KE), 50);
        assert_eq!(o.event, CacheEvent::Promoted);
        assert_eq!(r.cached(1, 0), Some(vec![a.clone(), b.clone(), c.clone()]));
        assert_eq!(r.ledger.stats.keyframes_cached, 1);
        assert_eq!(r.ledger.bytes(), a.len() + b.len() + c.len());
        let (o, single) = r.send(2, header(0, 1, 5, KE), 40);
        assert_eq!((o.event, o.keyframe_start), (CacheEvent::Promoted, true));
        assert_eq!(r.cached(2, 0), Some(vec![single]), "a one-packet keyframe");
    }

    #[test]
    fn newer_keyframe_replaces_the_cached_one() {
        let mut r = Rig::new(DEFAULT_STREAM_CAP, DEFAULT_SHARD_CAP);
        r.send(1, header(0, 1, 100, KE), 900);
        r.send(1, header(0, 2, 133, E), 200);
        let (_, x) = r.send(1, header(0, 3, 166, K), 100);
        assert_eq!(
            r.cached(1, 0).unwrap().len(),
            1,
            "old frame until the new one ends"
        );
        let (o, y) = r.send(1, header(0, 4, 166, KE), 100);
        assert_eq!(o.event, CacheEvent::Promoted);
        assert_eq!(r.cached(1, 0), Some(vec![x.clone(), y.clone()]));
        assert_eq!(
            r.ledger.bytes(),
            x.len() + y.len(),
            "the old frame is released"
        );
        assert_eq!(r.ledger.stats.keyframes_cached, 2);
    }

    #[test]
    fn non_keyframe_packet_discards_a_partial_keyframe() {
        let mut r = Rig::new(DEFAULT_STREAM_CAP, DEFAULT_SHARD_CAP);
        let (_, whole) = r.send(1, header(0, 1, 100, KE), 100);
        r.send(1, header(0, 2, 200, K), 100);
        let (o, _) = r.send(1, header(0, 4, 233, E), 100);
        assert_eq!(o.event, CacheEvent::PartialDiscarded);
        assert_eq!(r.ledger.stats.partials_discarded, 1);
        assert_eq!(
            r.cached(1, 0),
            Some(vec![whole.clone()]),
            "the complete frame stays"
        );
        assert_eq!(r.ledger.bytes(), whole.len());
        let (o, _) = r.send(1, header(0, 5, 266, 0), 100);
        assert_eq!(o.event, CacheEvent::Ignored, "nothing pending any more");
    }

    #[test]
    fn keyframe_of_a_new_timestamp_restarts_the_pending_frame() {
        let mut r = Rig::new(DEFAULT_STREAM_CAP, DEFAULT_SHARD_CAP);
        r.send(1, header(0, 1, 100, K), 100);
        let (o, a) = r.send(1, header(0, 9, 300, K), 100);
        assert_eq!((o.event, o.keyframe_start), (CacheEvent::Buffered, true));
        let (_, b) = r.send(1, header(0, 10, 300, KE), 100);
        assert_eq!(r.cached(1, 0), Some(vec![a, b]));
        assert_eq!(r.ledger.stats.partials_discarded, 1);
    }

    #[test]
    fn repair_packets_are_never_cached_and_do_not_interrupt() {
        let mut r = Rig::new(DEFAULT_STREAM_CAP, DEFAULT_SHARD_CAP);
        let (_, a) = r.send(1, header(0, 1, 100, K), 100);
        let (o, _) = r.send(1, header(0, 2, 100, Flags::REPAIR | K), 100);
        assert_eq!(o.event, CacheEvent::Ignored);
        let (o, _) = r.send(1, header(0, 3, 100, Flags::REPAIR), 100);
        assert_eq!(o.event, CacheEvent::Ignored);
        let (_, b) = r.send(1, header(0, 4, 100, KE), 100);
        assert_eq!(r.cached(1, 0), Some(vec![a, b]));
    }

    #[test]
    fn streams_and_media_types_are_separate() {
        let mut r = Rig::new(DEFAULT_STREAM_CAP, DEFAULT_SHARD_CAP);
        r.send(1, header(0, 1, 100, K), 100);
        let mut audio = header(0, 1, 100, 0);
        audio.media_type = MediaType::Audio;
        audio.codec = CodecId::Opus24k;
        let (o, _) = r.send(1, audio, 60);
        assert_eq!(o.event, CacheEvent::Ignored, "audio 0 is not video 0");
        r.send(1, header(1, 1, 100, KE), 100);
        let (o, _) = r.send(1, header(0, 2, 100, KE), 100);
        assert_eq!(o.event, CacheEvent::Promoted);
        let mut streams: Vec<_> = r.cache.cached_streams().map(|k| k.stream_id).collect();
        streams.sort_unstable();
        assert_eq!(streams, vec![0, 1]);
    }

    #[test]
    fn keyframe_over_the_stream_cap_is_refused_counted_and_empties_the_stream() {
        let mut r = Rig::new(1_000, DEFAULT_SHARD_CAP);
        r.send(1, header(0, 1, 100, KE), 300);
        r.send(1, header(0, 2, 200, K), 600);
        let (o, _) = r.send(1, header(0, 3, 200, K), 600);
        assert_eq!(o.event, CacheEvent::OverStreamCap);
        assert_eq!(r.ledger.stats.over_stream_cap, 1);
        assert_eq!(r.cached(1, 0), None, "the older frame is dropped too");
        assert_eq!(r.ledger.bytes(), 0);
        let (o, _) = r.send(1, header(0, 4, 200, K), 10);
        assert_eq!(
            o.event,
            CacheEvent::Ignored,
            "the rest of that frame is refused"
        );
        let (o, _) = r.send(1, header(0, 5, 200, KE), 10);
        assert_eq!(o.event, CacheEvent::Ignored);
        assert_eq!(r.ledger.stats.over_stream_cap, 1, "one refusal per frame");
        let (o, _) = r.send(1, header(0, 6, 300, KE), 200);
        assert_eq!(
            o.event,
            CacheEvent::Promoted,
            "the next keyframe is cached again"
        );
    }

    #[test]
    fn shard_cap_bounds_all_rooms_together() {
        let mut ledger = CacheLedger::new(DEFAULT_STREAM_CAP, 2_000);
        let mut room_a = KeyframeCache::new();
        let mut room_b = KeyframeCache::new();
        let h = header(0, 1, 100, KE);
        let b = bytes(&h, 1_200);
        assert_eq!(
            room_a.observe(1u32, &h, &b, &mut ledger).event,
            CacheEvent::Promoted
        );
        let o = room_b.observe(2u32, &h, &b, &mut ledger);
        assert_eq!(o.event, CacheEvent::OverShardCap);
        assert_eq!(ledger.stats.over_shard_cap, 1);
        assert_eq!(ledger.bytes(), b.len());
        room_a.clear(&mut ledger);
        assert_eq!(
            room_b.observe(2u32, &h, &b, &mut ledger).event,
            CacheEvent::Promoted
        );
        assert_eq!(ledger.bytes(), b.len());
    }

    #[test]
    fn sender_leave_purges_only_that_sender() {
        let mut r = Rig::new(DEFAULT_STREAM_CAP, DEFAULT_SHARD_CAP);
        r.send(1, header(0, 1, 100, KE), 100);
        r.send(1, header(1, 1, 100, KE), 100);
        r.send(1, header(2, 1, 100, K), 100);
        let (_, kept) = r.send(2, header(0, 1, 100, KE), 100);
        r.cache.purge_sender(1, &mut r.ledger);
        assert_eq!(r.cached(1, 0), None);
        assert_eq!(r.cached(1, 1), None);
        assert_eq!(r.cached(2, 0), Some(vec![kept.clone()]));
        assert_eq!(r.ledger.bytes(), kept.len(), "purged bytes are released");
        assert_eq!(r.cache.open, 0, "the pending frame went too");
    }

    #[test]
    fn room_close_clears_everything() {
        let mut r = Rig::new(DEFAULT_STREAM_CAP, DEFAULT_SHARD_CAP);
        r.send(1, header(0, 1, 100, KE), 100);
        r.send(2, header(0, 1, 100, K), 100);
        r.cache.clear(&mut r.ledger);
        assert_eq!(r.cache.cached_streams().count(), 0);
        assert_eq!(r.ledger.bytes(), 0);
        let (o, _) = r.send(2, header(0, 2, 100, E), 100);
        assert_eq!(o.event, CacheEvent::Ignored, "no pending frame survived");
    }
}
