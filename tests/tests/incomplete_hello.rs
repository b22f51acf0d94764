//! A connection whose ClientHello never completes: the relay sends nothing before it knows
//! the SNI (so the connection could still move to its owner shard), forgets it at the
//! handshake deadline, and counts it. The same client's complete ClientHello is then served.

use std::net::UdpSocket;
use std::time::Duration;
use switchyard_bench::client::client_config;
use switchyard_tests::{counters, relay_options, start};

#[test]
fn half_a_client_hello_gets_no_reply_and_is_forgotten() {
    let mut options = relay_options("hello");
    options.handshake_timeout = Duration::from_secs(2);
    let mut relay = start(options);
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let local = socket.local_addr().unwrap();
    let mut config = client_config().unwrap();
    let scid = quiche::ConnectionId::from_ref(&[7u8; 16]);
    let mut client = quiche::connect(
        Some("room-hello"),
        &scid,
        local,
        relay.local_addr,
        &mut config,
    )
    .unwrap();
    let mut initials = Vec::new();
    let mut buf = [0u8; 1500];
    while let Ok((len, _)) = client.send(&mut buf) {
        initials.push(buf[..len].to_vec());
    }
    assert!(
        initials.len() >= 2,
        "this client's ClientHello must span several Initials to test this"
    );

    socket.send_to(&initials[0], relay.local_addr).unwrap();
    // SNI_TIMEOUT is 3 s: nothing may come back in that time.
    socket
        .set_read_timeout(Some(Duration::from_millis(3_500)))
        .unwrap();
    let reply = socket.recv_from(&mut buf);
    assert!(reply.is_err(), "the relay answered before it knew the SNI");
    let snap = counters(&mut relay);
    assert_eq!(snap.total.initials_abandoned, 1);
    assert_eq!(snap.total.connections_accepted, 0);

    for d in &initials {
        socket.send_to(d, relay.local_addr).unwrap();
    }
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let (len, _) = socket
        .recv_from(&mut buf)
        .expect("a complete ClientHello is answered");
    assert!(len > 0);
    assert_eq!(counters(&mut relay).total.connections_accepted, 1);
    relay.stop();
}
