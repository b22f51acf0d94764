//! One client connection on its owner shard: the quiche connection, the join session, the
//! signal streams being read, and the signal messages waiting to be written.

use crate::engine::rooms::RoomId;
use crate::engine::session::Session;
use crate::shard::video::LossSample;
use std::collections::{HashMap, VecDeque};
use std::time::Instant;
use switchyard_proto::framing::{encode_frame, FrameReader};
use switchyard_proto::signal::SignalMessage;

/// Signal messages one connection may have waiting; beyond this a message is dropped and
/// counted.
pub const SIGNAL_QUEUE_CAP: usize = 64;
/// Signal streams one connection may have half-read at once.
pub const MAX_OPEN_SIGNAL_STREAMS: usize = 8;

/// Initial datagrams a shard keeps for a connection whose ClientHello is incomplete.
pub const MAX_HELD_INITIALS: usize = 8;

/// What the SNI asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Purpose {
    /// The ClientHello is not complete yet (it may span several Initial datagrams).
    AwaitingSni,
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

    /// The name the shard owner is computed from.
    pub fn steering_key(&self) -> &str {
        match self {
            Self::Room(name) => name,
            Self::Ping => "ping",
            Self::Version => "version",
            Self::Unsupported => "_unsupported",
            Self::AwaitingSni => "",
        }
    }
}

#[derive(Debug)]
struct Outgoing {
    stream_id: u64,
    frame: Vec<u8>,
    written: usize,
}

/// Close the connection at `at` with this application code and reason (after a Hangup has
/// had its chance to leave).
#[derive(Debug, Clone, Copy)]
pub struct PendingClose {
    pub at: Instant,
    pub code: u64,
    pub reason: &'static str,
}

pub struct Conn {
    pub quic: quiche::Connection,
    pub session: Session,
    pub purpose: Purpose,
    pub room: Option<RoomId>,
    pub fingerprint: Option<String>,
    /// Connection IDs that map to this connection in the shard's table.
    pub cids: Vec<quiche::ConnectionId<'static>>,
    pub readers: HashMap<u64, FrameReader>,
    outbox: VecDeque<Outgoing>,
    next_stream: u64,
    pub started: bool,
    pub touched: bool,
    pub pending_close: Option<PendingClose>,
    /// While the SNI is unknown on a shard that may pass the connection on: the original
    /// (still encrypted) Initial datagrams, in arrival order.
    pub held_initials: Vec<Vec<u8>>,
    /// Give up on a connection whose ClientHello never completes.
    pub sni_deadline: Option<Instant>,
    /// quiche's sent and lost packet counts at the previous bandwidth estimate.
    pub loss_sample: LossSample,
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn")
            .field("trace_id", &self.quic.trace_id())
            .field("purpose", &self.purpose)
            .field("session", &self.session.state())
            .finish()
    }
}

/// A signal could not be queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueFull;

impl Conn {
    pub fn new(quic: quiche::Connection, session: Session, purpose: Purpose) -> Self {
        Self {
            quic,
            session,
            purpose,
            room: None,
            fingerprint: None,
            cids: Vec::new(),
            readers: HashMap::new(),
            outbox: VecDeque::new(),
            // Server-initiated bidirectional streams: 1, 5, 9, ...
            next_stream: 1,
            started: false,
            touched: false,
            pending_close: None,
            held_initials: Vec::new(),
            sni_deadline: None,
            loss_sample: LossSample::default(),
        }
    }

    /// Queues `message` on a new server-initiated bidirectional stream.
    pub fn queue_signal(&mut self, message: &SignalMessage) -> Result<(), QueueFull> {
        if self.outbox.len() >= SIGNAL_QUEUE_CAP {
            return Err(QueueFull);
        }
        let stream_id = self.next_stream;
        self.next_stream += 4;
        self.outbox.push_back(Outgoing {
            stream_id,
            frame: encode_frame(message),
            written: 0,
        });
        Ok(())
    }

    /// Writes queued frames as far as flow control allows; returns how many completed.
    pub fn flush_signals(&mut self) -> usize {
        let mut completed = 0;
        while let Some(out) = self.outbox.front_mut() {
            let rest = out.frame.get(out.written..).unwrap_or_default();
            match self.quic.stream_send(out.stream_id, rest, true) {
                Ok(n) => {
                    out.written += n;
                    if out.written < out.frame.len() {
                        return completed;
                    }
                }
                Err(quiche::Error::Done) => return completed,
                Err(e) => {
                    log::debug!(
                        "{}: signal stream {} failed: {e}",
                        self.quic.trace_id(),
                        out.stream_id
                    );
                }
            }
            self.outbox.pop_front();
            completed += 1;
        }
        completed
    }

    /// The earliest time something must happen on this connection.
    pub fn next_deadline(&self) -> Option<Instant> {
        [
            self.quic.timeout_instant(),
            self.session.poll_timeout(),
            self.pending_close.map(|p| p.at),
            self.sni_deadline,
        ]
        .into_iter()
        .flatten()
        .min()
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
