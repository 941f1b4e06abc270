//! evident's data leakage scanner (ISO/IEC 27001:2022 A.8.12): finds secrets
//! and personal data in file trees, git history and objects read by the
//! caller (S3 objects, through the AWS collector: see [`ObjectScan`]).
//!
//! Rules are data ([`rules`]): embedded defaults, extended by a user file.
//! The [`engine`] compiles them once; each buffer gets one Aho-Corasick
//! prefilter pass over the rules' keywords, and only the rules whose keywords
//! occur (plus the few without keywords) run their regular expressions and
//! validators. Files are read in bounded chunks (not memory-mapped: the
//! project forbids `unsafe`, and mapping a file is an unsafe operation) and
//! scanned in parallel. Findings never hold the matched value: a redacted
//! preview and a keyed HMAC fingerprint stand for it.
#![forbid(unsafe_code)]

pub mod engine;
pub mod fingerprint;
pub mod rules;
pub mod sarif;
pub mod scan;
pub mod suppress;
pub mod testcorpus;
pub mod validate;

pub use engine::{Scanner, StreamScan};
pub use fingerprint::Fingerprinter;
pub use rules::{Class, Rule, RuleSelection, RuleSeverity};
pub use scan::{Finding, ObjectScan, Scan, ScanError, ScanOptions, ScanReport, ScanStats, Skip};
pub use suppress::{Allowlist, Baseline};

/// Errors of the scanner's set-up (scan-time problems are [`ScanError`]s).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DlpError {
    /// A rules file or rule is invalid.
    #[error("{origin}: {message}")]
    Rules {
        /// Where the rule came from.
        origin: String,
        /// What is wrong.
        message: String,
    },
    /// An allowlist or baseline is invalid.
    #[error("{origin}: {message}")]
    Suppression {
        /// The file.
        origin: String,
        /// What is wrong.
        message: String,
    },
    /// The fingerprint key is unusable.
    #[error("fingerprint key: {0}")]
    Key(String),
    /// A file could not be read.
    #[error("{path}: {message}")]
    Io {
        /// The path.
        path: String,
        /// The error.
        message: String,
    },
    /// Git failed.
    #[error("git history of {repo}: {message}")]
    Git {
        /// The repository.
        repo: String,
        /// The error.
        message: String,
    },
}

#[cfg(test)]
mod tests;
