//! Mounted file systems and the block device stacks under them, from
//! `<root>/proc/self/mounts` and `<root>/sys/class/block` (see
//! [`evident_policies::host::disk_encryption`] for the rules).

use std::path::{Path, PathBuf};

use evident_policies::host::disk_encryption::MOUNTS;
use evident_policies::host::{Encryption, FilesystemsObservation, MountedFilesystem, SkippedMount};

use super::fs::{io_error, on_host};

/// Pseudo and virtual file systems: no data at rest of their own.
const PSEUDO: &[&str] = &[
    "proc",
    "sysfs",
    "tmpfs",
    "ramfs",
    "devtmpfs",
    "devpts",
    "cgroup",
    "cgroup2",
    "overlay",
    "aufs",
    "squashfs",
    "nsfs",
    "mqueue",
    "hugetlbfs",
    "debugfs",
    "tracefs",
    "securityfs",
    "pstore",
    "bpf",
    "configfs",
    "fusectl",
    "autofs",
    "binfmt_misc",
    "efivarfs",
    "rpc_pipefs",
    "selinuxfs",
    "nfsd",
    "rootfs",
    "iso9660",
    "fuse.lxcfs",
    "fuse.portal",
    "fuse.gvfsd-fuse",
    "fuse.snapfuse",
];
/// Network and host-shared file systems: their data rests on another machine.
const NETWORK: &[&str] = &[
    "nfs",
    "nfs4",
    "cifs",
    "smb3",
    "smbfs",
    "ceph",
    "glusterfs",
    "fuse.glusterfs",
    "fuse.sshfs",
    "fuse.s3fs",
    "fuse.rclone",
    "9p",
    "virtiofs",
    "afs",
    "lustre",
];
/// File systems that encrypt their content themselves.
const ENCRYPTING: &[&str] = &["ecryptfs", "fuse.gocryptfs", "fuse.encfs", "fuse.cryfs"];
/// Mount points the firmware and boot loader read before anything is unlocked.
const BOOT: &[&str] = &["/boot", "/boot/efi", "/efi"];
/// Device mapper uuid prefixes of cryptsetup targets that do not encrypt.
const CRYPT_NOT_ENCRYPTING: &[&str] = &["CRYPT-INTEGRITY", "CRYPT-VERITY", "CRYPT-SUBDEV"];
/// Deepest device stack followed.
const MAX_DEPTH: u32 = 16;

/// Observe the mounted file systems under `root`.
pub(crate) fn observe(root: &Path) -> FilesystemsObservation {
    let mut obs = FilesystemsObservation {
        filesystems: Vec::new(),
        skipped: Vec::new(),
        error: None,
    };
    let text = match std::fs::read(on_host(root, MOUNTS)) {
        Ok(t) => String::from_utf8_lossy(&t).into_owned(),
        Err(e) => {
            obs.error = Some(io_error(&e, MOUNTS));
            return obs;
        }
    };
    // A later mount on the same point hides the earlier one.
    let mut mounts: Vec<(String, String, String)> = Vec::new();
    for line in text.lines() {
        let mut fields = line.split_whitespace().map(unescape);
        let (Some(source), Some(point), Some(fs_type)) =
            (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        mounts.retain(|(_, p, _)| *p != point);
        mounts.push((source, point, fs_type));
    }
    mounts.sort_by(|a, b| a.1.cmp(&b.1));
    for (source, mount_point, fs_type) in mounts {
        let skip = |why: &str| SkippedMount {
            mount_point: mount_point.clone(),
            fs_type: fs_type.clone(),
            why: why.to_string(),
        };
        if PSEUDO.contains(&fs_type.as_str()) {
            obs.skipped.push(skip("pseudo"));
            continue;
        }
        if NETWORK.contains(&fs_type.as_str()) {
            obs.skipped.push(skip("network"));
            continue;
        }
        if BOOT.contains(&mount_point.as_str()) {
            obs.skipped.push(skip("boot"));
            continue;
        }
        let (encryption, detail) = if ENCRYPTING.contains(&fs_type.as_str()) {
            (
                Encryption::Filesystem,
                format!("{fs_type} encrypts file contents"),
            )
        } else {
            match classify_source(root, &source) {
                Layer::Memory(d) => {
                    obs.skipped.push(skip(&format!("memory-backed ({d})")));
                    continue;
                }
                layer => layer.into_parts(),
            }
        };
        obs.filesystems.push(MountedFilesystem {
            mount_point,
            source,
            fs_type,
            encryption,
            detail,
        });
    }
    obs
}

/// Undo the octal escapes of the mount table (`\040` for a space).
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            let octal = bytes
                .get(i + 1..i + 4)
                .filter(|d| d.iter().all(|b| (b'0'..=b'7').contains(b)))
                .map(|d| d.iter().fold(0u32, |v, b| v * 8 + u32::from(b - b'0')));
            if let Some(v) = octal.and_then(|v| u8::try_from(v).ok()) {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The verdict on one device and everything under it, with a description.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Layer {
    Encrypted(String),
    Plain(String),
    Unknown(String),
    /// RAM-backed (zram, brd): nothing rests on a disk.
    Memory(String),
}

impl Layer {
    fn text(&self) -> &str {
        match self {
            Layer::Encrypted(d) | Layer::Plain(d) | Layer::Unknown(d) | Layer::Memory(d) => d,
        }
    }

    fn into_parts(self) -> (Encryption, String) {
        match self {
            Layer::Encrypted(d) => (Encryption::DmCrypt, d),
            Layer::Plain(d) => (Encryption::None, d),
            Layer::Unknown(d) | Layer::Memory(d) => (Encryption::Unknown, d),
        }
    }
}

/// Classify a mount source such as `/dev/mapper/vg-root` or `/dev/sda1`.
fn classify_source(root: &Path, source: &str) -> Layer {
    let Some(rest) = source.strip_prefix("/dev/") else {
        return Layer::Unknown(format!(
            "{source} is not a block device path (a ZFS dataset, btrfs subvolume or similar \
             cannot be classified)"
        ));
    };
    let dev = on_host(root, source);
    let name = match std::fs::read_link(&dev) {
        // /dev/mapper/NAME -> ../dm-0, /dev/disk/by-uuid/... -> ../../sda1
        Ok(target) => target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        Err(_) => match rest.strip_prefix("mapper/") {
            Some(dm_name) => match dm_by_name(root, dm_name) {
                Some(n) => n,
                None => {
                    return Layer::Unknown(format!(
                        "no device mapper device named {dm_name} in /sys/block"
                    ))
                }
            },
            None => rest.rsplit('/').next().unwrap_or(rest).to_string(),
        },
    };
    classify(root, &name, 0)
}

/// The kernel name (`dm-N`) of the device mapper device called `dm_name`.
fn dm_by_name(root: &Path, dm_name: &str) -> Option<String> {
    let entries = std::fs::read_dir(on_host(root, "/sys/block")).ok()?;
    entries.flatten().find_map(|e| {
        let name = std::fs::read_to_string(e.path().join("dm/name")).ok()?;
        (name.trim() == dm_name).then(|| e.file_name().to_string_lossy().into_owned())
    })
}

/// The sysfs directory of a block device (disks and partitions).
fn sys_dir(root: &Path, name: &str) -> Option<PathBuf> {
    ["/sys/class/block", "/sys/block"]
        .iter()
        .map(|d| on_host(root, &format!("{d}/{name}")))
        .find(|p| p.is_dir())
}

fn read_trimmed(path: &Path) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

/// Classify the block device `name` by following its stack down.
fn classify(root: &Path, name: &str, depth: u32) -> Layer {
    if name.is_empty() || name.contains('/') || name == "." || name == ".." {
        return Layer::Unknown(format!("unusable device name {name:?}"));
    }
    if depth > MAX_DEPTH {
        return Layer::Unknown(format!("device stack deeper than {MAX_DEPTH} at {name}"));
    }
    let Some(dir) = sys_dir(root, name) else {
        return Layer::Unknown(format!("{name} is not in /sys/class/block"));
    };
    if let Some(uuid) = read_trimmed(&dir.join("dm/uuid")) {
        let prefix: String = uuid.splitn(3, '-').take(2).collect::<Vec<_>>().join("-");
        if uuid.starts_with("CRYPT-") && !CRYPT_NOT_ENCRYPTING.contains(&prefix.as_str()) {
            let dm_name = read_trimmed(&dir.join("dm/name")).unwrap_or_default();
            return Layer::Encrypted(format!("{name} {dm_name} (dm-crypt {prefix})"));
        }
        let kind = if uuid.starts_with("LVM-") {
            "LVM".to_string()
        } else if uuid.starts_with("mpath-") {
            "multipath".to_string()
        } else if uuid.is_empty() {
            "device mapper".to_string()
        } else {
            format!("device mapper {prefix}")
        };
        return below(root, name, &dir, &kind, depth);
    }
    if name.starts_with("zram") || name.starts_with("ram") {
        return Layer::Memory(format!("{name} (RAM disk)"));
    }
    if dir.join("loop").is_dir() {
        let backing = read_trimmed(&dir.join("loop/backing_file")).unwrap_or_default();
        return Layer::Unknown(format!(
            "{name} (loop device backed by {backing:?}; the file system holding that file \
             is not followed)"
        ));
    }
    if dir.join("partition").is_file() {
        // /sys/class/block/sda1 -> .../block/sda/sda1: the disk is the parent.
        let parent = std::fs::canonicalize(&dir).ok().and_then(|p| {
            p.parent()
                .and_then(|p| p.file_name())
                .map(|n| n.to_string_lossy().into_owned())
        });
        return match parent {
            Some(disk) if disk != "block" => {
                let under = classify(root, &disk, depth + 1);
                wrap(format!("{name} (partition of {disk})"), under)
            }
            _ => Layer::Unknown(format!("{name} is a partition of an unknown disk")),
        };
    }
    let has_slaves = std::fs::read_dir(dir.join("slaves"))
        .map(|mut e| e.next().is_some())
        .unwrap_or(false);
    if has_slaves {
        let kind = if dir.join("md").is_dir() {
            "md RAID"
        } else {
            "stacked"
        };
        return below(root, name, &dir, kind, depth);
    }
    Layer::Plain(format!("{name} (disk)"))
}

/// Prefix `head` to the description of the layer under it.
fn wrap(head: String, under: Layer) -> Layer {
    let text = format!("{head} -> {}", under.text());
    match under {
        Layer::Encrypted(_) => Layer::Encrypted(text),
        Layer::Plain(_) => Layer::Plain(text),
        Layer::Unknown(_) => Layer::Unknown(text),
        Layer::Memory(_) => Layer::Memory(text),
    }
}

/// Classify a stacked device by the devices under it (`slaves/`): encrypted
/// when all are, plain when any is, otherwise unknown.
fn below(root: &Path, name: &str, dir: &Path, kind: &str, depth: u32) -> Layer {
    let head = format!("{name} ({kind})");
    let mut slaves: Vec<String> = match std::fs::read_dir(dir.join("slaves")) {
        Ok(e) => e
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect(),
        Err(e) => return Layer::Unknown(format!("{head}: cannot list its slaves: {e}")),
    };
    slaves.sort();
    if slaves.is_empty() {
        return Layer::Unknown(format!("{head} has no underlying device"));
    }
    let mut layers: Vec<Layer> = slaves
        .iter()
        .map(|s| classify(root, s, depth + 1))
        .collect();
    if layers.len() == 1 {
        if let Some(only) = layers.pop() {
            return wrap(head, only);
        }
    }
    let text = format!(
        "{head} -> [{}]",
        layers
            .iter()
            .map(Layer::text)
            .collect::<Vec<_>>()
            .join("; ")
    );
    if layers.iter().any(|l| matches!(l, Layer::Plain(_))) {
        Layer::Plain(text)
    } else if layers.iter().all(|l| matches!(l, Layer::Encrypted(_))) {
        Layer::Encrypted(text)
    } else if layers.iter().all(|l| matches!(l, Layer::Memory(_))) {
        Layer::Memory(text)
    } else {
        Layer::Unknown(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescapes_mount_fields() {
        assert_eq!(unescape("/mnt/my\\040disk"), "/mnt/my disk");
        assert_eq!(unescape("/plain"), "/plain");
        assert_eq!(unescape("trailing\\04"), "trailing\\04");
    }
}
