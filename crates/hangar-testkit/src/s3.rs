//! A real S3 server for tests: `s3s-fs` (the s3s project's file-system
//! backed S3 server) on 127.0.0.1, on a port the system picks, with SigV4
//! signatures checked against its own credentials, objects in a temporary
//! directory, and one bucket made for the test. Killed when dropped.
//!
//! The binary is installed by `scripts/ensure-s3.sh` (`cargo install
//! s3s-fs --version 0.14.1 --features binary --locked`) and found as
//! `$HANGAR_S3S_FS`, else `s3s-fs` on `PATH`, else
//! `${CARGO_HOME:-$HOME/.cargo}/bin/s3s-fs`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long the server may take to say where it listens.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// One S3 server of a test's own.
pub struct S3Server {
    child: Option<Child>,
    dir: tempfile::TempDir,
    port: u16,
    bucket: String,
    access_key: String,
    secret_key: String,
}

impl S3Server {
    /// Starts a server with the bucket `hangar-test`, and waits until it
    /// listens. Panics (with what to run) when `s3s-fs` is not installed.
    pub fn start() -> S3Server {
        let dir = tempfile::tempdir().expect("temporary directory for the S3 server");
        let bucket = "hangar-test".to_string();
        std::fs::create_dir_all(dir.path().join("data").join(&bucket))
            .expect("the S3 server's bucket directory");
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let mut server = S3Server {
            child: None,
            dir,
            port: 0,
            bucket,
            access_key: format!("hangar{}", std::process::id()),
            secret_key: format!("secret-{nanos:09}-{}", std::process::id()),
        };
        server.spawn(0);
        server
    }

    /// The binary that serves S3.
    pub fn binary() -> PathBuf {
        if let Some(p) = std::env::var_os("HANGAR_S3S_FS") {
            return PathBuf::from(p);
        }
        if let Some(path) = std::env::var_os("PATH") {
            for dir in std::env::split_paths(&path) {
                let candidate = dir.join("s3s-fs");
                if candidate.is_file() {
                    return candidate;
                }
            }
        }
        let cargo_home = std::env::var_os("CARGO_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
            .unwrap_or_default();
        cargo_home.join("bin").join("s3s-fs")
    }

    /// Starts the process on `port` (0: any free one) and reads the port it
    /// listens on from its log.
    fn spawn(&mut self, port: u16) {
        let binary = Self::binary();
        assert!(
            binary.is_file(),
            "no S3 server for the tests at {}: run scripts/ensure-s3.sh \
             (cargo install s3s-fs --version 0.14.1 --features binary --locked) \
             or set HANGAR_S3S_FS",
            binary.display()
        );
        // The log goes to a file, not a pipe: a pipe nobody drains would
        // stop the server once it filled.
        let log_path = self.dir.path().join(format!("s3s-fs-{port}.log"));
        let log = std::fs::File::create(&log_path).expect("the S3 server's log file");
        let child = Command::new(&binary)
            .arg("--host")
            .arg("127.0.0.1")
            .arg("--port")
            .arg(port.to_string())
            .arg("--access-key")
            .arg(&self.access_key)
            .arg("--secret-key")
            .arg(&self.secret_key)
            .arg(self.dir.path().join("data"))
            .env("RUST_LOG", "s3s_fs=info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("the S3 server's log file"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", binary.display()));
        self.child = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let text = std::fs::read_to_string(&log_path).unwrap_or_default();
            if let Some(port) = listening_port(&text) {
                self.port = port;
                return;
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("the S3 server exited at start ({status}):\n{text}");
            }
            if Instant::now() > deadline {
                self.stop();
                panic!("the S3 server did not start within {START_TIMEOUT:?}:\n{text}");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// `http://127.0.0.1:PORT`
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    pub fn access_key(&self) -> &str {
        &self.access_key
    }

    pub fn secret_key(&self) -> &str {
        &self.secret_key
    }

    /// `s3://BUCKET/PREFIX`, the location Hangar is given.
    pub fn url(&self, prefix: &str) -> String {
        format!("s3://{}/{}", self.bucket, prefix.trim_matches('/'))
    }

    /// The standard `AWS_*` variables that reach this server, as
    /// name/value pairs.
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("AWS_ENDPOINT_URL", self.endpoint()),
            ("AWS_ACCESS_KEY_ID", self.access_key.clone()),
            ("AWS_SECRET_ACCESS_KEY", self.secret_key.clone()),
            ("AWS_REGION", "us-east-1".to_string()),
            ("AWS_ALLOW_HTTP", "true".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    /// Sets [`S3Server::env`] on a child process.
    pub fn apply_env<'c>(&self, command: &'c mut Command) -> &'c mut Command {
        command.envs(self.env())
    }

    /// The directory holding the bucket's objects (one file per object,
    /// at its key), and the server's own files (multipart parts in
    /// progress are `.upload_id-*` files in its parent).
    pub fn bucket_dir(&self) -> PathBuf {
        self.dir.path().join("data").join(&self.bucket)
    }

    /// The server's data directory (the parent of the bucket's).
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Kills the server (SIGKILL, by its PID) and waits for it: requests
    /// are refused from now on. Its objects stay for [`S3Server::restart`].
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port with the same objects.
    pub fn restart(&mut self) {
        self.stop();
        let port = self.port;
        self.spawn(port);
        assert_eq!(self.port, port, "the S3 server came back on another port");
    }

    /// Whether the server process is running.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// The root the server's data directory lives in (for a test's own
    /// files beside it).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The port in s3s-fs's "server is running at http://127.0.0.1:PORT".
fn listening_port(log: &str) -> Option<u16> {
    let at = log.find("server is running at http://")? + "server is running at http://".len();
    let rest = &log[at..];
    let (_, after_host) = rest.split_once(':')?;
    let digits: String = after_host
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_port_is_read_from_the_log_line() {
        let log = "  2026-12-07T23:58:04Z  INFO s3s_fs: authentication is enabled\n\n  \
                   2026-12-07T23:58:04Z  INFO s3s_fs: server is running at http://127.0.0.1:40187\n    at src/main.rs:121\n";
        assert_eq!(listening_port(log), Some(40187));
        assert_eq!(
            listening_port("INFO s3s_fs: authentication is enabled"),
            None
        );
    }
}
