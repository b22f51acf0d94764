//! The fan-out step of the packet path: one accepted datagram goes to every other member of
//! its room, never back to its sender. Delivery is the caller's (the shard queues the original
//! bytes on each receiver's QUIC connection); a receiver whose queue is full loses this copy,
//! and the count says so.

use crate::engine::rooms::Member;

/// What one fan-out did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FanOut {
    /// Copies queued.
    pub queued: u32,
    /// Copies dropped because the receiver's queue was full.
    pub dropped: u32,
}

/// Calls `deliver(receiver)` for every member but `sender`, in join order. `deliver` returns
/// `false` when it had to drop the copy.
pub fn fan_out<K: Copy + Eq>(
    members: &[Member<K>],
    sender: K,
    mut deliver: impl FnMut(K) -> bool,
) -> FanOut {
    let mut out = FanOut::default();
    for member in members {
        if member.key == sender {
            continue;
        }
        if deliver(member.key) {
            out.queued += 1;
        } else {
            out.dropped += 1;
        }
    }
    out
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
            true
        });
        assert_eq!(got, vec![4, 2, 7]);
        assert_eq!(
            out,
            FanOut {
                queued: 3,
                dropped: 0
            }
        );
    }

    #[test]
    fn full_queues_are_counted_and_do_not_stop_the_rest() {
        let out = fan_out(&members(&[1, 2, 3, 4]), 1, |k| k != 3);
        assert_eq!(
            out,
            FanOut {
                queued: 2,
                dropped: 1
            }
        );
    }

    #[test]
    fn alone_in_a_room_sends_to_nobody() {
        let out = fan_out(&members(&[5]), 5, |_| panic!("nobody to deliver to"));
        assert_eq!(out, FanOut::default());
    }
}
