//! The SignalMessage schema: serde JSON, externally tagged (`{"CallOffer":{...}}`), every struct
//! variant carrying `version: u8` (default 1). Field names and types follow WZP v2 exactly;
//! byte arrays serialize as JSON arrays of numbers, as serde does by default.
//!
//! Variants this relay does not know fail to deserialize; [`crate::framing`] reports them as
//! `Unsupported` so the relay can skip them without closing the connection.

use crate::codec::CodecId;
use serde::{Deserialize, Serialize};

pub fn default_signal_version() -> u8 {
    1
}

pub fn default_protocol_version() -> u8 {
    2
}

pub fn default_supported_versions() -> Vec<u8> {
    vec![2]
}

/// The only protocol version this relay speaks.
pub const PROTOCOL_VERSION: u8 = 2;

/// Encoder priority when bandwidth is short.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum PriorityMode {
    #[default]
    AudioFirst,
    VideoFirst,
    ScreenShare,
    Balanced,
}

/// A complete encoder configuration. The relay sends only the six constants below.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct QualityProfile {
    pub codec: CodecId,
    pub fec_ratio: f32,
    pub frame_duration_ms: u8,
    pub frames_per_block: u8,
    #[serde(default)]
    pub priority_mode: PriorityMode,
    #[serde(default)]
    pub video_bitrate_kbps: Option<u32>,
    #[serde(default)]
    pub video_resolution: Option<(u16, u16)>,
    #[serde(default)]
    pub video_fps: Option<u8>,
}

const fn audio_profile(
    codec: CodecId,
    fec_ratio: f32,
    frame_ms: u8,
    per_block: u8,
) -> QualityProfile {
    QualityProfile {
        codec,
        fec_ratio,
        frame_duration_ms: frame_ms,
        frames_per_block: per_block,
        priority_mode: PriorityMode::AudioFirst,
        video_bitrate_kbps: None,
        video_resolution: None,
        video_fps: None,
    }
}

impl QualityProfile {
    pub const STUDIO_64K: Self = audio_profile(CodecId::Opus64k, 0.1, 20, 5);
    pub const STUDIO_48K: Self = audio_profile(CodecId::Opus48k, 0.1, 20, 5);
    pub const STUDIO_32K: Self = audio_profile(CodecId::Opus32k, 0.1, 20, 5);
    pub const GOOD: Self = audio_profile(CodecId::Opus24k, 0.2, 20, 5);
    pub const DEGRADED: Self = audio_profile(CodecId::Opus6k, 0.5, 40, 10);
    pub const CATASTROPHIC: Self = audio_profile(CodecId::Codec2_1200, 1.0, 40, 8);

    /// The six constants, from the lowest tier (0) to the highest (5).
    pub const TIERS: [Self; 6] = [
        Self::CATASTROPHIC,
        Self::DEGRADED,
        Self::GOOD,
        Self::STUDIO_32K,
        Self::STUDIO_48K,
        Self::STUDIO_64K,
    ];

    /// `nominal x (1 + fec_ratio)` in kbps.
    pub fn total_bitrate_kbps(&self) -> f32 {
        self.codec.nominal_bitrate_bps() as f32 / 1000.0 * (1.0 + self.fec_ratio)
    }
}

/// Conformance tier that a PolicyViolation names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ViolationCode {
    Bitrate,
    PacketRate,
    TimestampDrift,
    PayloadSize,
    RateCap,
    Entropy,
}

impl ViolationCode {
    /// Every code, in tier order (A-E, then F).
    pub const ALL: [Self; 6] = [
        Self::Bitrate,
        Self::PacketRate,
        Self::TimestampDrift,
        Self::PayloadSize,
        Self::RateCap,
        Self::Entropy,
    ];

    /// Position in [`Self::ALL`] (for per-code counters).
    pub fn index(self) -> usize {
        self as usize
    }
}

/// Why a call or a participant is hung up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum HangupReason {
    Normal,
    Busy,
    Declined,
    Timeout,
    Error,
    ProtocolVersionMismatch { server_supported: Vec<u8> },
    PolicyViolation { code: ViolationCode, reason: String },
}

/// One entry of a RoomUpdate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomParticipant {
    pub fingerprint: String,
    #[serde(default)]
    pub alias: Option<String>,
    #[serde(default)]
    pub relay_label: Option<String>,
}

/// The signal messages a room relay sends or receives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum SignalMessage {
    CallOffer {
        #[serde(default = "default_signal_version")]
        version: u8,
        identity_pub: [u8; 32],
        ephemeral_pub: [u8; 32],
        signature: Vec<u8>,
        supported_profiles: Vec<QualityProfile>,
        #[serde(default)]
        alias: Option<String>,
        #[serde(default = "default_protocol_version")]
        protocol_version: u8,
        #[serde(default = "default_supported_versions")]
        supported_versions: Vec<u8>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        video_codecs: Vec<CodecId>,
    },
    CallAnswer {
        #[serde(default = "default_signal_version")]
        version: u8,
        identity_pub: [u8; 32],
        ephemeral_pub: [u8; 32],
        signature: Vec<u8>,
        chosen_profile: QualityProfile,
        #[serde(default)]
        video_codec: Option<CodecId>,
    },
    AuthToken {
        #[serde(default = "default_signal_version")]
        version: u8,
        token: String,
    },
    Hangup {
        #[serde(default = "default_signal_version")]
        version: u8,
        reason: HangupReason,
        #[serde(default)]
        call_id: Option<String>,
    },
    RoomUpdate {
        #[serde(default = "default_signal_version")]
        version: u8,
        count: u32,
        participants: Vec<RoomParticipant>,
    },
    QualityDirective {
        #[serde(default = "default_signal_version")]
        version: u8,
        recommended_profile: QualityProfile,
        #[serde(default)]
        reason: Option<String>,
    },
    PictureLossIndication {
        #[serde(default = "default_signal_version")]
        version: u8,
        stream_id: u8,
    },
    Nack {
        #[serde(default = "default_signal_version")]
        version: u8,
        stream_id: u8,
        seqs: Vec<u32>,
    },
    TransportFeedback {
        #[serde(default = "default_signal_version")]
        version: u8,
        stream_id: u8,
        acked_seqs: Vec<u32>,
        nacked_seqs: Vec<u32>,
        remb_bps: u32,
        recv_time_us: u64,
    },
    SetPriorityMode {
        #[serde(default = "default_signal_version")]
        version: u8,
        mode: PriorityMode,
    },
    LossRecoveryUpdate {
        #[serde(default = "default_signal_version")]
        version: u8,
        dred_reconstructions: u64,
        classical_plc_invocations: u64,
        frames_decoded: u64,
    },
    Ping {
        #[serde(default = "default_signal_version")]
        version: u8,
        timestamp_ms: u64,
    },
    Pong {
        #[serde(default = "default_signal_version")]
        version: u8,
        timestamp_ms: u64,
    },
    Reflect,
    ReflectResponse {
        #[serde(default = "default_signal_version")]
        version: u8,
        observed_addr: String,
    },
    /// Relay -> client: may everyone move up to `proposed_profile`? (Reference 3.6.) In a
    /// room, `call_id` is the room name.
    UpgradeProposal {
        #[serde(default = "default_signal_version")]
        version: u8,
        #[serde(default)]
        call_id: String,
        proposal_id: u64,
        proposed_profile: QualityProfile,
        #[serde(default)]
        local_loss_pct: Option<f32>,
        #[serde(default)]
        local_rtt_ms: Option<u32>,
    },
    /// Client -> relay: the answer to one proposal.
    UpgradeResponse {
        #[serde(default = "default_signal_version")]
        version: u8,
        #[serde(default)]
        call_id: String,
        proposal_id: u64,
        accepted: bool,
        #[serde(default)]
        reason: Option<String>,
    },
    /// Relay -> client: everyone accepted; switch to `confirmed_profile` now.
    UpgradeConfirm {
        #[serde(default = "default_signal_version")]
        version: u8,
        #[serde(default)]
        call_id: String,
        proposal_id: u64,
        confirmed_profile: QualityProfile,
    },
    /// Client -> relay: never recommend this participant more than `max_profile`.
    QualityCapability {
        #[serde(default = "default_signal_version")]
        version: u8,
        #[serde(default)]
        call_id: String,
        max_profile: QualityProfile,
        #[serde(default)]
        loss_pct: Option<f32>,
        #[serde(default)]
        rtt_ms: Option<u32>,
    },
}

impl SignalMessage {
    /// Variant name, for logs and per-kind counters.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::CallOffer { .. } => "CallOffer",
            Self::CallAnswer { .. } => "CallAnswer",
            Self::AuthToken { .. } => "AuthToken",
            Self::Hangup { .. } => "Hangup",
            Self::RoomUpdate { .. } => "RoomUpdate",
            Self::QualityDirective { .. } => "QualityDirective",
            Self::PictureLossIndication { .. } => "PictureLossIndication",
            Self::Nack { .. } => "Nack",
            Self::TransportFeedback { .. } => "TransportFeedback",
            Self::SetPriorityMode { .. } => "SetPriorityMode",
            Self::LossRecoveryUpdate { .. } => "LossRecoveryUpdate",
            Self::Ping { .. } => "Ping",
            Self::Pong { .. } => "Pong",
            Self::Reflect => "Reflect",
            Self::ReflectResponse { .. } => "ReflectResponse",
            Self::UpgradeProposal { .. } => "UpgradeProposal",
            Self::UpgradeResponse { .. } => "UpgradeResponse",
            Self::UpgradeConfirm { .. } => "UpgradeConfirm",
            Self::QualityCapability { .. } => "QualityCapability",
        }
    }

    pub fn hangup(reason: HangupReason) -> Self {
        Self::Hangup {
            version: default_signal_version(),
            reason,
            call_id: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn call_offer_defaults_version_1_and_protocol_2() {
        let offer: SignalMessage = serde_json::from_value(json!({"CallOffer": {
            "identity_pub": vec![0; 32], "ephemeral_pub": vec![1; 32], "signature": [9, 9],
            "supported_profiles": [], "alias": "alice"
        }}))
        .unwrap();
        let SignalMessage::CallOffer {
            version,
            protocol_version,
            supported_versions,
            video_codecs,
            ..
        } = offer
        else {
            panic!("not an offer")
        };
        assert_eq!((version, protocol_version), (1, 2));
        assert_eq!(supported_versions, vec![2]);
        assert!(video_codecs.is_empty());
    }

    #[test]
    fn externally_tagged_forms() {
        assert_eq!(
            serde_json::to_value(SignalMessage::Reflect).unwrap(),
            json!("Reflect")
        );
        let hangup = SignalMessage::hangup(HangupReason::ProtocolVersionMismatch {
            server_supported: vec![2],
        });
        assert_eq!(
            serde_json::to_value(&hangup).unwrap(),
            json!({"Hangup": {"version": 1,
                "reason": {"ProtocolVersionMismatch": {"server_supported": [2]}}, "call_id": null}})
        );
        let normal = SignalMessage::hangup(HangupReason::Normal);
        assert_eq!(
            serde_json::to_value(&normal).unwrap()["Hangup"]["reason"],
            json!("Normal")
        );
        let pv = HangupReason::PolicyViolation {
            code: ViolationCode::Entropy,
            reason: "x".into(),
        };
        assert_eq!(
            serde_json::to_value(pv).unwrap(),
            json!({"PolicyViolation": {"code": "Entropy", "reason": "x"}})
        );
    }

    #[test]
    fn profile_json_without_video_fields_still_parses() {
        let p: QualityProfile = serde_json::from_value(json!({
            "codec": "Opus24k", "fec_ratio": 0.2, "frame_duration_ms": 20, "frames_per_block": 5
        }))
        .unwrap();
        assert_eq!(p, QualityProfile::GOOD);
    }

    #[test]
    fn six_profile_constants_match_the_reference_table() {
        let rows: Vec<_> = QualityProfile::TIERS
            .iter()
            .map(|p| {
                (
                    p.codec,
                    p.fec_ratio,
                    p.frame_duration_ms,
                    p.frames_per_block,
                )
            })
            .collect();
        assert_eq!(
            rows,
            vec![
                (CodecId::Codec2_1200, 1.0, 40, 8),
                (CodecId::Opus6k, 0.5, 40, 10),
                (CodecId::Opus24k, 0.2, 20, 5),
                (CodecId::Opus32k, 0.1, 20, 5),
                (CodecId::Opus48k, 0.1, 20, 5),
                (CodecId::Opus64k, 0.1, 20, 5),
            ]
        );
        assert!((QualityProfile::GOOD.total_bitrate_kbps() - 28.8).abs() < 1e-3);
    }

    #[test]
    fn negotiation_messages_use_the_reference_field_names() {
        let proposal = SignalMessage::UpgradeProposal {
            version: 1,
            call_id: "r".into(),
            proposal_id: 3,
            proposed_profile: QualityProfile::GOOD,
            local_loss_pct: None,
            local_rtt_ms: None,
        };
        let v = serde_json::to_value(&proposal).unwrap();
        assert_eq!(v["UpgradeProposal"]["proposal_id"], json!(3));
        assert_eq!(
            v["UpgradeProposal"]["proposed_profile"]["codec"],
            json!("Opus24k")
        );
        // A client may leave out call_id and the optional figures.
        let answer: SignalMessage = serde_json::from_value(json!({"UpgradeResponse": {
            "proposal_id": 3, "accepted": true
        }}))
        .unwrap();
        assert_eq!(
            answer,
            SignalMessage::UpgradeResponse {
                version: 1,
                call_id: String::new(),
                proposal_id: 3,
                accepted: true,
                reason: None,
            }
        );
        let cap: SignalMessage = serde_json::from_value(json!({"QualityCapability": {
            "max_profile": {"codec": "Opus6k", "fec_ratio": 0.5, "frame_duration_ms": 40,
                "frames_per_block": 10}
        }}))
        .unwrap();
        assert!(
            matches!(cap, SignalMessage::QualityCapability { max_profile, .. }
            if max_profile == QualityProfile::DEGRADED)
        );
    }

    #[test]
    fn every_variant_round_trips() {
        let messages = vec![
            SignalMessage::CallOffer {
                version: 1,
                identity_pub: [3; 32],
                ephemeral_pub: [4; 32],
                signature: vec![5; 64],
                supported_profiles: vec![QualityProfile::GOOD],
                alias: Some("a".into()),
                protocol_version: 2,
                supported_versions: vec![2],
                video_codecs: vec![CodecId::Av1Main, CodecId::H264Baseline],
            },
            SignalMessage::CallAnswer {
                version: 1,
                identity_pub: [1; 32],
                ephemeral_pub: [2; 32],
                signature: vec![1, 2],
                chosen_profile: QualityProfile::GOOD,
                video_codec: Some(CodecId::H265Main),
            },
            SignalMessage::AuthToken {
                version: 1,
                token: "t".into(),
            },
            SignalMessage::hangup(HangupReason::Busy),
            SignalMessage::RoomUpdate {
                version: 1,
                count: 1,
                participants: vec![RoomParticipant {
                    fingerprint: "ab".into(),
                    alias: None,
                    relay_label: Some("r".into()),
                }],
            },
            SignalMessage::QualityDirective {
                version: 1,
                recommended_profile: QualityProfile::DEGRADED,
                reason: Some("weakest link: Degraded".into()),
            },
            SignalMessage::PictureLossIndication {
                version: 1,
                stream_id: 2,
            },
            SignalMessage::Nack {
                version: 1,
                stream_id: 0,
                seqs: vec![1, 2],
            },
            SignalMessage::TransportFeedback {
                version: 1,
                stream_id: 1,
                acked_seqs: vec![1],
                nacked_seqs: vec![],
                remb_bps: 9,
                recv_time_us: 7,
            },
            SignalMessage::SetPriorityMode {
                version: 1,
                mode: PriorityMode::ScreenShare,
            },
            SignalMessage::LossRecoveryUpdate {
                version: 1,
                dred_reconstructions: 1,
                classical_plc_invocations: 2,
                frames_decoded: 3,
            },
            SignalMessage::Ping {
                version: 1,
                timestamp_ms: 5,
            },
            SignalMessage::Pong {
                version: 1,
                timestamp_ms: 5,
            },
            SignalMessage::Reflect,
            SignalMessage::ReflectResponse {
                version: 1,
                observed_addr: "127.0.0.1:1".into(),
            },
            SignalMessage::UpgradeProposal {
                version: 1,
                call_id: "room".into(),
                proposal_id: 7,
                proposed_profile: QualityProfile::GOOD,
                local_loss_pct: Some(0.5),
                local_rtt_ms: Some(40),
            },
            SignalMessage::UpgradeResponse {
                version: 1,
                call_id: "room".into(),
                proposal_id: 7,
                accepted: false,
                reason: Some("busy".into()),
            },
            SignalMessage::UpgradeConfirm {
                version: 1,
                call_id: "room".into(),
                proposal_id: 7,
                confirmed_profile: QualityProfile::STUDIO_32K,
            },
            SignalMessage::QualityCapability {
                version: 1,
                call_id: String::new(),
                max_profile: QualityProfile::DEGRADED,
                loss_pct: None,
                rtt_ms: Some(300),
            },
        ];
        for m in messages {
            let text = serde_json::to_string(&m).unwrap();
            assert!(text.contains(m.kind()), "{text}");
            let back: SignalMessage = serde_json::from_str(&text).unwrap();
            assert_eq!(back, m);
        }
    }
}
