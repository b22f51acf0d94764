//! Synthetic WZP media with measurement fields inside the (otherwise opaque) payload.
//!
//! Payload layout: `sender:u32 BE | send_time_us:u32 BE | check:u32 BE | filler`. `check` is
//! FNV-1a over the whole datagram with the check field zeroed, so a receiver detects any byte
//! the relay changed. Silence frames are 12 to 16 bytes, which the layout fits.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::time::Duration;
use switchyard_proto::codec::{CodecId, MediaType};
use switchyard_proto::media::{Flags, MediaHeader, MediaPacket, QualityReport, HEADER_LEN};

/// Bytes of measurement fields at the start of every payload.
pub const MEASURE_LEN: usize = 12;
/// Largest media datagram the video profile emits.
pub const MAX_VIDEO_PACKET: usize = 1200;
const CHECK_AT: usize = HEADER_LEN + 8;

/// What a participant sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, clap::ValueEnum)]
pub enum Profile {
    /// Opus24k speech: 50 packets/s, 10-40 % silence frames, a QualityReport every 50 packets.
    Audio,
    /// H.264 at 30 frames/s, a keyframe every 2 s, packets of at most 1200 B.
    Video,
}

impl Profile {
    /// Time between send ticks.
    pub fn interval(self) -> Duration {
        match self {
            Self::Audio => Duration::from_millis(20),
            Self::Video => Duration::from_micros(33_333),
        }
    }
}

/// Generates one participant's stream.
#[derive(Debug)]
pub struct MediaSource {
    profile: Profile,
    sender: u32,
    seq: u32,
    tick: u32,
    silence_fraction: f64,
    rng: StdRng,
}

impl MediaSource {
    pub fn new(profile: Profile, sender: u32, seed: u64) -> Self {
        let mut rng =
            StdRng::seed_from_u64(seed ^ u64::from(sender).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let silence_fraction = rng.gen_range(0.10..=0.40);
        Self {
            profile,
            sender,
            seq: 0,
            tick: 0,
            silence_fraction,
            rng,
        }
    }

    /// The datagrams of the next tick (one audio frame, or one video frame's packets),
    /// appended to `out` as separate buffers. `send_us` goes into every payload.
    pub fn next_tick(&mut self, send_us: u32, out: &mut Vec<Vec<u8>>) {
        match self.profile {
            Profile::Audio => self.audio_frame(send_us, out),
            Profile::Video => self.video_frame(send_us, out),
        }
        self.tick = self.tick.wrapping_add(1);
    }

    fn audio_frame(&mut self, send_us: u32, out: &mut Vec<Vec<u8>>) {
        let silent = self.rng.gen_bool(self.silence_fraction);
        let payload_len = if silent {
            self.rng.gen_range(MEASURE_LEN..=16)
        } else {
            self.rng.gen_range(40..=80)
        };
        let quality = (self.tick % 50 == 49).then_some(QualityReport {
            loss: 0,
            rtt_4ms: 1,
            jitter_ms: 2,
            bitrate_cap_kbps: 200,
        });
        let header = MediaHeader {
            flags: Flags::empty(),
            media_type: MediaType::Audio,
            codec: if silent {
                CodecId::ComfortNoise
            } else {
                CodecId::Opus24k
            },
            stream_id: 0,
            fec_ratio: 20,
            seq: self.seq,
            timestamp: self.tick.wrapping_mul(20),
            fec_block: u16::try_from(self.tick / 5 % 256).unwrap_or(0),
        };
        self.seq = self.seq.wrapping_add(1);
        out.push(self.build(header, payload_len, quality, send_us));
    }

    fn video_frame(&mut self, send_us: u32, out: &mut Vec<Vec<u8>>) {
        let keyframe = self.tick.is_multiple_of(60);
        let frame_bytes: usize = if keyframe {
            self.rng.gen_range(20_000..=30_000)
        } else {
            self.rng.gen_range(1_500..=4_000)
        };
        let per_packet = MAX_VIDEO_PACKET - HEADER_LEN;
        let packets = frame_bytes.div_ceil(per_packet);
        let mut left = frame_bytes;
        for i in 0..packets {
            let payload_len = left.min(per_packet).max(MEASURE_LEN);
            left = left.saturating_sub(per_packet);
            let mut flags = Flags::empty();
            if keyframe {
                flags = flags.with(Flags::KEYFRAME);
            }
            if i + 1 == packets {
                flags = flags.with(Flags::FRAME_END);
            }
            let header = MediaHeader {
                flags,
                media_type: MediaType::Video,
                codec: CodecId::H264Baseline,
                stream_id: 0,
                fec_ratio: if keyframe { 50 } else { 10 },
                seq: self.seq,
                timestamp: self.tick.wrapping_mul(33),
                fec_block: u16::try_from(self.tick % 65_536).unwrap_or(0),
            };
            self.seq = self.seq.wrapping_add(1);
            out.push(self.build(header, payload_len, None, send_us));
        }
    }

    fn build(
        &mut self,
        header: MediaHeader,
        payload_len: usize,
        quality: Option<QualityReport>,
        send_us: u32,
    ) -> Vec<u8> {
        let mut payload = vec![0u8; payload_len.max(MEASURE_LEN)];
        payload[..4].copy_from_slice(&self.sender.to_be_bytes());
        payload[4..8].copy_from_slice(&send_us.to_be_bytes());
        self.rng.fill(&mut payload[MEASURE_LEN..]);
        let mut datagram = Vec::with_capacity(HEADER_LEN + payload.len() + 4);
        header.encode(&payload, quality, &mut datagram);
        let check = checksum(&datagram);
        datagram[CHECK_AT..CHECK_AT + 4].copy_from_slice(&check.to_be_bytes());
        datagram
    }
}

/// FNV-1a over the datagram with the check field read as zeros.
pub fn checksum(datagram: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for (i, b) in datagram.iter().enumerate() {
        let b = if (CHECK_AT..CHECK_AT + 4).contains(&i) {
            0
        } else {
            *b
        };
        h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
    }
    h
}

/// The measurement fields of a received datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received {
    pub sender: u32,
    pub seq: u32,
    pub send_us: u32,
    /// The checksum matched: the bytes are exactly what the sender sent.
    pub intact: bool,
}

/// Reads the measurement fields; `None` if the datagram is not one of ours.
pub fn inspect(datagram: &[u8]) -> Option<Received> {
    let packet = MediaPacket::parse(datagram).ok()?;
    let p = packet.payload;
    let field = |at: usize| -> Option<u32> {
        Some(u32::from_be_bytes(p.get(at..at + 4)?.try_into().ok()?))
    };
    Some(Received {
        sender: field(0)?,
        seq: packet.header.seq,
        send_us: field(4)?,
        intact: field(8)? == checksum(datagram),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audio_frames_carry_measurements_and_trailers() {
        let mut src = MediaSource::new(Profile::Audio, 7, 1);
        let mut out = Vec::new();
        for t in 0..200 {
            src.next_tick(t * 20_000, &mut out);
        }
        assert_eq!(out.len(), 200);
        let mut silent = 0;
        for (i, d) in out.iter().enumerate() {
            let r = inspect(d).unwrap();
            assert_eq!((r.sender, r.seq, r.intact), (7, i as u32, true));
            let p = MediaPacket::parse(d).unwrap();
            assert_eq!(p.quality.is_some(), i % 50 == 49);
            if p.payload.len() <= 16 {
                silent += 1;
            }
        }
        assert!(
            (10..=100).contains(&silent),
            "{silent} silence frames of 200"
        );
        let mut corrupted = out[3].clone();
        let last = corrupted.len() - 1;
        corrupted[last] ^= 1;
        assert!(!inspect(&corrupted).unwrap().intact);
    }

    #[test]
    fn video_keyframes_are_flagged_on_every_packet_and_frames_end() {
        let mut src = MediaSource::new(Profile::Video, 1, 2);
        let mut first = Vec::new();
        src.next_tick(0, &mut first);
        assert!(
            first.len() >= 17,
            "an I-frame of 20-30 KB spans many packets"
        );
        for (i, d) in first.iter().enumerate() {
            assert!(d.len() <= MAX_VIDEO_PACKET);
            let h = MediaPacket::parse(d).unwrap().header;
            assert!(h.flags.is_keyframe());
            assert_eq!(h.flags.is_frame_end(), i + 1 == first.len());
        }
        let mut second = Vec::new();
        src.next_tick(33_333, &mut second);
        assert!(second.len() <= 4);
        assert!(second
            .iter()
            .all(|d| !MediaPacket::parse(d).unwrap().header.flags.is_keyframe()));
    }
}
