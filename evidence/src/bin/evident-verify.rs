//! `evident-verify`: offline verification of an evident ledger or checkpoint.
//!
//! Exit status: 0 when everything verifies, 1 when a problem was found,
//! 2 on a usage error or when the input cannot be read at all.

use std::path::PathBuf;
use std::process::ExitCode;

use evident_evidence::checkpoint::Checkpoint;
use evident_evidence::record::format_time;
use evident_evidence::verify::{verify_ledger_path, VerifyReport};

const USAGE: &str = "\
usage:
  evident-verify ledger PATH [--key PUBLIC_KEY.pem] [--format text|json]
  evident-verify checkpoint DIR [--key PUBLIC_KEY.pem] [--format text|json]

  ledger       verify every record, observation and checkpoint of a ledger file
  checkpoint   verify the signature of a checkpoint directory
               (files: checkpoint, checkpoint.sig, optional checkpoint.pub.pem)
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
    Ledger(PathBuf),
    Checkpoint(PathBuf),
}

#[derive(Debug)]
struct Args {
    command: Command,
    key: Option<PathBuf>,
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
        [cmd, path] if cmd == "ledger" => Command::Ledger(PathBuf::from(path)),
        [cmd, dir] if cmd == "checkpoint" => Command::Checkpoint(PathBuf::from(dir)),
        [] => return Err("missing command".into()),
        [cmd, ..] if cmd != "ledger" && cmd != "checkpoint" => {
            return Err(format!("unknown command {cmd:?}"))
        }
        [cmd] => return Err(format!("{cmd} needs a path")),
        _ => return Err("too many arguments".into()),
    };
    Ok(Parsed::Run(Args {
        command,
        key,
        format,
    }))
}

fn main() -> ExitCode {
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
    match &args.command {
        Command::Ledger(path) => {
            let report = verify_ledger_path(path, key.as_deref()).map_err(|e| e.to_string())?;
            match args.format {
                Format::Json => println!("{}", report.to_json()),
                Format::Text => print_ledger_report(path, &report),
            }
            Ok(report.is_ok())
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

fn print_ledger_report(path: &std::path::Path, r: &VerifyReport) {
    println!("ledger:       {}", path.display());
    print!("{r}");
}
