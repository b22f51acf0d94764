//! The caller's batch of datagrams to send. The endpoint writes packets straight into one
//! arena (quiche encrypts into it), and the caller hands the batch to `sendmmsg` or to a
//! simulated network, then clears it. The arena keeps its capacity from turn to turn, so a
//! steady load sends without allocating.

use std::net::SocketAddr;

/// Room reserved for one packet; the relay's packets are at most 1452 bytes.
pub const MAX_PACKET: usize = 1500;

/// One datagram of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transmit {
    pub to: SocketAddr,
    /// Media datagrams (QUIC DATAGRAM frames) the packet carries.
    pub datagrams: u16,
    start: usize,
    len: usize,
}

impl Transmit {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[derive(Debug, Default)]
pub struct Transmits {
    arena: Vec<u8>,
    /// Bytes of `arena` holding committed packets; the rest is spare room.
    used: usize,
    items: Vec<Transmit>,
}

impl Transmits {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Datagram `i`: its bytes and where it goes.
    pub fn get(&self, i: usize) -> Option<(&[u8], &Transmit)> {
        let t = self.items.get(i)?;
        Some((self.arena.get(t.start..t.start + t.len)?, t))
    }

    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &Transmit)> + '_ {
        (0..self.items.len()).filter_map(|i| self.get(i))
    }

    pub fn clear(&mut self) {
        self.items.clear();
        self.used = 0;
    }

    /// Room for one more packet: write into it, then [`Self::commit`] (or write nothing).
    pub(crate) fn reserve(&mut self) -> &mut [u8] {
        if self.arena.len() < self.used + MAX_PACKET {
            self.arena.resize(self.used + MAX_PACKET, 0);
        }
        self.arena
            .get_mut(self.used..self.used + MAX_PACKET)
            .unwrap_or_default()
    }

    /// Keeps the first `len` bytes of the last reservation as a packet to `to`.
    pub(crate) fn commit(&mut self, len: usize, to: SocketAddr, datagrams: u16) {
        let len = len.min(MAX_PACKET);
        self.items.push(Transmit {
            to,
            datagrams,
            start: self.used,
            len,
        });
        self.used += len;
    }

    /// Adds a copy of `bytes` (at most [`MAX_PACKET`]) as a packet to `to`.
    pub fn push(&mut self, bytes: &[u8], to: SocketAddr) {
        self.push_carrying(bytes, to, 0);
    }

    /// Appends every packet of `other`.
    pub(crate) fn append(&mut self, other: &Transmits) {
        for (bytes, t) in other.iter() {
            self.push_carrying(bytes, t.to, t.datagrams);
        }
    }

    fn push_carrying(&mut self, bytes: &[u8], to: SocketAddr, datagrams: u16) {
        let buf = self.reserve();
        if let Some(dst) = buf.get_mut(..bytes.len()) {
            dst.copy_from_slice(bytes);
            self.commit(bytes.len(), to, datagrams);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn committed_packets_read_back_in_order_and_clear_keeps_the_arena() {
        let to: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let mut t = Transmits::new();
        for i in 0..3u8 {
            let buf = t.reserve();
            buf[..4].copy_from_slice(&[i; 4]);
            t.commit(4, to, u16::from(i));
        }
        let _ = t.reserve(); // reserved and abandoned: not a packet
        let got: Vec<(Vec<u8>, u16)> = t.iter().map(|(b, x)| (b.to_vec(), x.datagrams)).collect();
        assert_eq!(got, vec![(vec![0; 4], 0), (vec![1; 4], 1), (vec![2; 4], 2)]);
        let capacity = t.arena.capacity();
        t.clear();
        assert!(t.is_empty());
        let buf = t.reserve();
        buf[0] = 9;
        t.commit(1, to, 0);
        assert_eq!(t.get(0).unwrap().0, &[9]);
        assert_eq!(
            t.arena.capacity(),
            capacity,
            "no new allocation after clear"
        );

        let mut other = Transmits::new();
        other.append(&t);
        assert_eq!(other.get(0).unwrap().0, &[9]);
    }
}
