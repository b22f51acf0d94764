//! WZP signal messages over the QUIC streams of one connection, in both directions, for either
//! end: the relay's endpoint and the load generator's client use this same code.
//!
//! WZP sends each signal message on a bidirectional stream of its own: a length-prefixed JSON
//! frame, then FIN ([`switchyard_proto::framing`]). [`SignalStreams`] reads every readable
//! stream into a [`FrameReader`] and hands back whole messages or refusals, and writes queued
//! frames on fresh streams of its own side as far as flow control allows.
//!
//! A refused frame (oversized, malformed, truncated) stops that stream with
//! [`STREAM_FRAME_ERROR`]; other streams and the connection carry on. So does a stream over
//! the budget ([`Limits`]): one stream more than the peer may have half-read, or a frame whose
//! bytes would take the half-read frames together over `buffered_bytes` ([`Inbound::OverBudget`]).
//! Every bound is a counted refusal, never silent growth. The owner may tighten or widen the
//! budget ([`SignalStreams::set_limits`]: the relay gives a joined participant more than a
//! stranger), and may give up the half-read frames of a peer that never finishes them
//! ([`SignalStreams::abandon_partial`]).

use std::collections::{HashMap, VecDeque};
use switchyard_proto::framing::{encode_frame, FrameError, FrameReader};
use switchyard_proto::signal::SignalMessage;

/// STOP_SENDING / RESET_STREAM code for a refused signal frame.
pub const STREAM_FRAME_ERROR: u64 = 0x201;

/// How much one side accepts from the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Streams the peer may have half-read at once; a frame on one more is refused.
    pub open_readers: usize,
    /// Bytes of half-read frames held at once, all streams together.
    pub buffered_bytes: usize,
    /// Messages waiting to be written; one more is refused with [`QueueFull`].
    pub queued: usize,
}

/// What arrived on a stream.
#[derive(Debug, Clone, PartialEq)]
pub enum Inbound {
    Message(SignalMessage),
    Refused(FrameError),
    /// A stream over [`Limits::open_readers`] or [`Limits::buffered_bytes`], stopped.
    OverBudget,
}

/// A message could not be queued: the outbox is at [`Limits::queued`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueFull;

#[derive(Debug)]
struct Outgoing {
    stream_id: u64,
    frame: Vec<u8>,
    written: usize,
}

/// The signal streams of one connection.
#[derive(Debug)]
pub struct SignalStreams {
    readers: HashMap<u64, FrameReader>,
    outbox: VecDeque<Outgoing>,
    next_stream: u64,
    limits: Limits,
}

impl SignalStreams {
    /// The relay's side: it opens server-initiated bidirectional streams 1, 5, 9, ...
    pub fn server(limits: Limits) -> Self {
        Self::starting_at(1, limits)
    }

    /// A client's side: client-initiated bidirectional streams 0, 4, 8, ...
    pub fn client(limits: Limits) -> Self {
        Self::starting_at(0, limits)
    }

    fn starting_at(next_stream: u64, limits: Limits) -> Self {
        Self {
            readers: HashMap::new(),
            outbox: VecDeque::new(),
            next_stream,
            limits,
        }
    }

    /// Queues `message` on a new stream of this side.
    pub fn queue(&mut self, message: &SignalMessage) -> Result<(), QueueFull> {
        self.queue_frame(encode_frame(message))
    }

    /// Queues raw frame bytes on a new stream (a test client sends bad frames this way).
    pub fn queue_frame(&mut self, frame: Vec<u8>) -> Result<(), QueueFull> {
        if self.outbox.len() >= self.limits.queued {
            return Err(QueueFull);
        }
        let stream_id = self.next_stream;
        self.next_stream += 4;
        self.outbox.push_back(Outgoing {
            stream_id,
            frame,
            written: 0,
        });
        Ok(())
    }

    /// Replaces the budget; streams already half-read keep their bytes.
    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    /// Streams with a frame begun and not finished.
    pub fn half_read(&self) -> usize {
        self.readers.len()
    }

    /// Bytes of half-read frames held now.
    pub fn buffered(&self) -> usize {
        self.readers.values().map(FrameReader::buffered).sum()
    }

    /// Gives up every half-read frame, stopping its stream; how many were given up.
    pub fn abandon_partial<F: quiche::BufFactory>(
        &mut self,
        quic: &mut quiche::Connection<F>,
    ) -> usize {
        let n = self.readers.len();
        for (id, _) in self.readers.drain() {
            let _ = quic.stream_shutdown(id, quiche::Shutdown::Read, STREAM_FRAME_ERROR);
            let _ = quic.stream_shutdown(id, quiche::Shutdown::Write, STREAM_FRAME_ERROR);
        }
        n
    }

    /// Messages not yet completely written.
    pub fn pending(&self) -> usize {
        self.outbox.len()
    }

    /// Writes queued frames, in order, as far as flow control allows; returns how many were
    /// completed. A stream quiche refuses (the peer stopped it) is given up.
    pub fn flush<F: quiche::BufFactory>(&mut self, quic: &mut quiche::Connection<F>) -> usize {
        let mut completed = 0;
        while let Some(out) = self.outbox.front_mut() {
            let rest = out.frame.get(out.written..).unwrap_or_default();
            match quic.stream_send(out.stream_id, rest, true) {
                Ok(n) => {
                    out.written += n;
                    if out.written < out.frame.len() {
                        return completed;
                    }
                }
                Err(quiche::Error::Done) => return completed,
                Err(e) => {
                    log::debug!(
                        "{}: signal stream {} refused: {e}",
                        quic.trace_id(),
                        out.stream_id
                    );
                }
            }
            self.outbox.pop_front();
            completed += 1;
        }
        completed
    }

    /// Reads every readable stream; whole messages and refusals are appended to `inbound` in
    /// the order they completed. `buf` is scratch space for one read.
    pub fn read<F: quiche::BufFactory>(
        &mut self,
        quic: &mut quiche::Connection<F>,
        buf: &mut [u8],
        inbound: &mut Vec<Inbound>,
    ) {
        while let Some(id) = quic.stream_readable_next() {
            if self.is_own(id) {
                // The peer's half of a stream this side opened carries only its FIN.
                while let Ok((_, false)) = quic.stream_recv(id, buf) {}
                continue;
            }
            self.read_stream(quic, id, buf, inbound);
        }
    }

    /// Whether this side opened stream `id` (stream IDs keep their initiator in the low bits).
    fn is_own(&self, id: u64) -> bool {
        id % 4 == self.next_stream % 4
    }

    /// Stops stream `id` in both directions and reports why.
    fn refuse<F: quiche::BufFactory>(
        &mut self,
        quic: &mut quiche::Connection<F>,
        id: u64,
        why: Inbound,
        inbound: &mut Vec<Inbound>,
    ) {
        self.readers.remove(&id);
        inbound.push(why);
        let _ = quic.stream_shutdown(id, quiche::Shutdown::Read, STREAM_FRAME_ERROR);
        let _ = quic.stream_shutdown(id, quiche::Shutdown::Write, STREAM_FRAME_ERROR);
    }

    fn read_stream<F: quiche::BufFactory>(
        &mut self,
        quic: &mut quiche::Connection<F>,
        id: u64,
        buf: &mut [u8],
        inbound: &mut Vec<Inbound>,
    ) {
        loop {
            let (len, fin) = match quic.stream_recv(id, buf) {
                Ok(r) => r,
                Err(quiche::Error::Done) => return,
                Err(_) => {
                    // Reset by the peer, or already stopped by us: nothing more will come.
                    self.readers.remove(&id);
                    return;
                }
            };
            if !self.readers.contains_key(&id) && self.readers.len() >= self.limits.open_readers {
                self.refuse(quic, id, Inbound::OverBudget, inbound);
                return;
            }
            let reader = self.readers.entry(id).or_default();
            if let Err(e) = reader.push(buf.get(..len).unwrap_or_default()) {
                self.refuse(quic, id, Inbound::Refused(e), inbound);
                return;
            }
            // Checked after the push, so a frame whose length prefix is over the cap is
            // refused as such; the chunk just read is released at once either way.
            if self.buffered() > self.limits.buffered_bytes {
                self.refuse(quic, id, Inbound::OverBudget, inbound);
                return;
            }
            if fin {
                if let Some(reader) = self.readers.remove(&id) {
                    inbound.push(match reader.finish() {
                        Ok(message) => Inbound::Message(message),
                        Err(e) => Inbound::Refused(e),
                    });
                }
                // Each side answers on streams of its own: finish our half of this one.
                let _ = quic.stream_send(id, &[], true);
                return;
            }
        }
    }
}
