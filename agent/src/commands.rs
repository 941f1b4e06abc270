//! The subcommands: thin glue over the libraries.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use chrono::Utc;
use evident_evidence::ledger::Ledger;
use evident_evidence::record::{Record, Status};
use evident_evidence::signing::{FileSigner, Signer};
use evident_policies::soa;
use sha2::Digest;

use crate::collect::{self, SystemClock};
use crate::config::{self, Config, Origin};
use crate::report::Table;
use crate::say::Say;
use crate::{paths, Cli, FailOn, Format, EXIT_FAILURE, EXIT_FINDINGS, EXIT_OK};

/// What every command needs: the global flags and the config's origin.
pub struct Context {
    origin: Origin,
    data_dir_flag: Option<PathBuf>,
    format: Format,
    say: Say,
}

impl Context {
    /// From the parsed command line.
    pub fn new(cli: &Cli) -> Context {
        Context {
            origin: config::locate(cli.config.as_deref()),
            data_dir_flag: cli.data_dir.clone(),
            format: cli.format,
            say: Say::new(cli.log_format),
        }
    }

    fn config(&self) -> anyhow::Result<Config> {
        if self.origin == Origin::Embedded {
            tracing::info!("no evident.toml found; using the embedded default configuration");
        }
        Ok(config::load(&self.origin)?)
    }

    fn data_dir(&self, cfg: &Config) -> PathBuf {
        paths::data_dir(self.data_dir_flag.as_deref(), cfg.agent.data_dir.as_deref())
    }

    fn key_path(&self, cfg: &Config) -> PathBuf {
        cfg.agent
            .key_file
            .clone()
            .unwrap_or_else(|| self.data_dir(cfg).join(paths::KEY_FILE))
    }

    fn ledger_path(&self, cfg: &Config) -> PathBuf {
        self.data_dir(cfg).join(paths::LEDGER_FILE)
    }

    fn agent_id(cfg: &Config) -> String {
        cfg.agent_id()
    }

    /// Refuse formats a command does not print.
    fn require_format(&self, allowed: &[Format]) -> anyhow::Result<()> {
        if allowed.contains(&self.format) {
            Ok(())
        } else {
            Err(crate::UsageError(format!(
                "this command does not print --format {:?}; use one of: {}",
                self.format,
                allowed
                    .iter()
                    .map(|f| format!("{f:?}").to_lowercase())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
            .into())
        }
    }

    /// Open the ledger for writing and load (or create) the key.
    fn open_for_writing(&self, cfg: &Config) -> anyhow::Result<(Ledger, FileSigner, bool)> {
        let dir = self.data_dir(cfg);
        if dir.exists() && !dir.is_dir() {
            bail!("the data directory {} is not a directory", dir.display());
        }
        paths::ensure_dir(&dir)
            .with_context(|| format!("cannot create data directory {}", dir.display()))?;
        let key_path = self.key_path(cfg);
        paths::check_key_ownership(&key_path).map_err(anyhow::Error::msg)?;
        let ledger_path = self.ledger_path(cfg);
        if ledger_path.is_dir() {
            bail!("the ledger path {} is a directory", ledger_path.display());
        }
        let ledger_empty = std::fs::metadata(&ledger_path).map_or(true, |m| m.len() == 0);
        if key_path.exists() && ledger_empty {
            // A key without its ledger means history was lost (or the file
            // was emptied): do not silently start a new one.
            bail!(
                "the signing key {} exists but the ledger {} is missing or empty: evidence may have been lost. Restore the ledger from backup, or, to start a new ledger deliberately, move the key away first",
                key_path.display(),
                ledger_path.display()
            );
        }
        // The ledger first: dying between the two steps then leaves a ledger
        // without a key (a key is created next time), never a key without
        // its ledger (which the check above refuses).
        let ledger = Ledger::open(&ledger_path)
            .with_context(|| format!("cannot open ledger {}", ledger_path.display()))?;
        // Evidence is for the agent and its auditors, not for every local
        // user: 0600 (SQLite gives its -wal/-shm files the same mode).
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&ledger_path, std::fs::Permissions::from_mode(0o600))
                .with_context(|| format!("cannot set the mode of {}", ledger_path.display()))?;
        }
        let (signer, created) = FileSigner::load_or_create(&key_path)
            .with_context(|| format!("signing key {}", key_path.display()))?;
        Ok((ledger, signer, created))
    }

    fn open_existing_ledger(&self, cfg: &Config) -> anyhow::Result<Ledger> {
        let path = self.ledger_path(cfg);
        let missing = !path.exists();
        let ledger = Ledger::open_read_only(&path).with_context(|| {
            if missing {
                format!(
                    "cannot open ledger {}: it does not exist (run `evident collect` first, or pass --data-dir)",
                    path.display()
                )
            } else {
                // An existing but unreadable or damaged ledger: collecting
                // again would not help, and nothing is changed here.
                format!("cannot open ledger {}", path.display())
            }
        })?;
        // Reports leave out records no checkpoint signs; say so.
        let (len, size) = (ledger.len()?, ledger.checkpointed_size()?);
        if len > size {
            self.say.warn(format_args!(
                "{} record(s) of {} are not covered by any signed checkpoint and are left out; run `evident verify`",
                len - size,
                path.display()
            ));
        }
        Ok(ledger)
    }
}

fn stdout() -> std::io::StdoutLock<'static> {
    std::io::stdout().lock()
}

fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    let mut out = stdout();
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
    Ok(())
}

fn print_table(ctx: &Context, table: &Table, width: usize) -> anyhow::Result<()> {
    match ctx.format {
        Format::Csv => table.write_csv(&mut stdout())?,
        Format::Markdown => table.write_markdown(&mut stdout())?,
        _ => table.write_text(&mut stdout(), width)?,
    }
    Ok(())
}

/// `evident init`.
pub fn init(ctx: &Context) -> anyhow::Result<u8> {
    ctx.require_format(&[Format::Table])?;
    let cfg = ctx.config()?;
    let (_ledger, signer, created) = ctx.open_for_writing(&cfg)?;
    println!("data directory: {}", ctx.data_dir(&cfg).display());
    println!("ledger:         {}", ctx.ledger_path(&cfg).display());
    println!(
        "signing key:    {} ({})",
        ctx.key_path(&cfg).display(),
        if created { "created" } else { "existing" }
    );
    println!("key id:         {}", signer.key_id());
    Ok(EXIT_OK)
}

/// `evident collect`.
pub fn collect(ctx: &Context, fail_on: Option<FailOn>) -> anyhow::Result<u8> {
    ctx.require_format(&[Format::Table, Format::Json, Format::Csv, Format::Markdown])?;
    let cfg = ctx.config()?;
    // An emptied or truncated configuration must not let a CI gate pass
    // on a run that checked nothing.
    if enabled_collectors(&cfg) == 0 {
        return Err(crate::UsageError(format!(
            "{}: no collector is enabled, so nothing would be checked; nothing was recorded (see config.example.toml)",
            ctx.origin
        ))
        .into());
    }
    let agent_id = Context::agent_id(&cfg);
    let (ledger, signer, created) = ctx.open_for_writing(&cfg)?;
    if created {
        ctx.say.notice(format_args!(
            "created signing key {} (key id {})",
            ctx.key_path(&cfg).display(),
            signer.key_id()
        ));
    }
    // Progress lines are plain text: not on a JSON standard error.
    let tty = std::io::stderr().is_terminal() && !ctx.say.is_json();
    let mut progress = |msg: &str| {
        if tty {
            eprintln!("… {msg}");
        }
        tracing::info!("{msg}");
    };
    let runner = collect::AgentRunner::new(
        std::sync::Arc::new(cfg),
        agent_id,
        ledger,
        std::sync::Arc::new(signer),
        std::sync::Arc::new(SystemClock),
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let outcome = runtime
        .block_on(collect::collect_all(&runner, &mut progress))
        .context("collection run failed; nothing was recorded")?;

    let mut table = Table::new(&[
        "check", "controls", "target", "resource", "status", "reason",
    ]);
    for f in &outcome.findings {
        table.row(vec![
            f.check_id.clone(),
            f.controls.join(" "),
            f.target.id.clone(),
            f.resource_id.clone(),
            f.status.to_string(),
            f.reason.clone(),
        ]);
    }
    match ctx.format {
        Format::Json => print_json(&serde_json::json!({
            "run_id": outcome.run_id,
            "checkpoint": {
                "tree_size": outcome.checkpoint.tree_size,
                "root_hash": hex_root(&outcome.checkpoint),
                "key_id": outcome.checkpoint.key_id,
            },
            "soa_decisions_recorded": outcome.soa_changes,
            "timestamp": outcome.after.as_ref().and_then(|a| a.timestamp.as_ref()),
            "publication": outcome.after.as_ref().map(|a| &a.sinks),
            "findings": outcome.findings,
        }))?,
        _ => {
            print_table(ctx, &table, 72)?;
            if ctx.format == Format::Table {
                let count = |s: Status| outcome.findings.iter().filter(|f| f.status == s).count();
                println!(
                    "\n{} findings: {} pass, {} fail, {} error, {} not applicable; ledger size {}, run {}",
                    outcome.findings.len(),
                    count(Status::Pass),
                    count(Status::Fail),
                    count(Status::Error),
                    count(Status::NotApplicable),
                    outcome.checkpoint.tree_size,
                    outcome.run_id
                );
            }
            print_after(ctx.say, outcome.after.as_ref());
        }
    }
    let hit = |s: Status| match fail_on {
        None => false,
        Some(FailOn::Fail) => matches!(s, Status::Fail | Status::Error),
        Some(FailOn::Error) => s == Status::Error,
    };
    Ok(if outcome.findings.iter().any(|f| hit(f.status)) {
        EXIT_FINDINGS
    } else {
        EXIT_OK
    })
}

/// Say what timestamping and publication did, on standard error (the
/// collection itself succeeded either way).
fn print_after(say: Say, after: Option<&crate::publish::AfterOutcome>) {
    let Some(a) = after else { return };
    if let Some(t) = &a.timestamp {
        match &t.error {
            None if t.pending == 0 => {}
            None => say.notice(format_args!(
                "{} checkpoint(s) still await a trusted timestamp",
                t.pending
            )),
            Some(e) => say.notice(format_args!(
                "trusted timestamp pending ({} checkpoint(s)): {e}; the checkpoint is recorded and the timestamp is retried on the next run",
                t.pending
            )),
        }
    }
    for s in &a.sinks {
        if let Some(e) = &s.error {
            say.notice(format_args!(
                "publication to {:?} pending ({} checkpoint(s)): {e}; retried on the next run",
                s.name, s.pending
            ));
        }
    }
}

fn hex_root(cp: &evident_evidence::checkpoint::Checkpoint) -> String {
    cp.root_hash.iter().map(|b| format!("{b:02x}")).collect()
}

/// Parse `--at`: RFC 3339, or `YYYY-MM-DD` meaning the end of that day (UTC).
fn parse_at(text: &str) -> anyhow::Result<chrono::DateTime<Utc>> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    let day = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| {
        anyhow::anyhow!("--at {text:?}: expected a date (2026-11-30) or an RFC 3339 time (2026-11-30T12:00:00Z)")
    })?;
    let end = day
        .and_hms_opt(23, 59, 59)
        .ok_or_else(|| anyhow::anyhow!("--at {text:?}: not a valid date"))?;
    Ok(end.and_utc())
}

/// `evident soa`.
pub fn soa(ctx: &Context, at: Option<&str>, check: bool) -> anyhow::Result<u8> {
    let cfg = ctx.config()?;
    let at = at
        .map(parse_at)
        .transpose()
        .map_err(|e| crate::UsageError(e.to_string()))?;
    let configured = collect::configured_decisions(&cfg);
    let ledger_path = ctx.ledger_path(&cfg);
    let (decisions, contents) = if ledger_path.exists() {
        let ledger = ctx.open_existing_ledger(&cfg)?;
        let recorded = collect::recorded_decisions(&ledger, at)?;
        let nothing_recorded =
            at.is_none() && collect::recorded_decisions(&ledger, None)?.is_empty();
        let differ = configured
            .iter()
            .filter(|(id, d)| {
                recorded
                    .get(*id)
                    .map_or(d.applicable.is_some() || d.justification.is_some(), |r| {
                        r != *d
                    })
            })
            .count();
        let decisions = if nothing_recorded {
            if differ > 0 {
                ctx.say.notice(
                    "no SoA decision is recorded in the ledger yet; showing the configured decisions (recorded by the next `evident collect`).",
                );
            }
            configured
        } else {
            if differ > 0 && at.is_none() {
                ctx.say.notice(format_args!(
                    "{differ} SoA decision(s) in the configuration are not yet in the ledger; they are recorded by the next `evident collect`. Showing the recorded decisions."
                ));
            }
            recorded
        };
        (decisions, collect::contents(&ledger)?)
    } else if at.is_some() {
        bail!(
            "no ledger at {}: a past SoA can only be rebuilt from recorded evidence",
            ledger_path.display()
        );
    } else {
        ctx.say.notice(format_args!(
            "no ledger at {} yet; showing configured decisions without evidence",
            ledger_path.display()
        ));
        (configured, collect::Contents::default())
    };
    let rows = soa::build_with_attestations(
        &decisions,
        &contents.findings,
        &contents.attestations,
        at.unwrap_or_else(Utc::now),
    );
    if check {
        return soa_check(ctx, &rows);
    }
    if ctx.format == Format::Json {
        print_json(&serde_json::json!({
            "framework": evident_evidence::record::FRAMEWORK,
            "at": evident_evidence::record::format_time(at.unwrap_or_else(Utc::now)),
            "controls": rows,
        }))?;
        return Ok(EXIT_OK);
    }
    let mut table = Table::new(&[
        "control",
        "title",
        "applicable",
        "justification",
        "implementation",
        "last_evidence",
        "records",
    ]);
    for r in &rows {
        table.row(vec![
            r.control.clone(),
            r.title.clone(),
            match r.applicable {
                Some(true) => "yes".into(),
                Some(false) => "no".into(),
                None => "undecided".into(),
            },
            r.justification.clone().unwrap_or_default(),
            r.implementation.as_str().into(),
            r.last_evidence_at
                .map(evident_evidence::record::format_time)
                .unwrap_or_default(),
            r.record_ids.join(" "),
        ]);
    }
    print_table(ctx, &table, 40)?;
    Ok(EXIT_OK)
}

fn soa_check(ctx: &Context, rows: &[soa::SoaRow]) -> anyhow::Result<u8> {
    let issues = soa::lint(rows);
    if ctx.format == Format::Json {
        print_json(&serde_json::json!({ "ok": issues.is_empty(), "issues": issues }))?;
    } else {
        let mut t = Table::new(&["control", "problem", "detail"]);
        for i in &issues {
            t.row(vec![i.control.clone(), i.code.into(), i.message.clone()]);
        }
        if issues.is_empty() {
            println!("SoA check: no problem found");
        } else {
            print_table(ctx, &t, 100)?;
            if ctx.format == Format::Table {
                println!("\nSoA check: {} problem(s)", issues.len());
            }
        }
    }
    Ok(if issues.is_empty() {
        EXIT_OK
    } else {
        EXIT_FINDINGS
    })
}

/// Parse a period bound: RFC 3339, or `YYYY-MM-DD` at the start of that day (UTC).
fn parse_since(text: &str) -> anyhow::Result<chrono::DateTime<Utc>> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
        .ok_or_else(|| {
            crate::UsageError(format!(
                "{text:?}: expected a date (2026-11-30) or an RFC 3339 time (2026-11-30T12:00:00Z)"
            ))
            .into()
        })
}

/// `evident drift`.
pub fn drift(ctx: &Context, since: &str, until: Option<&str>) -> anyhow::Result<u8> {
    ctx.require_format(&[Format::Table, Format::Json, Format::Markdown, Format::Csv])?;
    let since_text = since;
    let since = parse_since(since)?;
    let until_given = until.is_some();
    let until = until
        .map(parse_at)
        .transpose()
        .map_err(|e| crate::UsageError(e.to_string()))?
        .unwrap_or_else(Utc::now);
    if !until_given && since > until {
        return Err(crate::UsageError(format!(
            "--since {since_text:?} is in the future; give a past date or a duration such as 30d"
        ))
        .into());
    }
    if until < since {
        return Err(crate::UsageError("--until is before --since".into()).into());
    }
    let cfg = ctx.config()?;
    let ledger = ctx.open_existing_ledger(&cfg)?;
    let findings: Vec<_> = ledger
        .checkpointed_records_of_type("finding")?
        .into_iter()
        .filter_map(|(_, r)| match r {
            Record::Finding(f) => Some(f),
            _ => None,
        })
        .collect();
    let (json, table, changed, failing_now) = drift_report(&findings, since, until);
    if ctx.format == Format::Json {
        print_json(&json)?;
        return Ok(EXIT_OK);
    }
    print_table(ctx, &table, 60)?;
    if ctx.format == Format::Table {
        println!(
            "\n{changed} series changed between {} and {}; {failing_now} failing now",
            evident_evidence::record::format_time(since),
            evident_evidence::record::format_time(until),
        );
    }
    Ok(EXIT_OK)
}

/// The drift report of a period: JSON, a table, and the counts of changed
/// and currently failing series.
fn drift_report(
    findings: &[evident_evidence::record::FindingRecord],
    since: chrono::DateTime<Utc>,
    until: chrono::DateTime<Utc>,
) -> (serde_json::Value, Table, usize, usize) {
    let series = evident_policies::drift::drift(findings, since, until);
    let changed: Vec<_> = series.iter().filter(|s| s.changed()).collect();
    let failing_now: Vec<_> = series
        .iter()
        .filter(|s| matches!(s.current, Some(Status::Fail | Status::Error)))
        .collect();
    let json = serde_json::json!({
        "since": evident_evidence::record::format_time(since),
        "until": evident_evidence::record::format_time(until),
        "series": changed,
        "failing_now": failing_now.iter().map(|s| serde_json::json!({
            "check_id": s.key.check_id, "target": s.key.target, "resource_id": s.key.resource_id,
            "status": s.current, "since": s.current_since.map(evident_evidence::record::format_time),
        })).collect::<Vec<_>>(),
    });
    let t = |x: Option<chrono::DateTime<Utc>>| {
        x.map(evident_evidence::record::format_time)
            .unwrap_or_default()
    };
    let mut table = Table::new(&[
        "check",
        "controls",
        "target",
        "resource",
        "transitions",
        "failures",
        "now",
        "since",
        "stale_since",
        "appeared",
        "disappeared",
    ]);
    for s in &changed {
        let transitions: Vec<String> = s
            .transitions
            .iter()
            .map(|x| {
                format!(
                    "{}→{} {}",
                    x.from.map_or("new".into(), |f| f.to_string()),
                    x.to,
                    evident_evidence::record::format_time(x.at)
                )
            })
            .collect();
        let failures: Vec<String> = s
            .failures
            .iter()
            .map(|f| {
                format!(
                    "{}..{} ({}s)",
                    evident_evidence::record::format_time(f.from),
                    t(f.until),
                    f.seconds
                )
            })
            .collect();
        table.row(vec![
            s.key.check_id.clone(),
            s.controls.join(" "),
            s.key.target.clone(),
            s.key.resource_id.clone(),
            transitions.join("; "),
            failures.join("; "),
            s.current.map(|c| c.to_string()).unwrap_or_default(),
            t(s.current_since),
            t(s.stale_since),
            t(s.appeared_at),
            t(s.disappeared_at),
        ]);
    }
    (json, table, changed.len(), failing_now.len())
}

/// `evident export oscal`.
pub fn export_oscal(
    ctx: &Context,
    since: Option<&str>,
    until: Option<&str>,
    out: Option<&Path>,
) -> anyhow::Result<u8> {
    ctx.require_format(&[Format::Table, Format::Json])?;
    let since = since.map(parse_since).transpose()?;
    let until = until
        .map(parse_at)
        .transpose()
        .map_err(|e| crate::UsageError(e.to_string()))?
        .unwrap_or_else(Utc::now);
    let cfg = ctx.config()?;
    let ledger = ctx.open_existing_ledger(&cfg)?;
    let contents = collect::contents(&ledger)?;
    let all: Vec<_> = contents
        .findings
        .into_iter()
        .filter(|f| f.recorded_at <= until)
        .collect();
    let start = since.unwrap_or_else(|| all.first().map_or(until, |f| f.recorded_at));
    let in_period: Vec<_> = all
        .iter()
        .filter(|f| f.recorded_at >= start)
        .cloned()
        .collect();
    let decisions = collect::recorded_decisions(&ledger, Some(until))?;
    let rows = soa::build_with_attestations(&decisions, &all, &contents.attestations, until);
    let doc = crate::export::oscal_assessment_results(
        &Context::agent_id(&cfg),
        &in_period,
        &rows,
        start,
        until,
    );
    let text = serde_json::to_string_pretty(&doc)? + "\n";
    match out {
        Some(path) => std::fs::write(path, text)
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => {
            let mut o = stdout();
            o.write_all(text.as_bytes())?;
        }
    }
    Ok(EXIT_OK)
}

/// `evident validate`.
pub fn validate(ctx: &Context) -> anyhow::Result<u8> {
    ctx.require_format(&[Format::Table, Format::Json])?;
    let cfg = match ctx.config() {
        Ok(cfg) => cfg,
        Err(e) => {
            if ctx.format == Format::Json {
                if let Some(config::ConfigError::Invalid { origin, problems }) = e.downcast_ref() {
                    let list: Vec<_> = problems
                        .iter()
                        .map(|p| serde_json::json!({"line": p.line, "column": p.column, "message": p.message}))
                        .collect();
                    print_json(
                        &serde_json::json!({"config": origin, "valid": false, "problems": list}),
                    )?;
                    return Ok(crate::EXIT_USAGE);
                }
            }
            return Err(e);
        }
    };
    let instances = cfg.collectors.all().len();
    if ctx.format == Format::Json {
        print_json(&serde_json::json!({
            "config": ctx.origin.to_string(),
            "valid": true,
            "collectors": instances,
            "soa_decisions": cfg.soa.controls.len(),
        }))?;
        return Ok(EXIT_OK);
    }
    println!(
        "{}: valid ({} collector instance{}, {} SoA decision{})",
        ctx.origin,
        instances,
        if instances == 1 { "" } else { "s" },
        cfg.soa.controls.len(),
        if cfg.soa.controls.len() == 1 { "" } else { "s" }
    );
    if enabled_collectors(&cfg) == 0 {
        ctx.say.warn(
            "no collector is enabled: `evident collect` would check nothing and refuses to run",
        );
    }
    Ok(EXIT_OK)
}

/// How many collector instances the configuration enables.
fn enabled_collectors(cfg: &Config) -> usize {
    cfg.collectors
        .all()
        .iter()
        .filter(|(i, _)| i.common().enabled)
        .count()
}

/// `evident controls`.
pub fn controls(ctx: &Context) -> anyhow::Result<u8> {
    let all = evident_policies::catalog::controls();
    if ctx.format == Format::Json {
        let v: Vec<_> = all
            .iter()
            .map(|c| serde_json::json!({"id": c.id, "theme": c.theme.as_str(), "title": c.title}))
            .collect();
        print_json(&v)?;
        return Ok(EXIT_OK);
    }
    let mut t = Table::new(&["control", "theme", "title"]);
    for c in all {
        t.row(vec![c.id.clone(), c.theme.as_str().into(), c.title.clone()]);
    }
    print_table(ctx, &t, 100)?;
    Ok(EXIT_OK)
}

/// `evident checks`.
pub fn checks(ctx: &Context) -> anyhow::Result<u8> {
    let all = evident_policies::checks();
    if ctx.format == Format::Json {
        let metas: Vec<_> = all.iter().map(|c| c.meta).collect();
        print_json(&metas)?;
        return Ok(EXIT_OK);
    }
    let mut t = Table::new(&["check", "controls", "severity", "max_age_days", "title"]);
    for c in all {
        t.row(vec![
            c.meta.id.into(),
            c.meta.controls.join(" "),
            c.meta.severity.as_str().into(),
            c.meta.max_age_days.to_string(),
            c.meta.title.into(),
        ]);
    }
    print_table(ctx, &t, 80)?;
    Ok(EXIT_OK)
}

/// `evident verify`.
pub fn verify(
    ctx: &Context,
    key: Option<&Path>,
    since: Option<&Path>,
    published: Option<&Path>,
) -> anyhow::Result<u8> {
    ctx.require_format(&[Format::Table, Format::Json])?;
    let cfg = ctx.config()?;
    let ledger = ctx.open_existing_ledger(&cfg)?;
    let trusted = match key {
        Some(k) => Some(
            std::fs::read_to_string(k)
                .with_context(|| format!("cannot read key {}", k.display()))?,
        ),
        // Without --key, trust the agent's own key when this user can read
        // it: a ledger re-signed with another key then fails.
        None => default_trusted_key(ctx, &cfg, &ledger)?,
    };
    let report = evident_evidence::verify::verify_ledger(&ledger, trusted.as_deref())?;
    let since_report = since
        .map(|dir| -> anyhow::Result<_> {
            let saved = evident_evidence::checkpoint::Checkpoint::read_from_dir(dir).with_context(
                || format!("cannot read the saved checkpoint in {}", dir.display()),
            )?;
            Ok(evident_evidence::since::verify_since_checkpoint(
                &ledger,
                &saved,
                trusted.as_deref(),
            )?)
        })
        .transpose()?;
    let published_report = published
        .map(|dir| -> anyhow::Result<_> {
            let list = evident_evidence::published::read_published_dir(dir).with_context(|| {
                format!("cannot read published checkpoints in {}", dir.display())
            })?;
            Ok(evident_evidence::published::check_ledger_against(
                &ledger,
                &list,
                trusted.as_deref(),
            )?)
        })
        .transpose()?;
    let ok = report.is_ok()
        && since_report.as_ref().is_none_or(|r| r.is_ok())
        && published_report
            .as_ref()
            .is_none_or(|r| r.problems.is_empty());
    if ctx.format == Format::Json {
        let mut v = report.to_json();
        if let Some(obj) = v.as_object_mut() {
            if let Some(r) = &since_report {
                obj.insert("since_checkpoint".into(), r.to_json());
            }
            if let Some(r) = &published_report {
                obj.insert("published".into(), serde_json::to_value(r)?);
            }
            obj.insert("ok".into(), ok.into());
        }
        print_json(&v)?;
    } else {
        println!("ledger:       {}", ctx.ledger_path(&cfg).display());
        print!("{report}");
        if let (Some(r), Some(dir)) = (&since_report, since) {
            println!("\nsince checkpoint: {}", dir.display());
            print!("{r}");
        }
        if let (Some(r), Some(dir)) = (&published_report, published) {
            print_published(dir, r);
        }
    }
    Ok(if ok { EXIT_OK } else { EXIT_FAILURE })
}

/// The key `evident verify` trusts without `--key`: the agent's own key, or,
/// when the ledger's key chain leads from its first key to the agent's key
/// through rotation records, that first key (pinning the newest key would
/// not vouch for what the keys before it signed). `None` when the key file
/// cannot be read by this user: the keys stored in the ledger are used, and
/// the report says the key is not pinned.
fn default_trusted_key(
    ctx: &Context,
    cfg: &Config,
    ledger: &Ledger,
) -> anyhow::Result<Option<String>> {
    let path = ctx.key_path(cfg);
    let signer = match FileSigner::load(&path) {
        Ok(s) => s,
        // A key other users can read is not trusted silently: whoever read
        // it could have re-signed the ledger.
        Err(e @ evident_evidence::signing::KeyError::InsecurePermissions { .. }) => {
            ctx.say.warn(format_args!("not trusting the agent key: {e}; verifying against the keys stored in the ledger only"));
            return Ok(None);
        }
        Err(_) => return Ok(None),
    };
    let agent_key = signer.key_id().to_string();
    let first = ledger.checkpoints()?.first().map(|c| c.key_id.clone());
    let chained = ledger
        .key_rotations()?
        .iter()
        .any(|(_, r)| r.new_key_id == agent_key);
    let (id, pem) = match first {
        Some(first) if first != agent_key && chained => match ledger.public_key(&first)? {
            Some(pem) => (first, pem),
            None => (agent_key, signer.public_key_pem().to_string()),
        },
        _ => (agent_key, signer.public_key_pem().to_string()),
    };
    if id == signer.key_id() {
        ctx.say.notice(format_args!(
            "trusting key {id} (the agent's signing key {}); pass --key to pin another",
            path.display()
        ));
    } else {
        ctx.say.notice(format_args!(
            "trusting key {id}, the first key of the rotation chain that leads to the agent's signing key {} ({}); pass --key to pin another",
            path.display(),
            signer.key_id()
        ));
    }
    Ok(Some(pem))
}

/// `evident prove RECORD_ID --out FILE`.
pub fn prove(ctx: &Context, record_id: &str, out: &Path) -> anyhow::Result<u8> {
    ctx.require_format(&[Format::Table])?;
    let cfg = ctx.config()?;
    let ledger = ctx.open_existing_ledger(&cfg)?;
    let proof = evident_evidence::proof::prove_record(&ledger, record_id)
        .with_context(|| format!("cannot prove record {record_id}"))?;
    std::fs::write(out, proof.to_json_bytes())
        .with_context(|| format!("cannot write {}", out.display()))?;
    println!(
        "wrote the proof of record {record_id} (leaf {}) to {}; check it with: evident-verify record {} --key key.pem",
        proof.leaf_index,
        out.display(),
        out.display()
    );
    Ok(EXIT_OK)
}

/// `evident checkpoint --out DIR`.
pub fn checkpoint(ctx: &Context, out: &Path) -> anyhow::Result<u8> {
    ctx.require_format(&[Format::Table])?;
    let cfg = ctx.config()?;
    let ledger = ctx.open_existing_ledger(&cfg)?;
    let Some(cp) = ledger.latest_checkpoint()? else {
        bail!("the ledger has no checkpoint yet; run `evident collect` first");
    };
    // A saved checkpoint is an auditor's trust anchor for the next
    // `--since-checkpoint`: never replace one silently.
    if out.join("checkpoint").exists() || out.join("checkpoint.sig").exists() {
        return Err(crate::UsageError(format!(
            "{} already holds a checkpoint; keep it (it is the anchor for `verify --since-checkpoint`) and choose a new directory",
            out.display()
        ))
        .into());
    }
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    cp.write_to_dir(out)
        .with_context(|| format!("cannot write checkpoint to {}", out.display()))?;
    let token = match ledger.latest_checkpoint_seq()? {
        Some(seq) => ledger.timestamp_of(seq)?,
        None => None,
    };
    let token_note = match &token {
        Some(t) => {
            let path = out.join(evident_evidence::timestamp::TOKEN_FILE);
            std::fs::write(&path, t).with_context(|| format!("cannot write {}", path.display()))?;
            ", checkpoint.tst (RFC 3161 token)"
        }
        None => "",
    };
    println!(
        "wrote checkpoint (tree size {}) to {}: checkpoint, checkpoint.sig, checkpoint.pub.pem{token_note}",
        cp.tree_size,
        out.display()
    );
    Ok(EXIT_OK)
}

/// `evident key export`.
pub fn key_export(ctx: &Context) -> anyhow::Result<u8> {
    ctx.require_format(&[Format::Table])?;
    let cfg = ctx.config()?;
    let path = ctx.key_path(&cfg);
    let signer =
        FileSigner::load(&path).with_context(|| format!("signing key {}", path.display()))?;
    print!("{}", signer.public_key_pem());
    Ok(EXIT_OK)
}

/// `evident key rotate`: a new key in `<key>.new`, a rotation record signed
/// by the old key, then the new key moved into place and the old one kept as
/// `<key>.retired-<key id prefix>`. Re-running after an interruption resumes.
pub fn key_rotate(ctx: &Context) -> anyhow::Result<u8> {
    let cfg = ctx.config()?;
    let path = ctx.key_path(&cfg);
    let old = FileSigner::load(&path).with_context(|| format!("signing key {}", path.display()))?;
    let mut new_path = path.clone().into_os_string();
    new_path.push(".new");
    let new_path = PathBuf::from(new_path);
    let (new, _) = FileSigner::load_or_create(&new_path)
        .with_context(|| format!("new signing key {}", new_path.display()))?;
    let ledger_path = ctx.ledger_path(&cfg);
    let mut ledger = Ledger::open(&ledger_path)
        .with_context(|| format!("cannot open ledger {}", ledger_path.display()))?;
    if ledger.current_key_id()?.as_deref() != Some(new.key_id()) {
        ledger
            .rotate_key(
                &old,
                new.public_key_pem(),
                &Context::agent_id(&cfg),
                concat!("evident ", env!("CARGO_PKG_VERSION")),
                Utc::now(),
            )
            .context("cannot record the key rotation")?;
    }
    let mut retired = path.clone().into_os_string();
    retired.push(format!(".retired-{}", &old.key_id()[..16]));
    std::fs::rename(&path, &retired)
        .with_context(|| format!("cannot move the old key {}", path.display()))?;
    std::fs::rename(&new_path, &path)
        .with_context(|| format!("cannot move the new key into {}", path.display()))?;
    println!(
        "rotated the signing key: {} -> {}; the old private key is kept in {} (delete it when no longer needed)",
        old.key_id(),
        new.key_id(),
        PathBuf::from(retired).display()
    );
    Ok(EXIT_OK)
}

fn parse_day(text: &str, end: bool) -> anyhow::Result<chrono::DateTime<Utc>> {
    if let Ok(d) = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        let d = if end { d.succ_opt().unwrap_or(d) } else { d };
        return Ok(d.and_time(chrono::NaiveTime::MIN).and_utc());
    }
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            crate::UsageError(format!(
                "{text:?} is not a date (YYYY-MM-DD) or RFC 3339 time"
            ))
            .into()
        })
}

/// `evident pack --from DATE --to DATE --out PATH [--since-checkpoint DIR]`.
pub fn pack(
    ctx: &Context,
    from: &str,
    to: &str,
    out: &Path,
    since: Option<&Path>,
) -> anyhow::Result<u8> {
    let cfg = ctx.config()?;
    let (from, to) = (parse_day(from, false)?, parse_day(to, true)?);
    if to <= from {
        bail!(crate::UsageError("--to is before --from".into()));
    }
    let ledger = ctx.open_existing_ledger(&cfg)?;
    let key_path = ctx.key_path(&cfg);
    let signer = FileSigner::load(&key_path)
        .with_context(|| format!("signing key {}", key_path.display()))?;
    let mut builder = evident_evidence::pack::PackBuilder::new(&ledger, from, to);
    // The reports an auditor reads, built from the same ledger for the period.
    let until = to.min(Utc::now());
    let (rows, contents) = soa_at(ctx, &cfg, until)?;
    let agent = Context::agent_id(&cfg);
    let in_period: Vec<_> = contents
        .findings
        .iter()
        .filter(|f| f.recorded_at >= from && f.recorded_at < to)
        .cloned()
        .collect();
    let mut csv = Vec::new();
    let mut soa_table = Table::new(&crate::export::SOA_COLUMNS);
    for r in &rows {
        soa_table.row(crate::export::soa_cells(r).to_vec());
    }
    soa_table.write_csv(&mut csv)?;
    let oscal = crate::export::oscal_assessment_results(&agent, &in_period, &rows, from, until);
    let until_findings: Vec<_> = contents
        .findings
        .iter()
        .filter(|f| f.recorded_at < to)
        .cloned()
        .collect();
    let (drift_json, drift_table, _, _) = drift_report(&until_findings, from, until);
    let mut drift_md = Vec::new();
    drift_table.write_markdown(&mut drift_md)?;
    for (name, bytes) in [
        ("soa.csv", csv),
        (
            "soa.xlsx",
            crate::export::soa_xlsx(&rows, &agent, until)
                .context("cannot build the SoA workbook")?,
        ),
        (
            "soa.html",
            crate::export::soa_html(&rows, &agent, until).into_bytes(),
        ),
        (
            "oscal-assessment-results.json",
            serde_json::to_vec_pretty(&oscal)?,
        ),
        ("drift.json", serde_json::to_vec_pretty(&drift_json)?),
        ("drift.md", drift_md),
    ] {
        builder
            .add_file(name, bytes)
            .with_context(|| format!("cannot add {name} to the pack"))?;
    }
    if let Some(dir) = since {
        let saved = evident_evidence::checkpoint::Checkpoint::read_from_dir(dir)
            .with_context(|| format!("cannot read the saved checkpoint in {}", dir.display()))?;
        builder = builder.since_checkpoint(saved);
    }
    if let Some(ca) = cfg.timestamp.as_ref().and_then(|t| t.ca_file.as_ref()) {
        let pem = std::fs::read(ca)
            .with_context(|| format!("cannot read timestamp.ca_file {}", ca.display()))?;
        builder = builder.tsa_ca(pem);
    }
    if cfg.timestamp.is_some() {
        let latest_has_token = match ledger.latest_checkpoint_seq()? {
            Some(seq) => ledger.timestamp_of(seq)?.is_some(),
            None => false,
        };
        if !latest_has_token {
            ctx.say.notice(
                "the latest checkpoint has no trusted timestamp yet (the TSA was unreachable?); the pack carries none for it. Run `evident collect` once the TSA is back, then pack again",
            );
        }
    }
    let s = builder
        .write(out, &signer)
        .with_context(|| format!("cannot write the pack to {}", out.display()))?;
    println!(
        "wrote {} ({} records, {} SoA decisions, {} observations, checkpoint size {}, {} files, {} timestamp token(s)); see VERIFY.md",
        out.display(),
        s.records,
        s.soa_decisions,
        s.observations,
        s.tree_size,
        s.files,
        s.timestamps
    );
    Ok(EXIT_OK)
}

/// The result of checking against published checkpoints, for a terminal.
fn print_published(dir: &Path, r: &evident_evidence::published::PublishedReport) {
    println!("\npublished:    {}", dir.display());
    println!("checked:      {} published checkpoint(s)", r.checked);
    if r.problems.is_empty() {
        println!("result:       OK, every published checkpoint is a prefix of the ledger");
    } else {
        println!("result:       {} problem(s)", r.problems.len());
        for p in &r.problems {
            println!("  [{}] {}", p.code, p.message);
        }
    }
}

/// `evident verify PATH`: verify an evidence pack (directory or tarball).
pub fn verify_pack(
    ctx: &Context,
    path: &Path,
    key: Option<&Path>,
    since: Option<&Path>,
    published: Option<&Path>,
) -> anyhow::Result<u8> {
    ctx.require_format(&[Format::Table, Format::Json])?;
    let trusted = key
        .map(|k| {
            std::fs::read_to_string(k).with_context(|| format!("cannot read key {}", k.display()))
        })
        .transpose()?;
    let saved = since
        .map(|dir| {
            evident_evidence::checkpoint::Checkpoint::read_from_dir(dir)
                .with_context(|| format!("cannot read the saved checkpoint in {}", dir.display()))
        })
        .transpose()?;
    let published = published
        .map(|dir| {
            evident_evidence::published::read_published_dir(dir)
                .with_context(|| format!("cannot read published checkpoints in {}", dir.display()))
        })
        .transpose()?;
    let report = evident_evidence::pack::verify_pack_with(
        path,
        &evident_evidence::pack::PackVerifyOptions {
            saved: saved.as_ref(),
            trusted_key_pem: trusted.as_deref(),
            published: published.as_deref(),
        },
    )?;
    if ctx.format == Format::Json {
        print_json(&report.to_json())?;
    } else {
        println!("pack:         {}", path.display());
        print!("{report}");
    }
    Ok(if report.is_ok() {
        EXIT_OK
    } else {
        EXIT_FAILURE
    })
}

/// `evident run`.
pub fn run_daemon(ctx: &Context, run_at_start: bool) -> anyhow::Result<u8> {
    crate::service::run(|| {
        let cfg = ctx.config()?;
        let agent_id = Context::agent_id(&cfg);
        let (ledger, signer, created) = ctx.open_for_writing(&cfg)?;
        if created {
            tracing::info!(key = %ctx.key_path(&cfg).display(), key_id = signer.key_id(), "created signing key");
        }
        Ok(crate::service::DaemonSetup {
            data_dir: ctx.data_dir(&cfg),
            cfg,
            agent_id,
            ledger,
            signer,
            run_at_start,
        })
    })
}

/// Whether a daemon holds the data directory's lock right now.
fn daemon_running(dir: &Path) -> bool {
    let Ok(f) = std::fs::File::options()
        .write(true)
        .open(dir.join(crate::service::LOCK_FILE))
    else {
        return false;
    };
    matches!(f.try_lock(), Err(std::fs::TryLockError::WouldBlock))
}

/// `evident status`.
pub fn status(ctx: &Context) -> anyhow::Result<u8> {
    let cfg = ctx.config()?;
    let dir = ctx.data_dir(&cfg);
    let path = dir.join(crate::service::STATUS_FILE);
    let book: crate::daemon::StatusBook = match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .with_context(|| format!("cannot parse {}", path.display()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Default::default(),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let running = daemon_running(&dir);
    let now = Utc::now();
    let mut rows = Vec::new();
    for (inst, _) in cfg.collectors.all() {
        let common = inst.common();
        let st = book
            .collectors
            .get(inst.name())
            .cloned()
            .unwrap_or_default();
        let next = if !common.enabled {
            None
        } else if running {
            st.next_run_at
        } else {
            common
                .run_options()
                .ok()
                .and_then(|o| o.schedule.next_after(now))
        };
        rows.push(serde_json::json!({
            "collector": inst.name(),
            "kind": inst.kind(),
            "enabled": common.enabled,
            "schedule": common.schedule.get_ref(),
            "last_started_at": st.last_started_at.map(evident_evidence::record::format_time),
            "last_finished_at": st.last_finished_at.map(evident_evidence::record::format_time),
            "last_outcome": st.last_outcome,
            "last_error": st.last_error,
            "last_findings": st.last_summary.map(|s| s.findings),
            "next_run_at": next.map(evident_evidence::record::format_time),
        }));
    }
    // The ledger's newest checkpoint covers `evident collect` runs too, which
    // the daemon's status file does not know about.
    let ledger_path = ctx.ledger_path(&cfg);
    let latest = if ledger_path.exists() {
        let ledger = ctx.open_existing_ledger(&cfg)?;
        ledger.latest_checkpoint()?
    } else {
        None
    };
    let latest_json = latest.as_ref().map(|c| {
        serde_json::json!({
            "tree_size": c.tree_size,
            "time": evident_evidence::record::format_time(c.time),
            "root_hash": hex_root(c),
        })
    });
    if ctx.format == Format::Json {
        print_json(&serde_json::json!({
            "daemon_running": running,
            "daemon_pid": running.then_some(book.pid),
            "status_updated_at": book.updated_at.map(evident_evidence::record::format_time),
            "latest_checkpoint": latest_json,
            "collectors": rows,
        }))?;
        return Ok(EXIT_OK);
    }
    let mut t = Table::new(&[
        "collector",
        "schedule",
        "last_run",
        "outcome",
        "last_error",
        "next_run",
    ]);
    let s = |v: &serde_json::Value| v.as_str().unwrap_or("").to_string();
    for r in &rows {
        t.row(vec![
            s(&r["collector"]),
            s(&r["schedule"]),
            s(&r["last_started_at"]),
            if r["enabled"] == false {
                "disabled".into()
            } else {
                s(&r["last_outcome"])
            },
            s(&r["last_error"]),
            s(&r["next_run_at"]),
        ]);
    }
    print_table(ctx, &t, 60)?;
    if ctx.format == Format::Table {
        match &latest {
            Some(c) => println!(
                "\nledger: latest checkpoint {} (size {}), from `evident run` or `evident collect`; last_run shows the daemon's runs only",
                evident_evidence::record::format_time(c.time),
                c.tree_size
            ),
            None => println!("\nledger: nothing recorded yet"),
        }
        if running {
            println!("daemon running (pid {})", book.pid);
        } else {
            println!(
                "daemon not running; next_run is when a started daemon would run each collector"
            );
        }
    }
    Ok(EXIT_OK)
}

/// Parse an expiry: `N d` days from now, or a date (end of that day, UTC).
fn parse_expiry(text: &str, now: chrono::DateTime<Utc>) -> anyhow::Result<chrono::DateTime<Utc>> {
    let t = text.trim();
    let at = if let Some(days) = t.strip_suffix('d').and_then(|d| d.parse::<i64>().ok()) {
        if !(1..=3650).contains(&days) {
            return Err(
                crate::UsageError(format!("--expires {text:?}: between 1d and 3650d")).into(),
            );
        }
        now + chrono::Duration::days(days)
    } else {
        parse_at(t).map_err(|_| {
            crate::UsageError(format!(
                "--expires {text:?}: expected days (365d) or a date (2027-12-31)"
            ))
        })?
    };
    if at <= now {
        return Err(crate::UsageError(format!("--expires {text:?} is not in the future")).into());
    }
    if at > now + chrono::Duration::days(3650) {
        return Err(crate::UsageError(format!(
            "--expires {text:?} is more than 3650 days ahead: evidence and acceptances must be renewed"
        ))
        .into());
    }
    Ok(at)
}

fn control_arg(text: &str) -> anyhow::Result<String> {
    evident_policies::catalog::control(text)
        .map(|c| c.id.clone())
        .ok_or_else(|| {
            crate::UsageError(format!(
                "unknown control {text:?}: Annex A has A.5.1–A.8.34"
            ))
            .into()
        })
}

fn who(by: Option<&str>) -> anyhow::Result<String> {
    let name = by
        .map(String::from)
        .or_else(|| std::env::var("SUDO_USER").ok())
        .or_else(|| std::env::var("USER").ok())
        .or_else(|| std::env::var("LOGNAME").ok())
        .unwrap_or_else(|| {
            format!(
                "uid {}",
                paths::euid().map_or("?".into(), |u| u.to_string())
            )
        });
    if name.trim().is_empty() || name.chars().any(char::is_control) {
        return Err(crate::UsageError(
            "the name (--by or --approver) must be printable and not empty".into(),
        )
        .into());
    }
    Ok(name)
}

fn append_attestation(
    ctx: &Context,
    record: evident_evidence::record::AttestationRecord,
) -> anyhow::Result<u8> {
    let cfg = ctx.config()?;
    let (mut ledger, signer, _) = ctx.open_for_writing(&cfg)?;
    let id = record.record_id.clone();
    let at = record.recorded_at;
    let cp = ledger
        .append_run(
            &[],
            &[Record::Attestation(record)],
            &signer,
            &Context::agent_id(&cfg),
            at,
        )
        .context("cannot record the attestation")?;
    println!("recorded {id} (ledger size {})", cp.tree_size);
    Ok(EXIT_OK)
}

/// `evident attest`.
/// Longest `--note` or justification accepted, in characters.
const MAX_NOTE_CHARS: usize = 4000;

/// A note is text for people: bounded, without control characters other
/// than newlines and tabs (which could rewrite a terminal or a report).
fn check_note(note: &str) -> anyhow::Result<()> {
    if note.chars().count() > MAX_NOTE_CHARS {
        return Err(crate::UsageError(format!(
            "--note is longer than {MAX_NOTE_CHARS} characters; attach a file for long text"
        ))
        .into());
    }
    if note
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(crate::UsageError(
            "--note contains control characters (only newlines and tabs are allowed)".into(),
        )
        .into());
    }
    Ok(())
}

pub fn attest(
    ctx: &Context,
    control: &str,
    file: Option<&Path>,
    expires: &str,
    note: &str,
    by: Option<&str>,
    store: bool,
) -> anyhow::Result<u8> {
    ctx.require_format(&[Format::Table])?;
    let now = Utc::now();
    let control = control_arg(control)?;
    let expires_at = parse_expiry(expires, now)?;
    if note.trim().is_empty() {
        return Err(crate::UsageError("--note must say what is attested".into()).into());
    }
    check_note(note)?;
    if store && file.is_none() {
        return Err(crate::UsageError("--store needs --file".into()).into());
    }
    if let Some(path) = file {
        match std::fs::metadata(path) {
            Ok(m) if m.is_file() => {}
            Ok(_) => {
                return Err(crate::UsageError(format!(
                    "--file {} is not a regular file",
                    path.display()
                ))
                .into())
            }
            Err(e) => {
                return Err(
                    crate::UsageError(format!("--file {}: {}", path.display(), e.kind())).into(),
                )
            }
        }
    }
    let cfg = ctx.config()?;
    let attached = match file {
        None => None,
        Some(path) => {
            let bytes =
                std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
            let hex_digest = hex::encode(sha2::Sha256::digest(&bytes));
            if store {
                let dir = ctx.data_dir(&cfg).join("attachments");
                paths::ensure_dir(&dir)
                    .with_context(|| format!("cannot create {}", dir.display()))?;
                let dest = dir.join(&hex_digest);
                if !dest.exists() {
                    use std::os::unix::fs::OpenOptionsExt;
                    let mut f = std::fs::OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .mode(0o600)
                        .open(&dest)
                        .with_context(|| format!("cannot write {}", dest.display()))?;
                    f.write_all(&bytes)?;
                    f.sync_all()?;
                }
            }
            Some(evident_evidence::record::AttachedFile {
                name: path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                size: bytes.len() as u64,
                sha256: format!("sha256:{hex_digest}"),
                stored: store,
            })
        }
    };
    append_attestation(
        ctx,
        evident_evidence::record::AttestationRecord {
            schema_version: evident_evidence::record::SCHEMA_VERSION,
            record_id: uuid::Uuid::now_v7().to_string(),
            run_id: uuid::Uuid::now_v7().to_string(),
            agent_id: Context::agent_id(&cfg),
            framework: evident_evidence::record::FRAMEWORK.to_string(),
            kind: evident_evidence::record::AttestationKind::Evidence,
            control: Some(control),
            check_id: None,
            file: attached,
            note: note.to_string(),
            attested_by: who(by)?,
            expires_at,
            recorded_at: now,
            tool_version: collect::tool_version(),
        },
    )
}

/// `evident accept-risk`.
pub fn accept_risk(
    ctx: &Context,
    check: Option<&str>,
    control: Option<&str>,
    approver: &str,
    justification: &str,
    expires: &str,
) -> anyhow::Result<u8> {
    ctx.require_format(&[Format::Table])?;
    let now = Utc::now();
    let control = control.map(control_arg).transpose()?;
    if let Some(c) = check {
        if evident_policies::check(c).is_none() {
            return Err(
                crate::UsageError(format!("unknown check {c:?}; see `evident checks`")).into(),
            );
        }
    }
    if justification.trim().is_empty() {
        return Err(crate::UsageError("--justification must not be empty".into()).into());
    }
    check_note(justification).map_err(|_| {
        crate::UsageError(format!(
            "--justification must be at most {MAX_NOTE_CHARS} characters without control characters"
        ))
    })?;
    let expires_at = parse_expiry(expires, now)?;
    let cfg = ctx.config()?;
    append_attestation(
        ctx,
        evident_evidence::record::AttestationRecord {
            schema_version: evident_evidence::record::SCHEMA_VERSION,
            record_id: uuid::Uuid::now_v7().to_string(),
            run_id: uuid::Uuid::now_v7().to_string(),
            agent_id: Context::agent_id(&cfg),
            framework: evident_evidence::record::FRAMEWORK.to_string(),
            kind: evident_evidence::record::AttestationKind::RiskAcceptance,
            control,
            check_id: check.map(String::from),
            file: None,
            note: justification.to_string(),
            attested_by: who(Some(approver))?,
            expires_at,
            recorded_at: now,
            tool_version: collect::tool_version(),
        },
    )
}

/// `evident readiness`.
pub fn readiness(ctx: &Context) -> anyhow::Result<u8> {
    ctx.require_format(&[Format::Table, Format::Json, Format::Markdown, Format::Csv])?;
    let cfg = ctx.config()?;
    let now = Utc::now();
    let ledger_path = ctx.ledger_path(&cfg);
    let (rows, contents) = if ledger_path.exists() {
        soa_at(ctx, &cfg, now)?
    } else {
        let contents = collect::Contents::default();
        let rows = soa::build(&collect::configured_decisions(&cfg), &[], now);
        (rows, contents)
    };
    let documents: Vec<evident_policies::readiness::Document> = cfg
        .readiness
        .document
        .iter()
        .map(|d| {
            let d = d.get_ref();
            let is_url = d.location.contains("://");
            evident_policies::readiness::Document {
                clause: d.clause.get_ref().clone(),
                location: d.location.clone(),
                present: (!is_url).then(|| Path::new(&d.location).exists()),
                last_review: d
                    .last_review
                    .as_ref()
                    .and_then(|t| t.date)
                    .and_then(|date| {
                        chrono::NaiveDate::from_ymd_opt(
                            i32::from(date.year),
                            u32::from(date.month),
                            u32::from(date.day),
                        )
                    }),
                review_interval_days: d.review_interval_days,
            }
        })
        .collect();
    let gaps = evident_policies::readiness::assess(
        &documents,
        &rows,
        &contents.attestations,
        cfg.readiness.incident_period_days,
        now,
    );
    if ctx.format == Format::Json {
        print_json(&serde_json::json!({ "ready": gaps.is_empty(), "gaps": gaps }))?;
    } else if gaps.is_empty() {
        println!("ready for a Stage 1 audit: no gap found");
    } else {
        let mut t = Table::new(&["area", "subject", "problem", "detail"]);
        for g in &gaps {
            t.row(vec![
                g.area.into(),
                g.subject.clone(),
                g.code.into(),
                g.message.clone(),
            ]);
        }
        print_table(ctx, &t, 100)?;
        if ctx.format == Format::Table {
            println!("\nnot ready: {} gap(s)", gaps.len());
        }
    }
    Ok(if gaps.is_empty() {
        EXIT_OK
    } else {
        EXIT_FINDINGS
    })
}

/// The SoA rows at `at` from the ledger (decisions recorded then, or the
/// configured ones while nothing is recorded), with the ledger's contents.
fn soa_at(
    ctx: &Context,
    cfg: &Config,
    at: chrono::DateTime<Utc>,
) -> anyhow::Result<(Vec<soa::SoaRow>, collect::Contents)> {
    let ledger = ctx.open_existing_ledger(cfg)?;
    let recorded = collect::recorded_decisions(&ledger, Some(at))?;
    let decisions = if collect::recorded_decisions(&ledger, None)?.is_empty() {
        collect::configured_decisions(cfg)
    } else {
        recorded
    };
    let contents = collect::contents(&ledger)?;
    let rows =
        soa::build_with_attestations(&decisions, &contents.findings, &contents.attestations, at);
    Ok((rows, contents))
}

/// `evident export soa-xlsx|soa-html`.
pub fn export_soa(ctx: &Context, xlsx: bool, out: &Path, at: Option<&str>) -> anyhow::Result<u8> {
    ctx.require_format(&[Format::Table])?;
    let at = at
        .map(parse_at)
        .transpose()
        .map_err(|e| crate::UsageError(e.to_string()))?
        .unwrap_or_else(Utc::now);
    let cfg = ctx.config()?;
    let (rows, _) = soa_at(ctx, &cfg, at)?;
    let agent = Context::agent_id(&cfg);
    let bytes = if xlsx {
        crate::export::soa_xlsx(&rows, &agent, at).context("cannot build the workbook")?
    } else {
        crate::export::soa_html(&rows, &agent, at).into_bytes()
    };
    std::fs::write(out, bytes).with_context(|| format!("cannot write {}", out.display()))?;
    println!(
        "wrote the SoA ({} controls) to {}",
        rows.len(),
        out.display()
    );
    Ok(EXIT_OK)
}
/// `evident scan`.
pub fn scan(ctx: &Context, args: &crate::scan::ScanArgs) -> anyhow::Result<u8> {
    crate::scan::run(args, ctx.format, ctx.say, || {
        let cfg = ctx.config()?;
        Ok(ctx.data_dir(&cfg))
    })
}
