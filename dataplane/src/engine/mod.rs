//! Sans-IO engines of the data plane. They take values (with `now` where time matters) and
//! return values; they never read the clock, touch a socket, or depend on glommio. The shard
//! loop in [`crate::shard`] owns the IO and drives them. A unit test in this module fails if
//! an engine file names glommio, `std::net`, or a clock read.
//!
//! - [`deadlines`]: the one timer structure per shard (earliest deadline across connections).
//! - [`forward`]: the fan-out of one datagram to the other members of its room.
//! - [`keyframes`]: the keyframe cache of a room, replayed to late joiners.
//! - [`layers`]: simulcast layer selection per receiver, with hysteresis and switches at
//!   keyframes.
//! - [`pli`]: PictureLossIndication dedup and flood bounds.
//! - [`room_media`]: the video state a room owns (cache, PLI gate, simulcast).
//! - [`rooms`]: room membership and fan-out targets; builds RoomUpdate on join and leave.
//! - [`session`]: the join handshake of one connection (auth gate, CallOffer, CallAnswer).
//! - [`steering`]: which shard owns a room, connection IDs that name their shard, and the
//!   classic BPF program that lets the kernel deliver packets to that shard.

pub mod deadlines;
pub mod forward;
pub mod keyframes;
pub mod layers;
pub mod pli;
pub mod room_media;
pub mod rooms;
pub mod session;
pub mod steering;

#[cfg(test)]
mod purity {
    #[test]
    fn engines_do_no_io_and_read_no_clock() {
        let files = [
            ("deadlines.rs", include_str!("deadlines.rs")),
            ("forward.rs", include_str!("forward.rs")),
            ("keyframes.rs", include_str!("keyframes.rs")),
            ("layers.rs", include_str!("layers.rs")),
            ("pli.rs", include_str!("pli.rs")),
            ("room_media.rs", include_str!("room_media.rs")),
            ("rooms.rs", include_str!("rooms.rs")),
            ("session.rs", include_str!("session.rs")),
            ("steering.rs", include_str!("steering.rs")),
        ];
        let banned = [
            "glommio",
            "std::net",
            concat!("Instant", "::now"),
            concat!("SystemTime", "::now"),
        ];
        for (name, text) in files {
            // Tests may make a time origin; the engine code above them may not.
            let code = text.split("#[cfg(test)]").next().unwrap_or(text);
            for word in banned {
                assert!(!code.contains(word), "{name} mentions {word}");
            }
        }
    }
}
