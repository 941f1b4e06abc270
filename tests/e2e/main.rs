//! End-to-end tests of the `evident` and `evident-verify` binaries: each test
//! has its own temporary data directory and runs the real binaries on this
//! machine.

mod attest;
#[cfg(feature = "aws")]
mod aws;
mod cli;
mod daemon;
mod dlp;
#[cfg(feature = "aws")]
mod dlp_s3;
mod drift;
mod export;
mod github;
mod log_json;
mod pack;
mod probes;
mod publish;
mod support;
mod timestamp;
mod verify_cli;
mod workspace;
