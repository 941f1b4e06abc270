//! Build economy only, no code: see this crate's `Cargo.toml`.
//!
//! Every workspace member has this crate as a dev-dependency so that
//! `cargo test -p <member>` compiles its dependencies with the same features
//! as `cargo build --workspace --all-targets` and reuses those builds.
