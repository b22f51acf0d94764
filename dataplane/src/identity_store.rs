//! The relay's persistent identity on disk: a seed file (64 hex characters, mode 0600),
//! created on first start, and the TLS certificate derived from it and written beside it.
//!
//! The certificate is a pure function of the seed (Ed25519 key from HKDF, fixed serial and
//! validity, deterministic signature), so both fingerprints stay the same across restarts
//! and the files beside the seed can be regenerated at any time.

use ed25519_dalek::pkcs8::EncodePrivateKey;
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use switchyard_engine::identity::{derive_key, Identity, TLS_INFO};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: expected 64 hex characters (a 32-byte seed)")]
    BadSeed { path: PathBuf },
    #[error("certificate generation failed: {0}")]
    Certificate(String),
}

/// Everything the shards and the operator need to know about the relay's keys.
#[derive(Debug, Clone)]
pub struct RelayKeys {
    pub seed: [u8; 32],
    pub identity: Identity,
    pub cert_pem: PathBuf,
    pub key_pem: PathBuf,
    /// SHA-256 of the certificate DER, colon-separated hex.
    pub tls_fingerprint: String,
}

/// Loads the seed at `seed_path`, creating it (and its directory) on first start, and writes
/// the derived certificate and key beside it.
pub fn load_or_create(seed_path: &Path) -> Result<RelayKeys, StoreError> {
    let io = |source| StoreError::Io {
        path: seed_path.to_owned(),
        source,
    };
    let seed = match fs::read_to_string(seed_path) {
        Ok(text) => parse_seed(&text).ok_or_else(|| StoreError::BadSeed {
            path: seed_path.to_owned(),
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut seed = [0u8; 32];
            rand::rngs::OsRng.fill_bytes(&mut seed);
            if let Some(dir) = seed_path.parent().filter(|d| !d.as_os_str().is_empty()) {
                fs::create_dir_all(dir).map_err(io)?;
            }
            write_private(seed_path, format!("{}\n", hex::encode(seed)).as_bytes())?;
            log::info!("created relay identity seed at {}", seed_path.display());
            seed
        }
        Err(e) => return Err(io(e)),
    };
    let (cert_pem, key_pem, der) = tls_material(&seed)?;
    let cert_path = sibling(seed_path, "cert.pem");
    let key_path = sibling(seed_path, "key.pem");
    write_if_changed(&cert_path, cert_pem.as_bytes(), false)?;
    write_if_changed(&key_path, key_pem.as_bytes(), true)?;
    Ok(RelayKeys {
        seed,
        identity: Identity::relay_from_seed(&seed),
        cert_pem: cert_path,
        key_pem: key_path,
        tls_fingerprint: colon_hex(&Sha256::digest(&der)),
    })
}

fn parse_seed(text: &str) -> Option<[u8; 32]> {
    let bytes = hex::decode(text.trim()).ok()?;
    bytes.try_into().ok()
}

fn sibling(seed_path: &Path, suffix: &str) -> PathBuf {
    let mut name = seed_path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".");
    name.push(suffix);
    seed_path.with_file_name(name)
}

/// Certificate PEM, private key PEM and certificate DER for a seed.
pub fn tls_material(seed: &[u8; 32]) -> Result<(String, String, Vec<u8>), StoreError> {
    let cert_err = |e: &dyn std::fmt::Display| StoreError::Certificate(e.to_string());
    let signing = ed25519_dalek::SigningKey::from_bytes(&derive_key(seed, TLS_INFO));
    let pkcs8 = signing.to_pkcs8_der().map_err(|e| cert_err(&e))?;
    let key_pair = rcgen::KeyPair::try_from(pkcs8.as_bytes()).map_err(|e| cert_err(&e))?;
    let mut params =
        rcgen::CertificateParams::new(vec!["switchyard".to_owned()]).map_err(|e| cert_err(&e))?;
    params.not_before = rcgen::date_time_ymd(2024, 1, 1);
    params.not_after = rcgen::date_time_ymd(4096, 1, 1);
    params.serial_number = Some(rcgen::SerialNumber::from(1u64));
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(rcgen::DnType::CommonName, "switchyard relay");
    params.distinguished_name = dn;
    let cert = params.self_signed(&key_pair).map_err(|e| cert_err(&e))?;
    // BoringSSL loads Ed25519 keys only as PKCS#8 v1 (no embedded public key).
    let v1 = ed25519_dalek::pkcs8::KeypairBytes {
        secret_key: signing.to_bytes(),
        public_key: None,
    };
    let key_pem = v1
        .to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
        .map_err(|e| cert_err(&e))?;
    Ok((cert.pem(), key_pem.to_string(), cert.der().to_vec()))
}

fn colon_hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn write_private(path: &Path, contents: &[u8]) -> Result<(), StoreError> {
    let io = |source| StoreError::Io {
        path: path.to_owned(),
        source,
    };
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(io)?;
    f.write_all(contents).map_err(io)
}

fn write_if_changed(path: &Path, contents: &[u8], private: bool) -> Result<(), StoreError> {
    if fs::read(path).is_ok_and(|old| old == contents) {
        return Ok(());
    }
    if private {
        write_private(path, contents)
    } else {
        fs::write(path, contents).map_err(|source| StoreError::Io {
            path: path.to_owned(),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn temp_dir(tag: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("switchyard-store-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn first_start_creates_then_restart_keeps_fingerprints() {
        let dir = temp_dir("restart");
        let seed_path = dir.join("relay-identity");
        let first = load_or_create(&seed_path).unwrap();
        let mode = fs::metadata(&seed_path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(fs::read_to_string(&seed_path).unwrap().trim().len(), 64);
        let second = load_or_create(&seed_path).unwrap();
        assert_eq!(first.identity.fingerprint(), second.identity.fingerprint());
        assert_eq!(first.tls_fingerprint, second.tls_fingerprint);
        assert_eq!(first.tls_fingerprint.split(':').count(), 32);
        fs::remove_file(&first.cert_pem).unwrap();
        let third = load_or_create(&seed_path).unwrap();
        assert_eq!(
            third.tls_fingerprint, first.tls_fingerprint,
            "certificate re-derived identically"
        );
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn bad_seed_file_is_a_clear_error() {
        let dir = temp_dir("bad");
        fs::create_dir_all(&dir).unwrap();
        let seed_path = dir.join("seed");
        fs::write(&seed_path, "not hex").unwrap();
        let err = load_or_create(&seed_path).unwrap_err().to_string();
        assert!(err.contains("64 hex characters"), "{err}");
        let _ = fs::remove_dir_all(dir);
    }
}
