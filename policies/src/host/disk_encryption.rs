//! Disk encryption: the `host.filesystems` observation and its check.
//!
//! The collector reads the mount table (`/proc/self/mounts`) and, for each
//! mounted data file system, follows its block device down the stack in
//! sysfs (`/sys/class/block/<dev>/dm/uuid` and `slaves/`, partitions to their
//! disk), so that LVM on LUKS or RAID on LUKS is recognised. A device mapper
//! target whose uuid starts with `CRYPT-` (except cryptsetup's integrity and
//! verity targets) is dm-crypt; a file system lies on encrypted storage when
//! every path down its stack crosses a dm-crypt layer.
//!
//! Not classified as data file systems, and so skipped (listed in the
//! observation with the reason): pseudo and virtual file systems (proc,
//! sysfs, tmpfs, overlay, cgroup, squashfs, ...), network file systems (their
//! data rests on the server), and the boot file systems `/boot`, `/boot/efi`
//! and `/efi`, which the firmware and boot loader must read before anything
//! can be unlocked.
//!
//! Limitation: self-encrypting drives (TCG Opal) and encryption by a
//! hypervisor or cloud provider are invisible from inside the machine; such
//! file systems are reported as not encrypted, with that said in the reason.

use serde::{Deserialize, Serialize};

use super::ProbeError;
use crate::model::{Check, CheckMeta, Finding, Observation, Severity, Status};
use crate::reason::ReasonCode;

/// The observation source of this check.
pub const SOURCE: &str = "host.filesystems";

/// Host path of the mount table.
pub const MOUNTS: &str = "/proc/self/mounts";

/// What the host collector saw of the mounted file systems.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilesystemsObservation {
    /// The mounted data file systems, one per mount point, sorted by mount point.
    pub filesystems: Vec<MountedFilesystem>,
    /// Mounts that are not data file systems, with the reason.
    pub skipped: Vec<SkippedMount>,
    /// Set when the mount table could not be read.
    pub error: Option<ProbeError>,
}

/// A mounted data file system and what lies under it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MountedFilesystem {
    /// Mount point, e.g. `/var`.
    pub mount_point: String,
    /// Mount source as in the mount table, e.g. `/dev/mapper/vg-root`.
    pub source: String,
    /// File system type, e.g. `ext4`.
    pub fs_type: String,
    /// The verdict on the device stack.
    pub encryption: Encryption,
    /// The device stack as followed, or why it could not be, e.g.
    /// `dm-1 (LVM) -> dm-0 (dm-crypt CRYPT-LUKS2) -> sda3 (partition of sda)`.
    pub detail: String,
}

/// Whether a file system's data is encrypted at rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Encryption {
    /// Every path down the device stack crosses a dm-crypt device.
    DmCrypt,
    /// The file system itself encrypts (eCryptfs, gocryptfs, ...).
    Filesystem,
    /// At least one path down the stack reaches a plain device without dm-crypt.
    None,
    /// The stack could not be classified.
    Unknown,
}

/// A mount that is not a data file system.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SkippedMount {
    /// Mount point.
    pub mount_point: String,
    /// File system type.
    pub fs_type: String,
    /// Why it is skipped: `pseudo`, `network` or `boot`.
    pub why: String,
}

/// Metadata of [`FILESYSTEMS_ENCRYPTED`].
pub const FILESYSTEMS_ENCRYPTED_META: CheckMeta = CheckMeta {
    id: "host_filesystems_encrypted",
    title: "Mounted data file systems are on encrypted block devices",
    severity: Severity::High,
    controls: &["A.8.24", "A.8.1"],
    source: SOURCE,
    rationale: "A disk that is stolen, lost, returned or disposed of exposes every file on it \
                unless its content is encrypted at rest; dm-crypt/LUKS makes it unreadable \
                without the key.",
    remediation: "Put data file systems on LUKS (cryptsetup luksFormat, or LVM on LUKS as the \
                  Debian installer's \"guided - use entire disk and set up encrypted LVM\"), \
                  unlocked at boot by a passphrase, TPM or network-bound key (clevis/tang). \
                  Where the provider or the drive encrypts instead, record that as evidence.",
    max_age_days: 30,
};

/// Each mounted data file system lies on dm-crypt or encrypts itself.
/// One finding per mount point; `not_applicable` when no data file system
/// is mounted (for example a container with only an overlay root).
pub const FILESYSTEMS_ENCRYPTED: Check = Check {
    meta: FILESYSTEMS_ENCRYPTED_META,
    evaluate: evaluate_filesystems,
};

fn evaluate_filesystems(obs: &Observation) -> Vec<Finding> {
    let meta = &FILESYSTEMS_ENCRYPTED_META;
    let data: FilesystemsObservation = match obs.payload() {
        Ok(d) => d,
        Err(e) => return vec![Finding::malformed(meta, obs, &e)],
    };
    if let Some(err) = &data.error {
        return vec![Finding::new(
            meta,
            MOUNTS,
            Status::Error,
            err.kind.reason_code(),
            format!("the mount table could not be read: {}", err.message),
        )];
    }
    if data.filesystems.is_empty() {
        let skipped: Vec<String> = data
            .skipped
            .iter()
            .take(8)
            .map(|s| format!("{} on {} ({})", s.fs_type, s.mount_point, s.why))
            .collect();
        let more = data.skipped.len().saturating_sub(skipped.len());
        let more = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        return vec![Finding::new(
            meta,
            MOUNTS,
            Status::NotApplicable,
            ReasonCode::ComponentAbsent,
            format!(
                "no data file system is mounted (only {}{more})",
                if skipped.is_empty() {
                    "nothing".to_string()
                } else {
                    skipped.join(", ")
                }
            ),
        )];
    }
    data.filesystems
        .iter()
        .map(|fs| {
            let what = format!("{} ({}) from {}", fs.mount_point, fs.fs_type, fs.source);
            let (status, code, reason) = match fs.encryption {
                Encryption::DmCrypt => (
                    Status::Pass,
                    ReasonCode::FilesystemEncrypted,
                    format!("{what} lies on dm-crypt: {}", fs.detail),
                ),
                Encryption::Filesystem => (
                    Status::Pass,
                    ReasonCode::FilesystemEncrypted,
                    format!("{what} is an encrypting file system: {}", fs.detail),
                ),
                Encryption::None => (
                    Status::Fail,
                    ReasonCode::FilesystemNotEncrypted,
                    format!(
                        "{what} has no dm-crypt layer: {} (drive or provider encryption, if \
                         any, is not visible from the host)",
                        fs.detail
                    ),
                ),
                Encryption::Unknown => (
                    Status::Error,
                    ReasonCode::FilesystemDeviceUnknown,
                    format!("the encryption of {what} is unknown: {}", fs.detail),
                ),
            };
            Finding::new(meta, fs.mount_point.clone(), status, code, reason)
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::host::test_support::{obs, summary};
    use crate::host::ProbeErrorKind;

    fn fs(mount: &str, enc: Encryption) -> MountedFilesystem {
        MountedFilesystem {
            mount_point: mount.into(),
            source: "/dev/x".into(),
            fs_type: "ext4".into(),
            encryption: enc,
            detail: "x".into(),
        }
    }

    fn run(d: &FilesystemsObservation) -> Vec<(String, Status, ReasonCode)> {
        summary(&(FILESYSTEMS_ENCRYPTED.evaluate)(&obs(SOURCE, d)))
    }

    #[test]
    fn one_finding_per_filesystem() {
        let d = FilesystemsObservation {
            filesystems: vec![
                fs("/", Encryption::DmCrypt),
                fs("/home", Encryption::Filesystem),
                fs("/srv", Encryption::None),
                fs("/data", Encryption::Unknown),
            ],
            skipped: vec![],
            error: None,
        };
        assert_eq!(
            run(&d),
            vec![
                ("/".into(), Status::Pass, ReasonCode::FilesystemEncrypted),
                (
                    "/home".into(),
                    Status::Pass,
                    ReasonCode::FilesystemEncrypted
                ),
                (
                    "/srv".into(),
                    Status::Fail,
                    ReasonCode::FilesystemNotEncrypted
                ),
                (
                    "/data".into(),
                    Status::Error,
                    ReasonCode::FilesystemDeviceUnknown
                ),
            ]
        );
    }

    #[test]
    fn no_data_filesystem_is_not_applicable() {
        let d = FilesystemsObservation {
            filesystems: vec![],
            skipped: vec![SkippedMount {
                mount_point: "/".into(),
                fs_type: "overlay".into(),
                why: "pseudo".into(),
            }],
            error: None,
        };
        let f = (FILESYSTEMS_ENCRYPTED.evaluate)(&obs(SOURCE, &d));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].status, Status::NotApplicable);
        assert!(f[0].reason.contains("overlay on /"), "{}", f[0].reason);
    }

    #[test]
    fn unreadable_mounts_are_error() {
        let d = FilesystemsObservation {
            filesystems: vec![fs("/", Encryption::DmCrypt)],
            skipped: vec![],
            error: Some(ProbeError::new(ProbeErrorKind::Unreadable, "no /proc")),
        };
        assert_eq!(
            run(&d),
            vec![(MOUNTS.into(), Status::Error, ReasonCode::Unreadable)]
        );
        let mut o = obs(SOURCE, &d);
        o.data = serde_json::json!({"filesystems": "x"});
        let f = (FILESYSTEMS_ENCRYPTED.evaluate)(&o);
        assert_eq!(f[0].reason_code, ReasonCode::ObservationMalformed);
    }
}
