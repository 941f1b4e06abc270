//! Installed Debian packages against the security archives' package indexes.
//! Pure file reading under the configured root.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;
use std::time::SystemTime;

use chrono::{DateTime, Utc};
use evident_policies::host::apt::MAX_PENDING_LISTED;
use evident_policies::host::debversion::compare;
use evident_policies::host::{
    AptIndexFile, AptUpdatesObservation, PendingUpdate, ProbeError, SkippedIndexFile,
};

use super::fs::{io_error, on_host};

const DPKG_STATUS: &str = "/var/lib/dpkg/status";
const RPM_DB: &str = "/var/lib/rpm";
const LISTS: &str = "/var/lib/apt/lists";

/// How an index file is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Compression {
    None,
    Gzip,
    Lz4,
    /// A compression this build cannot read (xz, zstd, bzip2, lzma).
    Unsupported(&'static str),
}

/// Observe pending security updates under `root`.
pub(crate) fn observe(root: &Path, max_index_age_days: u32) -> AptUpdatesObservation {
    let mut obs = AptUpdatesObservation {
        dpkg_present: on_host(root, DPKG_STATUS).symlink_metadata().is_ok(),
        rpm_present: on_host(root, RPM_DB).is_dir(),
        error: None,
        max_index_age_days,
        installed_packages: 0,
        security_indexes: Vec::new(),
        skipped_indexes: Vec::new(),
        pending_count: 0,
        pending: Vec::new(),
    };
    if !obs.dpkg_present {
        return obs;
    }
    if let Err(e) = fill(root, &mut obs) {
        obs.error = Some(e);
    }
    obs
}

fn fill(root: &Path, obs: &mut AptUpdatesObservation) -> Result<(), ProbeError> {
    let status =
        std::fs::read(on_host(root, DPKG_STATUS)).map_err(|e| io_error(&e, DPKG_STATUS))?;
    let installed = installed_packages(&String::from_utf8_lossy(&status));
    obs.installed_packages = u32::try_from(installed.len()).unwrap_or(u32::MAX);

    let lists = on_host(root, LISTS);
    let entries = match std::fs::read_dir(&lists) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_error(&e, LISTS)),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| io_error(&e, LISTS))?;
        names.push(entry.file_name().to_string_lossy().into_owned());
    }
    names.sort();

    // (package, architecture) -> newest version in any security index.
    let mut candidates: HashMap<(String, String), String> = HashMap::new();
    for name in &names {
        let Some(compression) = security_index(name) else {
            continue;
        };
        let path = lists.join(name);
        let shown = format!("{LISTS}/{name}");
        let text = match read_index(&path, compression) {
            Ok(t) => t,
            Err(reason) => {
                obs.skipped_indexes.push(SkippedIndexFile {
                    file: name.clone(),
                    reason,
                });
                continue;
            }
        };
        let mut count = 0u32;
        for p in paragraphs(&text) {
            let (Some(pkg), Some(version), Some(arch)) =
                (p.get("Package"), p.get("Version"), p.get("Architecture"))
            else {
                continue;
            };
            count += 1;
            let key = ((*pkg).to_string(), (*arch).to_string());
            match candidates.get_mut(&key) {
                Some(best) if compare(version, best).is_gt() => *best = (*version).to_string(),
                Some(_) => {}
                None => {
                    candidates.insert(key, (*version).to_string());
                }
            }
        }
        let mtime = modified(&path).map_err(|e| io_error(&e, &shown))?;
        let refreshed = release_file_mtime(&lists, name).map_or(mtime, |r| r.max(mtime));
        obs.security_indexes.push(AptIndexFile {
            file: name.clone(),
            refreshed_at: refreshed,
            packages: count,
        });
    }

    let mut pending: Vec<PendingUpdate> = installed
        .into_iter()
        .filter_map(|(pkg, arch, installed)| {
            let candidate = candidates.get(&(pkg.clone(), arch.clone()))?;
            compare(candidate, &installed)
                .is_gt()
                .then(|| PendingUpdate {
                    package: pkg,
                    architecture: arch,
                    installed,
                    candidate: candidate.clone(),
                })
        })
        .collect();
    pending.sort_by(|a, b| (&a.package, &a.architecture).cmp(&(&b.package, &b.architecture)));
    obs.pending_count = u32::try_from(pending.len()).unwrap_or(u32::MAX);
    pending.truncate(MAX_PENDING_LISTED);
    obs.pending = pending;
    Ok(())
}

/// `Some(compression)` when `name` is a `Packages` index of a security archive.
fn security_index(name: &str) -> Option<Compression> {
    let (base, compression) = [
        (".gz", Compression::Gzip),
        (".lz4", Compression::Lz4),
        (".xz", Compression::Unsupported("xz")),
        (".zst", Compression::Unsupported("zstd")),
        (".bz2", Compression::Unsupported("bzip2")),
        (".lzma", Compression::Unsupported("lzma")),
    ]
    .into_iter()
    .find_map(|(ext, c)| name.strip_suffix(ext).map(|b| (b, c)))
    .unwrap_or((name, Compression::None));
    (base.ends_with("_Packages") && base.to_ascii_lowercase().contains("security"))
        .then_some(compression)
}

/// Read and decompress an index; `Err` is the reason it was skipped.
fn read_index(path: &Path, compression: Compression) -> Result<String, String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut bytes = Vec::new();
    let read = match compression {
        Compression::None => (&file).read_to_end(&mut bytes),
        Compression::Gzip => flate2::read::MultiGzDecoder::new(file).read_to_end(&mut bytes),
        Compression::Lz4 => lz4_flex::frame::FrameDecoder::new(file).read_to_end(&mut bytes),
        Compression::Unsupported(kind) => {
            return Err(format!("{kind} compression is not supported"));
        }
    };
    read.map_err(|e| e.to_string())?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// The modification time of `path`.
fn modified(path: &Path) -> std::io::Result<DateTime<Utc>> {
    let t: SystemTime = std::fs::metadata(path)?.modified()?;
    Ok(DateTime::<Utc>::from(t))
}

/// The modification time of the `InRelease` (or `Release`) file of the
/// archive an index belongs to: apt rewrites it on every successful update
/// that found the archive changed.
fn release_file_mtime(lists: &Path, index: &str) -> Option<DateTime<Utc>> {
    let at = index.find("_dists_")? + "_dists_".len();
    let suite_end = at + index[at..].find('_')?;
    let prefix = &index[..suite_end];
    ["_InRelease", "_Release"]
        .iter()
        .filter_map(|s| modified(&lists.join(format!("{prefix}{s}"))).ok())
        .max()
}

/// Installed packages `(name, architecture, version)` from dpkg's status file.
fn installed_packages(status: &str) -> Vec<(String, String, String)> {
    paragraphs(status)
        .into_iter()
        .filter(|p| {
            p.get("Status")
                .is_some_and(|s| s.split_whitespace().nth(2) == Some("installed"))
        })
        .filter_map(|p| {
            Some((
                (*p.get("Package")?).to_string(),
                (*p.get("Architecture")?).to_string(),
                (*p.get("Version")?).to_string(),
            ))
        })
        .collect()
}

/// Split a deb822 control file into paragraphs of single-line fields
/// (continuation lines are skipped).
fn paragraphs(text: &str) -> Vec<HashMap<&str, &str>> {
    let mut out = Vec::new();
    let mut current = HashMap::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
            continue;
        }
        if line.starts_with([' ', '\t']) {
            continue;
        }
        if let Some((k, v)) = line.split_once(':') {
            current.insert(k.trim(), v.trim());
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn recognises_security_indexes() {
        let n = "deb.debian.org_debian-security_dists_bookworm-security_main_binary-amd64_Packages";
        assert_eq!(security_index(n), Some(Compression::None));
        assert_eq!(security_index(&format!("{n}.lz4")), Some(Compression::Lz4));
        assert_eq!(security_index(&format!("{n}.gz")), Some(Compression::Gzip));
        assert_eq!(
            security_index(&format!("{n}.xz")),
            Some(Compression::Unsupported("xz"))
        );
        assert_eq!(
            security_index(
                "security.ubuntu.com_ubuntu_dists_jammy-security_main_binary-amd64_Packages"
            ),
            Some(Compression::None)
        );
        assert_eq!(
            security_index("deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages"),
            None
        );
        assert_eq!(
            security_index("deb.debian.org_debian-security_dists_bookworm-security_InRelease"),
            None
        );
        assert_eq!(
            security_index(
                "deb.debian.org_debian-security_dists_bookworm-security_main_i18n_Translation-en"
            ),
            None
        );
    }

    #[test]
    fn parses_dpkg_status() {
        let status = "Package: a\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.0\nDescription: x\n continued: not a field\n\nPackage: b\nStatus: deinstall ok config-files\nArchitecture: amd64\nVersion: 2.0\n\nPackage: c\nStatus: hold ok installed\nArchitecture: all\nVersion: 3.0\n";
        assert_eq!(
            installed_packages(status),
            vec![
                ("a".into(), "amd64".into(), "1.0".into()),
                ("c".into(), "all".into(), "3.0".into()),
            ]
        );
    }
}
