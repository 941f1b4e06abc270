//! Evidence records, canonical encoding, the append-only Merkle ledger,
//! checkpoint signing and offline verification for `evident`.
//!
//! This crate has no network client in its dependency tree so that an
//! auditor can build and read the `evident-verify` binary quickly.
#![forbid(unsafe_code)]

pub mod archive;
pub mod canonical;
pub mod checkpoint;
mod fast;
pub mod ledger;
pub mod merkle;
pub mod pack;
pub mod proof;
pub mod published;
pub mod record;
pub mod rotation;
pub mod secret_file;
pub mod signing;
pub mod since;
pub mod timestamp;
pub mod verify;

#[cfg(test)]
mod test_support;

/// Make a closed standard output (`evident-verify … | head -1`) end the
/// process quietly with status 141 (128 + SIGPIPE, what a shell reports for
/// a program killed by it) instead of a panic and a backtrace. Output
/// through `println!` panics on a closed pipe; this hook turns exactly that
/// panic into an exit and leaves every other panic to the default hook. The
/// status is never 0, so a verdict nobody could read is never a pass. Any
/// other failure to print (a full disk) ends it with one line and status 1.
pub fn exit_quietly_on_closed_stdout() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if msg.starts_with("failed printing to stdout") {
            if msg.contains("Broken pipe") {
                std::process::exit(141);
            }
            // Any other write failure (a full disk): one line, status 1.
            eprintln!(
                "error: cannot write to standard output: {}",
                msg.trim_start_matches("failed printing to stdout: ")
            );
            std::process::exit(1);
        }
        default(info);
    }));
}
