//! Quality tiers: the six steps of the relay's quality ladder (reference 3.1), ordered from
//! Catastrophic (0) to Studio64k (5), each naming one [`QualityProfile`] constant.
//!
//! Clients map a directive to a local profile by codec only, so the relay sends exactly the six
//! constants; [`Tier::from_profile`] reads a client's profile back the same way. When a room
//! carries video, [`Tier::profile_for`] adds the video fields (bitrate, resolution, frame rate).
//! The reference defines those fields but no values per tier; the ladder below is Switchyard's,
//! its three lower rungs matching the load generator's simulcast layers.

use crate::codec::CodecId;
use crate::signal::QualityProfile;
use serde::{Deserialize, Serialize};

/// A step of the quality ladder. `Ord`: a lower tier is a worse network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    Catastrophic = 0,
    Degraded = 1,
    Good = 2,
    Studio32k = 3,
    Studio48k = 4,
    Studio64k = 5,
}

/// Video fields of a tier: (kbps, (width, height), frames per second).
const VIDEO_LADDER: [(u32, (u16, u16), u8); 6] = [
    (150, (320, 180), 15),
    (600, (640, 360), 30),
    (1_500, (960, 540), 30),
    (2_500, (1_280, 720), 30),
    (4_000, (1_920, 1_080), 30),
    (6_000, (1_920, 1_080), 30),
];

impl Tier {
    /// Every tier, lowest first.
    pub const ALL: [Tier; 6] = [
        Self::Catastrophic,
        Self::Degraded,
        Self::Good,
        Self::Studio32k,
        Self::Studio48k,
        Self::Studio64k,
    ];

    pub fn index(self) -> usize {
        self as usize
    }

    /// The next tier up, if any.
    pub fn up(self) -> Option<Tier> {
        Self::ALL.get(self.index() + 1).copied()
    }

    /// The tier's audio profile: one of the six constants.
    pub fn profile(self) -> QualityProfile {
        match self {
            Self::Catastrophic => QualityProfile::CATASTROPHIC,
            Self::Degraded => QualityProfile::DEGRADED,
            Self::Good => QualityProfile::GOOD,
            Self::Studio32k => QualityProfile::STUDIO_32K,
            Self::Studio48k => QualityProfile::STUDIO_48K,
            Self::Studio64k => QualityProfile::STUDIO_64K,
        }
    }

    /// The profile to send: with the tier's video fields when the room carries video.
    pub fn profile_for(self, with_video: bool) -> QualityProfile {
        let mut profile = self.profile();
        if with_video {
            if let Some(&(kbps, resolution, fps)) = VIDEO_LADDER.get(self.index()) {
                profile.video_bitrate_kbps = Some(kbps);
                profile.video_resolution = Some(resolution);
                profile.video_fps = Some(fps);
            }
        }
        profile
    }

    /// The tier a profile stands for, by codec only (as clients map directives); `None` for a
    /// codec that is no rung of the ladder.
    pub fn from_profile(profile: &QualityProfile) -> Option<Tier> {
        Some(match profile.codec {
            CodecId::Codec2_1200 => Self::Catastrophic,
            CodecId::Opus6k => Self::Degraded,
            CodecId::Opus24k => Self::Good,
            CodecId::Opus32k => Self::Studio32k,
            CodecId::Opus48k => Self::Studio48k,
            CodecId::Opus64k => Self::Studio64k,
            _ => return None,
        })
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Catastrophic => "Catastrophic",
            Self::Degraded => "Degraded",
            Self::Good => "Good",
            Self::Studio32k => "Studio32k",
            Self::Studio48k => "Studio48k",
            Self::Studio64k => "Studio64k",
        }
    }
}

impl std::fmt::Display for Tier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiers_name_the_six_constants_in_order() {
        let profiles: Vec<_> = Tier::ALL.iter().map(|t| t.profile()).collect();
        assert_eq!(profiles, QualityProfile::TIERS.to_vec());
        for tier in Tier::ALL {
            assert_eq!(Tier::from_profile(&tier.profile()), Some(tier));
            assert_eq!(Tier::from_profile(&tier.profile_for(true)), Some(tier));
        }
        assert!(Tier::Catastrophic < Tier::Good && Tier::Good < Tier::Studio64k);
        assert_eq!(Tier::Good.up(), Some(Tier::Studio32k));
        assert_eq!(Tier::Studio64k.up(), None);
    }

    #[test]
    fn codecs_off_the_ladder_have_no_tier() {
        let mut p = QualityProfile::GOOD;
        p.codec = CodecId::Opus16k;
        assert_eq!(Tier::from_profile(&p), None);
        p.codec = CodecId::H264Baseline;
        assert_eq!(Tier::from_profile(&p), None);
    }

    #[test]
    fn video_fields_only_when_asked_and_rising_with_the_tier() {
        assert_eq!(Tier::Degraded.profile_for(false), QualityProfile::DEGRADED);
        let rates: Vec<u32> = Tier::ALL
            .iter()
            .filter_map(|t| t.profile_for(true).video_bitrate_kbps)
            .collect();
        assert_eq!(rates.len(), 6);
        assert!(rates.windows(2).all(|w| w[0] < w[1]), "{rates:?}");
        let good = Tier::Good.profile_for(true);
        assert_eq!(good.video_resolution, Some((960, 540)));
        assert_eq!(good.video_fps, Some(30));
    }
}
