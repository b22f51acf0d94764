//! Turns participant results into the numbers a run is judged by: a table, a JSON summary,
//! and an HdrHistogram percentile distribution (`.hgrm`).

use crate::conformance_report::{conformance_table, summarize_conformance, ConformanceSummary};
use crate::media::Profile;
use crate::quality_report::{quality_table, summarize_quality, QualitySummary};
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
    /// When some paths were impaired: what their receivers got, and what everyone else got.
    pub impaired: Option<Group>,
    pub unimpaired: Option<Group>,
    /// Packets the impaired paths lost, uplinks and downlinks together.
    pub impaired_links_lost: Option<(u64, u64)>,
    /// What participants heard from the relay's quality judge, when anything.
    pub quality: Option<QualitySummary>,
    /// When the run had abusive participants: how the relay's conformance answered them.
    pub conformance: Option<ConformanceSummary>,
}

/// The on-time receivers of one kind.
#[derive(Debug, Clone, Serialize)]
pub struct Group {
    pub receivers: u32,
    pub expected: u64,
    pub delivered: u64,
    /// 1 - delivered / expected.
    pub loss_ratio: f64,
    pub latency_us: Percentiles,
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
    let (all, expected) = receivers(results, |_| true);
    let any_impaired = results.iter().any(|r| r.impaired);
    let group = |impaired: bool| {
        let (stats, expected) = receivers(results, |r| r.impaired == impaired);
        Group {
            receivers: results
                .iter()
                .filter(|r| !r.late && r.impaired == impaired)
                .count() as u32,
            expected,
            delivered: stats.delivered,
            loss_ratio: if expected == 0 {
                0.0
            } else {
                1.0 - stats.delivered as f64 / expected as f64
            },
            latency_us: percentiles(&stats.latency_us),
        }
    };
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
        impaired: any_impaired.then(|| group(true)),
        unimpaired: any_impaired.then(|| group(false)),
        impaired_links_lost: any_impaired.then(|| {
            results
                .iter()
                .filter(|r| r.impaired)
                .fold((0, 0), |(up, down), r| {
                    (up + r.uplink.lost, down + r.downlink.lost)
                })
        }),
        quality: summarize_quality(results, config.participants),
        conformance: summarize_conformance(results),
    };
    (summary, hist)
}

/// The merged stats of the on-time receivers `member` selects, and the deliveries a perfect
/// relay would have made them: each datagram of every other joined member of the room.
fn receivers(
    results: &[ParticipantResult],
    member: impl Fn(&ParticipantResult) -> bool,
) -> (ReceiverStats, u64) {
    let mut stats = ReceiverStats::default();
    let mut expected = 0u64;
    // Abusive participants are neither judged as receivers nor counted as senders: what the
    // relay did to them is the conformance report's business.
    for r in results
        .iter()
        .filter(|r| !r.late && !r.abusive && member(r))
    {
        stats.merge(&r.stats);
        let room_mates = || {
            results
                .iter()
                .filter(|o| o.room == r.room && o.index != r.index)
        };
        stats.delivered -= room_mates()
            .filter(|o| o.abusive)
            .map(|o| r.stats.delivered_from(o.index))
            .sum::<u64>();
        if !r.joined {
            continue;
        }
        // A simulcast receiver takes one layer of each sender: the one it got most of.
        let layer = (0..3)
            .max_by_key(|l| r.stats.delivered_by_layer.get(*l).copied().unwrap_or(0))
            .unwrap_or(0);
        expected += room_mates()
            .filter(|o| o.joined && !o.abusive)
            .map(|o| match o.profile {
                Profile::Simulcast => o.sent_by_layer.get(layer).copied().unwrap_or(0),
                _ => o.sent,
            })
            .sum::<u64>();
    }
    (stats, expected)
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
    let mut rows: Vec<(String, String)> = Vec::new();
    let mut row = |label: &str, value: String| rows.push((label.to_owned(), value));
    row("sent", s.sent.to_string());
    row("expected deliveries", s.expected.to_string());
    row("delivered", s.delivered.to_string());
    row("delivery ratio", format!("{:.6}", s.delivery_ratio));
    row("lost", s.expected.saturating_sub(s.delivered).to_string());
    row(
        "duplicates / misrouted / echoed / corrupted",
        format!(
            "{} / {} / {} / {}",
            s.duplicates, s.misrouted, s.own_echo, s.corrupted
        ),
    );
    row("latency p50 (ms)", ms(s.latency_us.p50));
    row("latency p90 (ms)", ms(s.latency_us.p90));
    row("latency p99 (ms)", ms(s.latency_us.p99));
    row("latency p99.9 (ms)", ms(s.latency_us.p999));
    row("latency max (ms)", ms(s.latency_us.max));
    row("delivered packets/s", format!("{:.0}", s.delivered_per_s));
    if s.profile == "simulcast" {
        let [low, mid, high] = s.delivered_by_layer;
        row(
            "delivered low / mid / high",
            format!("{low} / {mid} / {high}"),
        );
    }
    if let (Some(weak), Some(rest)) = (&s.impaired, &s.unimpaired) {
        for (name, g) in [("impaired", weak), ("others", rest)] {
            row(&format!("{name}: receivers"), g.receivers.to_string());
            row(
                &format!("{name}: delivered / expected"),
                format!("{} / {}", g.delivered, g.expected),
            );
            row(
                &format!("{name}: loss"),
                format!("{:.3} %", g.loss_ratio * 100.0),
            );
            row(
                &format!("{name}: latency p50 / p99 (ms)"),
                format!("{} / {}", ms(g.latency_us.p50), ms(g.latency_us.p99)),
            );
        }
        if let Some((up, down)) = s.impaired_links_lost {
            row("impaired links: lost up / down", format!("{up} / {down}"));
        }
    }
    if s.late_joiners > 0 {
        row(
            "late joiners joined",
            format!("{} of {}", s.late_joined, s.late_joiners),
        );
        row(
            "late: senders without keyframe",
            s.late_without_keyframe.to_string(),
        );
        if let Some(t) = &s.time_to_first_keyframe_us {
            row("first keyframe p50 (ms)", ms(t.p50));
            row("first keyframe p99 (ms)", ms(t.p99));
            row("first keyframe max (ms)", ms(t.max));
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
    if let Some(q) = &s.quality {
        out.push_str(&quality_table(q));
    }
    if let Some(c) = &s.conformance {
        out.push_str(&conformance_table(c));
    }
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

    /// One room of three joined participants, each sending 10 audio frames. `delivery`
    /// says, per (receiver, frame index), whether it arrives and its one-way latency (µs).
    fn room_of_three(
        delivery: impl Fn(u32, usize) -> Option<u32>,
    ) -> (RunConfig, Vec<ParticipantResult>) {
        use crate::media::MediaSource;
        use crate::stats::Layout;
        let relay = "127.0.0.1:4433".parse().unwrap();
        let config = RunConfig::new(relay, 1, 3, Profile::Audio, Duration::from_secs(1));
        let layout = Layout {
            participants_per_room: 3,
        };
        let mut results: Vec<ParticipantResult> = (0..3)
            .map(|i| {
                let mut r = ParticipantResult::new(i, 3, String::new());
                r.joined = true;
                r.sent = 10;
                r
            })
            .collect();
        for sender in 0..3u32 {
            let mut packets = Vec::new();
            let mut source = MediaSource::new(Profile::Audio, sender, 1);
            for t in 0..10u32 {
                source.next_tick(t * 20_000, &mut packets);
            }
            for receiver in (0..3u32).filter(|r| *r != sender) {
                for (k, d) in packets.iter().enumerate() {
                    if let Some(latency) = delivery(receiver, k) {
                        let now = k as u32 * 20_000 + latency;
                        results[receiver as usize]
                            .stats
                            .record(d, receiver, layout, now);
                    }
                }
            }
        }
        (config, results)
    }

    #[test]
    fn impaired_receivers_are_reported_apart_from_the_others() {
        // The impaired receiver gets every other datagram, 40 ms late.
        let (config, mut results) = room_of_three(|receiver, k| match receiver {
            0 => (k % 2 == 0).then_some(40_000),
            _ => Some(1_000),
        });
        results[0].impaired = true;
        results[0].downlink.lost = 10;
        let (s, _) = summarize(&config, &results, Duration::from_secs(1));
        let weak = s.impaired.as_ref().unwrap();
        let rest = s.unimpaired.as_ref().unwrap();
        assert_eq!((weak.receivers, weak.expected, weak.delivered), (1, 20, 10));
        assert!((weak.loss_ratio - 0.5).abs() < 1e-9);
        assert_eq!((rest.receivers, rest.expected, rest.delivered), (2, 40, 40));
        assert_eq!(rest.loss_ratio, 0.0);
        assert!(
            (39_900..=40_100).contains(&weak.latency_us.p50),
            "{}",
            weak.latency_us.p50
        );
        assert!(
            (990..=1_010).contains(&rest.latency_us.p99),
            "{}",
            rest.latency_us.p99
        );
        assert_eq!(s.impaired_links_lost, Some((0, 10)));
        assert_eq!(
            (s.expected, s.delivered),
            (60, 50),
            "the whole run is unchanged"
        );
        let t = table(&s);
        assert!(
            t.contains("impaired: loss") && t.contains("50.000 %"),
            "{t}"
        );
        assert!(
            t.contains("others: delivered / expected") && t.contains("40 / 40"),
            "{t}"
        );
    }

    #[test]
    fn abusive_participants_are_neither_receivers_nor_senders_of_the_legitimate_figures() {
        // Participant 2 is a covert sender whose media the relay forwarded.
        let (config, mut results) = room_of_three(|_, _| Some(1_000));
        results[2].abusive = true;
        let (s, _) = summarize(&config, &results, Duration::from_secs(1));
        assert_eq!(
            (s.expected, s.delivered),
            (20, 20),
            "0 and 1 got each other's 10; the abuser's 10 to each are not counted"
        );
        assert_eq!(s.delivery_ratio, 1.0);
        let c = s.conformance.as_ref().expect("a conformance section");
        assert_eq!((c.abusers.len(), c.legitimate), (1, 2));
        assert!(table(&s).contains("conformance: 1 abusive participants"));
    }

    #[test]
    fn a_run_without_impairment_has_no_group_rows() {
        let relay = "127.0.0.1:4433".parse().unwrap();
        let config = RunConfig::new(relay, 1, 2, Profile::Audio, Duration::from_secs(1));
        let results: Vec<ParticipantResult> = (0..2)
            .map(|i| ParticipantResult::new(i, 2, String::new()))
            .collect();
        let (s, _) = summarize(&config, &results, Duration::from_secs(1));
        assert!(s.impaired.is_none() && s.unimpaired.is_none());
        assert!(!table(&s).contains("impaired"));
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
