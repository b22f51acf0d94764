//! WZP media with measurement fields inside the (otherwise opaque) payload.
//!
//! Payload layout: `sender:u32 BE | send_time_us:u32 BE | check:u32 BE | ...`. `check` is
//! FNV-1a over the whole datagram with the check field zeroed, so a receiver detects any byte
//! the relay changed. Silence frames are 12 to 16 bytes, which the layout fits. Video packets
//! add `index:u16 BE | count:u16 BE` (the packet's place in its access unit), so a receiver
//! knows when it holds a whole keyframe; the rest is filler or real H.264 bytes.

use crate::annexb::AccessUnit;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::sync::Arc;
use std::time::Duration;
use switchyard_proto::codec::{CodecId, MediaType};
use switchyard_proto::compact::{CompactFrame, FRAME_TYPE_FULL};
use switchyard_proto::media::{Flags, MediaHeader, MediaPacket, QualityReport, HEADER_LEN};
use switchyard_proto::Tier;

/// Bytes of measurement fields at the start of every payload.
pub const MEASURE_LEN: usize = 12;
/// Measurement fields of a video payload (with the packet's place in its access unit).
pub const VIDEO_MEASURE_LEN: usize = 16;
/// Largest media datagram the video profiles emit.
pub const MAX_VIDEO_PACKET: usize = 1200;
const CHECK_AT: usize = HEADER_LEN + 8;
/// Access-unit bytes one video packet carries.
const VIDEO_CHUNK: usize = MAX_VIDEO_PACKET - HEADER_LEN - VIDEO_MEASURE_LEN;
/// Ticks between keyframes of the synthetic video profiles (2 s at 30 frames/s).
const GOP_TICKS: u32 = 60;

/// What a participant sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, clap::ValueEnum)]
pub enum Profile {
    /// Opus24k speech: 50 packets/s, 10-40 % silence frames, a QualityReport every 50 packets.
    /// Follows the relay's quality directives (codec, frame duration and size of the tier).
    Audio,
    /// H.264 at 30 frames/s, a keyframe every 2 s, packets of at most 1200 B.
    Video,
    /// Three simulcast layers (stream_id 0/1/2: 150/600/2500 kbps; 15/30/30 frames/s),
    /// keyframes every 2 s on every layer.
    Simulcast,
    /// A real H.264 Annex-B file (`--h264`), one access unit per 33 ms tick, looped.
    H264,
    /// Abusive: a ~4.8 Mbps tunnel declared as Opus24k (1,184 B payloads every 2 ms, no
    /// silence, no QualityReport).
    Tunnel,
    /// Abusive: Opus24k at its frame rate with stuffed 400 B payloads (no silence).
    Stuffed,
    /// Abusive: a covert timing channel declared as Opus24k: a frame every 20 ms exactly,
    /// never silent, no QualityReport, 50-70 B payloads (nothing Tiers A-E can see).
    Covert,
    /// Abusive: synthetic video in which every frame is a keyframe (4-8 KB, 30 frames/s).
    AllKeyframe,
    /// Abusive: synthetic video that never sends a keyframe, even when asked for one.
    NoKeyframe,
    /// Abusive: synthetic video (as `video`) that ignores the relay's quality directives: its
    /// rate never follows a bandwidth drop.
    BweIgnoring,
    /// Abusive: a tunnel in compact mini frames: one compact full Opus24k frame, then a mini
    /// frame every 20 ms with 300-400 B of junk.
    JunkMini,
}

impl Profile {
    /// Time between send ticks.
    pub fn interval(self) -> Duration {
        match self {
            Self::Audio => Duration::from_millis(20),
            Self::Video
            | Self::Simulcast
            | Self::H264
            | Self::AllKeyframe
            | Self::NoKeyframe
            | Self::BweIgnoring => Duration::from_micros(33_333),
            Self::Tunnel => Duration::from_millis(2),
            Self::Stuffed | Self::Covert | Self::JunkMini => Duration::from_millis(20),
        }
    }

    /// The profiles the relay's conformance must catch.
    pub fn is_abusive(self) -> bool {
        match self {
            Self::Audio | Self::Video | Self::Simulcast | Self::H264 => false,
            Self::Tunnel
            | Self::Stuffed
            | Self::Covert
            | Self::AllKeyframe
            | Self::NoKeyframe
            | Self::BweIgnoring
            | Self::JunkMini => true,
        }
    }
}

/// One synthetic video stream: its own seq and timestamp, frame sizes per kind.
#[derive(Debug, Clone)]
struct SyntheticLayer {
    stream_id: u8,
    seq: u32,
    /// Sends a frame every `every` ticks.
    every: u32,
    keyframe_bytes: (usize, usize),
    delta_bytes: (usize, usize),
}

impl SyntheticLayer {
    fn new(stream_id: u8, every: u32, keyframe: (usize, usize), delta: (usize, usize)) -> Self {
        Self {
            stream_id,
            seq: 0,
            every,
            keyframe_bytes: keyframe,
            delta_bytes: delta,
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
    layers: Vec<SyntheticLayer>,
    /// H.264 replay: the file's access units and the next one to send.
    h264: Option<(Arc<[AccessUnit]>, usize)>,
    /// A PictureLossIndication arrived: the next frame is a keyframe.
    keyframe_asked: bool,
    /// The audio encoder's profile: codec, frame duration, frame size follow it.
    audio: AudioEncoding,
    /// The RTP-style timestamp of the next audio frame (ms).
    audio_timestamp: u32,
    /// The trailer the next report-carrying frame attaches.
    report: QualityReport,
    /// Synthetic video frame sizes are a Good room's; other tiers scale them by their video
    /// bitrate against Good's.
    video_scale: f64,
}

/// What the audio encoder produces at one tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioEncoding {
    pub tier: Tier,
    pub codec: CodecId,
    pub frame_ms: u8,
    /// Payload bytes of a speech frame: nominal bitrate x frame duration.
    pub frame_bytes: usize,
}

impl AudioEncoding {
    pub fn for_tier(tier: Tier) -> Self {
        let profile = tier.profile();
        let bits =
            u64::from(profile.codec.nominal_bitrate_bps()) * u64::from(profile.frame_duration_ms);
        Self {
            tier,
            codec: profile.codec,
            frame_ms: profile.frame_duration_ms,
            frame_bytes: usize::try_from(bits / 8_000)
                .unwrap_or(MEASURE_LEN)
                .max(MEASURE_LEN),
        }
    }
}

impl MediaSource {
    pub fn new(profile: Profile, sender: u32, seed: u64) -> Self {
        let mut rng =
            StdRng::seed_from_u64(seed ^ u64::from(sender).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let silence_fraction = rng.gen_range(0.10..=0.40);
        let layers = match profile {
            Profile::Video | Profile::NoKeyframe | Profile::BweIgnoring => {
                vec![SyntheticLayer::new(0, 1, (20_000, 30_000), (1_500, 4_000))]
            }
            Profile::AllKeyframe => vec![SyntheticLayer::new(0, 1, (4_000, 8_000), (4_000, 8_000))],
            Profile::Simulcast => vec![
                SyntheticLayer::new(0, 2, (4_000, 6_000), (900, 1_400)),
                SyntheticLayer::new(1, 1, (9_000, 12_000), (2_000, 3_000)),
                SyntheticLayer::new(2, 1, (40_000, 55_000), (8_000, 12_000)),
            ],
            Profile::Audio
            | Profile::H264
            | Profile::Tunnel
            | Profile::Stuffed
            | Profile::Covert
            | Profile::JunkMini => Vec::new(),
        };
        Self {
            profile,
            sender,
            seq: 0,
            tick: 0,
            silence_fraction,
            rng,
            layers,
            h264: None,
            keyframe_asked: false,
            audio: AudioEncoding::for_tier(Tier::Good),
            audio_timestamp: 0,
            report: QualityReport {
                loss: 0,
                rtt_4ms: 1,
                jitter_ms: 2,
                bitrate_cap_kbps: 200,
            },
            video_scale: 1.0,
        }
    }

    /// The encoder moves to `tier` from the next frame on (audio: codec, frame duration and
    /// size; synthetic video: frame sizes scaled by the tier's video bitrate; sequence numbers
    /// and timestamps continue).
    pub fn set_tier(&mut self, tier: Tier) {
        if self.profile == Profile::BweIgnoring {
            return;
        }
        self.audio = AudioEncoding::for_tier(tier);
        let kbps = |t: Tier| t.profile_for(true).video_bitrate_kbps.unwrap_or(1);
        self.video_scale = f64::from(kbps(tier)) / f64::from(kbps(Tier::Good).max(1));
    }

    pub fn audio_encoding(&self) -> AudioEncoding {
        self.audio
    }

    /// The trailer the next report-carrying frame attaches (the client's view of its path).
    pub fn set_report(&mut self, report: QualityReport) {
        self.report = report;
    }

    /// Time between send ticks now (audio follows the tier's frame duration).
    pub fn interval(&self) -> Duration {
        match self.profile {
            Profile::Audio => Duration::from_millis(u64::from(self.audio.frame_ms)),
            profile => profile.interval(),
        }
    }

    /// A source replaying `units` (profile H264), starting at the first keyframe.
    pub fn h264(units: Arc<[AccessUnit]>, sender: u32, seed: u64) -> Self {
        let mut s = Self::new(Profile::H264, sender, seed);
        let first = units.iter().position(|u| u.keyframe).unwrap_or(0);
        s.h264 = Some((units, first));
        s
    }

    /// The publisher was asked for a keyframe: the next frame of every stream is one.
    pub fn request_keyframe(&mut self) {
        self.keyframe_asked = true;
    }

    /// The datagrams of the next tick (one audio frame, or one video frame's packets),
    /// appended to `out` as separate buffers. `send_us` goes into every payload.
    pub fn next_tick(&mut self, send_us: u32, out: &mut Vec<Vec<u8>>) {
        match self.profile {
            Profile::Audio => self.audio_frame(send_us, out),
            Profile::Video
            | Profile::Simulcast
            | Profile::AllKeyframe
            | Profile::NoKeyframe
            | Profile::BweIgnoring => self.synthetic_frames(send_us, out),
            Profile::H264 => self.h264_frame(send_us, out),
            Profile::Tunnel => self.abusive_audio(1_184, send_us, out),
            Profile::Stuffed => self.abusive_audio(400, send_us, out),
            Profile::Covert => {
                let len = self.rng.gen_range(50..=70);
                self.abusive_audio(len, send_us, out);
            }
            Profile::JunkMini => self.junk_mini(send_us, out),
        }
        self.tick = self.tick.wrapping_add(1);
    }

    /// An Opus24k-declared frame of `payload_len` bytes: never silent, never a report.
    fn abusive_audio(&mut self, payload_len: usize, send_us: u32, out: &mut Vec<Vec<u8>>) {
        let header = MediaHeader {
            flags: Flags::empty(),
            media_type: MediaType::Audio,
            codec: CodecId::Opus24k,
            stream_id: 0,
            fec_ratio: 20,
            seq: self.seq,
            timestamp: self.tick.wrapping_mul(20),
            fec_block: 0,
        };
        self.seq = self.seq.wrapping_add(1);
        let mut payload = vec![0u8; payload_len.max(MEASURE_LEN)];
        self.rng.fill(&mut payload[MEASURE_LEN..]);
        out.push(self.build(header, &mut payload, None, send_us));
    }

    /// The first tick: a compact full Opus24k frame (60 B of speech); every later one a mini
    /// frame of 300-400 B of junk (one sequence step, 20 ms).
    fn junk_mini(&mut self, send_us: u32, out: &mut Vec<Vec<u8>>) {
        let mut datagram = Vec::new();
        if self.tick == 0 {
            let header = MediaHeader {
                flags: Flags::empty(),
                media_type: MediaType::Audio,
                codec: CodecId::Opus24k,
                stream_id: 0,
                fec_ratio: 20,
                seq: self.seq,
                timestamp: 0,
                fec_block: 0,
            };
            let mut payload = vec![0u8; 60];
            self.rng.fill(&mut payload[MEASURE_LEN..]);
            let full = self.build(header, &mut payload, None, send_us);
            datagram.push(FRAME_TYPE_FULL);
            datagram.extend_from_slice(&full);
        } else {
            let mut junk = vec![0u8; self.rng.gen_range(300..=400)];
            self.rng.fill(&mut junk[..]);
            if CompactFrame::encode_mini(1, 20, &junk, &mut datagram).is_none() {
                return;
            }
        }
        self.seq = self.seq.wrapping_add(1);
        out.push(datagram);
    }

    fn audio_frame(&mut self, send_us: u32, out: &mut Vec<Vec<u8>>) {
        let silent = self.rng.gen_bool(self.silence_fraction);
        let encoding = self.audio;
        let payload_len = if silent {
            self.rng.gen_range(MEASURE_LEN..=16)
        } else {
            // Speech frames vary by a third around the tier's nominal size.
            let base = encoding.frame_bytes;
            self.rng.gen_range(base * 2 / 3..=base * 4 / 3)
        };
        let quality = (self.tick % 50 == 49).then_some(self.report);
        let profile = encoding.tier.profile();
        let header = MediaHeader {
            flags: Flags::empty(),
            media_type: MediaType::Audio,
            codec: if silent {
                CodecId::ComfortNoise
            } else {
                encoding.codec
            },
            stream_id: 0,
            fec_ratio: (profile.fec_ratio * 100.0).round() as u8,
            seq: self.seq,
            timestamp: self.audio_timestamp,
            fec_block: u16::try_from(self.tick / u32::from(profile.frames_per_block.max(1)) % 256)
                .unwrap_or(0),
        };
        self.seq = self.seq.wrapping_add(1);
        self.audio_timestamp = self
            .audio_timestamp
            .wrapping_add(u32::from(encoding.frame_ms));
        let mut payload = vec![0u8; payload_len.max(MEASURE_LEN)];
        self.rng.fill(&mut payload[MEASURE_LEN..]);
        out.push(self.build(header, &mut payload, quality, send_us));
    }

    fn synthetic_frames(&mut self, send_us: u32, out: &mut Vec<Vec<u8>>) {
        let forced = std::mem::take(&mut self.keyframe_asked);
        let mut layers = std::mem::take(&mut self.layers);
        for layer in &mut layers {
            if !self.tick.is_multiple_of(layer.every) {
                continue;
            }
            let keyframe = match self.profile {
                Profile::AllKeyframe => true,
                Profile::NoKeyframe => false,
                _ => forced || self.tick.is_multiple_of(GOP_TICKS),
            };
            let (lo, hi) = if keyframe {
                layer.keyframe_bytes
            } else {
                layer.delta_bytes
            };
            let len = (self.rng.gen_range(lo..=hi) as f64 * self.video_scale).round() as usize;
            let mut body = vec![0u8; len.max(1)];
            self.rng.fill(&mut body[..]);
            let mut seq = layer.seq;
            self.video_frame(layer.stream_id, &mut seq, &body, keyframe, send_us, out);
            layer.seq = seq;
        }
        self.layers = layers;
    }

    fn h264_frame(&mut self, send_us: u32, out: &mut Vec<Vec<u8>>) {
        let Some((units, next)) = self.h264.take() else {
            return;
        };
        let mut at = next % units.len().max(1);
        if std::mem::take(&mut self.keyframe_asked) {
            // Answer a PLI with the file's next IDR picture.
            if let Some(k) = (0..units.len())
                .map(|i| (at + i) % units.len())
                .find(|i| units.get(*i).is_some_and(|u| u.keyframe))
            {
                at = k;
            }
        }
        if let Some(unit) = units.get(at) {
            let mut seq = self.seq;
            self.video_frame(0, &mut seq, &unit.bytes, unit.keyframe, send_us, out);
            self.seq = seq;
        }
        self.h264 = Some((units, at + 1));
    }

    /// One access unit as packets of at most [`MAX_VIDEO_PACKET`] bytes: KeyFrame on every
    /// packet of a keyframe, FrameEnd on the last.
    fn video_frame(
        &mut self,
        stream_id: u8,
        seq: &mut u32,
        body: &[u8],
        keyframe: bool,
        send_us: u32,
        out: &mut Vec<Vec<u8>>,
    ) {
        let chunks: Vec<&[u8]> = if body.is_empty() {
            vec![&[][..]]
        } else {
            body.chunks(VIDEO_CHUNK).collect()
        };
        let count = u16::try_from(chunks.len()).unwrap_or(u16::MAX);
        for (i, chunk) in chunks.iter().enumerate() {
            let mut flags = Flags::empty();
            if keyframe {
                flags = flags.with(Flags::KEYFRAME);
            }
            if i + 1 == chunks.len() {
                flags = flags.with(Flags::FRAME_END);
            }
            let header = MediaHeader {
                flags,
                media_type: MediaType::Video,
                codec: CodecId::H264Baseline,
                stream_id,
                fec_ratio: if keyframe { 50 } else { 10 },
                seq: *seq,
                timestamp: self.tick.wrapping_mul(33),
                fec_block: u16::try_from(self.tick % 65_536).unwrap_or(0),
            };
            *seq = seq.wrapping_add(1);
            let mut payload = Vec::with_capacity(VIDEO_MEASURE_LEN + chunk.len());
            payload.resize(MEASURE_LEN, 0);
            payload.extend_from_slice(&u16::try_from(i).unwrap_or(u16::MAX).to_be_bytes());
            payload.extend_from_slice(&count.to_be_bytes());
            payload.extend_from_slice(chunk);
            out.push(self.build(header, &mut payload, None, send_us));
        }
    }

    /// Fills in the measurement fields of `payload` and returns the whole datagram.
    fn build(
        &mut self,
        header: MediaHeader,
        payload: &mut [u8],
        quality: Option<QualityReport>,
        send_us: u32,
    ) -> Vec<u8> {
        if let Some(fields) = payload.get_mut(..8) {
            fields[..4].copy_from_slice(&self.sender.to_be_bytes());
            fields[4..8].copy_from_slice(&send_us.to_be_bytes());
        }
        let mut datagram = Vec::with_capacity(HEADER_LEN + payload.len() + 4);
        header.encode(payload, quality, &mut datagram);
        let check = checksum(&datagram);
        if let Some(field) = datagram.get_mut(CHECK_AT..CHECK_AT + 4) {
            field.copy_from_slice(&check.to_be_bytes());
        }
        datagram
    }
}

/// The simulcast layer (0 low, 1 mid, 2 high) a video packet belongs to, as a counter index.
pub fn layer_index(header: &MediaHeader) -> Option<usize> {
    let id = usize::from(header.stream_id);
    (header.media_type == MediaType::Video && id < 3).then_some(id)
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
    pub header: MediaHeader,
    /// Video: the packet's index in its access unit and the unit's packet count.
    pub part: Option<(u16, u16)>,
}

/// Reads the measurement fields; `None` if the datagram is not one of ours.
pub fn inspect(datagram: &[u8]) -> Option<Received> {
    let packet = MediaPacket::parse(datagram).ok()?;
    let p = packet.payload;
    let field = |at: usize| -> Option<u32> {
        Some(u32::from_be_bytes(p.get(at..at + 4)?.try_into().ok()?))
    };
    let part = (packet.header.media_type == MediaType::Video)
        .then(|| {
            let word = field(MEASURE_LEN)?;
            Some(((word >> 16) as u16, (word & 0xffff) as u16))
        })
        .flatten();
    Some(Received {
        sender: field(0)?,
        seq: packet.header.seq,
        send_us: field(4)?,
        intact: field(8)? == checksum(datagram),
        header: packet.header,
        part,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_audio_encoder_follows_its_tier_and_keeps_counting() {
        let mut src = MediaSource::new(Profile::Audio, 3, 5);
        assert_eq!(src.interval(), Duration::from_millis(20));
        let mut good = Vec::new();
        for t in 0..100 {
            src.next_tick(t * 20_000, &mut good);
        }
        src.set_tier(Tier::Degraded);
        assert_eq!(src.interval(), Duration::from_millis(40));
        let mut degraded = Vec::new();
        for t in 0..100 {
            src.next_tick(2_000_000 + t * 40_000, &mut degraded);
        }
        let speech = |frames: &[Vec<u8>]| -> Vec<(CodecId, usize)> {
            frames
                .iter()
                .map(|d| MediaPacket::parse(d).unwrap())
                .filter(|p| p.header.codec != CodecId::ComfortNoise)
                .map(|p| (p.header.codec, p.payload.len()))
                .collect()
        };
        let mean = |s: &[(CodecId, usize)]| s.iter().map(|x| x.1).sum::<usize>() / s.len();
        let (g, d) = (speech(&good), speech(&degraded));
        assert!(g.iter().all(|x| x.0 == CodecId::Opus24k));
        assert!(d.iter().all(|x| x.0 == CodecId::Opus6k));
        // Opus24k x 20 ms = 60 B, Opus6k x 40 ms = 30 B.
        assert!((50..=70).contains(&mean(&g)), "{}", mean(&g));
        assert!((25..=35).contains(&mean(&d)), "{}", mean(&d));
        let headers: Vec<MediaHeader> = good
            .iter()
            .chain(&degraded)
            .map(|d| MediaHeader::read(d).unwrap())
            .collect();
        for (i, h) in headers.iter().enumerate() {
            assert_eq!(h.seq, i as u32, "sequence numbers run on across the switch");
        }
        assert_eq!(headers[100].timestamp, 2_000, "100 frames of 20 ms");
        assert_eq!(headers[101].timestamp, 2_040, "then 40 ms frames");
        assert_eq!(
            AudioEncoding::for_tier(Tier::Catastrophic).frame_bytes,
            MEASURE_LEN,
            "Codec2 1200 x 40 ms is 6 B: never below the measurement fields"
        );
    }

    #[test]
    fn synthetic_video_frames_scale_with_the_tiers_video_bitrate() {
        let bytes = |tier: Option<Tier>| {
            let mut src = MediaSource::new(Profile::Video, 4, 9);
            if let Some(t) = tier {
                src.set_tier(t);
            }
            let mut out = Vec::new();
            for t in 0..120 {
                src.next_tick(t * 33_333, &mut out);
            }
            out.iter().map(Vec::len).sum::<usize>() as f64
        };
        let good = bytes(None);
        assert!(
            (bytes(Some(Tier::Good)) - good).abs() < 1.0,
            "Good is the reference"
        );
        let degraded = bytes(Some(Tier::Degraded)) / good;
        // 600 of 1,500 kbps, plus per-packet headers that do not shrink.
        assert!((0.38..0.5).contains(&degraded), "{degraded}");
        let studio = bytes(Some(Tier::Studio64k)) / good;
        assert!((3.8..4.1).contains(&studio), "{studio}");
    }

    #[test]
    fn abusive_profiles_declare_opus24k_and_carry_what_it_cannot() {
        for (profile, payload, every) in [
            (Profile::Tunnel, 1_184, Duration::from_millis(2)),
            (Profile::Stuffed, 400, Duration::from_millis(20)),
        ] {
            let mut src = MediaSource::new(profile, 2, 3);
            assert_eq!(src.interval(), every);
            let mut out = Vec::new();
            for t in 0..60 {
                src.next_tick(t * 2_000, &mut out);
            }
            for (i, d) in out.iter().enumerate() {
                let p = MediaPacket::parse(d).unwrap();
                assert_eq!(
                    (p.header.codec, p.payload.len(), p.quality, p.header.seq),
                    (CodecId::Opus24k, payload, None, i as u32),
                    "{profile:?}"
                );
                assert!(inspect(d).unwrap().intact);
            }
        }
    }

    #[test]
    fn covert_timing_is_speech_sized_never_silent_and_never_reports() {
        let mut src = MediaSource::new(Profile::Covert, 2, 3);
        assert_eq!(src.interval(), Duration::from_millis(20));
        assert!(Profile::Covert.is_abusive() && !Profile::Audio.is_abusive());
        let mut out = Vec::new();
        for t in 0..500 {
            src.next_tick(t * 20_000, &mut out);
        }
        assert_eq!(out.len(), 500);
        for (i, d) in out.iter().enumerate() {
            let p = MediaPacket::parse(d).unwrap();
            assert_eq!(
                (p.header.codec, p.quality, p.header.seq, p.header.timestamp),
                (CodecId::Opus24k, None, i as u32, i as u32 * 20)
            );
            assert!((50..=70).contains(&p.payload.len()), "{}", p.payload.len());
        }
    }

    /// Packets of `profile` over `ticks` video ticks, with a keyframe asked for at tick 10.
    fn video_packets(profile: Profile, ticks: u32) -> Vec<MediaHeader> {
        let mut src = MediaSource::new(profile, 4, 9);
        let mut out = Vec::new();
        for t in 0..ticks {
            if t == 10 {
                src.request_keyframe();
            }
            src.next_tick(t * 33_333, &mut out);
        }
        out.iter().map(|d| MediaHeader::read(d).unwrap()).collect()
    }

    #[test]
    fn all_keyframe_video_flags_every_packet_and_stays_modest() {
        let headers = video_packets(Profile::AllKeyframe, 90);
        assert!(headers.iter().all(|h| h.flags.is_keyframe()));
        let frames = headers.iter().filter(|h| h.flags.is_frame_end()).count();
        assert_eq!(frames, 90, "one frame a tick");
        // 4-8 KB frames: 4 to 7 packets of at most 1200 B.
        assert!((360..=630).contains(&headers.len()), "{}", headers.len());
    }

    #[test]
    fn no_keyframe_video_never_sends_one_even_when_asked() {
        let headers = video_packets(Profile::NoKeyframe, 150);
        assert!(headers.iter().all(|h| !h.flags.is_keyframe()));
        assert_eq!(
            headers.iter().filter(|h| h.flags.is_frame_end()).count(),
            150
        );
        // Legitimate video sends a keyframe at tick 0 and when asked (tick 10).
        let legit = video_packets(Profile::Video, 150);
        let keyframes: std::collections::BTreeSet<u32> = legit
            .iter()
            .filter(|h| h.flags.is_keyframe())
            .map(|h| h.timestamp)
            .collect();
        assert_eq!(keyframes, [0, 330, 1_980, 3_960].into_iter().collect());
    }

    #[test]
    fn bwe_ignoring_video_keeps_its_rate_whatever_tier_it_is_told() {
        let bytes = |profile: Profile, tier: Option<Tier>| {
            let mut src = MediaSource::new(profile, 1, 2);
            if let Some(t) = tier {
                src.set_tier(t);
            }
            let mut out = Vec::new();
            for t in 0..120 {
                src.next_tick(t * 33_333, &mut out);
            }
            out.iter().map(Vec::len).sum::<usize>()
        };
        let ignoring = bytes(Profile::BweIgnoring, None);
        assert_eq!(
            bytes(Profile::BweIgnoring, Some(Tier::Catastrophic)),
            ignoring
        );
        assert_eq!(
            bytes(Profile::Video, None),
            ignoring,
            "the same stream as video"
        );
        assert!(bytes(Profile::Video, Some(Tier::Catastrophic)) < ignoring / 5);
    }

    #[test]
    fn junk_minis_follow_one_full_frame_and_parse_as_compact_frames() {
        use switchyard_proto::datagram::InboundDatagram;
        let mut src = MediaSource::new(Profile::JunkMini, 3, 4);
        let mut out = Vec::new();
        for t in 0..50 {
            src.next_tick(t * 20_000, &mut out);
        }
        assert_eq!(out.len(), 50);
        match InboundDatagram::parse(&out[0]).unwrap() {
            InboundDatagram::CompactFull(p) => {
                assert_eq!((p.header.codec, p.payload.len()), (CodecId::Opus24k, 60));
            }
            other => panic!("a compact full frame first, not {other:?}"),
        }
        for d in &out[1..] {
            match InboundDatagram::parse(d).unwrap() {
                InboundDatagram::CompactMini { header, payload } => {
                    assert_eq!((header.seq_delta, header.timestamp_delta_ms), (1, 20));
                    assert!((300..=400).contains(&payload.len()));
                    assert_eq!(usize::from(header.payload_len), payload.len());
                }
                other => panic!("mini frames after the first, not {other:?}"),
            }
        }
    }

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

    fn headers(out: &[Vec<u8>]) -> Vec<MediaHeader> {
        out.iter()
            .map(|d| MediaPacket::parse(d).unwrap().header)
            .collect()
    }

    #[test]
    fn simulcast_sends_three_layers_with_their_own_sequences() {
        let mut src = MediaSource::new(Profile::Simulcast, 3, 1);
        let mut first = Vec::new();
        src.next_tick(0, &mut first);
        let h = headers(&first);
        for layer in 0..3u8 {
            let packets: Vec<_> = h.iter().filter(|h| h.stream_id == layer).collect();
            assert!(
                !packets.is_empty(),
                "layer {layer} sends a keyframe at tick 0"
            );
            assert!(packets.iter().all(|p| p.flags.is_keyframe()));
            assert_eq!(packets[0].seq, 0, "each layer counts from 0");
            assert!(packets.last().unwrap().flags.is_frame_end());
        }
        let mut second = Vec::new();
        src.next_tick(33_333, &mut second);
        let layers: Vec<u8> = headers(&second).iter().map(|h| h.stream_id).collect();
        assert!(!layers.contains(&0), "the low layer runs at 15 frames/s");
        assert!(layers.contains(&1) && layers.contains(&2));
    }

    #[test]
    fn keyframe_request_makes_the_next_frame_a_keyframe() {
        let mut src = MediaSource::new(Profile::Video, 1, 2);
        let mut out = Vec::new();
        src.next_tick(0, &mut out);
        out.clear();
        src.next_tick(1, &mut out);
        assert!(headers(&out).iter().all(|h| !h.flags.is_keyframe()));
        src.request_keyframe();
        out.clear();
        src.next_tick(2, &mut out);
        assert!(headers(&out).iter().all(|h| h.flags.is_keyframe()));
    }

    #[test]
    fn h264_access_units_are_packetized_whole_and_in_order() {
        let idr = AccessUnit {
            bytes: (0..3000u32).map(|i| i as u8).collect(),
            keyframe: true,
        };
        let p = AccessUnit {
            bytes: vec![7; 100],
            keyframe: false,
        };
        let units: Arc<[AccessUnit]> = Arc::from(vec![p.clone(), idr.clone(), p.clone()]);
        let mut src = MediaSource::h264(units, 4, 1);
        let mut out = Vec::new();
        src.next_tick(0, &mut out);
        assert_eq!(out.len(), 3, "3000 B in packets of at most 1200 B");
        let mut body = Vec::new();
        for (i, d) in out.iter().enumerate() {
            assert!(d.len() <= MAX_VIDEO_PACKET);
            let r = inspect(d).unwrap();
            assert!(r.intact && r.header.flags.is_keyframe());
            assert_eq!(r.part, Some((i as u16, 3)));
            assert_eq!(r.header.flags.is_frame_end(), i == 2);
            body.extend_from_slice(&MediaPacket::parse(d).unwrap().payload[VIDEO_MEASURE_LEN..]);
        }
        assert_eq!(body, idr.bytes, "the access unit's bytes, unchanged");
        out.clear();
        src.next_tick(1, &mut out);
        assert_eq!(out.len(), 1);
        src.request_keyframe();
        out.clear();
        src.next_tick(2, &mut out);
        assert!(
            headers(&out)[0].flags.is_keyframe(),
            "a PLI jumps to the next IDR"
        );
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
