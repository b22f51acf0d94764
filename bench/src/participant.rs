//! One load-generator participant as a sans-IO state machine: a WZP [`Client`] plus the
//! scenario it plays (connect, join, wait for the room, media, scripted PLIs and bad frames,
//! hang up, close) and what it observed. The glommio driver in [`crate::run`] and the
//! in-memory harness of `tests/` feed it datagrams and time and send what it produces, so the
//! same client code runs over loopback and through the simulated network.
//!
//! Inputs: [`Participant::handle_datagram`], [`Participant::handle_timeout`] (each with
//! `now`). Outputs: [`Participant::poll_transmit`] until `None`, then
//! [`Participant::poll_timeout`]. [`Participant::is_done`] says when to stop driving it.

use crate::client::{Client, ClientEvent, ClientOptions, Outgoing, Phase};
use crate::impair::{Impairment, LinkStats};
use crate::media::{layer_index, MediaSource, Profile};
use crate::quality::{QualityFollower, QualityReceived, TrailerMeter, UpgradeAnswer};
use crate::run::RunConfig;
use crate::stats::{Layout, ReceiverStats};
use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use switchyard_engine::identity::Identity;
use switchyard_proto::datagram::InboundDatagram;
use switchyard_proto::media::MediaHeader;
use switchyard_proto::signal::{default_signal_version, HangupReason, SignalMessage};
use switchyard_proto::Tier;

/// Longest a participant waits without a timer of its own.
const IDLE_WAKE: Duration = Duration::from_millis(50);
/// After asking to close, how long a participant waits for the close to finish.
const CLOSE_WAIT: Duration = Duration::from_secs(3);
/// How often the client refreshes the QualityReport its media carries.
const REPORT_EVERY: Duration = Duration::from_secs(1);

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
    /// What the path does to this participant's packets, each way.
    pub uplink: Impairment,
    pub downlink: Impairment,
    /// Its source address changes once, this long after it joined (a NAT rebinding).
    pub rebind_after: Option<Duration>,
    /// Its path is impaired only from this long after it joined.
    pub impair_after: Option<Duration>,
    /// How it answers the relay's upgrade proposals.
    pub upgrade_answer: UpgradeAnswer,
    /// Connect with participant N's identity instead of its own (a client coming back).
    pub identity_of: Option<u32>,
    /// Start encoding at this tier instead of Good (the relay's directives still apply).
    pub initial_tier: Option<Tier>,
    /// Sends an abusive profile: its own media is not counted as legitimate delivery.
    pub abusive: bool,
}

impl ParticipantPlan {
    /// Whether its path is impaired at all.
    pub fn impaired(&self) -> bool {
        !self.uplink.is_none() || !self.downlink.is_none() || self.rebind_after.is_some()
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
    /// Its path was impaired (loss, delay, rebinding...).
    pub impaired: bool,
    /// What its uplink and downlink did (filled in by the driver).
    pub uplink: LinkStats,
    pub downlink: LinkStats,
    /// Quality messages from the relay, in arrival order.
    pub quality: Vec<QualityReceived>,
    /// UpgradeResponses it sent.
    pub answers_sent: u32,
    /// When its path's impairment began (since the epoch), if it was impaired.
    pub impairment_onset: Option<Duration>,
    /// When its encoder moved to another tier (since the epoch).
    pub tier_switches: Vec<(Duration, Tier)>,
    /// What it sent, and whether that is an abusive profile.
    pub profile: Profile,
    pub abusive: bool,
    /// When it sent its first media datagram, and when a Hangup reached it (since the epoch).
    pub first_media_at: Option<Duration>,
    pub hangup_at: Option<Duration>,
    pub error: Option<String>,
    /// Where the client was when it stopped (diagnostics for a failed join).
    pub final_phase: Option<Phase>,
    pub quic_established: bool,
}

impl ParticipantResult {
    /// An empty result for participant `index` of a room of `participants_per_room`.
    pub fn new(index: u32, participants_per_room: u32, fingerprint: String) -> Self {
        Self {
            index,
            room: Layout {
                participants_per_room,
            }
            .room_of(index),
            fingerprint,
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
            late: false,
            time_to_first_keyframe: Vec::new(),
            plis_received: Vec::new(),
            sent_by_layer: [0; 3],
            impaired: false,
            uplink: LinkStats::default(),
            downlink: LinkStats::default(),
            quality: Vec::new(),
            answers_sent: 0,
            impairment_onset: None,
            tier_switches: Vec::new(),
            profile: Profile::Audio,
            abusive: false,
            first_media_at: None,
            hangup_at: None,
            error: None,
            final_phase: None,
            quic_established: false,
        }
    }
}

/// Participant `index`'s identity: derived from the run's seed, so runs are repeatable.
pub fn identity_of(seed: u64, index: u32) -> Identity {
    let mut rng = StdRng::seed_from_u64(seed.wrapping_add(u64::from(index)));
    let mut secret = [0u8; 32];
    rng.fill_bytes(&mut secret);
    Identity::from_secret(secret)
}

/// A running participant.
pub struct Participant {
    index: u32,
    plan: ParticipantPlan,
    client: Client,
    local: SocketAddr,
    source: MediaSource,
    layout: Layout,
    rng: StdRng,
    progress: Arc<Progress>,
    result: ParticipantResult,
    /// The run's time origin: send timestamps in payloads are microseconds since it.
    epoch: Instant,
    started: Instant,
    join_deadline: Instant,
    duration: Duration,
    drain: Duration,
    expected_room: u32,
    joined_at: Option<Instant>,
    media_end: Option<Instant>,
    next_tick: Instant,
    ticks: u64,
    garbage_left: u32,
    plis_due: Vec<(Duration, u8)>,
    hung_up: bool,
    close_by: Option<Instant>,
    outgoing: Vec<Vec<u8>>,
    dgram: Vec<u8>,
    follower: QualityFollower,
    trailer: TrailerMeter,
    next_report: Option<Instant>,
}

impl std::fmt::Debug for Participant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Participant")
            .field("index", &self.index)
            .field("client", &self.client)
            .finish()
    }
}

impl Participant {
    /// Participant `index` of `config`, connecting at `now` from `local`.
    pub fn connect(
        index: u32,
        plan: ParticipantPlan,
        config: &RunConfig,
        epoch: Instant,
        now: Instant,
        local: SocketAddr,
        progress: Arc<Progress>,
    ) -> Result<Self, String> {
        let identity = identity_of(config.seed, plan.identity_of.unwrap_or(index));
        let mut result = ParticipantResult::new(index, config.participants, identity.fingerprint());
        result.late = plan.late;
        result.impaired = plan.impaired();
        result.profile = plan.profile;
        result.abusive = plan.abusive;
        let mut rng = StdRng::seed_from_u64(config.seed.rotate_left(17) ^ u64::from(index));
        let mut quic_config =
            crate::client::client_config().map_err(|e| format!("quic config: {e}"))?;
        let mut scid = [0u8; 16];
        rng.fill_bytes(&mut scid);
        let client = Client::connect(
            plan.client.clone(),
            identity,
            &scid,
            local,
            config.relay,
            &mut quic_config,
        )
        .map_err(|e| format!("connect: {e}"))?;
        let source = match (plan.profile, &config.h264) {
            (Profile::H264, Some(units)) => {
                MediaSource::h264(Arc::clone(units), index, config.seed)
            }
            (Profile::H264, None) => return Err("profile h264 needs an H.264 file".into()),
            (profile, _) => MediaSource::new(profile, index, config.seed),
        };
        let mut source = source;
        if let Some(tier) = plan.initial_tier {
            source.set_tier(tier);
        }
        Ok(Self {
            index,
            plis_due: plan.plis.clone(),
            garbage_left: plan.garbage,
            client,
            local,
            source,
            layout: Layout {
                participants_per_room: config.participants.max(1),
            },
            rng,
            progress,
            result,
            epoch,
            started: now,
            join_deadline: now + config.join_timeout,
            duration: config.duration,
            drain: config.drain,
            expected_room: config.on_time(),
            joined_at: None,
            media_end: None,
            next_tick: now,
            ticks: 0,
            hung_up: false,
            close_by: None,
            outgoing: Vec::new(),
            dgram: vec![0u8; 2048],
            follower: QualityFollower::new(plan.upgrade_answer),
            trailer: TrailerMeter::default(),
            next_report: None,
            plan,
        })
    }

    pub fn index(&self) -> u32 {
        self.index
    }

    /// The address the client believes it has (behind a NAT the relay may see another).
    pub fn local(&self) -> SocketAddr {
        self.local
    }

    pub fn plan(&self) -> &ParticipantPlan {
        &self.plan
    }

    /// When it joined (the CallAnswer was verified), if it has.
    pub fn joined_at(&self) -> Option<Instant> {
        self.joined_at
    }

    /// When its path's impairment begins: `impair_after` past joining, or joining itself;
    /// `None` if its path is not impaired or it has not joined.
    pub fn impairment_onset(&self) -> Option<Instant> {
        if !self.plan.impaired() {
            return None;
        }
        Some(self.joined_at? + self.plan.impair_after.unwrap_or_default())
    }

    pub fn handle_datagram(&mut self, now: Instant, data: &mut [u8], from: SocketAddr) {
        self.client.on_datagram(data, from, self.local);
        self.progress(now);
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        self.client.on_timeout(now);
        self.progress(now);
    }

    /// The next UDP datagram to send, written into `buf`.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Outgoing> {
        self.client.poll_transmit(buf, now)
    }

    /// When [`Self::handle_timeout`] must next run.
    pub fn poll_timeout(&self, now: Instant) -> Instant {
        let mut wake = self.client.next_timeout().unwrap_or(now + IDLE_WAKE);
        if self.sending(now) {
            wake = wake.min(self.next_tick);
        }
        for t in [self.media_end, self.close_by, Some(self.join_deadline)]
            .into_iter()
            .flatten()
        {
            if t > now {
                wake = wake.min(t);
            }
        }
        wake.min(now + IDLE_WAKE)
    }

    /// Finished: closed, or the close did not finish in time.
    pub fn is_done(&self, now: Instant) -> bool {
        self.client.is_closed() || self.close_by.is_some_and(|t| now >= t + CLOSE_WAIT)
    }

    /// What it observed.
    pub fn finish(mut self) -> ParticipantResult {
        if let Some(j) = self.joined_at.map(|t| micros_between(self.epoch, t)) {
            for (sender, at) in &self.result.stats.first_keyframe_us {
                let us = at.wrapping_sub(j);
                // A keyframe completing before the Joined event was handled counts as immediate.
                let us = if us > u32::MAX / 2 { 0 } else { us };
                self.result
                    .time_to_first_keyframe
                    .push((*sender, Duration::from_micros(u64::from(us))));
            }
            self.result.time_to_first_keyframe.sort_unstable();
        }
        self.result.impairment_onset = self
            .impairment_onset()
            .map(|t| t.saturating_duration_since(self.epoch));
        self.result.peer_error = self.client.peer_error();
        self.result.final_phase = Some(self.client.phase());
        self.result.quic_established = self.client.was_established();
        self.progress.finished.fetch_add(1, Ordering::Relaxed);
        self.result
    }

    fn sending(&self, now: Instant) -> bool {
        self.plan.send_media && self.media_end.is_some_and(|e| now < e)
    }

    /// Everything that may follow new input or the passing of time.
    fn progress(&mut self, now: Instant) {
        self.take_events(now);
        self.take_media(now);
        self.send_due_plis(now);
        self.advance_phase(now);
        self.send_media(now);
        self.hang_up_or_close(now);
    }

    fn take_events(&mut self, now: Instant) {
        while let Some(event) = self.client.poll_event() {
            match event {
                ClientEvent::Joined => {
                    self.joined_at = Some(now);
                    self.result.joined = true;
                    self.result.time_to_join = Some(now - self.started);
                    self.progress.joined.fetch_add(1, Ordering::Relaxed);
                    if self.plan.bad_signal_frames {
                        // An oversized frame (2 MiB declared) and a garbage one.
                        let mut oversized = (2u32 << 20).to_be_bytes().to_vec();
                        oversized.extend_from_slice(&[b'x'; 64]);
                        self.client.send_raw_frame(oversized);
                        let mut garbage = 5u32.to_be_bytes().to_vec();
                        garbage.extend_from_slice(b"{{{{{");
                        self.client.send_raw_frame(garbage);
                    }
                }
                ClientEvent::RoomUpdate { count } => self.result.room_updates.push(count),
                ClientEvent::Hangup(reason) => {
                    self.result.hangup = Some(reason);
                    self.result.hangup_at = Some(now.saturating_duration_since(self.epoch));
                }
                ClientEvent::BadAnswer => self.result.bad_answer = true,
                ClientEvent::Other(SignalMessage::PictureLossIndication { stream_id, .. }) => {
                    self.result.plis_received.push(stream_id);
                    self.source.request_keyframe();
                }
                ClientEvent::Other(message) => self.follow_quality(now, &message),
            }
        }
    }

    /// A quality message from the relay: record it, switch or answer as it says.
    fn follow_quality(&mut self, now: Instant, message: &SignalMessage) {
        let at = now.saturating_duration_since(self.epoch);
        let Some(reaction) = self.follower.on_signal(at, message) else {
            return;
        };
        self.result.quality.push(reaction.received);
        if let Some(answer) = reaction.answer {
            self.client.send_signal(&answer);
            self.result.answers_sent += 1;
        }
        if let Some(tier) = reaction.switch_to {
            if tier != self.source.audio_encoding().tier {
                self.source.set_tier(tier);
                self.result.tier_switches.push((at, tier));
            }
        }
    }

    /// Refreshes the trailer from the client's own path once a second.
    fn refresh_report(&mut self, now: Instant) {
        if self.next_report.is_some_and(|t| now < t) {
            return;
        }
        self.next_report = Some(now + REPORT_EVERY);
        if let Some((sent, lost, rtt)) = self.client.path_figures() {
            let report = self.trailer.report(sent, lost, rtt);
            self.source.set_report(report);
        }
    }

    fn take_media(&mut self, now: Instant) {
        let now_us = micros_between(self.epoch, now);
        while let Some(n) = self.client.recv_datagram(&mut self.dgram) {
            let data = self.dgram.get(..n).unwrap_or_default();
            if self
                .result
                .stats
                .record(data, self.index, self.layout, now_us)
                .is_some()
            {
                self.progress.delivered.fetch_add(1, Ordering::Relaxed);
            }
            if self.plan.record {
                self.result.recv_log.push(data.to_vec());
            }
        }
    }

    fn send_due_plis(&mut self, now: Instant) {
        let Some(j) = self.joined_at else {
            return;
        };
        let client = &mut self.client;
        self.plis_due.retain(|(after, stream_id)| {
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

    fn advance_phase(&mut self, now: Instant) {
        if let (Some(j), None) = (self.joined_at, self.media_end) {
            let room_complete = !self.plan.wait_for_all
                || self
                    .result
                    .room_updates
                    .iter()
                    .any(|c| *c >= self.expected_room);
            if room_complete || now >= self.join_deadline {
                self.result.media_started = true;
                self.next_tick = now;
                let run_for = self.plan.leave_after.map_or(self.duration, |l| {
                    l.saturating_sub(now - j).min(self.duration)
                });
                self.media_end = Some(now + run_for);
            }
        }
        if self.joined_at.is_none()
            && (now >= self.join_deadline || self.client.phase() == Phase::Closed)
            && self.close_by.is_none()
        {
            self.close_by = Some(now);
        }
    }

    fn send_media(&mut self, now: Instant) {
        if !self.sending(now) {
            return;
        }
        self.refresh_report(now);
        let send_us = micros_between(self.epoch, now);
        while self.next_tick <= now {
            let interval = self.source.interval();
            self.source.next_tick(send_us, &mut self.outgoing);
            self.ticks += 1;
            self.next_tick += interval;
            self.send_due_garbage(interval);
        }
        let mut outgoing = std::mem::take(&mut self.outgoing);
        for d in outgoing.drain(..) {
            if !self.client.send_datagram(&d) {
                self.result.send_failures += 1;
                continue;
            }
            if self.result.sent == 0 {
                self.result.first_media_at = Some(now.saturating_duration_since(self.epoch));
            }
            self.result.sent += 1;
            let layer = MediaHeader::read(&d).ok().and_then(|h| layer_index(&h));
            if let Some(n) = layer.and_then(|l| self.result.sent_by_layer.get_mut(l)) {
                *n += 1;
            }
            self.progress.sent.fetch_add(1, Ordering::Relaxed);
            if self.plan.record {
                self.result.sent_log.push(d);
            }
        }
        self.outgoing = outgoing;
    }

    /// Garbage datagrams spread evenly over the media ticks.
    fn send_due_garbage(&mut self, interval: Duration) {
        if self.garbage_left == 0 {
            return;
        }
        let total_ticks = (self.duration.as_micros() / interval.as_micros().max(1)).max(1) as u64;
        let garbage = u64::from(self.plan.garbage);
        let due = (garbage * self.ticks).div_ceil(total_ticks).min(garbage);
        while garbage - u64::from(self.garbage_left) < due {
            let g = garbage_datagram(&mut self.rng);
            if self.client.send_datagram(&g) {
                self.result.garbage_sent += 1;
            } else {
                self.result.send_failures += 1;
            }
            self.garbage_left -= 1;
        }
    }

    fn hang_up_or_close(&mut self, now: Instant) {
        if let Some(end) = self.media_end {
            let linger = if self.plan.leave_after.is_some() {
                Duration::ZERO
            } else {
                self.drain
            };
            if now >= end + linger && !self.hung_up {
                self.hung_up = true;
                self.client.hang_up();
                self.close_by = Some(now + Duration::from_millis(200));
            }
        }
        if self.close_by.is_some_and(|t| now >= t) && !self.client.is_closed() {
            self.client.close();
            self.close_by = Some(now + Duration::from_secs(2));
        }
    }
}

/// Microseconds from `epoch` to `at`, as carried in payloads.
pub fn micros_between(epoch: Instant, at: Instant) -> u32 {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::impair::Impairment;
    use crate::quality::QualityKind;
    use switchyard_proto::signal::QualityProfile;

    /// Participant 0 of a one-room run, connecting (nothing is sent anywhere).
    fn participant(tweak: impl FnOnce(&mut ParticipantPlan)) -> (Participant, Instant) {
        let relay = "127.0.0.1:4433".parse().unwrap();
        let config = RunConfig::new(relay, 1, 2, Profile::Audio, Duration::from_secs(5));
        let mut plan = config.plan(0);
        tweak(&mut plan);
        let epoch = Instant::now();
        let local = "127.0.0.1:5000".parse().unwrap();
        let p =
            Participant::connect(0, plan, &config, epoch, epoch, local, Arc::default()).unwrap();
        (p, epoch)
    }

    fn proposal() -> SignalMessage {
        SignalMessage::UpgradeProposal {
            version: 1,
            call_id: "room-0".into(),
            proposal_id: 3,
            proposed_profile: QualityProfile::GOOD,
            local_loss_pct: None,
            local_rtt_ms: None,
        }
    }

    #[test]
    fn a_directive_switches_the_encoder_once_and_is_recorded() {
        let (mut p, epoch) = participant(|_| {});
        let directive = SignalMessage::QualityDirective {
            version: 1,
            recommended_profile: QualityProfile::DEGRADED,
            reason: Some("weakest link: Degraded".into()),
        };
        let at = epoch + Duration::from_secs(2);
        p.follow_quality(at, &directive);
        p.follow_quality(at, &directive);
        assert_eq!(p.source.audio_encoding().tier, Tier::Degraded);
        assert_eq!(p.source.interval(), Duration::from_millis(40));
        assert_eq!(
            p.result.tier_switches,
            vec![(Duration::from_secs(2), Tier::Degraded)],
            "the same directive twice is one switch"
        );
        assert_eq!(p.result.quality.len(), 2, "both are recorded");
        assert_eq!(p.result.answers_sent, 0);
    }

    #[test]
    fn a_proposal_is_answered_as_planned_and_switches_nothing() {
        for (how, answers) in [
            (UpgradeAnswer::Accept, 1),
            (UpgradeAnswer::Reject, 1),
            (UpgradeAnswer::Ignore, 0),
        ] {
            let (mut p, epoch) = participant(|plan| plan.upgrade_answer = how);
            p.follow_quality(epoch, &proposal());
            assert_eq!(p.result.answers_sent, answers, "{how:?}");
            assert_eq!(p.result.quality[0].kind, QualityKind::Proposal);
            assert!(p.result.tier_switches.is_empty(), "{how:?}");
            assert_eq!(p.source.audio_encoding().tier, Tier::Good);
        }
    }

    #[test]
    fn the_impairment_onset_follows_the_join() {
        let lossy = Impairment {
            loss: 0.1,
            ..Impairment::none()
        };
        let (mut p, epoch) = participant(|plan| {
            plan.uplink = lossy;
            plan.impair_after = Some(Duration::from_secs(3));
        });
        assert_eq!(p.impairment_onset(), None, "not joined yet");
        p.joined_at = Some(epoch + Duration::from_millis(250));
        assert_eq!(
            p.impairment_onset(),
            Some(epoch + Duration::from_millis(3_250))
        );
        let (mut clean, epoch) =
            participant(|plan| plan.impair_after = Some(Duration::from_secs(3)));
        clean.joined_at = Some(epoch);
        assert_eq!(clean.impairment_onset(), None, "no impairment, no onset");
    }
}
