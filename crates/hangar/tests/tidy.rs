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
        ("hangar-server", ["sqlx", "rusqlite"]),
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

/// Every `.rs` file of the workspace (crates and bench), as (path relative
/// to the repository, text).
fn workspace_sources() -> Vec<(String, String)> {
    let mut files = Vec::new();
    for dir in ["crates", "bench"] {
        let dir = repo().join(dir);
        if dir.is_dir() {
            rust_files(&dir, &mut files);
        }
    }
    files
        .into_iter()
        .filter(|f| !f.components().any(|c| c.as_os_str() == "target"))
        .map(|f| {
            let text = std::fs::read_to_string(&f).unwrap();
            let rel = f.strip_prefix(repo()).unwrap_or(&f).display().to_string();
            (rel, text)
        })
        .collect()
}

/// The code of a file without its `#[cfg(test)]` tail (unit tests may use
/// what the shipped code must not).
fn shipped_code(text: &str) -> String {
    let code = text.find("#[cfg(test)]").map_or(text, |i| &text[..i]);
    code.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The files under `dir` whose shipped code names any of `forbidden`.
fn naming(dir: &str, forbidden: &[&str]) -> Vec<String> {
    let sources = workspace_sources();
    assert!(
        sources.iter().any(|(f, _)| f.starts_with(dir)),
        "no sources under {dir}"
    );
    sources
        .iter()
        .filter(|(f, _)| f.starts_with(dir))
        .flat_map(|(f, text)| {
            forbidden
                .iter()
                .filter(|word| shipped_code(text).contains(**word))
                .map(move |word| format!("{f} names {word}"))
        })
        .collect()
}

#[test]
fn no_source_file_is_longer_than_800_lines() {
    let long: Vec<_> = workspace_sources()
        .into_iter()
        .map(|(f, text)| (f, text.lines().count()))
        .filter(|(_, n)| *n > 800)
        .collect();
    assert!(
        long.is_empty(),
        "split these along their seams (at most 800 lines): {long:?}"
    );
}

#[test]
fn services_know_no_transport_and_call_no_edge() {
    let found = naming(
        "crates/hangar-server/src/service",
        &[
            "axum",
            "tonic",
            "hyper",
            "tower",
            "crate::http",
            "crate::grpc",
            "crate::auth",
            "dashboard",
        ],
    );
    assert!(found.is_empty(), "{found:?}");
}

#[test]
fn the_grpc_edge_does_not_reach_into_the_http_edge() {
    let found = naming("crates/hangar-server/src/grpc", &["crate::http", "axum"]);
    assert!(found.is_empty(), "{found:?}");
}

#[test]
fn the_core_reads_no_clock() {
    let found = naming(
        "crates/hangar-core/src",
        &["Utc::now", "SystemTime", "Instant::now", "Local::now"],
    );
    assert!(
        found.is_empty(),
        "the core takes time as an argument: {found:?}"
    );
}

#[test]
fn no_test_expects_a_panic() {
    let word = ["should", "_panic"].concat();
    let found: Vec<_> = workspace_sources()
        .into_iter()
        .filter(|(_, text)| text.contains(&word))
        .map(|(f, _)| f)
        .collect();
    assert!(
        found.is_empty(),
        "assert on the refusal instead of expecting a panic: {found:?}"
    );
}

#[test]
fn the_rules_see_what_they_forbid() {
    // The checks above would pass vacuously if they read nothing.
    let code = "use axum::Router;\n// tower\n#[cfg(test)]\nmod tests { use tonic::Status; }\n";
    assert!(shipped_code(code).contains("axum"));
    assert!(!shipped_code(code).contains("tonic"));
    assert!(!shipped_code(code).contains("tower"));
    assert!(workspace_sources().len() > 100);
}
