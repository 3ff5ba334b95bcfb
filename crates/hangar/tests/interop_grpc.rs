//! Interoperability of the gRPC service with a client nobody here wrote: the
//! real `hangar serve` binary with `--grpc-addr`, HTTP and gRPC each on a free
//! loopback port, driven by NVIDIA's `tritonclient[grpc]` through
//! `tests/interop/test_tritonclient_grpc.py` (the models are registered over
//! HTTP, everything else goes over gRPC). The structure is `interop.rs`'s.
//!
//! Needs `python3` with `pip install -r tests/interop/requirements.txt`; without
//! it this test fails rather than skips, because CI installs it.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const READY_TIMEOUT: Duration = Duration::from_secs(60);
const REQUIREMENTS: &str = "tests/interop/requirements.txt";

fn repo() -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .canonicalize()
        .expect("repository root")
}

/// The running server; dropping it kills the process (also when a check panics).
struct Server {
    child: Child,
    addr: SocketAddr,
    grpc_addr: SocketAddr,
    log: PathBuf,
}

impl Server {
    fn start(data_dir: &Path) -> Server {
        let (addr, grpc_addr) = two_free_loopback_addrs();
        let log = data_dir.join("server.log");
        let log_file = File::create(&log).expect("server log file");
        let ort = std::env::var_os("ORT_DYLIB_PATH")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo().join("vendor/onnxruntime/libonnxruntime.so"));
        let child = Command::new(env!("CARGO_BIN_EXE_hangar"))
            .arg("serve")
            .arg("--data-dir")
            .arg(data_dir.join("data"))
            .arg("--addr")
            .arg(addr.to_string())
            .arg("--grpc-addr")
            .arg(grpc_addr.to_string())
            .env("ORT_DYLIB_PATH", ort)
            // The log goes to a file shown on failure: plain text, no colour codes.
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("server log file"))
            .stderr(log_file)
            .spawn()
            .expect("start target/debug/hangar");
        Server {
            child,
            addr,
            grpc_addr,
            log,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_else(|e| format!("(no server log: {e})"))
    }

    /// Polls `GET /v2/health/ready` until it answers 200, the process exits, or
    /// the deadline passes. The gRPC listener is bound before the HTTP one
    /// answers, so gRPC is reachable by then too.
    fn wait_ready(&mut self) {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().expect("poll the server process") {
                panic!(
                    "hangar serve exited with {status} before it was ready\n--- server log ---\n{}",
                    self.log()
                );
            }
            if ready_status(self.addr) == Some(200) {
                return;
            }
            if Instant::now() >= deadline {
                panic!(
                    "hangar serve on {} was not ready within {READY_TIMEOUT:?}\n--- server log ---\n{}",
                    self.addr,
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Binds port 0 on loopback twice, takes the two ports the OS gave (distinct,
/// since both are held at once), and lets them go.
fn two_free_loopback_addrs() -> (SocketAddr, SocketAddr) {
    let first = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let second = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    (
        first.local_addr().expect("local address"),
        second.local_addr().expect("local address"),
    )
}

/// The HTTP status of `GET /v2/health/ready`, or `None` if nothing answers yet.
fn ready_status(addr: SocketAddr) -> Option<u16> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let request =
        format!("GET /v2/health/ready HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    // "HTTP/1.1 200 OK"
    response.split_whitespace().nth(1)?.parse().ok()
}

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
    let dir = tempfile::tempdir().expect("temp dir");
    let mut server = Server::start(dir.path());
    server.wait_ready();

    let url = server.addr.to_string();
    let grpc_url = server.grpc_addr.to_string();
    let repo = repo();
    let out = python(
        &["tests/interop/test_tritonclient_grpc.py"],
        &[
            ("HANGAR_URL", &url),
            ("HANGAR_GRPC_URL", &grpc_url),
            ("HANGAR_REPO", repo.to_str().expect("UTF-8 repository path")),
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
        server.log()
    );
}
