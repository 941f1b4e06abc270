//! The subcommands: thin glue over the libraries.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use chrono::Utc;
use evident_evidence::ledger::Ledger;
use evident_evidence::record::{Record, Status};
use evident_evidence::signing::{FileSigner, Signer};
use evident_policies::soa;

use crate::collect::{self, SystemClock};
use crate::config::{self, Config, Origin};
use crate::report::Table;
use crate::{paths, Cli, FailOn, Format, EXIT_FAILURE, EXIT_FINDINGS, EXIT_OK};

/// What every command needs: the global flags and the config's origin.
pub struct Context {
    origin: Origin,
    data_dir_flag: Option<PathBuf>,
    format: Format,
}

impl Context {
    /// From the parsed command line.
    pub fn new(cli: &Cli) -> Context {
        Context {
            origin: config::locate(cli.config.as_deref()),
            data_dir_flag: cli.data_dir.clone(),
            format: cli.format,
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
        cfg.agent.id.clone().unwrap_or_else(paths::host_name)
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
        paths::ensure_dir(&dir)
            .with_context(|| format!("cannot create data directory {}", dir.display()))?;
        let key_path = self.key_path(cfg);
        let (signer, created) = FileSigner::load_or_create(&key_path)
            .with_context(|| format!("signing key {}", key_path.display()))?;
        let ledger_path = self.ledger_path(cfg);
        let ledger = Ledger::open(&ledger_path)
            .with_context(|| format!("cannot open ledger {}", ledger_path.display()))?;
        Ok((ledger, signer, created))
    }

    fn open_existing_ledger(&self, cfg: &Config) -> anyhow::Result<Ledger> {
        let path = self.ledger_path(cfg);
        Ledger::open_read_only(&path).with_context(|| {
            format!(
                "cannot open ledger {} (run `evident collect` first, or pass --data-dir)",
                path.display()
            )
        })
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
    let agent_id = Context::agent_id(&cfg);
    let (ledger, signer, created) = ctx.open_for_writing(&cfg)?;
    if created {
        eprintln!(
            "evident: created signing key {} (key id {})",
            ctx.key_path(&cfg).display(),
            signer.key_id()
        );
    }
    let tty = std::io::stderr().is_terminal();
    let mut progress = |msg: &str| {
        if tty {
            eprintln!("… {msg}");
        }
        tracing::info!("{msg}");
    };
    let runner = collect::AgentRunner {
        cfg: std::sync::Arc::new(cfg),
        agent_id,
        ledger: std::sync::Arc::new(std::sync::Mutex::new(ledger)),
        signer: std::sync::Arc::new(signer),
        clock: std::sync::Arc::new(SystemClock),
    };
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
    let (decisions, findings) = if ledger_path.exists() {
        let ledger = ctx.open_existing_ledger(&cfg)?;
        let recorded = collect::recorded_decisions(&ledger, at)?;
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
        if differ > 0 && at.is_none() {
            eprintln!(
                "evident: {differ} SoA decision(s) in the configuration are not yet in the ledger; they are recorded by the next `evident collect`. Showing the recorded decisions."
            );
        }
        let findings = ledger
            .records()?
            .into_iter()
            .filter_map(|(_, r)| match r {
                Record::Finding(f) => Some(f),
                _ => None,
            })
            .collect::<Vec<_>>();
        (recorded, findings)
    } else if at.is_some() {
        bail!(
            "no ledger at {}: a past SoA can only be rebuilt from recorded evidence",
            ledger_path.display()
        );
    } else {
        eprintln!(
            "evident: no ledger at {} yet; showing configured decisions without evidence",
            ledger_path.display()
        );
        (configured, Vec::new())
    };
    let rows = soa::build(&decisions, &findings, at.unwrap_or_else(Utc::now));
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

/// `evident validate`.
pub fn validate(ctx: &Context) -> anyhow::Result<u8> {
    let cfg = ctx.config()?;
    let instances = cfg.collectors.all().len();
    println!(
        "{}: valid ({} collector instance{}, {} SoA decision{})",
        ctx.origin,
        instances,
        if instances == 1 { "" } else { "s" },
        cfg.soa.controls.len(),
        if cfg.soa.controls.len() == 1 { "" } else { "s" }
    );
    Ok(EXIT_OK)
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
pub fn verify(ctx: &Context, key: Option<&Path>, since: Option<&Path>) -> anyhow::Result<u8> {
    ctx.require_format(&[Format::Table, Format::Json])?;
    let cfg = ctx.config()?;
    let ledger = ctx.open_existing_ledger(&cfg)?;
    let trusted = key
        .map(|k| {
            std::fs::read_to_string(k).with_context(|| format!("cannot read key {}", k.display()))
        })
        .transpose()?;
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
    let ok = report.is_ok() && since_report.as_ref().is_none_or(|r| r.is_ok());
    if ctx.format == Format::Json {
        let mut v = report.to_json();
        if let (Some(r), Some(obj)) = (&since_report, v.as_object_mut()) {
            obj.insert("since_checkpoint".into(), r.to_json());
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
    }
    Ok(if ok { EXIT_OK } else { EXIT_FAILURE })
}

/// `evident prove RECORD_ID --out FILE`.
pub fn prove(ctx: &Context, record_id: &str, out: &Path) -> anyhow::Result<u8> {
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
    let cfg = ctx.config()?;
    let ledger = ctx.open_existing_ledger(&cfg)?;
    let Some(cp) = ledger.latest_checkpoint()? else {
        bail!("the ledger has no checkpoint yet; run `evident collect` first");
    };
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    cp.write_to_dir(out)
        .with_context(|| format!("cannot write checkpoint to {}", out.display()))?;
    println!(
        "wrote checkpoint (tree size {}) to {}: checkpoint, checkpoint.sig, checkpoint.pub.pem",
        cp.tree_size,
        out.display()
    );
    Ok(EXIT_OK)
}

/// `evident key export`.
pub fn key_export(ctx: &Context) -> anyhow::Result<u8> {
    let cfg = ctx.config()?;
    let path = ctx.key_path(&cfg);
    let signer =
        FileSigner::load(&path).with_context(|| format!("signing key {}", path.display()))?;
    print!("{}", signer.public_key_pem());
    Ok(EXIT_OK)
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
    if ctx.format == Format::Json {
        print_json(&serde_json::json!({
            "daemon_running": running,
            "daemon_pid": running.then_some(book.pid),
            "status_updated_at": book.updated_at.map(evident_evidence::record::format_time),
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
        if running {
            println!("\ndaemon running (pid {})", book.pid);
        } else {
            println!(
                "\ndaemon not running; next_run is when a started daemon would run each collector"
            );
        }
    }
    Ok(EXIT_OK)
}

/// `evident scan`.
pub fn scan(ctx: &Context, args: &crate::scan::ScanArgs) -> anyhow::Result<u8> {
    crate::scan::run(args, ctx.format, || {
        let cfg = ctx.config()?;
        Ok(ctx.data_dir(&cfg))
    })
}
