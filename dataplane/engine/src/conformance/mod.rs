//! Relay conformance (reference section 5): what a joined sender may put through the relay.
//!
//! - [`limits`]: the numbers, per media type and codec (audio: the reference's; video: ours).
//! - [`meters`]: Tiers A-E per stream, on every packet.
//! - Tier F: [`audio_score`] and [`video_score`] turn a stream's behaviour into a legitimacy
//!   score in [0, 1]; [`verdict`] turns a score that stays low into Suspect or Abusive. The
//!   audio scorer sees every audio packet of a metered sender and is judged once a second
//!   ([`SenderConformance::judge`]); the video scorer is not on the packet path yet.
//! - [`SenderConformance`]: one sender's streams. It expands mini frames (so compact and mini
//!   frames are metered like full ones), holds ComfortNoise frames to the stream's speech codec
//!   (silence between speech is not a codec change), and applies each tier's [`Mode`].
//!
//! Modes follow the PRD's rollout: every tier starts observe-only (violations counted, media
//! forwarded); an operator enforces tier by tier (a failing packet is dropped and counted).

pub mod audio_score;
pub mod limits;
pub mod meters;
mod samples;
pub mod verdict;
pub mod video_score;

use audio_score::AudioScorer;
use limits::Limits;
use meters::{Failures, Packet, StreamMeter, Tier};
use std::time::Instant;
use switchyard_proto::codec::{CodecId, MediaType};
use switchyard_proto::compact::MiniContext;
use switchyard_proto::datagram::InboundDatagram;
use verdict::{SustainedVerdict, Verdict, VerdictConfig};

/// What a tier does with a failing packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Not checked.
    Off,
    /// Counted; the packet is forwarded.
    #[default]
    Observe,
    /// Counted; the packet is dropped.
    Enforce,
}

/// The mode of each of Tiers A-E.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ConformanceConfig {
    pub modes: [Mode; Tier::COUNT],
}

impl ConformanceConfig {
    pub fn mode(&self, tier: Tier) -> Mode {
        self.modes.get(tier.index()).copied().unwrap_or_default()
    }

    /// Every tier off: nothing is metered at all.
    pub fn is_off(&self) -> bool {
        self.modes.iter().all(|m| *m == Mode::Off)
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
    /// the first of them in enforcing mode, and the packet must then be dropped.
    Metered {
        codec: CodecId,
        flagged: Failures,
        enforced: Option<Tier>,
    },
}

/// One sender's conformance state.
#[derive(Debug, Default)]
pub struct SenderConformance {
    streams: Vec<((MediaType, u8), StreamMeter)>,
    mini: MiniContext,
    /// The codec of the sender's last audio frame that was not ComfortNoise.
    speech: Option<CodecId>,
    audio_score: AudioScorer,
    audio_verdict: SustainedVerdict,
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
        if header.media_type == MediaType::Audio {
            let quality = matches!(datagram, InboundDatagram::Media(p) | InboundDatagram::CompactFull(p) if p.quality.is_some());
            self.audio_score
                .observe(now, header.codec, payload_len, quality);
        }
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
        Check::Metered {
            codec: header.codec,
            flagged,
            enforced,
        }
    }

    /// The audio scorer's legitimacy now (`None` before it has enough packets) and the
    /// sustained verdict it leads to; called once a second.
    pub fn judge(&mut self, now: Instant, config: VerdictConfig) -> (Option<f64>, Verdict) {
        let score = self.audio_score.legitimacy();
        (score, self.audio_verdict.update(now, score, config))
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
