//! The relay endpoint's datagram input under fuzzing: any bytes, from any address, before and
//! after a join. `proto/fuzz` wraps [`endpoint_datagram`] in a libFuzzer target; the unit tests
//! below run it over random and shaped inputs.
//!
//! Two relays live for the whole fuzzing session: one nobody has joined, and one whose room of
//! three joined through real handshakes. The first input byte picks the relay and how the
//! rest is sent: as it is, or behind a QUIC short header naming a joined member's connection
//! (so it reaches quiche's decryption), from a new address or a member's own. The contract
//! is more than "no panic": after every input the room still forwards a member's datagram to
//! each other member, and no connection survives without a completed handshake.

use crate::forwarding::ForwardingRoom;
use crate::media::{MediaSource, Profile};
use std::cell::RefCell;
use std::net::SocketAddr;

struct Relays {
    empty: ForwardingRoom,
    joined: ForwardingRoom,
    media: Vec<u8>,
}

thread_local! {
    static RELAYS: RefCell<Option<Relays>> = const { RefCell::new(None) };
}

fn relays() -> Relays {
    let mut media = Vec::new();
    MediaSource::new(Profile::Audio, 0, 1).next_tick(0, &mut media);
    Relays {
        empty: ForwardingRoom::empty().unwrap_or_else(|e| panic!("fuzz relay: {e}")),
        joined: ForwardingRoom::new(2).unwrap_or_else(|e| panic!("fuzz relay: {e}")),
        media: media.swap_remove(0),
    }
}

/// One fuzz input: `[mode, port, bytes...]`.
pub fn endpoint_datagram(data: &[u8]) {
    let [mode, port, rest @ ..] = data else {
        return;
    };
    RELAYS.with(|cell| {
        let mut slot = cell.borrow_mut();
        let relays = slot.get_or_insert_with(relays);
        let (room, joined) = if mode & 0x80 == 0 {
            (&mut relays.empty, false)
        } else {
            (&mut relays.joined, true)
        };
        let member = room.member(usize::from(mode & 0x03));
        let mut from = SocketAddr::from(([192, 0, 2, 1], 1024 + u16::from(*port)));
        let mut datagram = rest.to_vec();
        if let (true, Some((address, cid))) = (joined, member) {
            if mode & 0x10 != 0 {
                from = address;
            }
            if mode & 0x20 != 0 {
                // A short header with the member's connection ID: quiche must decrypt it.
                let mut packet = vec![0x40 | (rest.first().unwrap_or(&0) & 0x3f)];
                packet.extend_from_slice(&cid);
                packet.extend_from_slice(rest);
                datagram = packet;
            }
        }
        room.inject(from, &mut datagram);
        room.expire_handshakes();
        if joined {
            let before = room.received().to_vec();
            room.forward(&relays.media);
            let after = room.received();
            assert_eq!(after[0], before[0], "nothing back to the sender");
            for (b, a) in before.iter().zip(after).skip(1) {
                assert_eq!(*a, b + 1, "the room still forwards after any input");
            }
            assert_eq!(room.connections(), 3, "the members' connections survive");
        } else {
            assert_eq!(
                room.connections(),
                0,
                "nothing survives without a handshake"
            );
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn random_and_shaped_inputs_keep_the_contract() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(9);
        for i in 0..600u32 {
            let len = rng.gen_range(0..1500);
            let mut data = vec![0u8; len];
            rng.fill(&mut data[..]);
            if let Some(mode) = data.first_mut() {
                // Every relay, source and shaping in turn.
                *mode = (i % 256) as u8;
            }
            endpoint_datagram(&data);
        }
    }

    fn empty_relay_counters() -> switchyard_proto::control::ShardCounters {
        RELAYS.with(|c| {
            c.borrow()
                .as_ref()
                .map(|r| r.empty.counters().clone())
                .unwrap_or_default()
        })
    }

    #[test]
    fn quic_looking_inputs_reach_the_accept_path_and_leave_nothing() {
        endpoint_datagram(&[0, 0]);
        let before = empty_relay_counters();
        // A long-header Initial of version 1 with a fresh DCID: a new connection attempt whose
        // ClientHello never completes.
        let mut initial = vec![0x00, 7, 0xC0, 0, 0, 0, 1, 16];
        initial.extend_from_slice(&[0xAB; 16]);
        initial.extend_from_slice(&[0, 0, 0x44, 0xb0]);
        initial.resize(1202, 0);
        endpoint_datagram(&initial);
        let after = empty_relay_counters();
        assert_eq!(after.initials_abandoned, before.initials_abandoned + 1);
        assert_eq!(after.connections_accepted, 0);
        // An unknown version gets version negotiation and leaves nothing either.
        initial[6] = 0x2a;
        endpoint_datagram(&initial);
        let last = empty_relay_counters();
        assert_eq!(last.initials_abandoned, after.initials_abandoned);
        assert_eq!(last.udp_datagrams_in, after.udp_datagrams_in + 1);
    }
}
