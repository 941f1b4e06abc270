//! End-to-end tests of the `evident` and `evident-verify` binaries: each test
//! has its own temporary data directory and runs the real binaries on this
//! machine.

mod attest;
mod cli;
mod daemon;
mod drift;
mod export;
mod pack;
mod probes;
mod github;
mod support;
mod verify_cli;
