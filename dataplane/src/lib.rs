//! Switchyard's data plane runtime: the glommio shards that drive the sans-IO endpoints of
//! `switchyard-engine`, relay assembly, and what the `switchyard` binary needs to start.
//!
//! - [`shard`]: the thin shard loop (socket, rings, endpoint) and the reuseport socket group.
//! - [`relay`]: starts the shards and the control-plane thread and hands back a handle.
//! - [`config`], [`identity_store`], [`port_lock`]: what the binary needs to start.
//!
//! See `docs/architecture.md` for the shard model, the steering mechanism and the packet path.

pub mod config;
pub mod identity_store;
pub mod port_lock;
pub mod relay;
pub mod shard;
