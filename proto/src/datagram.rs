//! Classifies one inbound QUIC DATAGRAM from a client and names the reason when it is dropped.
//!
//! A bare v2 packet starts with `0x02`; a compact frame starts with `0x00` (full) or `0x01`
//! (mini). Anything else (v1 packets, TrunkFrames, noise) is rejected. Every [`DropReason`]
//! has a stable label and index so the data plane can keep one counter per reason.

use crate::compact::{CompactError, CompactFrame, MiniHeader};
use crate::media::{MediaError, MediaPacket, VERSION};

/// A media datagram the relay accepts, borrowing the original bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InboundDatagram<'a> {
    /// Bare v2 packet: the form clients send today.
    Media(MediaPacket<'a>),
    /// Frame type `0x00` followed by a v2 packet.
    CompactFull(MediaPacket<'a>),
    /// Frame type `0x01`: audio MiniHeader, expanded by receivers.
    CompactMini {
        header: MiniHeader,
        payload: &'a [u8],
    },
}

impl<'a> InboundDatagram<'a> {
    pub fn parse(bytes: &'a [u8]) -> Result<Self, DropReason> {
        match bytes.first() {
            None => Err(DropReason::Empty),
            Some(&VERSION) => MediaPacket::parse(bytes)
                .map(Self::Media)
                .map_err(DropReason::from),
            Some(0x00 | 0x01) => match CompactFrame::parse(bytes) {
                Ok(CompactFrame::Full(p)) => Ok(Self::CompactFull(p)),
                Ok(CompactFrame::Mini { header, payload }) => {
                    Ok(Self::CompactMini { header, payload })
                }
                Err(CompactError::Full(e)) => Err(DropReason::from(e)),
                Err(_) => Err(DropReason::BadMiniFrame),
            },
            Some(_) => Err(DropReason::UnknownFormat),
        }
    }

    /// The full packet, when the datagram carries one.
    pub fn packet(&self) -> Option<&MediaPacket<'a>> {
        match self {
            Self::Media(p) | Self::CompactFull(p) => Some(p),
            Self::CompactMini { .. } => None,
        }
    }
}

/// Why an inbound datagram was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    Empty,
    UnknownFormat,
    TooShort,
    BadVersion,
    ReservedFlags,
    UnknownMediaType,
    UnknownCodec,
    MissingQualityReport,
    BadMiniFrame,
    /// The sender has not completed the join handshake.
    NotJoined,
}

impl From<MediaError> for DropReason {
    fn from(e: MediaError) -> Self {
        match e {
            MediaError::TooShort => Self::TooShort,
            MediaError::BadVersion => Self::BadVersion,
            MediaError::ReservedFlags => Self::ReservedFlags,
            MediaError::UnknownMediaType => Self::UnknownMediaType,
            MediaError::UnknownCodec => Self::UnknownCodec,
            MediaError::MissingQualityReport => Self::MissingQualityReport,
        }
    }
}

impl DropReason {
    pub const COUNT: usize = 10;
    pub const ALL: [DropReason; Self::COUNT] = [
        Self::Empty,
        Self::UnknownFormat,
        Self::TooShort,
        Self::BadVersion,
        Self::ReservedFlags,
        Self::UnknownMediaType,
        Self::UnknownCodec,
        Self::MissingQualityReport,
        Self::BadMiniFrame,
        Self::NotJoined,
    ];

    /// Dense index for a counter array.
    pub fn index(self) -> usize {
        self as usize
    }

    /// Stable label for metrics and logs.
    pub fn label(self) -> &'static str {
        match self {
            Self::Empty => "empty",
            Self::UnknownFormat => "unknown_format",
            Self::TooShort => "too_short",
            Self::BadVersion => "bad_version",
            Self::ReservedFlags => "reserved_flags",
            Self::UnknownMediaType => "unknown_media_type",
            Self::UnknownCodec => "unknown_codec",
            Self::MissingQualityReport => "missing_quality_report",
            Self::BadMiniFrame => "bad_mini_frame",
            Self::NotJoined => "not_joined",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indices_are_dense_and_match_all() {
        for (i, r) in DropReason::ALL.iter().enumerate() {
            assert_eq!(r.index(), i);
        }
    }

    #[test]
    fn first_byte_selects_the_form() {
        let bare = [2u8, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 9, 0, 0, 0xaa];
        assert!(
            matches!(InboundDatagram::parse(&bare), Ok(InboundDatagram::Media(p)) if p.payload == [0xaa])
        );
        let mut full = vec![0u8];
        full.extend_from_slice(&bare);
        assert!(matches!(
            InboundDatagram::parse(&full),
            Ok(InboundDatagram::CompactFull(_))
        ));
        assert!(matches!(
            InboundDatagram::parse(&[1, 1, 0, 20, 0, 0]),
            Ok(InboundDatagram::CompactMini { .. })
        ));
        assert_eq!(InboundDatagram::parse(&[]), Err(DropReason::Empty));
        assert_eq!(
            InboundDatagram::parse(&[3, 0]),
            Err(DropReason::UnknownFormat)
        );
        assert_eq!(
            InboundDatagram::parse(&[1, 0]),
            Err(DropReason::BadMiniFrame)
        );
        assert_eq!(InboundDatagram::parse(&[0, 1]), Err(DropReason::TooShort));
        let mut v1_inside_full = vec![0u8; 17];
        v1_inside_full[1] = 1;
        assert_eq!(
            InboundDatagram::parse(&v1_inside_full),
            Err(DropReason::BadVersion)
        );
        assert_eq!(
            InboundDatagram::parse(&bare[..10]),
            Err(DropReason::TooShort)
        );
    }
}
