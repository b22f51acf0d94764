//! Compact frames: one frame-type byte, then either a full v2 packet (`0x00`) or a 5-byte
//! MiniHeader v2 and its payload (`0x01`, audio only, never a QualityReport).
//!
//! A MiniHeader is expanded against the last full header of the same sender
//! ([`MiniContext`]); the relay never expands it, it forwards the bytes as they came.

use crate::media::{MediaError, MediaHeader, MediaPacket};

pub const FRAME_TYPE_FULL: u8 = 0x00;
pub const FRAME_TYPE_MINI: u8 = 0x01;
pub const MINI_HEADER_LEN: usize = 5;
/// The encoder sends a full header on the first frame and every this many frames.
pub const MINI_FRAME_FULL_INTERVAL: u32 = 50;

/// The 5-byte MiniHeader v2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MiniHeader {
    pub seq_delta: u8,
    pub timestamp_delta_ms: u16,
    pub payload_len: u16,
}

impl MiniHeader {
    pub fn to_wire(self) -> [u8; MINI_HEADER_LEN] {
        let [t0, t1] = self.timestamp_delta_ms.to_be_bytes();
        let [l0, l1] = self.payload_len.to_be_bytes();
        [self.seq_delta, t0, t1, l0, l1]
    }
}

/// Why a compact frame was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum CompactError {
    #[error("empty datagram")]
    Empty,
    #[error("unknown frame type byte")]
    UnknownFrameType,
    #[error("full frame: {0}")]
    Full(MediaError),
    #[error("mini frame shorter than its 5-byte header")]
    MiniTooShort,
    #[error("mini frame payload_len does not match the datagram")]
    MiniLengthMismatch,
}

/// A decoded compact frame, borrowing its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompactFrame<'a> {
    Full(MediaPacket<'a>),
    Mini {
        header: MiniHeader,
        payload: &'a [u8],
    },
}

impl<'a> CompactFrame<'a> {
    pub fn parse(bytes: &'a [u8]) -> Result<Self, CompactError> {
        let (&tag, rest) = bytes.split_first().ok_or(CompactError::Empty)?;
        match tag {
            FRAME_TYPE_FULL => MediaPacket::parse(rest)
                .map(Self::Full)
                .map_err(CompactError::Full),
            FRAME_TYPE_MINI => {
                let (h, payload) = rest
                    .split_first_chunk::<MINI_HEADER_LEN>()
                    .ok_or(CompactError::MiniTooShort)?;
                let [seq_delta, t0, t1, l0, l1] = *h;
                let header = MiniHeader {
                    seq_delta,
                    timestamp_delta_ms: u16::from_be_bytes([t0, t1]),
                    payload_len: u16::from_be_bytes([l0, l1]),
                };
                if usize::from(header.payload_len) != payload.len() {
                    return Err(CompactError::MiniLengthMismatch);
                }
                Ok(Self::Mini { header, payload })
            }
            _ => Err(CompactError::UnknownFrameType),
        }
    }

    /// Encodes a full frame (frame type byte + v2 packet).
    pub fn encode_full(packet: &MediaPacket<'_>, buf: &mut Vec<u8>) {
        buf.push(FRAME_TYPE_FULL);
        packet.encode(buf);
    }

    /// Encodes a mini frame; `None` when the payload does not fit a u16 length.
    pub fn encode_mini(
        seq_delta: u8,
        ts_delta: u16,
        payload: &[u8],
        buf: &mut Vec<u8>,
    ) -> Option<()> {
        let payload_len = u16::try_from(payload.len()).ok()?;
        buf.push(FRAME_TYPE_MINI);
        buf.extend_from_slice(
            &MiniHeader {
                seq_delta,
                timestamp_delta_ms: ts_delta,
                payload_len,
            }
            .to_wire(),
        );
        buf.extend_from_slice(payload);
        Some(())
    }
}

/// Receiver-side expansion context: the last full header, advanced by every mini frame.
#[derive(Debug, Clone, Copy, Default)]
pub struct MiniContext {
    last: Option<MediaHeader>,
}

impl MiniContext {
    /// Records a full header as the new baseline.
    pub fn on_full(&mut self, header: MediaHeader) {
        self.last = Some(header);
    }

    /// Expands a mini header; `None` without a baseline. Sequence and timestamp wrap.
    pub fn expand(&mut self, mini: MiniHeader) -> Option<MediaHeader> {
        let mut next = self.last?;
        next.seq = next.seq.wrapping_add(u32::from(mini.seq_delta));
        next.timestamp = next
            .timestamp
            .wrapping_add(u32::from(mini.timestamp_delta_ms));
        next.flags = crate::media::Flags::empty();
        self.last = Some(next);
        Some(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{CodecId, MediaType};
    use crate::media::Flags;
    use proptest::prelude::*;

    fn audio_header(seq: u32, timestamp: u32) -> MediaHeader {
        MediaHeader {
            flags: Flags::empty(),
            media_type: MediaType::Audio,
            codec: CodecId::Opus24k,
            stream_id: 0,
            fec_ratio: 20,
            seq,
            timestamp,
            fec_block: 0,
        }
    }

    #[test]
    fn mini_frame_layout() {
        let mut buf = Vec::new();
        CompactFrame::encode_mini(1, 0x0102, b"abc", &mut buf).unwrap();
        assert_eq!(buf, [0x01, 1, 0x01, 0x02, 0, 3, b'a', b'b', b'c']);
        assert_eq!(
            CompactFrame::parse(&buf).unwrap(),
            CompactFrame::Mini {
                header: MiniHeader {
                    seq_delta: 1,
                    timestamp_delta_ms: 0x0102,
                    payload_len: 3
                },
                payload: b"abc"
            }
        );
    }

    #[test]
    fn mini_rejections() {
        assert_eq!(CompactFrame::parse(&[]), Err(CompactError::Empty));
        assert_eq!(
            CompactFrame::parse(&[7, 0, 0]),
            Err(CompactError::UnknownFrameType)
        );
        assert_eq!(
            CompactFrame::parse(&[1, 0, 0]),
            Err(CompactError::MiniTooShort)
        );
        assert_eq!(
            CompactFrame::parse(&[1, 1, 0, 20, 0, 4, 1]),
            Err(CompactError::MiniLengthMismatch)
        );
        assert_eq!(
            CompactFrame::parse(&[0, 2, 0]),
            Err(CompactError::Full(MediaError::TooShort))
        );
    }

    #[test]
    fn deltas_chain_packet_to_packet_and_wrap() {
        let mut ctx = MiniContext::default();
        let mini = MiniHeader {
            seq_delta: 1,
            timestamp_delta_ms: 20,
            payload_len: 0,
        };
        assert_eq!(ctx.expand(mini), None, "no baseline yet");
        ctx.on_full(audio_header(u32::MAX, 1000));
        let first = ctx.expand(mini).unwrap();
        assert_eq!((first.seq, first.timestamp), (0, 1020));
        let second = ctx.expand(mini).unwrap();
        assert_eq!((second.seq, second.timestamp), (1, 1040));
    }

    proptest! {
        #[test]
        fn compact_frames_round_trip(
            seq_delta in any::<u8>(),
            ts in any::<u16>(),
            payload in proptest::collection::vec(any::<u8>(), 0..600),
            seq in any::<u32>(),
        ) {
            let mut buf = Vec::new();
            CompactFrame::encode_mini(seq_delta, ts, &payload, &mut buf).unwrap();
            match CompactFrame::parse(&buf).unwrap() {
                CompactFrame::Mini { header, payload: p } => {
                    prop_assert_eq!(header.seq_delta, seq_delta);
                    prop_assert_eq!(header.timestamp_delta_ms, ts);
                    prop_assert_eq!(p, &payload[..]);
                }
                other => prop_assert!(false, "expected mini, got {:?}", other),
            }
            let packet = MediaPacket { header: audio_header(seq, 7), payload: &payload, quality: None };
            let mut full = Vec::new();
            CompactFrame::encode_full(&packet, &mut full);
            prop_assert_eq!(CompactFrame::parse(&full).unwrap(), CompactFrame::Full(packet));
        }
    }
}
