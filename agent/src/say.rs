//! What a command tells its user on standard error beside its report: a
//! notice ("created signing key ..."), a warning, and the final error.
//!
//! With `--log-format human` these are the plain `evident: ...` lines they
//! have always been. With `--log-format json` they go through `tracing`, as
//! events of the target [`TARGET`], so that every line on standard error is
//! one JSON object, in the same shape as the logs.
//!
//! They are part of the command's output, not logs: the log filter (`-v`,
//! `EVIDENT_LOG`) does not hide them, in either format. In human mode they
//! never went through the filter; in JSON mode `init_logging` gives them a
//! layer of their own that lets every event of [`TARGET`] through, whatever
//! the filter says, and keeps them out of the filtered log layer (so none is
//! printed twice). This matters most for the final error: a non-zero exit
//! code must always come with its reason, even under `EVIDENT_LOG=off`.

use std::fmt::Display;

use crate::LogFormat;

/// The `tracing` target of the messages addressed to the user.
pub const TARGET: &str = "evident::say";

/// Writes notices, warnings and the final error in the chosen log format.
#[derive(Debug, Clone, Copy)]
pub struct Say {
    format: LogFormat,
}

impl Say {
    /// For the `--log-format` in effect.
    pub fn new(format: LogFormat) -> Say {
        Say { format }
    }

    /// Whether standard error carries JSON lines only (no plain text may
    /// be written there, not even progress).
    pub fn is_json(&self) -> bool {
        self.format == LogFormat::Json
    }

    /// Something the user should know, that is not a problem.
    pub fn notice(&self, msg: impl Display) {
        match self.format {
            LogFormat::Human => eprintln!("evident: {msg}"),
            LogFormat::Json => tracing::info!(target: TARGET, "{msg}"),
        }
    }

    /// Something that may be a problem; the command goes on.
    pub fn warn(&self, msg: impl Display) {
        match self.format {
            LogFormat::Human => eprintln!("evident: warning: {msg}"),
            LogFormat::Json => tracing::warn!(target: TARGET, "{msg}"),
        }
    }

    /// The error that ends the command (or a part of it that failed).
    pub fn error(&self, msg: impl Display) {
        match self.format {
            LogFormat::Human => eprintln!("evident: {msg}"),
            LogFormat::Json => tracing::error!(target: TARGET, "{msg}"),
        }
    }
}
