//! The workspace itself: how its members build.

use std::collections::BTreeSet;
use std::process::Command;

use crate::support::*;

/// Every `{package} {features}` node of `cargo tree` over normal, build and
/// dev dependencies: the feature sets cargo compiles the dependencies with.
fn dependency_builds(selection: &[&str]) -> BTreeSet<String> {
    let o = run(Command::new(env!("CARGO"))
        .arg("tree")
        .args(selection)
        .args([
            "--edges",
            "normal,build,dev",
            "--prefix",
            "none",
            "--format",
            "{p} {f}",
            "--offline",
        ])
        .current_dir(workspace_root()));
    assert_code(&o, 0);
    stdout(&o)
        .lines()
        .map(|l| l.trim_end_matches(" (*)").trim_end().to_string())
        // Members are compiled per selection anyway; only dependencies count.
        .filter(|l| !l.starts_with("evident"))
        .collect()
}

/// The members whose tests someone runs: all but the two feature-alignment
/// crates themselves.
fn workspace_members() -> Vec<String> {
    let o = run(Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--offline",
        ])
        .current_dir(workspace_root()));
    assert_code(&o, 0);
    let meta: serde_json::Value = serde_json::from_slice(&o.stdout).expect("cargo metadata JSON");
    meta["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .map(|p| p["name"].as_str().expect("package name").to_string())
        .filter(|name| !name.starts_with("evident-workspace-hack"))
        .collect()
}

/// `cargo test -p <member>` after `cargo build --workspace --all-targets`
/// compiles no dependency again: each dependency has the same features in
/// both (workspace-hack/Cargo.toml explains how). Fails with the crates and
/// feature sets to add there after a dependency update.
#[test]
fn member_test_builds_reuse_the_workspace_build() {
    let workspace = dependency_builds(&["--workspace"]);
    assert!(
        workspace.iter().any(|l| l.starts_with("rusqlite ")),
        "cargo tree printed something unexpected: {workspace:?}"
    );
    let members = workspace_members();
    assert!(
        members.iter().any(|m| m == "evident-evidence"),
        "cargo metadata printed something unexpected: {members:?}"
    );
    let mut problems = Vec::new();
    for member in &members {
        for node in dependency_builds(&["-p", member]).difference(&workspace) {
            let krate = node.split(' ').take(2).collect::<Vec<_>>().join(" ");
            let in_workspace: Vec<&String> = workspace
                .iter()
                .filter(|l| l.starts_with(&format!("{krate} ")))
                .collect();
            problems.push(format!(
                "cargo test -p {member} builds {node}\n    the workspace build has: {in_workspace:?}"
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "these dependencies would be compiled again with other features; add the \
         workspace's features to workspace-hack/Cargo.toml (or workspace-hack/net):\n{}",
        problems.join("\n")
    );
}
