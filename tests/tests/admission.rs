//! Admission under attack, over loopback against a 2-shard relay: floods of real Initials that
//! never complete their handshake (the half-open attack), legitimate participants joining
//! through them, the relay's memory meanwhile; and a stateless reset reaching a client after
//! the relay restarts.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};
use switchyard_bench::client::{client_config, Client, ClientOptions, Phase};
use switchyard_bench::flood::{run_flood, FloodKind, FloodPlan, FloodStats};
use switchyard_bench::participant::ParticipantResult;
use switchyard_engine::identity::Identity;
use switchyard_proto::control::ShardCounters;
use switchyard_tests::{counters, load, relay_options, run_load, start};

/// This process's resident set (the relay runs in it), bytes.
fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

/// One flood at a time in this executable: they share two cores with the relay.
static FLOODS: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Floods `relay` with Initials at `rate` for `duration` on a thread; after 2 s of flood
/// alone, runs `legit`. The flood's figures, the legitimate results, and how much the
/// process's RSS grew over the 2 s of flood alone (the load generator's own memory left out).
fn flood_while(
    relay: SocketAddr,
    rate: u32,
    duration: Duration,
    legit: impl FnOnce() -> Vec<ParticipantResult>,
) -> (FloodStats, Vec<ParticipantResult>, u64) {
    let plan = FloodPlan {
        relay,
        kind: FloodKind::Initials,
        rate,
        ports: 256,
        duration,
        rooms: 1_000,
        pool: 4_096,
        seed: 11,
    };
    let _one_at_a_time = FLOODS.lock().unwrap_or_else(|e| e.into_inner());
    let before = rss();
    let flood = std::thread::spawn(move || run_flood(&plan).unwrap());
    std::thread::sleep(Duration::from_secs(2));
    let growth = rss().saturating_sub(before);
    let results = legit();
    let stats = flood.join().unwrap();
    (stats, results, growth)
}

fn assert_all_joined_and_heard(results: &[ParticipantResult]) {
    for r in results {
        assert!(
            r.joined,
            "participant {} did not join: {:?}",
            r.index, r.error
        );
        let expected: u64 = results
            .iter()
            .filter(|o| o.room == r.room && o.index != r.index)
            .map(|o| o.sent)
            .sum();
        assert!(
            r.stats.delivered * 100 >= expected * 95,
            "participant {} heard {} of {expected}",
            r.index,
            r.stats.delivered
        );
    }
}

#[test]
fn a_half_open_flood_at_three_times_3000_a_second_leaves_every_join_succeeding_and_rss_bounded() {
    let mut relay = start(relay_options("half-open-flood"));
    let config = load(&relay, 4, 4, Duration::from_secs(2));
    let (flood, results, growth) =
        flood_while(relay.local_addr, 9_000, Duration::from_secs(5), || {
            run_load(&config)
        });
    assert_all_joined_and_heard(&results);
    let c: ShardCounters = counters(&mut relay).total;
    eprintln!(
        "flood: {} Initials in 5 s; {} Retries back; RSS +{} KiB over its first 2 s; \
         accepted {}, half-open {}, abandoned {}",
        flood.datagrams_sent,
        flood.retries_received,
        growth >> 10,
        c.connections_accepted,
        c.half_open,
        c.initials_abandoned
    );
    assert!(
        flood.datagrams_sent > 5 * 9_000 * 9 / 10,
        "the flood ran at 9,000 a second: {} in 5 s",
        flood.datagrams_sent
    );
    assert!(
        c.retries_sent > flood.flights / 2,
        "most of it got Retries: {}",
        c.retries_sent
    );
    assert!(
        c.half_open <= 2 * 64 + 16,
        "half-open stays near the Retry threshold: {}",
        c.half_open
    );
    assert!(
        growth < 32 << 20,
        "RSS grew {} MiB under the flood alone",
        growth >> 20
    );
    relay.stop();
}

#[test]
fn an_initial_flood_of_ten_times_the_half_open_cap_leaves_legitimate_joins_succeeding() {
    let mut options = relay_options("cap-flood");
    options.admission.max_half_open = 50;
    options.admission.retry_above = 25;
    let mut relay = start(options);
    let config = load(&relay, 3, 4, Duration::from_secs(1));
    // 2 shards x 50 = 100 half-open at most; 1,000 flights a second for 2 s.
    let (flood, results, _) = flood_while(relay.local_addr, 1_000, Duration::from_secs(2), || {
        run_load(&config)
    });
    assert_all_joined_and_heard(&results);
    let c = counters(&mut relay).total;
    assert!(
        flood.flights >= 1_000,
        "ten times the cap: {}",
        flood.flights
    );
    assert!(c.half_open <= 100, "{}", c.half_open);
    assert!(c.retries_sent > 0);
    assert_eq!(
        c.handshakes_completed, 12,
        "every legitimate participant, and no one else"
    );
    relay.stop();
}

#[test]
fn a_stateless_reset_reaches_a_client_after_a_relay_restart() {
    let options = relay_options("restart");
    let identity = options.identity_path.clone();
    let relay = start(options);
    let addr = relay.local_addr;
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    let local = socket.local_addr().unwrap();
    let mut client = Client::connect(
        ClientOptions::new("restart-room"),
        Identity::from_secret([42; 32]),
        &[0x42; 16],
        local,
        addr,
        &mut client_config().unwrap(),
    )
    .unwrap();
    let mut buf = vec![0u8; 65_536];
    let step = |client: &mut Client, buf: &mut Vec<u8>| {
        let now = Instant::now();
        client.on_timeout(now);
        while let Some(out) = client.poll_transmit(buf, now) {
            socket.send_to(&buf[..out.len], out.to).unwrap();
        }
        if let Ok((len, from)) = socket.recv_from(buf) {
            client.on_datagram(&mut buf[..len], from, local);
        }
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    while !(client.phase() == Phase::Joined) && Instant::now() < deadline {
        step(&mut client, &mut buf);
    }
    assert!((client.phase() == Phase::Joined), "joined the first relay");

    // The relay goes away; its goodbye (a Hangup and a CONNECTION_CLOSE) is lost, as when a
    // relay is killed or its host reboots.
    relay.stop();
    while socket.recv_from(&mut buf).is_ok() {}
    let mut again = relay_options("restart");
    again.listen = addr;
    again.identity_path = identity;
    let relay = start(again);
    assert_eq!(relay.local_addr, addr);

    let sent_at = Instant::now();
    client.send_datagram(b"after the restart");
    while !client.is_closed() && sent_at.elapsed() < Duration::from_secs(5) {
        step(&mut client, &mut buf);
    }
    assert!(client.is_closed(), "the reset closed the client");
    assert!(
        sent_at.elapsed() < Duration::from_secs(2),
        "at once, not after the 30 s idle timeout: {:?}",
        sent_at.elapsed()
    );
    assert!(
        client.peer_error().is_none(),
        "a reset, not a CONNECTION_CLOSE"
    );
    relay.stop();
}
