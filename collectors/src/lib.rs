//! Collectors for `evident`: each talks to one system and returns redacted
//! observations. Collectors do I/O and nothing else; checks (in
//! `evident-policies`) decide.
#![forbid(unsafe_code)]

pub mod backup;
pub mod host;
pub mod webfilter;

#[cfg(test)]
pub(crate) mod testutil;
