//! Stateless reset (RFC 9000 10.3): how a relay that lost a connection (it restarted) tells
//! the client at once, instead of leaving it to wait out its idle timeout.
//!
//! Every connection's reset token is a MAC of the connection ID the relay issued it, keyed
//! from the relay seed alone, so a restarted relay with the same seed derives the same token
//! for a connection it never saw. It is advertised in the handshake's transport parameters;
//! a packet for an unknown connection ID of this relay's shape is answered with:
//!
//! ```text
//!  | 0b01xxxxxx | unpredictable bytes ... | token (16) |
//! ```
//!
//! one byte shorter than the packet that triggered it (so two relays cannot loop, and the
//! reset amplifies nothing), at most [`MAX_RESET_LEN`], never under [`MIN_RESET_LEN`] (a
//! trigger too small to answer is dropped). The shard also rate-limits them.

use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

/// The smallest stateless reset a client recognises (RFC 9000 10.3: 5 bytes and the token).
pub const MIN_RESET_LEN: usize = 21;
/// Resets are no longer than this, however large the trigger.
pub const MAX_RESET_LEN: usize = 43;
const TOKEN_LEN: usize = 16;

/// Derives reset tokens from the relay seed.
#[derive(Clone)]
pub struct ResetKey {
    mac: Hmac<Sha256>,
}

impl std::fmt::Debug for ResetKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ResetKey")
    }
}

impl ResetKey {
    pub fn new(seed: &[u8; 32]) -> Self {
        let mut key = [0u8; 32];
        // 32 bytes is far below HKDF-SHA256's output limit, so expand cannot fail.
        let _ = Hkdf::<Sha256>::new(None, seed).expand(b"switchyard stateless reset", &mut key);
        let mac = match Hmac::<Sha256>::new_from_slice(&key) {
            Ok(mac) => mac,
            Err(_) => panic!("HMAC-SHA256 accepts a key of any length"),
        };
        Self { mac }
    }

    /// The reset token of connection ID `cid`.
    pub fn token(&self, cid: &[u8]) -> u128 {
        let mut mac = self.mac.clone();
        mac.update(cid);
        let full = mac.finalize().into_bytes();
        let mut token = [0u8; TOKEN_LEN];
        for (t, f) in token.iter_mut().zip(full.iter()) {
            *t = *f;
        }
        u128::from_be_bytes(token)
    }

    /// Writes the reset answering a `trigger_len`-byte packet sent to `dcid` into `out`; its
    /// length, or `None` when the trigger is too small to answer (or `out` too short).
    pub fn write_reset(
        &self,
        dcid: &[u8],
        trigger_len: usize,
        rng: &mut impl RngCore,
        out: &mut [u8],
    ) -> Option<usize> {
        let len = trigger_len.checked_sub(1)?.min(MAX_RESET_LEN);
        if len < MIN_RESET_LEN {
            return None;
        }
        let packet = out.get_mut(..len)?;
        let (head, token) = packet.split_at_mut(len - TOKEN_LEN);
        rng.fill_bytes(head);
        if let Some(first) = head.first_mut() {
            *first = 0x40 | (*first & 0x3f);
        }
        token.copy_from_slice(&self.token(dcid).to_be_bytes());
        Some(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    #[test]
    fn the_same_seed_gives_the_same_token_and_another_cid_another() {
        let a = ResetKey::new(&[3; 32]);
        let b = ResetKey::new(&[3; 32]);
        assert_eq!(a.token(b"cid-one"), b.token(b"cid-one"));
        assert_ne!(a.token(b"cid-one"), a.token(b"cid-two"));
        assert_ne!(
            a.token(b"cid-one"),
            ResetKey::new(&[4; 32]).token(b"cid-one")
        );
    }

    #[test]
    fn a_reset_is_one_byte_shorter_than_its_trigger_and_ends_with_the_token() {
        let key = ResetKey::new(&[3; 32]);
        let mut rng = StdRng::seed_from_u64(1);
        let mut out = [0u8; 1500];
        for (trigger, expected) in [(22, 21), (30, 29), (44, 43), (1200, 43)] {
            let len = key
                .write_reset(b"cid", trigger, &mut rng, &mut out)
                .unwrap();
            assert_eq!(len, expected, "trigger {trigger}");
            assert!(len < trigger);
            assert_eq!(out[0] & 0xc0, 0x40, "a short header with the fixed bit");
            assert_eq!(&out[len - 16..len], &key.token(b"cid").to_be_bytes());
        }
    }

    #[test]
    fn a_trigger_too_small_to_answer_gets_nothing() {
        let key = ResetKey::new(&[3; 32]);
        let mut rng = StdRng::seed_from_u64(1);
        let mut out = [0u8; 64];
        for trigger in 0..=21 {
            assert_eq!(key.write_reset(b"cid", trigger, &mut rng, &mut out), None);
        }
        let mut tiny = [0u8; 10];
        assert_eq!(key.write_reset(b"cid", 100, &mut rng, &mut tiny), None);
    }
}
