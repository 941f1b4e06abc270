//! restic and borg: file backups restored into the sandbox.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use chrono::{DateTime, NaiveDateTime, Utc};
use evident_policies::backup::{Backend, ProblemKind, Snapshot};
use serde::Deserialize;

use super::run::{run, Output};
use super::{check_canaries, Ctx};

/// A file in a snapshot: its path without a leading `/`, and its size.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Entry {
    pub path: String,
    pub size: u64,
}

/// What a tool's error output says went wrong.
pub(crate) fn classify(stderr: &str) -> ProblemKind {
    let s = stderr.to_ascii_lowercase();
    if s.contains("wrong password") || (s.contains("passphrase") && s.contains("incorrect")) {
        return ProblemKind::PasswordRejected;
    }
    const DAMAGE: &[&str] = &[
        "ciphertext verification failed",
        "integrity",
        "checksum",
        "corrupt",
        "damaged",
        "hash does not match",
        "does not match",
        "unexpected eof",
        "invalid data returned",
        "pack file cannot be listed",
        "error for tree",
        "decrypt",
    ];
    if DAMAGE.iter().any(|d| s.contains(d)) {
        ProblemKind::RepositoryCorrupted
    } else {
        ProblemKind::RestoreFailed
    }
}

/// A tool bound to one set and its sandbox.
struct Tool<'a> {
    backend: Backend,
    program: String,
    repo: &'a str,
    secret: Option<&'a str>,
    state: &'a Path,
}

impl Tool<'_> {
    fn cmd(&self) -> Command {
        let mut c = Command::new(&self.program);
        match self.backend {
            Backend::Restic => {
                // The repository goes in the environment, not argv: a URL
                // with credentials must not show in `ps`.
                for v in [
                    "RESTIC_REPOSITORY_FILE",
                    "RESTIC_PASSWORD_FILE",
                    "RESTIC_PASSWORD_COMMAND",
                ] {
                    c.env_remove(v);
                }
                c.env("RESTIC_PASSWORD", self.secret.unwrap_or_default())
                    .env("RESTIC_REPOSITORY", self.repo);
                c.arg("--no-cache");
            }
            _ => {
                // BORG_REPO rather than argv (see restic above); archives
                // are then named `::NAME`.
                for v in [
                    "BORG_PASSCOMMAND",
                    "BORG_PASSPHRASE_FD",
                    "BORG_NEW_PASSPHRASE",
                ] {
                    c.env_remove(v);
                }
                c.env("BORG_PASSPHRASE", self.secret.unwrap_or_default())
                    .env("BORG_REPO", self.repo)
                    .env("BORG_BASE_DIR", self.state)
                    .env("BORG_RELOCATED_REPO_ACCESS_IS_OK", "no")
                    .env("BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK", "no")
                    .env("BORG_DISPLAY_PASSPHRASE", "no")
                    .env("TZ", "UTC");
            }
        }
        c
    }

    fn name(&self) -> &'static str {
        match self.backend {
            Backend::Restic => "restic",
            _ => "borg",
        }
    }

    /// Run and return the output when it succeeded; record the failure otherwise.
    fn call(&self, ctx: &mut Ctx<'_>, what: &str, c: Command) -> Option<Output> {
        match run(c, ctx.left()) {
            Ok(out) if out.status.success() => Some(out),
            Ok(out) => {
                ctx.problem(
                    classify(&out.stderr),
                    format!(
                        "{} {what} failed ({}): {}",
                        self.name(),
                        out.status,
                        out.stderr_tail()
                    ),
                );
                None
            }
            Err(e) => {
                ctx.run_error(&format!("{} {what}", self.name()), e);
                None
            }
        }
    }

    fn newest_snapshot(&self, ctx: &mut Ctx<'_>) -> Option<Option<Snapshot>> {
        let mut c = self.cmd();
        match self.backend {
            Backend::Restic => {
                c.args(["--no-lock", "snapshots", "--json"]);
            }
            _ => {
                c.args(["list", "--json"]);
            }
        }
        let out = self.call(ctx, "snapshots", c)?;
        let parsed = match self.backend {
            Backend::Restic => parse_restic_snapshots(&out.stdout).map_err(|e| e.to_string()),
            _ => parse_borg_archives(&out.stdout),
        };
        match parsed {
            Ok(list) => Some(list.into_iter().max_by_key(|s| s.time)),
            Err(e) => {
                ctx.problem(
                    ProblemKind::RestoreFailed,
                    format!("{} snapshot list unreadable: {e}", self.name()),
                );
                None
            }
        }
    }

    fn files(&self, ctx: &mut Ctx<'_>, snap: &Snapshot) -> Option<Vec<Entry>> {
        let mut c = self.cmd();
        match self.backend {
            Backend::Restic => {
                c.args(["--no-lock", "ls", "--json", &snap.id]);
            }
            _ => {
                c.args(["list", "--json-lines", &format!("::{}", snap.id)]);
            }
        }
        let out = self.call(ctx, "file list", c)?;
        Some(parse_listing(self.backend, &out.stdout))
    }

    fn restore(
        &self,
        ctx: &mut Ctx<'_>,
        snap: &Snapshot,
        target: &Path,
        only: Option<&[String]>,
    ) -> bool {
        let mut c = self.cmd();
        match self.backend {
            Backend::Restic => {
                c.args(["--no-lock", "restore", &snap.id, "--target"])
                    .arg(target);
                for p in only.unwrap_or_default() {
                    c.arg("--include").arg(format!("/{p}"));
                }
            }
            _ => {
                c.args(["extract", &format!("::{}", snap.id)])
                    .args(only.unwrap_or_default())
                    .current_dir(target);
            }
        }
        self.call(ctx, "restore", c).is_some()
    }

    fn verify_data(&self, ctx: &mut Ctx<'_>, snap: &Snapshot) {
        let mut c = self.cmd();
        let what = match self.backend {
            Backend::Restic => {
                let subset = ctx
                    .set
                    .read_data_subset
                    .clone()
                    .unwrap_or_else(|| "5%".into());
                c.args(["check", &format!("--read-data-subset={subset}")]);
                format!("restic check --read-data-subset={subset}")
            }
            _ => {
                c.args(["check", "--verify-data", &format!("::{}", snap.id)]);
                format!("borg check --verify-data of archive {}", snap.id)
            }
        };
        if self.call(ctx, "check", c).is_some() {
            ctx.result.verified.push(what);
        } else if let Some(p) = ctx.result.problems.last_mut() {
            // A failing data check is damage, whatever the words.
            if p.kind == ProblemKind::RestoreFailed {
                p.kind = ProblemKind::RepositoryCorrupted;
            }
        }
    }
}

/// restic's `snapshots --json`.
pub(crate) fn parse_restic_snapshots(json: &str) -> Result<Vec<Snapshot>, serde_json::Error> {
    #[derive(Deserialize)]
    struct S {
        id: String,
        time: DateTime<Utc>,
    }
    let list: Vec<S> = serde_json::from_str(json)?;
    Ok(list
        .into_iter()
        .map(|s| Snapshot {
            id: s.id,
            time: s.time,
        })
        .collect())
}

/// borg's `list --json` (times are local; borg runs with `TZ=UTC`).
pub(crate) fn parse_borg_archives(json: &str) -> Result<Vec<Snapshot>, String> {
    #[derive(Deserialize)]
    struct A {
        name: String,
        time: String,
    }
    #[derive(Deserialize)]
    struct L {
        archives: Vec<A>,
    }
    let l: L = serde_json::from_str(json).map_err(|e| e.to_string())?;
    l.archives
        .into_iter()
        .map(|a| {
            let t = NaiveDateTime::parse_from_str(&a.time, "%Y-%m-%dT%H:%M:%S%.f")
                .map_err(|e| format!("archive time {:?}: {e}", a.time))?;
            Ok(Snapshot {
                id: a.name,
                time: t.and_utc(),
            })
        })
        .collect()
}

/// Regular files of a restic `ls --json` or borg `list --json-lines` listing.
pub(crate) fn parse_listing(backend: Backend, text: &str) -> Vec<Entry> {
    let file_type = match backend {
        Backend::Restic => "file",
        _ => "-",
    };
    let mut out: Vec<Entry> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v.get("type").and_then(|t| t.as_str()) == Some(file_type))
        .filter_map(|v| {
            Some(Entry {
                path: v.get("path")?.as_str()?.trim_start_matches('/').to_string(),
                size: v.get("size")?.as_u64()?,
            })
        })
        .collect();
    out.sort();
    out
}

/// Whether `path` lies under one of `roots` (no roots: everything).
fn under(path: &str, roots: &[String]) -> bool {
    roots.is_empty()
        || roots.iter().any(|r| {
            let r = r.trim_matches('/');
            r.is_empty() || path == r || path.starts_with(&format!("{r}/"))
        })
}

/// A sample of `n` entries spread over the list, rotating daily (0: all).
pub(crate) fn sample(list: &[Entry], n: usize, day: i64) -> Vec<Entry> {
    if n == 0 || list.len() <= n {
        return list.to_vec();
    }
    let step = list.len() / n;
    let offset = usize::try_from(day.rem_euclid(step as i64)).unwrap_or(0);
    (0..n)
        .filter_map(|i| list.get(offset + i * step).cloned())
        .collect()
}

/// The restore test of a restic or borg set.
pub(crate) fn test(ctx: &mut Ctx<'_>, sandbox: &Path) {
    let state = sandbox.join("state");
    let target = sandbox.join("restore");
    if let Err(e) = std::fs::create_dir(&state).and_then(|_| std::fs::create_dir(&target)) {
        ctx.problem(ProblemKind::RestoreFailed, format!("sandbox: {e}"));
        return;
    }
    let secret = ctx.secret.clone();
    let tool = Tool {
        backend: ctx.set.backend,
        program: ctx.set.program(),
        repo: &ctx.set.repository,
        secret: secret.as_deref(),
        state: &state,
    };
    let Some(newest) = tool.newest_snapshot(ctx) else {
        return;
    };
    let Some(snap) = newest else {
        ctx.problem(
            ProblemKind::NoSnapshot,
            format!(
                "{} holds no snapshot",
                super::redact_repository(&ctx.set.repository)
            ),
        );
        return;
    };
    ctx.result.snapshot = Some(snap.clone());
    let Some(all) = tool.files(ctx, &snap) else {
        // Still let the tool verify its data: its verdict is evidence too.
        tool.verify_data(ctx, &snap);
        return;
    };
    if all.is_empty() {
        // A snapshot that lists no file (or whose listing could not be read)
        // would restore nothing and "pass": that tests nothing.
        ctx.problem(
            ProblemKind::FileMissing,
            format!(
                "snapshot {} lists no regular file (or its listing could not be read): nothing to restore",
                snap.id
            ),
        );
        return;
    }
    let paths = ctx.set.paths.clone();
    for p in &paths {
        if !all.iter().any(|e| under(&e.path, std::slice::from_ref(p))) {
            ctx.problem(
                ProblemKind::FileMissing,
                format!("no file under {p} in snapshot {}", snap.id),
            );
        }
    }
    let eligible: Vec<Entry> = all
        .iter()
        .filter(|e| under(&e.path, &paths))
        .cloned()
        .collect();
    let mut chosen: BTreeSet<Entry> =
        sample(&eligible, ctx.set.sample_size, ctx.now.timestamp() / 86_400)
            .into_iter()
            .collect();
    for c in &ctx.set.canaries.clone() {
        let p = c.path.trim_start_matches('/');
        match all.iter().find(|e| e.path == p) {
            Some(e) => {
                chosen.insert(e.clone());
            }
            None => ctx.problem(
                ProblemKind::FileMissing,
                format!("canary {} is not in snapshot {}", c.path, snap.id),
            ),
        }
    }
    let everything = chosen.len() == all.len();
    let only: Vec<String> = chosen.iter().map(|e| e.path.clone()).collect();
    let started = Instant::now();
    let restored = tool.restore(
        ctx,
        &snap,
        &target,
        (!everything).then_some(only.as_slice()),
    );
    if restored {
        ctx.result.restore_millis =
            Some(u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX));
        let (mut count, mut bytes, mut bad) = (0u64, 0u64, 0usize);
        for e in &chosen {
            match std::fs::symlink_metadata(target.join(&e.path)) {
                Ok(m) if m.is_file() && m.len() == e.size => {
                    count += 1;
                    bytes += m.len();
                }
                Ok(m) => {
                    bad += 1;
                    ctx.problem(
                        ProblemKind::ContentMismatch,
                        format!(
                            "/{}: restored {} bytes, snapshot says {}",
                            e.path,
                            m.len(),
                            e.size
                        ),
                    );
                }
                Err(_) => {
                    bad += 1;
                    ctx.problem(
                        ProblemKind::FileMissing,
                        format!("/{} did not come back", e.path),
                    );
                }
            }
        }
        ctx.result.items_restored = count;
        ctx.result.bytes_restored = bytes;
        ctx.result.verified.push(format!(
            "{} of {} files restored with the sizes in the snapshot's file list ({} of {} files in scope sampled{})",
            chosen.len() - bad,
            chosen.len(),
            chosen.len(),
            eligible.len(),
            if bad > 0 { ", mismatches listed" } else { "" }
        ));
        check_canaries(ctx, &target);
    }
    tool.verify_data(ctx, &snap);
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod unit {
    use super::*;

    #[test]
    fn samples_spread_and_rotate() {
        let list: Vec<Entry> = (0..10)
            .map(|i| Entry {
                path: format!("f{i}"),
                size: i,
            })
            .collect();
        assert_eq!(sample(&list, 0, 0).len(), 10);
        assert_eq!(sample(&list, 20, 0).len(), 10);
        let a: Vec<String> = sample(&list, 3, 0).into_iter().map(|e| e.path).collect();
        assert_eq!(a, vec!["f0", "f3", "f6"]);
        let b: Vec<String> = sample(&list, 3, 1).into_iter().map(|e| e.path).collect();
        assert_eq!(b, vec!["f1", "f4", "f7"]);
    }

    #[test]
    fn paths_and_classification() {
        assert!(under("srv/data/a", &["/srv/data/".into()]));
        assert!(!under("srv/database/a", &["/srv/data".into()]));
        assert!(under("x", &[]));
        assert_eq!(
            classify("Fatal: wrong password or no key found"),
            ProblemKind::PasswordRejected
        );
        assert_eq!(
            classify("passphrase supplied in BORG_PASSPHRASE ... is incorrect."),
            ProblemKind::PasswordRejected
        );
        assert_eq!(
            classify("Data integrity error: Segment entry checksum mismatch"),
            ProblemKind::RepositoryCorrupted
        );
        assert_eq!(
            classify("Fatal: unable to open config file"),
            ProblemKind::RestoreFailed
        );
    }

    #[test]
    fn parses_listings_and_times() {
        let s = parse_restic_snapshots(
            r#"[{"time":"2026-12-03T17:52:44.04Z","id":"9fa9","paths":["/d"]}]"#,
        )
        .unwrap();
        assert_eq!(s[0].id, "9fa9");
        assert_eq!(s[0].time.timestamp(), 1_796_320_364);
        let b = parse_borg_archives(
            r#"{"archives":[{"name":"one","id":"x","time":"2026-12-03T17:52:51.000000"}]}"#,
        )
        .unwrap();
        assert_eq!(b[0].time.timestamp(), 1_796_320_371);
        let l = parse_listing(
            Backend::Borg,
            "{\"type\": \"d\", \"path\": \"data\", \"size\": 0}\n{\"type\": \"-\", \"path\": \"data/a\", \"size\": 3}\n",
        );
        assert_eq!(
            l,
            vec![Entry {
                path: "data/a".into(),
                size: 3
            }]
        );
    }
}
