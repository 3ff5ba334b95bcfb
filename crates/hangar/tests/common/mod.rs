//! The harness every end-to-end test shares: the real `hangar serve` on a
//! free loopback port with a known administrator token, and the real client
//! run in a clean environment, exactly as a person would use them.
//!
//! Each test binary uses part of it, so unused items are expected.
#![allow(dead_code)]

use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const HANGAR: &str = env!("CARGO_BIN_EXE_hangar");
/// How long a server may take to answer `/v2/health/ready`.
pub const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// The bootstrap administrator's token every test server starts with
/// (`HANGAR_ADMIN_TOKEN`).
pub const ADMIN_TOKEN: &str = "e2e-admin-token-0123456789abcdef";
/// The user the administrator token acts as: what the server records.
pub const ADMIN: &str = "admin";

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repository root")
}

pub fn reference(path: &str) -> PathBuf {
    repo().join("testdata/reference").join(path)
}

pub fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// A free loopback port (bound, then let go).
pub fn free_port() -> u16 {
    free_addrs(1)[0].port()
}

/// `n` distinct free loopback addresses: all are bound at once, then let go.
pub fn free_addrs(n: usize) -> Vec<SocketAddr> {
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind a loopback port"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().expect("local address"))
        .collect()
}

/// The status code of a plain `GET`, or `None` if nothing answered.
pub fn http_status(addr: SocketAddr, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).ok()?;
    // "HTTP/1.1 200"
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

/// What one run of the client printed, and how it exited.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    #[track_caller]
    pub fn ok(self) -> Run {
        assert_eq!(self.code, Some(0), "expected success: {self:#?}");
        self
    }

    /// A failure reported the house way: exit code 1 and one `error:` line.
    #[track_caller]
    pub fn error_line(self) -> String {
        assert_eq!(self.code, Some(1), "expected exit code 1: {self:#?}");
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "expected one line on stderr: {self:#?}");
        assert!(lines[0].starts_with("error: "), "{self:#?}");
        assert!(self.stdout.is_empty(), "{self:#?}");
        lines[0].to_owned()
    }

    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:#?}"))
    }
}

/// Runs the client in a clean environment (no proxies, no Hangar settings or
/// credentials from the developer's shell) plus `env`, with `stdin` piped in.
pub fn hangar_env(args: &[&str], env: &[(&str, &str)], stdin: Option<&[u8]>) -> Run {
    let mut cmd = Command::new(HANGAR);
    cmd.args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for var in [
        "HANGAR_SERVER",
        "HANGAR_TOKEN",
        "HANGAR_CONFIG_DIR",
        "XDG_CONFIG_HOME",
        "http_proxy",
        "HTTP_PROXY",
        "all_proxy",
        "ALL_PROXY",
    ] {
        cmd.env_remove(var);
    }
    // No stored login unless the test makes one.
    cmd.env(
        "HANGAR_CONFIG_DIR",
        std::env::temp_dir().join(format!("hangar-e2e-no-config-{}", std::process::id())),
    );
    cmd.envs(env.iter().copied());
    let mut child = cmd.spawn().unwrap();
    if let Some(bytes) = stdin {
        // Written before waiting: the client reads stdin before it sends.
        child.stdin.take().unwrap().write_all(bytes).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code(),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

/// The client against `server` (if any), without a credential.
pub fn hangar(server: Option<&str>, args: &[&str]) -> Run {
    match server {
        Some(url) => hangar_env(args, &[("HANGAR_SERVER", url)], None),
        None => hangar_env(args, &[], None),
    }
}

/// `hangar serve` in a child process with [`ADMIN_TOKEN`] as the
/// administrator's token. Dropping it kills that child (by its handle), also
/// when the test panics.
pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    /// `--grpc-addr`, when started with [`Server::start_grpc`].
    pub grpc_addr: Option<SocketAddr>,
    pub url: String,
    pub log: PathBuf,
    pub dir: tempfile::TempDir,
    /// `--data-dir`: `data` under [`Server::dir`], or the test's own.
    pub data: PathBuf,
    /// The flags it was started with, for [`Server::restart`].
    flags: Vec<String>,
    /// Environment variables it was started with beyond the harness's own.
    env: Vec<(String, String)>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    pub fn start() -> Server {
        Server::start_with(&[])
    }

    pub fn start_with(flags: &[&str]) -> Server {
        Server::spawn(flags, false)
    }

    /// With `flags` and environment variables `env` (object storage's
    /// `AWS_*` settings, which have no flags).
    pub fn start_with_env(flags: &[&str], env: &[(String, String)]) -> Server {
        Server::launch_env(tempfile::tempdir().unwrap(), None, flags, false, env)
    }

    /// With the gRPC listener on a second free port.
    pub fn start_grpc() -> Server {
        Server::spawn(&[], true)
    }

    /// On the test's own data directory (which outlives the server: a
    /// small file system, or one to start again on).
    pub fn start_on(data: &Path, flags: &[&str]) -> Server {
        Server::launch(tempfile::tempdir().unwrap(), Some(data), flags, false)
    }

    fn spawn(flags: &[&str], grpc: bool) -> Server {
        Server::launch(tempfile::tempdir().unwrap(), None, flags, grpc)
    }

    fn launch(dir: tempfile::TempDir, data: Option<&Path>, flags: &[&str], grpc: bool) -> Server {
        Server::launch_env(dir, data, flags, grpc, &[])
    }

    fn launch_env(
        dir: tempfile::TempDir,
        data: Option<&Path>,
        flags: &[&str],
        grpc: bool,
        env: &[(String, String)],
    ) -> Server {
        let data = data.map_or_else(|| dir.path().join("data"), Path::to_path_buf);
        let log = dir.path().join("server.log");
        let addrs = free_addrs(2);
        let (addr, grpc_addr) = (addrs[0], grpc.then_some(addrs[1]));
        let mut server = Server {
            child: Server::serve(&data, addr, grpc_addr, flags, env, &log),
            addr,
            grpc_addr,
            url: format!("http://{addr}"),
            log,
            dir,
            data,
            flags: flags.iter().map(|f| f.to_string()).collect(),
            env: env.to_vec(),
        };
        server.wait_until_ready();
        server
    }

    /// Starts `hangar serve`, its output appended to `log`.
    fn serve(
        data: &Path,
        addr: SocketAddr,
        grpc_addr: Option<SocketAddr>,
        flags: &[impl AsRef<std::ffi::OsStr>],
        env: &[(String, String)],
        log: &Path,
    ) -> Child {
        let ort = std::env::var_os("ORT_DYLIB_PATH")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo().join("vendor/onnxruntime/libonnxruntime.so"));
        assert!(
            ort.is_file(),
            "{} is missing; run scripts/fetch-onnxruntime.sh",
            ort.display()
        );
        let log_file = File::options().create(true).append(true).open(log).unwrap();
        let mut cmd = Command::new(HANGAR);
        cmd.arg("serve")
            .arg("--data-dir")
            .arg(data)
            .arg("--addr")
            .arg(addr.to_string());
        if let Some(g) = grpc_addr {
            cmd.arg("--grpc-addr").arg(g.to_string());
        }
        cmd.args(flags)
            .env("ORT_DYLIB_PATH", &ort)
            .env("HANGAR_ADMIN_TOKEN", ADMIN_TOKEN)
            // The log is shown on failure: plain text, no colour codes.
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().unwrap())
            .stderr(log_file);
        for var in ["HANGAR_CONFIG", "HANGAR_DATA_DIR", "HANGAR_ADDR"] {
            cmd.env_remove(var);
        }
        cmd.envs(env.iter().map(|(k, v)| (k, v)));
        cmd.spawn().expect("start target/debug/hangar")
    }

    /// Kills the server at once with SIGKILL (`kill -9` of its process id,
    /// which `Child::kill` sends on Unix): no shutdown code runs, as in a
    /// crash. Returns when the process is gone.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the server again on the same data directory and flags (on
    /// new free ports: the old ones may still be held), after killing the
    /// running one if there is one; returns when it is ready.
    pub fn restart(&mut self) {
        self.kill();
        let addrs = free_addrs(2);
        self.addr = addrs[0];
        self.grpc_addr = self.grpc_addr.map(|_| addrs[1]);
        self.url = format!("http://{}", self.addr);
        let _ = File::options()
            .append(true)
            .open(&self.log)
            .and_then(|mut f| f.write_all(b"\n---- started again by the test ----\n"));
        self.child = Server::serve(
            &self.data,
            self.addr,
            self.grpc_addr,
            &self.flags,
            &self.env,
            &self.log,
        );
        self.wait_until_ready();
    }

    fn wait_until_ready(&mut self) {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if http_status(self.addr, "/v2/health/ready") == Some(200) {
                return;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "the server exited ({status}) before it was ready:\n{}",
                    self.log_text()
                );
            }
            if Instant::now() > deadline {
                panic!(
                    "the server was not ready within {READY_TIMEOUT:?}:\n{}",
                    self.log_text()
                );
            }
            // Polling a bounded number of times, not sleeping in place of a signal.
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Where this server's clients keep `hangar login`'s credentials.
    pub fn config_dir(&self) -> PathBuf {
        self.dir.path().join("config")
    }

    /// The client as the administrator (`HANGAR_TOKEN`).
    pub fn hangar(&self, args: &[&str]) -> Run {
        self.hangar_as(Some(ADMIN_TOKEN), args)
    }

    /// The client as the administrator, with `stdin` piped in.
    pub fn hangar_with_stdin(&self, args: &[&str], stdin: &[u8]) -> Run {
        self.run(Some(ADMIN_TOKEN), args, Some(stdin))
    }

    /// The client with `token` in `HANGAR_TOKEN`, or with none (then the
    /// login stored in [`Server::config_dir`], if any).
    pub fn hangar_as(&self, token: Option<&str>, args: &[&str]) -> Run {
        self.run(token, args, None)
    }

    pub fn run(&self, token: Option<&str>, args: &[&str], stdin: Option<&[u8]>) -> Run {
        let config = self.config_dir();
        let mut env = vec![
            ("HANGAR_SERVER", self.url.as_str()),
            ("HANGAR_CONFIG_DIR", config.to_str().unwrap()),
        ];
        if let Some(t) = token {
            env.push(("HANGAR_TOKEN", t));
        }
        hangar_env(args, &env, stdin)
    }

    pub fn path(&self, name: &str) -> String {
        self.dir.path().join(name).to_str().unwrap().to_owned()
    }

    /// A file in the test's own temporary directory.
    pub fn write(&self, name: &str, contents: &str) -> String {
        let path = self.path(name);
        std::fs::write(&path, contents).unwrap();
        path
    }

    /// Runs `args` (as the administrator) until `done` accepts the result,
    /// for at most `timeout`: for what the server does on its own clock.
    pub fn poll<T>(&self, args: &[&str], timeout: Duration, done: impl Fn(&Run) -> Option<T>) -> T {
        let deadline = Instant::now() + timeout;
        loop {
            let run = self.hangar(args);
            if let Some(found) = done(&run) {
                return found;
            }
            if Instant::now() > deadline {
                panic!(
                    "{args:?} did not show what was expected within {timeout:?}; last: {run:#?}\n\
                     server log:\n{}",
                    self.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

/// Rows of an aligned table, split on runs of two or more spaces, header
/// included.
pub fn table_rows(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .map(|line| {
            line.split("  ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .collect()
}
