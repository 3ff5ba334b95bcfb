//! E-mail channels end to end: an alert reaches a real SMTP receiver on
//! loopback (a minimal one, run by the test), a refusing server is retried
//! and every attempt logged, and bad channel settings are refused with the
//! reason.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use crate::common::*;

/// One message as the SMTP receiver got it.
#[derive(Debug, Clone, Default)]
struct Mail {
    /// The envelope: `MAIL FROM` and every `RCPT TO`.
    from: String,
    to: Vec<String>,
    /// The message as sent after `DATA`, dot-unstuffed, CRLF line ends.
    data: String,
}

impl Mail {
    /// A header's value, unfolded.
    fn header(&self, name: &str) -> Option<String> {
        let head = self.data.split("\r\n\r\n").next().unwrap_or_default();
        let unfolded = head.replace("\r\n ", " ").replace("\r\n\t", " ");
        unfolded.split("\r\n").find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }

    /// The body as text, quoted-printable decoded when it was sent so.
    fn body(&self) -> String {
        let body = self
            .data
            .split_once("\r\n\r\n")
            .map(|(_, b)| b)
            .unwrap_or_default();
        let qp = self
            .header("Content-Transfer-Encoding")
            .is_some_and(|e| e.eq_ignore_ascii_case("quoted-printable"));
        if !qp {
            return body.to_string();
        }
        let joined = body.replace("=\r\n", "");
        let bytes = joined.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            match (bytes[i], hex) {
                (b'=', Some(b)) => {
                    out.push(b);
                    i += 3;
                }
                (c, _) => {
                    out.push(c);
                    i += 1;
                }
            }
        }
        String::from_utf8(out).unwrap()
    }
}

type Inbox = Arc<Mutex<Vec<Mail>>>;

/// A minimal SMTP server on a free loopback port: enough of RFC 5321 for
/// lettre (greeting, EHLO/HELO, MAIL, RCPT, DATA, QUIT). With
/// `refuse_recipients`, every `RCPT TO` is answered 550.
async fn smtp_receiver(refuse_recipients: bool) -> (String, Inbox) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("smtp://{}", listener.local_addr().unwrap());
    let inbox: Inbox = Arc::default();
    let sink = inbox.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(smtp_session(stream, sink.clone(), refuse_recipients));
        }
    });
    (url, inbox)
}

async fn smtp_session(stream: TcpStream, inbox: Inbox, refuse: bool) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    let mut line = String::new();
    let mut mail = Mail::default();
    let angle = |cmd: &str| {
        cmd.split_once('<')
            .and_then(|(_, rest)| rest.split_once('>'))
            .map(|(addr, _)| addr.to_string())
            .unwrap_or_default()
    };
    write.write_all(b"220 smtp.test ESMTP ready\r\n").await?;
    loop {
        line.clear();
        if read.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let cmd = line.trim_end().to_string();
        let verb = cmd
            .split(' ')
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase();
        let reply: &[u8] = match verb.as_str() {
            "EHLO" | "HELO" => b"250 smtp.test\r\n",
            "MAIL" => {
                mail.from = angle(&cmd);
                b"250 2.1.0 ok\r\n"
            }
            "RCPT" if refuse => b"550 5.1.1 no such mailbox\r\n",
            "RCPT" => {
                mail.to.push(angle(&cmd));
                b"250 2.1.5 ok\r\n"
            }
            "DATA" => {
                write
                    .write_all(b"354 end data with <CR><LF>.<CR><LF>\r\n")
                    .await?;
                loop {
                    line.clear();
                    if read.read_line(&mut line).await? == 0 {
                        return Ok(());
                    }
                    if line == ".\r\n" {
                        break;
                    }
                    mail.data.push_str(line.strip_prefix('.').unwrap_or(&line));
                }
                inbox.lock().unwrap().push(std::mem::take(&mut mail));
                b"250 2.0.0 queued as 1\r\n"
            }
            "QUIT" => {
                write.write_all(b"221 2.0.0 bye\r\n").await?;
                return Ok(());
            }
            // RSET, NOOP and anything else lettre might say.
            _ => b"250 ok\r\n",
        };
        write.write_all(reply).await?;
    }
}

async fn wait_for<T>(what: &str, mut f: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A deployment `api` with one request served and a rule that fires on it.
async fn firing_deployment(s: &TestServer) {
    s.deploy_reference("credit", "gbdt", "api").await;
    let (st, r) = s.infer("api", one_row_request()).await;
    assert_eq!(st, StatusCode::OK, "{r}");
    let (st, r) = s
        .call(
            "POST",
            "/api/v1/alerts/rules",
            Some(
                json!({"name": "any-traffic", "deployment": "api", "metric": "traffic.requests",
                        "comparison": ">=", "threshold": 1, "window_secs": 3600, "for_secs": 0,
                        "severity": "warning"}),
            ),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{r}");
}

async fn deliveries_to(s: &TestServer, channel: &str) -> Vec<Value> {
    let (st, d) = s.call("GET", "/api/v1/alerts/deliveries", None).await;
    assert_eq!(st, StatusCode::OK, "{d}");
    d["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["channel"] == channel)
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_firing_alert_is_mailed_to_every_recipient_over_smtp() {
    let s = TestServer::start().await;
    let (url, inbox) = smtp_receiver(false).await;
    let channel = json!({"kind": "email", "url": url, "to": ["ops@example.com", "oncall@example.org"],
                         "from": "Hangar <hangar@example.com>"});
    let (st, c) = s
        .call("PUT", "/api/v1/alerts/channels/mail", Some(channel))
        .await;
    assert_eq!(st, StatusCode::OK, "{c}");
    assert_eq!(
        c,
        json!({"name": "mail", "kind": "email", "url": url,
               "to": ["ops@example.com", "oncall@example.org"], "from": "Hangar <hangar@example.com>"})
    );
    let (_, list) = s.call("GET", "/api/v1/alerts/channels", None).await;
    assert_eq!(list["channels"][0]["to"], c["to"], "{list}");
    assert_eq!(list["channels"][0]["from"], c["from"], "{list}");

    firing_deployment(&s).await;

    let mail = wait_for("the alert e-mail", async || {
        inbox.lock().unwrap().first().cloned()
    })
    .await;
    assert_eq!(mail.from, "hangar@example.com");
    assert_eq!(mail.to, ["ops@example.com", "oncall@example.org"]);
    assert_eq!(
        mail.header("Subject").as_deref(),
        Some("[hangar][warning] firing: any-traffic on api"),
        "{}",
        mail.data
    );
    let to = mail.header("To").unwrap();
    assert!(
        to.contains("ops@example.com") && to.contains("oncall@example.org"),
        "{to}"
    );
    assert!(
        mail.header("From").unwrap().contains("hangar@example.com"),
        "{}",
        mail.data
    );
    let body = mail.body();
    for line in [
        "Rule:        any-traffic",
        "Condition:   traffic.requests >= 1 over 3600 s",
        "Value:       1",
        "Deployment:  api",
        "State:       firing",
    ] {
        assert!(body.lines().any(|l| l == line), "{line:?} in\n{body}");
    }
    assert!(body.contains("any-traffic on api is firing"), "{body}");

    let ok = wait_for("the logged delivery", async || {
        deliveries_to(&s, "mail")
            .await
            .into_iter()
            .find(|d| d["ok"] == true)
    })
    .await;
    assert_eq!(ok["attempt"], 1, "{ok}");
    assert!(
        ok["detail"].as_str().unwrap().starts_with("SMTP 250"),
        "{ok}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusing_smtp_server_is_retried_and_every_attempt_logged() {
    let s = TestServer::start().await;
    let (url, inbox) = smtp_receiver(true).await;
    let (st, c) = s
        .call(
            "PUT",
            "/api/v1/alerts/channels/mail",
            Some(json!({"kind": "email", "url": url, "to": ["nobody@example.com"], "from": "hangar@example.com"})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{c}");
    firing_deployment(&s).await;

    let attempts = wait_for("three failed attempts", async || {
        let d = deliveries_to(&s, "mail").await;
        (d.len() >= 3).then_some(d)
    })
    .await;
    for d in &attempts {
        assert_eq!(d["ok"], false, "{d}");
        assert!(d["detail"].as_str().unwrap().contains("550"), "{d}");
    }
    let mut numbers: Vec<_> = attempts.iter().map(|d| d["attempt"].clone()).collect();
    numbers.sort_by_key(|n| n.as_u64());
    assert_eq!(numbers, [json!(1), json!(2), json!(3)]);
    assert!(inbox.lock().unwrap().is_empty());
}

#[tokio::test]
async fn bad_email_channels_are_refused_with_the_reason() {
    let s = TestServer::start().await;
    let ok_to = json!(["ops@example.com"]);
    let from = "hangar@example.com";
    for (body, reason) in [
        (
            json!({"kind": "email", "url": "smtps://mail.example.com:465", "to": ok_to, "from": from}),
            "smtps:// (SMTP over TLS) is not supported in this release",
        ),
        (
            json!({"kind": "email", "url": "http://mail.example.com", "to": ok_to, "from": from}),
            "must be smtp://HOST:PORT",
        ),
        (
            json!({"kind": "email", "url": "smtp://user:secret@mail.example.com", "to": ok_to, "from": from}),
            "credentials",
        ),
        (
            json!({"kind": "email", "url": "smtp://mail.example.com:0", "to": ok_to, "from": from}),
            "port must be 1-65535",
        ),
        (
            json!({"kind": "email", "url": "smtp://mail.example.com/inbox", "to": ok_to, "from": from}),
            "nothing after the port",
        ),
        (
            json!({"kind": "email", "url": "smtp://127.0.0.1:25", "from": from}),
            "at least one recipient",
        ),
        (
            json!({"kind": "email", "url": "smtp://127.0.0.1:25", "to": [], "from": from}),
            "at least one recipient",
        ),
        (
            json!({"kind": "email", "url": "smtp://127.0.0.1:25", "to": ["ops@example.com", "oncall"], "from": from}),
            "\"to\": 'oncall' is not an e-mail address",
        ),
        (
            json!({"kind": "email", "url": "smtp://127.0.0.1:25", "to": ok_to}),
            "\"from\"",
        ),
        (
            json!({"kind": "email", "url": "smtp://127.0.0.1:25", "to": ok_to, "from": "hangar at example"}),
            "\"from\": 'hangar at example' is not an e-mail address",
        ),
        (
            json!({"kind": "webhook", "url": "http://127.0.0.1:9/hook", "to": ok_to}),
            "\"to\" and \"from\" are for email channels",
        ),
        (
            json!({"kind": "sms", "url": "http://127.0.0.1:9/hook"}),
            "webhook (JSON), slack (Slack-compatible webhook) or email (SMTP)",
        ),
        (
            json!({"kind": "email", "url": "smtp://127.0.0.1:25", "to": ok_to, "from": from, "cc": ok_to}),
            "unknown field `cc`",
        ),
    ] {
        let (st, e) = s
            .call("PUT", "/api/v1/alerts/channels/mail", Some(body.clone()))
            .await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{body}: {e}");
        // A body the route does not take is malformed; the rest name an
        // unusable channel.
        let code = if reason.starts_with("unknown field") {
            "bad_request"
        } else {
            "invalid_channel"
        };
        assert_eq!(e["code"], code, "{body}: {e}");
        let message = e["error"].as_str().unwrap();
        assert!(message.contains(reason), "{body}: {message}");
    }
    let (_, list) = s.call("GET", "/api/v1/alerts/channels", None).await;
    assert_eq!(list["channels"], json!([]), "{list}");
}
