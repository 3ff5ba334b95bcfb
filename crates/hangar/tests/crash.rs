//! Crash consistency: the real `hangar serve` killed with SIGKILL (`kill -9`
//! of its process id) in the middle of a deploy, of a monitoring aggregate
//! roll-up and of a large feedback upload, then started again on the same
//! data directory. After every kill:
//!
//! - the SQLite file, as the crash left it, passes `PRAGMA integrity_check`
//!   and `PRAGMA foreign_key_check` (opened read-only by the test);
//! - `hangar audit verify` passes;
//! - no revision is half-applied: `hangar deployments history` is numbered
//!   without a gap, the current revision is the last one, an inference is
//!   answered by that revision (`X-Hangar-Revision`) and its version, and
//!   every acknowledged deploy (answered 200) is in the history, with the
//!   version it asked for, and in the audit log;
//! - every acknowledged prediction row is present, and a request's rows are
//!   all there or none.
//!
//! **Acknowledged**, for a prediction row, means: its request was answered
//! 200 before a call that flushes the prediction log returned (the
//! predictions export, a monitoring report, a feedback upload: each waits
//! until what was recorded before it is committed). A request answered
//! since the last flush has its rows in the log's buffer, which the writer
//! commits within its batch wait (100 ms) plus one batch's write, longer
//! when another writer holds the database; a kill in that window loses
//! them. The tests check that no lost row was answered more than
//! [`LOSS_BOUND`] before the kill (plus, during a feedback upload, the time
//! the upload had held the database), and print the largest gap seen.
//!
//! The kills are placed by a seeded generator (the same every run): a random
//! 0–50 ms after a loop of back-to-back deploys or of roll-ups got under
//! way, or a random point of the n-th of five slices of twice a feedback
//! upload's measured duration. The figures each test prints
//! (`cargo test -p hangar --test crash -- --nocapture`) are in
//! docs/reliability.md.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};
use common::{read_json, reference, Server, ADMIN_TOKEN};
use serde_json::{json, Value};

/// The generator's seed: the same kills every run.
const SEED: u64 = 0x4841_4e47_4152_0011;
/// The deployment every scenario serves.
const DEPLOYMENT: &str = "credit";
/// Rows per request of the background traffic.
const ROWS: usize = 2;
/// The background traffic flushes the prediction log every this many
/// requests (its rows before that point are then acknowledged).
const FLUSH_EVERY: usize = 8;
/// Traffic before the operation starts, so that rows are being recorded
/// and written when the kill lands.
const WARM_UP: Duration = Duration::from_millis(300);
/// How long before a kill an unacknowledged row may have been answered and
/// still be lost: the writer's batch wait (100 ms) plus one batch's write,
/// with room for a loaded two-core machine.
const LOSS_BOUND: Duration = Duration::from_secs(1);
/// Any one HTTP call; a kill ends the calls in flight at once.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// The scenarios run one at a time: each kills and starts its own server
/// many times, and the kills' timing means more on a quieter machine.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// splitmix64: a small, fixed, seeded generator (no dependency).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A delay uniform in `[0, max]`, to the microsecond.
    fn delay(&mut self, max: Duration) -> Duration {
        let us = max.as_micros() as u64;
        Duration::from_micros(self.next() % (us + 1))
    }
}

fn http() -> reqwest::Client {
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
fn infer_body(rows: usize, id: &str) -> Value {
    let request = read_json(&reference("fixed_inputs_200.request.json"));
    let data = request["inputs"][0]["data"].as_array().unwrap();
    let data: Vec<Value> = data.iter().cycle().take(rows * 22).cloned().collect();
    json!({
        "id": id,
        "inputs": [{"name": "input", "shape": [rows, 22], "datatype": "FP32", "data": data}]
    })
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Flushes the prediction log: the export of an empty range long past
/// waits, like every read of the log, until what was recorded before it is
/// committed. `None` when the server is gone.
async fn flush(http: &reqwest::Client, url: &str) -> Option<bool> {
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
struct TrafficLog {
    /// Requests answered 200: id and when the answer arrived.
    answered: Vec<(String, Instant)>,
    /// How many of `answered` a completed flush covers.
    acked: usize,
    /// Answers other than 200 (none are expected).
    refused: Vec<u16>,
}

/// Requests of [`ROWS`] rows one after another, each id `{tag}-{n}`, with a
/// flush every [`FLUSH_EVERY`]; ends when the server is gone (or `stop`).
async fn traffic(
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
struct Progress {
    started: AtomicUsize,
    finished: AtomicUsize,
    armed: tokio::sync::watch::Sender<bool>,
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
    fn arm(&self) {
        self.armed.send_replace(true);
    }

    /// Returns once [`Progress::arm`] was called.
    async fn under_way(&self) {
        let mut armed = self.armed.subscribe();
        // The sender lives in `self`: the wait cannot fail.
        let _ = armed.wait_for(|a| *a).await;
    }

    fn in_flight(&self) -> bool {
        self.started.load(Ordering::SeqCst) > self.finished.load(Ordering::SeqCst)
    }
}

/// One answered traffic request as checked after the restart.
struct Answered {
    id: String,
    at: Instant,
    acked: bool,
    killed: Instant,
    /// How long before the kill it may have been answered and still lost.
    bound: Duration,
}

#[derive(Default, Debug)]
struct Figures {
    kills: usize,
    /// Kills that landed while the operation had a request in flight.
    mid_operation: usize,
    answered: usize,
    acked: usize,
    /// Answered, unacknowledged, and not in the log after the restart.
    lost: usize,
    /// The longest time between a lost request's answer and the kill.
    max_lost_age: Duration,
    /// The longest restart (kill to ready).
    max_restart: Duration,
}

/// A server that is killed and started again on the same data directory,
/// with what every crash is checked against.
struct Crashes {
    server: Server,
    rt: tokio::runtime::Runtime,
    http: reqwest::Client,
    rng: Rng,
    /// Every answered traffic request so far.
    answered: Vec<Answered>,
    /// Request ids found in the log at some restart: they must stay.
    present: HashSet<String>,
    figures: Figures,
    started: Instant,
    /// Where the background traffic's rows begin in the log (a test's own
    /// rows before it are not read back with the traffic's).
    traffic_from: Option<DateTime<Utc>>,
}

impl Crashes {
    fn new(seed: u64) -> Crashes {
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
    fn push_and_deploy(&self) {
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
    fn crash<T, F, Fut>(&mut self, tag: &str, delay: Duration, op: F) -> (T, Instant, Duration)
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
    fn restart(&mut self, killed: Instant, extra: Duration) {
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
    fn check_traffic(&mut self) {
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
    fn check_revisions(&self) -> Vec<Value> {
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
    fn export(
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
    fn stored_rows(&self) -> HashMap<String, usize> {
        let range = self
            .traffic_from
            .map(|from| (from, Utc::now() + chrono::Duration::seconds(1)));
        let mut rows = HashMap::new();
        for (id, _, _) in self.export(range) {
            *rows.entry(id).or_insert(0) += 1;
        }
        rows
    }

    fn report(&self, name: &str) {
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
fn integrity(db: &Path) {
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

#[test]
fn kill_9_during_deploys_leaves_the_last_committed_revision_serving() {
    let _serial = serial();
    let mut c = Crashes::new(SEED);
    c.push_and_deploy();
    // Deploys sent (message → version) and acknowledged (message →
    // revision), over every crash.
    let mut sent: BTreeMap<String, u32> = BTreeMap::new();
    let mut acked: BTreeMap<String, u64> = BTreeMap::new();
    let mut current_version = 1;
    let (mut committed, mut unaudited) = (0, 0);
    for i in 0..8 {
        let delay = c.rng.delay(Duration::from_millis(50));
        let tag = format!("deploy-{i}");
        let first = 3 - current_version;
        let ((mine, failures), killed, _) = c.crash(&tag, delay, |http, url, progress| {
            let tag = tag.clone();
            async move {
                // Back to back, alternating the two versions.
                let mut mine = Vec::new();
                let mut failures = Vec::new();
                progress.arm();
                for n in 0.. {
                    let version = if n % 2 == 0 { first } else { 3 - first };
                    let message = format!("{tag}-{n:04}");
                    progress.started.fetch_add(1, Ordering::SeqCst);
                    let r = http
                        .put(format!("{url}/api/v1/deployments/{DEPLOYMENT}"))
                        .json(&json!({"model": format!("credit:{version}"), "message": message}))
                        .send()
                        .await;
                    let answer = match r {
                        Ok(r) => (r.status().as_u16(), r.json::<Value>().await),
                        Err(_) => return (mine, failures),
                    };
                    mine.push((message.clone(), version, None));
                    match answer {
                        (200, Ok(body)) => {
                            mine.last_mut().unwrap().2 = body["current"]["revision"].as_u64();
                            progress.finished.fetch_add(1, Ordering::SeqCst);
                        }
                        // Cut off mid-answer by the kill.
                        (200, Err(_)) => return (mine, failures),
                        (status, body) => failures.push((status, format!("{body:?}"))),
                    }
                }
                unreachable!()
            }
        });
        assert!(failures.is_empty(), "deploys failed: {failures:?}");
        // The deploy in flight at the kill was sent too: it may or may not
        // have been committed.
        let in_flight = format!("{tag}-{:04}", mine.len());
        sent.insert(
            in_flight,
            if mine.len() % 2 == 0 {
                first
            } else {
                3 - first
            },
        );
        for (message, version, revision) in mine {
            sent.insert(message.clone(), version);
            if let Some(r) = revision {
                acked.insert(message, r);
            }
        }
        c.restart(killed, Duration::ZERO);
        let revisions = c.check_revisions();
        current_version = revisions.last().unwrap()["routes"][0]["version"]
            .as_u64()
            .unwrap() as u32;
        // Each acknowledged deploy is one revision, with its version; a
        // revision of these crashes is one of the deploys sent.
        let mut seen = HashSet::new();
        for r in &revisions[1..] {
            let message = r["message"].as_str().unwrap();
            let version = *sent
                .get(message)
                .unwrap_or_else(|| panic!("revision {r:#} is no deploy that was sent"));
            assert_eq!(r["routes"][0]["version"], version, "{r:#}");
            assert!(seen.insert(message.to_owned()), "{message} committed twice");
            if let Some(&revision) = acked.get(message) {
                assert_eq!(r["revision"], revision, "{r:#}");
            }
        }
        for message in acked.keys() {
            assert!(
                seen.contains(message),
                "acknowledged deploy {message} is not in the history"
            );
        }
        // And each is audited: the entry is appended before the answer.
        let audit = c
            .server
            .hangar(&["audit", "list", "--limit", "10000", "--output", "json"])
            .ok()
            .json()
            .to_string();
        let audited =
            |m: &str| audit.contains(&format!("{m}\\\"")) || audit.contains(&format!("{m}\""));
        for message in acked.keys() {
            assert!(
                audited(message),
                "acknowledged deploy {message} is not in the audit log"
            );
        }
        // A deploy committed but killed before its answer may have no
        // entry (the entry is appended after the change): counted, and
        // documented in docs/security.md.
        unaudited = seen.iter().filter(|m| !audited(m)).count();
        committed = seen.len();
        c.check_traffic();
    }
    assert!(
        c.figures.mid_operation * 2 >= c.figures.kills,
        "most kills should land while a deploy is in flight: {:?}",
        c.figures
    );
    c.report("deploys");
    println!(
        "deploys: {} sent, {} acknowledged, {committed} committed ({unaudited} of them, killed \
         between the commit and the audit entry, without one)",
        sent.len(),
        acked.len(),
    );
}

/// One aggregate row of the store, as the test reads it from the file.
struct AggregateRow {
    resolution: String,
    start: i64,
    rows: i64,
}

/// Every aggregate decodes, its `rows` column is the decoded count, and
/// each hour (day) holds exactly the rows of its minutes (hours): a minute
/// and its roll-ups are written in one transaction. Returns how many rows
/// were checked and the rows in [`DEPLOYMENT`]'s minutes.
fn check_aggregates(db: &Path) -> (usize, i64) {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT deployment, model, version, resolution, start, rows, body FROM monitoring_aggregates",
        )
        .unwrap();
    let mut by_key: BTreeMap<(String, String, i64), Vec<AggregateRow>> = BTreeMap::new();
    let all: Vec<_> = stmt
        .query_map([], |r| {
            Ok((
                (
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                ),
                AggregateRow {
                    resolution: r.get(3)?,
                    start: r.get(4)?,
                    rows: r.get(5)?,
                },
                r.get::<_, Vec<u8>>(6)?,
            ))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let count = all.len();
    for (key, row, body) in all {
        let decoded = hangar_core::monitor::aggregate::Aggregate::decode(&body)
            .unwrap_or_else(|e| panic!("aggregate {key:?} {} {}: {e}", row.resolution, row.start));
        assert_eq!(
            decoded.rows as i64, row.rows,
            "{key:?} {} {}",
            row.resolution, row.start
        );
        by_key.entry(key).or_default().push(row);
    }
    let mut minute_rows = 0;
    for (key, rows) in &by_key {
        let sum = |resolution: &str, from: i64, len: i64| -> i64 {
            rows.iter()
                .filter(|r| r.resolution == resolution && r.start >= from && r.start < from + len)
                .map(|r| r.rows)
                .sum()
        };
        for r in rows {
            match r.resolution.as_str() {
                "hour" => assert_eq!(
                    r.rows,
                    sum("minute", r.start, 3600),
                    "{key:?} hour {}",
                    r.start
                ),
                "day" => assert_eq!(
                    r.rows,
                    sum("hour", r.start, 86_400),
                    "{key:?} day {}",
                    r.start
                ),
                _ if key.0 == DEPLOYMENT => minute_rows += r.rows,
                _ => {}
            }
        }
    }
    (count, minute_rows)
}

/// Deployments besides [`DEPLOYMENT`] in the roll-up test: each open minute
/// is rolled up in its own transaction, so a flush spends most of its time
/// in roll-ups.
const EXTRA_DEPLOYMENTS: usize = 20;

#[test]
fn kill_9_during_aggregate_roll_ups_keeps_each_minute_and_its_hour_and_day_together() {
    let _serial = serial();
    let mut c = Crashes::new(SEED ^ 1);
    c.push_and_deploy();
    c.rt.block_on(async {
        for d in 0..EXTRA_DEPLOYMENTS {
            let r = c
                .http
                .put(format!("{}/api/v1/deployments/agg-{d:02}", c.server.url))
                .json(&json!({"model": "credit:1"}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
        }
    });
    let mut reports = 0;
    let mut aggregates = (0, 0);
    for i in 0..8 {
        let delay = c.rng.delay(Duration::from_millis(50));
        let (answered, killed, _) = c.crash(
            &format!("rollup-{i}"),
            delay,
            |http, url, progress| async move {
                // Rows for every extra deployment, all the time: each has an
                // open minute at every flush.
                let feeding = {
                    let (http, url, progress) = (http.clone(), url.clone(), progress.clone());
                    tokio::spawn(async move {
                        for round in 0.. {
                            for d in 0..EXTRA_DEPLOYMENTS {
                                let r = http
                                    .post(format!("{url}/v2/models/agg-{d:02}/infer"))
                                    .json(&infer_body(1, &format!("agg-{round}")))
                                    .send()
                                    .await;
                                let Ok(r) = r else { return };
                                assert_eq!(r.status(), 200, "inference on agg-{d:02}");
                                if r.bytes().await.is_err() {
                                    return;
                                }
                            }
                            if round == 1 {
                                progress.arm();
                            }
                        }
                    })
                };
                // Back-to-back flushes of the log: each writes the rows recorded
                // so far, then every open minute, each merged into its hour and
                // day in one transaction; every tenth is a monitoring report,
                // which reads them.
                let mut answered = 0;
                progress.under_way().await;
                loop {
                    progress.started.fetch_add(1, Ordering::SeqCst);
                    let done = if answered % 10 == 9 {
                        match http
                            .get(format!("{url}/api/v1/deployments/{DEPLOYMENT}/monitoring"))
                            .send()
                            .await
                        {
                            Ok(r) => {
                                assert_eq!(r.status(), 200, "monitoring report");
                                r.bytes().await.is_ok()
                            }
                            Err(_) => false,
                        }
                    } else {
                        flush(&http, &url).await == Some(true)
                    };
                    if !done {
                        let _ = feeding.await;
                        return answered;
                    }
                    answered += 1;
                    progress.finished.fetch_add(1, Ordering::SeqCst);
                }
            },
        );
        reports += answered;
        let db = c.server.data.join("hangar.db");
        // Checked as the crash left the file, before the restart writes.
        aggregates = check_aggregates(&db);
        c.restart(killed, Duration::ZERO);
        c.check_traffic();
        // Aggregates never count a row the log does not have (rows enter
        // them only once stored; the minutes open at a kill are lost).
        let stored: usize = c.stored_rows().values().sum();
        assert!(
            aggregates.1 <= stored as i64,
            "aggregates count {} rows, the log has {stored}",
            aggregates.1
        );
        c.check_revisions();
    }
    assert!(aggregates.0 > 0, "no aggregate was written");
    assert!(
        c.figures.mid_operation * 2 >= c.figures.kills,
        "most kills should land while a roll-up is in flight: {:?}",
        c.figures
    );
    c.report("roll-ups");
    println!(
        "roll-ups: {reports} flushes answered before the kills; {} aggregate rows checked, {} rows in minutes",
        aggregates.0, aggregates.1
    );
}

/// Prediction rows labelled per upload: `BLOCKS` blocks of
/// `BLOCK_REQUESTS` requests of `BLOCK_ROWS` rows; upload `b` labels
/// exactly the rows of block `b`.
const BLOCKS: usize = 6;
const BLOCK_REQUESTS: usize = 10;
const BLOCK_ROWS: usize = 1000;

fn label(block: usize, request: usize, row: u32) -> f64 {
    ((block + request + row as usize) % 2) as f64
}

/// The feedback CSV of block `b`: one line per row, by request id and row.
fn feedback_csv(block: usize) -> String {
    let mut csv = String::from("request_id,row,label\n");
    for q in 0..BLOCK_REQUESTS {
        for row in 0..BLOCK_ROWS as u32 {
            csv += &format!("fb{block}-{q:03},{row},{}\n", label(block, q, row));
        }
    }
    csv
}

#[test]
fn kill_9_during_a_large_feedback_upload_applies_it_whole_or_not_at_all() {
    let _serial = serial();
    let mut c = Crashes::new(SEED ^ 2);
    c.push_and_deploy();
    // The rows to label, block by block (each block's own time range).
    let mut ranges = Vec::new();
    for b in 0..BLOCKS {
        let from = Utc::now();
        c.rt.block_on(async {
            for q in 0..BLOCK_REQUESTS {
                let r = c
                    .http
                    .post(format!("{}/v2/models/{DEPLOYMENT}/infer", c.server.url))
                    .json(&infer_body(BLOCK_ROWS, &format!("fb{b}-{q:03}")))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
                r.bytes().await.unwrap();
            }
        });
        ranges.push((from, Utc::now() + chrono::Duration::milliseconds(1)));
    }
    c.traffic_from = Some(Utc::now());
    // Block 0 uninterrupted: is it applied, and how long does it take? As
    // in the crashes: on a server just started, with traffic beside it.
    assert_eq!(c.rt.block_on(flush(&c.http, &c.server.url)), Some(true));
    c.server.restart();
    let (http, url) = (c.http.clone(), c.server.url.clone());
    let upload = |http: reqwest::Client, url: String, block: usize| async move {
        http.post(format!("{url}/api/v1/deployments/{DEPLOYMENT}/feedback"))
            .header("content-type", "text/csv")
            .body(feedback_csv(block))
            .send()
            .await
    };
    // With the background traffic beside it, as in the crashes (its rows
    // are not checked: no kill).
    let (r, took) = c.rt.block_on(async {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let beside = tokio::spawn(traffic(
            http.clone(),
            url.clone(),
            "calibration".into(),
            Arc::default(),
            stop.clone(),
        ));
        tokio::time::sleep(WARM_UP).await;
        let t = Instant::now();
        let r = upload(http, url, 0).await.unwrap();
        let took = t.elapsed();
        stop.store(true, Ordering::SeqCst);
        beside.await.unwrap();
        (r, took)
    });
    assert_eq!(r.status(), 200, "{}", c.server.log_text());
    let labels = |c: &Crashes, b: usize| -> Vec<Option<f64>> {
        let rows = c.export(Some(ranges[b]));
        let mine: Vec<_> = rows
            .into_iter()
            .filter(|(id, _, _)| id.starts_with(&format!("fb{b}-")))
            .collect();
        assert_eq!(mine.len(), BLOCK_REQUESTS * BLOCK_ROWS, "block {b}'s rows");
        mine.into_iter()
            .map(|(id, row, l)| {
                let q: usize = id[id.find('-').unwrap() + 1..].parse().unwrap();
                if let Some(l) = l {
                    assert_eq!(
                        l,
                        label(b, q, row),
                        "{id} row {row}: a label that was never sent"
                    );
                }
                l
            })
            .collect()
    };
    assert!(
        labels(&c, 0).iter().all(Option::is_some),
        "the uninterrupted upload labelled every row"
    );
    let mut outcomes = BTreeMap::<&str, usize>::new();
    // How long an upload takes: the calibration, then the last upload
    // that finished before its kill (a loaded machine varies a lot).
    let mut estimate = took;
    for b in 1..BLOCKS {
        // Spread over twice an upload's estimated duration (body, parsing,
        // the database's work, the answer): uploads after a kill run up to
        // half as long again as the calibration, and the last kills may
        // come after the answer. Kill `b` lands at a random point of the
        // `b`-th of `BLOCKS - 1` equal slices of that.
        let slice = estimate * 2 / (BLOCKS as u32 - 1);
        let delay = slice * (b as u32 - 1) + c.rng.delay(slice);
        let ((status, finished), killed, op_age) = c.crash(
            &format!("feedback-{b}"),
            delay,
            |http, url, progress| async move {
                progress.arm();
                progress.started.fetch_add(1, Ordering::SeqCst);
                let t = Instant::now();
                let status = upload(http, url, b).await.ok().map(|r| r.status().as_u16());
                if status.is_some() {
                    progress.finished.fetch_add(1, Ordering::SeqCst);
                }
                (status, t.elapsed())
            },
        );
        if status.is_some() {
            estimate = finished;
        }
        // Rows answered during the upload waited for its transaction.
        c.restart(killed, op_age);
        c.check_traffic();
        c.check_revisions();
        let got = labels(&c, b);
        let applied = got.iter().filter(|l| l.is_some()).count();
        if status == Some(200) {
            assert_eq!(
                applied,
                got.len(),
                "an acknowledged upload is applied whole"
            );
        } else {
            assert!(status.is_none(), "upload {b} answered {status:?}");
        }
        let outcome = match applied {
            0 => "not applied",
            n if n == got.len() => "applied whole",
            _ => "applied in part",
        };
        *outcomes.entry(outcome).or_default() += 1;
        // The next block is untouched.
        if b + 1 < BLOCKS {
            assert!(
                labels(&c, b + 1).iter().all(Option::is_none),
                "block {} untouched",
                b + 1
            );
        }
    }
    assert!(
        c.figures.mid_operation > 0,
        "no kill landed during an upload: {:?}",
        c.figures
    );
    c.report("feedback");
    println!(
        "feedback: uploads of {} lines ({} bytes), {} ms uninterrupted; after the kills: {outcomes:?}",
        BLOCK_REQUESTS * BLOCK_ROWS,
        feedback_csv(0).len(),
        took.as_millis()
    );
}
