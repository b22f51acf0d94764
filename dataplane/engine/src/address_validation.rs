//! Address validation (RFC 9000 8.1): the tokens of the relay's Retry packets.
//!
//! A client that answers a Retry proves it receives at the address it claims, so the relay
//! may spend a connection on it and send it more than 3x what it sent. The token it echoes is
//! the relay's own, MAC-ed, so a shard needs no state between the Retry and the answer, and any
//! shard of the relay can check a token another shard minted:
//!
//! ```text
//!  0       1              9    10          10+n   27+n  29+n      45+n
//!  | magic | expiry (ms)  | n  | odcid (n) | ip    | port | tag (16) |
//! ```
//!
//! - `expiry`: milliseconds after the relay's token epoch (its start); a token is good until
//!   then, by the shard's `now`;
//! - `odcid`: the destination ID of the client's first Initial, which the connection's
//!   transport parameters must repeat;
//! - `ip`, `port`: the address the Retry was sent to (IPv4 as IPv4-mapped IPv6), in clear so a
//!   refusal can say the token came from elsewhere;
//! - `tag`: HMAC-SHA256 over everything before it and the Retry's source ID (the destination
//!   ID of the answering Initial), truncated to 16 bytes.
//!
//! The key derives from the relay seed and a salt drawn at start, so tokens die with the
//! process: a restarted relay refuses its predecessor's.

use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

const MAGIC: u8 = 0x5a;
const TAG_LEN: usize = 16;
const MAX_CID: usize = 20;
const ADDR_LEN: usize = 18;
/// The longest token this relay mints.
pub const MAX_TOKEN_LEN: usize = 1 + 8 + 1 + MAX_CID + ADDR_LEN + TAG_LEN;

/// Why a token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenError {
    /// Not a token of this relay's layout, or its tag does not match (forged, altered, or
    /// minted by another key: another relay, or this one before a restart).
    Forged,
    /// Genuine, but minted for another address.
    WrongAddress,
    /// Genuine, but past its expiry.
    Expired,
}

/// Mints and checks Retry tokens. Cheap to clone; every shard holds one with the same key.
#[derive(Clone)]
pub struct TokenKey {
    mac: Hmac<Sha256>,
    epoch: Instant,
    lifetime: Duration,
}

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenKey")
            .field("lifetime", &self.lifetime)
            .finish_non_exhaustive()
    }
}

impl TokenKey {
    /// The key of a relay with `seed`, started with `salt` at `epoch`; tokens live `lifetime`.
    pub fn new(seed: &[u8; 32], salt: &[u8; 16], epoch: Instant, lifetime: Duration) -> Self {
        let mut key = [0u8; 32];
        // 32 bytes is far below HKDF-SHA256's 8,160-byte limit, so expand cannot fail.
        let _ = Hkdf::<Sha256>::new(Some(salt), seed).expand(b"switchyard retry token", &mut key);
        let mac = match Hmac::<Sha256>::new_from_slice(&key) {
            Ok(mac) => mac,
            // HMAC takes keys of any length.
            Err(_) => unreachable_hmac(),
        };
        Self {
            mac,
            epoch,
            lifetime,
        }
    }

    /// A token for a client at `peer` whose first Initial went to `odcid`, answered by a
    /// Retry from `retry_scid`. `None` for an over-long ID (quiche never parses one).
    pub fn mint(
        &self,
        peer: SocketAddr,
        odcid: &[u8],
        retry_scid: &[u8],
        now: Instant,
    ) -> Option<Vec<u8>> {
        if odcid.len() > MAX_CID {
            return None;
        }
        let expiry = now.saturating_duration_since(self.epoch) + self.lifetime;
        let expiry_ms = u64::try_from(expiry.as_millis()).unwrap_or(u64::MAX);
        let mut token = Vec::with_capacity(MAX_TOKEN_LEN);
        token.push(MAGIC);
        token.extend_from_slice(&expiry_ms.to_be_bytes());
        token.push(odcid.len() as u8);
        token.extend_from_slice(odcid);
        token.extend_from_slice(&address_bytes(peer));
        let tag = self.tag(&token, retry_scid);
        token.extend_from_slice(&tag);
        Some(token)
    }

    /// Checks a token that came from `peer` in an Initial sent to `dcid` (the Retry's source
    /// ID); the client's original destination ID when it is good.
    pub fn check(
        &self,
        token: &[u8],
        peer: SocketAddr,
        dcid: &[u8],
        now: Instant,
    ) -> Result<Vec<u8>, TokenError> {
        let parsed = Parsed::from(token).ok_or(TokenError::Forged)?;
        let expected = self.tag(parsed.signed, dcid);
        if !constant_time_eq(&expected, parsed.tag) {
            return Err(TokenError::Forged);
        }
        if parsed.address != address_bytes(peer) {
            return Err(TokenError::WrongAddress);
        }
        let age = now.saturating_duration_since(self.epoch);
        if u128::from(parsed.expiry_ms) < age.as_millis() {
            return Err(TokenError::Expired);
        }
        Ok(parsed.odcid.to_vec())
    }

    fn tag(&self, signed: &[u8], retry_scid: &[u8]) -> [u8; TAG_LEN] {
        let mut mac = self.mac.clone();
        mac.update(signed);
        mac.update(retry_scid);
        let full = mac.finalize().into_bytes();
        let mut tag = [0u8; TAG_LEN];
        for (t, f) in tag.iter_mut().zip(full.iter()) {
            *t = *f;
        }
        tag
    }
}

fn unreachable_hmac() -> ! {
    panic!("HMAC-SHA256 accepts a key of any length")
}

/// A token split into its fields; `None` when the layout is wrong.
struct Parsed<'a> {
    signed: &'a [u8],
    expiry_ms: u64,
    odcid: &'a [u8],
    address: [u8; ADDR_LEN],
    tag: &'a [u8],
}

impl<'a> Parsed<'a> {
    fn from(token: &'a [u8]) -> Option<Self> {
        let (&magic, rest) = token.split_first()?;
        if magic != MAGIC {
            return None;
        }
        let (expiry, rest) = rest.split_first_chunk::<8>()?;
        let (&n, rest) = rest.split_first()?;
        let n = usize::from(n);
        if n > MAX_CID {
            return None;
        }
        let odcid = rest.get(..n)?;
        let rest = rest.get(n..)?;
        let (address, tag) = rest.split_first_chunk::<ADDR_LEN>()?;
        if tag.len() != TAG_LEN {
            return None;
        }
        let signed = token.get(..token.len() - TAG_LEN)?;
        Some(Self {
            signed,
            expiry_ms: u64::from_be_bytes(*expiry),
            odcid,
            address: *address,
            tag,
        })
    }
}

fn address_bytes(peer: SocketAddr) -> [u8; ADDR_LEN] {
    let ip = match peer.ip() {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    };
    let mut out = [0u8; ADDR_LEN];
    let (head, tail) = out.split_at_mut(16);
    head.copy_from_slice(&ip.octets());
    tail.copy_from_slice(&peer.port().to_be_bytes());
    out
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: [u8; 32] = [7; 32];
    const SALT: [u8; 16] = [1; 16];
    const ODCID: &[u8] = &[0xab; 16];
    const RETRY_SCID: &[u8] = &[0xcd; 16];

    fn key(epoch: Instant) -> TokenKey {
        TokenKey::new(&SEED, &SALT, epoch, Duration::from_secs(10))
    }

    fn peer() -> SocketAddr {
        "192.0.2.7:40000".parse().unwrap()
    }

    #[test]
    fn a_fresh_token_from_its_address_gives_back_the_original_id() {
        let t0 = switchyard_testclock::origin();
        let k = key(t0);
        let token = k.mint(peer(), ODCID, RETRY_SCID, t0).unwrap();
        assert!(token.len() <= MAX_TOKEN_LEN);
        let later = t0 + Duration::from_secs(9);
        assert_eq!(
            k.check(&token, peer(), RETRY_SCID, later),
            Ok(ODCID.to_vec())
        );
    }

    #[test]
    fn another_shard_with_the_same_key_accepts_it() {
        let t0 = switchyard_testclock::origin();
        let token = key(t0).mint(peer(), ODCID, RETRY_SCID, t0).unwrap();
        assert_eq!(
            key(t0).check(&token, peer(), RETRY_SCID, t0),
            Ok(ODCID.to_vec())
        );
    }

    #[test]
    fn a_token_past_its_lifetime_is_expired() {
        let t0 = switchyard_testclock::origin();
        let k = key(t0);
        let token = k.mint(peer(), ODCID, RETRY_SCID, t0).unwrap();
        let late = t0 + Duration::from_millis(10_001);
        assert_eq!(
            k.check(&token, peer(), RETRY_SCID, late),
            Err(TokenError::Expired)
        );
    }

    #[test]
    fn a_token_from_another_port_or_ip_is_for_the_wrong_address() {
        let t0 = switchyard_testclock::origin();
        let k = key(t0);
        let token = k.mint(peer(), ODCID, RETRY_SCID, t0).unwrap();
        for other in ["192.0.2.7:40001", "192.0.2.8:40000", "[2001:db8::7]:40000"] {
            assert_eq!(
                k.check(&token, other.parse().unwrap(), RETRY_SCID, t0),
                Err(TokenError::WrongAddress),
                "{other}"
            );
        }
    }

    #[test]
    fn any_flipped_bit_or_another_retry_id_makes_it_forged() {
        let t0 = switchyard_testclock::origin();
        let k = key(t0);
        let token = k.mint(peer(), ODCID, RETRY_SCID, t0).unwrap();
        for i in 0..token.len() {
            let mut bad = token.clone();
            bad[i] ^= 0x01;
            assert_eq!(
                k.check(&bad, peer(), RETRY_SCID, t0),
                Err(TokenError::Forged),
                "bit flipped in byte {i}"
            );
        }
        assert_eq!(
            k.check(&token, peer(), &[0xce; 16], t0),
            Err(TokenError::Forged)
        );
    }

    #[test]
    fn truncated_extended_and_empty_tokens_are_forged() {
        let t0 = switchyard_testclock::origin();
        let k = key(t0);
        let token = k.mint(peer(), ODCID, RETRY_SCID, t0).unwrap();
        for len in 0..token.len() {
            assert_eq!(
                k.check(&token[..len], peer(), RETRY_SCID, t0),
                Err(TokenError::Forged)
            );
        }
        let mut longer = token.clone();
        longer.push(0);
        assert_eq!(
            k.check(&longer, peer(), RETRY_SCID, t0),
            Err(TokenError::Forged)
        );
    }

    #[test]
    fn a_restarted_relay_refuses_its_predecessors_tokens() {
        let t0 = switchyard_testclock::origin();
        let token = key(t0).mint(peer(), ODCID, RETRY_SCID, t0).unwrap();
        let restarted = TokenKey::new(&SEED, &[2; 16], t0, Duration::from_secs(10));
        assert_eq!(
            restarted.check(&token, peer(), RETRY_SCID, t0),
            Err(TokenError::Forged)
        );
    }

    #[test]
    fn an_over_long_original_id_mints_nothing() {
        let t0 = switchyard_testclock::origin();
        assert_eq!(key(t0).mint(peer(), &[0; 21], RETRY_SCID, t0), None);
    }
}
