//! Signal framing: one message per bidirectional QUIC stream, `u32` big-endian length, then
//! that many bytes of JSON, then FIN. Frames above [`MAX_FRAME_LEN`] are refused as soon as
//! the length prefix is read, before any of the body is buffered.
//!
//! [`FrameReader`] is the receive side for one stream: feed it chunks as they arrive, then
//! [`FrameReader::finish`] on FIN. It buffers at most the declared length.

use crate::signal::SignalMessage;

/// Largest accepted JSON body.
pub const MAX_FRAME_LEN: usize = 1024 * 1024;
const PREFIX_LEN: usize = 4;

/// Why a signal frame was refused. The relay resets that stream; other streams and
/// connections are untouched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum FrameError {
    #[error("declared length exceeds the 1 MiB cap")]
    Oversized,
    #[error("more bytes than the declared length")]
    TrailingBytes,
    #[error("stream finished before the frame was complete")]
    Truncated,
    #[error("body is not JSON")]
    Malformed,
    /// Valid JSON, but not a message this relay knows: skipped, not fatal.
    #[error("unknown or unsupported signal message")]
    Unsupported,
}

impl FrameError {
    pub const COUNT: usize = 5;

    pub fn index(self) -> usize {
        self as usize
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Oversized => "oversized",
            Self::TrailingBytes => "trailing_bytes",
            Self::Truncated => "truncated",
            Self::Malformed => "malformed",
            Self::Unsupported => "unsupported",
        }
    }
}

/// Encodes one message as a complete frame.
pub fn encode_frame(message: &SignalMessage) -> Vec<u8> {
    let mut out = vec![0u8; PREFIX_LEN];
    // Serializing these plain data types into a Vec cannot fail: no maps with non-string
    // keys, no custom Serialize impls.
    if serde_json::to_writer(&mut out, message).is_err() {
        out.truncate(PREFIX_LEN);
    }
    let len = u32::try_from(out.len() - PREFIX_LEN).unwrap_or(u32::MAX);
    if let Some(prefix) = out.first_chunk_mut::<PREFIX_LEN>() {
        *prefix = len.to_be_bytes();
    }
    out
}

/// Decodes a JSON body into a message, telling garbage from unknown variants.
pub fn decode_body(body: &[u8]) -> Result<SignalMessage, FrameError> {
    serde_json::from_slice(body).map_err(|_| {
        match serde_json::from_slice::<serde::de::IgnoredAny>(body) {
            Ok(_) => FrameError::Unsupported,
            Err(_) => FrameError::Malformed,
        }
    })
}

/// Reassembles one frame from the chunks of one stream.
#[derive(Debug, Default)]
pub struct FrameReader {
    prefix: [u8; PREFIX_LEN],
    prefix_len: usize,
    declared: Option<usize>,
    body: Vec<u8>,
}

impl FrameReader {
    pub fn new() -> Self {
        Self::default()
    }

    /// Bytes buffered so far.
    pub fn buffered(&self) -> usize {
        self.prefix_len + self.body.len()
    }

    /// Feeds the next chunk of the stream.
    pub fn push(&mut self, mut chunk: &[u8]) -> Result<(), FrameError> {
        while self.declared.is_none() {
            let Some((&byte, rest)) = chunk.split_first() else {
                return Ok(());
            };
            if let Some(slot) = self.prefix.get_mut(self.prefix_len) {
                *slot = byte;
            }
            self.prefix_len += 1;
            chunk = rest;
            if self.prefix_len == PREFIX_LEN {
                let len = u32::from_be_bytes(self.prefix) as usize;
                if len > MAX_FRAME_LEN {
                    return Err(FrameError::Oversized);
                }
                self.declared = Some(len);
                self.body.reserve_exact(len.min(64 * 1024));
            }
        }
        let declared = self.declared.unwrap_or(0);
        if self.body.len() + chunk.len() > declared {
            return Err(FrameError::TrailingBytes);
        }
        self.body.extend_from_slice(chunk);
        Ok(())
    }

    /// The stream finished: decode the frame.
    pub fn finish(self) -> Result<SignalMessage, FrameError> {
        match self.declared {
            Some(len) if len == self.body.len() => decode_body(&self.body),
            _ => Err(FrameError::Truncated),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signal::HangupReason;
    use proptest::prelude::*;

    #[test]
    fn frame_is_length_prefixed_json() {
        let frame = encode_frame(&SignalMessage::Reflect);
        assert_eq!(frame, b"\x00\x00\x00\x09\"Reflect\"");
    }

    #[test]
    fn reader_reassembles_byte_by_byte() {
        let msg = SignalMessage::hangup(HangupReason::Timeout);
        let frame = encode_frame(&msg);
        let mut reader = FrameReader::new();
        for b in &frame {
            reader.push(std::slice::from_ref(b)).unwrap();
        }
        assert_eq!(reader.finish().unwrap(), msg);
    }

    #[test]
    fn oversized_is_refused_on_the_prefix_alone() {
        let mut reader = FrameReader::new();
        let len = (MAX_FRAME_LEN as u32 + 1).to_be_bytes();
        assert_eq!(reader.push(&len), Err(FrameError::Oversized));
        assert_eq!(reader.buffered(), 4);
        let mut at_cap = FrameReader::new();
        assert_eq!(at_cap.push(&(MAX_FRAME_LEN as u32).to_be_bytes()), Ok(()));
    }

    #[test]
    fn trailing_truncated_malformed_unsupported() {
        let mut frame = encode_frame(&SignalMessage::Reflect);
        frame.push(b' ');
        assert_eq!(
            FrameReader::new().push(&frame),
            Err(FrameError::TrailingBytes)
        );

        let frame = encode_frame(&SignalMessage::Reflect);
        let mut r = FrameReader::new();
        r.push(&frame[..6]).unwrap();
        assert_eq!(r.finish(), Err(FrameError::Truncated));
        assert_eq!(FrameReader::new().finish(), Err(FrameError::Truncated));

        let mut r = FrameReader::new();
        r.push(&[0, 0, 0, 3, b'{', b'{', b'x']).unwrap();
        assert_eq!(r.finish(), Err(FrameError::Malformed));

        let body = br#"{"HardNatProbe":{"version":1}}"#;
        let mut r = FrameReader::new();
        r.push(&(body.len() as u32).to_be_bytes()).unwrap();
        r.push(body).unwrap();
        assert_eq!(r.finish(), Err(FrameError::Unsupported));
    }

    proptest! {
        #[test]
        fn frames_round_trip_across_any_split(token in ".{0,300}", split in 0usize..400) {
            let msg = SignalMessage::AuthToken { version: 1, token };
            let frame = encode_frame(&msg);
            let split = split.min(frame.len());
            let mut r = FrameReader::new();
            r.push(&frame[..split]).unwrap();
            r.push(&frame[split..]).unwrap();
            prop_assert_eq!(r.finish().unwrap(), msg);
        }

        #[test]
        fn reader_never_panics(chunks in proptest::collection::vec(
            proptest::collection::vec(any::<u8>(), 0..40), 0..6)) {
            let mut r = FrameReader::new();
            for c in &chunks {
                if r.push(c).is_err() { return Ok(()); }
            }
            let _ = r.finish();
        }
    }
}
