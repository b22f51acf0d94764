//! Switchyard's control plane: one thread, fed by the shards, never on the packet path.
//!
//! Each shard has one bounded SPSC ring towards this thread (membership events, counters) and
//! one back (directives). A full ring drops the message and the sending side counts it; the
//! data plane never blocks on the control plane.
//!
//! - [`ring`]: the SPSC ring halves with drop counting.
//! - [`aggregator`]: the sans-IO aggregator: events in, a relay-wide [`aggregator::RelaySnapshot`] out.
//! - [`thread`]: the thread that owns the rings and the aggregator, and its handle.
//!
//! The quality judge (a later issue) plugs in beside the aggregator: it consumes per-participant
//! samples from the same rings and emits directives on the return rings.

pub mod aggregator;
pub mod ring;
pub mod thread;

pub use aggregator::{Aggregator, RelaySnapshot, RoomView};
pub use ring::{ring, RingReceiver, RingSender};
pub use thread::{ControlPlane, ControlPlaneHandle, ShardLink};
