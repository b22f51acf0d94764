//! Switchyard's sans-IO core: what one shard does between its socket and its rings, as state
//! machines that take values and `now` and return values.
//!
//! - [`endpoint`]: the per-shard [`Endpoint`]. It owns the quiche connections, the
//!   connection-ID table and held Initials, the join sessions, the rooms with their video state,
//!   and the relay's own timers. The shard loop (crate `switchyard-dataplane`) feeds it
//!   datagrams, hand-offs, directives and timeouts, and drains what it produced.
//! - The engines it composes, each pure and unit-tested on its own:
//!   [`rooms`] (membership, RoomUpdate), [`session`] (the join handshake), [`forward`]
//!   (fan-out), [`keyframes`] (the keyframe cache), [`pli`] (PictureLossIndication gate),
//!   [`layers`] (simulcast layer selection), [`room_media`] (the video state a room owns),
//!   [`deadlines`] (one timer heap per shard), [`steering`] (room owners, connection IDs, the
//!   reuseport program), [`conformance`] (Tiers A-E on every packet of a sender, the Tier F
//!   scorers and their sustained verdict), [`admission`] (Retry or accept, half-open
//!   budgets), [`address_validation`] (Retry tokens), [`stateless_reset`] (reset tokens and
//!   packets).
//! - [`signal_streams`]: WZP signal framing over QUIC streams, in and out; the load
//!   generator's client uses the same code.
//! - [`identity`]: Ed25519 identities, fingerprints and handshake signatures.
//!
//! # Purity, and the one exception
//!
//! Nothing here reads the clock, touches a socket or depends on an async runtime. The
//! dependency list enforces the second and third (no glommio, socket2 or libc to name), and
//! this crate's `clippy.toml` refuses `Instant::now`, `SystemTime::now`, `thread::sleep` and
//! std sockets. Every entry point takes `now`.
//!
//! quiche is the exception: it reads the monotonic clock itself inside `recv`, `send`, the
//! stream calls, `timeout` and `on_timeout`. The endpoint's own decisions (handshake and SNI
//! deadlines, hangup lingers, video ticks, counter reports, shutdown) follow the `now` it is
//! given, so they are tested by passing a later `now`. Where a test needs quiche's timers to
//! agree (loss recovery in the in-memory harness of `tests/`), that harness gives its thread a
//! virtual monotonic clock, so quiche and the endpoint see the same simulated time.
//!
//! # The drain contract
//!
//! Feed any number of inputs, then drain every output before waiting, in this order:
//! transmits (they may produce events), hand-offs, events, then [`Endpoint::poll_timeout`],
//! which is only valid after the drain. A shard loop turn:
//!
//! ```text
//! loop {
//!     wait for the socket, or until the endpoint's timeout, or a few ms for the rings
//!     let now = clock();
//!     endpoint.handle_timeout(now);                       // when due
//!     for datagram in socket batch { endpoint.handle_datagram(now, from, to, bytes) }
//!     for handoff in peer rings    { endpoint.handle_handoff(now, handoff) }
//!     for directive in ring        { endpoint.handle_directive(now, directive) }
//!     endpoint.poll_transmits(&mut batch); send batch;
//!     while let Some(h) = endpoint.poll_handoff() { push to the owner's ring }
//!     while let Some(e) = endpoint.poll_event()   { push to the control plane's ring }
//!     next wake = endpoint.poll_timeout();
//! }
//! ```

pub mod address_validation;
pub mod admission;
pub mod conformance;
pub mod deadlines;
pub mod endpoint;
pub mod forward;
pub mod identity;
pub mod keyframes;
pub mod layers;
pub mod pli;
pub mod room_media;
pub mod rooms;
pub mod session;
pub mod signal_streams;
pub mod stateless_reset;
pub mod steering;

pub use endpoint::{Endpoint, EndpointConfig, Handoff, HandoffKind, Timer, Transmit, Transmits};
