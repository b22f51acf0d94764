//! One shard's forwarding path in-process (no sockets) at fan-out 1, 4 and 16:
//! `engine/N` is parse + fan-out into bounded receiver queues; `quic/N` is the same with real
//! quiche connections in memory (relay decrypts, forwards, encrypts per receiver; the
//! criterion figure includes the in-memory clients). After criterion, a per-packet latency
//! distribution of the relay's side (HdrHistogram p50/p99/p99.9) is written to
//! `target/forwarding-latency.txt`.

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use hdrhistogram::Histogram;
use std::fmt::Write as _;
use std::time::Instant;
use switchyard_bench::forwarding::{EngineRoom, QuicRoom};
use switchyard_bench::media::{MediaSource, Profile};

const FANOUTS: [usize; 3] = [1, 4, 16];

fn audio_packet() -> Vec<u8> {
    let mut out = Vec::new();
    MediaSource::new(Profile::Audio, 1, 7).next_tick(0, &mut out);
    out.swap_remove(0)
}

fn forwarding(c: &mut Criterion) {
    let packet = audio_packet();
    let mut g = c.benchmark_group("forwarding");
    for n in FANOUTS {
        g.throughput(Throughput::Elements(n as u64));
        let mut engine = EngineRoom::new(n);
        g.bench_with_input(BenchmarkId::new("engine", n), &n, |b, _| {
            b.iter(|| engine.forward(black_box(&packet)))
        });
        match QuicRoom::new(n) {
            Ok(mut quic) => {
                g.bench_with_input(BenchmarkId::new("quic", n), &n, |b, _| {
                    b.iter(|| quic.forward(black_box(&packet)))
                });
            }
            Err(e) => eprintln!("quic/{n} skipped: {e}"),
        }
    }
    g.finish();
    // `cargo bench` passes --bench; `cargo test` runs each bench once without it, in a debug
    // build whose figures must not overwrite the real summary.
    if std::env::args().any(|a| a == "--bench") {
        write_latency_summary(&packet);
    }
}

fn write_latency_summary(packet: &[u8]) {
    let mut report = String::from(
        "# Per-packet forwarding latency of the relay's side (ns), one shard, in-process\n",
    );
    let _ = writeln!(
        report,
        "{:<10} {:>7} {:>10} {:>10} {:>10} {:>10}",
        "path", "fanout", "p50", "p99", "p99.9", "max"
    );
    for n in FANOUTS {
        let mut engine = EngineRoom::new(n);
        let mut hist = histogram();
        for _ in 0..200_000 {
            let started = Instant::now();
            black_box(engine.forward(packet));
            let _ = hist.record(started.elapsed().as_nanos() as u64);
        }
        row(&mut report, "engine", n, &hist);
        if let Ok(mut quic) = QuicRoom::new(n) {
            let mut hist = histogram();
            for _ in 0..20_000 {
                let _ = hist.record(quic.forward(packet).as_nanos() as u64);
            }
            row(&mut report, "quic", n, &hist);
        }
    }
    let path = target_dir().join("forwarding-latency.txt");
    match std::fs::write(&path, &report) {
        Ok(()) => println!("\n{report}written to {}", path.display()),
        Err(e) => eprintln!("{}: {e}", path.display()),
    }
}

fn histogram() -> Histogram<u64> {
    match Histogram::new_with_bounds(1, 10_000_000_000, 3) {
        Ok(h) => h,
        Err(e) => unreachable!("constant histogram bounds are valid: {e}"),
    }
}

fn row(report: &mut String, path: &str, n: usize, h: &Histogram<u64>) {
    let _ = writeln!(
        report,
        "{path:<10} {n:>7} {:>10} {:>10} {:>10} {:>10}",
        h.value_at_quantile(0.5),
        h.value_at_quantile(0.99),
        h.value_at_quantile(0.999),
        h.max()
    );
}

fn target_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join("target")
        })
}

criterion_group!(benches, forwarding);
criterion_main!(benches);
