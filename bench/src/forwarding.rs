//! One shard's forwarding path in-process, without sockets, for the benches.
//!
//! - [`EngineRoom`]: the engine steps only: parse the header, keyframe cache and simulcast
//!   registry, fan out, copy the original bytes into each receiver's bounded queue.
//! - [`QuicRoom`]: the same with real quiche connections in memory: the relay side decrypts
//!   the sender's packet, reads the datagram, parses, fans out with `dgram_send`, and encrypts
//!   one packet per receiver. Clients are pumped too (ACKs keep the windows open), but
//!   [`QuicRoom::forward`] times only the relay's part.

use crate::client::client_config;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use switchyard_dataplane::engine::forward::{forward_packet, FanOut, Packet};
use switchyard_dataplane::engine::keyframes::{CacheLedger, DEFAULT_SHARD_CAP, DEFAULT_STREAM_CAP};
use switchyard_dataplane::engine::layers::LayerPolicy;
use switchyard_dataplane::engine::rooms::{Member, RoomId, RoomTable};
use switchyard_dataplane::identity_store::tls_material;
use switchyard_proto::datagram::InboundDatagram;

const SLOT: usize = 1500;

/// A bounded per-receiver queue of datagram copies (no allocation after construction).
#[derive(Debug)]
pub struct ReceiverQueue {
    slots: Vec<[u8; SLOT]>,
    lens: Vec<usize>,
    head: usize,
    len: usize,
}

impl ReceiverQueue {
    pub fn new(capacity: usize) -> Self {
        Self {
            slots: vec![[0; SLOT]; capacity],
            lens: vec![0; capacity],
            head: 0,
            len: 0,
        }
    }

    /// Copies `data` in; `false` when full (the copy is dropped).
    pub fn push(&mut self, data: &[u8]) -> bool {
        let cap = self.slots.len();
        if self.len == cap || data.len() > SLOT {
            return false;
        }
        let at = (self.head + self.len) % cap;
        if let (Some(slot), Some(len)) = (self.slots.get_mut(at), self.lens.get_mut(at)) {
            slot.get_mut(..data.len())
                .unwrap_or_default()
                .copy_from_slice(data);
            *len = data.len();
        }
        self.len += 1;
        true
    }

    pub fn clear(&mut self) {
        self.head = 0;
        self.len = 0;
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// The shard's per-packet room steps for a datagram member 0 sent: parse, then
/// [`forward_packet`]. `None` when the datagram is refused. `now` is the batch's time (the
/// shard reads the clock once per receive batch, not per packet).
fn relay_step(
    rooms: &mut RoomTable<usize>,
    room: RoomId,
    ledger: &mut CacheLedger,
    datagram: &[u8],
    now: Instant,
    deliver: impl FnMut(usize) -> bool,
) -> Option<FanOut> {
    let inbound = InboundDatagram::parse(datagram).ok()?;
    let (members, media) = rooms.split_mut(room)?;
    let packet = Packet {
        sender: 0,
        header: inbound.packet().map(|p| &p.header),
        datagram,
        now,
    };
    Some(
        forward_packet(
            members,
            media,
            ledger,
            &LayerPolicy::default(),
            packet,
            deliver,
        )
        .fan_out,
    )
}

fn bench_ledger() -> CacheLedger {
    CacheLedger::new(DEFAULT_STREAM_CAP, DEFAULT_SHARD_CAP)
}

/// A room of `fanout + 1` members on the engine alone.
#[derive(Debug)]
pub struct EngineRoom {
    rooms: RoomTable<usize>,
    room: RoomId,
    ledger: CacheLedger,
    now: Instant,
    queues: Vec<ReceiverQueue>,
}

impl EngineRoom {
    pub fn new(fanout: usize) -> Self {
        let mut rooms = RoomTable::new(fanout + 1);
        let mut room = None;
        for key in 0..=fanout {
            let member = Member {
                key,
                fingerprint: format!("fp{key}"),
                alias: None,
            };
            room = rooms.join("bench", member).ok().map(|c| c.room);
        }
        let queues = (0..=fanout).map(|_| ReceiverQueue::new(1024)).collect();
        Self {
            rooms,
            room: room.unwrap_or_else(|| unreachable!("capacity fits every member")),
            ledger: bench_ledger(),
            now: Instant::now(),
            queues,
        }
    }

    /// Member 0 sends `datagram`.
    pub fn forward(&mut self, datagram: &[u8]) -> FanOut {
        let queues = &mut self.queues;
        let out = relay_step(
            &mut self.rooms,
            self.room,
            &mut self.ledger,
            datagram,
            self.now,
            |k| queues.get_mut(k).is_some_and(|q| q.push(datagram)),
        )
        .unwrap_or_default();
        if queues.get(1).is_some_and(|q| q.len() > 512) {
            queues.iter_mut().for_each(ReceiverQueue::clear);
        }
        out
    }
}

struct Pair {
    client: quiche::Connection,
    server: quiche::Connection,
}

fn pump(
    from: &mut quiche::Connection,
    to: &mut quiche::Connection,
    buf: &mut [u8],
    from_addr: SocketAddr,
    to_addr: SocketAddr,
) -> usize {
    let mut packets = 0;
    while let Ok((len, _)) = from.send(buf) {
        if let Some(p) = buf.get_mut(..len) {
            let _ = to.recv(
                p,
                quiche::RecvInfo {
                    from: from_addr,
                    to: to_addr,
                },
            );
        }
        packets += 1;
    }
    packets
}

/// A room of `fanout + 1` in-memory quiche client/relay connection pairs.
pub struct QuicRoom {
    pairs: Vec<Pair>,
    rooms: RoomTable<usize>,
    room: RoomId,
    ledger: CacheLedger,
    buf: Vec<u8>,
    dgram: Vec<u8>,
    client_addr: SocketAddr,
    relay_addr: SocketAddr,
    _dir: PathBuf,
}

impl std::fmt::Debug for QuicRoom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QuicRoom")
            .field("members", &self.pairs.len())
            .finish()
    }
}

impl QuicRoom {
    pub fn new(fanout: usize) -> Result<Self, String> {
        let dir = std::env::temp_dir().join(format!("switchyard-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let (cert, key, _) = tls_material(&[9; 32]).map_err(|e| e.to_string())?;
        let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&cert_path, cert).map_err(|e| e.to_string())?;
        std::fs::write(&key_path, key).map_err(|e| e.to_string())?;
        let mut server_cfg =
            quiche::Config::new(quiche::PROTOCOL_VERSION).map_err(|e| e.to_string())?;
        server_cfg
            .load_cert_chain_from_pem_file(&cert_path.to_string_lossy())
            .map_err(|e| e.to_string())?;
        server_cfg
            .load_priv_key_from_pem_file(&key_path.to_string_lossy())
            .map_err(|e| e.to_string())?;
        server_cfg
            .set_application_protos(&[b"wzp"])
            .map_err(|e| e.to_string())?;
        server_cfg.set_max_idle_timeout(60_000);
        server_cfg.set_initial_max_data(1 << 20);
        server_cfg.set_initial_max_streams_bidi(8);
        server_cfg.enable_dgram(true, 4096, 4096);
        let mut client_cfg = client_config().map_err(|e| e.to_string())?;
        let client_addr: SocketAddr = "127.0.0.1:5000".parse().map_err(|e| format!("{e}"))?;
        let relay_addr: SocketAddr = "127.0.0.1:4433".parse().map_err(|e| format!("{e}"))?;
        let mut buf = vec![0u8; 65_536];
        let mut pairs = Vec::new();
        let mut rooms = RoomTable::new(fanout + 1);
        let mut room = None;
        for key in 0..=fanout {
            let scid = [key as u8 + 1; 16];
            let mut client = quiche::connect(
                Some("bench"),
                &quiche::ConnectionId::from_ref(&scid),
                client_addr,
                relay_addr,
                &mut client_cfg,
            )
            .map_err(|e| e.to_string())?;
            let (len, _) = client.send(&mut buf).map_err(|e| e.to_string())?;
            let hdr = quiche::Header::from_slice(buf.get_mut(..len).unwrap_or_default(), 16)
                .map_err(|e| e.to_string())?;
            let sscid = [0xEE - key as u8; 16];
            let mut server = quiche::accept(
                &quiche::ConnectionId::from_ref(&sscid),
                None,
                relay_addr,
                client_addr,
                &mut server_cfg,
            )
            .map_err(|e| e.to_string())?;
            drop(hdr);
            let _ = server.recv(
                buf.get_mut(..len).unwrap_or_default(),
                quiche::RecvInfo {
                    from: client_addr,
                    to: relay_addr,
                },
            );
            for _ in 0..20 {
                pump(&mut server, &mut client, &mut buf, relay_addr, client_addr);
                pump(&mut client, &mut server, &mut buf, client_addr, relay_addr);
                if client.is_established() && server.is_established() {
                    break;
                }
            }
            if !(client.is_established() && server.is_established()) {
                return Err("in-memory handshake did not complete".into());
            }
            room = rooms
                .join(
                    "bench",
                    Member {
                        key,
                        fingerprint: format!("fp{key}"),
                        alias: None,
                    },
                )
                .ok()
                .map(|c| c.room);
            pairs.push(Pair { client, server });
        }
        Ok(Self {
            pairs,
            rooms,
            ledger: bench_ledger(),
            room: room.ok_or("room join failed")?,
            buf,
            dgram: vec![0u8; 65_536],
            client_addr,
            relay_addr,
            _dir: dir,
        })
    }

    /// Member 0's client sends `datagram` through the relay to every other member. Returns the
    /// time the relay's side took: decrypt, read, parse, fan out, encrypt for each receiver.
    pub fn forward(&mut self, datagram: &[u8]) -> Duration {
        let Self {
            pairs,
            rooms,
            room,
            ledger,
            buf,
            dgram,
            client_addr,
            relay_addr,
            ..
        } = self;
        let (ca, ra) = (*client_addr, *relay_addr);
        let mut relay_time = Duration::ZERO;
        if let Some(sender) = pairs.get_mut(0) {
            let _ = sender.client.dgram_send(datagram);
            while let Ok((len, _)) = sender.client.send(buf) {
                let started = Instant::now();
                let _ = sender.server.recv(
                    buf.get_mut(..len).unwrap_or_default(),
                    quiche::RecvInfo { from: ca, to: ra },
                );
                relay_time += started.elapsed();
            }
        }
        let started = Instant::now();
        let now = started;
        while let Some(len) = pairs
            .get_mut(0)
            .and_then(|p| p.server.dgram_recv(dgram).ok())
        {
            let data = dgram.get(..len).unwrap_or_default();
            relay_step(rooms, *room, ledger, data, now, |k| {
                pairs
                    .get_mut(k)
                    .is_some_and(|p| p.server.dgram_send(data).is_ok())
            });
        }
        let mut out = Vec::with_capacity(pairs.len());
        for p in pairs.iter_mut().skip(1) {
            let mut packets = Vec::new();
            while let Ok((len, _)) = p.server.send(buf) {
                packets.push(buf.get(..len).unwrap_or_default().to_vec());
            }
            out.push(packets);
        }
        relay_time += started.elapsed();
        // Receivers read and acknowledge (client side, not timed).
        for (p, packets) in pairs.iter_mut().skip(1).zip(out) {
            for mut pkt in packets {
                let _ = p
                    .client
                    .recv(&mut pkt, quiche::RecvInfo { from: ra, to: ca });
            }
            while p.client.dgram_recv(dgram).is_ok() {}
            let started = Instant::now();
            pump(&mut p.client, &mut p.server, buf, ca, ra);
            relay_time += started.elapsed();
        }
        if let Some(sender) = pairs.get_mut(0) {
            let started = Instant::now();
            pump(&mut sender.server, &mut sender.client, buf, ra, ca);
            relay_time += started.elapsed();
        }
        relay_time
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::{MediaSource, Profile};

    fn packet() -> Vec<u8> {
        let mut out = Vec::new();
        MediaSource::new(Profile::Audio, 1, 1).next_tick(0, &mut out);
        out.remove(0)
    }

    #[test]
    fn engine_room_queues_one_copy_per_other_member() {
        let mut room = EngineRoom::new(4);
        assert_eq!(
            room.forward(&packet()),
            FanOut {
                queued: 4,
                dropped: 0,
                skipped: 0
            }
        );
        assert_eq!(room.forward(b"junk"), FanOut::default());
    }

    #[test]
    fn quic_room_delivers_to_every_receiver() {
        let mut room = QuicRoom::new(3).unwrap();
        let p = packet();
        for _ in 0..10 {
            room.forward(&p);
        }
        let received: Vec<u64> = room
            .pairs
            .iter()
            .map(|p| p.client.stats().dgram_recv as u64)
            .collect();
        assert_eq!(received, vec![0, 10, 10, 10]);
    }
}
