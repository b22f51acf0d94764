//! One relay per UDP port: an exclusive `flock` taken before binding.
//!
//! Without it a second process with the same UID silently joins the first one's reuseport
//! group, the first one's steering program keeps choosing the old sockets, and the new relay
//! reports ready while serving nothing.

use std::fs::{File, OpenOptions};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Holds the lock until dropped.
#[derive(Debug)]
pub struct PortLock {
    _file: File,
    pub path: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum PortLockError {
    #[error("another switchyard process holds {path} (is a relay already running on {addr}?)")]
    Held { path: PathBuf, addr: SocketAddr },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Locks `addr` (a concrete port) using a file in `dir`.
pub fn lock_port(dir: &Path, addr: SocketAddr) -> Result<PortLock, PortLockError> {
    let io = |path: &Path, source| PortLockError::Io {
        path: path.to_owned(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let path = dir.join(format!("udp-{}-{}.lock", addr.ip(), addr.port()));
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| io(&path, e))?;
    match file.try_lock() {
        Ok(()) => Ok(PortLock { _file: file, path }),
        Err(std::fs::TryLockError::WouldBlock) => Err(PortLockError::Held { path, addr }),
        Err(std::fs::TryLockError::Error(e)) => Err(io(&path, e)),
    }
}

/// The default lock directory: `$RUNTIME_DIRECTORY` (systemd), else a per-user temp folder.
pub fn default_lock_dir() -> PathBuf {
    std::env::var_os("RUNTIME_DIRECTORY")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join(format!("switchyard-{}", current_uid())))
}

fn current_uid() -> u32 {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_on_the_same_port_is_refused_until_the_first_is_dropped() {
        let dir = std::env::temp_dir().join(format!("switchyard-lock-test-{}", std::process::id()));
        let addr: SocketAddr = "127.0.0.1:4433".parse().unwrap();
        let first = lock_port(&dir, addr).unwrap();
        let err = lock_port(&dir, addr).unwrap_err();
        assert!(matches!(err, PortLockError::Held { .. }), "{err}");
        assert!(
            lock_port(&dir, "127.0.0.1:4434".parse().unwrap()).is_ok(),
            "other ports are free"
        );
        drop(first);
        assert!(lock_port(&dir, addr).is_ok());
        let _ = std::fs::remove_dir_all(dir);
    }
}
