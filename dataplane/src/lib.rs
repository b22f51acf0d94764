//! Switchyard's data plane: sharded QUIC relay for WZP v2 rooms.
//!
//! - [`engine`]: sans-IO state machines (rooms, handshake sessions, deadlines, steering).
//! - [`shard`]: the glommio shard loop that owns a UDP socket, its quiche connections and the
//!   rooms it owns, and drives the engines.
//! - [`relay`]: starts the shards and the control-plane thread and hands back a handle.
//! - [`config`], [`identity`], [`identity_store`], [`port_lock`]: what the binary needs to start.
//!
//! See `docs/architecture.md` for the shard model, the steering mechanism and the packet path.

pub mod config;
pub mod engine;
pub mod identity;
pub mod identity_store;
pub mod port_lock;
pub mod relay;
pub mod shard;
