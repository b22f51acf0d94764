//! Turns participant results into the numbers a run is judged by: a table, a JSON summary,
//! and an HdrHistogram percentile distribution (`.hgrm`).

use crate::media::Profile;
use crate::run::{ParticipantResult, RunConfig};
use crate::stats::{new_histogram, ReceiverStats};
use hdrhistogram::Histogram;
use serde::Serialize;
use std::fmt::Write as _;
use std::time::Duration;

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub rooms: u32,
    pub participants_per_room: u32,
    pub profile: String,
    pub duration_s: f64,
    pub joined: u32,
    pub participants: u32,
    pub sent: u64,
    /// Deliveries a perfect relay would make: each datagram to every other joined member.
    pub expected: u64,
    pub delivered: u64,
    pub delivery_ratio: f64,
    pub duplicates: u64,
    pub misrouted: u64,
    pub own_echo: u64,
    pub corrupted: u64,
    pub send_failures: u64,
    pub latency_us: Percentiles,
    pub delivered_per_s: f64,
    pub mean_time_to_join_ms: f64,
    /// Relay CPU seconds (user + system) during the run, when its pid was given.
    pub relay_cpu_s: Option<f64>,
    pub relay_cpu_us_per_delivered: Option<f64>,
    /// Simulcast: video datagrams delivered per layer (stream_id 0, 1, 2).
    pub delivered_by_layer: [u64; 3],
    pub late_joiners: u32,
    pub late_joined: u32,
    /// Late joiner and video sender pairs where no whole keyframe arrived.
    pub late_without_keyframe: u32,
    /// From the CallAnswer to the first whole keyframe, per late joiner and sender (µs).
    pub time_to_first_keyframe_us: Option<Percentiles>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Percentiles {
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
}

/// Aggregates the results of a run that took `media_time`.
pub fn summarize(
    config: &RunConfig,
    results: &[ParticipantResult],
    media_time: Duration,
) -> (Summary, Histogram<u64>) {
    // Late joiners see part of the run (and replayed keyframes with old send times): they
    // are judged by their time to first keyframe, not by the delivery ratio or latency.
    let mut all = ReceiverStats::default();
    for r in results.iter().filter(|r| !r.late) {
        all.merge(&r.stats);
    }
    let mut expected = 0u64;
    for r in results.iter().filter(|r| r.joined && !r.late) {
        // A simulcast receiver takes one layer of each sender: the one it got most of.
        let layer = (0..3)
            .max_by_key(|l| r.stats.delivered_by_layer.get(*l).copied().unwrap_or(0))
            .unwrap_or(0);
        expected += results
            .iter()
            .filter(|o| o.room == r.room && o.joined && o.index != r.index)
            .map(|o| match config.profile {
                Profile::Simulcast => o.sent_by_layer.get(layer).copied().unwrap_or(0),
                _ => o.sent,
            })
            .sum::<u64>();
    }
    let late: Vec<&ParticipantResult> = results.iter().filter(|r| r.late).collect();
    let mut ttfk = new_histogram();
    let mut late_without_keyframe = 0u32;
    for r in late.iter().filter(|r| r.joined) {
        for d in &r.time_to_first_keyframe {
            let _ = ttfk.record(u64::try_from(d.1.as_micros()).unwrap_or(u64::MAX).max(1));
        }
        let video_senders = results
            .iter()
            .filter(|o| {
                o.room == r.room && o.index != r.index && o.sent_by_layer.iter().sum::<u64>() > 0
            })
            .count();
        late_without_keyframe +=
            u32::try_from(video_senders.saturating_sub(r.time_to_first_keyframe.len()))
                .unwrap_or(0);
    }
    let joined = results.iter().filter(|r| r.joined).count() as u32;
    let join_ms: Vec<f64> = results
        .iter()
        .filter_map(|r| r.time_to_join)
        .map(|d| d.as_secs_f64() * 1000.0)
        .collect();
    let hist = if all.latency_us.is_empty() {
        new_histogram()
    } else {
        all.latency_us.clone()
    };
    let secs = media_time.as_secs_f64().max(1e-9);
    let summary = Summary {
        rooms: config.rooms,
        participants_per_room: config.participants,
        profile: format!("{:?}", config.profile).to_lowercase(),
        duration_s: config.duration.as_secs_f64(),
        joined,
        participants: results.len() as u32,
        sent: results.iter().map(|r| r.sent).sum(),
        expected,
        delivered: all.delivered,
        delivery_ratio: if expected == 0 {
            0.0
        } else {
            all.delivered as f64 / expected as f64
        },
        duplicates: all.duplicates,
        misrouted: all.misrouted,
        own_echo: all.own_echo,
        corrupted: all.corrupted,
        send_failures: results.iter().map(|r| r.send_failures).sum(),
        latency_us: percentiles(&hist),
        delivered_per_s: all.delivered as f64 / secs,
        mean_time_to_join_ms: if join_ms.is_empty() {
            0.0
        } else {
            join_ms.iter().sum::<f64>() / join_ms.len() as f64
        },
        relay_cpu_s: None,
        relay_cpu_us_per_delivered: None,
        delivered_by_layer: all.delivered_by_layer,
        late_joiners: late.len() as u32,
        late_joined: late.iter().filter(|r| r.joined).count() as u32,
        late_without_keyframe,
        time_to_first_keyframe_us: (!ttfk.is_empty()).then(|| percentiles(&ttfk)),
    };
    (summary, hist)
}

fn percentiles(hist: &Histogram<u64>) -> Percentiles {
    Percentiles {
        p50: hist.value_at_quantile(0.50),
        p90: hist.value_at_quantile(0.90),
        p99: hist.value_at_quantile(0.99),
        p999: hist.value_at_quantile(0.999),
        max: hist.max(),
    }
}

fn ms(us: u64) -> String {
    format!("{:.3}", us as f64 / 1000.0)
}

/// The human-readable result table.
pub fn table(s: &Summary) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n{} rooms x {} participants, {} profile, {:.0} s of media ({} of {} joined, mean join {:.1} ms)",
        s.rooms, s.participants_per_room, s.profile, s.duration_s, s.joined, s.participants, s.mean_time_to_join_ms
    );
    let mut rows = vec![
        ("sent", s.sent.to_string()),
        ("expected deliveries", s.expected.to_string()),
        ("delivered", s.delivered.to_string()),
        ("delivery ratio", format!("{:.6}", s.delivery_ratio)),
        ("lost", s.expected.saturating_sub(s.delivered).to_string()),
        (
            "duplicates / misrouted / echoed / corrupted",
            format!(
                "{} / {} / {} / {}",
                s.duplicates, s.misrouted, s.own_echo, s.corrupted
            ),
        ),
        ("latency p50 (ms)", ms(s.latency_us.p50)),
        ("latency p90 (ms)", ms(s.latency_us.p90)),
        ("latency p99 (ms)", ms(s.latency_us.p99)),
        ("latency p99.9 (ms)", ms(s.latency_us.p999)),
        ("latency max (ms)", ms(s.latency_us.max)),
        ("delivered packets/s", format!("{:.0}", s.delivered_per_s)),
    ];
    if s.profile == "simulcast" {
        let [low, mid, high] = s.delivered_by_layer;
        rows.push((
            "delivered low / mid / high",
            format!("{low} / {mid} / {high}"),
        ));
    }
    if s.late_joiners > 0 {
        rows.push((
            "late joiners joined",
            format!("{} of {}", s.late_joined, s.late_joiners),
        ));
        rows.push((
            "late: senders without keyframe",
            s.late_without_keyframe.to_string(),
        ));
        if let Some(t) = &s.time_to_first_keyframe_us {
            rows.push(("first keyframe p50 (ms)", ms(t.p50)));
            rows.push(("first keyframe p99 (ms)", ms(t.p99)));
            rows.push(("first keyframe max (ms)", ms(t.max)));
        }
    }
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    let _ = writeln!(out, "+-{}-+-{}-+", "-".repeat(width), "-".repeat(16));
    for (k, v) in rows {
        let _ = writeln!(out, "| {k:<width$} | {v:>16} |");
    }
    if let (Some(cpu), Some(per)) = (s.relay_cpu_s, s.relay_cpu_us_per_delivered) {
        let _ = writeln!(
            out,
            "| {:<width$} | {:>16} |",
            "relay CPU (s)",
            format!("{cpu:.2}")
        );
        let _ = writeln!(
            out,
            "| {:<width$} | {:>16} |",
            "relay CPU per delivered (us)",
            format!("{per:.2}")
        );
    }
    let _ = writeln!(out, "+-{}-+-{}-+", "-".repeat(width), "-".repeat(16));
    out
}

/// HdrHistogram's percentile distribution text format, values in milliseconds.
pub fn hgrm(hist: &Histogram<u64>) -> String {
    let mut out = String::from("       Value     Percentile TotalCount 1/(1-Percentile)\n\n");
    for v in hist.iter_quantiles(5) {
        let q = v.quantile_iterated_to();
        let inv = if q < 1.0 {
            format!("{:.2}", 1.0 / (1.0 - q))
        } else {
            "inf".into()
        };
        let _ = writeln!(
            out,
            "{:12.3} {:14.12} {:10} {:>14}",
            v.value_iterated_to() as f64 / 1000.0,
            q,
            v.count_since_last_iteration(),
            inv
        );
    }
    let _ = writeln!(
        out,
        "#[Mean    = {:12.3}, StdDeviation   = {:12.3}]\n#[Max     = {:12.3}, Total count    = {:12}]\n#[Buckets = {:12}, SubBuckets     = {:12}]",
        hist.mean() / 1000.0,
        hist.stdev() / 1000.0,
        hist.max() as f64 / 1000.0,
        hist.len(),
        hist.buckets(),
        hist.distinct_values()
    );
    out
}

/// utime + stime of a process, in seconds, from /proc.
pub fn process_cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Some((utime + stime) / ticks.max(1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_cpu_is_readable() {
        let cpu = process_cpu_seconds(std::process::id()).unwrap();
        assert!(cpu >= 0.0);
    }

    #[test]
    fn hgrm_has_header_percentiles_and_footer() {
        let mut h = new_histogram();
        for v in 1..=1000u64 {
            h.record(v * 10).unwrap();
        }
        let text = hgrm(&h);
        assert!(text.starts_with("       Value     Percentile TotalCount"));
        assert!(text.contains("#[Max     ="));
        assert!(text.lines().count() > 20);
    }
}
