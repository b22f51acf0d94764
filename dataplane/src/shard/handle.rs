//! What the shard does with each input: a UDP datagram (known connection, new Initial, or a
//! packet for another shard), a signal message, a media datagram, an expired deadline.

use super::conn::{Conn, PendingClose, Purpose, MAX_HELD_INITIALS, MAX_OPEN_SIGNAL_STREAMS};
use super::{Redirected, Shard};
use crate::engine::forward::{forward_packet, Packet};
use crate::engine::rooms::{JoinError, Member, MembershipChange};
use crate::engine::session::{Outcome, Rejection, Session};
use crate::engine::steering::{cid_for_shard, owner_of, shard_of_cid, CID_LEN};
use rand::RngCore;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use switchyard_proto::control::{ShardEvent, ShardId};
use switchyard_proto::datagram::{DropReason, InboundDatagram};
use switchyard_proto::framing::FrameError;
use switchyard_proto::signal::{HangupReason, SignalMessage};

/// Application close code for SNI purposes this relay does not serve.
const CLOSE_UNSUPPORTED: u64 = 0x107;
/// STOP_SENDING code for a refused signal frame.
const STREAM_FRAME_ERROR: u64 = 0x201;
/// Time a Hangup gets to leave before the connection closes.
const HANGUP_LINGER: Duration = Duration::from_millis(50);
const VERSION_TEXT: &[u8] = concat!("switchyard ", env!("CARGO_PKG_VERSION")).as_bytes();

impl Shard {
    /// One UDP datagram, from the socket or passed on by another shard.
    pub(super) fn on_datagram(
        &mut self,
        data: &mut [u8],
        from: SocketAddr,
        now: Instant,
        passed_on: bool,
    ) {
        // Short headers carry no DCID length: parse with the length of the IDs this relay issues.
        let hdr = match quiche::Header::from_slice(data, CID_LEN) {
            Ok(h) => h,
            Err(_) => {
                self.counters.unknown_connection_packets += 1;
                return;
            }
        };
        if let Some(&key) = self.by_cid.get(&hdr.dcid) {
            self.recv_on_conn(key, data, from, now);
            return;
        }
        if hdr.ty != quiche::Type::Initial {
            let n = self.settings.shards;
            match shard_of_cid(&hdr.dcid, n) {
                Some(owner) if owner != self.id && !passed_on && hdr.dcid.len() == CID_LEN => {
                    self.pass_on(owner, data, from, false);
                    self.counters.packets_passed_on += 1;
                }
                _ => self.counters.unknown_connection_packets += 1,
            }
            return;
        }
        if !quiche::version_is_supported(hdr.version) {
            let buf = self.out.reserve();
            match quiche::negotiate_version(&hdr.scid, &hdr.dcid, buf) {
                Ok(len) => self.out.commit(len, from),
                Err(_) => self.out.cancel(),
            }
            return;
        }
        self.accept(data, from, hdr.dcid.into_owned(), now, passed_on);
    }

    fn accept(
        &mut self,
        data: &mut [u8],
        from: SocketAddr,
        client_dcid: quiche::ConnectionId<'static>,
        now: Instant,
        passed_on: bool,
    ) {
        if self.stopping.is_some() || self.conns.len() >= self.settings.max_connections {
            self.counters.unknown_connection_packets += 1;
            return;
        }
        let mut random = [0u8; CID_LEN];
        self.rng.fill_bytes(&mut random);
        let scid = quiche::ConnectionId::from_vec(
            cid_for_shard(self.id, self.settings.shards, random).to_vec(),
        );
        let quic = match quiche::accept(&scid, None, self.local, from, &mut self.quic_config) {
            Ok(c) => c,
            Err(e) => {
                log::debug!("accept from {from}: {e}");
                return;
            }
        };
        let session = Session::new(&self.auth, now, self.settings.handshake_timeout);
        let mut conn = Conn::new(quic, session, Purpose::AwaitingSni);
        conn.cids = vec![scid.clone(), client_dcid.clone()];
        // A client retransmits the parts of a lost ClientHello one PTO at a time: give the
        // parts as long as the whole handshake has.
        conn.sni_deadline = Some(now + self.settings.handshake_timeout);
        let key = self.conns.insert(conn);
        self.by_cid.insert(scid, key);
        self.by_cid.insert(client_dcid, key);
        self.recv_awaiting_sni(key, data, from, now, !passed_on && self.settings.shards > 1);
    }

    /// Feeds an Initial to a connection whose SNI is not known yet. Until it is, nothing is
    /// sent on the connection, so it can still move to the owner shard untouched.
    fn recv_awaiting_sni(
        &mut self,
        key: usize,
        data: &mut [u8],
        from: SocketAddr,
        now: Instant,
        may_pass_on: bool,
    ) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        // quiche decrypts in place: keep the original bytes in case they move on.
        if may_pass_on && conn.held_initials.len() < MAX_HELD_INITIALS {
            conn.held_initials.push(data.to_vec());
        }
        if let Err(e) = conn.quic.recv(
            data,
            quiche::RecvInfo {
                from,
                to: self.local,
            },
        ) {
            log::debug!("Initial from {from}: {e}");
        }
        let hello_done =
            conn.quic.server_name().is_some() || conn.quic.peer_transport_params().is_some();
        if conn.quic.is_closed() {
            self.drop_unannounced(key);
            return;
        }
        if !hello_done {
            let deadline = conn.sni_deadline;
            if conn.held_initials.len() >= MAX_HELD_INITIALS {
                log::debug!("{from}: no complete ClientHello in {MAX_HELD_INITIALS} Initials");
                self.counters.initials_abandoned += 1;
                self.drop_unannounced(key);
            } else {
                self.deadlines.arm(key, deadline);
            }
            return;
        }
        let purpose = Purpose::from_sni(conn.quic.server_name());
        let owner = owner_of(purpose.steering_key(), self.settings.shards);
        if owner != self.id && !conn.held_initials.is_empty() {
            let held = std::mem::take(&mut conn.held_initials);
            for original in &held {
                self.pass_on(owner, original, from, true);
            }
            self.counters.initials_redirected_out += 1;
            self.drop_unannounced(key);
            return;
        }
        conn.held_initials = Vec::new();
        conn.sni_deadline = None;
        conn.purpose = purpose;
        self.counters.connections_accepted += 1;
        self.after_input(key, now);
    }

    /// Forgets a connection that never sent anything (passed on, or never completed).
    fn drop_unannounced(&mut self, key: usize) {
        self.forget(key);
    }

    /// Removes a connection, its deadline and every ID that maps to it.
    fn forget(&mut self, key: usize) -> bool {
        self.deadlines.arm(key, None);
        let Some(conn) = self.conns.try_remove(key) else {
            return false;
        };
        for cid in &conn.cids {
            if self.by_cid.get(cid) == Some(&key) {
                self.by_cid.remove(cid);
            }
        }
        true
    }

    fn pass_on(&mut self, owner: ShardId, data: &[u8], from: SocketAddr, initial: bool) {
        let msg = Redirected {
            data: data.to_vec(),
            from,
            initial,
        };
        let pushed = self
            .rings
            .to_peers
            .get_mut(owner.index())
            .and_then(Option::as_mut)
            .is_some_and(|ring| ring.push(msg));
        if !pushed {
            self.counters.inbox_full_drops += 1;
        }
    }

    fn recv_on_conn(&mut self, key: usize, data: &mut [u8], from: SocketAddr, now: Instant) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        if conn.purpose == Purpose::AwaitingSni {
            let may_pass_on = !conn.held_initials.is_empty();
            self.recv_awaiting_sni(key, data, from, now, may_pass_on);
            return;
        }
        if let Err(e) = conn.quic.recv(
            data,
            quiche::RecvInfo {
                from,
                to: self.local,
            },
        ) {
            if e != quiche::Error::Done {
                log::debug!("{}: recv: {e}", conn.quic.trace_id());
            }
        }
        self.after_input(key, now);
    }

    /// Everything that may follow new input on a connection.
    fn after_input(&mut self, key: usize, now: Instant) {
        self.start_if_established(key, now);
        self.read_signals(key, now);
        self.forward_datagrams(key, now);
        self.mark_touched(key);
    }

    fn start_if_established(&mut self, key: usize, now: Instant) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        if conn.started || conn.purpose == Purpose::AwaitingSni || !conn.quic.is_established() {
            return;
        }
        conn.started = true;
        match conn.purpose {
            Purpose::Room(_) => {}
            Purpose::Ping => {
                let _ = conn.quic.close(true, 0, b"pong");
            }
            Purpose::Version => {
                let _ = conn.quic.stream_send(3, VERSION_TEXT, true);
                conn.pending_close = Some(PendingClose {
                    at: now + Duration::from_secs(1),
                    code: 0,
                    reason: "version sent",
                });
            }
            Purpose::Unsupported => {
                let _ = conn.quic.close(
                    true,
                    CLOSE_UNSUPPORTED,
                    b"service not offered by this relay",
                );
            }
            Purpose::AwaitingSni => {}
        }
    }

    fn read_signals(&mut self, key: usize, now: Instant) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        let readable: Vec<u64> = conn.quic.readable().collect();
        let mut messages = Vec::new();
        for id in readable {
            loop {
                let (len, fin) = match conn.quic.stream_recv(id, &mut self.stream_buf) {
                    Ok(r) => r,
                    Err(quiche::Error::Done) => break,
                    Err(_) => {
                        conn.readers.remove(&id);
                        break;
                    }
                };
                if !conn.readers.contains_key(&id) && conn.readers.len() >= MAX_OPEN_SIGNAL_STREAMS
                {
                    self.counters.signal_frame_errors[FrameError::Oversized.index()] += 1;
                    let _ =
                        conn.quic
                            .stream_shutdown(id, quiche::Shutdown::Read, STREAM_FRAME_ERROR);
                    break;
                }
                let reader = conn.readers.entry(id).or_default();
                let chunk = self.stream_buf.get(..len).unwrap_or_default();
                if let Err(e) = reader.push(chunk) {
                    self.counters.signal_frame_errors[e.index()] += 1;
                    conn.readers.remove(&id);
                    let _ =
                        conn.quic
                            .stream_shutdown(id, quiche::Shutdown::Read, STREAM_FRAME_ERROR);
                    let _ =
                        conn.quic
                            .stream_shutdown(id, quiche::Shutdown::Write, STREAM_FRAME_ERROR);
                    break;
                }
                if fin {
                    let Some(reader) = conn.readers.remove(&id) else {
                        break;
                    };
                    match reader.finish() {
                        Ok(msg) => {
                            self.counters.signal_messages_in += 1;
                            messages.push(msg);
                        }
                        Err(e) => self.counters.signal_frame_errors[e.index()] += 1,
                    }
                    // The relay answers on streams of its own: finish our half of this one.
                    let _ = conn.quic.stream_send(id, &[], true);
                    break;
                }
            }
        }
        for msg in messages {
            self.on_signal(key, msg, now);
        }
    }

    fn on_signal(&mut self, key: usize, msg: SignalMessage, now: Instant) {
        let mut ephemeral = [0u8; 32];
        self.rng.fill_bytes(&mut ephemeral);
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        match conn
            .session
            .on_signal(msg, &self.auth, &self.identity, ephemeral)
        {
            Outcome::Nothing => {}
            Outcome::Reply(reply) => self.send_signal(key, &reply),
            Outcome::Join {
                answer,
                fingerprint,
                alias,
            } => self.join(key, answer, fingerprint, alias, now),
            Outcome::Reject(rejection) => self.reject(key, rejection, now),
            Outcome::Leave => {
                self.leave_room(key);
                if let Some(conn) = self.conns.get_mut(key) {
                    let _ = conn.quic.close(true, 0, b"hangup");
                }
            }
            Outcome::PictureLoss { stream_id } => self.on_picture_loss(key, stream_id, now),
        }
    }

    pub(super) fn send_signal(&mut self, key: usize, msg: &SignalMessage) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        match conn.queue_signal(msg) {
            Ok(()) => self.counters.signal_messages_out += 1,
            Err(_) => self.counters.signal_send_queue_full += 1,
        }
        self.mark_touched(key);
    }

    fn join(
        &mut self,
        key: usize,
        answer: SignalMessage,
        fingerprint: String,
        alias: Option<String>,
        now: Instant,
    ) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        let Purpose::Room(room_name) = &conn.purpose else {
            self.reject(key, Rejection::UnexpectedMessage, now);
            return;
        };
        let room_name = room_name.clone();
        let member = Member {
            key,
            fingerprint: fingerprint.clone(),
            alias,
        };
        match self.rooms.join(&room_name, member) {
            Ok(change) => {
                conn.room = Some(change.room);
                conn.fingerprint = Some(fingerprint.clone());
                self.counters.handshakes_completed += 1;
                self.send_signal(key, &answer);
                self.replay_to_joiner(key, change.room, now);
                self.announce(&change, room_name, fingerprint, true);
            }
            Err(JoinError::RoomFull) => {
                let rejection = conn.session.on_join_refused();
                self.reject(key, rejection, now);
            }
        }
    }

    /// Sends the RoomUpdate of a membership change to the room and tells the control plane.
    fn announce(
        &mut self,
        change: &MembershipChange<usize>,
        room: String,
        fingerprint: String,
        joined: bool,
    ) {
        for &recipient in &change.recipients {
            self.send_signal(recipient, &change.update);
        }
        let (shard, participants) = (
            self.id,
            u32::try_from(change.participants).unwrap_or(u32::MAX),
        );
        let event = if joined {
            ShardEvent::Joined {
                shard,
                room,
                fingerprint,
                participants,
            }
        } else {
            ShardEvent::Left {
                shard,
                room,
                fingerprint,
                participants,
            }
        };
        self.rings.events.push(event);
    }

    fn reject(&mut self, key: usize, rejection: Rejection, now: Instant) {
        self.counters.handshakes_rejected += 1;
        match rejection {
            Rejection::AuthMissing | Rejection::AuthInvalid => self.counters.auth_rejected += 1,
            Rejection::ProtocolVersion => self.counters.version_rejected += 1,
            Rejection::BadSignature => self.counters.signature_rejected += 1,
            Rejection::RoomFull => self.counters.room_full_rejected += 1,
            Rejection::UnexpectedMessage | Rejection::Timeout => {}
        }
        self.send_signal(key, &rejection.hangup());
        if let Some(conn) = self.conns.get_mut(key) {
            let rtt = conn
                .quic
                .path_stats()
                .next()
                .map_or(Duration::ZERO, |p| p.rtt);
            conn.pending_close = Some(PendingClose {
                at: now + HANGUP_LINGER + rtt * 2,
                code: rejection.close_code(),
                reason: rejection.label(),
            });
        }
    }

    /// Media: every datagram the connection received goes, byte-identical, to every other
    /// member of its room that takes its simulcast layer. The room's keyframe cache and
    /// stream registry see it first, once.
    fn forward_datagrams(&mut self, key: usize, now: Instant) {
        let Shard {
            conns,
            rooms,
            ledger,
            dgram_buf,
            counters,
            touched,
            settings,
            ..
        } = self;
        let policy = &settings.video.layers;
        loop {
            let Some(conn) = conns.get_mut(key) else {
                return;
            };
            let len = match conn.quic.dgram_recv(dgram_buf) {
                Ok(len) => len,
                Err(_) => return,
            };
            let room = conn.room;
            counters.media_datagrams_in += 1;
            let data = dgram_buf.get(..len).unwrap_or_default();
            let inbound = match InboundDatagram::parse(data) {
                Ok(d) => d,
                Err(reason) => {
                    counters.media_dropped[reason.index()] += 1;
                    continue;
                }
            };
            let Some((members, media)) = room.and_then(|r| rooms.split_mut(r)) else {
                counters.media_dropped[DropReason::NotJoined.index()] += 1;
                continue;
            };
            let packet = Packet {
                sender: key,
                header: inbound.packet().map(|p| &p.header),
                datagram: data,
                now,
            };
            let forwarded = forward_packet(members, media, ledger, policy, packet, |receiver| {
                let Some(target) = conns.get_mut(receiver) else {
                    return false;
                };
                if target.quic.dgram_send(data).is_err() {
                    return false;
                }
                if !target.touched {
                    target.touched = true;
                    touched.push(receiver);
                }
                true
            });
            let out = forwarded.fan_out;
            counters.layer_switches += u64::from(forwarded.layer_switches);
            counters.media_datagrams_forwarded += u64::from(out.queued);
            counters.media_bytes_forwarded += u64::from(out.queued) * len as u64;
            counters.forward_queue_full += u64::from(out.dropped);
            counters.layer_filtered += u64::from(out.skipped);
        }
    }

    pub(super) fn fire_deadlines(&mut self, now: Instant) {
        while let Some(key) = self.deadlines.pop_expired(now) {
            let Some(conn) = self.conns.get_mut(key) else {
                continue;
            };
            if conn.sni_deadline.is_some_and(|d| d <= now) {
                log::debug!(
                    "{}: ClientHello still incomplete at the handshake deadline",
                    conn.quic.trace_id()
                );
                self.counters.initials_abandoned += 1;
                self.drop_unannounced(key);
                continue;
            }
            if conn.quic.timeout_instant().is_some_and(|t| t <= now) {
                conn.quic.on_timeout();
            }
            if let Some(close) = conn.pending_close.filter(|p| p.at <= now) {
                conn.pending_close = None;
                let _ = conn.quic.close(true, close.code, close.reason.as_bytes());
            }
            if let Some(rejection) = conn.session.on_timeout(now) {
                self.reject(key, rejection, now);
            }
            self.mark_touched(key);
        }
    }

    fn leave_room(&mut self, key: usize) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        let (Some(room), Some(fingerprint)) = (conn.room.take(), conn.fingerprint.clone()) else {
            return;
        };
        let name = self.rooms.name(room).map(str::to_owned).unwrap_or_default();
        if let Some(change) = self.rooms.leave(room, key, &mut self.ledger) {
            self.announce(&change, name, fingerprint, false);
        }
    }

    /// Removes a closed connection: it leaves its room first.
    pub(super) fn remove_conn(&mut self, key: usize) {
        self.leave_room(key);
        if self.forget(key) {
            self.counters.connections_closed += 1;
        }
    }

    pub(super) fn begin_shutdown(&mut self, now: Instant) {
        if self.stopping.is_some() {
            return;
        }
        self.stopping = Some(now);
        let keys: Vec<usize> = self.conns.iter().map(|(k, _)| k).collect();
        for key in keys {
            let joined = self.conns.get(key).is_some_and(|c| c.room.is_some());
            if joined {
                self.send_signal(key, &SignalMessage::hangup(HangupReason::Normal));
            }
            if let Some(conn) = self.conns.get_mut(key) {
                conn.pending_close = Some(PendingClose {
                    at: now + HANGUP_LINGER,
                    code: 0,
                    reason: "relay shutting down",
                });
                conn.session.on_closed();
            }
            self.mark_touched(key);
        }
    }
}
