//! Where evident keeps its data.

use std::path::{Path, PathBuf};

/// The ledger file name inside the data directory.
pub const LEDGER_FILE: &str = "evidence.db";
/// The default signing key file name inside the data directory.
pub const KEY_FILE: &str = "agent-key.pem";

/// Resolve the data directory: the flag, else the config, else the default
/// for this user.
pub fn data_dir(flag: Option<&Path>, config: Option<&Path>) -> PathBuf {
    if let Some(p) = flag.or(config) {
        return p.to_path_buf();
    }
    if is_root() {
        return PathBuf::from("/var/lib/evident");
    }
    if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(x).join("evident");
    }
    if let Some(home) = std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(home).join(".local/share/evident");
    }
    PathBuf::from(".evident")
}

/// Create the data directory (mode 0700) if it does not exist.
pub fn ensure_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// The effective uid of this process, read from /proc without unsafe code.
pub fn euid() -> Option<u32> {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|e| e.parse().ok()))
        })
}

/// Whether the process runs as root (effective uid 0).
pub fn is_root() -> bool {
    euid() == Some(0)
}

/// Refuse a signing key that someone else could replace: a symbolic link,
/// or a file owned by another user than the one running evident.
pub fn check_key_ownership(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(format!("cannot inspect {}: {e}", path.display())),
    };
    if meta.file_type().is_symlink() {
        return Err(format!(
            "the signing key {} is a symbolic link; point key_file at the key itself",
            path.display()
        ));
    }
    if !meta.is_file() {
        return Err(format!(
            "the signing key {} is not a regular file",
            path.display()
        ));
    }
    if let Some(me) = euid() {
        if meta.uid() != me {
            return Err(format!(
                "the signing key {} is owned by uid {}, not by the user running evident (uid {me}); another user could replace it",
                path.display(),
                meta.uid()
            ));
        }
    }
    Ok(())
}

/// This machine's host name.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}
