//! Conventions that keep the codebase navigable, checked on every test run.

use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_module_says_what_it_is_for() {
    let mut files = Vec::new();
    for krate in std::fs::read_dir(repo().join("crates")).unwrap() {
        let src = krate.unwrap().path().join("src");
        if src.is_dir() {
            rust_files(&src, &mut files);
        }
    }
    assert!(files.len() > 10);
    let missing: Vec<_> = files
        .iter()
        .filter(|f| !std::fs::read_to_string(f).unwrap().starts_with("//!"))
        .map(|f| f.strip_prefix(repo()).unwrap_or(f).display().to_string())
        .collect();
    assert!(
        missing.is_empty(),
        "modules without a leading //! doc line: {missing:?}"
    );
}

#[test]
fn the_core_has_no_io_dependencies() {
    let manifest = std::fs::read_to_string(repo().join("crates/hangar-core/Cargo.toml")).unwrap();
    let deps = manifest.split("[dependencies]").nth(1).unwrap_or("");
    for forbidden in ["tokio", "sqlx", "axum", "ort", "reqwest", "hyper"] {
        assert!(
            !deps.lines().any(|l| l.trim_start().starts_with(forbidden)),
            "hangar-core must not depend on {forbidden}"
        );
    }
}

#[test]
fn only_the_store_knows_sql_and_only_the_server_knows_http() {
    for (krate, forbidden) in [
        ("hangar-core", ["sqlx", "axum"]),
        ("hangar-runtime", ["sqlx", "axum"]),
        ("hangar-store", ["axum", "reqwest"]),
        ("hangar-server", ["sqlx", "sqlx"]),
    ] {
        let manifest =
            std::fs::read_to_string(repo().join(format!("crates/{krate}/Cargo.toml"))).unwrap();
        // The shipped code's dependencies; a test may reach past the boundary
        // (the server's tamper test edits the audit log in SQLite directly).
        let shipped = shipped_dependencies(&manifest);
        for f in forbidden {
            assert!(
                !shipped.iter().any(|l| l.trim_start().starts_with(f)),
                "{krate} must not depend on {f}"
            );
        }
    }
}

/// The lines of a manifest outside `[dev-dependencies]` (and its
/// target-specific forms).
fn shipped_dependencies(manifest: &str) -> Vec<&str> {
    let mut dev = false;
    manifest
        .lines()
        .filter(|l| {
            let t = l.trim();
            if t.starts_with('[') {
                dev = t.contains("dev-dependencies");
            }
            !dev
        })
        .collect()
}

#[test]
fn dev_dependencies_are_not_shipped_dependencies() {
    let manifest =
        "[dependencies]\naxum = 1\n\n[dev-dependencies]\nsqlx = 1\n\n[features]\nx = []\n";
    let shipped = shipped_dependencies(manifest);
    assert!(shipped.contains(&"axum = 1"));
    assert!(!shipped.contains(&"sqlx = 1"));
    assert!(shipped.contains(&"x = []"));
}
