//! Steering: every packet of a room reaches the shard that owns the room.
//!
//! - A room's owner is `fnv1a64(name) mod shards`: stable across restarts and builds.
//! - Connection IDs this relay issues carry their shard in the first byte
//!   (`byte0 mod shards == shard`, the rest random).
//! - A classic BPF program attached to the SO_REUSEPORT group reads that byte (offset 1 of a
//!   short-header packet, offset 6 of a long-header packet: the first DCID byte) and returns
//!   `byte mod shards` as the socket index. A client's first Initial carries its own random
//!   DCID, so it reaches an arbitrary shard; that shard reads the SNI and passes the Initial
//!   to the owner, which answers with an owner-tagged ID, and from then on the kernel
//!   delivers the client's packets to the owner directly.

use switchyard_proto::control::ShardId;

/// Length of the connection IDs this relay issues.
pub const CID_LEN: usize = 16;

/// The shard that owns `room` among `shards`.
pub fn owner_of(room: &str, shards: u16) -> ShardId {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let hash = room
        .bytes()
        .fold(OFFSET, |h, b| (h ^ u64::from(b)).wrapping_mul(PRIME));
    ShardId(u16::try_from(hash % u64::from(shards.max(1))).unwrap_or(0))
}

/// The shard a connection ID names, if it is long enough to name one.
pub fn shard_of_cid(cid: &[u8], shards: u16) -> Option<ShardId> {
    let first = *cid.first()?;
    Some(ShardId(u16::from(first) % shards.max(1)))
}

/// A new connection ID for `shard` from 16 random bytes.
pub fn cid_for_shard(shard: ShardId, shards: u16, mut random: [u8; CID_LEN]) -> [u8; CID_LEN] {
    let n = u16::max(shards, 1);
    let slots = 256 / n; // values of byte 0 that map to each shard
    let pick = u16::from(random[0]) % slots;
    random[0] = u8::try_from(pick * n + shard.0 % n).unwrap_or(0);
    random
}

/// One classic BPF instruction (`struct sock_filter`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BpfInsn {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

const LDB_ABS: u16 = 0x30; // BPF_LD | BPF_B | BPF_ABS
const JSET_K: u16 = 0x45; // BPF_JMP | BPF_JSET | BPF_K
const JA: u16 = 0x05; // BPF_JMP | BPF_JA
const MOD_K: u16 = 0x94; // BPF_ALU | BPF_MOD | BPF_K
const RET_A: u16 = 0x16; // BPF_RET | BPF_A

/// What the kernel computes with `program` for `packet`: the socket index, or `None` for an
/// instruction this interpreter does not know. It runs the subset of classic BPF the
/// reuseport program uses, with the kernel's rule that a load past the end of the packet
/// ends the program with 0. Simulations steer with it, so they steer as the kernel does.
pub fn socket_for(program: &[BpfInsn], packet: &[u8]) -> Option<u32> {
    let (mut a, mut pc) = (0u32, 0usize);
    loop {
        let i = program.get(pc)?;
        pc += 1;
        match i.code {
            LDB_ABS => match packet.get(usize::try_from(i.k).ok()?) {
                Some(b) => a = u32::from(*b),
                None => return Some(0),
            },
            JSET_K => pc += usize::from(if a & i.k != 0 { i.jt } else { i.jf }),
            JA => pc += usize::try_from(i.k).ok()?,
            MOD_K => a = a.checked_rem(i.k)?,
            RET_A => return Some(a),
            _ => return None,
        }
    }
}

/// The reuseport program: socket index = first DCID byte mod `shards`.
pub fn reuseport_program(shards: u16) -> [BpfInsn; 7] {
    let insn = |code, jt, jf, k| BpfInsn { code, jt, jf, k };
    [
        insn(LDB_ABS, 0, 0, 0),   // A = packet[0]
        insn(JSET_K, 0, 2, 0x80), // long header? next : +2
        insn(LDB_ABS, 0, 0, 6),   // long: A = first DCID byte
        insn(JA, 0, 0, 1),        // skip the short-header load
        insn(LDB_ABS, 0, 0, 1),   // short: A = first DCID byte
        insn(MOD_K, 0, 0, u32::from(shards.max(1))),
        insn(RET_A, 0, 0, 0),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(program: &[BpfInsn], packet: &[u8]) -> u32 {
        socket_for(program, packet).expect("only known instructions")
    }

    #[test]
    fn program_picks_the_shard_named_by_the_dcid() {
        for shards in [1u16, 2, 3, 4, 7, 16] {
            let prog = reuseport_program(shards);
            for shard in 0..shards {
                let cid = cid_for_shard(ShardId(shard), shards, [0xAB; CID_LEN]);
                let mut short = vec![0x40];
                short.extend_from_slice(&cid);
                assert_eq!(
                    run(&prog, &short),
                    u32::from(shard),
                    "short header, {shards} shards"
                );
                let mut long = vec![0xC0, 0, 0, 0, 1, CID_LEN as u8];
                long.extend_from_slice(&cid);
                assert_eq!(
                    run(&prog, &long),
                    u32::from(shard),
                    "long header, {shards} shards"
                );
            }
        }
        assert_eq!(
            run(&reuseport_program(2), &[0xC0, 0, 0]),
            0,
            "truncated packet"
        );
        let unknown = [BpfInsn {
            code: 0x06,
            jt: 0,
            jf: 0,
            k: 0,
        }];
        assert_eq!(socket_for(&unknown, &[1, 2, 3]), None);
        assert_eq!(socket_for(&[], &[1]), None, "falling off the end");
    }

    #[test]
    fn issued_cids_name_their_shard_for_every_random_first_byte() {
        for shards in [1u16, 2, 3, 5, 8, 100] {
            for b in 0..=255u8 {
                let mut random = [7u8; CID_LEN];
                random[0] = b;
                for shard in 0..shards {
                    let cid = cid_for_shard(ShardId(shard), shards, random);
                    assert_eq!(shard_of_cid(&cid, shards), Some(ShardId(shard)));
                    assert_eq!(&cid[1..], &random[1..]);
                }
            }
        }
        assert_eq!(shard_of_cid(&[], 2), None);
    }

    #[test]
    fn room_owner_is_stable_and_spreads() {
        assert_eq!(owner_of("room-a", 4), owner_of("room-a", 4));
        assert_eq!(owner_of("anything", 1), ShardId(0));
        let mut per_shard = [0u32; 4];
        for i in 0..400 {
            per_shard[owner_of(&format!("room-{i}"), 4).index()] += 1;
        }
        assert!(per_shard.iter().all(|n| *n > 60), "{per_shard:?}");
        // Pinned values: a change of hash would move rooms between shards across upgrades.
        assert_eq!(owner_of("default", 2), owner_of("default", 2));
        assert_eq!(
            owner_of("", 1_000),
            ShardId((0xcbf2_9ce4_8422_2325u64 % 1000) as u16)
        );
    }
}
