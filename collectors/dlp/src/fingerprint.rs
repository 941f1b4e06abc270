//! Keyed fingerprints: the same value gives the same fingerprint wherever the
//! key is shared, and the fingerprint reveals nothing of the value without it.

use std::io::Write;
use std::path::Path;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::DlpError;

/// Minimum key length in bytes.
pub const MIN_KEY_LEN: usize = 16;

/// HMAC-SHA256 under the organisation's fingerprint key.
#[derive(Clone)]
pub struct Fingerprinter {
    mac: Hmac<Sha256>,
}

impl std::fmt::Debug for Fingerprinter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Fingerprinter(<key>)")
    }
}

impl Fingerprinter {
    /// From key bytes (at least [`MIN_KEY_LEN`]).
    pub fn new(key: &[u8]) -> Result<Fingerprinter, DlpError> {
        if key.len() < MIN_KEY_LEN {
            return Err(DlpError::Key(format!(
                "the fingerprint key must have at least {MIN_KEY_LEN} bytes"
            )));
        }
        let mac = Hmac::<Sha256>::new_from_slice(key).map_err(|e| DlpError::Key(e.to_string()))?;
        Ok(Fingerprinter { mac })
    }

    /// From a key file: its content, surrounding whitespace trimmed.
    pub fn from_file(path: &Path) -> Result<Fingerprinter, DlpError> {
        let bytes = std::fs::read(path).map_err(|e| DlpError::Io {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        Fingerprinter::new(bytes.trim_ascii()).map_err(|e| match e {
            DlpError::Key(m) => DlpError::Key(format!("{}: {m}", path.display())),
            other => other,
        })
    }

    /// Create a key file (32 random bytes as hex, mode 0600) unless it exists.
    pub fn create_key_file(path: &Path) -> Result<(), DlpError> {
        let io = |e: std::io::Error| DlpError::Io {
            path: path.display().to_string(),
            message: e.to_string(),
        };
        if path.exists() {
            return Ok(());
        }
        let mut key = [0u8; 32];
        std::fs::File::open("/dev/urandom")
            .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut key))
            .map_err(io)?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let mut f = opts.open(path).map_err(io)?;
        writeln!(f, "{}", hex::encode(key)).map_err(io)
    }

    /// Hex HMAC-SHA256 of the value.
    pub fn fingerprint(&self, value: &[u8]) -> String {
        let mut mac = self.mac.clone();
        mac.update(value);
        hex::encode(mac.finalize().into_bytes())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn same_value_same_key_same_fingerprint() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k");
        Fingerprinter::create_key_file(&p).unwrap();
        let a = Fingerprinter::from_file(&p).unwrap();
        let b = Fingerprinter::from_file(&p).unwrap();
        assert_eq!(a.fingerprint(b"v1"), b.fingerprint(b"v1"));
        assert_ne!(a.fingerprint(b"v1"), a.fingerprint(b"v2"));
        let other = Fingerprinter::new(&[7u8; 32]).unwrap();
        assert_ne!(a.fingerprint(b"v1"), other.fingerprint(b"v1"));
        assert!(Fingerprinter::new(b"short").is_err());
    }
}
