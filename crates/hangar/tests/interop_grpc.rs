//! Interoperability of the gRPC service with a client nobody here wrote: the
//! real `hangar serve` binary with `--grpc-addr`, HTTP and gRPC each on a free
//! loopback port, driven by NVIDIA's `tritonclient[grpc]` through
//! `tests/interop/test_tritonclient_grpc.py` (the models are registered over
//! HTTP, everything else goes over gRPC). The structure is `interop.rs`'s.
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
    let out = python(&["-c", "import numpy, tritonclient.grpc"], &[]);
    assert!(
        out.status.success(),
        "the interop test needs the official Triton client: run `pip install -r {REQUIREMENTS}`\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn tritonclient_grpc_drives_every_reference_model_end_to_end() {
    require_tritonclient();
    let server = Server::start_grpc();

    let url = server.addr.to_string();
    let grpc_url = server.grpc_addr.expect("started with gRPC").to_string();
    let repo = repo();
    let out = python(
        &["tests/interop/test_tritonclient_grpc.py"],
        &[
            ("HANGAR_URL", &url),
            ("HANGAR_GRPC_URL", &grpc_url),
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
        "tests/interop/test_tritonclient_grpc.py failed ({})\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}\n--- server log ---\n{}",
        out.status,
        server.log_text()
    );
}
