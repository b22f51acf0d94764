//! Relay and participant identities: Ed25519 keys, WZP fingerprints, handshake signatures.
//!
//! The relay keeps one 32-byte seed. Two keys derive from it with HKDF-SHA256:
//! the identity key (info `wzp-identity-ed25519`), which signs CallAnswer, and the TLS key
//! (info `wzp-tls-ed25519`), which signs the self-signed certificate. Both are stable for as
//! long as the seed file is, so the relay's fingerprints survive restarts.

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use hkdf::Hkdf;
use sha2::{Digest, Sha256};
use switchyard_proto::signal::{QualityProfile, SignalMessage};

pub const IDENTITY_INFO: &[u8] = b"wzp-identity-ed25519";
pub const TLS_INFO: &[u8] = b"wzp-tls-ed25519";
/// Suffix a caller signs after its ephemeral key.
pub const OFFER_CONTEXT: &[u8] = b"call-offer";
/// Suffix the relay signs after its ephemeral key.
pub const ANSWER_CONTEXT: &[u8] = b"call-answer";

/// Derives a 32-byte key from the seed for one purpose.
pub fn derive_key(seed: &[u8; 32], info: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    // 32 bytes is far below HKDF-SHA256's 8160-byte limit, so expand cannot fail.
    if Hkdf::<Sha256>::new(None, seed)
        .expand(info, &mut out)
        .is_err()
    {
        out = [0u8; 32];
    }
    out
}

/// WZP fingerprint: SHA-256(public key)[..16] as 8 groups of 4 hex digits joined by `:`.
pub fn fingerprint(public: &[u8; 32]) -> String {
    let digest = Sha256::digest(public);
    let mut out = String::with_capacity(39);
    for (i, pair) in digest.chunks_exact(2).take(8).enumerate() {
        if i > 0 {
            out.push(':');
        }
        out.push_str(&hex::encode(pair));
    }
    out
}

/// Verifies `signature` by `identity_pub` over `ephemeral_pub || context`.
pub fn verify_handshake(
    identity_pub: &[u8; 32],
    ephemeral_pub: &[u8; 32],
    context: &[u8],
    signature: &[u8],
) -> bool {
    let Ok(key) = VerifyingKey::from_bytes(identity_pub) else {
        return false;
    };
    let Ok(signature) = Signature::from_slice(signature) else {
        return false;
    };
    key.verify(&signed_message(ephemeral_pub, context), &signature)
        .is_ok()
}

fn signed_message(ephemeral_pub: &[u8; 32], context: &[u8]) -> Vec<u8> {
    let mut msg = Vec::with_capacity(32 + context.len());
    msg.extend_from_slice(ephemeral_pub);
    msg.extend_from_slice(context);
    msg
}

/// An Ed25519 identity (the relay's, or a client's in the load generator).
#[derive(Clone)]
pub struct Identity {
    key: SigningKey,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("fingerprint", &self.fingerprint())
            .finish()
    }
}

impl Identity {
    /// The relay identity for a seed.
    pub fn relay_from_seed(seed: &[u8; 32]) -> Self {
        Self::from_secret(derive_key(seed, IDENTITY_INFO))
    }

    /// An identity whose secret key is exactly these bytes.
    pub fn from_secret(secret: [u8; 32]) -> Self {
        Self {
            key: SigningKey::from_bytes(&secret),
        }
    }

    pub fn public(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }

    pub fn fingerprint(&self) -> String {
        fingerprint(&self.public())
    }

    /// Signs `ephemeral_pub || context`.
    pub fn sign_handshake(&self, ephemeral_pub: &[u8; 32], context: &[u8]) -> Vec<u8> {
        self.key
            .sign(&signed_message(ephemeral_pub, context))
            .to_bytes()
            .to_vec()
    }

    /// What a client sends to join: a CallOffer for `protocol_version`, with its ephemeral
    /// X25519 key signed by this identity.
    pub fn call_offer(
        &self,
        ephemeral_pub: [u8; 32],
        alias: Option<String>,
        protocol_version: u8,
    ) -> SignalMessage {
        SignalMessage::CallOffer {
            version: 1,
            identity_pub: self.public(),
            ephemeral_pub,
            signature: self.sign_handshake(&ephemeral_pub, OFFER_CONTEXT),
            supported_profiles: vec![QualityProfile::GOOD],
            alias,
            protocol_version,
            supported_versions: vec![protocol_version],
            video_codecs: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_is_8_groups_of_4_hex() {
        let fp = fingerprint(&[0u8; 32]);
        // SHA-256 of 32 zero bytes starts 66687aadf862bd776c8fc18b8e9f8e20.
        assert_eq!(fp, "6668:7aad:f862:bd77:6c8f:c18b:8e9f:8e20");
    }

    #[test]
    fn handshake_signatures_verify_only_for_the_signed_context() {
        let id = Identity::from_secret([5; 32]);
        let eph = [9u8; 32];
        let sig = id.sign_handshake(&eph, OFFER_CONTEXT);
        assert!(verify_handshake(&id.public(), &eph, OFFER_CONTEXT, &sig));
        assert!(!verify_handshake(&id.public(), &eph, ANSWER_CONTEXT, &sig));
        assert!(!verify_handshake(
            &id.public(),
            &[8; 32],
            OFFER_CONTEXT,
            &sig
        ));
        assert!(!verify_handshake(&[1; 32], &eph, OFFER_CONTEXT, &sig));
        assert!(!verify_handshake(
            &id.public(),
            &eph,
            OFFER_CONTEXT,
            &sig[..63]
        ));
    }

    #[test]
    fn a_call_offer_carries_a_signature_the_relay_verifies() {
        let id = Identity::from_secret([5; 32]);
        let SignalMessage::CallOffer {
            identity_pub,
            ephemeral_pub,
            signature,
            protocol_version,
            supported_versions,
            alias,
            ..
        } = id.call_offer([9; 32], Some("a".into()), 2)
        else {
            panic!("not an offer")
        };
        assert_eq!((identity_pub, ephemeral_pub), (id.public(), [9; 32]));
        assert!(verify_handshake(
            &identity_pub,
            &ephemeral_pub,
            OFFER_CONTEXT,
            &signature
        ));
        assert_eq!((protocol_version, supported_versions), (2, vec![2]));
        assert_eq!(alias.as_deref(), Some("a"));
    }

    #[test]
    fn seed_derivations_are_stable_and_distinct() {
        let seed = [42u8; 32];
        assert_eq!(
            Identity::relay_from_seed(&seed).public(),
            Identity::relay_from_seed(&seed).public()
        );
        assert_ne!(
            derive_key(&seed, IDENTITY_INFO),
            derive_key(&seed, TLS_INFO)
        );
        assert_ne!(
            Identity::relay_from_seed(&seed).public(),
            Identity::relay_from_seed(&[1; 32]).public()
        );
    }
}
