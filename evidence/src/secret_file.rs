//! Files that hold a secret the configuration names by path: API tokens,
//! repository passwords, bearer tokens, the DLP fingerprint key.
//!
//! Like `ssh` with a private key, evident refuses to use such a file when
//! every local user can read or write it: a token readable by all is as good
//! as published on the host, and one writable by all can be swapped. A group
//! may read it (`0640` with a service group is a common deployment), but not
//! write it. Symbolic links are followed (Kubernetes mounts secrets through
//! them) and the file they lead to is checked. The content never appears in
//! an error.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

/// Permission bits a secret file must not have: group write and any access
/// for others.
pub const FORBIDDEN_MODE_BITS: u32 = 0o027;

/// Why a secret file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SecretFileError {
    /// The file cannot be read (missing, a directory, permission denied).
    #[error("{}: {message}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The kind of failure, for callers that tell denial from absence.
        kind: ErrorKind,
        /// What went wrong.
        message: String,
    },
    /// Other users can read or write the file.
    #[error(
        "{} is {} other users (mode {mode:04o}); restrict it, e.g. `chmod 600 {}` (or 640 with a service group)",
        path.display(),
        if mode & 0o022 != 0 { "writable by" } else { "readable by" },
        path.display()
    )]
    TooOpen {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The file's first line is empty.
    #[error("{} is empty", path.display())]
    Empty {
        /// The file.
        path: PathBuf,
    },
}

impl SecretFileError {
    /// Whether reading was refused by the operating system.
    pub fn is_permission_denied(&self) -> bool {
        matches!(self, SecretFileError::Io { kind, .. } if *kind == ErrorKind::PermissionDenied)
    }
}

fn io_error(path: &Path, e: &std::io::Error) -> SecretFileError {
    SecretFileError::Io {
        path: path.to_path_buf(),
        kind: e.kind(),
        message: e.to_string(),
    }
}

/// Check that `path` (after following symbolic links) is a regular file that
/// other users can neither read nor write and its group cannot write.
pub fn check_secret_file(path: &Path) -> Result<(), SecretFileError> {
    let meta = std::fs::metadata(path).map_err(|e| io_error(path, &e))?;
    if !meta.is_file() {
        return Err(SecretFileError::Io {
            path: path.to_path_buf(),
            kind: ErrorKind::InvalidInput,
            message: "not a regular file".into(),
        });
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o7777;
        if mode & FORBIDDEN_MODE_BITS != 0 {
            return Err(SecretFileError::TooOpen {
                path: path.to_path_buf(),
                mode,
            });
        }
    }
    Ok(())
}

/// Read a secret file whole, after [`check_secret_file`].
pub fn read_secret_file(path: &Path) -> Result<Vec<u8>, SecretFileError> {
    check_secret_file(path)?;
    std::fs::read(path).map_err(|e| io_error(path, &e))
}

/// The trimmed first line of a secret file, after [`check_secret_file`];
/// an empty first line is [`SecretFileError::Empty`].
pub fn read_secret_line(path: &Path) -> Result<String, SecretFileError> {
    let bytes = read_secret_file(path)?;
    let text = String::from_utf8(bytes).map_err(|_| SecretFileError::Io {
        path: path.to_path_buf(),
        kind: ErrorKind::InvalidData,
        message: "not UTF-8 text".into(),
    })?;
    let line = text.lines().next().unwrap_or_default().trim();
    if line.is_empty() {
        return Err(SecretFileError::Empty {
            path: path.to_path_buf(),
        });
    }
    Ok(line.to_string())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn file(dir: &Path, name: &str, body: &str, mode: u32) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, body).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p
    }

    #[test]
    fn private_and_group_readable_files_are_read() {
        let d = tempfile::tempdir().unwrap();
        for mode in [0o600, 0o400, 0o640, 0o440] {
            let p = file(
                d.path(),
                &format!("s{mode:o}"),
                "s3cr3t-value\nsecond\n",
                mode,
            );
            assert_eq!(read_secret_line(&p).unwrap(), "s3cr3t-value", "{mode:o}");
        }
    }

    #[test]
    fn files_other_users_can_read_or_write_are_refused_without_their_content() {
        let d = tempfile::tempdir().unwrap();
        for (mode, word) in [
            (0o644, "readable by"),
            (0o604, "readable by"),
            (0o660, "writable by"),
            (0o602, "writable by"),
            (0o666, "writable by"),
        ] {
            let p = file(d.path(), &format!("s{mode:o}"), "s3cr3t-value\n", mode);
            let e = read_secret_line(&p).unwrap_err();
            assert!(
                matches!(e, SecretFileError::TooOpen { .. }),
                "{mode:o}: {e}"
            );
            let msg = e.to_string();
            assert!(msg.contains(word), "{mode:o}: {msg}");
            assert!(msg.contains(&format!("{mode:04o}")), "{msg}");
            assert!(msg.contains("chmod 600"), "{msg}");
            assert!(!msg.contains("s3cr3t"), "{msg}");
        }
    }

    #[test]
    fn a_symlink_is_judged_by_its_target() {
        let d = tempfile::tempdir().unwrap();
        let target = file(d.path(), "target", "tok\n", 0o600);
        let link = d.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert_eq!(read_secret_line(&link).unwrap(), "tok");
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            read_secret_line(&link),
            Err(SecretFileError::TooOpen { .. })
        ));
    }

    #[test]
    fn missing_empty_and_directory_are_errors() {
        let d = tempfile::tempdir().unwrap();
        let e = read_secret_line(&d.path().join("nope")).unwrap_err();
        assert!(
            matches!(
                e,
                SecretFileError::Io {
                    kind: ErrorKind::NotFound,
                    ..
                }
            ),
            "{e}"
        );
        let p = file(d.path(), "empty", "\n", 0o600);
        assert!(matches!(
            read_secret_line(&p),
            Err(SecretFileError::Empty { .. })
        ));
        let e = read_secret_line(d.path()).unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");
    }
}
