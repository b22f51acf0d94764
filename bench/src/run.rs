//! Runs R rooms x P participants against a relay: every participant is a [`Participant`] (a
//! real QUIC client doing the real handshake) on its own UDP socket, driven by a glommio task.
//! Runs are bounded: join timeout + media duration + drain, then every client hangs up and
//! closes.
//!
//! A participant whose path is impaired ([`PathPlan`]) has its packets put through two seeded
//! [`Link`]s: what it sends is held (or dropped, or doubled) before it reaches its socket, and
//! what arrives is held before the client sees it. A rebinding swaps its socket for a new one
//! mid-call while the client keeps believing its old address, as behind a NAT.

use crate::annexb::AccessUnit;
use crate::impair::{DelayLine, Fate, Impairment, Link};
use crate::media::Profile;
use crate::participant::Participant;
pub use crate::participant::{ParticipantPlan, ParticipantResult, Progress};
pub use crate::quality::UpgradeAnswer;
use glommio::net::UdpSocket;
use glommio::{LocalExecutorBuilder, Placement};
use std::net::SocketAddr;
use std::os::fd::{FromRawFd, IntoRawFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Per-participant customisation (tests use it to script behaviours).
pub type Tweak = Arc<dyn Fn(u32, &mut ParticipantPlan) + Send + Sync>;

/// Whose path is impaired, and how.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PathPlan {
    pub uplink: Impairment,
    pub downlink: Impairment,
    /// Rooms whose participants are impaired; empty: every room.
    pub rooms: Vec<u32>,
    /// The participant slot within its room (0-based) that is impaired; `None`: every slot.
    pub slot: Option<u32>,
    /// A one-off source address change, this long after the participant joined.
    pub rebind_after: Option<Duration>,
    /// The impairment begins this long after the participant joined (default: at once).
    pub impair_after: Option<Duration>,
}

impl PathPlan {
    pub fn is_none(&self) -> bool {
        self.uplink.is_none() && self.downlink.is_none() && self.rebind_after.is_none()
    }

    /// Whether participant `slot` of room `room` is impaired.
    pub fn applies_to(&self, room: u32, slot: u32) -> bool {
        !self.is_none()
            && (self.rooms.is_empty() || self.rooms.contains(&room))
            && self.slot.is_none_or(|s| s == slot)
    }
}

#[derive(Clone)]
pub struct RunConfig {
    pub relay: SocketAddr,
    pub rooms: u32,
    pub participants: u32,
    pub profile: Profile,
    pub duration: Duration,
    pub room_prefix: String,
    /// Executor threads the participants are spread over.
    pub workers: usize,
    pub join_timeout: Duration,
    /// Receive-only time after the media phase.
    pub drain: Duration,
    pub seed: u64,
    pub auth_token: Option<String>,
    /// The access units of `--h264` (profile H264).
    pub h264: Option<Arc<[AccessUnit]>>,
    /// The last `join_late` participants of every room join `join_late_after` into the run.
    pub join_late: u32,
    pub join_late_after: Duration,
    pub paths: PathPlan,
    /// How participants answer the relay's upgrade proposals.
    pub upgrade_answer: UpgradeAnswer,
    /// Rooms whose participants send another legitimate profile than `profile` (the last
    /// match wins).
    pub room_profiles: Vec<RoomProfile>,
    /// Rooms with one abusive participant each, in slot `abuser_slot` (default: the last
    /// participant joining on time).
    pub abusers: Vec<RoomProfile>,
    pub abuser_slot: Option<u32>,
    pub tweak: Option<Tweak>,
}

/// A profile for a range of rooms: `--room-profile 30..35=h264`, `--abuser 40=tunnel`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomProfile {
    pub rooms: std::ops::Range<u32>,
    pub profile: Profile,
}

impl RoomProfile {
    /// `ROOMS=PROFILE`, ROOMS being a room index `N`, a range `A..B` (B excluded) or
    /// `A..=B` (B included).
    pub fn parse(text: &str) -> Result<Self, String> {
        use clap::ValueEnum;
        let (rooms, profile) = text
            .rsplit_once('=')
            .ok_or_else(|| format!("{text:?}: expected ROOMS=PROFILE"))?;
        let profile = Profile::from_str(profile.trim(), true)
            .map_err(|_| format!("{text:?}: unknown profile {profile:?}"))?;
        let number = |n: &str| {
            n.trim()
                .parse::<u32>()
                .map_err(|_| format!("{text:?}: {n:?} is not a room index"))
        };
        let rooms = if let Some((a, b)) = rooms.split_once("..=") {
            number(a)?..number(b)?.saturating_add(1)
        } else if let Some((a, b)) = rooms.split_once("..") {
            number(a)?..number(b)?
        } else {
            let n = number(rooms)?;
            n..n.saturating_add(1)
        };
        if rooms.is_empty() {
            return Err(format!("{text:?}: no rooms in that range"));
        }
        Ok(Self { rooms, profile })
    }
}

impl std::fmt::Debug for RunConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunConfig")
            .field("relay", &self.relay)
            .field("rooms", &self.rooms)
            .field("participants", &self.participants)
            .field("profile", &self.profile)
            .field("duration", &self.duration)
            .field("paths", &self.paths)
            .finish()
    }
}

impl RunConfig {
    pub fn new(
        relay: SocketAddr,
        rooms: u32,
        participants: u32,
        profile: Profile,
        duration: Duration,
    ) -> Self {
        Self {
            relay,
            rooms,
            participants,
            profile,
            duration,
            room_prefix: "room".into(),
            workers: 1,
            join_timeout: Duration::from_secs(10),
            drain: Duration::from_millis(500),
            seed: 1,
            auth_token: None,
            h264: None,
            join_late: 0,
            join_late_after: duration / 2,
            paths: PathPlan::default(),
            upgrade_answer: UpgradeAnswer::Accept,
            room_profiles: Vec::new(),
            abusers: Vec::new(),
            abuser_slot: None,
            tweak: None,
        }
    }

    /// Participants per room that join at the start.
    pub fn on_time(&self) -> u32 {
        self.participants.saturating_sub(self.join_late)
    }

    pub fn room_name(&self, room: u32) -> String {
        format!("{}-{room}", self.room_prefix)
    }

    pub fn total(&self) -> u32 {
        self.rooms * self.participants
    }

    /// What participant `index` does.
    pub fn plan(&self, index: u32) -> ParticipantPlan {
        let per_room = self.participants.max(1);
        let (room, slot) = (index / per_room, index % per_room);
        let mut client = crate::client::ClientOptions::new(self.room_name(room));
        client.alias = Some(format!("p{index}"));
        client.auth_token = self.auth_token.clone();
        let mut plan = ParticipantPlan {
            client,
            join_delay: Duration::ZERO,
            wait_for_all: true,
            send_media: true,
            leave_after: None,
            garbage: 0,
            bad_signal_frames: false,
            record: false,
            profile: self.profile,
            late: false,
            plis: Vec::new(),
            uplink: Impairment::none(),
            downlink: Impairment::none(),
            rebind_after: None,
            impair_after: None,
            upgrade_answer: UpgradeAnswer::Accept,
            identity_of: None,
            initial_tier: None,
            abusive: false,
        };
        if let Some(p) = self
            .room_profiles
            .iter()
            .rev()
            .find(|p| p.rooms.contains(&room))
        {
            plan.profile = p.profile;
        }
        let abuser_slot = self
            .abuser_slot
            .unwrap_or_else(|| self.on_time().saturating_sub(1));
        if slot == abuser_slot {
            if let Some(a) = self.abusers.iter().rev().find(|a| a.rooms.contains(&room)) {
                plan.profile = a.profile;
                plan.abusive = true;
            }
        }
        if slot >= self.on_time() {
            plan.late = true;
            plan.join_delay = self.join_late_after;
            plan.wait_for_all = false;
            plan.send_media = false;
            plan.leave_after = Some(self.duration.saturating_sub(self.join_late_after));
        }
        if self.paths.applies_to(room, slot) {
            plan.uplink = self.paths.uplink;
            plan.downlink = self.paths.downlink;
            plan.rebind_after = self.paths.rebind_after;
            plan.impair_after = self.paths.impair_after;
        }
        plan.upgrade_answer = self.upgrade_answer;
        if let Some(tweak) = &self.tweak {
            tweak(index, &mut plan);
        }
        plan
    }
}

/// Runs the whole load and returns every participant's result, in index order.
pub fn run(config: &RunConfig, progress: Arc<Progress>) -> Vec<ParticipantResult> {
    let total = config.total();
    let workers = config.workers.clamp(1, 64);
    let epoch = Instant::now();
    let mut handles = Vec::new();
    for w in 0..workers {
        let plans: Vec<(u32, ParticipantPlan)> = (0..total)
            .filter(|i| (*i as usize) % workers == w)
            .map(|i| (i, config.plan(i)))
            .collect();
        let config = config.clone();
        let progress = Arc::clone(&progress);
        let builder = LocalExecutorBuilder::new(Placement::Unbound)
            .name(&format!("loadgen-{w}"))
            .io_memory(64 * 1024);
        let handle = builder.spawn(move || async move {
            let tasks: Vec<_> = plans
                .into_iter()
                .map(|(i, plan)| {
                    let config = config.clone();
                    let progress = Arc::clone(&progress);
                    glommio::spawn_local(async move {
                        participant(i, plan, &config, epoch, progress).await
                    })
                })
                .collect();
            let mut results = Vec::with_capacity(tasks.len());
            for t in tasks {
                results.push(t.await);
            }
            results
        });
        handles.push(handle);
    }
    let mut results: Vec<ParticipantResult> = Vec::with_capacity(total as usize);
    for h in handles {
        match h {
            Ok(h) => results.extend(h.join().unwrap_or_default()),
            Err(e) => log::error!("loadgen worker failed to start: {e}"),
        }
    }
    results.sort_by_key(|r| r.index);
    results
}

async fn participant(
    index: u32,
    plan: ParticipantPlan,
    config: &RunConfig,
    epoch: Instant,
    progress: Arc<Progress>,
) -> ParticipantResult {
    if !plan.join_delay.is_zero() {
        // The scenario's schedule (late joiners), not a wait for a result.
        glommio::timer::sleep(plan.join_delay).await;
    }
    let fingerprint = crate::participant::identity_of(config.seed, index).fingerprint();
    match drive(index, plan, config, epoch, Arc::clone(&progress)).await {
        Ok(result) => result,
        Err(e) => {
            progress
                .finished
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let mut result = ParticipantResult::new(index, config.participants, fingerprint);
            result.error = Some(e);
            result
        }
    }
}

/// A client socket on a fresh loopback port of the relay's address family.
///
/// glommio's own `bind` sets SO_REUSEPORT, which lets the kernel give two sockets bound to
/// port 0 the same port; they then share its datagrams, and a client never sees the relay's
/// replies. A plain std bind cannot collide.
fn bind_client_socket(relay: SocketAddr) -> std::io::Result<UdpSocket> {
    let any_port = if relay.is_ipv4() {
        SocketAddr::from(([127, 0, 0, 1], 0))
    } else {
        SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, 0))
    };
    let socket = std::net::UdpSocket::bind(any_port)?;
    // SAFETY: `into_raw_fd` gives up ownership, so the glommio socket is its sole owner.
    Ok(unsafe { UdpSocket::from_raw_fd(socket.into_raw_fd()) })
}

/// One participant's path over a real socket: its impairment, the packets held on the way,
/// and the socket it currently sends from.
struct SocketPath {
    socket: UdpSocket,
    up: Link,
    down: Link,
    up_held: DelayLine<(Vec<u8>, SocketAddr)>,
    down_held: DelayLine<(Vec<u8>, SocketAddr)>,
    rebind_after: Option<Duration>,
    impair_after: Option<Duration>,
}

impl SocketPath {
    /// Sends `packet` to `to` through the uplink: at once, later, twice, or never.
    async fn send(&mut self, now: Instant, packet: &[u8], to: SocketAddr) {
        match self.up.transmit(now) {
            Fate::Lost => {}
            Fate::Delivered { at, duplicate } => {
                let copies = if duplicate { 2 } else { 1 };
                for _ in 0..copies {
                    if at <= now {
                        if let Err(e) = self.socket.send_to(packet, to).await {
                            log::debug!("send to {to}: {e}");
                        }
                    } else {
                        self.up_held.push(at, (packet.to_vec(), to));
                    }
                }
            }
        }
    }

    async fn release_uplink(&mut self, now: Instant) {
        while let Some((packet, to)) = self.up_held.pop_due(now) {
            if let Err(e) = self.socket.send_to(&packet, to).await {
                log::debug!("send to {to}: {e}");
            }
        }
    }

    /// A datagram arrived: through the downlink, to `p` now or later.
    fn receive(&mut self, now: Instant, data: &mut [u8], from: SocketAddr, p: &mut Participant) {
        match self.down.transmit(now) {
            Fate::Lost => {}
            Fate::Delivered { at, duplicate } if at <= now => {
                if duplicate {
                    let mut copy = data.to_vec();
                    p.handle_datagram(now, &mut copy, from);
                }
                p.handle_datagram(now, data, from);
            }
            Fate::Delivered { at, duplicate } => {
                for _ in 0..(1 + usize::from(duplicate)) {
                    self.down_held.push(at, (data.to_vec(), from));
                }
            }
        }
    }

    fn release_downlink(&mut self, now: Instant, p: &mut Participant) {
        while let Some((mut packet, from)) = self.down_held.pop_due(now) {
            p.handle_datagram(now, &mut packet, from);
        }
    }

    /// When the rebinding is due, if it is still to come.
    fn rebind_at(&self, joined: Option<Instant>) -> Option<Instant> {
        Some(joined? + self.rebind_after?)
    }

    /// Swaps the socket for a new one (a new source port the relay has never seen).
    fn rebind(&mut self, relay: SocketAddr) -> Result<(), String> {
        self.socket = bind_client_socket(relay).map_err(|e| format!("rebind: {e}"))?;
        self.rebind_after = None;
        Ok(())
    }

    fn next_release(&self) -> Option<Instant> {
        match (self.up_held.next_at(), self.down_held.next_at()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

async fn drive(
    index: u32,
    plan: ParticipantPlan,
    config: &RunConfig,
    epoch: Instant,
    progress: Arc<Progress>,
) -> Result<ParticipantResult, String> {
    let socket = bind_client_socket(config.relay).map_err(|e| format!("bind: {e}"))?;
    let local = socket
        .local_addr()
        .map_err(|e| format!("local addr: {e}"))?;
    let link_seed = config.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ u64::from(index);
    let (mut up, mut down) = (
        Link::new(plan.uplink, link_seed),
        Link::new(plan.downlink, link_seed.rotate_left(32)),
    );
    if plan.impair_after.is_some() {
        up.defer();
        down.defer();
    }
    let mut path = SocketPath {
        socket,
        up,
        down,
        up_held: DelayLine::new(),
        down_held: DelayLine::new(),
        rebind_after: plan.rebind_after,
        impair_after: plan.impair_after,
    };
    let mut p = Participant::connect(index, plan, config, epoch, Instant::now(), local, progress)?;
    let mut sendbuf = vec![0u8; 1500];
    let mut recvbuf = vec![0u8; 2048];
    loop {
        let now = Instant::now();
        p.handle_timeout(now);
        path.release_downlink(now, &mut p);
        if path.rebind_at(p.joined_at()).is_some_and(|t| t <= now) {
            path.rebind(config.relay)?;
        }
        if let Some(joined) = p.joined_at() {
            if let Some(after) = path.impair_after.take() {
                path.up.start_at(joined + after);
                path.down.start_at(joined + after);
            }
        }
        while let Some(out) = p.poll_transmit(now, &mut sendbuf) {
            let packet = sendbuf.get(..out.len).unwrap_or_default();
            path.send(now, packet, out.to).await;
        }
        path.release_uplink(now).await;
        if p.is_done(now) {
            break;
        }
        let mut wake = p.poll_timeout(now);
        for t in [path.next_release(), path.rebind_at(p.joined_at())]
            .into_iter()
            .flatten()
        {
            wake = wake.min(t);
        }
        let wait = wake
            .saturating_duration_since(Instant::now())
            .max(Duration::from_micros(100));
        let _ = path.socket.set_read_timeout(Some(wait));
        if let Ok((n, from)) = path.socket.recv_from(&mut recvbuf).await {
            if let Some(packet) = recvbuf.get_mut(..n) {
                path.receive(Instant::now(), packet, from, &mut p);
            }
        }
    }
    let mut result = p.finish();
    result.uplink = path.up.stats();
    result.downlink = path.down.stats();
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_profiles_parse_an_index_and_both_kinds_of_range() {
        let p = |t: &str| RoomProfile::parse(t);
        assert_eq!(
            p("3=tunnel"),
            Ok(RoomProfile {
                rooms: 3..4,
                profile: Profile::Tunnel
            })
        );
        assert_eq!(p("40..44=covert").map(|r| r.rooms), Ok(40..44));
        assert_eq!(
            p("40..=44=junk-mini").map(|r| (r.rooms, r.profile)),
            Ok((40..45, Profile::JunkMini))
        );
        assert_eq!(p(" 2 .. 5 = video").map(|r| r.rooms), Ok(2..5));
        for bad in ["tunnel", "x=tunnel", "3=opus", "5..5=video", "4..2=video"] {
            assert!(p(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn plans_take_the_room_profile_and_one_abuser_per_named_room() {
        let relay = "127.0.0.1:4433".parse().unwrap();
        let mut c = RunConfig::new(relay, 4, 3, Profile::Audio, Duration::from_secs(1));
        c.room_profiles = vec![RoomProfile::parse("1..=2=video").unwrap()];
        c.abusers = vec![
            RoomProfile::parse("2..4=tunnel").unwrap(),
            RoomProfile::parse("3=covert").unwrap(),
        ];
        let plans: Vec<(Profile, bool)> = (0..12)
            .map(|i| c.plan(i))
            .map(|p| (p.profile, p.abusive))
            .collect();
        use Profile::{Audio, Covert, Tunnel, Video};
        assert_eq!(
            plans,
            vec![
                (Audio, false),
                (Audio, false),
                (Audio, false),
                (Video, false),
                (Video, false),
                (Video, false),
                (Video, false),
                (Video, false),
                (Tunnel, true),
                (Audio, false),
                (Audio, false),
                (Covert, true),
            ]
        );
        c.abuser_slot = Some(0);
        assert_eq!((c.plan(9).profile, c.plan(9).abusive), (Covert, true));
        assert!(!c.plan(11).abusive);
    }
}
