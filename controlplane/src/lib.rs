//! Switchyard's control plane: one thread, fed by the shards, never on the packet path.
//!
//! Each shard has one bounded SPSC ring towards this thread (membership events, counters,
//! quality samples and answers) and one back (directives, quality orders). A full ring drops
//! the message and the sending side counts it; the data plane never blocks on the control
//! plane.
//!
//! - [`ring`]: the SPSC ring halves with drop counting.
//! - [`aggregator`]: the sans-IO aggregator: events in, a relay-wide [`aggregator::RelaySnapshot`] out.
//! - [`judge`]: the sans-IO quality judge: membership and quality events in, quality orders
//!   (directives, upgrade proposals and confirmations) out for the shard that owns the room.
//! - [`warden`]: the sans-IO block list (Tier G): conformance hang-ups in, cool-downs and
//!   blocks out for every shard.
//! - [`thread`]: the thread that owns the rings, the aggregator, the judge and the warden, and
//!   its handle.

pub mod aggregator;
pub mod judge;
pub mod ring;
pub mod thread;
pub mod warden;

pub use aggregator::{Aggregator, RelaySnapshot, RoomView};
pub use judge::{Judge, JudgeConfig, JudgeStats, RoomPolicy};
pub use ring::{ring, RingReceiver, RingSender};
pub use thread::{ControlPlane, ControlPlaneHandle, ShardLink};
pub use warden::{Warden, WardenStats};
