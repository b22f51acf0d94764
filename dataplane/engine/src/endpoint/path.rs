//! What the relay can tell about a connection's path from quiche: the downlink's capacity and
//! loss, sampled on the video tick for simulcast layer selection (and, later, for the quality
//! samples the control plane judges).
//!
//! Capacity is the congestion window over the smoothed RTT, or the measured delivery rate
//! when that is higher. Loss is the share of packets quiche declared lost among those it sent
//! since the previous sample. Both come from the active path: after a NAT rebinding quiche
//! keeps the old path in its list, and its figures stop moving.

use crate::layers::Estimate;
use std::time::Duration;

/// quiche's cumulative sent and lost packet counts at the previous sample.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PathSample {
    pub sent: usize,
    pub lost: usize,
}

/// The receiver's downlink now, and the counts the next sample starts from.
pub(crate) fn estimate(quic: &quiche::Connection, last: &mut PathSample) -> Estimate {
    let Some(path) = quic.path_stats().find(|p| p.active) else {
        return Estimate {
            bandwidth_kbps: 0,
            loss_percent: 0.0,
        };
    };
    let now = PathSample {
        sent: path.sent,
        lost: path.lost,
    };
    let estimate = from_figures(path.cwnd, path.rtt, path.delivery_rate, *last, now);
    *last = now;
    estimate
}

/// The estimate from quiche's figures: `cwnd` bytes per `rtt`, `delivery_rate` bytes per
/// second, and the counts of two samples.
pub(crate) fn from_figures(
    cwnd: usize,
    rtt: Duration,
    delivery_rate: u64,
    before: PathSample,
    now: PathSample,
) -> Estimate {
    let rtt = rtt.max(Duration::from_millis(1));
    let window_bps = (cwnd as f64 * 8.0) / rtt.as_secs_f64();
    let bps = window_bps.max(delivery_rate as f64 * 8.0);
    let sent = now.sent.saturating_sub(before.sent);
    let lost = now.lost.saturating_sub(before.lost);
    Estimate {
        bandwidth_kbps: (bps / 1000.0).min(f64::from(u32::MAX)) as u32,
        loss_percent: if sent == 0 {
            0.0
        } else {
            lost as f32 * 100.0 / sent as f32
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacity_is_the_larger_of_window_rate_and_delivery_rate() {
        let zero = PathSample::default();
        // 15,000 B per 40 ms = 3,000 kbps.
        let e = from_figures(15_000, Duration::from_millis(40), 0, zero, zero);
        assert_eq!(e.bandwidth_kbps, 3_000);
        // A measured 500 kB/s (4,000 kbps) beats the window.
        let e = from_figures(15_000, Duration::from_millis(40), 500_000, zero, zero);
        assert_eq!(e.bandwidth_kbps, 4_000);
        // An RTT below 1 ms counts as 1 ms.
        let e = from_figures(1_000, Duration::ZERO, 0, zero, zero);
        assert_eq!(e.bandwidth_kbps, 8_000);
    }

    #[test]
    fn loss_is_taken_between_samples() {
        let before = PathSample {
            sent: 1_000,
            lost: 10,
        };
        let now = PathSample {
            sent: 1_200,
            lost: 20,
        };
        let e = from_figures(10_000, Duration::from_millis(10), 0, before, now);
        assert!((e.loss_percent - 5.0).abs() < 1e-6, "{}", e.loss_percent);
        let idle = from_figures(10_000, Duration::from_millis(10), 0, now, now);
        assert_eq!(idle.loss_percent, 0.0, "nothing sent, nothing lost");
    }
}
