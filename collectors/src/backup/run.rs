//! Running a backup tool with its own environment, working directory and a
//! timeout; standard error is kept on success too (tools report there).

use std::io::Read;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The output of a finished program.
#[derive(Debug)]
pub struct Output {
    /// Exit status.
    pub status: ExitStatus,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Output {
    /// The telling lines of standard error, for a reason text: those that
    /// say what failed (skipping stack traces and environment dumps), else
    /// the last few lines; at most 3 lines of 300 characters.
    pub fn stderr_tail(&self) -> String {
        summarise(&self.stderr)
    }
}

/// Lines of a stack trace or a crash report's environment, never telling.
const NOISE: &[&str] = &[
    "runtime/",
    "runtime.",
    "goroutine ",
    "main.",
    "github.com/",
    "/usr/lib/",
    "Traceback",
    "File \"",
    "PID:",
    "sys.argv",
    "SSH_ORIGINAL_COMMAND",
    "Platform:",
    "Linux:",
    "Borg:",
    "Python:",
    "Error ID",
    "exit status",
    "created by ",
];

/// Words of a line that says what failed.
const TELLING: &[&str] = &[
    "fatal",
    "error",
    "integrity",
    "corrupt",
    "mismatch",
    "failed",
    "incorrect",
    "wrong",
    "not found",
    "does not exist",
    "denied",
    "unable",
];

/// See [`Output::stderr_tail`].
pub fn summarise(stderr: &str) -> String {
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !NOISE.iter().any(|n| l.starts_with(n)))
        .collect();
    let mut telling: Vec<&str> = Vec::new();
    for l in &lines {
        let low = l.to_ascii_lowercase();
        if TELLING.iter().any(|t| low.contains(t)) && !telling.contains(l) {
            telling.push(l);
        }
    }
    let picked: Vec<&str> = if telling.is_empty() {
        lines[lines.len().saturating_sub(3)..].to_vec()
    } else {
        telling.into_iter().take(3).collect()
    };
    picked
        .iter()
        .map(|l| l.chars().take(300).collect::<String>())
        .collect::<Vec<_>>()
        .join(" / ")
}

/// Why a program did not finish.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// The program is not installed (or not at the configured path).
    #[error("{0} is not installed")]
    NotInstalled(String),
    /// It could not be started.
    #[error("cannot run {0}: {1}")]
    Spawn(String, String),
    /// It ran past the deadline and was killed.
    #[error("{0} timed out after {1}s and was stopped")]
    Timeout(String, u64),
}

/// Run `cmd` (stdin closed) until it exits or `timeout` passes.
pub fn run(mut cmd: Command, timeout: Duration) -> Result<Output, RunError> {
    let name = cmd.get_program().to_string_lossy().into_owned();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => RunError::NotInstalled(name.clone()),
            _ => RunError::Spawn(name.clone(), e.to_string()),
        })?;
    let read = |p: Option<Box<dyn Read + Send>>| {
        p.map(|mut s| {
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let _ = s.read_to_end(&mut buf);
                String::from_utf8_lossy(&buf).into_owned()
            })
        })
    };
    let stdout = read(
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    );
    let stderr = read(
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    );
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            Ok(None) => {
                // The child is ours: kill and reap it.
                let _ = child.kill();
                let _ = child.wait();
                return Err(RunError::Timeout(name, timeout.as_secs()));
            }
            Err(e) => return Err(RunError::Spawn(name, e.to_string())),
        }
    };
    Ok(Output {
        status,
        stdout: stdout.and_then(|h| h.join().ok()).unwrap_or_default(),
        stderr: stderr.and_then(|h| h.join().ok()).unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::summarise;

    #[test]
    fn summaries_keep_what_failed_and_drop_traces() {
        let restic = "Load(<data/2308f18e>, 0, 0) returned error, retrying after 552ms: ciphertext verification failed\n\
                      panic: boom\n\ngoroutine 1 [running]:\nmain.main()\nruntime/proc.go:250\nruntime.goexit\n";
        assert_eq!(
            summarise(restic),
            "Load(<data/2308f18e>, 0, 0) returned error, retrying after 552ms: ciphertext verification failed"
        );
        let borg = "Local Exception\nTraceback (most recent call last):\n  File \"/usr/lib/x.py\", line 1\n\
                    borg.crypto.key.IntegrityError: Data integrity error: MAC mismatch\n\nPlatform: Linux\nPID: 1  CWD: /\n";
        assert_eq!(
            summarise(borg),
            "borg.crypto.key.IntegrityError: Data integrity error: MAC mismatch"
        );
        assert_eq!(summarise("a\nb\nc\nd\n"), "b / c / d");
    }
}
