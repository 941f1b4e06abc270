//! File-system helpers shared by the host probes: mapping host paths under
//! the configured root and turning I/O errors into probe errors.

use std::path::{Path, PathBuf};

use evident_policies::host::{ProbeError, ProbeErrorKind};

/// The path of `host_path` (absolute, as on the host) under `root`.
pub(crate) fn on_host(root: &Path, host_path: &str) -> PathBuf {
    root.join(host_path.trim_start_matches('/'))
}

/// `path` as seen on the host: without the `root` prefix, starting with `/`.
pub(crate) fn host_path(root: &Path, path: &Path) -> String {
    match path.strip_prefix(root) {
        Ok(rest) => format!("/{}", rest.to_string_lossy()),
        Err(_) => path.to_string_lossy().into_owned(),
    }
}

/// A probe error for an I/O error on `shown` (a host path).
pub(crate) fn io_error(e: &std::io::Error, shown: &str) -> ProbeError {
    if e.kind() == std::io::ErrorKind::PermissionDenied {
        ProbeError::new(
            ProbeErrorKind::PermissionDenied,
            format!("requires root to read {shown}"),
        )
    } else {
        ProbeError::new(
            ProbeErrorKind::Unreadable,
            format!("cannot read {shown}: {e}"),
        )
    }
}
