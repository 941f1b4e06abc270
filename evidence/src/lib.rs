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
pub mod signing;
pub mod since;
pub mod timestamp;
pub mod verify;

#[cfg(test)]
mod test_support;
