//! Relay conformance (reference section 5): what a joined sender may put through the relay.
//!
//! - [`limits`]: the numbers, per media type and codec (audio: the reference's; video: ours).
//! - [`meters`]: Tiers A-E per stream, on every packet.
//! - Tier F: [`audio_score`] and [`video_score`] turn a stream's behaviour into a legitimacy
//!   score in [0, 1] ([`allowed_rate`] gives the video scorer its bandwidth figures); [`verdict`]
//!   turns a score that stays low into Suspect or Abusive. The
//!   scorers see every packet of a metered sender and are judged once a second
//!   ([`SenderConformance::judge`]); the sender's score is the lower of the two.
//! - [`SenderConformance`]: one sender's streams. It expands mini frames (so compact and mini
//!   frames are metered like full ones), holds ComfortNoise frames to the stream's speech codec
//!   (silence between speech is not a codec change), and applies each tier's [`Mode`].
//! - Tier G ([`Response`]), carried out by the endpoint: an enforcing tier of A-E that fails a
//!   packet drops it and hangs the sender up (typed Hangup `PolicyViolation` with the tier's
//!   code); with Tier F enforcing, a Suspect sender is throttled (a tighter bucket, drops
//!   counted) and an Abusive one hung up (`Entropy`). Cool-downs and blocks of the identity
//!   are [`switchyard_proto::bans`].
//!
//! Modes follow the PRD's rollout: every tier starts observe-only (violations counted, media
//! forwarded); an operator enforces tier by tier.

pub mod allowed_rate;
pub mod audio_score;
pub mod limits;
pub mod meters;
mod samples;
pub mod verdict;
pub mod video_score;

use allowed_rate::AllowedRate;
use audio_score::AudioScorer;
use limits::Limits;
use meters::{Failures, Packet, StreamMeter, Tier};
use std::time::{Duration, Instant};
use switchyard_proto::bans::BanPolicy;
use switchyard_proto::codec::{CodecId, MediaType};
use switchyard_proto::compact::MiniContext;
use switchyard_proto::datagram::InboundDatagram;
use switchyard_proto::quality::Tier as QualityTier;
use switchyard_proto::signal::ViolationCode;
use verdict::{SustainedVerdict, Verdict, VerdictConfig};
use video_score::VideoScorer;

/// What a tier does with a failing packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Not checked.
    Off,
    /// Counted; the packet is forwarded.
    #[default]
    Observe,
    /// Counted; the packet is dropped and Tier G answers (see the module docs).
    Enforce,
}

/// The mode of each tier, the verdict rule and the cool-down policy.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ConformanceConfig {
    /// Tiers A-E.
    pub modes: [Mode; Tier::COUNT],
    /// Tier F: verdicts answered (enforce), only counted (observe), or not scored (off).
    pub scorers: Mode,
    pub verdict: VerdictConfig,
    pub bans: BanPolicy,
}

impl ConformanceConfig {
    pub fn mode(&self, tier: Tier) -> Mode {
        self.modes.get(tier.index()).copied().unwrap_or_default()
    }

    /// Every tier off: nothing is metered or scored at all.
    pub fn is_off(&self) -> bool {
        self.scorers == Mode::Off && self.modes.iter().all(|m| *m == Mode::Off)
    }
}

/// Streams of one sender metered apart; further ones share the last meter.
pub const MAX_METERED_STREAMS: usize = 8;

/// The result of one packet's check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// Not metered: a data or control stream, or a mini frame with no full header before it.
    Unmetered,
    /// Metered: the tiers that failed and are not off (counted), for this codec; `enforced` is
    /// the first of them in enforcing mode: the packet must be dropped and the sender hung up.
    /// `throttled`: the sender is Suspect and this packet is over its tighter bucket: drop it.
    Metered {
        codec: CodecId,
        flagged: Failures,
        enforced: Option<Tier>,
        throttled: bool,
    },
}

/// Tier G's answer to a sender's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Response {
    Allow,
    /// Suspect: its packets now pass a tighter bucket.
    Throttle,
    /// Abusive: typed Hangup with this code, close, cool-down.
    Close(ViolationCode),
}

/// One sender's once-a-second judgement.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Judgement {
    pub audio: Option<f64>,
    pub video: Option<f64>,
    /// The sustained verdict on the lower of the two scores.
    pub verdict: Verdict,
    /// What Tier G does about it (always `Allow` unless Tier F enforces).
    pub response: Response,
    /// Time since the sender's first metered packet.
    pub since_first_packet: Duration,
}

impl Judgement {
    /// The sender's score: the lower of its audio and video scores.
    pub fn score(&self) -> Option<f64> {
        match (self.audio, self.video) {
            (Some(a), Some(v)) => Some(a.min(v)),
            (a, v) => a.or(v),
        }
    }
}

/// One sender's conformance state.
#[derive(Debug)]
pub struct SenderConformance {
    streams: Vec<((MediaType, u8), StreamMeter)>,
    mini: MiniContext,
    /// The codec of the sender's last audio frame that was not ComfortNoise.
    speech: Option<CodecId>,
    audio_score: AudioScorer,
    video_score: VideoScorer,
    verdict: SustainedVerdict,
    /// Tier G: Suspect with Tier F enforcing.
    throttled: bool,
    first_packet: Option<Instant>,
    /// The video bitrate the judge allows it, and the comparison of its rates.
    allowed: AllowedRate,
}

fn video_kbps(tier: QualityTier) -> u32 {
    tier.profile_for(true).video_bitrate_kbps.unwrap_or(0)
}

impl Default for SenderConformance {
    /// A new sender: nothing metered yet, at the Good tier (as WZP clients start).
    fn default() -> Self {
        Self {
            streams: Vec::new(),
            mini: MiniContext::default(),
            speech: None,
            audio_score: AudioScorer::default(),
            video_score: VideoScorer::default(),
            verdict: SustainedVerdict::default(),
            throttled: false,
            first_packet: None,
            allowed: AllowedRate::new(video_kbps(QualityTier::Good)),
        }
    }
}

impl SenderConformance {
    /// Meters one accepted datagram of this sender.
    pub fn check(
        &mut self,
        now: Instant,
        datagram: &InboundDatagram<'_>,
        config: &ConformanceConfig,
    ) -> Check {
        let (header, payload_len) = match datagram {
            InboundDatagram::Media(p) | InboundDatagram::CompactFull(p) => {
                if p.header.media_type == MediaType::Audio {
                    self.mini.on_full(p.header);
                }
                (p.header, p.payload.len())
            }
            InboundDatagram::CompactMini { header, payload } => match self.mini.expand(*header) {
                Some(h) => (h, payload.len()),
                None => return Check::Unmetered,
            },
        };
        let codec = match (header.media_type, header.codec) {
            (MediaType::Audio, CodecId::ComfortNoise) => {
                self.speech.unwrap_or(CodecId::ComfortNoise)
            }
            (MediaType::Audio, codec) => *self.speech.insert(codec),
            (_, codec) => codec,
        };
        let Some(limits) = Limits::for_packet(header.media_type, codec) else {
            return Check::Unmetered;
        };
        let packet = Packet {
            seq: header.seq,
            timestamp: header.timestamp,
            payload_len,
        };
        self.first_packet.get_or_insert(now);
        if config.scorers != Mode::Off {
            match header.media_type {
                MediaType::Audio => {
                    let quality = matches!(datagram, InboundDatagram::Media(p) | InboundDatagram::CompactFull(p) if p.quality.is_some());
                    self.audio_score
                        .observe(now, header.codec, payload_len, quality);
                }
                MediaType::Video => self.video_score.observe(
                    now,
                    payload_len,
                    header.flags.is_keyframe(),
                    header.timestamp,
                ),
                MediaType::Data | MediaType::Control => {}
            }
        }
        let throttled = self.throttled;
        let Some(meter) = self.meter(header.media_type, header.stream_id) else {
            return Check::Unmetered;
        };
        let failed = meter.observe(now, packet, &limits);
        let mut flagged = Failures::default();
        let mut enforced = None;
        for tier in failed.iter() {
            match config.mode(tier) {
                Mode::Off => {}
                Mode::Observe => flagged = flagged.with_tier(tier),
                Mode::Enforce => {
                    flagged = flagged.with_tier(tier);
                    enforced = enforced.or(Some(tier));
                }
            }
        }
        let throttled =
            throttled && enforced.is_none() && !meter.throttle(now, payload_len, &limits);
        Check::Metered {
            codec: header.codec,
            flagged,
            enforced,
            throttled,
        }
    }

    /// The quality judge ordered this sender to `tier`: its video bitrate is the video
    /// scorer's bandwidth figure ([`allowed_rate`]).
    pub fn on_allowed_tier(&mut self, now: Instant, tier: QualityTier) {
        self.allowed
            .on_order(now, video_kbps(tier), &mut self.video_score);
    }

    /// The relay asked this sender for a keyframe: its answer is not held against it.
    pub fn on_keyframe_request(&mut self, now: Instant) {
        self.video_score.on_keyframe_request(now);
    }

    /// Moves the allowed-rate comparison on (once a second).
    pub fn tick(&mut self, now: Instant) {
        self.allowed.tick(now, &mut self.video_score);
    }

    /// The scores now (`None` before a scorer has enough packets), the sustained verdict,
    /// and Tier G's response; called once a second. With Tier F enforcing, a Suspect sender
    /// is throttled from now until its verdict steps down.
    pub fn judge(&mut self, now: Instant, config: &ConformanceConfig) -> Judgement {
        let mut judgement = Judgement {
            audio: self.audio_score.legitimacy(),
            video: self.video_score.legitimacy(),
            verdict: Verdict::Legitimate,
            response: Response::Allow,
            since_first_packet: self.since_first_packet(now),
        };
        judgement.verdict = self.verdict.update(now, judgement.score(), config.verdict);
        if config.scorers == Mode::Enforce {
            judgement.response = match judgement.verdict {
                Verdict::Legitimate => Response::Allow,
                Verdict::Suspect => Response::Throttle,
                Verdict::Abusive => Response::Close(ViolationCode::Entropy),
            };
        }
        self.throttled = judgement.response == Response::Throttle;
        judgement
    }

    /// Time since its first metered packet.
    pub fn since_first_packet(&self, now: Instant) -> Duration {
        self.first_packet
            .map_or(Duration::ZERO, |t| now.saturating_duration_since(t))
    }

    /// The sustained verdict as of the last judgement.
    pub fn verdict(&self) -> Verdict {
        self.verdict.current()
    }

    /// The stream's meter (a new stream gets one while there are fewer than the cap; beyond
    /// it, new streams share the last).
    fn meter(&mut self, media_type: MediaType, stream_id: u8) -> Option<&mut StreamMeter> {
        let key = (media_type, stream_id);
        let at = match self.streams.iter().position(|(k, _)| *k == key) {
            Some(i) => i,
            None => {
                if self.streams.len() < MAX_METERED_STREAMS {
                    self.streams.push((key, StreamMeter::new()));
                }
                self.streams.len().checked_sub(1)?
            }
        };
        self.streams.get_mut(at).map(|(_, meter)| meter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use switchyard_proto::compact::MiniHeader;
    use switchyard_proto::media::{Flags, MediaHeader, MediaPacket};

    fn header(codec: CodecId, seq: u32) -> MediaHeader {
        MediaHeader {
            flags: Flags::empty(),
            media_type: if codec.is_video() {
                MediaType::Video
            } else {
                MediaType::Audio
            },
            codec,
            stream_id: 0,
            fec_ratio: 0,
            seq,
            timestamp: seq * 20,
            fec_block: 0,
        }
    }

    fn full(header: MediaHeader, payload: &[u8]) -> InboundDatagram<'_> {
        InboundDatagram::Media(MediaPacket {
            header,
            payload,
            quality: None,
        })
    }

    fn modes(mode: Mode) -> ConformanceConfig {
        ConformanceConfig {
            modes: [mode; Tier::COUNT],
            scorers: mode,
            ..ConformanceConfig::default()
        }
    }

    #[test]
    fn modes_decide_what_is_counted_and_what_is_dropped() {
        let t0 = switchyard_testclock::origin();
        let stuffed = [0u8; 400];
        let mut observe = SenderConformance::default();
        let check = observe.check(
            t0,
            &full(header(CodecId::Opus24k, 0), &stuffed),
            &modes(Mode::Observe),
        );
        let Check::Metered {
            flagged, enforced, ..
        } = check
        else {
            panic!("metered")
        };
        assert_eq!(flagged.first(), Some(Tier::D));
        assert_eq!(enforced, None, "observe-only forwards");

        let mut enforce = SenderConformance::default();
        let check = enforce.check(
            t0,
            &full(header(CodecId::Opus24k, 0), &stuffed),
            &modes(Mode::Enforce),
        );
        assert!(matches!(
            check,
            Check::Metered {
                enforced: Some(Tier::D),
                ..
            }
        ));

        let mut off = SenderConformance::default();
        let mut d_off = modes(Mode::Enforce);
        d_off.modes[Tier::D.index()] = Mode::Off;
        let check = off.check(t0, &full(header(CodecId::Opus24k, 0), &stuffed), &d_off);
        assert!(
            matches!(check, Check::Metered { flagged, enforced: None, .. } if flagged.is_empty()),
            "{check:?}"
        );
    }

    #[test]
    fn mini_frames_are_metered_after_a_full_header_and_not_before() {
        let t0 = switchyard_testclock::origin();
        let config = modes(Mode::Enforce);
        let mut sender = SenderConformance::default();
        let mini = |payload| InboundDatagram::CompactMini {
            header: MiniHeader {
                seq_delta: 1,
                timestamp_delta_ms: 20,
                payload_len: 60,
            },
            payload,
        };
        let speech = [0u8; 60];
        assert_eq!(sender.check(t0, &mini(&speech), &config), Check::Unmetered);
        let first = sender.check(t0, &full(header(CodecId::Opus24k, 0), &speech), &config);
        assert!(matches!(first, Check::Metered { enforced: None, .. }));
        let next = sender.check(t0 + Duration::from_millis(20), &mini(&speech), &config);
        assert!(matches!(
            next,
            Check::Metered {
                codec: CodecId::Opus24k,
                enforced: None,
                ..
            }
        ));
        // Stuffed mini frames are held to the expanded codec's bound like full ones: the
        // payload EWMA crosses 320 B within a quarter second.
        let stuffed = [0u8; 700];
        let first_refused = (2..60u64).find(|i| {
            let at = t0 + Duration::from_millis(i * 20);
            matches!(
                sender.check(at, &mini(&stuffed), &config),
                Check::Metered {
                    enforced: Some(Tier::D),
                    ..
                }
            )
        });
        assert_eq!(
            first_refused,
            Some(12),
            "the 11th stuffed frame: 700 - 640 x 0.95^11 > 320"
        );
    }

    #[test]
    fn comfort_noise_between_speech_is_held_to_the_speech_codec() {
        let t0 = switchyard_testclock::origin();
        let config = modes(Mode::Enforce);
        let mut sender = SenderConformance::default();
        let speech = [0u8; 70];
        for seq in 0..100u32 {
            let codec = if seq % 3 == 0 {
                CodecId::ComfortNoise
            } else {
                CodecId::Opus24k
            };
            let payload = if codec == CodecId::ComfortNoise {
                &speech[..12]
            } else {
                &speech[..]
            };
            let at = t0 + Duration::from_millis(u64::from(seq) * 20);
            let check = sender.check(at, &full(header(codec, seq), payload), &config);
            assert!(
                matches!(check, Check::Metered { enforced: None, .. }),
                "packet {seq}: {check:?}"
            );
        }
    }

    #[test]
    fn data_streams_are_not_metered_and_streams_beyond_the_cap_share_a_meter() {
        let t0 = switchyard_testclock::origin();
        let config = modes(Mode::Enforce);
        let mut sender = SenderConformance::default();
        let mut data = header(CodecId::Opus24k, 0);
        data.media_type = MediaType::Data;
        assert_eq!(
            sender.check(t0, &full(data, &[0; 900]), &config),
            Check::Unmetered
        );
        for id in 0..20u8 {
            let mut h = header(CodecId::H264Baseline, u32::from(id));
            h.stream_id = id;
            sender.check(t0, &full(h, &[0; 1000]), &config);
        }
        assert_eq!(sender.streams.len(), MAX_METERED_STREAMS);
    }
}
