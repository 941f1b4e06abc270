//! Evidence packs as gzip tarballs: written deterministically, read safely.
//!
//! Writing: every file under one top-level directory (the archive's name
//! without `.tar.gz`), directories first-before-contents in sorted order,
//! ustar headers with mode 0644 (files) or 0755 (directories), uid and gid 0,
//! no user or group names, and one fixed mtime; the same files give the same
//! bytes.
//!
//! Reading never touches the file system beyond the archive itself: the
//! entries are read into memory, and an archive is refused when an entry is
//! a link or anything but a plain file or directory, when a path is absolute
//! or has a `..` (or any non-plain) component, when entries do not all lie
//! under one top-level directory, when a name repeats, or when an entry, the
//! total or the number of entries exceeds the limits below. The gzip stream
//! is read to its end so its CRC is checked, and nothing may follow it.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};

/// Largest entry accepted when reading (bytes).
pub const MAX_ENTRY_BYTES: u64 = 256 << 20;
/// Largest total of entry sizes accepted when reading (bytes).
pub const MAX_TOTAL_BYTES: u64 = 1 << 30;
/// Most entries accepted when reading.
pub const MAX_ENTRIES: usize = 200_000;

/// Why a tarball was refused or could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ArchiveError {
    /// Reading failed (including a corrupt gzip stream or a bad CRC).
    #[error("{path}: cannot read the pack archive: {source}")]
    Io {
        /// The archive.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// An entry that is refused.
    #[error("{path}: refusing entry {entry:?}: {reason}")]
    Refused {
        /// The archive.
        path: PathBuf,
        /// The entry's name as stored.
        entry: String,
        /// Why.
        reason: String,
    },
    /// The archive as a whole is not a pack archive.
    #[error("{path}: not a pack archive: {reason}")]
    Invalid {
        /// The archive.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// The top-level directory name for an archive path: its file name without
/// `.tar.gz` or `.tgz`; `None` when it ends in neither or the rest is empty.
pub fn archive_stem(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    let stem = name
        .strip_suffix(".tar.gz")
        .or_else(|| name.strip_suffix(".tgz"))?;
    (!stem.is_empty() && !stem.starts_with('.') && !stem.contains(['\\', '\n']))
        .then(|| stem.to_string())
}

/// Write `files` (relative `/`-separated names to bytes) as a gzip tarball
/// under the directory `top`, with `mtime` (seconds since the epoch) on
/// every entry. Returns the writer after the gzip trailer.
pub fn write_tar_gz<W: Write>(
    out: W,
    top: &str,
    files: &BTreeMap<String, Vec<u8>>,
    mtime: u64,
) -> std::io::Result<W> {
    let gz = flate2::GzBuilder::new()
        .mtime(0)
        .operating_system(255)
        .write(out, flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    // Every directory once, each before its contents (sorted paths do that).
    let mut dirs: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
    dirs.insert(top.to_string());
    for name in files.keys() {
        let mut prefix = top.to_string();
        let parts: Vec<&str> = name.split('/').collect();
        for part in &parts[..parts.len().saturating_sub(1)] {
            prefix.push('/');
            prefix.push_str(part);
            dirs.insert(prefix.clone());
        }
    }
    let mut entries: Vec<(String, Option<&[u8]>)> =
        dirs.into_iter().map(|d| (format!("{d}/"), None)).collect();
    entries.extend(
        files
            .iter()
            .map(|(n, b)| (format!("{top}/{n}"), Some(b.as_slice()))),
    );
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    for (path, data) in entries {
        let mut h = tar::Header::new_ustar();
        h.set_mtime(mtime);
        h.set_uid(0);
        h.set_gid(0);
        match data {
            None => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                h.set_size(0);
                tar.append_data(&mut h, &path, std::io::empty())?;
            }
            Some(bytes) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(0o644);
                h.set_size(bytes.len() as u64);
                tar.append_data(&mut h, &path, bytes)?;
            }
        }
    }
    tar.into_inner()?.finish()
}

/// Read a pack tarball into memory (names relative to its top-level
/// directory), refusing anything unsafe (see the module docs).
pub fn read_tar_gz(path: &Path) -> Result<BTreeMap<String, Vec<u8>>, ArchiveError> {
    let io = |source| ArchiveError::Io {
        path: path.to_path_buf(),
        source,
    };
    let refuse = |entry: &str, reason: &str| ArchiveError::Refused {
        path: path.to_path_buf(),
        entry: entry.to_string(),
        reason: reason.to_string(),
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut archive = tar::Archive::new(flate2::bufread::GzDecoder::new(std::io::BufReader::new(
        file,
    )));
    let mut out = BTreeMap::new();
    let mut top: Option<String> = None;
    let mut total = 0u64;
    let mut count = 0usize;
    for entry in archive.entries().map_err(io)? {
        let mut entry = entry.map_err(io)?;
        count += 1;
        if count > MAX_ENTRIES {
            return Err(ArchiveError::Invalid {
                path: path.to_path_buf(),
                reason: format!("more than {MAX_ENTRIES} entries"),
            });
        }
        let raw = entry.path().map_err(io)?.into_owned();
        let shown = raw.to_string_lossy().into_owned();
        let kind = entry.header().entry_type();
        let is_dir = match kind {
            tar::EntryType::Regular | tar::EntryType::Continuous => false,
            tar::EntryType::Directory => true,
            tar::EntryType::Symlink | tar::EntryType::Link => {
                return Err(refuse(&shown, "links are not allowed in a pack"))
            }
            _ => {
                return Err(refuse(
                    &shown,
                    "only plain files and directories are allowed",
                ))
            }
        };
        let mut parts = Vec::new();
        for c in raw.components() {
            match c {
                Component::Normal(p) => match p.to_str() {
                    Some(p) if !p.contains('\\') => parts.push(p.to_string()),
                    _ => return Err(refuse(&shown, "the name is not plain UTF-8")),
                },
                Component::ParentDir => return Err(refuse(&shown, "`..` is not allowed")),
                Component::RootDir | Component::Prefix(_) => {
                    return Err(refuse(&shown, "absolute paths are not allowed"))
                }
                Component::CurDir => return Err(refuse(&shown, "`.` components are not allowed")),
            }
        }
        let Some((first, rest)) = parts.split_first() else {
            return Err(refuse(&shown, "empty name"));
        };
        match &top {
            None => top = Some(first.clone()),
            Some(t) if t == first => {}
            Some(t) => {
                return Err(refuse(
                    &shown,
                    &format!("every entry must lie under the top-level directory {t}/"),
                ))
            }
        }
        let size = entry.header().size().map_err(io)?;
        if is_dir {
            if size != 0 {
                return Err(refuse(&shown, "a directory with contents"));
            }
            continue;
        }
        if rest.is_empty() {
            return Err(refuse(&shown, "a file at the top level"));
        }
        if size > MAX_ENTRY_BYTES {
            return Err(refuse(
                &shown,
                &format!("{size} bytes is more than the limit of {MAX_ENTRY_BYTES}"),
            ));
        }
        total = total.saturating_add(size);
        if total > MAX_TOTAL_BYTES {
            return Err(ArchiveError::Invalid {
                path: path.to_path_buf(),
                reason: format!("the entries hold more than {MAX_TOTAL_BYTES} bytes"),
            });
        }
        let mut bytes = Vec::with_capacity(size as usize);
        (&mut entry)
            .take(size + 1)
            .read_to_end(&mut bytes)
            .map_err(io)?;
        if bytes.len() as u64 != size {
            return Err(refuse(&shown, "its size does not match its header"));
        }
        let name = rest.join("/");
        if out.insert(name, bytes).is_some() {
            return Err(refuse(&shown, "the name repeats"));
        }
    }
    // Read the rest of the gzip stream, so its CRC and length are checked:
    // only zero padding may follow the tar end, and nothing the gzip member.
    let mut decoder = archive.into_inner();
    let mut rest = Vec::new();
    (&mut decoder)
        .take(1 << 20)
        .read_to_end(&mut rest)
        .map_err(io)?;
    if rest.iter().any(|b| *b != 0) || rest.len() >= 1 << 20 {
        return Err(ArchiveError::Invalid {
            path: path.to_path_buf(),
            reason: "data after the end of the tar archive".into(),
        });
    }
    let mut file = decoder.into_inner();
    let mut trailing = [0u8; 1];
    if file.read(&mut trailing).map_err(io)? != 0 {
        return Err(ArchiveError::Invalid {
            path: path.to_path_buf(),
            reason: "data after the end of the gzip stream".into(),
        });
    }
    if top.is_none() {
        return Err(ArchiveError::Invalid {
            path: path.to_path_buf(),
            reason: "the archive is empty".into(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files() -> BTreeMap<String, Vec<u8>> {
        BTreeMap::from([
            ("SHA256SUMS".to_string(), b"sums\n".to_vec()),
            ("proofs/00000001.json".to_string(), b"{}\n".to_vec()),
            ("a/b/c.txt".to_string(), vec![7u8; 70_000]),
        ])
    }

    #[test]
    fn deterministic_and_round_trips() {
        let a = write_tar_gz(Vec::new(), "pack", &files(), 1_767_225_600).expect("write");
        let b = write_tar_gz(Vec::new(), "pack", &files(), 1_767_225_600).expect("write");
        assert_eq!(a, b);
        let d = tempfile::tempdir().expect("tempdir");
        let p = d.path().join("pack.tar.gz");
        std::fs::write(&p, &a).expect("write");
        assert_eq!(read_tar_gz(&p).expect("read"), files());
        // Any changed byte of the compressed stream is refused.
        for i in [20, a.len() / 2, a.len() - 5] {
            let mut c = a.clone();
            c[i] ^= 0x01;
            std::fs::write(&p, &c).expect("write");
            assert!(read_tar_gz(&p).is_err(), "byte {i}");
        }
        let mut c = a.clone();
        c.push(0);
        std::fs::write(&p, &c).expect("write");
        assert!(read_tar_gz(&p).is_err(), "trailing byte");
    }

    fn raw_archive(build: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> Vec<u8> {
        let mut t = tar::Builder::new(Vec::new());
        build(&mut t);
        let tar = t.into_inner().expect("tar");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar).expect("gz");
        gz.finish().expect("gz")
    }

    fn file_entry(t: &mut tar::Builder<Vec<u8>>, name: &str, data: &[u8]) {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        // Write the name bytes directly: `append_data` refuses `..` itself.
        let bytes = name.as_bytes();
        h.as_old_mut().name[..bytes.len()].copy_from_slice(bytes);
        h.set_cksum();
        t.append(&h, data).expect("append");
    }

    #[test]
    fn unsafe_entries_are_refused() {
        let d = tempfile::tempdir().expect("tempdir");
        let p = d.path().join("x.tar.gz");
        let check = |bytes: Vec<u8>, want: &str| {
            std::fs::write(&p, bytes).expect("write");
            let err = read_tar_gz(&p).expect_err(want);
            assert!(err.to_string().contains(want), "{err}");
        };
        check(
            raw_archive(|t| file_entry(t, "/etc/passwd", b"x")),
            "absolute",
        );
        check(raw_archive(|t| file_entry(t, "pack/../x", b"x")), "`..`");
        check(
            raw_archive(|t| {
                file_entry(t, "pack/a", b"x");
                file_entry(t, "other/b", b"x");
            }),
            "top-level",
        );
        check(
            raw_archive(|t| {
                file_entry(t, "pack/a", b"x");
                file_entry(t, "pack/a", b"y");
            }),
            "repeats",
        );
        check(
            raw_archive(|t| {
                let mut h = tar::Header::new_gnu();
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_size(0);
                t.append_link(&mut h, "pack/link", "/etc/shadow")
                    .expect("link");
            }),
            "links",
        );
        check(
            raw_archive(|t| {
                let mut h = tar::Header::new_gnu();
                h.set_entry_type(tar::EntryType::Fifo);
                h.set_size(0);
                t.append_data(&mut h, "pack/fifo", std::io::empty())
                    .expect("fifo");
            }),
            "only plain files",
        );
        // An entry whose header claims more than the limit.
        check(
            raw_archive(|t| {
                let mut h = tar::Header::new_gnu();
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(MAX_ENTRY_BYTES + 1);
                h.set_path("pack/big").expect("path");
                h.set_cksum();
                // Header only: the size is never read.
                t.get_mut().extend_from_slice(h.as_bytes());
            }),
            "limit",
        );
        assert_eq!(
            archive_stem(Path::new("/tmp/pack-2026.tar.gz")).as_deref(),
            Some("pack-2026")
        );
        assert_eq!(archive_stem(Path::new("p.tgz")).as_deref(), Some("p"));
        assert_eq!(archive_stem(Path::new("p.zip")), None);
        assert_eq!(archive_stem(Path::new(".tar.gz")), None);
    }
}
