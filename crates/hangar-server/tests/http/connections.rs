//! The listener over real TCP on loopback (issue 11, "no timeouts on slow
//! headers, slow bodies or idle keep-alive connections"): each stalled
//! phase is closed after its own limit, and connections are capped.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use hangar_server::ConnectionLimits;
use tokio_util::sync::CancellationToken;

use crate::common::*;

/// A server on 127.0.0.1 (free port) with `limits`; stopped when the
/// returned token is cancelled.
async fn listen(limits: ConnectionLimits) -> (TestServer, std::net::SocketAddr, CancellationToken) {
    let s = TestServer::with_config(|c| c.limits.connections = limits).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    tokio::spawn(hangar_server::serve(
        listener,
        s.state.clone(),
        stop.clone().cancelled_owned(),
    ));
    (s, addr, stop)
}

fn short() -> ConnectionLimits {
    ConnectionLimits {
        header_timeout: Duration::from_millis(300),
        body_timeout: Duration::from_millis(500),
        idle_timeout: Duration::from_millis(700),
        max_connections: 64,
    }
}

/// A client connection whose reads give up after 5 s, so no test can hang.
fn connect(addr: std::net::SocketAddr) -> TcpStream {
    let c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c
}

const LIVE: &[u8] = b"GET /v2/health/live HTTP/1.1\r\nhost: hangar\r\n\r\n";

/// Blocks (on a blocking thread) until the server closes the connection,
/// reading and discarding whatever it sends; returns how long that took and
/// what was read. Gives up after 10 s.
async fn wait_for_close(mut stream: TcpStream) -> (Duration, Vec<u8>) {
    tokio::task::spawn_blocking(move || {
        let start = Instant::now();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
                Err(e) => panic!("the server did not close the connection: {e}"),
            }
        }
        (start.elapsed(), seen)
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_headers_are_cut_off_after_the_header_timeout() {
    let (_s, addr, stop) = listen(short()).await;
    let mut c = connect(addr);
    c.write_all(b"GET /v2/health/live HTTP/1.1\r\nhost: ha")
        .unwrap();
    let (took, seen) = wait_for_close(c).await;
    assert!(seen.is_empty(), "{}", String::from_utf8_lossy(&seen));
    assert!(took >= Duration::from_millis(250), "{took:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_stops_arriving_is_cut_off_after_the_body_timeout() {
    let (s, addr, stop) = listen(short()).await;
    // A route that reads its body: inference on a real deployment.
    s.deploy_reference("m", "logreg", "api").await;
    let mut c = connect(addr);
    c.write_all(
        b"POST /v2/models/api/infer HTTP/1.1\r\nhost: hangar\r\n\
          authorization: Bearer test-admin-token-0123456789\r\n\
          content-type: application/json\r\ncontent-length: 1000\r\n\r\n{\"inputs\": [",
    )
    .unwrap();
    let (took, seen) = wait_for_close(c).await;
    assert!(seen.is_empty(), "{}", String::from_utf8_lossy(&seen));
    // Longer than the header timeout: the body has its own limit.
    assert!(took >= Duration::from_millis(450), "{took:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_keep_alive_connections_are_closed_and_busy_ones_kept() {
    let (_s, addr, stop) = listen(short()).await;
    // Requests spaced closer than the idle timeout keep the connection, well
    // past every limit in total.
    let c = tokio::task::spawn_blocking(move || {
        let mut c = connect(addr);
        for _ in 0..4 {
            c.write_all(LIVE).unwrap();
            let mut buf = [0u8; 1024];
            let n = c.read(&mut buf).unwrap();
            assert!(
                buf[..n].starts_with(b"HTTP/1.1 200"),
                "{}",
                String::from_utf8_lossy(&buf[..n])
            );
            std::thread::sleep(Duration::from_millis(400));
        }
        c
    })
    .await
    .unwrap();
    let (took, seen) = wait_for_close(c).await;
    assert!(seen.is_empty(), "{}", String::from_utf8_lossy(&seen));
    assert!(took >= Duration::from_millis(200), "{took:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_cap_wait_until_one_closes() {
    let (_s, addr, stop) = listen(ConnectionLimits {
        max_connections: 2,
        ..ConnectionLimits::default()
    })
    .await;
    tokio::task::spawn_blocking(move || {
        let mut held: Vec<TcpStream> = Vec::new();
        for _ in 0..2 {
            let mut c = connect(addr);
            c.write_all(LIVE).unwrap();
            let mut buf = [0u8; 1024];
            assert!(c.read(&mut buf).unwrap() > 0);
            held.push(c);
        }
        // The third connects (the kernel's backlog) but is not served...
        let mut third = connect(addr);
        third.write_all(LIVE).unwrap();
        third
            .set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let mut buf = [0u8; 1024];
        assert!(third.read(&mut buf).is_err(), "served past the cap");
        // ...until one of the others closes.
        drop(held.pop());
        third
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let n = third.read(&mut buf).unwrap();
        assert!(
            buf[..n].starts_with(b"HTTP/1.1 200"),
            "{}",
            String::from_utf8_lossy(&buf[..n])
        );
    })
    .await
    .unwrap();
    stop.cancel();
}

/// Load shedding done right (issue 11): a request that would be refused
/// because the deployment is saturated is refused before its body is read.
/// The client here sends only its headers (announcing 10 MB) and gets 429 at
/// once, while one slow request holds the deployment's only slot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shed_request_is_refused_before_its_body_is_read() {
    let (s, addr, stop) = listen(ConnectionLimits::default()).await;
    s.call(
        "POST",
        "/api/v1/models",
        Some(serde_json::json!({"name": "slow"})),
    )
    .await;
    let slow = std::fs::read(repo().join("testdata/models/slow.onnx")).unwrap();
    let (st, v) = s.upload("slow", &slow, None).await;
    assert_eq!(st, axum::http::StatusCode::CREATED, "{v}");
    let (st, v) = s
        .call(
            "PUT",
            "/api/v1/deployments/api",
            Some(serde_json::json!({"model": "slow:1", "settings": {"max_concurrency": 1}})),
        )
        .await;
    assert_eq!(st, axum::http::StatusCode::OK, "{v}");
    // One long request (2,000 rows of about 1-2 ms each) holds the slot.
    let row = first_row();
    let data: Vec<f64> = (0..2000).flat_map(|_| row.clone()).collect();
    let long = serde_json::json!({"inputs": [{"name": "input", "shape": [2000, 22], "datatype": "FP32", "data": data}]});
    let holder = {
        let body = serde_json::to_vec(&long).unwrap();
        tokio::task::spawn_blocking(move || {
            let mut c = connect(addr);
            c.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
            c.write_all(
                format!(
                    "POST /v2/models/api/infer HTTP/1.1\r\nhost: hangar\r\n\
                     authorization: Bearer {ADMIN_TOKEN}\r\ncontent-type: application/json\r\n\
                     content-length: {}\r\n\r\n",
                    body.len()
                )
                .as_bytes(),
            )
            .unwrap();
            c.write_all(&body).unwrap();
            let mut buf = [0u8; 64];
            let n = c.read(&mut buf).unwrap();
            String::from_utf8_lossy(&buf[..n]).into_owned()
        })
    };
    // Wait until it holds the deployment's one slot.
    let t = Instant::now();
    while s
        .state
        .serving
        .deployment("api")
        .and_then(|d| d.concurrency.as_ref().map(|c| c.available_permits()))
        != Some(0)
    {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "the long request never started"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let answer = tokio::task::spawn_blocking(move || {
        let mut c = connect(addr);
        c.write_all(
            format!(
                "POST /v2/models/api/infer HTTP/1.1\r\nhost: hangar\r\n\
                 authorization: Bearer {ADMIN_TOKEN}\r\ncontent-type: application/json\r\n\
                 content-length: 10000000\r\n\r\n"
            )
            .as_bytes(),
        )
        .unwrap();
        // No body is sent: the answer must come without it.
        let start = Instant::now();
        let mut buf = [0u8; 1024];
        let n = c.read(&mut buf).unwrap();
        (
            start.elapsed(),
            String::from_utf8_lossy(&buf[..n]).into_owned(),
        )
    })
    .await
    .unwrap();
    assert!(answer.1.starts_with("HTTP/1.1 429"), "{}", answer.1);
    assert!(
        answer.1.to_ascii_lowercase().contains("retry-after: 1"),
        "{}",
        answer.1
    );
    assert!(answer.0 < Duration::from_secs(2), "{:?}", answer.0);
    let held = holder.await.unwrap();
    assert!(held.starts_with("HTTP/1.1 200"), "{held}");
    stop.cancel();
}
