//! The keyframe cache's per-packet cost and the cost of a join replay, engine only (no
//! sockets, no QUIC):
//!
//! - `keyframe_cache/delta_packet`: a non-keyframe video packet with nothing pending (the
//!   common case on the packet path: no lookup).
//! - `keyframe_cache/keyframe_packets`: the packets of a 25-packet (about 30 KB) keyframe,
//!   buffered and promoted; throughput is per packet.
//! - `join_replay/publishers_3`: a joiner's replay in a room of 3 publishers with a cached
//!   25-packet keyframe each: walk the cache and copy each packet out (the endpoint hands each
//!   to quiche's `dgram_send`, which copies it the same way; the end-to-end cost of a replay
//!   is in the `forwarding` bench's figures per copy).

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use switchyard_engine::keyframes::{
    CacheLedger, KeyframeCache, StreamKey, DEFAULT_SHARD_CAP, DEFAULT_STREAM_CAP,
};
use switchyard_proto::codec::{CodecId, MediaType};
use switchyard_proto::media::{Flags, MediaHeader};

const KEYFRAME_PACKETS: u32 = 25;

fn header(seq: u32, timestamp: u32, flags: u8) -> MediaHeader {
    MediaHeader {
        flags: Flags::from_wire(flags).unwrap_or_else(Flags::empty),
        media_type: MediaType::Video,
        codec: CodecId::H264Baseline,
        stream_id: 0,
        fec_ratio: 50,
        seq,
        timestamp,
        fec_block: 0,
    }
}

fn packet(h: &MediaHeader) -> Vec<u8> {
    let mut out = Vec::new();
    h.encode(&[0x5a; 1184], None, &mut out);
    out
}

/// The headers and bytes of one keyframe of `KEYFRAME_PACKETS` packets.
fn keyframe(timestamp: u32) -> Vec<(MediaHeader, Vec<u8>)> {
    (0..KEYFRAME_PACKETS)
        .map(|i| {
            let mut flags = Flags::KEYFRAME;
            if i + 1 == KEYFRAME_PACKETS {
                flags |= Flags::FRAME_END;
            }
            let h = header(i, timestamp, flags);
            let p = packet(&h);
            (h, p)
        })
        .collect()
}

fn per_packet(c: &mut Criterion) {
    let mut g = c.benchmark_group("keyframe_cache");
    let mut ledger = CacheLedger::new(DEFAULT_STREAM_CAP, DEFAULT_SHARD_CAP);
    let mut cache = KeyframeCache::new();
    for (h, p) in keyframe(0) {
        cache.observe(1u32, &h, &p, &mut ledger);
    }
    let delta = header(100, 33, Flags::FRAME_END);
    let delta_bytes = packet(&delta);
    g.throughput(Throughput::Elements(1));
    g.bench_function("delta_packet", |b| {
        b.iter(|| cache.observe(1, black_box(&delta), black_box(&delta_bytes), &mut ledger))
    });
    let frame = keyframe(66);
    g.throughput(Throughput::Elements(u64::from(KEYFRAME_PACKETS)));
    g.bench_function("keyframe_packets", |b| {
        b.iter(|| {
            for (h, p) in &frame {
                black_box(cache.observe(1, h, p, &mut ledger));
            }
        })
    });
    g.finish();
}

fn join_replay(c: &mut Criterion) {
    let mut ledger = CacheLedger::new(DEFAULT_STREAM_CAP, DEFAULT_SHARD_CAP);
    let mut cache = KeyframeCache::new();
    let publishers = [1u32, 2, 3];
    for sender in publishers {
        for (h, p) in keyframe(0) {
            cache.observe(sender, &h, &p, &mut ledger);
        }
    }
    let mut copies: Vec<u8> =
        Vec::with_capacity(publishers.len() * KEYFRAME_PACKETS as usize * 1200);
    let mut g = c.benchmark_group("join_replay");
    g.throughput(Throughput::Elements(
        publishers.len() as u64 * u64::from(KEYFRAME_PACKETS),
    ));
    g.bench_function("publishers_3", |b| {
        b.iter(|| {
            copies.clear();
            for sender in publishers {
                let key = StreamKey {
                    sender,
                    media_type: MediaType::Video,
                    stream_id: 0,
                };
                for p in cache.cached(&key).into_iter().flatten() {
                    copies.extend_from_slice(p);
                }
            }
            black_box(copies.len())
        })
    });
    g.finish();
}

criterion_group!(benches, per_packet, join_replay);
criterion_main!(benches);
