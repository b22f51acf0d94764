//! Codec ids and media types as they appear on the wire (one byte each) and in JSON
//! (variant names). Reserved ids (10 = H.264 main, 13 = VP9) and 14..=255 are rejected.

use serde::{Deserialize, Serialize};

/// What a stream carries; byte 2 of the MediaHeader.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum MediaType {
    Audio = 0,
    Video = 1,
    Data = 2,
    Control = 3,
}

impl MediaType {
    /// Every media type, in wire order.
    pub const ALL: [MediaType; 4] = [Self::Audio, Self::Video, Self::Data, Self::Control];

    pub fn from_wire(byte: u8) -> Option<Self> {
        match byte {
            0 => Some(Self::Audio),
            1 => Some(Self::Video),
            2 => Some(Self::Data),
            3 => Some(Self::Control),
            _ => None,
        }
    }

    pub fn to_wire(self) -> u8 {
        self as u8
    }
}

/// The codec of a media packet; byte 3 of the MediaHeader.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CodecId {
    Opus24k,
    Opus16k,
    Opus6k,
    Codec2_3200,
    Codec2_1200,
    ComfortNoise,
    Opus32k,
    Opus48k,
    Opus64k,
    H264Baseline,
    H265Main,
    Av1Main,
}

impl CodecId {
    /// Every codec the wire accepts.
    pub const ALL: [CodecId; 12] = [
        Self::Opus24k,
        Self::Opus16k,
        Self::Opus6k,
        Self::Codec2_3200,
        Self::Codec2_1200,
        Self::ComfortNoise,
        Self::Opus32k,
        Self::Opus48k,
        Self::Opus64k,
        Self::H264Baseline,
        Self::H265Main,
        Self::Av1Main,
    ];

    /// `None` for the reserved ids 10 and 13 and for 14..=255.
    pub fn from_wire(byte: u8) -> Option<Self> {
        Some(match byte {
            0 => Self::Opus24k,
            1 => Self::Opus16k,
            2 => Self::Opus6k,
            3 => Self::Codec2_3200,
            4 => Self::Codec2_1200,
            5 => Self::ComfortNoise,
            6 => Self::Opus32k,
            7 => Self::Opus48k,
            8 => Self::Opus64k,
            9 => Self::H264Baseline,
            11 => Self::H265Main,
            12 => Self::Av1Main,
            _ => return None,
        })
    }

    pub fn to_wire(self) -> u8 {
        match self {
            Self::Opus24k => 0,
            Self::Opus16k => 1,
            Self::Opus6k => 2,
            Self::Codec2_3200 => 3,
            Self::Codec2_1200 => 4,
            Self::ComfortNoise => 5,
            Self::Opus32k => 6,
            Self::Opus48k => 7,
            Self::Opus64k => 8,
            Self::H264Baseline => 9,
            Self::H265Main => 11,
            Self::Av1Main => 12,
        }
    }

    /// Position in [`Self::ALL`], for per-codec counters.
    pub fn index(self) -> usize {
        Self::ALL.iter().position(|c| *c == self).unwrap_or(0)
    }

    pub fn is_video(self) -> bool {
        matches!(self, Self::H264Baseline | Self::H265Main | Self::Av1Main)
    }

    /// Nominal bitrate in bits per second (reference table 1.8).
    pub fn nominal_bitrate_bps(self) -> u32 {
        match self {
            Self::Opus24k => 24_000,
            Self::Opus16k => 16_000,
            Self::Opus6k => 6_000,
            Self::Codec2_3200 => 3_200,
            Self::Codec2_1200 => 1_200,
            Self::ComfortNoise => 0,
            Self::Opus32k => 32_000,
            Self::Opus48k => 48_000,
            Self::Opus64k => 64_000,
            Self::H264Baseline | Self::H265Main | Self::Av1Main => 2_000_000,
        }
    }

    /// Frame duration in milliseconds (video: 33 ms, 30 fps).
    pub fn frame_ms(self) -> u8 {
        match self {
            Self::Opus6k | Self::Codec2_1200 => 40,
            Self::H264Baseline | Self::H265Main | Self::Av1Main => 33,
            _ => 20,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_codec_round_trips_through_its_wire_byte() {
        for codec in CodecId::ALL {
            assert_eq!(CodecId::from_wire(codec.to_wire()), Some(codec));
        }
    }

    #[test]
    fn codec_indices_follow_the_table() {
        for (i, codec) in CodecId::ALL.iter().enumerate() {
            assert_eq!(codec.index(), i);
        }
    }

    #[test]
    fn reserved_and_unknown_codec_ids_are_rejected() {
        assert_eq!(CodecId::from_wire(10), None, "H.264 main is reserved");
        assert_eq!(CodecId::from_wire(13), None, "VP9 is reserved");
        for byte in 14..=255u8 {
            assert_eq!(CodecId::from_wire(byte), None, "id {byte}");
        }
        let accepted = (0..=255u8)
            .filter(|b| CodecId::from_wire(*b).is_some())
            .count();
        assert_eq!(accepted, 12);
    }

    #[test]
    fn only_9_11_12_are_video() {
        let video: Vec<u8> = CodecId::ALL
            .iter()
            .filter(|c| c.is_video())
            .map(|c| c.to_wire())
            .collect();
        assert_eq!(video, vec![9, 11, 12]);
    }

    #[test]
    fn codec_json_uses_variant_names() {
        assert_eq!(
            serde_json::to_string(&CodecId::Opus24k).unwrap(),
            "\"Opus24k\""
        );
        assert_eq!(
            serde_json::to_string(&CodecId::Codec2_1200).unwrap(),
            "\"Codec2_1200\""
        );
        let c: CodecId = serde_json::from_str("\"H264Baseline\"").unwrap();
        assert_eq!(c, CodecId::H264Baseline);
    }

    #[test]
    fn media_type_bytes_above_3_are_rejected() {
        for mt in MediaType::ALL {
            assert_eq!(MediaType::from_wire(mt.to_wire()), Some(mt));
        }
        assert_eq!(MediaType::from_wire(4), None);
        assert_eq!(MediaType::from_wire(255), None);
    }
}
