//! Folds shard events into relay-wide aggregates. Pure: events in, snapshot out. The quality
//! fields of the snapshot belong to the judge; the control-plane thread fills them in.

use crate::judge::JudgeStats;
use crate::warden::WardenStats;
use serde::Serialize;
use std::collections::BTreeMap;
use switchyard_proto::control::{ShardCounters, ShardEvent, ShardId};

/// One room as the control plane sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RoomView {
    pub shard: ShardId,
    pub participants: u32,
}

/// What the control plane serves: per-shard counters, their sum, and the rooms.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RelaySnapshot {
    pub shards: Vec<ShardCounters>,
    /// Per shard: the generation of the newest counters received.
    pub generations: Vec<u64>,
    pub total: ShardCounters,
    pub rooms: BTreeMap<String, RoomView>,
    pub joins: u64,
    pub leaves: u64,
    /// The quality judge's gauges and counters (filled in by the control-plane thread).
    pub quality: JudgeStats,
    /// Quality orders the full ring to their shard refused (or that named no shard).
    pub quality_orders_dropped: u64,
    /// Tier G's block list (filled in by the control-plane thread).
    pub bans: WardenStats,
    /// Ban directives a full ring refused (one per shard that missed it).
    pub ban_directives_dropped: u64,
}

impl RelaySnapshot {
    pub fn participants(&self) -> u32 {
        self.rooms.values().map(|r| r.participants).sum()
    }
}

#[derive(Debug)]
pub struct Aggregator {
    snapshot: RelaySnapshot,
}

impl Aggregator {
    pub fn new(shards: usize) -> Self {
        Self {
            snapshot: RelaySnapshot {
                shards: vec![ShardCounters::default(); shards],
                generations: vec![0; shards],
                ..RelaySnapshot::default()
            },
        }
    }

    pub fn handle(&mut self, event: ShardEvent) {
        let s = &mut self.snapshot;
        match event {
            ShardEvent::Joined {
                shard,
                room,
                participants,
                ..
            } => {
                s.joins += 1;
                s.rooms.insert(
                    room,
                    RoomView {
                        shard,
                        participants,
                    },
                );
            }
            ShardEvent::Left {
                shard,
                room,
                participants,
                ..
            } => {
                s.leaves += 1;
                if participants == 0 {
                    s.rooms.remove(&room);
                } else {
                    s.rooms.insert(
                        room,
                        RoomView {
                            shard,
                            participants,
                        },
                    );
                }
            }
            ShardEvent::Counters {
                shard,
                generation,
                counters,
            } => {
                if let Some(slot) = s.shards.get_mut(shard.index()) {
                    *slot = *counters;
                }
                if let Some(g) = s.generations.get_mut(shard.index()) {
                    *g = (*g).max(generation);
                }
                let mut total = ShardCounters::default();
                for c in &s.shards {
                    total.accumulate(c);
                }
                s.total = total;
            }
            ShardEvent::Quality { .. }
            | ShardEvent::UpgradeAnswer { .. }
            | ShardEvent::Capability { .. }
            | ShardEvent::Violation { .. } => {}
        }
    }

    pub fn snapshot(&self) -> &RelaySnapshot {
        &self.snapshot
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_proto::control::ParticipantId;

    fn joined(shard: u16, room: &str, n: u32) -> ShardEvent {
        ShardEvent::Joined {
            shard: ShardId(shard),
            participant: ParticipantId::new(ShardId(shard), u64::from(n)),
            room: room.into(),
            fingerprint: "f".into(),
            participants: n,
        }
    }

    #[test]
    fn join_then_leave_tracks_rooms() {
        let mut a = Aggregator::new(2);
        a.handle(joined(1, "r", 1));
        a.handle(joined(1, "r", 2));
        assert_eq!(
            a.snapshot().rooms["r"],
            RoomView {
                shard: ShardId(1),
                participants: 2
            }
        );
        a.handle(ShardEvent::Left {
            shard: ShardId(1),
            participant: ParticipantId::new(ShardId(1), 1),
            room: "r".into(),
            fingerprint: "f".into(),
            participants: 1,
        });
        assert_eq!(a.snapshot().participants(), 1);
        a.handle(ShardEvent::Left {
            shard: ShardId(1),
            participant: ParticipantId::new(ShardId(1), 1),
            room: "r".into(),
            fingerprint: "f".into(),
            participants: 0,
        });
        assert!(a.snapshot().rooms.is_empty());
        assert_eq!((a.snapshot().joins, a.snapshot().leaves), (2, 2));
    }

    #[test]
    fn counters_replace_per_shard_and_sum() {
        let mut a = Aggregator::new(2);
        let c = |n| {
            Box::new(ShardCounters {
                media_datagrams_forwarded: n,
                ..Default::default()
            })
        };
        a.handle(ShardEvent::Counters {
            shard: ShardId(0),
            generation: 0,
            counters: c(5),
        });
        a.handle(ShardEvent::Counters {
            shard: ShardId(1),
            generation: 3,
            counters: c(7),
        });
        a.handle(ShardEvent::Counters {
            shard: ShardId(0),
            generation: 1,
            counters: c(6),
        });
        let s = a.snapshot();
        assert_eq!(s.total.media_datagrams_forwarded, 13);
        assert_eq!(s.shards[0].media_datagrams_forwarded, 6);
        assert_eq!(s.generations, vec![1, 3]);
        a.handle(ShardEvent::Counters {
            shard: ShardId(9),
            generation: 1,
            counters: c(1),
        });
        assert_eq!(
            a.snapshot().total.media_datagrams_forwarded,
            13,
            "unknown shard ignored"
        );
    }
}
