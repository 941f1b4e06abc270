//! End-to-end tests of the `evident` and `evident-verify` binaries: each test
//! has its own temporary data directory and runs the real binaries on this
//! machine.

#[cfg(feature = "aws")]
mod aws;
mod cli;
mod daemon;
mod support;
