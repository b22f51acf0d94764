//! Starting and stopping a whole relay: lock the port, bind the reuseport group, derive the
//! identity, start one glommio executor per shard (pinned when there are enough CPUs) and
//! the control-plane thread, and wire the rings between them.

use crate::identity_store::{self, RelayKeys, StoreError};
use crate::port_lock::{self, PortLock, PortLockError};
use crate::shard::settings::ShardSettings;
use crate::shard::socket::bind_group;
use crate::shard::{Shard, ShardRings};
use glommio::{LocalExecutorBuilder, Placement};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, Instant};
use switchyard_controlplane::judge::JudgeConfig;
use switchyard_controlplane::{
    ring, ControlPlane, ControlPlaneHandle, RelaySnapshot, RingReceiver, RingSender, ShardLink,
};
use switchyard_engine::admission::AdmissionConfig;
use switchyard_engine::conformance::ConformanceConfig;
use switchyard_engine::endpoint::VideoSettings;
use switchyard_engine::endpoint::{SIGNAL_AFTER_JOIN, SIGNAL_BEFORE_JOIN};
use switchyard_engine::session::AuthGate;
use switchyard_engine::{EndpointConfig, Handoff};
use switchyard_proto::control::{Directive, ShardId};

const EVENT_RING: usize = 4096;
/// Holds a relay-wide quality event: one order per room of a shard at once.
const DIRECTIVE_RING: usize = 1024;
const PEER_RING: usize = 1024;
/// glommio's io_memory is for storage I/O, which a relay does not do; keep the pinned
/// reservation small so many executors fit under a low RLIMIT_MEMLOCK.
const IO_MEMORY: usize = 64 * 1024;

/// Whether shards are pinned to CPUs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Pinning {
    /// Pin when there are at least as many usable CPUs as shards.
    #[default]
    Auto,
    On,
    Off,
}

/// Everything needed to start a relay.
#[derive(Debug, Clone)]
pub struct RelayOptions {
    pub listen: SocketAddr,
    /// `None`: one shard per CPU this process may run on.
    pub shards: Option<u16>,
    pub pinning: Pinning,
    pub identity_path: PathBuf,
    pub auth_tokens: Vec<String>,
    pub room_capacity: usize,
    pub max_connections_per_shard: usize,
    pub handshake_timeout: Duration,
    pub idle_timeout: Duration,
    pub datagram_queue: usize,
    /// Bytes one connection's outgoing datagram queue holds at most.
    pub datagram_queue_bytes: usize,
    /// Bytes of unfinished signal frames a connection holds before it joins, and once joined.
    pub signal_bytes: [usize; 2],
    pub signal_frame_deadline: Duration,
    pub counters_interval: Duration,
    /// Where the per-port lock lives; `None` for [`port_lock::default_lock_dir`].
    pub lock_dir: Option<PathBuf>,
    pub video: VideoSettings,
    /// Each conformance tier's mode.
    pub conformance: ConformanceConfig,
    /// The control plane's quality judge.
    pub quality: JudgeConfig,
    /// Retry policy, half-open budgets, stateless reply rates.
    pub admission: AdmissionConfig,
}

impl RelayOptions {
    /// Defaults for a relay on `listen` keeping its identity at `identity_path`.
    pub fn new(listen: SocketAddr, identity_path: PathBuf) -> Self {
        Self {
            listen,
            shards: None,
            pinning: Pinning::Auto,
            identity_path,
            auth_tokens: Vec::new(),
            room_capacity: 100,
            max_connections_per_shard: 10_000,
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
            datagram_queue: 1024,
            datagram_queue_bytes: switchyard_engine::endpoint::DEFAULT_DATAGRAM_QUEUE_BYTES,
            signal_bytes: [
                SIGNAL_BEFORE_JOIN.buffered_bytes,
                SIGNAL_AFTER_JOIN.buffered_bytes,
            ],
            signal_frame_deadline: Duration::from_secs(5),
            counters_interval: Duration::from_secs(1),
            lock_dir: None,
            video: VideoSettings::default(),
            conformance: ConformanceConfig::default(),
            quality: JudgeConfig::default(),
            admission: AdmissionConfig::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Identity(#[from] StoreError),
    #[error(transparent)]
    PortLock(#[from] PortLockError),
    #[error("binding {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("starting shard {shard}: {reason}")]
    Shard { shard: u16, reason: String },
    #[error("starting the control plane: {0}")]
    ControlPlane(std::io::Error),
    #[error("shards must be between 1 and 256, got {0}")]
    ShardCount(u16),
}

/// A running relay.
#[derive(Debug)]
pub struct RelayHandle {
    pub local_addr: SocketAddr,
    pub shards: u16,
    pub pinned: bool,
    pub keys: RelayKeys,
    control: ControlPlaneHandle,
    executors: Vec<glommio::ExecutorJoinHandle<()>>,
    _lock: Option<PortLock>,
}

/// CPUs this process may run on (its affinity mask, not every online CPU).
pub fn usable_cpus() -> Vec<usize> {
    core_affinity::get_core_ids()
        .map(|ids| ids.into_iter().map(|c| c.id).collect())
        .unwrap_or_default()
}

pub fn start(options: RelayOptions) -> Result<RelayHandle, StartError> {
    let cpus = usable_cpus();
    let shards = options
        .shards
        .unwrap_or_else(|| u16::try_from(cpus.len().max(1)).unwrap_or(1));
    if shards == 0 || shards > 256 {
        return Err(StartError::ShardCount(shards));
    }
    let keys = identity_store::load_or_create(&options.identity_path)?;
    let lock_dir = options
        .lock_dir
        .clone()
        .unwrap_or_else(port_lock::default_lock_dir);
    let lock = if options.listen.port() == 0 {
        None // the kernel picks a free port; nobody else can be in its group
    } else {
        Some(port_lock::lock_port(&lock_dir, options.listen)?)
    };
    let (sockets, local_addr) =
        bind_group(options.listen, shards).map_err(|source| StartError::Bind {
            addr: options.listen,
            source,
        })?;
    let pinned = match options.pinning {
        Pinning::On => true,
        Pinning::Off => false,
        Pinning::Auto => cpus.len() >= usize::from(shards),
    };

    let mut endpoint = EndpointConfig::new(ShardId(0), shards, keys.seed);
    endpoint.auth = if options.auth_tokens.is_empty() {
        AuthGate::open()
    } else {
        AuthGate::with_tokens(options.auth_tokens.iter().cloned())
    };
    endpoint.room_capacity = options.room_capacity;
    endpoint.max_connections = options.max_connections_per_shard;
    endpoint.handshake_timeout = options.handshake_timeout;
    endpoint.counters_interval = options.counters_interval;
    endpoint.video = options.video;
    endpoint.conformance = options.conformance;
    endpoint.admission = options.admission;
    endpoint.datagram_queue_bytes = options.datagram_queue_bytes;
    endpoint.signal_before_join.buffered_bytes = options.signal_bytes[0];
    endpoint.signal_after_join.buffered_bytes = options.signal_bytes[1];
    endpoint.signal_frame_deadline = options.signal_frame_deadline;
    // Retry tokens die with this process: a salt of its own, one epoch for every shard.
    endpoint.token_salt = rand::random();
    endpoint.token_epoch = Some(Instant::now());
    let settings = ShardSettings {
        endpoint,
        cert_pem: keys.cert_pem.clone(),
        key_pem: keys.key_pem.clone(),
        idle_timeout: options.idle_timeout,
        dgram_queue: options.datagram_queue,
    };

    let n = usize::from(shards);
    let mut links = Vec::with_capacity(n);
    let mut shard_rings = Vec::with_capacity(n);
    for _ in 0..n {
        let (ev_tx, ev_rx) = ring(EVENT_RING);
        let (dir_tx, dir_rx) = ring(DIRECTIVE_RING);
        links.push(ShardLink {
            events: ev_rx,
            directives: dir_tx,
        });
        shard_rings.push((ev_tx, dir_rx));
    }
    let (mut to_peers, mut from_peers) = peer_mesh(n);
    let control = ControlPlane::spawn(links, options.quality.clone(), options.conformance.bans)
        .map_err(StartError::ControlPlane)?;

    let (ready_tx, ready_rx) = mpsc::channel::<Result<u16, (u16, String)>>();
    let mut executors = Vec::with_capacity(n);
    for (i, (socket, (events, directives))) in sockets.into_iter().zip(shard_rings).enumerate() {
        let id = ShardId(u16::try_from(i).unwrap_or(u16::MAX));
        let rings = ShardRings {
            events,
            directives,
            to_peers: std::mem::take(&mut to_peers[i]),
            from_peers: std::mem::take(&mut from_peers[i]),
        };
        let placement = match cpus.get(i) {
            Some(cpu) if pinned => Placement::Fixed(*cpu),
            _ => Placement::Unbound,
        };
        let settings = settings.for_shard(id);
        let ready = ready_tx.clone();
        let builder = LocalExecutorBuilder::new(placement)
            .name(&format!("shard-{i}"))
            .io_memory(IO_MEMORY);
        let handle = builder
            .spawn(move || async move {
                match Shard::new(settings, socket, rings) {
                    Ok(shard) => {
                        let _ = ready.send(Ok(id.0));
                        shard.run().await;
                    }
                    Err(reason) => {
                        let _ = ready.send(Err((id.0, reason)));
                    }
                }
            })
            .map_err(|e| StartError::Shard {
                shard: id.0,
                reason: e.to_string(),
            })?;
        executors.push(handle);
    }
    drop(ready_tx);
    for _ in 0..n {
        match ready_rx.recv() {
            Ok(Ok(_)) => {}
            Ok(Err((shard, reason))) => return Err(StartError::Shard { shard, reason }),
            Err(_) => {
                return Err(StartError::Shard {
                    shard: 0,
                    reason: "shard thread exited during start".into(),
                })
            }
        }
    }
    Ok(RelayHandle {
        local_addr,
        shards,
        pinned,
        keys,
        control,
        executors,
        _lock: lock,
    })
}

type PeerSenders = Vec<Vec<Option<RingSender<Handoff>>>>;
type PeerReceivers = Vec<Vec<RingReceiver<Handoff>>>;

/// One SPSC ring for every ordered pair of shards.
fn peer_mesh(n: usize) -> (PeerSenders, PeerReceivers) {
    let mut to: PeerSenders = (0..n).map(|_| (0..n).map(|_| None).collect()).collect();
    let mut from: PeerReceivers = (0..n).map(|_| Vec::new()).collect();
    for (src, row) in to.iter_mut().enumerate() {
        for (dst, slot) in row.iter_mut().enumerate() {
            if src != dst {
                let (tx, rx) = ring(PEER_RING);
                *slot = Some(tx);
                if let Some(inbox) = from.get_mut(dst) {
                    inbox.push(rx);
                }
            }
        }
    }
    (to, from)
}

impl RelayHandle {
    /// The latest aggregates the control plane published.
    pub fn snapshot(&self) -> RelaySnapshot {
        self.control.snapshot()
    }

    /// Asks every shard for its counters and waits (up to `timeout`) until all have answered.
    pub fn fresh_snapshot(&mut self, timeout: Duration) -> Option<RelaySnapshot> {
        let generation = self.control.request_counters();
        let deadline = Instant::now() + timeout;
        loop {
            let snap = self.control.snapshot();
            if snap.generations.len() == usize::from(self.shards)
                && snap.generations.iter().all(|g| *g >= generation)
            {
                return Some(snap);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::yield_now();
        }
    }

    /// Hangs up every participant, stops the shards and the control plane, and waits. Returns
    /// the last snapshot (with each shard's final counters).
    pub fn stop(mut self) -> RelaySnapshot {
        self.control.broadcast(Directive::Shutdown);
        for e in self.executors.drain(..) {
            let _ = e.join();
        }
        self.control.stop();
        self.control.snapshot()
    }
}
