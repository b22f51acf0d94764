//! TrunkFrame: `count:u16 BE`, then `count` x (`session_id:[u8;2]`, `len:u16 BE`, payload).
//!
//! Relay-to-peer only; clients never send one. [`TrunkFrame::parse`] validates the whole frame
//! before yielding entries, so a truncated frame yields nothing.

/// Per-entry overhead on the wire.
pub const ENTRY_OVERHEAD: usize = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum TrunkError {
    #[error("truncated trunk frame")]
    Truncated,
    #[error("bytes after the last entry")]
    TrailingBytes,
}

/// A validated TrunkFrame borrowing its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrunkFrame<'a> {
    count: u16,
    entries: &'a [u8],
}

/// One entry: the sender's 2-byte session id and the inner media packet bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrunkEntry<'a> {
    pub session_id: [u8; 2],
    pub payload: &'a [u8],
}

fn split_entry(bytes: &[u8]) -> Result<(TrunkEntry<'_>, &[u8]), TrunkError> {
    let (head, rest) = bytes
        .split_first_chunk::<ENTRY_OVERHEAD>()
        .ok_or(TrunkError::Truncated)?;
    let [s0, s1, l0, l1] = *head;
    let len = usize::from(u16::from_be_bytes([l0, l1]));
    if rest.len() < len {
        return Err(TrunkError::Truncated);
    }
    let (payload, rest) = rest.split_at(len);
    Ok((
        TrunkEntry {
            session_id: [s0, s1],
            payload,
        },
        rest,
    ))
}

impl<'a> TrunkFrame<'a> {
    pub fn parse(bytes: &'a [u8]) -> Result<Self, TrunkError> {
        let (count, entries) = bytes
            .split_first_chunk::<2>()
            .ok_or(TrunkError::Truncated)?;
        let count = u16::from_be_bytes(*count);
        let mut rest = entries;
        for _ in 0..count {
            rest = split_entry(rest)?.1;
        }
        if !rest.is_empty() {
            return Err(TrunkError::TrailingBytes);
        }
        Ok(Self { count, entries })
    }

    pub fn len(&self) -> usize {
        usize::from(self.count)
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub fn entries(&self) -> impl Iterator<Item = TrunkEntry<'a>> + 'a {
        let mut rest = self.entries;
        (0..self.count).map_while(move |_| {
            let (entry, next) = split_entry(rest).ok()?;
            rest = next;
            Some(entry)
        })
    }
}

/// Builds a TrunkFrame into a caller buffer, refusing entries that would overflow `max_bytes`.
#[derive(Debug)]
pub struct TrunkEncoder {
    buf: Vec<u8>,
    count: u16,
    max_bytes: usize,
    max_entries: u16,
}

impl TrunkEncoder {
    /// Reference defaults: 10 entries, 1200 bytes.
    pub fn new(max_entries: u16, max_bytes: usize) -> Self {
        Self {
            buf: vec![0, 0],
            count: 0,
            max_bytes,
            max_entries,
        }
    }

    /// Adds an entry; `false` (nothing written) if it would overflow the frame.
    pub fn push(&mut self, session_id: [u8; 2], payload: &[u8]) -> bool {
        let Ok(len) = u16::try_from(payload.len()) else {
            return false;
        };
        if self.count >= self.max_entries
            || self.buf.len() + ENTRY_OVERHEAD + payload.len() > self.max_bytes
        {
            return false;
        }
        self.buf.extend_from_slice(&session_id);
        self.buf.extend_from_slice(&len.to_be_bytes());
        self.buf.extend_from_slice(payload);
        self.count += 1;
        true
    }

    pub fn finish(mut self) -> Vec<u8> {
        let [c0, c1] = self.count.to_be_bytes();
        if let Some(head) = self.buf.first_chunk_mut::<2>() {
            *head = [c0, c1];
        }
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn layout_and_entries() {
        let mut enc = TrunkEncoder::new(10, 1200);
        assert!(enc.push([0xab, 0xcd], b"xyz"));
        assert!(enc.push([1, 2], b""));
        let bytes = enc.finish();
        assert_eq!(
            bytes,
            [0, 2, 0xab, 0xcd, 0, 3, b'x', b'y', b'z', 1, 2, 0, 0]
        );
        let frame = TrunkFrame::parse(&bytes).unwrap();
        let entries: Vec<_> = frame.entries().collect();
        assert_eq!(entries.len(), 2);
        assert_eq!(
            entries[0],
            TrunkEntry {
                session_id: [0xab, 0xcd],
                payload: b"xyz"
            }
        );
        assert_eq!(entries[1].payload, b"");
    }

    #[test]
    fn truncation_and_trailing_bytes_are_rejected() {
        assert_eq!(TrunkFrame::parse(&[0]), Err(TrunkError::Truncated));
        assert_eq!(
            TrunkFrame::parse(&[0, 1, 0, 0, 0, 5, 1]),
            Err(TrunkError::Truncated)
        );
        assert_eq!(
            TrunkFrame::parse(&[0, 0, 9]),
            Err(TrunkError::TrailingBytes)
        );
    }

    #[test]
    fn encoder_refuses_overflow() {
        let mut enc = TrunkEncoder::new(2, 22);
        assert!(enc.push([0, 0], &[0; 10]));
        assert!(!enc.push([0, 0], &[0; 5]), "2 + 14 + 9 > 22");
        assert!(enc.push([0, 0], &[0; 2]));
        assert!(!enc.push([0, 0], &[]), "max entries reached");
        assert_eq!(TrunkFrame::parse(&enc.finish()).unwrap().len(), 2);
    }

    proptest! {
        #[test]
        fn trunk_round_trips(entries in proptest::collection::vec(
            (any::<[u8; 2]>(), proptest::collection::vec(any::<u8>(), 0..200)), 0..12)) {
            let mut enc = TrunkEncoder::new(u16::MAX, usize::MAX);
            for (sid, payload) in &entries {
                prop_assert!(enc.push(*sid, payload));
            }
            let bytes = enc.finish();
            let frame = TrunkFrame::parse(&bytes).unwrap();
            let decoded: Vec<_> = frame.entries().map(|e| (e.session_id, e.payload.to_vec())).collect();
            prop_assert_eq!(decoded, entries);
        }
    }
}
