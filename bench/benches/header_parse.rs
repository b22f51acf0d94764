//! Header parsing: a bare v2 audio packet, one with a QualityReport trailer, a 1200-byte video
//! packet, and the datagram classifier the shard runs on every media datagram.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use switchyard_bench::media::{MediaSource, Profile};
use switchyard_proto::datagram::InboundDatagram;
use switchyard_proto::media::MediaPacket;

fn packets() -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let mut audio = Vec::new();
    let mut source = MediaSource::new(Profile::Audio, 1, 1);
    for t in 0..50 {
        source.next_tick(t, &mut audio);
    }
    let plain = audio
        .iter()
        .find(|p| MediaPacket::parse(p).is_ok_and(|m| m.quality.is_none()))
        .cloned();
    let with_q = audio
        .iter()
        .find(|p| MediaPacket::parse(p).is_ok_and(|m| m.quality.is_some()))
        .cloned();
    let mut video = Vec::new();
    MediaSource::new(Profile::Video, 2, 1).next_tick(0, &mut video);
    (
        plain.unwrap_or_default(),
        with_q.unwrap_or_default(),
        video.swap_remove(0),
    )
}

fn parse(c: &mut Criterion) {
    let (audio, audio_q, video) = packets();
    let mut g = c.benchmark_group("header_parse");
    g.throughput(Throughput::Elements(1));
    g.bench_function("audio", |b| {
        b.iter(|| MediaPacket::parse(black_box(&audio)))
    });
    g.bench_function("audio_with_quality_report", |b| {
        b.iter(|| MediaPacket::parse(black_box(&audio_q)))
    });
    g.bench_function("video_1200B", |b| {
        b.iter(|| MediaPacket::parse(black_box(&video)))
    });
    g.bench_function("classify_datagram", |b| {
        b.iter(|| InboundDatagram::parse(black_box(&audio)))
    });
    g.bench_function("reject_garbage", |b| {
        b.iter(|| InboundDatagram::parse(black_box(&[7u8, 1, 2, 3][..])))
    });
    g.finish();
}

criterion_group!(benches, parse);
criterion_main!(benches);
