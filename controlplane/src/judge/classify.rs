//! From measured loss and RTT to a tier: the WiFi/Unknown table of reference 3.2 (the code's
//! `classify_with_context`; the relay never learns a network type, so always this table).
//! Jitter is not used, as in the reference.
//!
//! Two observations per sample: the uplink from the participant's QualityReport trailer (its
//! own view of what it sends) and the downlink from quiche's path figures (the relay's view of
//! what it sends the participant).

use switchyard_proto::control::{PathFigures, ReportFigures};
use switchyard_proto::Tier;

/// The tier a path with this loss (percent) and RTT (milliseconds) supports. The first row
/// that matches wins.
pub fn classify(loss_pct: f32, rtt_ms: u32) -> Tier {
    if loss_pct >= 15.0 || rtt_ms >= 200 {
        Tier::Catastrophic
    } else if loss_pct >= 5.0 || rtt_ms >= 100 {
        Tier::Degraded
    } else if loss_pct >= 2.0 || rtt_ms >= 80 {
        Tier::Good
    } else if loss_pct >= 1.0 || rtt_ms >= 50 {
        Tier::Studio32k
    } else if rtt_ms >= 30 {
        Tier::Studio48k
    } else {
        Tier::Studio64k
    }
}

/// The uplink observation of a QualityReport trailer.
pub fn uplink(report: &ReportFigures) -> Tier {
    classify(report.loss_pct, report.rtt_ms)
}

/// The downlink observation of quiche's path figures; loss counts as nothing when fewer than
/// `min_packets` went out in the interval.
pub fn downlink(path: &PathFigures, min_packets: u32) -> Tier {
    classify(path.loss_pct(min_packets).unwrap_or(0.0), path.rtt_ms)
}
