//! The control-plane thread: drains every shard's event ring into the [`Aggregator`],
//! publishes the snapshot, and sends directives back on request.
//!
//! It waits on the rings with a timeout (crossbeam `Select`), so it needs no clock of its own.

use crate::aggregator::{Aggregator, RelaySnapshot};
use crate::ring::{RingReceiver, RingSender};
use crossbeam_channel::{Receiver, Select, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;
use switchyard_proto::control::{Directive, ShardEvent};

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
    pub fn spawn(links: Vec<ShardLink>) -> std::io::Result<ControlPlaneHandle> {
        let (commands, command_rx) = crossbeam_channel::bounded(64);
        let snapshot = Arc::new(Mutex::new(RelaySnapshot::default()));
        let published = Arc::clone(&snapshot);
        let thread = std::thread::Builder::new()
            .name("switchyard-control".into())
            .spawn(move || run(links, command_rx, published))?;
        Ok(ControlPlaneHandle {
            commands,
            snapshot,
            thread: Some(thread),
            generation: 0,
        })
    }
}

fn run(
    mut links: Vec<ShardLink>,
    commands: Receiver<Command>,
    published: Arc<Mutex<RelaySnapshot>>,
) {
    let mut aggregator = Aggregator::new(links.len());
    loop {
        let mut select = Select::new();
        for link in &links {
            select.recv(link.events.inner());
        }
        let command_index = select.recv(&commands);
        // Readiness only: the rings are drained below, whichever woke us.
        let ready = select.ready_timeout(Duration::from_millis(200));
        let mut changed = false;
        for link in &links {
            while let Ok(Some(event)) = link.events.try_pop() {
                aggregator.handle(event);
                changed = true;
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
                    publish(&published, &aggregator);
                    return;
                }
                Err(crossbeam_channel::TryRecvError::Empty) => {}
            }
        }
        if changed {
            publish(&published, &aggregator);
        }
    }
}

fn publish(published: &Mutex<RelaySnapshot>, aggregator: &Aggregator) {
    *published.lock().unwrap_or_else(PoisonError::into_inner) = aggregator.snapshot().clone();
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
    use switchyard_proto::control::{ShardCounters, ShardId};

    #[test]
    fn events_reach_the_snapshot_and_directives_reach_the_shards() {
        let (mut ev_tx, ev_rx) = ring(8);
        let (dir_tx, dir_rx) = ring(8);
        let mut handle = ControlPlane::spawn(vec![ShardLink {
            events: ev_rx,
            directives: dir_tx,
        }])
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
}
