//! An in-memory network for end-to-end tests: the load generator's participants and one relay
//! endpoint per shard, every packet carried through the seeded impairment model, stepped in
//! virtual time. No sockets, no threads, no sleeping.
//!
//! - Time: the simulation installs a [`VirtualClock`] on its thread, so quiche's own clock
//!   reads, the endpoints' `now` and the participants' `now` are one simulated time. Each step
//!   jumps to the earliest of: a packet's arrival, an endpoint's timeout, a participant's
//!   timeout or start. Everything due then is carried out, and every output drained, before
//!   time moves again.
//! - Steering: a packet for the relay goes to the endpoint the kernel would pick, computed by
//!   running the relay's own reuseport program ([`socket_for`]). Hand-offs between endpoints
//!   are delivered at once, as the shard rings would.
//! - Paths: each participant has an uplink and a downlink [`Link`] from its plan, and an
//!   address the relay sees that can change once mid-call (a NAT rebinding). A packet the
//!   relay sends to an address that no longer maps to anyone is lost.
//! - Trace: every packet is recorded when sent (with the media datagrams it carries) and when
//!   it arrives, so a test can account for every datagram exactly ([`crate::accounting`]).
//! - Control plane: the relay's quality [`Judge`] and block list ([`Warden`]) run in the same
//!   virtual time. Every event an endpoint emits reaches both; each quality order is delivered
//!   at once to the endpoint of the participants it names, and each ban to every endpoint, as
//!   the directive rings would.
//! - Impairment onset: a participant whose plan has `impair_after` gets a clean path until
//!   that long after it joined.

use rand::rngs::StdRng;
use rand::SeedableRng;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use switchyard_bench::forwarding::shard_settings;
use switchyard_bench::impair::{DelayLine, Fate, Link, LinkStats};
use switchyard_bench::participant::{Participant, ParticipantPlan, ParticipantResult, Progress};
use switchyard_bench::run::RunConfig;
use switchyard_controlplane::judge::{Judge, JudgeConfig, JudgeStats};
use switchyard_controlplane::warden::{Warden, WardenStats};
use switchyard_engine::conformance::ConformanceConfig;
use switchyard_engine::steering::{reuseport_program, socket_for, BpfInsn};
use switchyard_engine::{Endpoint, Handoff, Transmits};
use switchyard_proto::control::{Ban, Directive, QualityOrder, ShardCounters, ShardEvent, ShardId};
use switchyard_testclock::VirtualClock;

/// The relay's address in every simulation.
pub const RELAY: SocketAddr = SocketAddr::new(
    std::net::IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1)),
    4433,
);
/// Steps one simulation may take before it is declared stuck.
const MAX_STEPS: usize = 2_000_000;

/// One packet's life, in the order things happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trace {
    /// Participant `host` sent packet `id`, carrying `datagrams` media datagrams (the next
    /// ones it queued).
    Uplink {
        id: u64,
        host: usize,
        datagrams: usize,
    },
    /// The relay sent packet `id` to participant `host`, carrying `datagrams`.
    Downlink {
        id: u64,
        host: usize,
        datagrams: usize,
    },
    /// Packet `id` reached the relay, or a participant still running at the address it was
    /// sent to. A duplicated packet arrives twice.
    Arrived { id: u64 },
}

/// A packet on its way.
#[derive(Debug)]
struct InFlight {
    id: u64,
    bytes: Vec<u8>,
    route: Route,
}

#[derive(Debug, Clone, Copy)]
enum Route {
    /// From a participant, as seen by the relay (its public address then).
    ToRelay { from: SocketAddr },
    /// From the relay to whoever holds `to` when it arrives.
    ToHost { to: SocketAddr },
}

/// One participant and its path.
struct Host {
    plan: ParticipantPlan,
    start_at: Instant,
    participant: Option<Participant>,
    result: Option<ParticipantResult>,
    /// The address the client believes it has.
    local: SocketAddr,
    /// The address the relay sees (the NAT's mapping).
    public: SocketAddr,
    up: Link,
    down: Link,
    rebound: bool,
    /// The impairment's start was set on both links.
    onset_set: bool,
}

/// What a finished simulation observed.
#[derive(Debug)]
pub struct Outcome {
    /// Every participant's result, in index order.
    pub results: Vec<ParticipantResult>,
    /// Every endpoint's events, with the shard and the simulated time.
    pub events: Vec<(ShardId, Instant, ShardEvent)>,
    /// Every endpoint's counters at the end, by shard.
    pub counters: Vec<ShardCounters>,
    pub trace: Vec<Trace>,
    /// Per participant: what its uplink and downlink did.
    pub links: Vec<(LinkStats, LinkStats)>,
    /// Packets the relay sent to an address no participant held when they arrived.
    pub unroutable: u64,
    /// When each participant's address changed, if it did.
    pub rebound_at: Vec<Option<Instant>>,
    /// Every order the quality judge made, when it made it.
    pub orders: Vec<(Instant, QualityOrder)>,
    pub judge: JudgeStats,
    /// Every ban the block list sent the shards, when it sent it.
    pub bans: Vec<(Instant, Ban)>,
    pub warden: WardenStats,
    /// The simulation's start.
    pub epoch: Instant,
}

/// The simulation of one run.
pub struct Sim {
    clock: VirtualClock,
    epoch: Instant,
    config: RunConfig,
    endpoints: Vec<Endpoint>,
    program: [BpfInsn; 7],
    hosts: Vec<Host>,
    /// The NAT's current mappings: who receives a packet sent to an address.
    by_public: HashMap<SocketAddr, usize>,
    /// Every address a participant ever had, for the trace.
    owner_of: HashMap<SocketAddr, usize>,
    in_flight: DelayLine<InFlight>,
    next_id: u64,
    out: Transmits,
    buf: Vec<u8>,
    progress: Arc<Progress>,
    events: Vec<(ShardId, Instant, ShardEvent)>,
    judge: Judge,
    orders: Vec<(Instant, QualityOrder)>,
    warden: Warden,
    bans: Vec<(Instant, Ban)>,
    trace: Vec<Trace>,
    unroutable: u64,
    rebound_at: Vec<Option<Instant>>,
    _certs: tempdir::Dir,
}

mod tempdir {
    /// A directory removed on drop.
    pub struct Dir(pub std::path::PathBuf);

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// Participant `index`'s own address.
fn local_address(index: usize) -> SocketAddr {
    let i = u16::try_from(index).unwrap_or(u16::MAX);
    SocketAddr::from(([10, 1, (i / 250) as u8, (i % 250) as u8 + 1], 40_000))
}

impl Sim {
    /// A simulation of `config` against a relay of `shards` shards. `config.relay` is
    /// replaced by [`RELAY`]. Installs the virtual clock on this thread (the test binary
    /// must invoke `switchyard_testclock::install_virtual_clock!()`).
    pub fn new(shards: u16, config: RunConfig) -> Self {
        Self::with_judge(shards, config, JudgeConfig::default())
    }

    /// [`Self::new`] with the endpoints' conformance tiers in `modes`.
    pub fn with_conformance(shards: u16, config: RunConfig, modes: ConformanceConfig) -> Self {
        Self::build(shards, config, JudgeConfig::default(), modes)
    }

    /// [`Self::new`] with the quality judge configured by `judge`.
    pub fn with_judge(shards: u16, config: RunConfig, judge: JudgeConfig) -> Self {
        Self::build(shards, config, judge, ConformanceConfig::default())
    }

    /// [`Self::new`] with both the judge and the endpoints' conformance configured.
    pub fn with_judge_and_conformance(
        shards: u16,
        config: RunConfig,
        judge: JudgeConfig,
        conformance: ConformanceConfig,
    ) -> Self {
        Self::build(shards, config, judge, conformance)
    }

    fn build(
        shards: u16,
        mut config: RunConfig,
        judge: JudgeConfig,
        conformance: ConformanceConfig,
    ) -> Self {
        let clock = match VirtualClock::install() {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        };
        let epoch = clock.now();
        config.relay = RELAY;
        let dir = std::env::temp_dir().join(format!(
            "switchyard-sim-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let mut settings = shard_settings(&dir).expect("TLS material for the simulated relay");
        settings.endpoint.shards = shards;
        settings.endpoint.conformance = conformance;
        let endpoints = (0..shards)
            .map(|i| {
                let s = settings.for_shard(ShardId(i));
                let quic = s.quic_config().expect("the shard's quiche configuration");
                let rng = StdRng::seed_from_u64(config.seed ^ u64::from(i));
                Endpoint::new(s.endpoint, quic, rng, epoch)
            })
            .collect();
        let hosts: Vec<Host> = (0..config.total())
            .map(|i| {
                let plan = config.plan(i);
                let index = i as usize;
                let seed = config.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ u64::from(i);
                let (mut up, mut down) = (
                    Link::new(plan.uplink, seed),
                    Link::new(plan.downlink, seed.rotate_left(32)),
                );
                if plan.impair_after.is_some() {
                    up.defer();
                    down.defer();
                }
                Host {
                    start_at: epoch + plan.join_delay,
                    participant: None,
                    result: None,
                    local: local_address(index),
                    public: local_address(index),
                    up,
                    down,
                    rebound: false,
                    onset_set: false,
                    plan,
                }
            })
            .collect();
        let by_public: HashMap<SocketAddr, usize> = hosts
            .iter()
            .enumerate()
            .map(|(i, h)| (h.public, i))
            .collect();
        let rebound_at = vec![None; hosts.len()];
        Self {
            clock,
            epoch,
            endpoints,
            program: reuseport_program(shards),
            hosts,
            owner_of: by_public.clone(),
            by_public,
            in_flight: DelayLine::new(),
            next_id: 0,
            out: Transmits::new(),
            buf: vec![0; 2048],
            progress: Arc::new(Progress::default()),
            events: Vec::new(),
            judge: Judge::new(judge),
            orders: Vec::new(),
            warden: Warden::new(conformance.bans),
            bans: Vec::new(),
            trace: Vec::new(),
            unroutable: 0,
            rebound_at,
            config,
            _certs: tempdir::Dir(dir),
        }
    }

    /// Runs until every participant is done, or `limit` of simulated time has passed.
    pub fn run(mut self, limit: Duration) -> Outcome {
        let end = self.epoch + limit;
        for _ in 0..MAX_STEPS {
            if self.hosts.iter().all(|h| h.result.is_some()) {
                break;
            }
            let next = self.next_event().unwrap_or(end);
            if next > end {
                break;
            }
            self.clock.advance_to(next);
            let now = self.clock.now();
            self.step(now);
        }
        self.finish()
    }

    fn finish(mut self) -> Outcome {
        let now = self.clock.now();
        let mut results = Vec::with_capacity(self.hosts.len());
        let mut links = Vec::with_capacity(self.hosts.len());
        for (i, host) in self.hosts.iter_mut().enumerate() {
            let mut result = match (host.result.take(), host.participant.take()) {
                (Some(r), _) => r,
                (None, Some(p)) => {
                    let mut r = p.finish();
                    r.error = Some(format!("still running at {:?}", now - self.epoch));
                    r
                }
                (None, None) => {
                    let mut r = ParticipantResult::new(
                        u32::try_from(i).unwrap_or(u32::MAX),
                        self.config.participants,
                        String::new(),
                    );
                    r.error = Some("never started".into());
                    r
                }
            };
            result.uplink = host.up.stats();
            result.downlink = host.down.stats();
            links.push((result.uplink, result.downlink));
            results.push(result);
        }
        Outcome {
            results,
            counters: self
                .endpoints
                .iter()
                .map(|e| e.counters().clone())
                .collect(),
            events: self.events,
            trace: self.trace,
            links,
            unroutable: self.unroutable,
            rebound_at: self.rebound_at,
            judge: self.judge.stats(),
            orders: self.orders,
            warden: self.warden.stats(now),
            bans: self.bans,
            epoch: self.epoch,
        }
    }

    /// The earliest time something is due.
    fn next_event(&mut self) -> Option<Instant> {
        let now = self.clock.now();
        let mut next = self.in_flight.next_at();
        let mut earliest = |t: Instant| next = Some(next.map_or(t, |n: Instant| n.min(t)));
        for e in &mut self.endpoints {
            if let Some((at, _)) = e.poll_timeout() {
                earliest(at);
            }
        }
        if let Some(at) = self.judge.poll_timeout() {
            earliest(at);
        }
        if let Some(at) = self.warden.poll_timeout() {
            earliest(at);
        }
        for h in &self.hosts {
            match &h.participant {
                Some(p) => {
                    earliest(p.poll_timeout(now));
                    if let Some(at) = rebind_at(h, p) {
                        earliest(at);
                    }
                }
                None if h.result.is_none() => earliest(h.start_at),
                None => {}
            }
        }
        next
    }

    /// Carries out everything due at `now`, then drains every output until nothing moves.
    fn step(&mut self, now: Instant) {
        self.start_and_rebind(now);
        for e in &mut self.endpoints {
            if e.poll_timeout().is_some_and(|(at, _)| at <= now) {
                e.handle_timeout(now);
            }
        }
        if self.judge.poll_timeout().is_some_and(|at| at <= now) {
            self.judge.handle_timeout(now);
        }
        if self.warden.poll_timeout().is_some_and(|at| at <= now) {
            self.warden.handle_timeout(now);
        }
        for h in &mut self.hosts {
            if let Some(p) = &mut h.participant {
                if p.poll_timeout(now) <= now {
                    p.handle_timeout(now);
                }
            }
        }
        loop {
            let mut moved = self.deliver_due(now);
            moved += self.drain_endpoints(now);
            moved += self.drain_hosts(now);
            if moved == 0 {
                break;
            }
        }
        for h in &mut self.hosts {
            if h.participant.as_ref().is_some_and(|p| p.is_done(now)) {
                h.result = h.participant.take().map(Participant::finish);
            }
        }
    }

    fn start_and_rebind(&mut self, now: Instant) {
        for (i, h) in self.hosts.iter_mut().enumerate() {
            if h.participant.is_none() && h.result.is_none() && h.start_at <= now {
                let index = u32::try_from(i).unwrap_or(u32::MAX);
                match Participant::connect(
                    index,
                    h.plan.clone(),
                    &self.config,
                    self.epoch,
                    now,
                    h.local,
                    Arc::clone(&self.progress),
                ) {
                    Ok(p) => h.participant = Some(p),
                    Err(e) => {
                        let mut r =
                            ParticipantResult::new(index, self.config.participants, String::new());
                        r.error = Some(e);
                        h.result = Some(r);
                    }
                }
            }
            if let (false, Some(p)) = (h.onset_set, &h.participant) {
                if let (Some(joined), Some(after)) = (p.joined_at(), h.plan.impair_after) {
                    h.up.start_at(joined + after);
                    h.down.start_at(joined + after);
                    h.onset_set = true;
                }
            }
            let due = h.participant.as_ref().and_then(|p| rebind_at(h, p));
            if due.is_some_and(|at| at <= now) {
                self.by_public.remove(&h.public);
                h.public.set_port(h.public.port() + 10_000);
                self.by_public.insert(h.public, i);
                self.owner_of.insert(h.public, i);
                h.rebound = true;
                if let Some(slot) = self.rebound_at.get_mut(i) {
                    *slot = Some(now);
                }
            }
        }
    }

    fn deliver_due(&mut self, now: Instant) -> usize {
        let mut moved = 0;
        while let Some(mut packet) = self.in_flight.pop_due(now) {
            moved += 1;
            match packet.route {
                Route::ToRelay { from } => {
                    let shard = socket_for(&self.program, &packet.bytes).unwrap_or(0) as usize;
                    if let Some(e) = self.endpoints.get_mut(shard) {
                        self.trace.push(Trace::Arrived { id: packet.id });
                        e.handle_datagram(now, from, RELAY, &mut packet.bytes);
                    }
                }
                Route::ToHost { to } => {
                    let host = self.by_public.get(&to).copied();
                    let Some(p) = host
                        .and_then(|i| self.hosts.get_mut(i))
                        .and_then(|h| h.participant.as_mut())
                    else {
                        self.unroutable += 1;
                        continue;
                    };
                    self.trace.push(Trace::Arrived { id: packet.id });
                    p.handle_datagram(now, &mut packet.bytes, RELAY);
                }
            }
        }
        moved
    }

    fn drain_endpoints(&mut self, now: Instant) -> usize {
        let mut moved = 0;
        let mut handoffs: Vec<Handoff> = Vec::new();
        for (shard, e) in self.endpoints.iter_mut().enumerate() {
            e.poll_transmits(&mut self.out);
            while let Some(h) = e.poll_handoff() {
                handoffs.push(h);
            }
            while let Some(ev) = e.poll_event() {
                let shard = ShardId(u16::try_from(shard).unwrap_or(u16::MAX));
                self.judge.handle_event(now, &ev);
                self.warden.handle_event(now, &ev);
                self.events.push((shard, now, ev));
            }
        }
        while let Some(ban) = self.warden.poll_ban() {
            moved += 1;
            for e in &mut self.endpoints {
                e.handle_directive(now, Directive::Ban(Box::new(ban.clone())));
            }
            self.bans.push((now, ban));
        }
        while let Some(order) = self.judge.poll_order() {
            moved += 1;
            let owner = order.signals.first().map(|(p, _)| p.shard());
            if let Some(e) = owner.and_then(|s| self.endpoints.get_mut(s.index())) {
                e.handle_directive(now, Directive::Quality(Box::new(order.clone())));
            }
            self.orders.push((now, order));
        }
        for (bytes, t) in self.out.iter() {
            moved += 1;
            let id = self.next_id;
            self.next_id += 1;
            let host = self.owner_of.get(&t.to).copied();
            if let Some(host) = host {
                self.trace.push(Trace::Downlink {
                    id,
                    host,
                    datagrams: usize::from(t.datagrams),
                });
            }
            let link = host
                .and_then(|i| self.hosts.get_mut(i))
                .map(|h| &mut h.down);
            let fate = link.map_or(
                Fate::Delivered {
                    at: now,
                    duplicate: false,
                },
                |l| l.transmit(now),
            );
            queue(
                &mut self.in_flight,
                fate,
                id,
                bytes,
                Route::ToHost { to: t.to },
            );
        }
        self.out.clear();
        for h in handoffs {
            moved += 1;
            if let Some(e) = self.endpoints.get_mut(h.to.index()) {
                e.handle_handoff(now, h);
            }
        }
        moved
    }

    fn drain_hosts(&mut self, now: Instant) -> usize {
        let mut moved = 0;
        for (i, h) in self.hosts.iter_mut().enumerate() {
            let Some(p) = &mut h.participant else {
                continue;
            };
            while let Some(out) = p.poll_transmit(now, &mut self.buf) {
                moved += 1;
                let id = self.next_id;
                self.next_id += 1;
                self.trace.push(Trace::Uplink {
                    id,
                    host: i,
                    datagrams: out.datagrams,
                });
                let bytes = self.buf.get(..out.len).unwrap_or_default();
                let fate = h.up.transmit(now);
                queue(
                    &mut self.in_flight,
                    fate,
                    id,
                    bytes,
                    Route::ToRelay { from: h.public },
                );
            }
        }
        moved
    }
}

/// When `h`'s address changes, while that is still to come.
fn rebind_at(h: &Host, p: &Participant) -> Option<Instant> {
    if h.rebound {
        return None;
    }
    Some(p.joined_at()? + h.plan.rebind_after?)
}

fn queue(line: &mut DelayLine<InFlight>, fate: Fate, id: u64, bytes: &[u8], route: Route) {
    if let Fate::Delivered { at, duplicate } = fate {
        for _ in 0..(1 + usize::from(duplicate)) {
            line.push(
                at,
                InFlight {
                    id,
                    bytes: bytes.to_vec(),
                    route,
                },
            );
        }
    }
}
