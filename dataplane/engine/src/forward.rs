//! The fan-out step of the packet path: one accepted datagram goes to every other member of
//! its room, never back to its sender. Delivery is the caller's (the shard queues the original
//! bytes on each receiver's QUIC connection); a receiver whose queue is full loses this copy,
//! and the count says so. A receiver may also not want the copy (another simulcast layer is
//! forwarded to it), which is counted apart.

use crate::keyframes::CacheLedger;
use crate::layers::LayerPolicy;
use crate::room_media::RoomMedia;
use crate::rooms::Member;
use std::hash::Hash;
use std::time::Instant;
use switchyard_proto::media::MediaHeader;

/// What one fan-out did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FanOut {
    /// Copies queued.
    pub queued: u32,
    /// Copies dropped because the receiver's queue was full.
    pub dropped: u32,
    /// Copies not meant for the receiver (another layer is forwarded to it).
    pub skipped: u32,
}

/// What became of one copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    Queued,
    Dropped,
    Skipped,
}

impl Delivery {
    /// `Queued` when the receiver's queue took the copy, `Dropped` otherwise.
    pub fn queued_if(taken: bool) -> Self {
        if taken {
            Self::Queued
        } else {
            Self::Dropped
        }
    }
}

/// Calls `deliver(receiver)` for every member but `sender`, in join order.
pub fn fan_out<K: Copy + Eq>(
    members: &[Member<K>],
    sender: K,
    mut deliver: impl FnMut(K) -> Delivery,
) -> FanOut {
    let mut out = FanOut::default();
    for member in members {
        if member.key == sender {
            continue;
        }
        match deliver(member.key) {
            Delivery::Queued => out.queued += 1,
            Delivery::Dropped => out.dropped += 1,
            Delivery::Skipped => out.skipped += 1,
        }
    }
    out
}

/// What [`forward_packet`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Forwarded {
    pub fan_out: FanOut,
    /// Receivers that moved to this packet's simulcast layer with it.
    pub layer_switches: u32,
}

/// One accepted packet on the packet path.
#[derive(Debug, Clone, Copy)]
pub struct Packet<'a, K> {
    pub sender: K,
    /// `None` for packets without a full header (compact mini frames: audio).
    pub header: Option<&'a MediaHeader>,
    /// The original bytes, forwarded unchanged.
    pub datagram: &'a [u8],
    pub now: Instant,
}

/// The room's steps for one accepted packet: the keyframe cache and the stream registry see
/// it once, then every other member that takes its layer gets the original bytes through
/// `deliver` (which returns `false` when the receiver's queue is full).
pub fn forward_packet<K: Copy + Eq + Hash>(
    members: &[Member<K>],
    media: &mut RoomMedia<K>,
    ledger: &mut CacheLedger,
    policy: &LayerPolicy,
    packet: Packet<'_, K>,
    mut deliver: impl FnMut(K) -> bool,
) -> Forwarded {
    let Packet {
        sender,
        header,
        datagram,
        now,
    } = packet;
    let layered = header.and_then(|h| media.simulcast.on_packet(sender, h, now, policy));
    let keyframe_start = header.is_some_and(|h| {
        media
            .keyframes
            .observe(sender, h, datagram, ledger)
            .keyframe_start
    });
    let mut layer_switches = 0;
    let fan_out = fan_out(members, sender, |receiver| {
        if let Some(l) = layered {
            let a = media
                .simulcast
                .admit(sender, receiver, l, keyframe_start, now);
            layer_switches += u32::from(a.switched);
            if !a.admit {
                return Delivery::Skipped;
            }
        }
        Delivery::queued_if(deliver(receiver))
    });
    Forwarded {
        fan_out,
        layer_switches,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(keys: &[u32]) -> Vec<Member<u32>> {
        keys.iter()
            .map(|k| Member {
                key: *k,
                fingerprint: String::new(),
                alias: None,
            })
            .collect()
    }

    #[test]
    fn everyone_but_the_sender_in_join_order() {
        let mut got = Vec::new();
        let out = fan_out(&members(&[4, 2, 9, 7]), 9, |k| {
            got.push(k);
            Delivery::Queued
        });
        assert_eq!(got, vec![4, 2, 7]);
        assert_eq!(
            out,
            FanOut {
                queued: 3,
                dropped: 0,
                skipped: 0
            }
        );
    }

    #[test]
    fn full_queues_and_skips_are_counted_and_do_not_stop_the_rest() {
        let out = fan_out(&members(&[1, 2, 3, 4, 5]), 1, |k| match k {
            3 => Delivery::Dropped,
            5 => Delivery::Skipped,
            _ => Delivery::Queued,
        });
        assert_eq!(
            out,
            FanOut {
                queued: 2,
                dropped: 1,
                skipped: 1
            }
        );
    }

    #[test]
    fn alone_in_a_room_sends_to_nobody() {
        let out = fan_out(&members(&[5]), 5, |_| panic!("nobody to deliver to"));
        assert_eq!(out, FanOut::default());
    }
}
