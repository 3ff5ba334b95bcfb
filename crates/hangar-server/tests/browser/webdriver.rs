//! A minimal W3C WebDriver client over reqwest: the dozen commands the
//! dashboard test needs, plus ChromeDriver's CDP passthrough for device
//! metrics. ChromeDriver is started by the test on a free loopback port and
//! killed when dropped (only the process this test started).

use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// The ChromeDriver process this test started.
pub struct Driver {
    child: Child,
    port: u16,
    pub url: String,
    http: reqwest::Client,
    /// Sessions not yet quit: closed on drop (a failed assertion skips
    /// `quit`), so that no Chromium outlives the test.
    open: Arc<Mutex<Vec<String>>>,
}

impl Drop for Driver {
    fn drop(&mut self) {
        for id in self.open.lock().unwrap().drain(..) {
            // A plain blocking request: drop cannot await.
            if let Ok(mut c) = std::net::TcpStream::connect(("127.0.0.1", self.port)) {
                let _ = c.set_read_timeout(Some(Duration::from_secs(10)));
                let _ = write!(
                    c,
                    "DELETE /session/{id} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
                let _ = c.read_to_end(&mut Vec::new());
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Driver {
    /// Starts ChromeDriver, or fails saying how to install it.
    pub async fn start() -> Driver {
        for (bin, pkg) in [(CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")] {
            assert!(
                std::path::Path::new(bin).exists(),
                "{bin} is missing: the browser tests drive Debian's Chromium; install it with \
                 `apt-get install -y chromium chromium-driver` (.ci/run does) — package {pkg}"
            );
        }
        let port = free_port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(r) = http.get(format!("{url}/status")).send().await {
                if let Ok(v) = r.json::<Value>().await {
                    if v["value"]["ready"] == true {
                        break;
                    }
                }
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not become ready within 20 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Driver {
            child,
            port,
            url,
            http,
            open: Arc::default(),
        }
    }

    /// A new headless Chromium session with its own profile directory.
    pub async fn session(&self) -> Session {
        let profile = tempfile::tempdir().unwrap();
        let caps = json!({
            "capabilities": { "alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {
                    "binary": CHROMIUM,
                    "args": [
                        "--headless=new", "--no-sandbox", "--disable-gpu",
                        "--disable-dev-shm-usage", "--no-first-run",
                        "--disable-background-networking", "--disable-component-update",
                        "--disable-sync", "--hide-scrollbars", "--window-size=1280,900",
                        format!("--user-data-dir={}", profile.path().display()),
                    ]
                }
            }}
        });
        let v = post(&self.http, &format!("{}/session", self.url), caps).await;
        let id = v["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {v}"))
            .to_string();
        self.open.lock().unwrap().push(id.clone());
        Session {
            base: format!("{}/session/{id}", self.url),
            id,
            http: self.http.clone(),
            open: self.open.clone(),
            _profile: profile,
        }
    }
}

async fn post(http: &reqwest::Client, url: &str, body: Value) -> Value {
    let r = http.post(url).json(&body).send().await.unwrap();
    let v: Value = r.json().await.unwrap();
    if v["value"]["error"].is_string() {
        panic!("WebDriver {url}: {}", v["value"]);
    }
    v["value"].clone()
}

pub struct Session {
    base: String,
    id: String,
    http: reqwest::Client,
    open: Arc<Mutex<Vec<String>>>,
    _profile: tempfile::TempDir,
}

pub struct Element<'a> {
    s: &'a Session,
    id: String,
}

impl Session {
    async fn cmd(&self, path: &str, body: Value) -> Value {
        post(&self.http, &format!("{}{path}", self.base), body).await
    }

    async fn get(&self, path: &str) -> Value {
        let v: Value = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["value"].clone()
    }

    pub async fn goto(&self, url: &str) {
        self.cmd("/url", json!({ "url": url })).await;
    }

    pub async fn current_url(&self) -> String {
        self.get("/url")
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// The first element matching `css`, or `None`.
    pub async fn find(&self, css: &str) -> Option<Element<'_>> {
        let v = self
            .cmd(
                "/elements",
                json!({ "using": "css selector", "value": css }),
            )
            .await;
        v.as_array()?.first().map(|e| Element {
            s: self,
            id: e[ELEMENT].as_str().unwrap().to_string(),
        })
    }

    pub async fn must(&self, css: &str) -> Element<'_> {
        match self.find(css).await {
            Some(e) => e,
            None => panic!("no element {css} on {}", self.current_url().await),
        }
    }

    /// The page's visible text.
    pub async fn text(&self) -> String {
        self.must("body").await.text().await
    }

    /// Waits (at most 15 s) until the page's text contains `needle`, as a
    /// click that submits a form returns before the next page has loaded.
    pub async fn wait_for_text(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let text = match self.find("body").await {
                Some(b) => b.text().await,
                None => String::new(),
            };
            if text.contains(needle) {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "{needle:?} did not appear on {} within 15 s; the page says:\n{text}",
                self.current_url().await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits (at most 15 s) until the browser is at `url`.
    pub async fn wait_for_url(&self, url: &str) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let now = self.current_url().await;
            if now == url {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "expected to reach {url} within 15 s; at {now}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn script(&self, js: &str) -> Value {
        self.cmd("/execute/sync", json!({ "script": js, "args": [] }))
            .await
    }

    /// A PNG of the whole page as laid out `width` CSS pixels wide (at most
    /// `max_height` tall), through Chrome's device-metrics emulation.
    pub async fn screenshot(&self, width: u32, max_height: u32) -> Vec<u8> {
        let mobile = width < 600;
        let metrics = |h: u64| {
            json!({ "cmd": "Emulation.setDeviceMetricsOverride", "params": {
                "width": width, "height": h, "deviceScaleFactor": 1, "mobile": mobile } })
        };
        self.cmd("/goog/cdp/execute", metrics(900)).await;
        let h = self
            .script("return document.documentElement.scrollHeight")
            .await
            .as_u64()
            .unwrap_or(900)
            .clamp(300, u64::from(max_height));
        self.cmd("/goog/cdp/execute", metrics(h)).await;
        let png = self.get("/screenshot").await;
        self.cmd(
            "/goog/cdp/execute",
            json!({ "cmd": "Emulation.clearDeviceMetricsOverride", "params": {} }),
        )
        .await;
        base64_decode(png.as_str().expect("a base64 screenshot"))
    }

    pub async fn quit(self) {
        let _ = self.http.delete(&self.base).send().await;
        self.open.lock().unwrap().retain(|s| *s != self.id);
    }
}

impl Element<'_> {
    pub async fn click(&self) {
        self.s
            .cmd(&format!("/element/{}/click", self.id), json!({}))
            .await;
    }

    pub async fn type_text(&self, text: &str) {
        self.s
            .cmd(
                &format!("/element/{}/value", self.id),
                json!({ "text": text }),
            )
            .await;
    }

    pub async fn text(&self) -> String {
        self.s
            .get(&format!("/element/{}/text", self.id))
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

fn base64_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' => 62,
            b'/' => 63,
            _ => panic!("not base64: {c}"),
        }
    };
    let bytes: Vec<u8> = s.bytes().filter(|c| !c.is_ascii_whitespace()).collect();
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
    for chunk in bytes.chunks(4) {
        let data: Vec<u8> = chunk.iter().copied().filter(|&c| c != b'=').collect();
        let mut n = 0u32;
        for (i, &c) in data.iter().enumerate() {
            n |= val(c) << (18 - 6 * i);
        }
        let take = data.len().saturating_sub(1);
        out.extend_from_slice(&n.to_be_bytes()[1..1 + take]);
    }
    out
}

#[test]
fn base64_decodes() {
    assert_eq!(base64_decode("aGFuZ2Fy"), b"hangar");
    assert_eq!(base64_decode("aGFuZw=="), b"hang");
    assert_eq!(base64_decode("aGFuZ2E="), b"hanga");
}
