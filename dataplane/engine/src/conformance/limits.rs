//! The numbers Tiers A-E hold a stream to, per media type and codec.
//!
//! Audio follows the reference's formulas (5.2). The reference has no video table, and its
//! audio numbers applied to video would flag every real stream (a keyframe is dozens of
//! packets in one frame time), so video has its own, Switchyard's:
//!
//! | tier | audio (reference 5.2) | video (Switchyard) |
//! |---|---|---|
//! | A bitrate, 1 s window | `max(nominal x 3 x 1.15, 2000)` bps, plus headers (below) | 10 Mbps |
//! | B packet rate, 1 s window | `1.5 x 3 x 1000 / frame_ms` pps (225 at 20 ms) | 3,000 pps |
//! | C timestamps, 200 packets | mean Δts/Δseq within `frame_ms x [0.5, 2]` | media time within `[0.5, 2] x` wall time over >= 10 s |
//! | D payload EWMA (α 0.05) | `2 x` the codec's bound (320 B for Opus24k) | none: the path MTU bounds a video datagram |
//! | E token bucket | 32,000 B/s, 1,920,000 B (256 kbps, 30 s at 2x) | 625,000 B/s, 37,500,000 B (5 Mbps, 30 s at 2x) |
//!
//! Bytes are counted as the reference does: the 16-byte header plus the payload. Where Tier A
//! differs: the reference holds those bytes to a ceiling made from the payload's nominal rate
//! alone, so at Codec2 1200 (40 ms frames) the headers of an honest stream are 3,200 bps of
//! its 4,140 and every Catastrophic-tier speaker fails. Switchyard adds the headers of three
//! times the codec's packet rate (the same factor the payload gets): 16 x 8 x 3 x 1000 /
//! frame_ms, 19,200 bps at 20 ms frames.

use switchyard_proto::codec::{CodecId, MediaType};

/// Header bytes counted with every payload.
pub const HEADER_BYTES: u64 = 16;
/// Tier C's window, in packets.
pub const TIMESTAMP_WINDOW: usize = 200;
/// Tier D's EWMA weight of the newest payload.
pub const PAYLOAD_EWMA_ALPHA: f64 = 0.05;

/// What one packet's stream is held to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Tier A: bits per second over a 1 s window.
    pub ceiling_bps: u64,
    /// Tier B: packets per 1 s window.
    pub max_packets: u32,
    pub timestamps: TimestampRule,
    /// Tier D: the payload EWMA may not exceed this (bytes); `None`: not checked.
    pub payload_ewma_max: Option<f64>,
    /// Tier E: the bucket's refill (bytes per second) and capacity (bytes).
    pub bucket_rate: u64,
    pub bucket_capacity: u64,
    /// Tier G: the tighter bucket of a Suspect sender (bytes per second, bytes).
    pub throttle_rate: u64,
    pub throttle_capacity: u64,
}

/// Tier C's rule.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TimestampRule {
    /// Audio: the mean timestamp step per sequence step lies within these bounds (ms).
    PerPacket { min_ms: f64, max_ms: f64 },
    /// Video: media time advances at `[min, max]` times wall time.
    WallClock { min: f64, max: f64 },
}

/// Audio session cap: 256 kbps (PRD), 30 s of burst at twice that.
const AUDIO_BUCKET_RATE: u64 = 32_000;
const VIDEO_BUCKET_RATE: u64 = 625_000;
const BURST_SECONDS_AT_DOUBLE: u64 = 30 * 2;
/// A Suspect sender's bucket holds this many seconds of its throttled rate.
const THROTTLE_BURST_SECONDS: u64 = 2;
/// A Suspect video sender: the Good tier's 1.5 Mbps.
const VIDEO_THROTTLE_RATE: u64 = 187_500;

/// Tier D's typical payload per audio codec (reference 5.2), bytes.
fn payload_bound(codec: CodecId) -> u32 {
    match codec {
        CodecId::Opus64k => 320,
        CodecId::Opus48k => 240,
        CodecId::Opus32k => 200,
        CodecId::Opus24k => 160,
        CodecId::Opus16k => 100,
        CodecId::Opus6k => 90,
        CodecId::Codec2_3200 | CodecId::Codec2_1200 => 30,
        CodecId::ComfortNoise => 16,
        CodecId::H264Baseline | CodecId::H265Main | CodecId::Av1Main => 1_500,
    }
}

impl Limits {
    /// The limits of a packet of `media_type` in `codec`; `None` for media types that are not
    /// metered (data and control streams).
    pub fn for_packet(media_type: MediaType, codec: CodecId) -> Option<Self> {
        match media_type {
            MediaType::Audio if !codec.is_video() => Some(Self::audio(codec)),
            MediaType::Video => Some(Self::video()),
            // Audio declared in a video codec is held to video's looser table only if it
            // says video; otherwise it is audio with audio's tightest numbers.
            MediaType::Audio => Some(Self::audio(CodecId::ComfortNoise)),
            MediaType::Data | MediaType::Control => None,
        }
    }

    fn audio(codec: CodecId) -> Self {
        let nominal = u64::from(codec.nominal_bitrate_bps());
        let frame_ms = u64::from(codec.frame_ms()).max(1);
        // A Suspect sender keeps its codec's nominal rate plus 20 %, and its headers.
        let throttle_rate = nominal * 12 / 10 / 8 + HEADER_BYTES * 1000 / frame_ms;
        let headers_bps = HEADER_BYTES * 8 * 3 * 1000 / frame_ms;
        Self {
            ceiling_bps: (nominal * 3 * 115 / 100).max(2_000) + headers_bps,
            max_packets: u32::try_from(1000 / frame_ms * 3 * 3 / 2).unwrap_or(u32::MAX),
            timestamps: TimestampRule::PerPacket {
                min_ms: frame_ms as f64 * 0.5,
                max_ms: frame_ms as f64 * 2.0,
            },
            payload_ewma_max: Some(f64::from(payload_bound(codec)) * 2.0),
            bucket_rate: AUDIO_BUCKET_RATE,
            bucket_capacity: AUDIO_BUCKET_RATE * BURST_SECONDS_AT_DOUBLE,
            throttle_rate,
            throttle_capacity: throttle_rate * THROTTLE_BURST_SECONDS,
        }
    }

    fn video() -> Self {
        Self {
            ceiling_bps: 10_000_000,
            max_packets: 3_000,
            timestamps: TimestampRule::WallClock { min: 0.5, max: 2.0 },
            payload_ewma_max: None,
            bucket_rate: VIDEO_BUCKET_RATE,
            bucket_capacity: VIDEO_BUCKET_RATE * BURST_SECONDS_AT_DOUBLE,
            throttle_rate: VIDEO_THROTTLE_RATE,
            throttle_capacity: VIDEO_THROTTLE_RATE * THROTTLE_BURST_SECONDS,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audio_numbers_are_the_references() {
        let good = Limits::for_packet(MediaType::Audio, CodecId::Opus24k).unwrap();
        // The reference's 82,800 plus the headers of 150 packets a second.
        assert_eq!(good.ceiling_bps, 82_800 + 19_200);
        assert_eq!(good.max_packets, 225);
        assert_eq!(good.payload_ewma_max, Some(320.0));
        assert_eq!(
            good.timestamps,
            TimestampRule::PerPacket {
                min_ms: 10.0,
                max_ms: 40.0
            }
        );
        assert_eq!(
            (good.bucket_rate, good.bucket_capacity),
            (32_000, 1_920_000)
        );
        let limit = |c| Limits::for_packet(MediaType::Audio, c).unwrap();
        assert_eq!(limit(CodecId::Opus64k).ceiling_bps, 220_800 + 19_200);
        assert_eq!(
            limit(CodecId::Opus6k).ceiling_bps,
            20_700 + 9_600,
            "40 ms frames"
        );
        assert_eq!(limit(CodecId::Opus6k).max_packets, 112);
        assert_eq!(limit(CodecId::Codec2_1200).ceiling_bps, 4_140 + 9_600);
        assert_eq!(
            limit(CodecId::ComfortNoise).ceiling_bps,
            2_000 + 19_200,
            "the floor"
        );
    }

    #[test]
    fn a_suspect_sender_keeps_its_nominal_rate_plus_a_fifth_and_its_headers() {
        let opus24k = Limits::for_packet(MediaType::Audio, CodecId::Opus24k).unwrap();
        // 24,000 x 1.2 / 8 = 3,600 B/s of payload, 50 headers of 16 B.
        assert_eq!(opus24k.throttle_rate, 4_400);
        assert_eq!(opus24k.throttle_capacity, 8_800);
        let opus6k = Limits::for_packet(MediaType::Audio, CodecId::Opus6k).unwrap();
        assert_eq!(opus6k.throttle_rate, 900 + 400);
        let video = Limits::for_packet(MediaType::Video, CodecId::H264Baseline).unwrap();
        assert_eq!(
            (video.throttle_rate, video.throttle_capacity),
            (187_500, 375_000)
        );
    }

    #[test]
    fn video_has_its_own_table_and_data_is_not_metered() {
        let v = Limits::for_packet(MediaType::Video, CodecId::H264Baseline).unwrap();
        assert_eq!((v.ceiling_bps, v.max_packets), (10_000_000, 3_000));
        assert_eq!(v.payload_ewma_max, None);
        assert_eq!(v.bucket_rate, 625_000);
        assert!(Limits::for_packet(MediaType::Data, CodecId::Opus24k).is_none());
        let odd = Limits::for_packet(MediaType::Audio, CodecId::H264Baseline).unwrap();
        assert_eq!(
            odd.ceiling_bps,
            2_000 + 19_200,
            "audio in a video codec gets audio's floor"
        );
    }
}
