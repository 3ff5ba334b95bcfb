//! A PostgreSQL server of a test's own, for the outage tests: made with
//! `initdb` in a temporary directory and run with `pg_ctl` on a free
//! loopback port, so that the test can stop it and start it again without
//! touching the machine's shared server.
//!
//! The binaries come from `pg_config --bindir` (Debian's
//! /usr/lib/postgresql/15/bin), else from the `PATH`. PostgreSQL refuses to
//! run as root; tests often do (CI), so then the server runs as the
//! `postgres` user that the server package creates, and its directory
//! belongs to that user.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

/// A private PostgreSQL server, stopped and removed when dropped.
pub struct PrivatePostgres {
    bin: PathBuf,
    /// Holds `data/` (the cluster), the unix socket and `server.log`.
    dir: PathBuf,
    port: u16,
    /// The user the server runs as when the test runs as root.
    run_as: Option<(u32, u32)>,
    running: bool,
}

impl PrivatePostgres {
    /// Makes a new cluster (superuser `postgres`, trust authentication) and
    /// starts it; returns once it accepts connections.
    ///
    /// Panics, saying why, when PostgreSQL's server binaries are missing or
    /// the server does not start.
    pub fn start() -> PrivatePostgres {
        let bin = bindir();
        let run_as = if running_as_root() {
            Some(postgres_user())
        } else {
            None
        };
        let dir =
            std::env::temp_dir().join(format!("hangar-pg-{}-{}", std::process::id(), unique()));
        std::fs::create_dir_all(&dir)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        if let Some((uid, gid)) = run_as {
            std::os::unix::fs::chown(&dir, Some(uid), Some(gid))
                .unwrap_or_else(|e| panic!("cannot give {} to postgres: {e}", dir.display()));
        }
        let mut pg = PrivatePostgres {
            bin,
            dir,
            port: free_port(),
            run_as,
            running: false,
        };
        let data = pg.data();
        let out = pg.run(
            "initdb",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-U".as_ref(),
                "postgres".as_ref(),
                "--auth=trust".as_ref(),
                "--no-sync".as_ref(),
                "--no-instructions".as_ref(),
                "-E".as_ref(),
                "UTF8".as_ref(),
                "--locale=C".as_ref(),
            ],
        );
        assert!(
            out.status.success(),
            "initdb failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        pg.start_again();
        pg
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres`: the cluster's own
    /// database, as its superuser.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the server (fast shutdown: open connections are closed), as an
    /// outage; returns once it is down.
    pub fn stop(&mut self) {
        self.pg_ctl_stop("fast");
    }

    /// Starts the server again on the same port and data (after
    /// [`PrivatePostgres::stop`]); returns once it accepts connections.
    pub fn start_again(&mut self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=100",
            self.port,
            self.dir.display()
        );
        let data = self.data();
        let log = self.dir.join("server.log");
        let out = self.run(
            "pg_ctl",
            &[
                "start".as_ref(),
                "-D".as_ref(),
                data.as_os_str(),
                "-l".as_ref(),
                log.as_os_str(),
                "-o".as_ref(),
                options.as_ref(),
                "-w".as_ref(),
                "-t".as_ref(),
                "60".as_ref(),
            ],
        );
        assert!(
            out.status.success(),
            "pg_ctl start failed: {}{}\nserver log:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        self.running = true;
    }

    fn pg_ctl_stop(&mut self, mode: &str) {
        if !self.running {
            return;
        }
        let data = self.data();
        let out = self.run(
            "pg_ctl",
            &[
                "stop".as_ref(),
                "-D".as_ref(),
                data.as_os_str(),
                "-m".as_ref(),
                mode.as_ref(),
                "-w".as_ref(),
                "-t".as_ref(),
                "60".as_ref(),
            ],
        );
        if out.status.success() {
            self.running = false;
        } else {
            eprintln!(
                "note: pg_ctl stop failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// Runs one of PostgreSQL's programs, as `postgres` when the test is
    /// root.
    fn run(&self, program: &str, args: &[&std::ffi::OsStr]) -> Output {
        use std::os::unix::process::CommandExt;
        let path = self.bin.join(program);
        let mut cmd = Command::new(&path);
        cmd.args(args)
            .current_dir(&self.dir)
            .env("LC_ALL", "C")
            .env_remove("PGDATA")
            .env_remove("PGPORT")
            .env_remove("PGHOST");
        if let Some((uid, gid)) = self.run_as {
            cmd.uid(uid)
                .gid(gid)
                .env("HOME", &self.dir)
                .env("USER", "postgres");
        }
        cmd.output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", path.display()))
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        // Immediate: nothing of it needs to survive.
        self.pg_ctl_stop("immediate");
        if !self.running {
            let _ = std::fs::remove_dir_all(&self.dir);
        } else {
            eprintln!(
                "note: the private PostgreSQL in {} could not be stopped",
                self.dir.display()
            );
        }
    }
}

/// Where `initdb` and `pg_ctl` are: `pg_config --bindir`, else the `PATH`.
fn bindir() -> PathBuf {
    let from_pg_config = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
        .filter(|dir| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file());
    if let Some(dir) = from_pg_config {
        return dir;
    }
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .find(|dir| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file())
    });
    on_path.unwrap_or_else(|| {
        panic!(
            "PostgreSQL's server programs (initdb, pg_ctl) were not found: neither in \
             `pg_config --bindir` nor on the PATH. Install the server (Debian: postgresql-15)"
        )
    })
}

/// Is this process root? `/proc/self` belongs to the effective user.
fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// The `postgres` user's uid and gid, from /etc/passwd.
fn postgres_user() -> (u32, u32) {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    passwd
        .lines()
        .find_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            match fields.as_slice() {
                ["postgres", _, uid, gid, ..] => Some((uid.parse().ok()?, gid.parse().ok()?)),
                _ => None,
            }
        })
        .unwrap_or_else(|| {
            panic!(
                "the tests run as root, which PostgreSQL refuses, and there is no `postgres` \
                 user to run a private server as (the PostgreSQL server package creates it)"
            )
        })
}

/// A free loopback port (bound, then let go).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("cannot find a free loopback port: {e}"))
}

fn unique() -> u128 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_nanos();
    nanos * 1000 + u128::from(NEXT.fetch_add(1, Ordering::Relaxed))
}
