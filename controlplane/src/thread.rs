//! The control-plane thread: drains every shard's event ring into the [`Aggregator`], the
//! [`Judge`] and the [`Warden`], routes the judge's quality orders to the shard that owns each
//! room and the warden's bans to every shard, publishes the snapshot, and sends directives
//! back on request.
//!
//! It waits on the rings with a timeout (crossbeam `Select`): at most 200 ms, less when
//! the judge or the warden has a timer due sooner. It reads the clock once per loop turn,
//! after the wait, and gives both that instant for everything the turn does.

use crate::aggregator::{Aggregator, RelaySnapshot};
use crate::judge::{Judge, JudgeConfig};
use crate::ring::{RingReceiver, RingSender};
use crate::warden::Warden;
use crossbeam_channel::{Receiver, Select, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use switchyard_proto::bans::BanPolicy;
use switchyard_proto::control::{Directive, QualityOrder, ShardEvent};

/// Longest wait for a ring or a command.
const MAX_WAIT: Duration = Duration::from_millis(200);

/// The control plane's ends of one shard's two rings.
#[derive(Debug)]
pub struct ShardLink {
    pub events: RingReceiver<ShardEvent>,
    pub directives: RingSender<Directive>,
}

enum Command {
    Broadcast(Directive),
    Stop,
}

/// Owns nothing after spawn; see [`ControlPlaneHandle`].
#[derive(Debug)]
pub struct ControlPlane;

/// Handle to the running control-plane thread.
#[derive(Debug)]
pub struct ControlPlaneHandle {
    commands: Sender<Command>,
    snapshot: Arc<Mutex<RelaySnapshot>>,
    thread: Option<JoinHandle<()>>,
    generation: u64,
}

impl ControlPlane {
    /// Starts the thread, with one link per shard (in shard order), the judge's settings and
    /// the conformance cool-down and block times.
    pub fn spawn(
        links: Vec<ShardLink>,
        judge: JudgeConfig,
        bans: BanPolicy,
    ) -> std::io::Result<ControlPlaneHandle> {
        let (commands, command_rx) = crossbeam_channel::bounded(64);
        let snapshot = Arc::new(Mutex::new(RelaySnapshot::default()));
        let published = Arc::clone(&snapshot);
        let deciders = Deciders {
            judge: Judge::new(judge),
            warden: Warden::new(bans),
        };
        let thread = std::thread::Builder::new()
            .name("switchyard-control".into())
            .spawn(move || run(links, deciders, command_rx, published))?;
        Ok(ControlPlaneHandle {
            commands,
            snapshot,
            thread: Some(thread),
            generation: 0,
        })
    }
}

/// The sans-IO engines that turn events into directives.
struct Deciders {
    judge: Judge,
    warden: Warden,
}

/// Directives the rings refused.
#[derive(Default)]
struct Dropped {
    orders: u64,
    bans: u64,
}

fn run(
    mut links: Vec<ShardLink>,
    deciders: Deciders,
    commands: Receiver<Command>,
    published: Arc<Mutex<RelaySnapshot>>,
) {
    let Deciders {
        mut judge,
        mut warden,
    } = deciders;
    let mut aggregator = Aggregator::new(links.len());
    let mut dropped = Dropped::default();
    let mut wait = MAX_WAIT;
    loop {
        let mut select = Select::new();
        for link in &links {
            select.recv(link.events.inner());
        }
        let command_index = select.recv(&commands);
        // Readiness only: the rings are drained below, whichever woke us.
        let ready = select.ready_timeout(wait);
        let now = Instant::now();
        let mut changed = false;
        for link in &links {
            while let Ok(Some(event)) = link.events.try_pop() {
                judge.handle_event(now, &event);
                warden.handle_event(now, &event);
                aggregator.handle(event);
                changed = true;
            }
        }
        if judge.poll_timeout().is_some_and(|t| t <= now) {
            judge.handle_timeout(now);
            changed = true;
        }
        if warden.poll_timeout().is_some_and(|t| t <= now) {
            warden.handle_timeout(now);
            changed = true;
        }
        while let Some(order) = judge.poll_order() {
            if !route(&mut links, order) {
                dropped.orders += 1;
            }
        }
        while let Some(ban) = warden.poll_ban() {
            for link in &mut links {
                if !link.directives.push(Directive::Ban(Box::new(ban.clone()))) {
                    dropped.bans += 1;
                }
            }
        }
        if ready == Ok(command_index) {
            match commands.try_recv() {
                Ok(Command::Broadcast(directive)) => {
                    for link in &mut links {
                        link.directives.push(directive.clone());
                    }
                }
                Ok(Command::Stop) | Err(crossbeam_channel::TryRecvError::Disconnected) => {
                    publish(&published, &aggregator, (&judge, &warden, now), &dropped);
                    return;
                }
                Err(crossbeam_channel::TryRecvError::Empty) => {}
            }
        }
        if changed {
            publish(&published, &aggregator, (&judge, &warden, now), &dropped);
        }
        let next = match (judge.poll_timeout(), warden.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        wait = next.map_or(MAX_WAIT, |t| t.saturating_duration_since(now).min(MAX_WAIT));
    }
}

/// Queues `order` for the shard that owns its room: every participant of a room lives on the
/// room's shard, so the first one names it. `false` if the ring was full or no shard matched.
fn route(links: &mut [ShardLink], order: QualityOrder) -> bool {
    let Some(&(first, _)) = order.signals.first() else {
        return true;
    };
    match links.get_mut(first.shard().index()) {
        Some(link) => link.directives.push(Directive::Quality(Box::new(order))),
        None => false,
    }
}

fn publish(
    published: &Mutex<RelaySnapshot>,
    aggregator: &Aggregator,
    (judge, warden, now): (&Judge, &Warden, Instant),
    dropped: &Dropped,
) {
    let mut snapshot = aggregator.snapshot().clone();
    snapshot.quality = judge.stats();
    snapshot.quality_orders_dropped = dropped.orders;
    snapshot.bans = warden.stats(now);
    snapshot.ban_directives_dropped = dropped.bans;
    *published.lock().unwrap_or_else(PoisonError::into_inner) = snapshot;
}

impl ControlPlaneHandle {
    /// The latest published snapshot.
    pub fn snapshot(&self) -> RelaySnapshot {
        self.snapshot
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Sends `directive` to every shard.
    pub fn broadcast(&self, directive: Directive) -> bool {
        self.commands
            .try_send(Command::Broadcast(directive))
            .is_ok()
    }

    /// Asks every shard for its counters now; returns the generation to wait for.
    pub fn request_counters(&mut self) -> u64 {
        self.generation += 1;
        self.broadcast(Directive::ReportCounters {
            generation: self.generation,
        });
        self.generation
    }

    /// Stops the thread and waits for it.
    pub fn stop(&mut self) {
        let _ = self.commands.send(Command::Stop);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for ControlPlaneHandle {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ring::ring;
    use crate::warden::WardenStats;
    use switchyard_proto::control::BanKind;
    use switchyard_proto::control::{
        DirectiveReason, ParticipantId, QualitySample, QualitySignal, ReportFigures, ShardCounters,
        ShardId,
    };
    use switchyard_proto::signal::ViolationCode;
    use switchyard_proto::Tier;

    #[test]
    fn events_reach_the_snapshot_and_directives_reach_the_shards() {
        let (mut ev_tx, ev_rx) = ring(8);
        let (dir_tx, dir_rx) = ring(8);
        let mut handle = ControlPlane::spawn(
            vec![ShardLink {
                events: ev_rx,
                directives: dir_tx,
            }],
            JudgeConfig::default(),
            BanPolicy::default(),
        )
        .unwrap();
        let generation = handle.request_counters();
        let got = dir_rx.pop_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(got, Some(Directive::ReportCounters { generation }));
        assert!(ev_tx.push(ShardEvent::Counters {
            shard: ShardId(0),
            generation,
            counters: Box::new(ShardCounters {
                rooms: 3,
                ..Default::default()
            }),
        }));
        let mut seen = 0;
        for _ in 0..500 {
            let s = handle.snapshot();
            if s.generations.first() == Some(&generation) {
                seen = s.total.rooms;
                break;
            }
            std::thread::yield_now();
            let _ = dir_rx.pop_timeout(Duration::from_millis(10));
        }
        assert_eq!(seen, 3);
        handle.stop();
    }

    #[test]
    fn bad_samples_become_a_quality_order_for_the_rooms_shard() {
        let (mut ev_tx, ev_rx) = ring(16);
        let (dir_tx, dir_rx) = ring(8);
        // The idle shard's producer stays alive: a disconnected ring would wake Select forever.
        let (_idle_producer, idle_events) = ring::<ShardEvent>(1);
        let (idle_tx, idle_rx) = ring(8);
        let mut handle = ControlPlane::spawn(
            vec![
                ShardLink {
                    events: idle_events,
                    directives: idle_tx,
                },
                ShardLink {
                    events: ev_rx,
                    directives: dir_tx,
                },
            ],
            JudgeConfig::default(),
            BanPolicy::default(),
        )
        .unwrap();
        let shard = ShardId(1);
        let (a, b) = (ParticipantId::new(shard, 1), ParticipantId::new(shard, 2));
        for (participant, participants) in [(a, 1), (b, 2)] {
            assert!(ev_tx.push(ShardEvent::Joined {
                shard,
                participant,
                room: "r".into(),
                fingerprint: "f".into(),
                participants,
            }));
        }
        let lossy = QualitySample {
            report: Some(ReportFigures {
                loss_pct: 10.0,
                rtt_ms: 20,
                ..Default::default()
            }),
            path: None,
        };
        for _ in 0..3 {
            assert!(ev_tx.push(ShardEvent::Quality {
                participant: a,
                sample: lossy,
            }));
        }
        let got = dir_rx.pop_timeout(Duration::from_secs(5)).unwrap();
        let degraded = QualitySignal::Directive {
            tier: Tier::Degraded,
            reason: DirectiveReason::WeakestLink,
        };
        let expected = QualityOrder {
            room: "r".into(),
            signals: vec![(a, degraded), (b, degraded)],
        };
        assert_eq!(got, Some(Directive::Quality(Box::new(expected))));
        assert_eq!(
            idle_rx.try_pop(),
            Ok(None),
            "only the room's shard hears of it"
        );
        let mut directives = 0;
        for _ in 0..500 {
            directives = handle.snapshot().quality.directives;
            if directives == 2 {
                break;
            }
            std::thread::yield_now();
            let _ = dir_rx.pop_timeout(Duration::from_millis(10));
        }
        assert_eq!(directives, 2);
        assert_eq!(handle.snapshot().quality_orders_dropped, 0);
        handle.stop();
    }

    #[test]
    fn a_violation_on_one_shard_becomes_a_ban_on_every_shard() {
        let (mut ev_tx, ev_rx) = ring(8);
        let (dir_tx, dir_rx) = ring(8);
        let (_idle_producer, idle_events) = ring::<ShardEvent>(1);
        let (idle_tx, idle_rx) = ring(8);
        let mut handle = ControlPlane::spawn(
            vec![
                ShardLink {
                    events: ev_rx,
                    directives: dir_tx,
                },
                ShardLink {
                    events: idle_events,
                    directives: idle_tx,
                },
            ],
            JudgeConfig::default(),
            BanPolicy::default(),
        )
        .unwrap();
        assert!(ev_tx.push(ShardEvent::Violation {
            participant: ParticipantId::new(ShardId(0), 3),
            fingerprint: "abusive".into(),
            code: ViolationCode::Bitrate,
        }));
        for rx in [&dir_rx, &idle_rx] {
            let got = rx.pop_timeout(Duration::from_secs(5)).unwrap();
            let Some(Directive::Ban(ban)) = got else {
                panic!("a ban, not {got:?}");
            };
            assert_eq!(
                (ban.fingerprint.as_str(), ban.code, ban.kind),
                ("abusive", ViolationCode::Bitrate, BanKind::Cooldown)
            );
        }
        let mut stats = WardenStats::default();
        for _ in 0..500 {
            stats = handle.snapshot().bans;
            if stats.cooling_down == 1 {
                break;
            }
            std::thread::yield_now();
        }
        assert_eq!((stats.violations, stats.cooling_down), (1, 1));
        assert_eq!(handle.snapshot().ban_directives_dropped, 0);
        handle.stop();
    }
}
