//! PostgreSQL logical dumps: restored with `pg_restore` into a scratch
//! database (`evident_restore_<random>`) that this module creates, queries
//! and always drops; the database the dump was taken from is never touched.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use chrono::{NaiveDateTime, Utc};
use evident_policies::backup::{ProblemKind, SanityResult, Snapshot};
use evident_policies::host::{ProbeError, ProbeErrorKind};

use super::run::run;
use super::{sha256_file, Ctx};

/// `"schema"."table"` for `schema.table` or `"table"` for `table`, when
/// every part is letters, digits and `_` (not starting with a digit).
pub(crate) fn quote_table(t: &str) -> Option<String> {
    let parts: Vec<&str> = t.split('.').collect();
    if parts.is_empty() || parts.len() > 2 {
        return None;
    }
    let ok = |p: &str| {
        !p.is_empty()
            && !p.starts_with(|c: char| c.is_ascii_digit())
            && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    if !parts.iter().all(|p| ok(p)) {
        return None;
    }
    Some(
        parts
            .iter()
            .map(|p| format!("\"{p}\""))
            .collect::<Vec<_>>()
            .join("."),
    )
}

/// The header facts of `pg_restore -l`.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Toc {
    pub created: Option<chrono::DateTime<Utc>>,
    pub dbname: Option<String>,
    pub tables: u64,
}

/// Parse `pg_restore -l` output (run with `TZ=UTC`).
pub(crate) fn parse_toc(text: &str) -> Toc {
    let mut toc = Toc::default();
    for line in text.lines() {
        if let Some(t) = line.strip_prefix("; Archive created at ") {
            let t = t.trim().trim_end_matches(" UTC");
            toc.created = NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S")
                .ok()
                .map(|n| n.and_utc());
        } else if let Some(d) = line.strip_prefix(";     dbname: ") {
            toc.dbname = Some(d.trim().to_string());
        } else if !line.starts_with(';') && line.contains(" TABLE DATA ") {
            toc.tables += 1;
        }
    }
    toc
}

struct Pg<'a> {
    ctx_env: Vec<(&'static str, String)>,
    psql: String,
    maintenance: &'a str,
}

impl Pg<'_> {
    fn cmd(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        // Every call names its database itself.
        c.env_remove("PGDATABASE");
        for (k, v) in &self.ctx_env {
            c.env(k, v);
        }
        c
    }

    fn psql(&self, db: &str, sql: &str) -> Command {
        let mut c = self.cmd(&self.psql);
        c.args([
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            db,
            "-c",
            sql,
        ]);
        c
    }
}

/// The scratch database; dropped when this goes out of scope.
struct Scratch<'a> {
    pg: &'a Pg<'a>,
    name: String,
    dropped: bool,
}

impl Scratch<'_> {
    fn drop_now(&mut self) -> Result<(), String> {
        self.dropped = true;
        let c = self.pg.psql(
            self.pg.maintenance,
            &format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name),
        );
        match run(c, Duration::from_secs(60)) {
            Ok(o) if o.status.success() => Ok(()),
            Ok(o) => Err(o.stderr_tail()),
            Err(e) => Err(e.to_string()),
        }
    }
}

impl Drop for Scratch<'_> {
    fn drop(&mut self) {
        if !self.dropped {
            let _ = self.drop_now();
        }
    }
}

fn scratch_name() -> String {
    let mut h = RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    format!("evident_restore_{:016x}", h.finish())
}

/// The dump's id: the SHA-256 (first 16 hex digits) of the file, or of `toc.dat` in a directory dump.
fn dump_id(dump: &Path) -> Option<String> {
    let file = if dump.is_dir() {
        dump.join("toc.dat")
    } else {
        dump.to_path_buf()
    };
    sha256_file(&file).ok().map(|h| h[..16].to_string())
}

fn dump_bytes(dump: &Path) -> u64 {
    if dump.is_dir() {
        std::fs::read_dir(dump)
            .map(|d| {
                d.flatten()
                    .filter_map(|e| e.metadata().ok())
                    .map(|m| m.len())
                    .sum()
            })
            .unwrap_or(0)
    } else {
        std::fs::metadata(dump).map(|m| m.len()).unwrap_or(0)
    }
}

fn failure_kind(stderr: &str) -> ProblemKind {
    let s = stderr.to_ascii_lowercase();
    if s.contains("password authentication failed") {
        ProblemKind::PasswordRejected
    } else if s.contains("corrupt")
        || s.contains("unexpected end of file")
        || s.contains("not a valid archive")
        || s.contains("could not read")
        || s.contains("could not find block")
        || s.contains("did not find magic string")
    {
        ProblemKind::RepositoryCorrupted
    } else {
        ProblemKind::RestoreFailed
    }
}

/// The restore test of a PostgreSQL dump.
pub(crate) fn test(ctx: &mut Ctx<'_>, _sandbox: &Path) {
    let set = ctx.set;
    let pg_restore = set.program();
    let psql = if pg_restore.contains('/') {
        Path::new(&pg_restore)
            .with_file_name("psql")
            .to_string_lossy()
            .into_owned()
    } else {
        "psql".to_string()
    };
    let mut env: Vec<(&'static str, String)> = vec![
        ("TZ", "UTC".into()),
        ("PGCONNECT_TIMEOUT", "10".into()),
        ("PGAPPNAME", "evident-restore-test".into()),
    ];
    if let Some(h) = &set.host {
        env.push(("PGHOST", h.clone()));
    }
    if let Some(p) = set.port {
        env.push(("PGPORT", p.to_string()));
    }
    if let Some(u) = &set.user {
        env.push(("PGUSER", u.clone()));
    }
    if let Some(s) = &ctx.secret {
        env.push(("PGPASSWORD", s.clone()));
    }
    let maintenance = set.maintenance_database.as_deref().unwrap_or("postgres");
    let pg = Pg {
        ctx_env: env,
        psql,
        maintenance,
    };
    let dump = Path::new(&set.repository);
    if !dump.exists() {
        ctx.problem(
            ProblemKind::NoSnapshot,
            format!("dump {} does not exist", dump.display()),
        );
        return;
    }
    // 1. The dump's table of contents: when it was made, of which database.
    let mut c = pg.cmd(&pg_restore);
    c.arg("-l").arg(dump);
    let toc = match run(c, ctx.left()) {
        Ok(o) if o.status.success() => parse_toc(&o.stdout),
        Ok(o) => {
            ctx.problem(
                ProblemKind::RepositoryCorrupted,
                format!("pg_restore -l {}: {}", dump.display(), o.stderr_tail()),
            );
            return;
        }
        Err(e) => return ctx.run_error("pg_restore -l", e),
    };
    let Some(created) = toc.created else {
        ctx.problem(
            ProblemKind::RepositoryCorrupted,
            "pg_restore -l shows no creation time",
        );
        return;
    };
    ctx.result.snapshot = Some(Snapshot {
        id: dump_id(dump).unwrap_or_else(|| "unknown".into()),
        time: created,
    });
    if let (Some(want), Some(have)) = (&set.database, &toc.dbname) {
        if want != have {
            ctx.problem(
                ProblemKind::RestoreFailed,
                format!("the dump is of database {have}, expected {want}"),
            );
        }
    }
    // 2. A scratch database of our own.
    let mut scratch = Scratch {
        pg: &pg,
        name: scratch_name(),
        dropped: true,
    };
    if Some(scratch.name.as_str()) == set.database.as_deref() || scratch.name == maintenance {
        ctx.problem(
            ProblemKind::RestoreFailed,
            "refusing to restore into a configured database",
        );
        return;
    }
    match run(
        pg.psql(
            maintenance,
            &format!("CREATE DATABASE \"{}\"", scratch.name),
        ),
        ctx.left(),
    ) {
        Ok(o) if o.status.success() => scratch.dropped = false,
        Ok(o) => {
            let tail = o.stderr_tail();
            let kind = if tail.contains("permission denied") {
                ProbeErrorKind::PermissionDenied
            } else {
                ProbeErrorKind::Unreadable
            };
            ctx.result.error = Some(ProbeError::new(
                kind,
                format!("cannot create a scratch database: {tail}"),
            ));
            return;
        }
        Err(e) => return ctx.run_error("psql", e),
    }
    // 3. The restore, measured.
    let started = Instant::now();
    let mut c = pg.cmd(&pg_restore);
    c.args(["--no-owner", "--no-privileges", "--exit-on-error", "-d"])
        .arg(&scratch.name)
        .arg(dump);
    let restored = match run(c, ctx.left()) {
        Ok(o) if o.status.success() => true,
        Ok(o) => {
            ctx.problem(
                failure_kind(&o.stderr),
                format!("pg_restore failed ({}): {}", o.status, o.stderr_tail()),
            );
            false
        }
        Err(e) => {
            ctx.run_error("pg_restore", e);
            false
        }
    };
    if restored {
        ctx.result.restore_millis =
            Some(u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX));
        ctx.result.items_restored = toc.tables;
        ctx.result.bytes_restored = dump_bytes(dump);
        ctx.result.verified.push(format!(
            "pg_restore --exit-on-error of {} tables into scratch database {}",
            toc.tables, scratch.name
        ));
        // 4. Sanity queries.
        for q in &set.sanity {
            let Some(quoted) = quote_table(&q.table) else {
                continue;
            };
            let rows = match run(
                pg.psql(&scratch.name, &format!("SELECT count(*) FROM {quoted}")),
                ctx.left(),
            ) {
                Ok(o) if o.status.success() => o.stdout.trim().parse::<u64>().ok(),
                Ok(o) => {
                    ctx.problem(
                        ProblemKind::SanityQueryFailed,
                        format!("table {}: {}", q.table, o.stderr_tail()),
                    );
                    None
                }
                Err(e) => {
                    ctx.problem(
                        ProblemKind::SanityQueryFailed,
                        format!("table {}: {e}", q.table),
                    );
                    None
                }
            };
            ctx.result.sanity.push(SanityResult {
                table: q.table.clone(),
                min_rows: q.min_rows,
                rows,
            });
        }
        if !set.sanity.is_empty() {
            ctx.result
                .verified
                .push(format!("row counts of {} tables", set.sanity.len()));
        }
    }
    // 5. Drop the scratch database now (the guard would do it on any early return).
    match scratch.drop_now() {
        Ok(()) => ctx
            .result
            .verified
            .push(format!("scratch database {} dropped", scratch.name)),
        Err(e) => ctx.problem(
            ProblemKind::RestoreFailed,
            format!(
                "scratch database {} could not be dropped: {e}",
                scratch.name
            ),
        ),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod unit {
    use super::*;

    #[test]
    fn quotes_tables_or_refuses() {
        assert_eq!(quote_table("orders").unwrap(), "\"orders\"");
        assert_eq!(quote_table("shop.orders").unwrap(), "\"shop\".\"orders\"");
        assert!(quote_table("a.b.c").is_none());
        assert!(quote_table("x\"; DROP").is_none());
        assert!(quote_table("1t").is_none());
        assert!(quote_table("").is_none());
    }

    #[test]
    fn parses_the_toc_header() {
        let t = parse_toc(
            ";\n; Archive created at 2026-12-03 17:55:11 UTC\n;     dbname: shop\n;\n\
             215; 1259 16385 TABLE public orders nobody\n\
             3321; 0 16385 TABLE DATA public orders nobody\n",
        );
        assert_eq!(t.dbname.as_deref(), Some("shop"));
        assert_eq!(t.tables, 1);
        assert_eq!(t.created.unwrap().to_rfc3339(), "2026-12-03T17:55:11+00:00");
    }
}
