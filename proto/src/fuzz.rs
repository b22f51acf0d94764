//! Fuzz entry points, one per decoder. `proto/fuzz` wraps each in a libFuzzer target; the
//! unit tests below run them over random and truncated inputs. Each checks the decoder's
//! contract, not only that it returns: accepted inputs re-encode to the same bytes.

use crate::compact::CompactFrame;
use crate::datagram::InboundDatagram;
use crate::framing::FrameReader;
use crate::media::MediaPacket;
use crate::trunk::TrunkFrame;

/// MediaPacket: anything accepted re-encodes byte-identically.
pub fn media_packet(data: &[u8]) {
    if let Ok(p) = MediaPacket::parse(data) {
        let mut again = Vec::with_capacity(data.len());
        p.encode(&mut again);
        assert_eq!(
            again, data,
            "accepted media packet must re-encode identically"
        );
    }
}

/// Compact frames (full or mini).
pub fn compact_frame(data: &[u8]) {
    if let Ok(CompactFrame::Mini { payload, .. }) = CompactFrame::parse(data) {
        assert_eq!(payload.len() + 6, data.len());
    }
}

/// Datagram classification.
pub fn inbound_datagram(data: &[u8]) {
    let _ = InboundDatagram::parse(data).map(|d| d.packet().map(|p| p.payload.len()));
}

/// TrunkFrame: entries cover the frame exactly.
pub fn trunk_frame(data: &[u8]) {
    if let Ok(frame) = TrunkFrame::parse(data) {
        let covered: usize = frame.entries().map(|e| e.payload.len() + 4).sum();
        assert_eq!(covered + 2, data.len());
        assert_eq!(frame.entries().count(), frame.len());
    }
}

/// Signal frames, fed in two chunks split at the first byte's value.
pub fn signal_frame(data: &[u8]) {
    let split = data.first().map_or(0, |b| usize::from(*b)).min(data.len());
    let (a, b) = data.split_at(split);
    let mut reader = FrameReader::new();
    if reader.push(a).is_ok() && reader.push(b).is_ok() {
        let _ = reader.finish();
    }
}

/// Every entry point, for drivers that do not pick one.
pub fn all(data: &[u8]) {
    media_packet(data);
    compact_frame(data);
    inbound_datagram(data);
    trunk_frame(data);
    signal_frame(data);
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]
        #[test]
        fn decoders_hold_their_contract_on_random_bytes(data in proptest::collection::vec(any::<u8>(), 0..1500)) {
            super::all(&data);
        }

        #[test]
        fn decoders_hold_their_contract_on_v2_shaped_bytes(
            head in proptest::collection::vec(0u8..4, 16), tail in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut data = vec![2u8];
            data.extend(head.iter().skip(1));
            data.extend(tail);
            for cut in 0..data.len() {
                super::all(&data[..cut]);
            }
        }
    }
}
