//! Suppression: an allowlist (paths, rule ids, fingerprints) and a baseline
//! of accepted findings.

use std::collections::BTreeSet;
use std::path::Path;

use globset::{Glob, GlobSet, GlobSetBuilder};
use serde::{Deserialize, Serialize};

use crate::rules::read_text;
use crate::{DlpError, Finding};

/// The allowlist file (TOML).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllowlistFile {
    /// Glob patterns of paths (relative to the scan root, or repository
    /// paths for git history) whose findings are ignored.
    #[serde(default)]
    pub paths: Vec<String>,
    /// Rule ids whose findings are ignored.
    #[serde(default)]
    pub rules: Vec<String>,
    /// Fingerprints of values that are known not to be sensitive.
    #[serde(default)]
    pub fingerprints: Vec<String>,
}

/// A compiled allowlist.
#[derive(Debug, Clone, Default)]
pub struct Allowlist {
    paths: Option<GlobSet>,
    rules: BTreeSet<String>,
    fingerprints: BTreeSet<String>,
}

impl Allowlist {
    /// Compile an allowlist.
    pub fn new(file: &AllowlistFile, origin: &str) -> Result<Allowlist, DlpError> {
        let paths = if file.paths.is_empty() {
            None
        } else {
            let mut b = GlobSetBuilder::new();
            for p in &file.paths {
                b.add(Glob::new(p).map_err(|e| DlpError::Suppression {
                    origin: origin.to_string(),
                    message: e.to_string(),
                })?);
            }
            Some(b.build().map_err(|e| DlpError::Suppression {
                origin: origin.to_string(),
                message: e.to_string(),
            })?)
        };
        Ok(Allowlist {
            paths,
            rules: file.rules.iter().cloned().collect(),
            fingerprints: file.fingerprints.iter().cloned().collect(),
        })
    }

    /// Load from a TOML file.
    pub fn load(path: &Path) -> Result<Allowlist, DlpError> {
        let origin = path.display().to_string();
        let file: AllowlistFile =
            toml::from_str(&read_text(path)?).map_err(|e| DlpError::Suppression {
                origin: origin.clone(),
                message: e.to_string(),
            })?;
        Allowlist::new(&file, &origin)
    }

    /// Whether the finding is allowed (suppressed).
    pub fn allows(&self, f: &Finding) -> bool {
        self.rules.contains(&f.rule_id)
            || self.fingerprints.contains(&f.fingerprint)
            || self.paths.as_ref().is_some_and(|g| g.is_match(&f.path))
    }
}

/// One accepted finding in a baseline.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaselineEntry {
    /// Rule id.
    pub rule_id: String,
    /// Keyed fingerprint of the value.
    pub fingerprint: String,
    /// Where it was when accepted (informational; matching ignores it).
    pub path: String,
}

/// A baseline file (JSON): findings accepted when the scanner was adopted.
/// A finding matches an entry by rule id and fingerprint, wherever it moves.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Baseline {
    /// Format version: 1.
    pub version: u32,
    /// Accepted findings.
    pub findings: Vec<BaselineEntry>,
}

impl Baseline {
    /// Load a baseline.
    pub fn load(path: &Path) -> Result<Baseline, DlpError> {
        let b: Baseline =
            serde_json::from_str(&read_text(path)?).map_err(|e| DlpError::Suppression {
                origin: path.display().to_string(),
                message: e.to_string(),
            })?;
        if b.version != 1 {
            return Err(DlpError::Suppression {
                origin: path.display().to_string(),
                message: format!("unsupported baseline version {}", b.version),
            });
        }
        Ok(b)
    }

    /// A baseline accepting these findings.
    pub fn from_findings(findings: &[Finding]) -> Baseline {
        let mut set: BTreeSet<BaselineEntry> = BTreeSet::new();
        for f in findings {
            set.insert(BaselineEntry {
                rule_id: f.rule_id.clone(),
                fingerprint: f.fingerprint.clone(),
                path: f.path.clone(),
            });
        }
        // One entry per (rule, fingerprint).
        let mut seen = BTreeSet::new();
        let findings = set
            .into_iter()
            .filter(|e| seen.insert((e.rule_id.clone(), e.fingerprint.clone())))
            .collect();
        Baseline {
            version: 1,
            findings,
        }
    }

    /// Whether the finding was accepted.
    pub fn contains(&self, f: &Finding) -> bool {
        self.findings
            .iter()
            .any(|e| e.rule_id == f.rule_id && e.fingerprint == f.fingerprint)
    }
}
