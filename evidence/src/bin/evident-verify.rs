//! `evident-verify`: offline verification of an evident ledger or checkpoint.
//!
//! Exit status: 0 when everything verifies, 1 when a problem was found,
//! 2 on a usage error or when the input cannot be read at all.

use std::path::PathBuf;
use std::process::ExitCode;

use evident_evidence::checkpoint::Checkpoint;
use evident_evidence::ledger::Ledger;
use evident_evidence::pack::{verify_pack_with, PackVerifyOptions};
use evident_evidence::proof::{verify_record_proof, RecordProof};
use evident_evidence::published::{
    check_ledger_against, read_published_dir, PublishedCheckpoint, PublishedReport,
};
use evident_evidence::record::format_time;
use evident_evidence::since::verify_since_checkpoint;
use evident_evidence::verify::{verify_ledger, VerifyReport};

const USAGE: &str = "\
usage:
  evident-verify ledger PATH [--since-checkpoint DIR] [--published DIR] [--key PUBLIC_KEY.pem] [--format text|json]
  evident-verify checkpoint DIR [--key PUBLIC_KEY.pem] [--format text|json]
  evident-verify record FILE [--key PUBLIC_KEY.pem] [--format text|json]
  evident-verify pack DIR|FILE.tar.gz [--since-checkpoint DIR] [--published DIR] [--key PUBLIC_KEY.pem] [--format text|json]

  ledger       verify every record, observation and checkpoint of a ledger file
  --since-checkpoint
               also prove, with an RFC 9162 consistency proof, that the ledger
               extends a checkpoint saved earlier (a checkpoint directory), and
               name what was removed, rewritten, reordered or duplicated if not
  checkpoint   verify the signature of a checkpoint directory
               (files: checkpoint, checkpoint.sig, optional checkpoint.pub.pem)
  record       verify a record proof file (evident-record-proof/v1): the record,
               its inclusion proof and the signed checkpoint it is proven against
  pack         verify an evidence pack (a directory, or a .tar.gz read in memory,
               refusing absolute paths, `..`, links and oversized entries):
               SHA256SUMS and its signature, the checkpoint, every record
               proof, the observations, the key rotation chain, the RFC 3161
               tokens' imprints and, with --since-checkpoint, that the pack's
               ledger extends the checkpoint saved at the last audit
  --published  a directory of checkpoints published off the agent's host:
               each one must be signed by a trusted key and be a prefix of the
               ledger (or pack); a ledger must reach every one of them
  --key        the agent's public key, obtained out of band; only checkpoints
               signed by it are accepted (without it, keys stored next to the
               data are used, which proves consistency, not origin)
  --format     output format (default text)

exit status: 0 verified, 1 problems found, 2 usage error or unreadable input";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Text,
    Json,
}

#[derive(Debug)]
enum Command {
    Ledger(PathBuf, Option<PathBuf>),
    Checkpoint(PathBuf),
    Record(PathBuf),
    Pack(PathBuf, Option<PathBuf>),
}

#[derive(Debug)]
struct Args {
    command: Command,
    key: Option<PathBuf>,
    published: Option<PathBuf>,
    format: Format,
}

enum Parsed {
    Run(Args),
    Help,
    Version,
}

fn parse_args(args: &[String]) -> Result<Parsed, String> {
    let mut positional = Vec::new();
    let mut key = None;
    let mut since = None;
    let mut published = None;
    let mut format = Format::Text;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-h" | "--help" => return Ok(Parsed::Help),
            "-V" | "--version" => return Ok(Parsed::Version),
            "--key" => {
                let v = it.next().ok_or("--key needs a PEM file")?;
                key = Some(PathBuf::from(v));
            }
            "--since-checkpoint" => {
                let v = it
                    .next()
                    .ok_or("--since-checkpoint needs a checkpoint directory")?;
                since = Some(PathBuf::from(v));
            }
            "--published" => {
                let v = it
                    .next()
                    .ok_or("--published needs a directory of published checkpoints")?;
                published = Some(PathBuf::from(v));
            }
            "--format" => {
                format = match it.next().map(String::as_str) {
                    Some("text") => Format::Text,
                    Some("json") => Format::Json,
                    Some(other) => {
                        return Err(format!("unknown format {other:?} (use text or json)"))
                    }
                    None => return Err("--format needs text or json".into()),
                };
            }
            s if s.starts_with('-') && s.len() > 1 => return Err(format!("unknown option {s}")),
            _ => positional.push(a.clone()),
        }
    }
    let command = match positional.as_slice() {
        [cmd, path] if cmd == "ledger" => Command::Ledger(PathBuf::from(path), since.take()),
        [cmd, dir] if cmd == "checkpoint" => Command::Checkpoint(PathBuf::from(dir)),
        [cmd, file] if cmd == "record" => Command::Record(PathBuf::from(file)),
        [cmd, dir] if cmd == "pack" => Command::Pack(PathBuf::from(dir), since.take()),
        [] => return Err("missing command".into()),
        [cmd, ..] if !["ledger", "checkpoint", "record", "pack"].contains(&cmd.as_str()) => {
            return Err(format!("unknown command {cmd:?}"))
        }
        [cmd] => return Err(format!("{cmd} needs a path")),
        _ => return Err("too many arguments".into()),
    };
    if since.is_some() {
        return Err("--since-checkpoint applies to the ledger and pack commands only".into());
    }
    if published.is_some() && !matches!(command, Command::Ledger(..) | Command::Pack(..)) {
        return Err("--published applies to the ledger and pack commands only".into());
    }
    Ok(Parsed::Run(Args {
        command,
        key,
        published,
        format,
    }))
}

fn main() -> ExitCode {
    evident_evidence::exit_quietly_on_closed_stdout();
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let args = match parse_args(&argv) {
        Ok(Parsed::Run(a)) => a,
        Ok(Parsed::Help) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Ok(Parsed::Version) => {
            println!("evident-verify {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("evident-verify: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("evident-verify: {e}");
            ExitCode::from(2)
        }
    }
}

/// Returns whether everything verified; `Err` when the input cannot be read.
fn run(args: &Args) -> Result<bool, String> {
    let key = match &args.key {
        Some(p) => Some(
            std::fs::read_to_string(p)
                .map_err(|e| format!("cannot read key {}: {e}", p.display()))?,
        ),
        None => None,
    };
    let published: Option<Vec<PublishedCheckpoint>> = match &args.published {
        Some(d) => Some(read_published_dir(d).map_err(|e| format!("published checkpoints: {e}"))?),
        None => None,
    };
    match &args.command {
        Command::Pack(dir, since) => {
            let saved = match since {
                Some(d) => Some(
                    Checkpoint::read_from_dir(d).map_err(|e| format!("saved checkpoint: {e}"))?,
                ),
                None => None,
            };
            let report = verify_pack_with(
                dir,
                &PackVerifyOptions {
                    saved: saved.as_ref(),
                    trusted_key_pem: key.as_deref(),
                    published: published.as_deref(),
                },
            )
            .map_err(|e| e.to_string())?;
            match args.format {
                Format::Json => println!("{}", report.to_json()),
                Format::Text => {
                    println!("pack:         {}", dir.display());
                    print!("{report}");
                }
            }
            Ok(report.is_ok())
        }
        Command::Ledger(path, since) => {
            let ledger = Ledger::open_read_only(path).map_err(|e| e.to_string())?;
            let report = verify_ledger(&ledger, key.as_deref()).map_err(|e| e.to_string())?;
            let since_report = match since {
                Some(dir) => {
                    let saved = Checkpoint::read_from_dir(dir)
                        .map_err(|e| format!("saved checkpoint: {e}"))?;
                    Some(
                        verify_since_checkpoint(&ledger, &saved, key.as_deref())
                            .map_err(|e| e.to_string())?,
                    )
                }
                None => None,
            };
            let published_report = match &published {
                Some(list) => Some(
                    check_ledger_against(&ledger, list, key.as_deref())
                        .map_err(|e| e.to_string())?,
                ),
                None => None,
            };
            let ok = report.is_ok()
                && since_report.as_ref().is_none_or(|r| r.is_ok())
                && published_report
                    .as_ref()
                    .is_none_or(|r| r.problems.is_empty());
            match args.format {
                Format::Json => {
                    let mut v = report.to_json();
                    if let Some(obj) = v.as_object_mut() {
                        if let Some(r) = &since_report {
                            obj.insert("since_checkpoint".into(), r.to_json());
                        }
                        if let Some(r) = &published_report {
                            obj.insert(
                                "published".into(),
                                serde_json::to_value(r).map_err(|e| e.to_string())?,
                            );
                        }
                        obj.insert("ok".into(), ok.into());
                    }
                    println!("{v}");
                }
                Format::Text => {
                    print_ledger_report(path, &report);
                    if let (Some(r), Some(dir)) = (&since_report, since) {
                        println!();
                        println!("since checkpoint: {}", dir.display());
                        print!("{r}");
                    }
                    if let (Some(r), Some(dir)) = (&published_report, &args.published) {
                        print_published(dir, r);
                    }
                }
            }
            Ok(ok)
        }
        Command::Record(file) => {
            let bytes =
                std::fs::read(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
            let result = RecordProof::from_json_bytes(&bytes)
                .and_then(|p| verify_record_proof(&p, key.as_deref()));
            match args.format {
                Format::Json => {
                    let v = match &result {
                        Ok(v) => serde_json::json!({
                            "ok": true,
                            "record_id": v.record.record_id(),
                            "leaf_index": v.leaf_index,
                            "tree_size": v.checkpoint.tree_size,
                            "root": v.checkpoint.root_hex(),
                            "time": format_time(v.checkpoint.time),
                            "agent": v.checkpoint.agent_id,
                            "key_id": v.checkpoint.key_id,
                            "key_pinned": v.key_pinned,
                            "record": v.record,
                        }),
                        Err(e) => serde_json::json!({ "ok": false, "error": e.to_string() }),
                    };
                    println!("{v}");
                }
                Format::Text => {
                    println!("proof:      {}", file.display());
                    match &result {
                        Ok(v) => {
                            println!("record:     {} (#{})", v.record.record_id(), v.leaf_index);
                            println!(
                                "checkpoint: size {}, root {}, time {}, agent {}",
                                v.checkpoint.tree_size,
                                v.checkpoint.root_hex(),
                                format_time(v.checkpoint.time),
                                v.checkpoint.agent_id
                            );
                            println!("key id:     {}", v.checkpoint.key_id);
                            if v.key_pinned {
                                println!("result:     OK, included in a checkpoint signed by the trusted key");
                            } else {
                                println!(
                                    "result:     OK with the key carried in the file; compare the key id above \
                                     with the agent's key id obtained out of band, or pass --key"
                                );
                            }
                        }
                        Err(e) => println!("result:     FAILED: {e}"),
                    }
                }
            }
            Ok(result.is_ok())
        }
        Command::Checkpoint(dir) => {
            let cp = Checkpoint::read_from_dir(dir).map_err(|e| e.to_string())?;
            let result = cp.verify(key.as_deref());
            let trusted = key.is_some();
            match args.format {
                Format::Json => {
                    let v = serde_json::json!({
                        "ok": result.is_ok(),
                        "agent": cp.agent_id,
                        "tree_size": cp.tree_size,
                        "root": cp.root_hex(),
                        "time": format_time(cp.time),
                        "key_id": cp.key_id,
                        "trusted_key": trusted,
                        "error": result.as_ref().err().map(|e| e.to_string()),
                    });
                    println!("{v}");
                }
                Format::Text => {
                    println!("checkpoint: {}", dir.display());
                    println!("agent:      {}", cp.agent_id);
                    println!("size:       {}", cp.tree_size);
                    println!("root:       {}", cp.root_hex());
                    println!("time:       {}", format_time(cp.time));
                    println!("key id:     {}", cp.key_id);
                    match &result {
                        Ok(()) if trusted => println!("result:     OK, signed by the trusted key"),
                        Ok(()) => println!(
                            "result:     OK with the key in checkpoint.pub.pem; compare the key id above \
                             with the agent's key id obtained out of band, or pass --key"
                        ),
                        Err(e) => println!("result:     FAILED: {e}"),
                    }
                }
            }
            Ok(result.is_ok())
        }
    }
}

fn print_published(dir: &std::path::Path, r: &PublishedReport) {
    println!();
    println!("published:    {}", dir.display());
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

fn print_ledger_report(path: &std::path::Path, r: &VerifyReport) {
    println!("ledger:       {}", path.display());
    print!("{r}");
}
