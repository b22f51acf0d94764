//! Runs R rooms x P participants against a relay: every participant is a real QUIC client on
//! its own UDP socket, doing the real handshake, driven by a glommio task. Runs are bounded:
//! join timeout + media duration + drain, then every client hangs up and closes.

use crate::annexb::AccessUnit;
use crate::client::{Client, ClientEvent, ClientOptions, Phase};
use crate::media::{layer_index, MediaSource, Profile};
use crate::stats::{Layout, ReceiverStats};
use glommio::{LocalExecutorBuilder, Placement};
use rand::{Rng, RngCore, SeedableRng};
use std::net::SocketAddr;
use std::os::fd::{FromRawFd, IntoRawFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use switchyard_engine::identity::Identity;
use switchyard_proto::datagram::InboundDatagram;
use switchyard_proto::media::MediaHeader;
use switchyard_proto::signal::{default_signal_version, HangupReason, SignalMessage};

/// What one participant does.
#[derive(Debug, Clone)]
pub struct ParticipantPlan {
    pub client: ClientOptions,
    /// Wait this long before connecting.
    pub join_delay: Duration,
    /// Start media only once a RoomUpdate shows the whole room.
    pub wait_for_all: bool,
    pub send_media: bool,
    /// Hang up this long after joining instead of running to the end.
    pub leave_after: Option<Duration>,
    /// Datagrams the relay must refuse, spread over the media phase.
    pub garbage: u32,
    /// After joining, send one oversized and one garbage signal frame.
    pub bad_signal_frames: bool,
    /// Keep every sent and received media datagram.
    pub record: bool,
    pub profile: Profile,
    /// Joins after the media started: receives only (cached keyframes, then live media), is
    /// not counted in the delivery ratio, and reports its time to first keyframe.
    pub late: bool,
    /// PictureLossIndications to send: (time after joining, stream_id).
    pub plis: Vec<(Duration, u8)>,
}

/// Per-participant customisation (tests use it to script behaviours).
pub type Tweak = Arc<dyn Fn(u32, &mut ParticipantPlan) + Send + Sync>;

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
    pub tweak: Option<Tweak>,
}

impl std::fmt::Debug for RunConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunConfig")
            .field("relay", &self.relay)
            .field("rooms", &self.rooms)
            .field("participants", &self.participants)
            .field("profile", &self.profile)
            .field("duration", &self.duration)
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

    fn plan(&self, index: u32) -> ParticipantPlan {
        let mut client = ClientOptions::new(self.room_name(index / self.participants.max(1)));
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
        };
        if index % self.participants.max(1) >= self.on_time() {
            plan.late = true;
            plan.join_delay = self.join_late_after;
            plan.wait_for_all = false;
            plan.send_media = false;
            plan.leave_after = Some(self.duration.saturating_sub(self.join_late_after));
        }
        if let Some(tweak) = &self.tweak {
            tweak(index, &mut plan);
        }
        plan
    }
}

/// Live totals for the progress line.
#[derive(Debug, Default)]
pub struct Progress {
    pub joined: AtomicU64,
    pub sent: AtomicU64,
    pub delivered: AtomicU64,
    pub finished: AtomicU64,
}

/// What one participant saw.
#[derive(Debug, Clone)]
pub struct ParticipantResult {
    pub index: u32,
    pub room: u32,
    pub fingerprint: String,
    pub joined: bool,
    pub time_to_join: Option<Duration>,
    /// RoomUpdate counts in arrival order.
    pub room_updates: Vec<u32>,
    pub hangup: Option<HangupReason>,
    pub bad_answer: bool,
    /// The relay's CONNECTION_CLOSE: (application?, code, reason).
    pub peer_error: Option<(bool, u64, String)>,
    pub sent: u64,
    /// Media datagrams quiche would not queue.
    pub send_failures: u64,
    pub garbage_sent: u64,
    pub media_started: bool,
    pub stats: ReceiverStats,
    pub sent_log: Vec<Vec<u8>>,
    pub recv_log: Vec<Vec<u8>>,
    pub late: bool,
    /// Per sender: from the CallAnswer to the first whole keyframe of that sender.
    pub time_to_first_keyframe: Vec<(u32, Duration)>,
    /// stream_ids of the PictureLossIndications the relay sent this participant.
    pub plis_received: Vec<u8>,
    /// Video datagrams sent per simulcast layer.
    pub sent_by_layer: [u64; 3],
    pub error: Option<String>,
    /// Where the client was when it stopped (diagnostics for a failed join).
    pub final_phase: Option<Phase>,
    pub quic_established: bool,
}

/// Runs the whole load and returns every participant's result, in index order.
pub fn run(config: &RunConfig, progress: Arc<Progress>) -> Vec<ParticipantResult> {
    let total = config.rooms * config.participants;
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
                        participant(i, plan, &config, epoch, &progress).await
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

fn micros_since(epoch: Instant) -> u32 {
    micros_between(epoch, Instant::now())
}

fn micros_between(epoch: Instant, at: Instant) -> u32 {
    // Wraps after 71 minutes; runs are far shorter, and receivers subtract with wrapping.
    (at.saturating_duration_since(epoch).as_micros() % (1u128 << 32)) as u32
}

/// Random bytes the relay must refuse (checked with the relay's own parser).
fn garbage_datagram(rng: &mut impl RngCore) -> Vec<u8> {
    loop {
        let d = if rng.gen_bool(0.5) {
            let mut d = vec![0u8; rng.gen_range(1..=1000)];
            rng.fill_bytes(&mut d);
            d
        } else {
            // A truncated header: version byte right, too short to hold the 16 bytes.
            let mut d = vec![2u8; rng.gen_range(1..16)];
            rng.fill_bytes(d.get_mut(1..).unwrap_or_default());
            d
        };
        if InboundDatagram::parse(&d).is_err() {
            return d;
        }
    }
}

async fn participant(
    index: u32,
    plan: ParticipantPlan,
    config: &RunConfig,
    epoch: Instant,
    progress: &Progress,
) -> ParticipantResult {
    let layout = Layout {
        participants_per_room: config.participants.max(1),
    };
    let mut rng = rand::rngs::StdRng::seed_from_u64(config.seed.wrapping_add(u64::from(index)));
    let mut secret = [0u8; 32];
    rng.fill_bytes(&mut secret);
    let identity = Identity::from_secret(secret);
    let mut result = ParticipantResult {
        index,
        room: layout.room_of(index),
        fingerprint: identity.fingerprint(),
        joined: false,
        time_to_join: None,
        room_updates: Vec::new(),
        hangup: None,
        bad_answer: false,
        peer_error: None,
        sent: 0,
        send_failures: 0,
        garbage_sent: 0,
        media_started: false,
        stats: ReceiverStats::default(),
        sent_log: Vec::new(),
        recv_log: Vec::new(),
        late: plan.late,
        time_to_first_keyframe: Vec::new(),
        plis_received: Vec::new(),
        sent_by_layer: [0; 3],
        error: None,
        final_phase: None,
        quic_established: false,
    };
    if !plan.join_delay.is_zero() {
        glommio::timer::sleep(plan.join_delay).await;
    }
    if let Err(e) = drive(index, plan, config, epoch, progress, identity, &mut result).await {
        result.error = Some(e);
    }
    progress.finished.fetch_add(1, Ordering::Relaxed);
    result
}

/// A client socket on a fresh loopback port of the relay's address family.
///
/// glommio's own `bind` sets SO_REUSEPORT, which lets the kernel give two sockets bound to
/// port 0 the same port; they then share its datagrams, and a client never sees the relay's
/// replies. A plain std bind cannot collide.
fn bind_client_socket(relay: SocketAddr) -> std::io::Result<glommio::net::UdpSocket> {
    let any_port = if relay.is_ipv4() {
        SocketAddr::from(([127, 0, 0, 1], 0))
    } else {
        SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, 0))
    };
    let socket = std::net::UdpSocket::bind(any_port)?;
    // SAFETY: `into_raw_fd` gives up ownership, so the glommio socket is its sole owner.
    Ok(unsafe { glommio::net::UdpSocket::from_raw_fd(socket.into_raw_fd()) })
}

async fn drive(
    index: u32,
    plan: ParticipantPlan,
    config: &RunConfig,
    epoch: Instant,
    progress: &Progress,
    identity: Identity,
    result: &mut ParticipantResult,
) -> Result<(), String> {
    let rng =
        &mut rand::rngs::StdRng::seed_from_u64(config.seed.rotate_left(17) ^ u64::from(index));
    let socket = bind_client_socket(config.relay).map_err(|e| format!("bind: {e}"))?;
    let local = socket
        .local_addr()
        .map_err(|e| format!("local addr: {e}"))?;
    let mut quic_config =
        crate::client::client_config().map_err(|e| format!("quic config: {e}"))?;
    let mut scid = [0u8; 16];
    rng.fill_bytes(&mut scid);
    let mut client = Client::connect(
        plan.client.clone(),
        identity,
        &scid,
        local,
        config.relay,
        &mut quic_config,
    )
    .map_err(|e| format!("connect: {e}"))?;
    let layout = Layout {
        participants_per_room: config.participants.max(1),
    };
    let mut source = match (plan.profile, &config.h264) {
        (Profile::H264, Some(units)) => MediaSource::h264(Arc::clone(units), index, config.seed),
        (Profile::H264, None) => return Err("profile h264 needs an H.264 file".into()),
        (profile, _) => MediaSource::new(profile, index, config.seed),
    };
    let mut plis_due = plan.plis.clone();
    let started = Instant::now();
    let join_deadline = started + config.join_timeout;
    let mut joined_at: Option<Instant> = None;
    let mut media_start: Option<Instant> = None;
    let mut media_end: Option<Instant> = None;
    let mut next_tick = started;
    let mut ticks: u64 = 0;
    let mut garbage_left = plan.garbage;
    let mut outgoing: Vec<Vec<u8>> = Vec::new();
    let mut sendbuf = vec![0u8; 1500];
    let mut recvbuf = vec![0u8; 2048];
    let mut dgram = vec![0u8; 2048];
    let mut hung_up = false;
    let mut close_by: Option<Instant> = None;
    let expected_room = config.on_time();

    loop {
        let now = Instant::now();
        client.on_timeout(now);
        while let Some(event) = client.poll_event() {
            match event {
                ClientEvent::Joined => {
                    joined_at = Some(now);
                    result.joined = true;
                    result.time_to_join = Some(now - started);
                    progress.joined.fetch_add(1, Ordering::Relaxed);
                    if plan.bad_signal_frames {
                        // An oversized frame (2 MiB declared) and a garbage one.
                        let mut oversized = (2u32 << 20).to_be_bytes().to_vec();
                        oversized.extend_from_slice(&[b'x'; 64]);
                        client.send_raw_frame(oversized);
                        let mut garbage = 5u32.to_be_bytes().to_vec();
                        garbage.extend_from_slice(b"{{{{{");
                        client.send_raw_frame(garbage);
                    }
                }
                ClientEvent::RoomUpdate { count } => result.room_updates.push(count),
                ClientEvent::Hangup(reason) => result.hangup = Some(reason),
                ClientEvent::BadAnswer => result.bad_answer = true,
                ClientEvent::Other(SignalMessage::PictureLossIndication { stream_id, .. }) => {
                    result.plis_received.push(stream_id);
                    source.request_keyframe();
                }
                ClientEvent::Other(_) => {}
            }
        }
        while let Some(n) = client.recv_datagram(&mut dgram) {
            let data = dgram.get(..n).unwrap_or_default();
            if result
                .stats
                .record(data, index, layout, micros_since(epoch))
                .is_some()
            {
                progress.delivered.fetch_add(1, Ordering::Relaxed);
            }
            if plan.record {
                result.recv_log.push(data.to_vec());
            }
        }

        if let Some(j) = joined_at {
            plis_due.retain(|(after, stream_id)| {
                if now < j + *after {
                    return true;
                }
                client.send_signal(&SignalMessage::PictureLossIndication {
                    version: default_signal_version(),
                    stream_id: *stream_id,
                });
                false
            });
        }

        // Phase changes.
        if let (Some(j), None) = (joined_at, media_start) {
            let room_complete =
                !plan.wait_for_all || result.room_updates.iter().any(|c| *c >= expected_room);
            if room_complete || now >= join_deadline {
                media_start = Some(now);
                result.media_started = true;
                next_tick = now;
                let run_for = plan.leave_after.map_or(config.duration, |l| {
                    l.saturating_sub(now - j).min(config.duration)
                });
                media_end = Some(now + run_for);
            }
        }
        if joined_at.is_none()
            && (now >= join_deadline || client.phase() == Phase::Closed)
            && close_by.is_none()
        {
            close_by = Some(now);
        }
        if let Some(end) = media_end {
            if plan.send_media && now < end {
                while next_tick <= now {
                    source.next_tick(micros_since(epoch), &mut outgoing);
                    ticks += 1;
                    next_tick += plan.profile.interval();
                    if garbage_left > 0 {
                        let total_ticks = (config.duration.as_micros()
                            / plan.profile.interval().as_micros())
                        .max(1) as u64;
                        let due = (u64::from(plan.garbage) * ticks)
                            .div_ceil(total_ticks)
                            .min(u64::from(plan.garbage));
                        while u64::from(plan.garbage - garbage_left) < due {
                            let g = garbage_datagram(rng);
                            if client.send_datagram(&g) {
                                result.garbage_sent += 1;
                            } else {
                                result.send_failures += 1;
                            }
                            garbage_left -= 1;
                        }
                    }
                }
                for d in outgoing.drain(..) {
                    if client.send_datagram(&d) {
                        result.sent += 1;
                        let layer = MediaHeader::read(&d).ok().and_then(|h| layer_index(&h));
                        if let Some(n) = layer.and_then(|l| result.sent_by_layer.get_mut(l)) {
                            *n += 1;
                        }
                        progress.sent.fetch_add(1, Ordering::Relaxed);
                        if plan.record {
                            result.sent_log.push(d);
                        }
                    } else {
                        result.send_failures += 1;
                    }
                }
            }
            let linger_end = end
                + if plan.leave_after.is_some() {
                    Duration::ZERO
                } else {
                    config.drain
                };
            if now >= linger_end && !hung_up {
                hung_up = true;
                client.hang_up();
                close_by = Some(now + Duration::from_millis(200));
            }
        }
        if close_by.is_some_and(|t| now >= t) && !client.is_closed() {
            client.close();
            close_by = Some(now + Duration::from_secs(2));
        }

        while let Some(out) = client.poll_transmit(&mut sendbuf, now) {
            let (packet, to) = (sendbuf.get(..out.len).unwrap_or_default(), out.to);
            if let Err(e) = socket.send_to(packet, to).await {
                log::debug!("participant {index}: send: {e}");
            }
        }
        if client.is_closed() {
            break;
        }
        if close_by.is_some_and(|t| now >= t + Duration::from_secs(3)) {
            break;
        }

        let mut wake = client
            .next_timeout()
            .unwrap_or(now + Duration::from_millis(50));
        if media_end.is_some_and(|e| now < e) && plan.send_media {
            wake = wake.min(next_tick);
        }
        for t in [media_end, close_by, Some(join_deadline)]
            .into_iter()
            .flatten()
        {
            if t > now {
                wake = wake.min(t);
            }
        }
        let wait = wake
            .saturating_duration_since(Instant::now())
            .clamp(Duration::from_micros(100), Duration::from_millis(50));
        let _ = socket.set_read_timeout(Some(wait));
        if let Ok((n, from)) = socket.recv_from(&mut recvbuf).await {
            if let Some(packet) = recvbuf.get_mut(..n) {
                client.on_datagram(packet, from, local);
            }
        }
    }
    if let Some(j) = joined_at.map(|t| micros_between(epoch, t)) {
        for (sender, at) in &result.stats.first_keyframe_us {
            let us = at.wrapping_sub(j);
            // A keyframe completing before the Joined event was handled counts as immediate.
            let us = if us > u32::MAX / 2 { 0 } else { us };
            result
                .time_to_first_keyframe
                .push((*sender, Duration::from_micros(u64::from(us))));
        }
        result.time_to_first_keyframe.sort_unstable();
    }
    result.peer_error = client.peer_error();
    result.final_phase = Some(client.phase());
    result.quic_established = client.was_established();
    Ok(())
}
