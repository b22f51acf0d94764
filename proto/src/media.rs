//! MediaHeader v2 (16 bytes, big-endian) and the QualityReport trailer.
//!
//! ```text
//!  0        1       2           3         4          5          6..10  10..14     14..16
//! +--------+-------+-----------+---------+----------+----------+------+----------+----------+
//! | 0x02   | flags | media_type| codec_id| stream_id| fec_ratio| seq  | timestamp| fec_block|
//! +--------+-------+-----------+---------+----------+----------+------+----------+----------+
//! flags: T(0x80) repair, Q(0x40) QualityReport trailer, K(0x20) keyframe, E(0x10) frame end,
//!        low nibble reserved (must be 0)
//! ```
//!
//! [`MediaPacket::parse`] borrows the datagram and allocates nothing; the relay forwards the
//! original bytes, so no encoder is on its path ([`MediaHeader::write`] serves clients and tests).

use crate::codec::{CodecId, MediaType};

/// Size of the v2 header on the wire.
pub const HEADER_LEN: usize = 16;
/// The only accepted version byte.
pub const VERSION: u8 = 2;
/// Size of the QualityReport trailer.
pub const QUALITY_REPORT_LEN: usize = 4;

/// The flags byte. The low nibble is reserved and rejected when set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Flags(u8);

impl Flags {
    pub const REPAIR: u8 = 0x80;
    pub const QUALITY: u8 = 0x40;
    pub const KEYFRAME: u8 = 0x20;
    pub const FRAME_END: u8 = 0x10;
    const RESERVED: u8 = 0x0f;

    /// `None` when a reserved bit is set.
    pub fn from_wire(byte: u8) -> Option<Self> {
        (byte & Self::RESERVED == 0).then_some(Self(byte))
    }

    pub fn empty() -> Self {
        Self(0)
    }

    pub fn with(self, bit: u8) -> Self {
        Self((self.0 | bit) & !Self::RESERVED)
    }

    pub fn bits(self) -> u8 {
        self.0
    }

    pub fn is_repair(self) -> bool {
        self.0 & Self::REPAIR != 0
    }

    pub fn has_quality(self) -> bool {
        self.0 & Self::QUALITY != 0
    }

    pub fn is_keyframe(self) -> bool {
        self.0 & Self::KEYFRAME != 0
    }

    pub fn is_frame_end(self) -> bool {
        self.0 & Self::FRAME_END != 0
    }
}

/// The parsed 16-byte header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MediaHeader {
    pub flags: Flags,
    pub media_type: MediaType,
    pub codec: CodecId,
    pub stream_id: u8,
    /// 0..=200 maps to 0.0..=2.0.
    pub fec_ratio: u8,
    pub seq: u32,
    /// Milliseconds since session start.
    pub timestamp: u32,
    pub fec_block: u16,
}

impl MediaHeader {
    /// Writes the header into the first 16 bytes of `out`.
    pub fn write(&self, out: &mut [u8; HEADER_LEN]) {
        let seq = self.seq.to_be_bytes();
        let ts = self.timestamp.to_be_bytes();
        let block = self.fec_block.to_be_bytes();
        *out = [
            VERSION,
            self.flags.bits(),
            self.media_type.to_wire(),
            self.codec.to_wire(),
            self.stream_id,
            self.fec_ratio,
            seq[0],
            seq[1],
            seq[2],
            seq[3],
            ts[0],
            ts[1],
            ts[2],
            ts[3],
            block[0],
            block[1],
        ];
    }

    /// Appends header, payload and (when flag Q is set) the trailer to `buf`.
    pub fn encode(&self, payload: &[u8], quality: Option<QualityReport>, buf: &mut Vec<u8>) {
        let mut header = *self;
        header.flags = match quality {
            Some(_) => header.flags.with(Flags::QUALITY),
            None => Flags(header.flags.bits() & !Flags::QUALITY),
        };
        let mut bytes = [0u8; HEADER_LEN];
        header.write(&mut bytes);
        buf.extend_from_slice(&bytes);
        buf.extend_from_slice(payload);
        if let Some(q) = quality {
            buf.extend_from_slice(&q.to_wire());
        }
    }

    /// Parses the first 16 bytes of `bytes`.
    pub fn read(bytes: &[u8]) -> Result<Self, MediaError> {
        let h: &[u8; HEADER_LEN] = bytes
            .get(..HEADER_LEN)
            .and_then(|b| b.try_into().ok())
            .ok_or(MediaError::TooShort)?;
        let [version, flags, media_type, codec, stream_id, fec_ratio, s0, s1, s2, s3, t0, t1, t2, t3, b0, b1] =
            *h;
        if version != VERSION {
            return Err(MediaError::BadVersion);
        }
        Ok(Self {
            flags: Flags::from_wire(flags).ok_or(MediaError::ReservedFlags)?,
            media_type: MediaType::from_wire(media_type).ok_or(MediaError::UnknownMediaType)?,
            codec: CodecId::from_wire(codec).ok_or(MediaError::UnknownCodec)?,
            stream_id,
            fec_ratio,
            seq: u32::from_be_bytes([s0, s1, s2, s3]),
            timestamp: u32::from_be_bytes([t0, t1, t2, t3]),
            fec_block: u16::from_be_bytes([b0, b1]),
        })
    }
}

/// The 4-byte trailer carried when flag Q is set: the sender's view of its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct QualityReport {
    /// 0..=255 maps to 0..=100 %.
    pub loss: u8,
    /// Units of 4 ms.
    pub rtt_4ms: u8,
    pub jitter_ms: u8,
    pub bitrate_cap_kbps: u8,
}

impl QualityReport {
    pub fn from_wire(bytes: [u8; QUALITY_REPORT_LEN]) -> Self {
        let [loss, rtt_4ms, jitter_ms, bitrate_cap_kbps] = bytes;
        Self {
            loss,
            rtt_4ms,
            jitter_ms,
            bitrate_cap_kbps,
        }
    }

    pub fn to_wire(self) -> [u8; QUALITY_REPORT_LEN] {
        [
            self.loss,
            self.rtt_4ms,
            self.jitter_ms,
            self.bitrate_cap_kbps,
        ]
    }

    pub fn loss_percent(self) -> f32 {
        f32::from(self.loss) / 255.0 * 100.0
    }

    pub fn rtt_ms(self) -> u32 {
        u32::from(self.rtt_4ms) * 4
    }
}

/// Why a media packet was rejected. `Copy` and allocation-free: counted per variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum MediaError {
    #[error("shorter than the 16-byte header")]
    TooShort,
    #[error("version byte is not 2")]
    BadVersion,
    #[error("a reserved flag bit is set")]
    ReservedFlags,
    #[error("unknown media type")]
    UnknownMediaType,
    #[error("unknown or reserved codec id")]
    UnknownCodec,
    #[error("flag Q set but no room for the 4-byte trailer")]
    MissingQualityReport,
}

/// A parsed media datagram borrowing the bytes it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaPacket<'a> {
    pub header: MediaHeader,
    pub payload: &'a [u8],
    pub quality: Option<QualityReport>,
}

impl<'a> MediaPacket<'a> {
    /// Parses header, payload and trailer; the payload stays opaque (end-to-end encrypted).
    pub fn parse(bytes: &'a [u8]) -> Result<Self, MediaError> {
        let header = MediaHeader::read(bytes)?;
        let body = bytes.get(HEADER_LEN..).ok_or(MediaError::TooShort)?;
        if !header.flags.has_quality() {
            return Ok(Self {
                header,
                payload: body,
                quality: None,
            });
        }
        let split = body
            .len()
            .checked_sub(QUALITY_REPORT_LEN)
            .ok_or(MediaError::MissingQualityReport)?;
        let (payload, trailer) = body.split_at(split);
        let trailer: [u8; QUALITY_REPORT_LEN] = trailer
            .try_into()
            .map_err(|_| MediaError::MissingQualityReport)?;
        Ok(Self {
            header,
            payload,
            quality: Some(QualityReport::from_wire(trailer)),
        })
    }

    /// Encodes this packet (header, payload, trailer) into `buf`.
    pub fn encode(&self, buf: &mut Vec<u8>) {
        self.header.encode(self.payload, self.quality, buf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn header() -> MediaHeader {
        MediaHeader {
            flags: Flags::empty().with(Flags::KEYFRAME).with(Flags::FRAME_END),
            media_type: MediaType::Video,
            codec: CodecId::H264Baseline,
            stream_id: 2,
            fec_ratio: 50,
            seq: 0x0102_0304,
            timestamp: 0xA0B0_C0D0,
            fec_block: 0xBEEF,
        }
    }

    #[test]
    fn header_layout_is_big_endian_and_byte_aligned() {
        let mut out = [0u8; HEADER_LEN];
        header().write(&mut out);
        assert_eq!(
            out,
            [2, 0x30, 1, 9, 2, 50, 1, 2, 3, 4, 0xA0, 0xB0, 0xC0, 0xD0, 0xBE, 0xEF]
        );
    }

    #[test]
    fn quality_trailer_is_the_last_four_bytes() {
        let q = QualityReport {
            loss: 51,
            rtt_4ms: 25,
            jitter_ms: 7,
            bitrate_cap_kbps: 200,
        };
        let mut buf = Vec::new();
        header().encode(b"opaque", Some(q), &mut buf);
        assert_eq!(buf.len(), 16 + 6 + 4);
        assert_eq!(&buf[buf.len() - 4..], &[51, 25, 7, 200]);
        let p = MediaPacket::parse(&buf).unwrap();
        assert!(p.header.flags.has_quality());
        assert_eq!(p.payload, b"opaque");
        assert_eq!(p.quality, Some(q));
        assert_eq!(q.rtt_ms(), 100);
        assert!((q.loss_percent() - 20.0).abs() < 0.01);
    }

    #[test]
    fn rejections_are_typed() {
        let mut buf = Vec::new();
        header().encode(b"x", None, &mut buf);
        assert_eq!(MediaPacket::parse(&buf[..15]), Err(MediaError::TooShort));
        let mut bad = buf.clone();
        bad[0] = 1;
        assert_eq!(MediaPacket::parse(&bad), Err(MediaError::BadVersion));
        let mut bad = buf.clone();
        bad[1] |= 0x01;
        assert_eq!(MediaPacket::parse(&bad), Err(MediaError::ReservedFlags));
        let mut bad = buf.clone();
        bad[2] = 4;
        assert_eq!(MediaPacket::parse(&bad), Err(MediaError::UnknownMediaType));
        let mut bad = buf.clone();
        bad[3] = 10;
        assert_eq!(MediaPacket::parse(&bad), Err(MediaError::UnknownCodec));
        let mut bad = buf[..16].to_vec();
        bad[1] |= Flags::QUALITY;
        bad.extend_from_slice(&[1, 2, 3]);
        assert_eq!(
            MediaPacket::parse(&bad),
            Err(MediaError::MissingQualityReport)
        );
    }

    #[test]
    fn empty_payload_with_trailer_parses() {
        let mut buf = Vec::new();
        let q = QualityReport {
            loss: 0,
            rtt_4ms: 1,
            jitter_ms: 2,
            bitrate_cap_kbps: 3,
        };
        header().encode(&[], Some(q), &mut buf);
        let p = MediaPacket::parse(&buf).unwrap();
        assert!(p.payload.is_empty());
        assert_eq!(p.quality, Some(q));
    }

    pub(crate) fn arb_header() -> impl Strategy<Value = MediaHeader> {
        (
            0u8..16,
            0usize..4,
            0usize..12,
            any::<u8>(),
            any::<u8>(),
            any::<u32>(),
            any::<u32>(),
            any::<u16>(),
        )
            .prop_map(
                |(flags, mt, codec, stream_id, fec_ratio, seq, timestamp, fec_block)| MediaHeader {
                    flags: Flags::from_wire((flags << 4) & !Flags::QUALITY).unwrap(),
                    media_type: MediaType::ALL[mt],
                    codec: CodecId::ALL[codec],
                    stream_id,
                    fec_ratio,
                    seq,
                    timestamp,
                    fec_block,
                },
            )
    }

    proptest! {
        #[test]
        fn media_packet_round_trips(
            header in arb_header(),
            payload in proptest::collection::vec(any::<u8>(), 0..1400),
            quality in proptest::option::of(any::<[u8; 4]>()),
        ) {
            let quality = quality.map(QualityReport::from_wire);
            let mut buf = Vec::new();
            header.encode(&payload, quality, &mut buf);
            let parsed = MediaPacket::parse(&buf).unwrap();
            let mut expected = header;
            if quality.is_some() {
                expected.flags = expected.flags.with(Flags::QUALITY);
            }
            prop_assert_eq!(parsed.header, expected);
            prop_assert_eq!(parsed.payload, &payload[..]);
            prop_assert_eq!(parsed.quality, quality);
            let mut again = Vec::new();
            parsed.encode(&mut again);
            prop_assert_eq!(again, buf);
        }

        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = MediaPacket::parse(&bytes);
        }
    }
}
