//! The anti-amplification limit (RFC 9000 8.1): before a client's address is validated, the
//! relay sends it at most three times what it received from it, however many times its own
//! loss recovery fires. The client's first flight reaches the relay once; every packet the
//! relay sends back is lost, so the relay never learns the address is real. Virtual time runs
//! past the handshake deadline, through every PTO the relay's handshake goes through.

switchyard_testclock::install_virtual_clock!();

use rand::rngs::StdRng;
use rand::SeedableRng;
use std::net::SocketAddr;
use std::time::Duration;
use switchyard_bench::client::client_config;
use switchyard_bench::forwarding::shard_settings;
use switchyard_engine::admission::RetryPolicy;
use switchyard_engine::{Endpoint, Transmits};
use switchyard_testclock::VirtualClock;

const RELAY: SocketAddr = SocketAddr::new(
    std::net::IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1)),
    4433,
);
const CLIENT: SocketAddr = SocketAddr::new(
    std::net::IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2)),
    40_000,
);

#[test]
fn before_validation_the_relay_sends_at_most_three_times_what_it_received() {
    let clock = VirtualClock::install().expect("the virtual clock is installed");
    let dir = std::env::temp_dir().join(format!("switchyard-amplification-{}", std::process::id()));
    let mut settings = shard_settings(&dir).unwrap();
    settings.endpoint.admission.retry = RetryPolicy::Never;
    let t0 = clock.now();
    let mut relay = Endpoint::new(
        settings.endpoint.clone(),
        settings.quic_config().unwrap(),
        StdRng::seed_from_u64(1),
        t0,
    );
    let mut client = quiche::connect(
        Some("room"),
        &quiche::ConnectionId::from_ref(&[0xaa; 16]),
        CLIENT,
        RELAY,
        &mut client_config().unwrap(),
    )
    .unwrap();

    let mut received = 0;
    let mut buf = [0u8; 1500];
    while let Ok((len, _)) = client.send(&mut buf) {
        received += len;
        relay.handle_datagram(clock.now(), CLIENT, RELAY, &mut buf[..len].to_vec());
    }
    assert!(received >= 1_200, "the client's first flight: {received} B");

    let mut sent = 0;
    let mut packets = 0;
    let mut out = Transmits::new();
    let deadline = t0 + Duration::from_secs(30);
    loop {
        relay.poll_transmits(&mut out);
        for (bytes, t) in out.iter() {
            assert_eq!(t.to, CLIENT);
            sent += bytes.len();
            packets += 1;
            assert!(
                sent <= 3 * received,
                "{sent} B sent after {received} B received, at {:?}",
                clock.now() - t0
            );
        }
        out.clear();
        while relay.poll_event().is_some() {}
        let Some((at, _)) = relay.poll_timeout() else {
            break;
        };
        if at > deadline {
            break;
        }
        clock.advance_to(at);
        relay.handle_timeout(clock.now());
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(packets > 2, "the relay did retransmit: {packets} packets");
    assert!(
        sent > 2 * received,
        "and used the budget it had ({sent} B for {received} B), so the limit is what held it"
    );
    assert_eq!(
        relay.connection_count(),
        0,
        "gone after the handshake deadline"
    );
}
