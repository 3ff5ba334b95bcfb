//! Interoperability with a client nobody here wrote: the real `hangar serve`
//! binary on a free loopback port, driven by NVIDIA's `tritonclient[http]`
//! through `tests/interop/test_tritonclient.py` (see tests/interop/README.md).
//!
//! Needs `python3` with `pip install -r tests/interop/requirements.txt`; without
//! it this test fails rather than skips, because CI installs it.

mod common;

use std::process::{Command, Output, Stdio};

use common::{repo, Server, ADMIN_TOKEN};

const REQUIREMENTS: &str = "tests/interop/requirements.txt";

fn python(args: &[&str], envs: &[(&str, &str)]) -> Output {
    Command::new("python3")
        .args(args)
        .envs(envs.iter().copied())
        .current_dir(repo())
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run python3 ({e}); install Python 3 and `pip install -r {REQUIREMENTS}`")
        })
}

fn require_tritonclient() {
    let out = python(&["-c", "import numpy, tritonclient.http"], &[]);
    assert!(
        out.status.success(),
        "the interop test needs the official Triton client: run `pip install -r {REQUIREMENTS}`\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn tritonclient_http_drives_every_reference_model_end_to_end() {
    require_tritonclient();
    let server = Server::start();

    let url = server.addr.to_string();
    let repo = repo();
    let out = python(
        &["tests/interop/test_tritonclient.py"],
        &[
            ("HANGAR_URL", &url),
            ("HANGAR_REPO", repo.to_str().expect("UTF-8 repository path")),
            // The scripts send it as `Authorization: Bearer` (HTTP) or
            // `authorization` metadata (gRPC).
            ("HANGAR_TOKEN", ADMIN_TOKEN),
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // unittest reports on stderr; shown with --nocapture, and always on failure.
    println!("{stdout}{stderr}");
    assert!(
        out.status.success(),
        "tests/interop/test_tritonclient.py failed ({})\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}\n--- server log ---\n{}",
        out.status,
        server.log_text()
    );
}
