//! Where a datagram goes: to a connection of this endpoint, to the shard whose connection ID
//! it carries, or (a new Initial) to a connection accepted here until its SNI names the room's
//! owner.
//!
//! A client's first Initial carries a random destination ID, so the kernel's steering delivers
//! it to an arbitrary shard. That shard accepts it with a connection that sends nothing and
//! keeps the original bytes. When the ClientHello is complete (with post-quantum key shares it
//! spans two Initials), the SNI names the room and so its owner: another shard gets the held
//! Initials as [`Handoff`]s and accepts them as if they had arrived there; the owner answers
//! with a connection ID that names it, so the kernel steers the rest of the connection to it.

use super::conn::{Amplification, Conn, ConnKey};
use super::lifecycle::{Phase, Purpose};
use super::Endpoint;
use crate::address_validation::TokenError;
use crate::admission::{admit, Admission, Refusal, TokenCheck};
use crate::steering::{cid_for_shard, owner_of, shard_of_cid, CID_LEN};
use rand::RngCore;
use std::net::SocketAddr;
use std::time::Instant;
use switchyard_proto::control::ShardId;

/// Initial datagrams a connection may take without completing its ClientHello.
pub const MAX_HELD_INITIALS: usize = 8;
/// The smallest datagram an Initial (or a packet answered with Version Negotiation) may come
/// in (RFC 9000 14.1).
pub const MIN_INITIAL_DATAGRAM: usize = 1_200;

/// A datagram passed from the shard that received it to the shard that serves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handoff {
    /// The shard that must handle it.
    pub to: ShardId,
    /// The original bytes, still encrypted.
    pub datagram: Vec<u8>,
    pub from: SocketAddr,
    /// The local address it arrived on.
    pub local: SocketAddr,
    pub kind: HandoffKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandoffKind {
    /// An Initial this shard held until its SNI named another shard's room.
    Initial,
    /// A packet for a connection ID another shard issued.
    Straggler,
}

/// How a datagram reached this endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Arrival {
    Socket,
    Handoff,
}

/// The connection IDs of an accepted Initial.
struct InitialIds {
    /// Where the client sent it: its first random ID, or a Retry's source ID.
    client_dcid: quiche::ConnectionId<'static>,
    /// After a Retry: the client's first destination ID, from the token.
    odcid: Option<quiche::ConnectionId<'static>>,
}

impl Endpoint {
    pub(super) fn route(
        &mut self,
        now: Instant,
        from: SocketAddr,
        to: SocketAddr,
        data: &mut [u8],
        arrival: Arrival,
    ) {
        // Short headers carry no DCID length: parse with the length of the IDs this relay issues.
        let hdr = match quiche::Header::from_slice(data, CID_LEN) {
            Ok(h) => h,
            Err(_) => {
                self.counters.unknown_connection_packets += 1;
                return;
            }
        };
        if let Some(key) = self.conns.lookup(&hdr.dcid) {
            self.recv_on_conn(key, data, from, to, now);
            return;
        }
        if hdr.ty != quiche::Type::Initial {
            match shard_of_cid(&hdr.dcid, self.config.shards) {
                Some(owner)
                    if owner != self.config.shard
                        && arrival == Arrival::Socket
                        && hdr.dcid.len() == CID_LEN =>
                {
                    self.hand_off(owner, data, from, to, HandoffKind::Straggler);
                    self.counters.packets_passed_on += 1;
                }
                _ => {
                    self.counters.unknown_connection_packets += 1;
                    if hdr.ty == quiche::Type::Short && hdr.dcid.len() == CID_LEN {
                        self.send_stateless_reset(&hdr.dcid, data.len(), from, now);
                    }
                }
            }
            return;
        }
        // RFC 9000 14.1: an Initial (and a packet that would get Version Negotiation) in a
        // datagram under 1,200 bytes is dropped, so a small spoofed packet cannot make the
        // relay send more than it received.
        if data.len() < MIN_INITIAL_DATAGRAM {
            self.counters.initials_too_small += 1;
            return;
        }
        if !quiche::version_is_supported(hdr.version) {
            self.negotiate_version(&hdr, from, now);
            return;
        }
        if !self.is_running() || self.conns.len() >= self.config.max_connections {
            self.counters.unknown_connection_packets += 1;
            return;
        }
        let token = match hdr.token.as_deref() {
            None | Some([]) => TokenCheck::Absent,
            Some(token) => match self.tokens.check(token, from, &hdr.dcid, now) {
                Ok(odcid) => TokenCheck::Valid { odcid },
                Err(e) => TokenCheck::Refused(e),
            },
        };
        match admit(
            &self.config.admission,
            &self.conns.half_open,
            from.ip(),
            token,
        ) {
            Admission::Accept { odcid } => {
                let ids = InitialIds {
                    client_dcid: hdr.dcid,
                    odcid: odcid.map(quiche::ConnectionId::from_vec),
                };
                self.accept(now, from, to, data, ids, arrival);
            }
            Admission::Retry => self.send_retry(&hdr, from, now),
            Admission::Refuse(why) => self.count_refusal(why),
        }
    }

    fn count_refusal(&mut self, why: Refusal) {
        let c = &mut self.counters;
        match why {
            Refusal::Token(TokenError::Forged) => c.tokens_forged += 1,
            Refusal::Token(TokenError::WrongAddress) => c.tokens_wrong_address += 1,
            Refusal::Token(TokenError::Expired) => c.tokens_expired += 1,
            Refusal::ShardFull => c.initials_refused_shard_full += 1,
            Refusal::SourceFull => c.initials_refused_source_full += 1,
        }
    }

    fn accept(
        &mut self,
        now: Instant,
        from: SocketAddr,
        to: SocketAddr,
        data: &mut [u8],
        ids: InitialIds,
        arrival: Arrival,
    ) {
        let InitialIds { client_dcid, odcid } = ids;
        let mut random = [0u8; CID_LEN];
        self.rng.fill_bytes(&mut random);
        let scid = quiche::ConnectionId::from_vec(
            cid_for_shard(self.config.shard, self.config.shards, random).to_vec(),
        );
        self.quic_config
            .set_stateless_reset_token(Some(self.resets.token(&scid)));
        let accepted = match &odcid {
            // After a Retry the transport parameters repeat both IDs of the exchange; the
            // connection's own ID is fresh, so it names this shard.
            Some(odcid) => quiche::accept_with_retry(
                &scid,
                quiche::RetryConnectionIds {
                    original_destination_cid: odcid,
                    retry_source_cid: &client_dcid,
                },
                to,
                from,
                &mut self.quic_config,
            ),
            None => quiche::accept(&scid, None, to, from, &mut self.quic_config),
        };
        let quic = match accepted {
            Ok(c) => c,
            Err(e) => {
                log::debug!("accept from {from}: {e}");
                return;
            }
        };
        // A client retransmits the parts of a lost ClientHello one PTO at a time: give the
        // parts as long as the whole handshake has.
        let phase = Phase::AwaitingSni {
            held: Vec::new(),
            initials: 0,
            deadline: now + self.config.handshake_timeout,
            may_hand_off: arrival == Arrival::Socket && self.config.shards > 1,
        };
        let validated = odcid.is_some();
        let mut conn = Conn::new(quic, phase, [scid, client_dcid]).half_open_from(from.ip());
        if !validated {
            conn.amplification = Some(Amplification::default());
        }
        conn.signals.set_limits(self.config.signal_before_join);
        let key = self.conns.insert(conn);
        self.feed_awaiting_sni(key, data, from, to, now);
    }

    fn recv_on_conn(
        &mut self,
        key: ConnKey,
        data: &mut [u8],
        from: SocketAddr,
        to: SocketAddr,
        now: Instant,
    ) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        if matches!(conn.phase, Phase::AwaitingSni { .. }) {
            self.feed_awaiting_sni(key, data, from, to, now);
            return;
        }
        if let Some(a) = &mut conn.amplification {
            a.received += data.len();
        }
        if let Err(e) = conn.quic.recv(data, quiche::RecvInfo { from, to }) {
            if e != quiche::Error::Done {
                log::debug!("{}: recv: {e}", conn.quic.trace_id());
            }
        }
        self.after_input(key, now);
    }

    /// Feeds an Initial to a connection whose SNI is not known yet; nothing is sent on it
    /// until it is, so it can still move to the owner shard untouched.
    fn feed_awaiting_sni(
        &mut self,
        key: ConnKey,
        data: &mut [u8],
        from: SocketAddr,
        to: SocketAddr,
        now: Instant,
    ) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        let Phase::AwaitingSni {
            held,
            initials,
            may_hand_off,
            ..
        } = &mut conn.phase
        else {
            return;
        };
        *initials += 1;
        if let Some(a) = &mut conn.amplification {
            a.received += data.len();
        }
        if *may_hand_off {
            // quiche decrypts in place: keep the original bytes in case they move on.
            held.push(data.to_vec());
        }
        let initials = *initials;
        if let Err(e) = conn.quic.recv(data, quiche::RecvInfo { from, to }) {
            log::debug!("Initial from {from}: {e}");
        }
        if conn.quic.is_closed() {
            log::debug!("{from}: quiche refused the Initial");
            self.counters.initials_abandoned += 1;
            self.conns.remove(key);
            return;
        }
        let hello_done =
            conn.quic.server_name().is_some() || conn.quic.peer_transport_params().is_some();
        if !hello_done {
            if initials >= MAX_HELD_INITIALS {
                log::debug!("{from}: no complete ClientHello in {MAX_HELD_INITIALS} Initials");
                self.counters.initials_abandoned += 1;
                self.conns.remove(key);
            } else {
                self.conns.touch(key);
            }
            return;
        }
        let purpose = Purpose::from_sni(conn.quic.server_name());
        let owner = owner_of(purpose.steering_key(), self.config.shards);
        let Phase::AwaitingSni {
            held,
            deadline,
            may_hand_off,
            ..
        } = std::mem::replace(&mut conn.phase, Phase::Closed { member: None })
        else {
            return;
        };
        if may_hand_off && owner != self.config.shard {
            for original in &held {
                self.hand_off(owner, original, from, to, HandoffKind::Initial);
            }
            self.counters.initials_redirected_out += held.len() as u64;
            self.conns.remove(key);
            return;
        }
        conn.phase = Phase::Handshaking { purpose, deadline };
        self.counters.connections_accepted += 1;
        self.after_input(key, now);
    }

    /// Everything that may follow new input on an accepted connection.
    pub(super) fn after_input(&mut self, key: ConnKey, now: Instant) {
        self.on_established(key, now);
        self.read_signals(key, now);
        let violation = self.rooms.forward_from(
            &mut self.conns,
            &mut self.counters,
            key,
            &mut self.scratch.datagram,
            now,
        );
        if let Some(code) = violation {
            self.expel(key, code, now);
        }
        self.conns.touch(key);
    }

    fn hand_off(
        &mut self,
        owner: ShardId,
        data: &[u8],
        from: SocketAddr,
        local: SocketAddr,
        kind: HandoffKind,
    ) {
        self.outbox.handoffs.push_back(Handoff {
            to: owner,
            datagram: data.to_vec(),
            from,
            local,
            kind,
        });
    }
}
