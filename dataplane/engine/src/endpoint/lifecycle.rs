//! The life of one connection, as one explicit state per connection ([`Phase`]), and the
//! transitions between them.
//!
//! ```text
//!  first Initial ──> AwaitingSni (nothing is sent, the original Initials are held)
//!     ClientHello complete, room owned by another shard ──> handed off, forgotten
//!     deadline, or too many Initials without a whole ClientHello ──> abandoned, forgotten
//!     ClientHello complete, owned here ──> Handshaking(purpose)
//!  Handshaking ──established──> room: Joining(session) | version: Closing(1 s) | ping, other: Closed
//!              ──handshake deadline──> Closed (close code 0x105)
//!  Joining ──CallOffer valid, room has space──> Joined(member): CallAnswer, keyframe replay,
//!                                               RoomUpdate to the room, Joined event
//!          ──refused: auth, version, signature, alias too long, a refused signal frame,
//!            room full, identity banned (Tier G), deadline──> Closing(typed Hangup)
//!  Joined  ──Hangup──> leaves the room (RoomUpdate, Left event) ──> Closed
//!          ──the same identity joins the same room again──> leaves the room, Hangup Normal,
//!            Closing (the newer connection takes its place)
//!          ──Tier G hangs it up──> leaves the room, Hangup PolicyViolation, Violation event
//!            ──> Closing (see [`super::policy`])
//!          ──relay shutting down──> Closing(Hangup Normal), still a member until removed
//!  Closing ──linger over──> Closed (CONNECTION_CLOSE with the phase's code)
//!  any     ──quiche reports closed (idle timeout, peer close, draining done)──> removed;
//!            a member leaves its room first
//! ```
//!
//! The join handshake itself is the [`Session`] engine; this file carries out its outcomes.

use super::conn::ConnKey;
use super::Endpoint;
use crate::rooms::{JoinError, Member, MembershipChange, RoomId};
use crate::session::{Outcome, Rejection, Session};
use crate::signal_streams::Inbound;
use rand::RngCore;
use std::time::{Duration, Instant};
use switchyard_proto::control::{ParticipantId, ShardEvent};
use switchyard_proto::signal::{HangupReason, SignalMessage};

/// Application close code for SNI purposes this relay does not serve.
pub const CLOSE_UNSUPPORTED: u64 = 0x107;
/// Time a Hangup gets to leave before the connection closes (plus two RTTs).
pub const HANGUP_LINGER: Duration = Duration::from_millis(50);
/// Time the `version` answer gets before the connection closes.
const VERSION_LINGER: Duration = Duration::from_secs(1);
const VERSION_TEXT: &[u8] = concat!("switchyard ", env!("CARGO_PKG_VERSION")).as_bytes();

/// What the SNI asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Purpose {
    /// A media room (group room, `default`, or `call-<id>`).
    Room(String),
    /// `ping`: close as soon as the handshake completes.
    Ping,
    /// `version`: one uni stream with the build version.
    Version,
    /// `_probe`, `_federation`, `_signal`: not served by this relay.
    Unsupported,
}

impl Purpose {
    pub fn from_sni(sni: Option<&str>) -> Self {
        match sni {
            None | Some("") => Self::Room("default".to_owned()),
            Some("ping") => Self::Ping,
            Some("version") => Self::Version,
            Some("_probe" | "_federation" | "_signal") => Self::Unsupported,
            Some(room) => Self::Room(room.to_owned()),
        }
    }

    /// The name the owner shard is computed from.
    pub fn steering_key(&self) -> &str {
        match self {
            Self::Room(name) => name,
            Self::Ping => "ping",
            Self::Version => "version",
            Self::Unsupported => "_unsupported",
        }
    }
}

/// A participant's place in a room on this shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Membership {
    pub room: RoomId,
    pub id: ParticipantId,
    pub fingerprint: String,
}

/// Close at `at` with this application code and reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PendingClose {
    pub at: Instant,
    pub code: u64,
    pub reason: &'static str,
}

/// Where a connection is in its life.
#[derive(Debug)]
pub(crate) enum Phase {
    /// The ClientHello is incomplete (it may span several Initials). Nothing has been sent,
    /// so the connection can still move to the owner shard: while it may, the original
    /// (still encrypted) Initial datagrams are held, in arrival order.
    AwaitingSni {
        held: Vec<Vec<u8>>,
        initials: usize,
        deadline: Instant,
        may_hand_off: bool,
    },
    /// The SNI is known and the room is owned here; the QUIC handshake is in progress. The
    /// handshake deadline runs from the first Initial.
    Handshaking { purpose: Purpose, deadline: Instant },
    /// Established, running the join handshake for `room`.
    Joining { room: String, session: Session },
    /// A participant of a room.
    Joined {
        member: Membership,
        session: Session,
    },
    /// A Hangup (or the version text) is on its way; the connection closes at `close.at`. A
    /// participant told to leave by a stopping relay is still a member until it is removed.
    Closing {
        close: PendingClose,
        member: Option<Membership>,
    },
    /// quiche is closing or draining; the connection is removed when quiche says closed.
    Closed { member: Option<Membership> },
}

impl Phase {
    /// The phase's own deadline (quiche's timer is the connection's business).
    pub fn deadline(&self) -> Option<Instant> {
        match self {
            Self::AwaitingSni { deadline, .. } | Self::Handshaking { deadline, .. } => {
                Some(*deadline)
            }
            Self::Joining { session, .. } => session.poll_timeout(),
            Self::Closing { close, .. } => Some(close.at),
            Self::Joined { .. } | Self::Closed { .. } => None,
        }
    }

    /// The connection's place in a room, while it has one.
    pub fn member(&self) -> Option<&Membership> {
        match self {
            Self::Joined { member, .. } => Some(member),
            Self::Closing { member, .. } | Self::Closed { member } => member.as_ref(),
            Self::AwaitingSni { .. } | Self::Handshaking { .. } | Self::Joining { .. } => None,
        }
    }

    /// Moves to `Closed` with no membership, handing back the one the old phase held.
    fn take_member(&mut self) -> Option<Membership> {
        let mut held = None;
        self.leave_for(|member| {
            held = member;
            Phase::Closed { member: None }
        });
        held
    }

    /// Moves to `next`, handing back the membership the old phase held.
    pub(super) fn leave_for(&mut self, next: impl FnOnce(Option<Membership>) -> Phase) {
        let member = match std::mem::replace(self, Phase::Closed { member: None }) {
            Self::Joined { member, .. } => Some(member),
            Self::Closing { member, .. } | Self::Closed { member } => member,
            Self::AwaitingSni { .. } | Self::Handshaking { .. } | Self::Joining { .. } => None,
        };
        *self = next(member);
    }
}

/// Which way membership changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    Joined,
    Left,
}

impl Endpoint {
    /// Starts what the SNI asked for once the QUIC handshake has completed.
    pub(super) fn on_established(&mut self, key: ConnKey, now: Instant) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        let Phase::Handshaking { purpose, deadline } = &conn.phase else {
            return;
        };
        if !conn.quic.is_established() {
            return;
        }
        let purpose = purpose.clone();
        let deadline = *deadline;
        self.conns.settle(key);
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        conn.phase = match purpose {
            Purpose::Room(room) => Phase::Joining {
                room,
                session: Session::until(&self.config.auth, deadline),
            },
            Purpose::Ping => {
                let _ = conn.quic.close(true, 0, b"pong");
                Phase::Closed { member: None }
            }
            Purpose::Version => {
                let _ = conn.quic.stream_send(3, VERSION_TEXT, true);
                Phase::Closing {
                    close: PendingClose {
                        at: now + VERSION_LINGER,
                        code: 0,
                        reason: "version sent",
                    },
                    member: None,
                }
            }
            Purpose::Unsupported => {
                let _ = conn.quic.close(
                    true,
                    CLOSE_UNSUPPORTED,
                    b"service not offered by this relay",
                );
                Phase::Closed { member: None }
            }
        };
    }

    /// Reads the connection's signal streams and carries out each message.
    pub(super) fn read_signals(&mut self, key: ConnKey, now: Instant) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        let mut inbound = std::mem::take(&mut self.scratch.inbound);
        conn.signals
            .read(&mut conn.quic, &mut self.scratch.stream, &mut inbound);
        conn.partial_frame_deadline = match conn.partial_frame_deadline {
            _ if conn.signals.half_read() == 0 => None,
            Some(deadline) => Some(deadline),
            None => Some(now + self.config.signal_frame_deadline),
        };
        for item in inbound.drain(..) {
            match item {
                Inbound::Message(message) => {
                    self.counters.signal_messages_in += 1;
                    self.on_signal(key, message, now);
                }
                Inbound::Refused(_) | Inbound::OverBudget => {
                    match item {
                        Inbound::Refused(e) => self.counters.signal_frame_errors[e.index()] += 1,
                        _ => self.counters.signal_streams_over_budget += 1,
                    }
                    let refused = match self.conns.get_mut(key).map(|c| &mut c.phase) {
                        Some(Phase::Joining { session, .. }) => session.on_frame_refused(),
                        _ => None,
                    };
                    if let Some(rejection) = refused {
                        self.reject(key, rejection, now);
                    }
                }
            }
        }
        self.scratch.inbound = inbound;
    }

    fn on_signal(&mut self, key: ConnKey, message: SignalMessage, now: Instant) {
        let mut ephemeral = [0u8; 32];
        if matches!(message, SignalMessage::CallOffer { .. }) {
            self.rng.fill_bytes(&mut ephemeral);
        }
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        let outcome = match &mut conn.phase {
            Phase::Joining { session, .. } | Phase::Joined { session, .. } => {
                session.on_signal(message, &self.config.auth, &self.identity, ephemeral)
            }
            _ => return,
        };
        match outcome {
            Outcome::Nothing => {}
            Outcome::Reply(reply) => self.conns.send_signal(key, &reply, &mut self.counters),
            Outcome::Join {
                answer,
                fingerprint,
                alias,
            } => self.join(key, answer, fingerprint, alias, now),
            Outcome::Reject(rejection) => self.reject(key, rejection, now),
            Outcome::Leave => self.hang_up(key),
            Outcome::PictureLoss { stream_id } => {
                self.rooms
                    .picture_loss(&mut self.conns, &mut self.counters, key, stream_id, now)
            }
            Outcome::UpgradeAnswer {
                proposal_id,
                accepted,
            } => self.on_upgrade_answer(key, proposal_id, accepted),
            Outcome::Capability { max } => self.on_capability(key, max),
        }
    }

    fn join(
        &mut self,
        key: ConnKey,
        answer: SignalMessage,
        fingerprint: String,
        alias: Option<String>,
        now: Instant,
    ) {
        // One live connection per identity per room: a newer one replaces the older, the way a
        // reconnecting client expects (unless the identity is banned: then nothing changes).
        let older = match self.conns.get(key).map(|c| &c.phase) {
            Some(Phase::Joining { room, .. }) if self.bans.refusal(&fingerprint, now).is_none() => {
                self.rooms.table.member_named(room, &fingerprint)
            }
            _ => None,
        };
        if let Some(older) = older.filter(|k| *k != key) {
            self.replace_older(older, now);
        }
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        let Phase::Joining { room, .. } = &conn.phase else {
            return;
        };
        let member = Member {
            key,
            fingerprint: fingerprint.clone(),
            alias,
        };
        let joined = match self.bans.refusal(&fingerprint, now) {
            Some((code, kind)) => Err(Rejection::Banned { code, kind }),
            None => self
                .rooms
                .table
                .join(room, member)
                .map_err(|JoinError::RoomFull| Rejection::RoomFull),
        };
        let change = match joined {
            Ok(change) => change,
            Err(why) => {
                let rejection = match &mut conn.phase {
                    Phase::Joining { session, .. } => session.on_join_refused(why),
                    _ => why,
                };
                self.reject(key, rejection, now);
                return;
            }
        };
        let id = ParticipantId::new(self.config.shard, self.participants_joined);
        self.participants_joined += 1;
        let Phase::Joining { room, session } =
            std::mem::replace(&mut conn.phase, Phase::Closed { member: None })
        else {
            return;
        };
        conn.signals.set_limits(self.config.signal_after_join);
        conn.phase = Phase::Joined {
            member: Membership {
                room: change.room,
                id,
                fingerprint: fingerprint.clone(),
            },
            session,
        };
        self.counters.handshakes_completed += 1;
        self.members.insert(id, key);
        self.conns.send_signal(key, &answer, &mut self.counters);
        self.rooms
            .replay_to_joiner(&mut self.conns, &mut self.counters, key, change.room, now);
        self.announce(&change, room, id, fingerprint, Change::Joined);
    }

    /// Sends the rejection's typed Hangup and closes after a linger.
    fn reject(&mut self, key: ConnKey, rejection: Rejection, now: Instant) {
        self.counters.handshakes_rejected += 1;
        match rejection {
            Rejection::AuthMissing | Rejection::AuthInvalid => self.counters.auth_rejected += 1,
            Rejection::ProtocolVersion => self.counters.version_rejected += 1,
            Rejection::BadSignature => self.counters.signature_rejected += 1,
            Rejection::RoomFull => self.counters.room_full_rejected += 1,
            Rejection::Banned { .. } => self.counters.joins_refused_banned += 1,
            Rejection::AliasTooLong => self.counters.alias_rejected += 1,
            Rejection::UnexpectedMessage | Rejection::Timeout | Rejection::BadFrame => {}
        }
        self.conns
            .send_signal(key, &rejection.hangup(), &mut self.counters);
        if let Some(conn) = self.conns.get_mut(key) {
            let rtt = conn
                .quic
                .path_stats()
                .find(|p| p.active)
                .map_or(Duration::ZERO, |p| p.rtt);
            let close = PendingClose {
                at: now + HANGUP_LINGER + rtt * 2,
                code: rejection.close_code(),
                reason: rejection.label(),
            };
            conn.phase
                .leave_for(|member| Phase::Closing { close, member });
        }
    }

    /// The same identity joined the same room again: the older connection leaves the room
    /// now (RoomUpdate, Left event), is told Hangup Normal, and closes after the linger.
    fn replace_older(&mut self, older: ConnKey, now: Instant) {
        let Some(conn) = self.conns.get_mut(older) else {
            return;
        };
        let close = PendingClose {
            at: now + HANGUP_LINGER,
            code: 0,
            reason: "replaced by a newer connection",
        };
        let mut member = None;
        conn.phase.leave_for(|m| {
            member = m;
            Phase::Closing {
                close,
                member: None,
            }
        });
        self.conns.send_signal(
            older,
            &SignalMessage::hangup(HangupReason::Normal),
            &mut self.counters,
        );
        self.counters.connections_replaced += 1;
        if let Some(member) = member {
            self.leave_room(older, member);
        }
        self.conns.touch(older);
    }

    /// The participant hung up: it leaves its room now, and the connection closes.
    fn hang_up(&mut self, key: ConnKey) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        let _ = conn.quic.close(true, 0, b"hangup");
        if let Some(member) = conn.phase.take_member() {
            self.leave_room(key, member);
        }
    }

    /// A connection's deadline passed (or quiche's timer did).
    pub(super) fn on_deadline(&mut self, key: ConnKey, now: Instant) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        if let Phase::AwaitingSni { deadline, .. } = conn.phase {
            if deadline <= now {
                log::debug!(
                    "{}: ClientHello still incomplete at the handshake deadline",
                    conn.quic.trace_id()
                );
                self.counters.initials_abandoned += 1;
                self.conns.remove(key);
            }
            return;
        }
        if conn.quic.timeout_instant().is_some_and(|t| t <= now) {
            conn.quic.on_timeout();
        }
        if let Phase::Handshaking { deadline, .. } = conn.phase {
            if deadline <= now {
                let _ = conn.quic.close(
                    true,
                    Rejection::Timeout.close_code(),
                    Rejection::Timeout.label().as_bytes(),
                );
                conn.phase = Phase::Closed { member: None };
            }
        }
        if let Phase::Closing { close, .. } = conn.phase {
            if close.at <= now {
                let _ = conn.quic.close(true, close.code, close.reason.as_bytes());
                conn.phase.leave_for(|member| Phase::Closed { member });
            }
        }
        if conn.partial_frame_deadline.is_some_and(|d| d <= now) {
            conn.partial_frame_deadline = None;
            let abandoned = conn.signals.abandon_partial(&mut conn.quic);
            self.counters.signal_frames_abandoned += abandoned as u64;
            log::debug!(
                "{}: {abandoned} signal frame(s) unfinished at their deadline",
                conn.quic.trace_id()
            );
            if let Phase::Joining { session, .. } = &mut conn.phase {
                if let Some(rejection) = session.on_frame_refused() {
                    self.reject(key, rejection, now);
                    self.conns.touch(key);
                    return;
                }
            }
        }
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        let expired = match &mut conn.phase {
            Phase::Joining { session, .. } => session.on_timeout(now),
            _ => None,
        };
        if let Some(rejection) = expired {
            self.reject(key, rejection, now);
        }
        self.conns.touch(key);
    }

    /// Removes a connection quiche has closed; a participant leaves its room first.
    pub(super) fn reap(&mut self, key: ConnKey) {
        let Some(mut conn) = self.conns.remove(key) else {
            return;
        };
        self.counters.connections_closed += 1;
        if let Some(member) = conn.phase.take_member() {
            self.leave_room(key, member);
        }
    }

    /// Tells every participant to leave (Hangup Normal) and closes every connection after a
    /// linger. Connections that never sent anything are forgotten.
    pub(super) fn hang_up_everyone(&mut self, now: Instant) {
        for key in self.conns.keys() {
            match self.conns.get(key).map(|c| &c.phase) {
                None | Some(Phase::Closed { .. }) => continue,
                Some(Phase::AwaitingSni { .. }) => {
                    self.conns.remove(key);
                    continue;
                }
                Some(Phase::Joined { .. }) => self.conns.send_signal(
                    key,
                    &SignalMessage::hangup(HangupReason::Normal),
                    &mut self.counters,
                ),
                Some(_) => {}
            }
            if let Some(conn) = self.conns.get_mut(key) {
                let close = PendingClose {
                    at: now + HANGUP_LINGER,
                    code: 0,
                    reason: "relay shutting down",
                };
                conn.phase
                    .leave_for(|member| Phase::Closing { close, member });
            }
            self.conns.touch(key);
        }
    }

    pub(super) fn leave_room(&mut self, key: ConnKey, member: Membership) {
        self.members.remove(&member.id);
        let name = self
            .rooms
            .table
            .name(member.room)
            .map(str::to_owned)
            .unwrap_or_default();
        if let Some(change) = self
            .rooms
            .table
            .leave(member.room, key, &mut self.rooms.ledger)
        {
            self.announce(&change, name, member.id, member.fingerprint, Change::Left);
        }
    }

    /// Sends the RoomUpdate of a membership change to the room and tells the control plane.
    fn announce(
        &mut self,
        change: &MembershipChange<ConnKey>,
        room: String,
        participant: ParticipantId,
        fingerprint: String,
        how: Change,
    ) {
        for &recipient in &change.recipients {
            self.conns
                .send_signal(recipient, &change.update, &mut self.counters);
        }
        let (shard, participants) = (
            self.config.shard,
            u32::try_from(change.participants).unwrap_or(u32::MAX),
        );
        self.outbox.events.push_back(match how {
            Change::Joined => ShardEvent::Joined {
                shard,
                participant,
                room,
                fingerprint,
                participants,
            },
            Change::Left => ShardEvent::Left {
                shard,
                participant,
                room,
                fingerprint,
                participants,
            },
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sni_selects_the_purpose() {
        assert_eq!(Purpose::from_sni(None), Purpose::Room("default".into()));
        assert_eq!(Purpose::from_sni(Some("")), Purpose::Room("default".into()));
        assert_eq!(Purpose::from_sni(Some("ping")), Purpose::Ping);
        assert_eq!(Purpose::from_sni(Some("version")), Purpose::Version);
        assert_eq!(Purpose::from_sni(Some("_signal")), Purpose::Unsupported);
        assert_eq!(
            Purpose::from_sni(Some("call-42")),
            Purpose::Room("call-42".into())
        );
        assert_eq!(Purpose::from_sni(Some("abc")).steering_key(), "abc");
    }
}
