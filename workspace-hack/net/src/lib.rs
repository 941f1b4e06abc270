//! Build economy only, no code: see this crate's `Cargo.toml` and the one of
//! `evident-workspace-hack`.
