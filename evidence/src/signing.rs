//! Checkpoint signing: ECDSA P-256 with SHA-256, DER-encoded signatures.
//!
//! A signature made here verifies with
//! `openssl dgst -sha256 -verify pub.pem -signature file.sig file`.
//! A key is identified by its key id: the lowercase hex SHA-256 of the DER
//! `SubjectPublicKeyInfo` of its public key.
//!
//! Errors in this module never contain key material.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use p256::ecdsa::signature::{Signer as _, Verifier as _};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use p256::pkcs8::{
    DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, LineEnding,
};
use sha2::{Digest, Sha256};

/// Something that signs checkpoint bodies with one key.
///
/// `sign` returns a DER-encoded ECDSA P-256/SHA-256 signature over `msg`
/// (the message itself, not a prehash).
pub trait Signer: Send + Sync {
    /// The key id (lowercase hex SHA-256 of the DER SubjectPublicKeyInfo).
    fn key_id(&self) -> &str;
    /// The public key as a PEM `PUBLIC KEY` (SubjectPublicKeyInfo) block.
    fn public_key_pem(&self) -> &str;
    /// Sign `msg`, returning a DER-encoded ECDSA signature.
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, SignError>;
}

/// A signing failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignError {
    /// The signing backend failed.
    #[error("signing failed: {0}")]
    Backend(String),
}

/// A failure to load or create a key file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// Reading or writing the key file or its directory failed.
    #[error("key file {path}: {source}")]
    Io {
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The key file is readable or writable by group or others.
    #[error(
        "key file {path} has mode {mode:04o}, which lets other users read or change the signing key; \
         run `chmod 600 {path}` (and check who may have copied it)"
    )]
    InsecurePermissions {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The file does not hold a PKCS#8 PEM P-256 private key.
    #[error(
        "key file {path} does not hold a PKCS#8 PEM (`BEGIN PRIVATE KEY`) ECDSA P-256 private key"
    )]
    InvalidKey {
        /// The key file.
        path: PathBuf,
    },
    /// Encoding a key failed (should not happen).
    #[error("encoding the key failed")]
    Encode,
}

/// A failure to verify a signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// The PEM is not an ECDSA P-256 `PUBLIC KEY`.
    #[error("not a PEM ECDSA P-256 public key (`BEGIN PUBLIC KEY`)")]
    InvalidPublicKey,
    /// The signature is not a DER-encoded ECDSA signature.
    #[error("signature is not a DER-encoded ECDSA signature")]
    MalformedSignature,
    /// The signature does not match the message and key.
    #[error("signature does not match")]
    Mismatch,
}

/// Key id of a verifying key: hex SHA-256 of its DER SubjectPublicKeyInfo.
fn key_id_of(vk: &VerifyingKey) -> Result<String, KeyError> {
    let der = vk.to_public_key_der().map_err(|_| KeyError::Encode)?;
    Ok(hex::encode(Sha256::digest(der.as_bytes())))
}

/// The key id of a PEM public key.
pub fn key_id_of_pem(public_key_pem: &str) -> Result<String, SignatureError> {
    let vk = VerifyingKey::from_public_key_pem(public_key_pem.trim())
        .map_err(|_| SignatureError::InvalidPublicKey)?;
    key_id_of(&vk).map_err(|_| SignatureError::InvalidPublicKey)
}

/// The canonical PEM text of a public key: `-----BEGIN PUBLIC KEY-----`,
/// the DER `SubjectPublicKeyInfo` in base64 lines of 64 characters, LF line
/// endings and a final LF, exactly as evident writes it.
pub fn canonical_public_key_pem(public_key_pem: &str) -> Result<String, SignatureError> {
    let vk = VerifyingKey::from_public_key_pem(public_key_pem.trim())
        .map_err(|_| SignatureError::InvalidPublicKey)?;
    vk.to_public_key_pem(LineEnding::LF)
        .map_err(|_| SignatureError::InvalidPublicKey)
}

/// Verify a DER-encoded ECDSA P-256/SHA-256 signature over `msg`.
pub fn verify_signature(
    public_key_pem: &str,
    msg: &[u8],
    der_sig: &[u8],
) -> Result<(), SignatureError> {
    let vk = VerifyingKey::from_public_key_pem(public_key_pem.trim())
        .map_err(|_| SignatureError::InvalidPublicKey)?;
    let sig = Signature::from_der(der_sig).map_err(|_| SignatureError::MalformedSignature)?;
    vk.verify(msg, &sig).map_err(|_| SignatureError::Mismatch)
}

/// The key pair plus its derived public data.
struct KeyPair {
    key: SigningKey,
    key_id: String,
    public_pem: String,
}

impl KeyPair {
    fn new(key: SigningKey) -> Result<KeyPair, KeyError> {
        let vk = *key.verifying_key();
        let key_id = key_id_of(&vk)?;
        let public_pem = vk
            .to_public_key_pem(LineEnding::LF)
            .map_err(|_| KeyError::Encode)?;
        Ok(KeyPair {
            key,
            key_id,
            public_pem,
        })
    }

    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, SignError> {
        let sig: Signature = self
            .key
            .try_sign(msg)
            .map_err(|e| SignError::Backend(e.to_string()))?;
        Ok(sig.to_der().as_bytes().to_vec())
    }
}

/// A [`Signer`] whose key lives in a PKCS#8 PEM file with mode 0600.
pub struct FileSigner {
    path: PathBuf,
    pair: KeyPair,
}

impl std::fmt::Debug for FileSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileSigner")
            .field("path", &self.path)
            .field("key_id", &self.pair.key_id)
            .finish_non_exhaustive()
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> KeyError + '_ {
    move |source| KeyError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl FileSigner {
    /// Load the key at `path`. Refuses a file whose mode grants any access to
    /// group or others ([`KeyError::InsecurePermissions`]).
    pub fn load(path: impl AsRef<Path>) -> Result<FileSigner, KeyError> {
        let path = path.as_ref();
        let meta = fs::metadata(path).map_err(io_err(path))?;
        check_mode(path, &meta)?;
        let pem = SecretString(fs::read_to_string(path).map_err(io_err(path))?);
        let key = SigningKey::from_pkcs8_pem(pem.0.trim()).map_err(|_| KeyError::InvalidKey {
            path: path.to_path_buf(),
        })?;
        Ok(FileSigner {
            path: path.to_path_buf(),
            pair: KeyPair::new(key)?,
        })
    }

    /// Load the key at `path`, or create a new one there if no file exists.
    /// Returns the signer and whether the key was created.
    ///
    /// A missing parent directory is created with mode 0700. The key file is
    /// written to a temporary file with mode 0600 and then linked into place,
    /// so a key file is either complete or absent, and an existing key is never
    /// overwritten (if another process creates it first, that key is loaded).
    pub fn load_or_create(path: impl AsRef<Path>) -> Result<(FileSigner, bool), KeyError> {
        let path = path.as_ref();
        match fs::symlink_metadata(path) {
            Ok(_) => return Ok((FileSigner::load(path)?, false)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(path)(e)),
        }
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        create_private_dir(&dir)?;

        let key = SigningKey::random(&mut rand_core::OsRng);
        let pem = key
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|_| KeyError::Encode)?;
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = dir.join(format!(".{file_name}.tmp-{}", std::process::id()));
        let _ = fs::remove_file(&tmp);
        let write = (|| -> std::io::Result<()> {
            let mut f = private_file_options().open(&tmp)?;
            f.write_all(pem.as_bytes())?;
            f.sync_all()
        })();
        if let Err(e) = write {
            let _ = fs::remove_file(&tmp);
            return Err(io_err(&tmp)(e));
        }
        // hard_link fails if `path` exists: never replace a key.
        let linked = fs::hard_link(&tmp, path);
        let _ = fs::remove_file(&tmp);
        match linked {
            Ok(()) => {
                if let Ok(d) = fs::File::open(&dir) {
                    let _ = d.sync_all();
                }
                Ok((
                    FileSigner {
                        path: path.to_path_buf(),
                        pair: KeyPair::new(key)?,
                    },
                    true,
                ))
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Ok((FileSigner::load(path)?, false))
            }
            Err(e) => Err(io_err(path)(e)),
        }
    }

    /// The key file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Signer for FileSigner {
    fn key_id(&self) -> &str {
        &self.pair.key_id
    }
    fn public_key_pem(&self) -> &str {
        &self.pair.public_pem
    }
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, SignError> {
        self.pair.sign(msg)
    }
}

/// A [`Signer`] with a fresh key held only in memory (tests, dry runs).
pub struct MemorySigner {
    pair: KeyPair,
}

impl std::fmt::Debug for MemorySigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemorySigner")
            .field("key_id", &self.pair.key_id)
            .finish_non_exhaustive()
    }
}

impl MemorySigner {
    /// Generate a new random key.
    pub fn generate() -> Result<MemorySigner, KeyError> {
        Ok(MemorySigner {
            pair: KeyPair::new(SigningKey::random(&mut rand_core::OsRng))?,
        })
    }
}

impl Signer for MemorySigner {
    fn key_id(&self) -> &str {
        &self.pair.key_id
    }
    fn public_key_pem(&self) -> &str {
        &self.pair.public_pem
    }
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, SignError> {
        self.pair.sign(msg)
    }
}

/// A String holding key material, overwritten with zeros when dropped.
struct SecretString(String);

impl Drop for SecretString {
    fn drop(&mut self) {
        // Overwrite safely through the byte vector.
        let mut bytes = std::mem::take(&mut self.0).into_bytes();
        for b in bytes.iter_mut() {
            *b = 0;
        }
        std::hint::black_box(&bytes);
    }
}

#[cfg(unix)]
fn check_mode(path: &Path, meta: &fs::Metadata) -> Result<(), KeyError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(KeyError::InsecurePermissions {
            path: path.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_mode(_path: &Path, _meta: &fs::Metadata) -> Result<(), KeyError> {
    Ok(())
}

fn private_file_options() -> fs::OpenOptions {
    let mut o = fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o
}

fn create_private_dir(dir: &Path) -> Result<(), KeyError> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut b = fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir).map_err(io_err(dir))
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode_of(p: &Path) -> u32 {
        fs::metadata(p).expect("meta").permissions().mode() & 0o7777
    }

    #[test]
    fn create_then_load_same_key_with_private_modes() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let path = tmp.path().join("keys").join("agent.pem");
        let (s, created) = FileSigner::load_or_create(&path).expect("create");
        assert!(created);
        assert_eq!(mode_of(&path), 0o600);
        assert_eq!(mode_of(&tmp.path().join("keys")), 0o700);
        let text = fs::read_to_string(&path).expect("read");
        assert!(text.starts_with("-----BEGIN PRIVATE KEY-----"));
        // No temporary files left behind.
        assert_eq!(
            fs::read_dir(tmp.path().join("keys")).expect("dir").count(),
            1
        );

        let (again, created) = FileSigner::load_or_create(&path).expect("load");
        assert!(!created);
        assert_eq!(again.key_id(), s.key_id());
        assert_eq!(again.public_key_pem(), s.public_key_pem());
        assert_eq!(s.key_id().len(), 64);
        assert_eq!(key_id_of_pem(s.public_key_pem()).expect("kid"), s.key_id());

        let sig = s.sign(b"hello").expect("sign");
        verify_signature(again.public_key_pem(), b"hello", &sig).expect("verifies");
        assert_eq!(
            verify_signature(again.public_key_pem(), b"hellO", &sig),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature(again.public_key_pem(), b"hello", b"junk"),
            Err(SignatureError::MalformedSignature)
        );
        assert_eq!(
            verify_signature("not a key", b"hello", &sig),
            Err(SignatureError::InvalidPublicKey)
        );
        let other = MemorySigner::generate().expect("gen");
        assert_eq!(
            verify_signature(other.public_key_pem(), b"hello", &sig),
            Err(SignatureError::Mismatch)
        );
        assert_ne!(other.key_id(), s.key_id());
    }

    #[test]
    fn refuses_group_or_world_readable_key() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let path = tmp.path().join("agent.pem");
        FileSigner::load_or_create(&path).expect("create");
        for mode in [0o640, 0o604, 0o660, 0o644] {
            fs::set_permissions(&path, fs::Permissions::from_mode(mode)).expect("chmod");
            let err = FileSigner::load(&path).expect_err("must refuse");
            match &err {
                KeyError::InsecurePermissions { mode: m, .. } => assert_eq!(*m, mode),
                other => panic!("unexpected {other:?}"),
            }
            assert!(err.to_string().contains("chmod 600"), "{err}");
            assert!(FileSigner::load_or_create(&path).is_err());
        }
        fs::set_permissions(&path, fs::Permissions::from_mode(0o400)).expect("chmod");
        FileSigner::load(&path).expect("0400 is fine");
    }

    #[test]
    fn invalid_key_file_error_has_no_content() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let path = tmp.path().join("agent.pem");
        fs::write(
            &path,
            "-----BEGIN PRIVATE KEY-----\nU0VDUkVUU0VDUkVU\n-----END PRIVATE KEY-----\n",
        )
        .expect("write");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).expect("chmod");
        let err = FileSigner::load(&path).expect_err("invalid");
        assert!(matches!(err, KeyError::InvalidKey { .. }));
        assert!(!err.to_string().contains("U0VD"));
        let missing = FileSigner::load(tmp.path().join("nope.pem")).expect_err("missing");
        assert!(matches!(missing, KeyError::Io { .. }));
    }

    #[test]
    fn openssl_verifies_signature_if_available() {
        let Ok(out) = std::process::Command::new("openssl")
            .arg("version")
            .output()
        else {
            eprintln!("openssl not installed; skipping");
            return;
        };
        if !out.status.success() {
            return;
        }
        let tmp = tempfile::tempdir().expect("tempdir");
        let (s, _) = FileSigner::load_or_create(tmp.path().join("k.pem")).expect("create");
        let msg = tmp.path().join("msg");
        let sig = tmp.path().join("msg.sig");
        let pubp = tmp.path().join("pub.pem");
        fs::write(&msg, b"evident-checkpoint/v1\n").expect("write");
        fs::write(&sig, s.sign(b"evident-checkpoint/v1\n").expect("sign")).expect("write");
        fs::write(&pubp, s.public_key_pem()).expect("write");
        let status = std::process::Command::new("openssl")
            .args(["dgst", "-sha256", "-verify"])
            .arg(&pubp)
            .arg("-signature")
            .arg(&sig)
            .arg(&msg)
            .output()
            .expect("run openssl");
        assert!(
            status.status.success(),
            "{}",
            String::from_utf8_lossy(&status.stdout)
        );
        // Key id equals SHA-256 of the DER SPKI as openssl outputs it.
        let der = std::process::Command::new("openssl")
            .args(["pkey", "-pubin", "-outform", "DER", "-in"])
            .arg(&pubp)
            .output()
            .expect("run openssl");
        assert_eq!(hex::encode(Sha256::digest(&der.stdout)), s.key_id());
    }
}
