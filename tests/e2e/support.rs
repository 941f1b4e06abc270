//! Helpers shared by the end-to-end tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The `evident` binary under test.
pub fn evident() -> Command {
    Command::new(env!("CARGO_BIN_EXE_evident"))
}

/// The `evident-verify` binary, built from the `evident-evidence` package on
/// first use (cargo builds only the tested package's binaries for its tests).
pub fn evident_verify() -> Command {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    let path = PATH.get_or_init(|| {
        let status = Command::new(env!("CARGO"))
            .args([
                "build",
                "--quiet",
                "-p",
                "evident-evidence",
                "--bin",
                "evident-verify",
            ])
            .current_dir(workspace_root())
            .status()
            .expect("run cargo build for evident-verify");
        assert!(status.success(), "building evident-verify failed");
        let exe = PathBuf::from(env!("CARGO_BIN_EXE_evident"));
        exe.with_file_name("evident-verify")
    });
    Command::new(path)
}

/// The repository root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("agent/ has a parent")
        .to_path_buf()
}

/// The shipped example configuration.
pub fn example_config() -> PathBuf {
    workspace_root().join("config.example.toml")
}

/// Run and capture, with the output in the panic message on failure.
pub fn run(cmd: &mut Command) -> Output {
    cmd.env_remove("EVIDENT_LOG");
    cmd.output().expect("spawn")
}

/// Stdout as text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Stderr as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Assert an exit code, showing both streams when it differs.
#[track_caller]
pub fn assert_code(o: &Output, code: i32) {
    assert_eq!(
        o.status.code(),
        Some(code),
        "exit code\n--- stdout\n{}\n--- stderr\n{}",
        stdout(o),
        stderr(o)
    );
}

/// A temp dir with a data dir inside.
pub struct Sandbox {
    /// Kept alive for the test's duration.
    pub dir: tempfile::TempDir,
}

impl Sandbox {
    /// A fresh sandbox.
    pub fn new() -> Sandbox {
        Sandbox {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    /// The data directory evident should use.
    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// `evident --config <example> --data-dir <data> ARGS`.
    pub fn evident(&self, args: &[&str]) -> Output {
        self.evident_with(&example_config(), args)
    }

    /// `evident --config CONFIG --data-dir <data> ARGS`.
    pub fn evident_with(&self, config: &Path, args: &[&str]) -> Output {
        let data = self.data();
        run(evident()
            .arg("--config")
            .arg(config)
            .arg("--data-dir")
            .arg(&data)
            .args(args))
    }

    /// Write a file under the sandbox and return its path.
    pub fn write(&self, rel: &str, content: &str) -> PathBuf {
        let p = self.dir.path().join(rel);
        std::fs::create_dir_all(p.parent().expect("has parent")).expect("mkdir");
        std::fs::write(&p, content).expect("write");
        p
    }

    /// Write a secret file (token, password, key) with mode 0600, as evident
    /// requires of them.
    pub fn write_secret(&self, rel: &str, content: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let p = self.write(rel, content);
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        p
    }
}
