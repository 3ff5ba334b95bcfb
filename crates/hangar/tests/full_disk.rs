//! A full disk: the real `hangar serve` with its data directory on a small
//! tmpfs that the test mounts (it runs as root in CI; where mounting is not
//! allowed it says so and skips) and fills with a filler file. Then:
//!
//! - a model push answers 507 with a clear message and leaves nothing
//!   behind: no file under `artifacts/`, no version row, no new model;
//! - inference goes on answering 200, and the prediction log drops the rows
//!   it cannot write and counts them (`hangar_prediction_log_dropped_total`):
//!   every row sent is either in the log or counted, none vanishes;
//! - once the filler is deleted, a push succeeds, new prediction rows are
//!   written and nothing more is dropped; the SQLite file passes
//!   `PRAGMA integrity_check`.
//!
//! The figures it prints are in docs/reliability.md.

mod common;

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{read_json, reference, Server, ADMIN_TOKEN};
use serde_json::{json, Value};

/// The tmpfs: room for the database, its WAL and a model or two.
const SIZE: &str = "16m";
/// Rows per inference request while the disk is full.
const ROWS: usize = 200;
/// At most this many requests to see the log refuse rows (the WAL may have
/// room left for some first).
const MAX_FULL_REQUESTS: usize = 300;

/// A tmpfs mounted on a fresh directory, unmounted when dropped.
struct Tmpfs {
    mountpoint: PathBuf,
    _dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Result<Tmpfs, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let mountpoint = dir.path().join("mnt");
        std::fs::create_dir(&mountpoint).map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(&mountpoint)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_owned());
        }
        Ok(Tmpfs {
            mountpoint,
            _dir: dir,
        })
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(&self.mountpoint)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            // Something still holds a file: detach it now, freed when let go.
            let _ = Command::new("umount")
                .arg("-l")
                .arg(&self.mountpoint)
                .status();
        }
    }
}

/// Writes zeros to `path` until the file system refuses (ENOSPC): in 1 MiB
/// pieces, then 4 KiB ones for the last pages. Returns the bytes written.
fn fill(path: &Path) -> u64 {
    let mut file = std::fs::File::create(path).unwrap();
    let mut written = 0;
    for piece in [1 << 20, 4 << 10] {
        let zeros = vec![0u8; piece];
        loop {
            match file.write(&zeros) {
                Ok(0) => break,
                Ok(n) => written += n as u64,
                Err(e) => {
                    assert_eq!(e.raw_os_error(), Some(28), "filling: {e}");
                    break;
                }
            }
        }
    }
    written
}

/// Every file under `dir`, relative to it.
fn files(dir: &Path) -> BTreeSet<PathBuf> {
    let mut out = BTreeSet::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let path = e.unwrap().path();
            if path.is_dir() {
                todo.push(path);
            } else {
                out.insert(path.strip_prefix(dir).unwrap().to_path_buf());
            }
        }
    }
    out
}

fn http() -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {ADMIN_TOKEN}").parse().unwrap(),
    );
    reqwest::Client::builder()
        .default_headers(headers)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// What the test does over HTTP, on its own runtime.
struct Api {
    rt: tokio::runtime::Runtime,
    http: reqwest::Client,
    url: String,
    body: Value,
}

impl Api {
    fn new(server: &Server) -> Api {
        let request = read_json(&reference("fixed_inputs_200.request.json"));
        Api {
            rt: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
            http: http(),
            url: server.url.clone(),
            body: json!({"inputs": request["inputs"]}),
        }
    }

    /// A request of the reference's [`ROWS`] rows with id `id`; its status.
    fn infer(&self, id: &str) -> u16 {
        let mut body = self.body.clone();
        body["id"] = json!(id);
        self.rt.block_on(async {
            let r = self
                .http
                .post(format!("{}/v2/models/credit/infer", self.url))
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            r.bytes().await.unwrap();
            status
        })
    }

    /// Rows per request id in the prediction log's export (which first
    /// flushes the log: everything recorded before it has been handled).
    fn logged(&self) -> std::collections::HashMap<String, usize> {
        let text = self.rt.block_on(async {
            let r = self
                .http
                .get(format!(
                    "{}/api/v1/deployments/credit/predictions",
                    self.url
                ))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "the export reads while the disk is full");
            r.text().await.unwrap()
        });
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let id = reader
            .headers()
            .unwrap()
            .iter()
            .position(|h| h == "request_id")
            .unwrap();
        let mut rows = std::collections::HashMap::new();
        for r in reader.records() {
            *rows.entry(r.unwrap()[id].to_owned()).or_insert(0) += 1;
        }
        rows
    }

    /// A management API read.
    fn get(&self, path: &str) -> Value {
        self.rt.block_on(async {
            let r = self
                .http
                .get(format!("{}{path}", self.url))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "GET {path}");
            r.json().await.unwrap()
        })
    }

    /// `hangar_prediction_log_dropped_total`, per reason.
    fn dropped(&self) -> std::collections::BTreeMap<String, u64> {
        let text = self.rt.block_on(async {
            let r = self
                .http
                .get(format!("{}/metrics", self.url))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            r.text().await.unwrap()
        });
        text.lines()
            .filter_map(|l| l.strip_prefix("hangar_prediction_log_dropped_total{reason=\""))
            .map(|l| {
                let (reason, value) = l.split_once("\"} ").unwrap();
                (reason.to_owned(), value.trim().parse().unwrap())
            })
            .collect()
    }
}

/// The SQLite file passes `PRAGMA integrity_check` (read-only, beside the
/// running server).
fn integrity(db: &Path) {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
}

#[test]
fn a_full_disk_refuses_pushes_with_507_keeps_serving_and_recovers() {
    let started = Instant::now();
    let tmpfs = match Tmpfs::mount(SIZE) {
        Ok(t) => t,
        Err(e) => {
            println!(
                "skipped: a_full_disk_refuses_pushes_with_507_keeps_serving_and_recovers needs to \
                 mount a tmpfs (root with CAP_SYS_ADMIN), and mounting failed here: {e}"
            );
            return;
        }
    };
    let data = tmpfs.mountpoint.join("data");
    // Declared after the mount: dropped (killed) before it is unmounted.
    let server = Server::start_on(&data, &[]);
    let api = Api::new(&server);
    let gbdt = reference("models/gbdt/model.onnx");
    let forest = reference("models/random_forest/model.onnx");
    server
        .hangar(&["model", "push", gbdt.to_str().unwrap(), "--name", "credit"])
        .ok();
    server
        .hangar(&["deploy", "credit", "--model", "credit:1"])
        .ok();
    for i in 0..3 {
        assert_eq!(api.infer(&format!("before-{i}")), 200);
    }
    assert_eq!(
        api.logged().len(),
        3,
        "rows are logged before the disk fills"
    );

    let filler = tmpfs.mountpoint.join("filler");
    let filled = fill(&filler);
    let artifacts = files(&data.join("artifacts"));

    // A push that does not fit: 507, said plainly, and nothing left behind.
    let refused = server
        .hangar(&[
            "model",
            "push",
            forest.to_str().unwrap(),
            "--name",
            "credit",
        ])
        .error_line();
    assert!(
        refused.contains("disk is full") && refused.contains("(HTTP 507)"),
        "{refused}"
    );
    assert!(
        !refused.contains(data.to_str().unwrap()),
        "no server path: {refused}"
    );
    let refused_new = server
        .hangar(&[
            "model",
            "push",
            forest.to_str().unwrap(),
            "--name",
            "forest",
        ])
        .error_line();
    assert!(refused_new.contains("(HTTP 507)"), "{refused_new}");
    assert_eq!(
        files(&data.join("artifacts")),
        artifacts,
        "no partial artifact"
    );
    let versions = api.get("/api/v1/models/credit/versions");
    assert_eq!(
        versions["versions"].as_array().unwrap().len(),
        1,
        "no version row: {versions:#}"
    );
    let models = server
        .hangar(&["model", "list", "--output", "json"])
        .ok()
        .json();
    assert!(
        !models.to_string().contains("\"forest\""),
        "no model created by a refused first push: {models:#}"
    );
    // A deploy cannot record its revision either: 507, and the deployment
    // serves the revision it had.
    let refused_deploy = server
        .hangar(&[
            "deploy",
            "credit",
            "--model",
            "credit:1",
            "--message",
            "on a full disk",
        ])
        .error_line();
    assert!(refused_deploy.contains("(HTTP 507)"), "{refused_deploy}");
    assert_eq!(
        api.get("/api/v1/deployments/credit")["current"]["revision"],
        1
    );

    // Serving goes on; the log drops what it cannot write, and counts it.
    let mut sent = 0;
    let full_since = Instant::now();
    while sent < MAX_FULL_REQUESTS {
        assert_eq!(
            api.infer(&format!("full-{sent:04}")),
            200,
            "inference while the disk is full"
        );
        sent += 1;
        if sent % 10 == 0 {
            let _ = api.logged();
            if api.dropped().get("write_failed").copied().unwrap_or(0) > 0 {
                break;
            }
        }
    }
    let logged = api.logged();
    let dropped = api.dropped();
    let dropped_rows: u64 = dropped.values().sum();
    assert!(
        dropped.get("write_failed").copied().unwrap_or(0) > 0,
        "{sent} requests of {ROWS} rows on a full disk, and no row was counted as dropped: \
         {dropped:?}\n{}",
        server.log_text()
    );
    let stored_full: usize = logged
        .iter()
        .filter(|(id, _)| id.starts_with("full-"))
        .map(|(_, rows)| rows)
        .sum();
    assert_eq!(
        stored_full as u64 + dropped_rows,
        (sent * ROWS) as u64,
        "every row is logged or counted as dropped: {stored_full} logged, {dropped:?}"
    );
    let full_for = full_since.elapsed();

    // Room again: pushes and the log resume.
    std::fs::remove_file(&filler).unwrap();
    let pushed = server
        .hangar(&[
            "model",
            "push",
            forest.to_str().unwrap(),
            "--name",
            "credit",
        ])
        .ok();
    assert!(
        pushed.stdout.starts_with("pushed credit version 2 "),
        "{pushed:#?}"
    );
    // Every database connection is usable again (one whose transaction
    // SQLite rolled back on the full disk is not reused): a few writes in a
    // row go through whichever connection they get.
    for revision in 2..6 {
        let version = if revision % 2 == 0 {
            "credit:2"
        } else {
            "credit:1"
        };
        server
            .hangar(&["deploy", "credit", "--model", version])
            .ok();
        assert_eq!(
            api.get("/api/v1/deployments/credit")["current"]["revision"],
            revision
        );
    }
    for i in 0..3 {
        assert_eq!(api.infer(&format!("after-{i}")), 200);
    }
    let logged = api.logged();
    for i in 0..3 {
        assert_eq!(
            logged.get(&format!("after-{i}")),
            Some(&ROWS),
            "rows logged again"
        );
    }
    assert_eq!(api.dropped(), dropped, "nothing dropped once there is room");
    integrity(&data.join("hangar.db"));
    println!(
        "full disk: tmpfs of {SIZE}, filler {} bytes; {sent} requests ({} rows) answered 200 in \
         {} ms on the full disk: {stored_full} rows still logged (room in the WAL), {dropped_rows} \
         dropped and counted {dropped:?}; two pushes and a deploy refused with 507; after the \
         filler was deleted a push, four deploys and new rows went through; {:.1} s in all",
        filled,
        sent * ROWS,
        full_for.as_millis(),
        started.elapsed().as_secs_f64()
    );
    drop(server);
    drop(tmpfs);
}
