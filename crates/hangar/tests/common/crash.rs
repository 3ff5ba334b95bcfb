//! The crash harness of `tests/crash.rs`: a server killed with SIGKILL and
//! started again on the same data directory, background traffic while it
//! runs, and the checks every crash must pass (file integrity, audit chain,
//! revisions, acknowledged prediction rows). Only that test binary includes
//! it, so it is not part of `common`.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::{read_json, reference, Server, ADMIN_TOKEN};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};

/// The generator's seed: the same kills every run.
pub const SEED: u64 = 0x4841_4e47_4152_0011;
/// The deployment every scenario serves.
pub const DEPLOYMENT: &str = "credit";
/// Rows per request of the background traffic.
pub const ROWS: usize = 2;
/// The background traffic flushes the prediction log every this many
/// requests (its rows before that point are then acknowledged).
pub const FLUSH_EVERY: usize = 8;
/// Traffic before the operation starts, so that rows are being recorded
/// and written when the kill lands.
pub const WARM_UP: Duration = Duration::from_millis(300);
/// How long before a kill an unacknowledged row may have been answered and
/// still be lost: the writer's batch wait (100 ms) plus one batch's write,
/// with room for a loaded two-core machine.
pub const LOSS_BOUND: Duration = Duration::from_secs(1);
/// Any one HTTP call; a kill ends the calls in flight at once.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// The scenarios run one at a time: each kills and starts its own server
/// many times, and the kills' timing means more on a quieter machine.
static SERIAL: Mutex<()> = Mutex::new(());

pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// splitmix64: a small, fixed, seeded generator (no dependency).
pub struct Rng(u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A delay uniform in `[0, max]`, to the microsecond.
    pub fn delay(&mut self, max: Duration) -> Duration {
        let us = max.as_micros() as u64;
        Duration::from_micros(self.next() % (us + 1))
    }
}

pub fn http() -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {ADMIN_TOKEN}").parse().unwrap(),
    );
    reqwest::Client::builder()
        .default_headers(headers)
        .timeout(CALL_TIMEOUT)
        .build()
        .unwrap()
}

/// A V2 request of `rows` rows of the reference inputs (repeated past 200),
/// with the given id (the prediction log's `request_id`).
pub fn infer_body(rows: usize, id: &str) -> Value {
    let request = read_json(&reference("fixed_inputs_200.request.json"));
    let data = request["inputs"][0]["data"].as_array().unwrap();
    let data: Vec<Value> = data.iter().cycle().take(rows * 22).cloned().collect();
    json!({
        "id": id,
        "inputs": [{"name": "input", "shape": [rows, 22], "datatype": "FP32", "data": data}]
    })
}

pub fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Flushes the prediction log: the export of an empty range long past
/// waits, like every read of the log, until what was recorded before it is
/// committed. `None` when the server is gone.
pub async fn flush(http: &reqwest::Client, url: &str) -> Option<bool> {
    let r = http
        .get(format!("{url}/api/v1/deployments/{DEPLOYMENT}/predictions"))
        .query(&[
            ("from", "2000-01-01T00:00:00Z"),
            ("to", "2000-01-01T00:00:01Z"),
        ])
        .send()
        .await
        .ok()?;
    let ok = r.status() == 200;
    r.bytes().await.ok()?;
    Some(ok)
}

/// What the background traffic of one crash saw.
#[derive(Default)]
pub struct TrafficLog {
    /// Requests answered 200: id and when the answer arrived.
    pub answered: Vec<(String, Instant)>,
    /// How many of `answered` a completed flush covers.
    pub acked: usize,
    /// Answers other than 200 (none are expected).
    pub refused: Vec<u16>,
}

/// Requests of [`ROWS`] rows one after another, each id `{tag}-{n}`, with a
/// flush every [`FLUSH_EVERY`]; ends when the server is gone (or `stop`).
pub async fn traffic(
    http: reqwest::Client,
    url: String,
    tag: String,
    log: Arc<Mutex<TrafficLog>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
) {
    for n in 0.. {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        if n % FLUSH_EVERY == FLUSH_EVERY - 1 {
            let before = log.lock().unwrap().answered.len();
            match flush(&http, &url).await {
                Some(true) => log.lock().unwrap().acked = before,
                Some(false) => {}
                None => return,
            }
        }
        let id = format!("{tag}-{n:05}");
        let sent = http
            .post(format!("{url}/v2/models/{DEPLOYMENT}/infer"))
            .json(&infer_body(ROWS, &id))
            .send()
            .await;
        let Ok(response) = sent else { return };
        let status = response.status().as_u16();
        // The rows are in the log's buffer before the answer is sent; the
        // request counts as answered once its whole answer arrived.
        if response.bytes().await.is_err() {
            return;
        }
        let mut log = log.lock().unwrap();
        if status == 200 {
            log.answered.push((id, Instant::now()));
        } else {
            log.refused.push(status);
        }
    }
}

/// Requests of an operation started and finished, to tell whether the kill
/// landed while one was in flight; and whether the operation is under way
/// (the kill's delay counts from then).
pub struct Progress {
    pub started: AtomicUsize,
    pub finished: AtomicUsize,
    pub armed: tokio::sync::watch::Sender<bool>,
}

impl Default for Progress {
    fn default() -> Self {
        Progress {
            started: AtomicUsize::new(0),
            finished: AtomicUsize::new(0),
            armed: tokio::sync::watch::channel(false).0,
        }
    }
}

impl Progress {
    pub fn arm(&self) {
        self.armed.send_replace(true);
    }

    /// Returns once [`Progress::arm`] was called.
    pub async fn under_way(&self) {
        let mut armed = self.armed.subscribe();
        // The sender lives in `self`: the wait cannot fail.
        let _ = armed.wait_for(|a| *a).await;
    }

    pub fn in_flight(&self) -> bool {
        self.started.load(Ordering::SeqCst) > self.finished.load(Ordering::SeqCst)
    }
}

/// One answered traffic request as checked after the restart.
pub struct Answered {
    pub id: String,
    pub at: Instant,
    pub acked: bool,
    pub killed: Instant,
    /// How long before the kill it may have been answered and still lost.
    pub bound: Duration,
}

#[derive(Default, Debug)]
pub struct Figures {
    pub kills: usize,
    /// Kills that landed while the operation had a request in flight.
    pub mid_operation: usize,
    pub answered: usize,
    pub acked: usize,
    /// Answered, unacknowledged, and not in the log after the restart.
    pub lost: usize,
    /// The longest time between a lost request's answer and the kill.
    pub max_lost_age: Duration,
    /// The longest restart (kill to ready).
    pub max_restart: Duration,
}

/// A server that is killed and started again on the same data directory,
/// with what every crash is checked against.
pub struct Crashes {
    pub server: Server,
    pub rt: tokio::runtime::Runtime,
    pub http: reqwest::Client,
    pub rng: Rng,
    /// Every answered traffic request so far.
    pub answered: Vec<Answered>,
    /// Request ids found in the log at some restart: they must stay.
    pub present: HashSet<String>,
    pub figures: Figures,
    pub started: Instant,
    /// Where the background traffic's rows begin in the log (a test's own
    /// rows before it are not read back with the traffic's).
    pub traffic_from: Option<DateTime<Utc>>,
}

impl Crashes {
    pub fn new(seed: u64) -> Crashes {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let server = Server::start();
        Crashes {
            server,
            rt,
            http: http(),
            rng: Rng(seed),
            answered: Vec::new(),
            present: HashSet::new(),
            figures: Figures::default(),
            started: Instant::now(),
            traffic_from: None,
        }
    }

    /// Pushes the reference GBDT (version 1) and logistic regression
    /// (version 2) of `credit` and deploys version 1.
    pub fn push_and_deploy(&self) {
        for model in ["gbdt", "logreg"] {
            let path = reference(&format!("models/{model}/model.onnx"));
            self.server
                .hangar(&["model", "push", path.to_str().unwrap(), "--name", "credit"])
                .ok();
        }
        self.server
            .hangar(&["deploy", DEPLOYMENT, "--model", "credit:1"])
            .ok();
    }

    /// Background traffic, then `op` after [`WARM_UP`]; the server is killed
    /// `delay` after `op` armed its [`Progress`] (where it also counts its
    /// requests). Returns what `op` returned, when the kill was sent, and
    /// how long `op` had been under way.
    pub fn crash<T, F, Fut>(&mut self, tag: &str, delay: Duration, op: F) -> (T, Instant, Duration)
    where
        T: Send + 'static,
        F: FnOnce(reqwest::Client, String, Arc<Progress>) -> Fut,
        Fut: Future<Output = T> + Send + 'static,
    {
        let url = self.server.url.clone();
        let log = Arc::new(Mutex::new(TrafficLog::default()));
        let progress = Arc::new(Progress::default());
        let traffic_task = self.rt.spawn(traffic(
            self.http.clone(),
            url.clone(),
            format!("{tag}-traffic"),
            log.clone(),
            Arc::default(),
        ));
        let op_future = op(self.http.clone(), url, progress.clone());
        let server = &mut self.server;
        let (out, killed, op_age) = self.rt.block_on(async {
            tokio::time::sleep(WARM_UP).await;
            let op_task = tokio::spawn(op_future);
            tokio::time::timeout(CALL_TIMEOUT, progress.under_way())
                .await
                .expect("the operation never got under way");
            let op_started = Instant::now();
            tokio::time::sleep(delay).await;
            let mid = progress.in_flight();
            let killed = Instant::now();
            server.kill();
            let out = tokio::time::timeout(CALL_TIMEOUT, op_task)
                .await
                .expect("the operation ends once the server is gone")
                .expect("the operation's task");
            tokio::time::timeout(CALL_TIMEOUT, traffic_task)
                .await
                .expect("the traffic ends once the server is gone")
                .expect("the traffic's task");
            ((out, mid), killed, killed - op_started)
        });
        let (out, mid) = out;
        self.figures.kills += 1;
        self.figures.mid_operation += usize::from(mid);
        let log = log.lock().unwrap();
        assert!(
            log.refused.is_empty(),
            "inference refused during {tag}: {:?}\n{}",
            log.refused,
            self.server.log_text()
        );
        for (i, (id, at)) in log.answered.iter().enumerate() {
            self.answered.push(Answered {
                id: id.clone(),
                at: *at,
                acked: i < log.acked,
                killed,
                bound: LOSS_BOUND,
            });
        }
        (out, killed, op_age)
    }

    /// Checks the file as the crash left it, starts the server again and
    /// checks the audit chain. `extra` widens the loss bound of the last
    /// crash's requests (the time another writer held the database).
    pub fn restart(&mut self, killed: Instant, extra: Duration) {
        integrity(&self.server.data.join("hangar.db"));
        self.server.restart();
        self.figures.max_restart = self.figures.max_restart.max(killed.elapsed());
        let verify = self.server.hangar(&["audit", "verify"]).ok();
        assert!(verify.stdout.contains("hash chain intact"), "{verify:#?}");
        for a in self.answered.iter_mut().filter(|a| a.killed == killed) {
            a.bound = LOSS_BOUND + extra;
        }
    }

    /// Every acknowledged traffic row is in the log, every request's rows
    /// are all there or none, and a lost request was answered within its
    /// bound before the kill.
    pub fn check_traffic(&mut self) {
        let stored = self.stored_rows();
        for id in &self.present {
            assert!(
                stored.contains_key(id),
                "request {id} was in the log at an earlier restart and is gone"
            );
        }
        // The requests of the last crash.
        for a in &self.answered[self.figures.answered..] {
            match stored.get(&a.id) {
                Some(&rows) => {
                    assert_eq!(
                        rows, ROWS,
                        "request {}: a request's rows are written together",
                        a.id
                    );
                }
                None => {
                    let age = a.killed - a.at;
                    assert!(
                        !a.acked,
                        "request {} was acknowledged (answered {age:?} before the kill, before a flush \
                         completed) but its rows are not in the log",
                        a.id
                    );
                    assert!(
                        age <= a.bound,
                        "request {} was answered {age:?} before the kill and lost: more than {:?}",
                        a.id,
                        a.bound
                    );
                    self.figures.lost += 1;
                    self.figures.max_lost_age = self.figures.max_lost_age.max(age);
                }
            }
        }
        self.figures.answered = self.answered.len();
        self.figures.acked = self.answered.iter().filter(|a| a.acked).count();
        self.present.extend(
            self.answered
                .iter()
                .filter(|a| stored.contains_key(&a.id))
                .map(|a| a.id.clone()),
        );
    }

    /// The history is numbered without a gap, the current revision is the
    /// last, and an inference is answered by it. Returns the revisions.
    pub fn check_revisions(&self) -> Vec<Value> {
        let history = self
            .server
            .hangar(&["deployments", "history", DEPLOYMENT, "--output", "json"])
            .ok()
            .json();
        let revisions = history["revisions"].as_array().unwrap().clone();
        for (i, r) in revisions.iter().enumerate() {
            assert_eq!(r["revision"], i + 1, "history: {history:#}");
            let routes = r["routes"].as_array().unwrap();
            assert_eq!(routes.len(), 1, "{r:#}");
            assert_eq!(routes[0]["weight"], 100, "{r:#}");
        }
        let last = revisions.last().expect("at least the first deploy");
        let shown = self
            .server
            .hangar(&["deployments", "show", DEPLOYMENT, "--output", "json"])
            .ok()
            .json();
        assert_eq!(shown["current"]["revision"], last["revision"], "{shown:#}");
        assert_eq!(shown["ready"], true, "{shown:#}");
        let (revision, version) = self.rt.block_on(async {
            let r = self
                .http
                .post(format!("{}/v2/models/{DEPLOYMENT}/infer", self.server.url))
                .json(&infer_body(1, "revision-check"))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            let revision = r.headers()["x-hangar-revision"]
                .to_str()
                .unwrap()
                .to_owned();
            let body: Value = r.json().await.unwrap();
            (revision, body["model_version"].as_str().unwrap().to_owned())
        });
        assert_eq!(revision, last["revision"].to_string(), "served revision");
        assert_eq!(
            version,
            last["routes"][0]["version"].to_string(),
            "served version"
        );
        revisions
    }

    /// The prediction log's rows (request id, row, label) in `[from, to)`,
    /// else the last day, through the export.
    pub fn export(
        &self,
        range: Option<(DateTime<Utc>, DateTime<Utc>)>,
    ) -> Vec<(String, u32, Option<f64>)> {
        let mut query = Vec::new();
        if let Some((from, to)) = range {
            query = vec![("from", time(from)), ("to", time(to))];
        }
        let text = self.rt.block_on(async {
            let r = self
                .http
                .get(format!(
                    "{}/api/v1/deployments/{DEPLOYMENT}/predictions",
                    self.server.url
                ))
                .query(&query)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            r.text().await.unwrap()
        });
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let header = reader.headers().unwrap().clone();
        let col = |name: &str| header.iter().position(|h| h == name).unwrap();
        let (id, row, label) = (col("request_id"), col("row"), col("label"));
        reader
            .records()
            .map(|r| {
                let r = r.unwrap();
                (
                    r[id].to_owned(),
                    r[row].parse().unwrap(),
                    Some(&r[label])
                        .filter(|l| !l.is_empty())
                        .map(|l| l.parse().unwrap()),
                )
            })
            .collect()
    }

    /// Rows per request id in the log since `traffic_from` (else the last
    /// day).
    pub fn stored_rows(&self) -> HashMap<String, usize> {
        let range = self
            .traffic_from
            .map(|from| (from, Utc::now() + chrono::Duration::seconds(1)));
        let mut rows = HashMap::new();
        for (id, _, _) in self.export(range) {
            *rows.entry(id).or_insert(0) += 1;
        }
        rows
    }

    pub fn report(&self, name: &str) {
        let f = &self.figures;
        println!(
            "{name}: {} kills ({} mid-operation) in {:.1} s; longest restart {} ms; {} requests \
             answered ({} rows), {} acknowledged, {} lost (all unacknowledged), longest \
             answer-to-kill gap of a lost one {} ms",
            f.kills,
            f.mid_operation,
            self.started.elapsed().as_secs_f64(),
            f.max_restart.as_millis(),
            f.answered,
            f.answered * ROWS,
            f.acked,
            f.lost,
            f.max_lost_age.as_millis()
        );
    }
}

/// The SQLite file passes `PRAGMA integrity_check` and has no dangling
/// foreign key; read-only, with the WAL the crash left.
pub fn integrity(db: &Path) {
    let conn = rusqlite::Connection::open_with_flags(
        db,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .unwrap();
    let check: Vec<String> = conn
        .prepare("PRAGMA integrity_check")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(check, ["ok"], "integrity_check of {}", db.display());
    let dangling = conn
        .prepare("PRAGMA foreign_key_check")
        .unwrap()
        .query_map([], |_| Ok(()))
        .unwrap()
        .count();
    assert_eq!(dangling, 0, "foreign_key_check of {}", db.display());
}
