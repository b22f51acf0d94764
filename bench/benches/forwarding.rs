//! One shard's forwarding path through the real endpoint, in-process (no sockets), at
//! fan-out 1, 4 and 16: `endpoint/N` is the endpoint's time for one audio datagram of member 0
//! (decrypt, parse, keyframe cache, fan-out, encrypt one packet per receiver, process the
//! ACKs), with the shard's quiche settings; the clients' time is not counted. After
//! criterion, the per-packet distribution (HdrHistogram p50/p99/p99.9) is written to
//! `target/forwarding-latency.txt`.

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use hdrhistogram::Histogram;
use std::fmt::Write as _;
use std::time::Duration;
use switchyard_bench::forwarding::ForwardingRoom;
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
        match ForwardingRoom::new(n) {
            Ok(mut room) => {
                g.bench_with_input(BenchmarkId::new("endpoint", n), &n, |b, _| {
                    b.iter_custom(|iters| {
                        (0..iters)
                            .map(|_| room.forward(black_box(&packet)))
                            .sum::<Duration>()
                    })
                });
            }
            Err(e) => eprintln!("endpoint/{n} skipped: {e}"),
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
        "# Per-packet forwarding latency of the endpoint (ns), one shard, in-process\n",
    );
    let _ = writeln!(
        report,
        "{:<10} {:>7} {:>10} {:>10} {:>10} {:>10}",
        "path", "fanout", "p50", "p99", "p99.9", "max"
    );
    for n in FANOUTS {
        let Ok(mut room) = ForwardingRoom::new(n) else {
            continue;
        };
        let mut hist = histogram();
        for _ in 0..20_000 {
            let _ = hist.record(room.forward(packet).as_nanos() as u64);
        }
        row(&mut report, "endpoint", n, &hist);
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
