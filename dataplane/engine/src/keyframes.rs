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
//!   sender's streams over its share, room's over its share,
//!   shard total over its cap ─────> the same, each counted apart
//!   keyframe flag on audio, data, control, or a stream id no
//!   simulcast layer uses ─────────> nothing, no slot is opened (SlotRefused)
//! ```
//!
//! Shares: every byte is charged to the stream's sender and room as well as the shard, so
//! one publisher can hold at most its sender share (and only [`VIDEO_STREAM_IDS`] slots of
//! its own), and one room its room share: a room cannot push the others' keyframes out of
//! the shard's cap, and a publisher cycling stream ids or media types opens nothing.
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
/// Default bound on one room's caches (a 40-publisher room of 3 layers at 130 KB keyframes).
pub const DEFAULT_ROOM_SHARE: usize = 16 * 1024 * 1024;
/// Default bound on one sender's streams in its room (3 layers, each a pending and a cached
/// keyframe of up to 200 KB, rounded).
pub const DEFAULT_SENDER_SHARE: usize = 1024 * 1024;
/// The stream ids that can carry video: the simulcast layers (reference 1.9).
pub const VIDEO_STREAM_IDS: u8 = 3;

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
    /// The room's caches would exceed its share; the stream's cache is emptied.
    OverRoomShare,
    /// The sender's streams would exceed its share; the stream's cache is emptied.
    OverSenderShare,
    /// A keyframe flag on a media type or stream id that cannot carry video: no slot opened.
    SlotRefused,
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
    room_share: usize,
    sender_share: usize,
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
    pub over_room_share: u64,
    pub over_sender_share: u64,
    /// Keyframe packets of a media type or stream id that cannot carry video.
    pub slots_refused: u64,
}

impl CacheLedger {
    /// Limits with no room or sender share below the shard cap (see [`Self::with_shares`]).
    pub fn new(stream_cap: usize, shard_cap: usize) -> Self {
        Self {
            stream_cap,
            shard_cap,
            room_share: shard_cap,
            sender_share: shard_cap,
            bytes: 0,
            stats: CacheStats::default(),
        }
    }

    /// Bounds each room's caches to `room` bytes and each sender's streams to `sender`.
    pub fn with_shares(mut self, room: usize, sender: usize) -> Self {
        self.room_share = room;
        self.sender_share = sender;
        self
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

    fn bytes(&self) -> usize {
        self.pending.len() + self.cached.len()
    }
}

/// What the stream's room and sender hold already, besides the stream itself.
#[derive(Debug, Clone, Copy)]
struct Held {
    room: usize,
    sender: usize,
}

/// The keyframe cache of one room.
#[derive(Debug)]
pub struct KeyframeCache<K> {
    slots: HashMap<StreamKey<K>, Slot>,
    /// Slots with a pending frame or a refusal: when zero, a non-keyframe packet needs no
    /// lookup at all (the common case on the packet path).
    open: usize,
    /// Bytes held by this room's slots, and by each sender's.
    bytes: usize,
    by_sender: HashMap<K, usize>,
}

impl<K> Default for KeyframeCache<K> {
    fn default() -> Self {
        Self {
            slots: HashMap::new(),
            open: 0,
            bytes: 0,
            by_sender: HashMap::new(),
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
        if header.media_type != MediaType::Video || header.stream_id >= VIDEO_STREAM_IDS {
            if keyframe {
                ledger.stats.slots_refused += 1;
                return Observation {
                    event: CacheEvent::SlotRefused,
                    keyframe_start: false,
                };
            }
            return ignored;
        }
        let sender_bytes = self.by_sender.get(&sender).copied().unwrap_or(0);
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
        let before = slot.bytes();
        let held = Held {
            room: self.bytes - before,
            sender: sender_bytes - before,
        };
        let observation = step(slot, header, packet, ledger, held);
        let after = slot.bytes();
        match (was_open, slot.is_open()) {
            (false, true) => self.open += 1,
            (true, false) => self.open = self.open.saturating_sub(1),
            _ => {}
        }
        self.bytes = held.room + after;
        if held.sender + after == 0 {
            self.by_sender.remove(&sender);
        } else {
            self.by_sender.insert(sender, held.sender + after);
        }
        observation
    }

    /// Bytes this room's caches hold, pending frames included.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Bytes `sender`'s streams hold.
    pub fn sender_bytes(&self, sender: K) -> usize {
        self.by_sender.get(&sender).copied().unwrap_or(0)
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
        let held = self.by_sender.remove(&sender).unwrap_or(0);
        self.bytes = self.bytes.saturating_sub(held);
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
        self.bytes = 0;
        self.by_sender.clear();
    }
}

/// One packet through one stream's state machine.
fn step(
    slot: &mut Slot,
    header: &MediaHeader,
    packet: &[u8],
    ledger: &mut CacheLedger,
    held: Held,
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
    } else if held.sender + slot.bytes() + packet.len() > ledger.sender_share {
        ledger.stats.over_sender_share += 1;
        Some(CacheEvent::OverSenderShare)
    } else if held.room + slot.bytes() + packet.len() > ledger.room_share {
        ledger.stats.over_room_share += 1;
        Some(CacheEvent::OverRoomShare)
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

    #[test]
    fn a_publisher_cycling_256_stream_ids_cannot_evict_another_rooms_keyframe() {
        // Room for five 1 KB keyframes in the whole shard: the publisher's three layers, room
        // B's cached one and the next it sends (held until it completes).
        let mut ledger = CacheLedger::new(DEFAULT_STREAM_CAP, 5_200);
        let mut room_a = KeyframeCache::new();
        let mut room_b = KeyframeCache::new();
        let h = header(0, 1, 100, KE);
        let b = bytes(&h, 1_000);
        assert_eq!(
            room_b.observe(2u32, &h, &b, &mut ledger).event,
            CacheEvent::Promoted
        );
        let mut seq = 0;
        for stream_id in 0..=255u8 {
            seq += 1;
            let h = header(stream_id, seq, 100 + seq, KE);
            let o = room_a.observe(1u32, &h, &bytes(&h, 1_000), &mut ledger);
            let expected = if stream_id < VIDEO_STREAM_IDS {
                CacheEvent::Promoted
            } else {
                CacheEvent::SlotRefused
            };
            assert_eq!(o.event, expected, "stream {stream_id}");
        }
        for media_type in [MediaType::Audio, MediaType::Data, MediaType::Control] {
            let mut h = header(0, seq + 1, 100, KE);
            h.media_type = media_type;
            let o = room_a.observe(1u32, &h, &bytes(&h, 1_000), &mut ledger);
            assert_eq!(o.event, CacheEvent::SlotRefused, "{media_type:?}");
        }
        assert_eq!(ledger.stats.slots_refused, 253 + 3);
        assert_eq!(
            room_a.cached_streams().count(),
            3,
            "only the three video layers"
        );
        let key = StreamKey {
            sender: 2u32,
            media_type: VIDEO,
            stream_id: 0,
        };
        assert_eq!(
            room_b.cached(&key).map(Iterator::count),
            Some(1),
            "room B's keyframe stays"
        );
        let h = header(0, 2, 200, KE);
        let newer = bytes(&h, 1_000);
        assert_eq!(
            room_b.observe(2u32, &h, &newer, &mut ledger).event,
            CacheEvent::Promoted,
            "and its next one still fits"
        );
        assert_eq!(ledger.bytes(), room_a.bytes() + room_b.bytes());
    }

    #[test]
    fn a_sender_over_its_share_loses_only_the_stream_that_went_over() {
        let mut ledger =
            CacheLedger::new(DEFAULT_STREAM_CAP, DEFAULT_SHARD_CAP).with_shares(1 << 20, 2_500);
        let mut room = KeyframeCache::new();
        let send =
            |room: &mut KeyframeCache<u32>, ledger: &mut CacheLedger, sender, stream_id, seq| {
                let h = header(stream_id, seq, 100 * seq, KE);
                room.observe(sender, &h, &bytes(&h, 1_000), ledger).event
            };
        assert_eq!(send(&mut room, &mut ledger, 1, 0, 1), CacheEvent::Promoted);
        assert_eq!(send(&mut room, &mut ledger, 1, 1, 2), CacheEvent::Promoted);
        assert_eq!(
            send(&mut room, &mut ledger, 1, 2, 3),
            CacheEvent::OverSenderShare
        );
        assert_eq!(
            send(&mut room, &mut ledger, 2, 0, 4),
            CacheEvent::Promoted,
            "another sender's share is its own"
        );
        assert_eq!(ledger.stats.over_sender_share, 1);
        let one = bytes(&header(0, 1, 100, KE), 1_000).len();
        assert_eq!((room.sender_bytes(1), room.sender_bytes(2)), (2 * one, one));
        // A newer keyframe of a stream it holds replaces the old one within the share.
        assert_eq!(
            send(&mut room, &mut ledger, 1, 0, 5),
            CacheEvent::OverSenderShare
        );
        assert_eq!(
            room.sender_bytes(1),
            one,
            "the pending one over the share took the old with it"
        );
        assert_eq!(send(&mut room, &mut ledger, 1, 0, 6), CacheEvent::Promoted);
    }

    #[test]
    fn a_room_over_its_share_refuses_its_own_streams_not_another_rooms() {
        let mut ledger =
            CacheLedger::new(DEFAULT_STREAM_CAP, DEFAULT_SHARD_CAP).with_shares(2_500, 1 << 20);
        let mut busy = KeyframeCache::new();
        let mut quiet = KeyframeCache::new();
        let event = |room: &mut KeyframeCache<u32>, ledger: &mut CacheLedger, sender, seq| {
            let h = header(0, seq, 100 * seq, KE);
            room.observe(sender, &h, &bytes(&h, 1_000), ledger).event
        };
        assert_eq!(event(&mut busy, &mut ledger, 1, 1), CacheEvent::Promoted);
        assert_eq!(event(&mut busy, &mut ledger, 2, 2), CacheEvent::Promoted);
        assert_eq!(
            event(&mut busy, &mut ledger, 3, 3),
            CacheEvent::OverRoomShare
        );
        assert_eq!(event(&mut quiet, &mut ledger, 9, 4), CacheEvent::Promoted);
        assert_eq!(ledger.stats.over_room_share, 1);
        busy.purge_sender(1, &mut ledger);
        assert_eq!(
            event(&mut busy, &mut ledger, 3, 5),
            CacheEvent::Promoted,
            "a leaver frees its room's share"
        );
        busy.clear(&mut ledger);
        assert_eq!((busy.bytes(), busy.sender_bytes(2)), (0, 0));
        assert_eq!(ledger.bytes(), quiet.bytes());
    }
}
