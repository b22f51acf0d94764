//! Attack traffic for the relay's admission tests and the load generator's `--flood` modes:
//! real QUIC Initials (a fresh client connection each, whose first flight is sent and then
//! forgotten: a half-open handshake that never answers) or random junk, from many source
//! ports, at a steady rate, for a bounded time. It runs on a thread of its own with plain
//! sockets, and reads back (and counts) whatever the relay answers.

use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// What to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FloodKind {
    /// Real Initials of handshakes never completed, one new connection per datagram flight.
    Initials,
    /// Random bytes, 1 to 1,350 of them.
    Junk,
}

#[derive(Debug, Clone)]
pub struct FloodPlan {
    pub relay: SocketAddr,
    pub kind: FloodKind,
    /// Datagram flights a second (an Initial flight may be two datagrams).
    pub rate: u32,
    /// Source ports (sockets) the flood comes from, round robin.
    pub ports: usize,
    pub duration: Duration,
    /// The room names the Initials ask for cycle through this many.
    pub rooms: u32,
    /// Initials: 0 makes a new connection for every flight; N makes N first and replays them
    /// in turn, each time from the next port (captured Initials replayed by a spoofer; it lets
    /// a debug build flood at thousands a second).
    pub pool: usize,
    pub seed: u64,
}

/// What the flood did, and what came back.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FloodStats {
    pub flights: u64,
    pub datagrams_sent: u64,
    pub bytes_sent: u64,
    pub datagrams_received: u64,
    pub bytes_received: u64,
    /// Answers that were QUIC Retry packets.
    pub retries_received: u64,
}

/// Runs `plan` to its end on this thread.
pub fn run_flood(plan: &FloodPlan) -> std::io::Result<FloodStats> {
    let bind: SocketAddr = if plan.relay.is_ipv4() {
        "127.0.0.1:0".parse().map_err(std::io::Error::other)?
    } else {
        "[::1]:0".parse().map_err(std::io::Error::other)?
    };
    let sockets = (0..plan.ports.max(1))
        .map(|_| {
            let s = UdpSocket::bind(bind)?;
            s.set_nonblocking(true)?;
            Ok(s)
        })
        .collect::<std::io::Result<Vec<_>>>()?;
    let mut rng = StdRng::seed_from_u64(plan.seed);
    let mut config = flood_config().map_err(std::io::Error::other)?;
    let mut stats = FloodStats::default();
    let mut buf = vec![0u8; 1500];
    let mut pool = Vec::with_capacity(plan.pool);
    for i in 0..plan.pool {
        let room = format!("flood-{}", i as u64 % u64::from(plan.rooms.max(1)));
        if let Some(flight) = initial_flight(plan.relay, &room, &mut config, &mut rng, &mut buf) {
            pool.push(flight);
        }
    }
    let start = Instant::now();
    let interval = Duration::from_secs(1) / plan.rate.max(1);
    let mut next = start;
    while start.elapsed() < plan.duration {
        let now = Instant::now();
        if now < next {
            drain(&sockets, &mut buf, &mut stats);
            std::thread::sleep((next - now).min(Duration::from_millis(1)));
            continue;
        }
        // Catch up after a stall, but never by more than 10 ms of flights at once.
        let behind = now.duration_since(next).as_micros() / interval.as_micros().max(1);
        let due = (behind + 1).min(u128::from(plan.rate / 100).max(1));
        for _ in 0..due {
            let socket_index = (stats.flights as usize) % sockets.len();
            let Some(socket) = sockets.get(socket_index) else {
                break;
            };
            match plan.kind {
                FloodKind::Initials if !pool.is_empty() => {
                    let flight = pool.get(stats.flights as usize % pool.len());
                    for datagram in flight.into_iter().flatten() {
                        if socket.send_to(datagram, plan.relay).is_ok() {
                            stats.datagrams_sent += 1;
                            stats.bytes_sent += datagram.len() as u64;
                        }
                    }
                }
                FloodKind::Initials => {
                    let room = format!("flood-{}", stats.flights % u64::from(plan.rooms.max(1)));
                    send_initials(
                        socket,
                        plan.relay,
                        &room,
                        &mut config,
                        &mut rng,
                        &mut buf,
                        &mut stats,
                    );
                }
                FloodKind::Junk => {
                    let len = rng.gen_range(1..=1_350);
                    if let Some(junk) = buf.get_mut(..len) {
                        rng.fill_bytes(junk);
                        if socket.send_to(junk, plan.relay).is_ok() {
                            stats.datagrams_sent += 1;
                            stats.bytes_sent += len as u64;
                        }
                    }
                }
            }
            stats.flights += 1;
            next += interval;
        }
        drain(&sockets, &mut buf, &mut stats);
    }
    Ok(stats)
}

/// A client configuration whose ClientHello fits one Initial: X25519 alone, without the
/// post-quantum share that makes quiche's default hello span two. Cheaper to make, so one
/// core can flood at several thousand a second; the relay sees real, complete Initials.
fn flood_config() -> Result<quiche::Config, quiche::Error> {
    use boring::ssl::{SslContextBuilder, SslMethod};
    let mut tls = SslContextBuilder::new(SslMethod::tls()).map_err(|_| quiche::Error::TlsFail)?;
    tls.set_curves_list("X25519")
        .map_err(|_| quiche::Error::TlsFail)?;
    let mut c = quiche::Config::with_boring_ssl_ctx_builder(quiche::PROTOCOL_VERSION, tls)?;
    c.set_application_protos(&[b"wzp"])?;
    c.verify_peer(false);
    c.enable_dgram(true, 16, 16);
    Ok(c)
}

/// One new client connection's first flight, sent from `socket`, then forgotten.
fn send_initials(
    socket: &UdpSocket,
    relay: SocketAddr,
    room: &str,
    config: &mut quiche::Config,
    rng: &mut StdRng,
    buf: &mut [u8],
    stats: &mut FloodStats,
) {
    for datagram in initial_flight(relay, room, config, rng, buf)
        .into_iter()
        .flatten()
    {
        if socket.send_to(&datagram, relay).is_ok() {
            stats.datagrams_sent += 1;
            stats.bytes_sent += datagram.len() as u64;
        }
    }
}

/// The first flight of a new client connection to `relay`, asking for `room`.
fn initial_flight(
    relay: SocketAddr,
    room: &str,
    config: &mut quiche::Config,
    rng: &mut StdRng,
    buf: &mut [u8],
) -> Option<Vec<Vec<u8>>> {
    let mut scid = [0u8; 16];
    rng.fill_bytes(&mut scid);
    // The local address only matters to quiche's path bookkeeping, never on the wire.
    let local = SocketAddr::from(([127, 0, 0, 1], 9));
    let mut conn = quiche::connect(
        Some(room),
        &quiche::ConnectionId::from_ref(&scid),
        local,
        relay,
        config,
    )
    .ok()?;
    let mut flight = Vec::new();
    while let Ok((len, _)) = conn.send(buf) {
        flight.push(buf.get(..len)?.to_vec());
    }
    Some(flight)
}

fn drain(sockets: &[UdpSocket], buf: &mut [u8], stats: &mut FloodStats) {
    for socket in sockets {
        while let Ok((len, _)) = socket.recv_from(buf) {
            stats.datagrams_received += 1;
            stats.bytes_received += len as u64;
            if let Some(packet) = buf.get_mut(..len) {
                let retry = quiche::Header::from_slice(packet, 16)
                    .is_ok_and(|h| h.ty == quiche::Type::Retry);
                stats.retries_received += u64::from(retry);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_initial_flight_is_real_padded_and_version_1() {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let sink = UdpSocket::bind("127.0.0.1:0").unwrap();
        sink.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let mut stats = FloodStats::default();
        let mut buf = vec![0u8; 1500];
        send_initials(
            &socket,
            sink.local_addr().unwrap(),
            "room",
            &mut flood_config().unwrap(),
            &mut StdRng::seed_from_u64(1),
            &mut buf,
            &mut stats,
        );
        assert_eq!(stats.datagrams_sent, 1, "one datagram: an X25519 hello");
        let (len, _) = sink.recv_from(&mut buf).unwrap();
        assert!(len >= 1_200, "padded: {len}");
        let hdr = quiche::Header::from_slice(&mut buf[..len], 16).unwrap();
        assert_eq!((hdr.ty, hdr.version), (quiche::Type::Initial, 1));
    }

    #[test]
    fn a_flood_sends_at_its_rate_for_its_duration_and_stops() {
        let sink = UdpSocket::bind("127.0.0.1:0").unwrap();
        let plan = FloodPlan {
            relay: sink.local_addr().unwrap(),
            kind: FloodKind::Junk,
            rate: 2_000,
            ports: 4,
            duration: Duration::from_millis(500),
            rooms: 1,
            pool: 0,
            seed: 7,
        };
        let start = Instant::now();
        let stats = run_flood(&plan).unwrap();
        assert!(start.elapsed() < Duration::from_secs(2));
        assert!(
            (1..=1_001).contains(&stats.flights),
            "never more than 2,000/s allows in 0.5 s: {}",
            stats.flights
        );
        assert_eq!(stats.datagrams_sent, stats.flights);
    }
}
