//! Running helper programs with a timeout, for the real system probes.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long a helper program may run.
const TOOL_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a helper program gave no output.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct CommandError {
    /// What kind of failure.
    pub kind: CommandErrorKind,
    /// Human-readable description, e.g. the first line of its standard error.
    pub message: String,
}

/// The kind of a [`CommandError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CommandErrorKind {
    /// The program is not installed.
    NotInstalled,
    /// It ran but refused for lack of privileges (`Operation not permitted`,
    /// `Permission denied`), or could not be executed for that reason.
    PermissionDenied,
    /// Any other failure: a non-zero exit, a timeout.
    Failed,
}

impl CommandError {
    /// Build a command error.
    pub fn new(kind: CommandErrorKind, message: impl Into<String>) -> CommandError {
        CommandError {
            kind,
            message: message.into(),
        }
    }
}

/// Whether a program's error output says it lacked privileges.
fn says_denied(text: &str) -> bool {
    text.contains("not permitted") || text.contains("Permission denied")
}

/// Run `program` with `args`, stdin closed, within a timeout; its standard
/// output when it exits with status 0.
pub(crate) fn run(program: &str, args: &[&str]) -> Result<String, CommandError> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                CommandError::new(CommandErrorKind::NotInstalled, "not installed")
            }
            std::io::ErrorKind::PermissionDenied => CommandError::new(
                CommandErrorKind::PermissionDenied,
                format!("cannot run: {e}"),
            ),
            _ => CommandError::new(CommandErrorKind::Failed, format!("cannot run: {e}")),
        })?;
    // Read the pipes on threads so that a large output cannot block the child.
    let stdout = child.stdout.take().map(|mut s| {
        std::thread::spawn(move || {
            let mut buf = String::new();
            let _ = s.read_to_string(&mut buf);
            buf
        })
    });
    let stderr = child.stderr.take().map(|mut s| {
        std::thread::spawn(move || {
            let mut buf = String::new();
            let _ = s.read_to_string(&mut buf);
            buf
        })
    });
    let deadline = Instant::now() + TOOL_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Ok(None) => {
                // Best effort: the child is ours; reap it after killing.
                let _ = child.kill();
                let _ = child.wait();
                return Err(CommandError::new(
                    CommandErrorKind::Failed,
                    format!("timed out after {}s", TOOL_TIMEOUT.as_secs()),
                ));
            }
            Err(e) => {
                return Err(CommandError::new(
                    CommandErrorKind::Failed,
                    format!("cannot wait: {e}"),
                ))
            }
        }
    };
    let stdout = stdout.and_then(|h| h.join().ok()).unwrap_or_default();
    let stderr = stderr.and_then(|h| h.join().ok()).unwrap_or_default();
    if status.success() {
        return Ok(stdout);
    }
    let text: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let kind = if says_denied(&stderr) {
        CommandErrorKind::PermissionDenied
    } else {
        CommandErrorKind::Failed
    };
    Err(CommandError::new(
        kind,
        format!("exited with {status}: {}", text.join(" / ")),
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn runs_and_classifies_failures() {
        assert_eq!(run("sh", &["-c", "echo hi"]).unwrap(), "hi\n");
        let e = run("evident-no-such-program", &[]).unwrap_err();
        assert_eq!(e.kind, CommandErrorKind::NotInstalled);
        let e = run(
            "sh",
            &["-c", "echo 'netlink: Error: cache initialization failed: Operation not permitted' >&2; exit 1"],
        )
        .unwrap_err();
        assert_eq!(e.kind, CommandErrorKind::PermissionDenied);
        assert!(e.message.contains("cache initialization failed"), "{e}");
        let e = run("sh", &["-c", "echo boom >&2; exit 3"]).unwrap_err();
        assert_eq!(e.kind, CommandErrorKind::Failed);
    }
}
