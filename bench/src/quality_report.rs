//! What a run's participants heard about quality, per room: the directives, proposals and
//! confirmations they received and when, and for rooms with an impaired participant how long
//! after the impairment began every member had been told to step down.

use crate::participant::ParticipantResult;
use crate::quality::QualityKind;
use crate::stats::{new_histogram, Layout};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;
use switchyard_proto::Tier;

/// Rooms listed in the text table (the JSON has them all).
const ROOMS_IN_TABLE: usize = 10;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QualitySummary {
    /// Rooms where at least one participant received a quality message.
    pub rooms_with_signals: u32,
    /// Rooms with at least one impaired participant.
    pub impaired_rooms: u32,
    /// Quality messages received in rooms where nobody was impaired.
    pub signals_in_unimpaired_rooms: u64,
    pub directives: u64,
    pub proposals: u64,
    pub confirms: u64,
    pub answers_sent: u64,
    /// Over impaired rooms: from the impairment's onset until every member of the room had
    /// received a directive below Good (ms).
    pub time_to_downgrade_ms: Option<DowngradeTimes>,
    /// Impaired rooms where some member never received such a directive.
    pub impaired_rooms_not_downgraded: u32,
    pub rooms: Vec<RoomQuality>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct DowngradeTimes {
    pub p50: f64,
    pub max: f64,
}

/// One room's quality messages.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RoomQuality {
    pub room: u32,
    pub impaired: bool,
    /// When the first impairment in the room began (s since the run's start).
    pub onset_s: Option<f64>,
    pub downgrade_after_ms: Option<f64>,
    /// Each distinct message: the first arrival, and how many members received it.
    pub messages: Vec<RoomMessage>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RoomMessage {
    pub at_s: f64,
    pub kind: QualityKind,
    pub tier: Tier,
    pub proposal_id: Option<u64>,
    pub receivers: u32,
}

/// The quality part of a run's report; `None` when nobody heard about quality and nobody
/// was impaired.
pub fn summarize_quality(
    results: &[ParticipantResult],
    participants_per_room: u32,
) -> Option<QualitySummary> {
    let layout = Layout {
        participants_per_room: participants_per_room.max(1),
    };
    let mut by_room: BTreeMap<u32, Vec<&ParticipantResult>> = BTreeMap::new();
    for r in results {
        by_room.entry(layout.room_of(r.index)).or_default().push(r);
    }
    let rooms: Vec<RoomQuality> = by_room
        .iter()
        .map(|(&room, members)| room_quality(room, members))
        .filter(|r| r.impaired || !r.messages.is_empty())
        .collect();
    if rooms.is_empty() {
        return None;
    }
    let count = |kind| {
        results
            .iter()
            .flat_map(|r| &r.quality)
            .filter(|q| q.kind == kind)
            .count() as u64
    };
    let mut times = new_histogram();
    for ms in rooms.iter().filter_map(|r| r.downgrade_after_ms) {
        let _ = times.record((ms * 1000.0).round().max(1.0) as u64);
    }
    Some(QualitySummary {
        rooms_with_signals: rooms.iter().filter(|r| !r.messages.is_empty()).count() as u32,
        impaired_rooms: rooms.iter().filter(|r| r.impaired).count() as u32,
        signals_in_unimpaired_rooms: rooms
            .iter()
            .filter(|r| !r.impaired)
            .flat_map(|r| &r.messages)
            .map(|m| u64::from(m.receivers))
            .sum(),
        directives: count(QualityKind::Directive),
        proposals: count(QualityKind::Proposal),
        confirms: count(QualityKind::Confirm),
        answers_sent: results.iter().map(|r| u64::from(r.answers_sent)).sum(),
        time_to_downgrade_ms: (!times.is_empty()).then(|| DowngradeTimes {
            p50: times.value_at_quantile(0.5) as f64 / 1000.0,
            max: times.max() as f64 / 1000.0,
        }),
        impaired_rooms_not_downgraded: rooms
            .iter()
            .filter(|r| r.impaired && r.downgrade_after_ms.is_none())
            .count() as u32,
        rooms,
    })
}

fn room_quality(room: u32, members: &[&ParticipantResult]) -> RoomQuality {
    let onset = members.iter().filter_map(|r| r.impairment_onset).min();
    // Every member told to step down after the onset: the last of their first such times.
    let downgraded = onset.and_then(|onset| {
        let firsts: Option<Vec<Duration>> = members
            .iter()
            .filter(|r| r.joined)
            .map(|r| {
                r.quality
                    .iter()
                    .find(|q| {
                        q.kind == QualityKind::Directive && q.tier < Tier::Good && q.at >= onset
                    })
                    .map(|q| q.at)
            })
            .collect();
        let last = firsts?.into_iter().max()?;
        Some(last.saturating_sub(onset))
    });
    let mut messages: Vec<RoomMessage> = Vec::new();
    let mut received: Vec<_> = members.iter().flat_map(|r| &r.quality).collect();
    received.sort_by_key(|q| q.at);
    for q in received {
        let same = messages.iter_mut().find(|m| {
            m.kind == q.kind
                && m.tier == q.tier
                && m.proposal_id == q.proposal_id
                && (q.at.as_secs_f64() - m.at_s) < 1.0
        });
        match same {
            Some(m) => m.receivers += 1,
            None => messages.push(RoomMessage {
                at_s: q.at.as_secs_f64(),
                kind: q.kind,
                tier: q.tier,
                proposal_id: q.proposal_id,
                receivers: 1,
            }),
        }
    }
    RoomQuality {
        room,
        impaired: members.iter().any(|r| r.impaired),
        onset_s: onset.map(|t| t.as_secs_f64()),
        downgrade_after_ms: downgraded.map(|d| d.as_secs_f64() * 1000.0),
        messages,
    }
}

/// The quality section of the text report.
pub fn quality_table(q: &QualitySummary) -> String {
    let mut out = String::from("\nquality signals from the relay\n");
    let _ = writeln!(
        out,
        "  rooms with signals {} / impaired rooms {}; signals heard in unimpaired rooms: {}",
        q.rooms_with_signals, q.impaired_rooms, q.signals_in_unimpaired_rooms
    );
    let _ = writeln!(
        out,
        "  directives {}, proposals {}, confirms {}, answers sent {}",
        q.directives, q.proposals, q.confirms, q.answers_sent
    );
    match q.time_to_downgrade_ms {
        Some(t) => {
            let _ = writeln!(
                out,
                "  impairment onset to the whole room downgraded: p50 {:.0} ms, max {:.0} ms ({} impaired rooms never downgraded)",
                t.p50, t.max, q.impaired_rooms_not_downgraded
            );
        }
        None if q.impaired_rooms > 0 => {
            let _ = writeln!(out, "  no impaired room was downgraded");
        }
        None => {}
    }
    for r in q.rooms.iter().take(ROOMS_IN_TABLE) {
        let messages: Vec<String> = r
            .messages
            .iter()
            .map(|m| {
                format!(
                    "{:?} {} x{} at {:.2} s",
                    m.kind, m.tier, m.receivers, m.at_s
                )
            })
            .collect();
        let _ = writeln!(
            out,
            "  room {}{}: {}",
            r.room,
            if r.impaired { " (impaired)" } else { "" },
            if messages.is_empty() {
                "nothing".to_owned()
            } else {
                messages.join("; ")
            }
        );
    }
    if q.rooms.len() > ROOMS_IN_TABLE {
        let _ = writeln!(
            out,
            "  ... {} more rooms in the JSON",
            q.rooms.len() - ROOMS_IN_TABLE
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quality::QualityReceived;

    fn member(
        index: u32,
        impaired_at: Option<u64>,
        quality: &[(u64, QualityKind, Tier)],
    ) -> ParticipantResult {
        let mut r = ParticipantResult::new(index, 2, String::new());
        r.joined = true;
        r.impaired = impaired_at.is_some();
        r.impairment_onset = impaired_at.map(Duration::from_millis);
        r.quality = quality
            .iter()
            .map(|&(ms, kind, tier)| QualityReceived {
                at: Duration::from_millis(ms),
                kind,
                tier,
                proposal_id: (kind != QualityKind::Directive).then_some(1),
                reason: None,
            })
            .collect();
        r
    }

    #[test]
    fn time_to_downgrade_is_until_the_whole_room_was_told() {
        use QualityKind::*;
        let results = vec![
            // Room 0: participant 1 impaired at 5 s; both told Degraded, the last at 8.5 s.
            member(
                0,
                None,
                &[
                    (8_000, Directive, Tier::Degraded),
                    (20_000, Proposal, Tier::Good),
                ],
            ),
            member(1, Some(5_000), &[(8_500, Directive, Tier::Degraded)]),
            // Room 1: impaired at 2 s; only one member ever told.
            member(2, Some(2_000), &[(4_000, Directive, Tier::Degraded)]),
            member(3, None, &[]),
            // Room 2: nobody impaired, yet a directive.
            member(4, None, &[(9_000, Directive, Tier::Catastrophic)]),
            member(5, None, &[(9_000, Directive, Tier::Catastrophic)]),
            // Room 3: quiet.
            member(6, None, &[]),
            member(7, None, &[]),
        ];
        let q = summarize_quality(&results, 2).expect("there is something to report");
        assert_eq!((q.rooms_with_signals, q.impaired_rooms), (3, 2));
        assert_eq!(
            q.signals_in_unimpaired_rooms, 2,
            "room 2's directive, twice"
        );
        assert_eq!((q.directives, q.proposals, q.confirms), (5, 1, 0));
        assert_eq!(q.impaired_rooms_not_downgraded, 1);
        let t = q.time_to_downgrade_ms.expect("room 0 was downgraded");
        assert!((t.max - 3_500.0).abs() < 1.0, "{t:?}");
        let rooms: Vec<u32> = q.rooms.iter().map(|r| r.room).collect();
        assert_eq!(
            rooms,
            vec![0, 1, 2],
            "a quiet unimpaired room is not listed"
        );
        assert_eq!(q.rooms[0].messages.first().map(|m| m.receivers), Some(2));
        let text = quality_table(&q);
        assert!(
            text.contains("signals heard in unimpaired rooms: 2"),
            "{text}"
        );
        assert!(
            text.contains("room 0 (impaired): Directive Degraded x2"),
            "{text}"
        );
    }

    #[test]
    fn a_run_where_nobody_heard_anything_and_nobody_was_impaired_has_no_section() {
        let results = vec![member(0, None, &[]), member(1, None, &[])];
        assert_eq!(summarize_quality(&results, 2), None);
    }
}
