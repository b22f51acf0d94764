//! Rooms owned by one shard: membership, fan-out targets and the RoomUpdate each change
//! produces. Generic over the member key (the shard uses its connection key).
//!
//! The packet path calls [`RoomTable::members`] with a [`RoomId`] the connection already
//! holds: no name lookup, no allocation. Join and leave allocate (names, the update message);
//! they happen once per participant, not per packet.
//!
//! Each room owns its [`RoomMedia`] (keyframe cache, PLI gate, simulcast layers): a leave
//! purges the leaver's part of it, and the close drops it, returning the cache bytes to the
//! shard's [`CacheLedger`].

use crate::keyframes::CacheLedger;
use crate::room_media::RoomMedia;
use slab::Slab;
use std::collections::HashMap;
use std::hash::Hash;
use switchyard_proto::signal::{default_signal_version, RoomParticipant, SignalMessage};

/// Index of a room in its shard's table; valid until the room closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoomId(usize);

/// One participant as the room sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member<K> {
    pub key: K,
    pub fingerprint: String,
    pub alias: Option<String>,
}

#[derive(Debug)]
struct Room<K> {
    name: String,
    capacity: usize,
    members: Vec<Member<K>>,
    media: RoomMedia<K>,
}

/// Why a join was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinError {
    /// The room is at its capacity (`call-*` rooms hold two).
    RoomFull,
}

/// A membership change: who must be told, and what.
#[derive(Debug, Clone, PartialEq)]
pub struct MembershipChange<K> {
    pub room: RoomId,
    /// RoomUpdate with the new count and participant list.
    pub update: SignalMessage,
    /// Everyone now in the room (the joiner included on join).
    pub recipients: Vec<K>,
    pub participants: usize,
    /// The room emptied and was removed (leave only).
    pub closed: bool,
}

#[derive(Debug)]
pub struct RoomTable<K> {
    rooms: Slab<Room<K>>,
    by_name: HashMap<String, RoomId>,
    default_capacity: usize,
}

/// Direct-call rooms (`call-<id>`) hold the caller and the callee only.
pub const CALL_ROOM_CAPACITY: usize = 2;

impl<K: Copy + Eq + Hash> RoomTable<K> {
    pub fn new(default_capacity: usize) -> Self {
        Self {
            rooms: Slab::new(),
            by_name: HashMap::new(),
            default_capacity,
        }
    }

    pub fn capacity_for(&self, name: &str) -> usize {
        if name.starts_with("call-") {
            CALL_ROOM_CAPACITY
        } else {
            self.default_capacity
        }
    }

    pub fn join(
        &mut self,
        name: &str,
        member: Member<K>,
    ) -> Result<MembershipChange<K>, JoinError> {
        let capacity = self.capacity_for(name);
        let id = match self.by_name.get(name) {
            Some(id) => *id,
            None => {
                let id = RoomId(self.rooms.insert(Room {
                    name: name.to_owned(),
                    capacity,
                    members: Vec::new(),
                    media: RoomMedia::default(),
                }));
                self.by_name.insert(name.to_owned(), id);
                id
            }
        };
        let room = self.rooms.get_mut(id.0).ok_or(JoinError::RoomFull)?;
        if room.members.len() >= room.capacity {
            return Err(JoinError::RoomFull);
        }
        room.members.push(member);
        Ok(Self::change(id, room, false))
    }

    /// Removes `key` and everything it published; `None` if it was not a member of `room`.
    pub fn leave(
        &mut self,
        id: RoomId,
        key: K,
        ledger: &mut CacheLedger,
    ) -> Option<MembershipChange<K>> {
        let room = self.rooms.get_mut(id.0)?;
        let pos = room.members.iter().position(|m| m.key == key)?;
        room.members.remove(pos);
        room.media.forget(key, ledger);
        if room.members.is_empty() {
            let mut room = self.rooms.remove(id.0);
            room.media.clear(ledger);
            self.by_name.remove(&room.name);
            return Some(Self::change(id, &room, true));
        }
        Some(Self::change(id, room, false))
    }

    /// The member of room `name` with this identity, if any.
    pub fn member_named(&self, name: &str, fingerprint: &str) -> Option<K> {
        let id = self.by_name.get(name)?;
        self.rooms
            .get(id.0)?
            .members
            .iter()
            .find(|m| m.fingerprint == fingerprint)
            .map(|m| m.key)
    }

    /// The members and the media state of a room, borrowed together for the packet path.
    pub fn split_mut(&mut self, id: RoomId) -> Option<(&[Member<K>], &mut RoomMedia<K>)> {
        self.rooms
            .get_mut(id.0)
            .map(|r| (r.members.as_slice(), &mut r.media))
    }

    /// Every room with its members and media state.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (RoomId, &[Member<K>], &mut RoomMedia<K>)> {
        self.rooms
            .iter_mut()
            .map(|(id, r)| (RoomId(id), r.members.as_slice(), &mut r.media))
    }

    /// Every member of the room, in join order.
    pub fn members(&self, id: RoomId) -> &[Member<K>] {
        self.rooms.get(id.0).map_or(&[], |r| r.members.as_slice())
    }

    pub fn name(&self, id: RoomId) -> Option<&str> {
        self.rooms.get(id.0).map(|r| r.name.as_str())
    }

    pub fn room_count(&self) -> usize {
        self.rooms.len()
    }

    pub fn participant_count(&self) -> usize {
        self.rooms.iter().map(|(_, r)| r.members.len()).sum()
    }

    fn change(id: RoomId, room: &Room<K>, closed: bool) -> MembershipChange<K> {
        let participants = room
            .members
            .iter()
            .map(|m| RoomParticipant {
                fingerprint: m.fingerprint.clone(),
                alias: m.alias.clone(),
                relay_label: None,
            })
            .collect::<Vec<_>>();
        MembershipChange {
            room: id,
            update: SignalMessage::RoomUpdate {
                version: default_signal_version(),
                count: u32::try_from(participants.len()).unwrap_or(u32::MAX),
                participants,
            },
            recipients: room.members.iter().map(|m| m.key).collect(),
            participants: room.members.len(),
            closed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(key: u32) -> Member<u32> {
        Member {
            key,
            fingerprint: format!("fp{key}"),
            alias: Some(format!("alias{key}")),
        }
    }

    fn ledger() -> CacheLedger {
        CacheLedger::new(1_000, 10_000)
    }

    fn count_of(update: &SignalMessage) -> u32 {
        match update {
            SignalMessage::RoomUpdate {
                count,
                participants,
                ..
            } => {
                assert_eq!(*count as usize, participants.len());
                *count
            }
            other => panic!("not a RoomUpdate: {other:?}"),
        }
    }

    #[test]
    fn first_join_creates_the_room_and_tells_the_joiner() {
        let mut t = RoomTable::new(10);
        let c = t.join("a", member(1)).unwrap();
        assert_eq!(count_of(&c.update), 1);
        assert_eq!(c.recipients, vec![1]);
        assert_eq!(t.room_count(), 1);
        assert_eq!(t.name(c.room), Some("a"));
    }

    #[test]
    fn later_joins_tell_everyone_including_the_joiner() {
        let mut t = RoomTable::new(10);
        let a = t.join("a", member(1)).unwrap().room;
        let c = t.join("a", member(2)).unwrap();
        assert_eq!(c.room, a);
        assert_eq!(count_of(&c.update), 2);
        assert_eq!(c.recipients, vec![1, 2]);
        let SignalMessage::RoomUpdate { participants, .. } = &c.update else {
            unreachable!()
        };
        assert_eq!(participants[1].fingerprint, "fp2");
        assert_eq!(participants[1].alias.as_deref(), Some("alias2"));
    }

    #[test]
    fn leave_tells_the_rest_and_last_leave_closes() {
        let mut t = RoomTable::new(10);
        let id = t.join("a", member(1)).unwrap().room;
        t.join("a", member(2)).unwrap();
        let c = t.leave(id, 1, &mut ledger()).unwrap();
        assert_eq!(
            (count_of(&c.update), c.recipients.clone(), c.closed),
            (1, vec![2], false)
        );
        assert_eq!(t.leave(id, 1, &mut ledger()), None, "not a member any more");
        let c = t.leave(id, 2, &mut ledger()).unwrap();
        assert!(c.closed);
        assert!(c.recipients.is_empty());
        assert_eq!(t.room_count(), 0);
        let again = t.join("a", member(3)).unwrap();
        assert_eq!(count_of(&again.update), 1, "a closed room starts afresh");
    }

    #[test]
    fn rooms_are_separate() {
        let mut t = RoomTable::new(10);
        let a = t.join("a", member(1)).unwrap().room;
        let b = t.join("b", member(2)).unwrap().room;
        assert_ne!(a, b);
        assert_eq!(
            t.members(a).iter().map(|m| m.key).collect::<Vec<_>>(),
            vec![1]
        );
        assert_eq!(
            t.members(b).iter().map(|m| m.key).collect::<Vec<_>>(),
            vec![2]
        );
        assert_eq!(t.participant_count(), 2);
    }

    #[test]
    fn capacity_is_enforced_and_call_rooms_hold_two() {
        let mut t = RoomTable::new(2);
        t.join("g", member(1)).unwrap();
        t.join("g", member(2)).unwrap();
        assert_eq!(t.join("g", member(3)), Err(JoinError::RoomFull));
        let mut t = RoomTable::new(50);
        t.join("call-x", member(1)).unwrap();
        t.join("call-x", member(2)).unwrap();
        assert_eq!(t.join("call-x", member(3)), Err(JoinError::RoomFull));
    }

    #[test]
    fn leave_purges_the_leaver_and_close_returns_every_cache_byte() {
        use switchyard_proto::codec::{CodecId, MediaType};
        use switchyard_proto::media::{Flags, MediaHeader};
        let keyframe = |seq| MediaHeader {
            flags: Flags::empty().with(Flags::KEYFRAME).with(Flags::FRAME_END),
            media_type: MediaType::Video,
            codec: CodecId::H264Baseline,
            stream_id: 0,
            fec_ratio: 0,
            seq,
            timestamp: 0,
            fec_block: 0,
        };
        let mut ledger = ledger();
        let mut t = RoomTable::new(10);
        let id = t.join("a", member(1)).unwrap().room;
        t.join("a", member(2)).unwrap();
        for sender in [1, 2] {
            let h = keyframe(sender);
            let (_, media) = t.split_mut(id).unwrap();
            media.keyframes.observe(sender, &h, &[7; 100], &mut ledger);
        }
        assert_eq!(ledger.bytes(), 200);
        t.leave(id, 1, &mut ledger).unwrap();
        assert_eq!(ledger.bytes(), 100, "the leaver's keyframe is gone at once");
        let (_, media) = t.split_mut(id).unwrap();
        let senders: Vec<u32> = media.keyframes.cached_streams().map(|k| k.sender).collect();
        assert_eq!(senders, vec![2]);
        assert!(t.leave(id, 2, &mut ledger).unwrap().closed);
        assert_eq!(ledger.bytes(), 0, "the closed room gave every byte back");
    }
}
