//! The HTTP listener: accepts connections up to a cap and closes the ones
//! that stall.
//!
//! `axum::serve` has no timeouts: a client that sends its headers one byte
//! a minute, a body that never ends, or a keep-alive connection left open
//! holds a task and a file descriptor forever. Here each connection runs
//! hyper's HTTP/1 server with a watchdog that knows which phase the
//! connection is in:
//!
//! - **idle** (no request yet, or the last response is written): closed
//!   after `idle_timeout`;
//! - **head** (a request's first bytes arrived, its headers are not
//!   complete): closed after `header_timeout`;
//! - **body** (headers complete, the handler is still reading the body):
//!   closed after `body_timeout` counted from the headers;
//! - **handling** (the body is read or not wanted; the handler and the
//!   response): no limit here, inference has deadlines of its own.
//!
//! Phases change from the socket wrapper (first bytes), the service (headers
//! complete), the request body wrapper (end of body, or dropped unread) and
//! the response body wrapper (written or dropped). At most
//! `max_connections` are open at once; past that the listener stops
//! accepting and new clients wait in the kernel's backlog.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::Router;
use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tower::ServiceExt;

/// How long a connection may stall in each phase, and how many may be open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// From a request's first byte to its last header line.
    pub header_timeout: Duration,
    /// From the end of the headers to the end of the body.
    pub body_timeout: Duration,
    /// A keep-alive connection with no request in progress.
    pub idle_timeout: Duration,
    /// Connections open at once; past it, new ones wait to be accepted.
    pub max_connections: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(300),
            idle_timeout: Duration::from_secs(30),
            max_connections: 4096,
        }
    }
}

impl ConnectionLimits {
    /// How often a connection's watchdog looks at it: a quarter of the
    /// shortest limit, between 10 ms and 1 s.
    fn tick(&self) -> Duration {
        let shortest = self
            .header_timeout
            .min(self.body_timeout)
            .min(self.idle_timeout);
        (shortest / 4).clamp(Duration::from_millis(10), Duration::from_secs(1))
    }
}

const IDLE: u8 = 0;
const HEAD: u8 = 1;
const BODY: u8 = 2;
const HANDLING: u8 = 3;

fn now_ms() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_millis() as u64
}

/// The phase a connection is in and since when (ms since process start).
#[derive(Debug)]
struct Activity {
    phase: AtomicU8,
    since: AtomicU64,
}

#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Fine,
    /// Idle too long: close once nothing is in progress.
    Idle,
    /// Stalled mid-request: close now.
    Stalled(&'static str),
}

impl Activity {
    fn new() -> Self {
        Activity {
            phase: AtomicU8::new(IDLE),
            since: AtomicU64::new(now_ms()),
        }
    }

    fn enter(&self, phase: u8) {
        self.since.store(now_ms(), Ordering::Relaxed);
        self.phase.store(phase, Ordering::Release);
    }

    /// Moves from `from` to `to`; nothing if the connection is elsewhere.
    fn advance(&self, from: u8, to: u8) {
        if self
            .phase
            .compare_exchange(from, to, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
        {
            self.since.store(now_ms(), Ordering::Relaxed);
        }
    }

    fn verdict(&self, limits: &ConnectionLimits, now: u64) -> Verdict {
        let phase = self.phase.load(Ordering::Acquire);
        let elapsed = Duration::from_millis(now.saturating_sub(self.since.load(Ordering::Relaxed)));
        match phase {
            IDLE if elapsed > limits.idle_timeout => Verdict::Idle,
            HEAD if elapsed > limits.header_timeout => {
                Verdict::Stalled("its request headers did not arrive in time")
            }
            BODY if elapsed > limits.body_timeout => {
                Verdict::Stalled("its request body did not arrive in time")
            }
            _ => Verdict::Fine,
        }
    }
}

/// The socket, noting when a request's first bytes arrive.
struct Watched {
    stream: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.stream).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.advance(IDLE, HEAD);
        }
        result
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// The request body: the body phase ends at its end, or when the handler
/// drops it unread.
struct RequestBody {
    inner: Incoming,
    activity: Arc<Activity>,
}

impl HttpBody for RequestBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let result = Pin::new(&mut self.inner).poll_frame(cx);
        if matches!(result, Poll::Ready(None) | Poll::Ready(Some(Err(_)))) {
            self.activity.advance(BODY, HANDLING);
        }
        result
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for RequestBody {
    fn drop(&mut self) {
        self.activity.advance(BODY, HANDLING);
    }
}

/// The response body: the connection is idle again once it is written (or
/// dropped).
struct ResponseBody {
    inner: Body,
    activity: Arc<Activity>,
}

impl HttpBody for ResponseBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for ResponseBody {
    fn drop(&mut self) {
        self.activity.enter(IDLE);
    }
}

/// Serves `app` on `listener` until `shutdown` resolves, then stops
/// accepting, lets in-flight requests finish and closes idle connections.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let limits = Arc::new(limits);
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    // Every connection holds a receiver; `closed()` resolves when the last
    // connection has ended.
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            biased;
            () = &mut shutdown => break,
            permit = permits.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let (stream, remote) = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of descriptors or a connection reset before it
                    // was accepted: wait a little instead of spinning.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let app = app.clone();
        let limits = limits.clone();
        let stop = stop_rx.clone();
        tokio::spawn(async move {
            connection(stream, remote, app, &limits, stop).await;
            drop(permit);
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    drop(stop_rx);
    stop_tx.closed().await;
    Ok(())
}

async fn connection(
    stream: TcpStream,
    remote: SocketAddr,
    app: Router,
    limits: &ConnectionLimits,
    mut stop: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Watched {
        stream,
        activity: activity.clone(),
    });
    let service = {
        let activity = activity.clone();
        hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
            let empty = req.body().is_end_stream();
            activity.enter(if empty { HANDLING } else { BODY });
            let activity = activity.clone();
            let body_activity = activity.clone();
            let mut req = req.map(|inner| {
                Body::new(RequestBody {
                    inner,
                    activity: body_activity,
                })
            });
            req.extensions_mut().insert(ConnectInfo(remote));
            let call = app.clone().oneshot(req);
            async move {
                let response = call.await.unwrap_or_else(|never| match never {});
                Ok::<_, std::convert::Infallible>(
                    response.map(|inner| ResponseBody { inner, activity }),
                )
            }
        })
    };
    let conn = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .serve_connection(io, service);
    tokio::pin!(conn);
    let mut tick = tokio::time::interval(limits.tick());
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut stopping = false;
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(%remote, error = %e, "connection ended with an error");
                }
                return;
            }
            changed = stop.changed(), if !stopping => {
                let _ = changed;
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
            _ = tick.tick() => match activity.verdict(limits, now_ms()) {
                Verdict::Fine => {}
                Verdict::Idle => conn.as_mut().graceful_shutdown(),
                Verdict::Stalled(why) => {
                    tracing::debug!(%remote, "closing a connection: {why}");
                    return;
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> ConnectionLimits {
        ConnectionLimits {
            header_timeout: Duration::from_millis(100),
            body_timeout: Duration::from_millis(200),
            idle_timeout: Duration::from_millis(300),
            max_connections: 1,
        }
    }

    #[test]
    fn each_phase_has_its_own_limit() {
        let a = Activity::new();
        let t0 = a.since.load(Ordering::Relaxed);
        let l = limits();
        assert_eq!(a.verdict(&l, t0 + 250), Verdict::Fine);
        assert_eq!(a.verdict(&l, t0 + 301), Verdict::Idle);
        a.advance(IDLE, HEAD);
        let t1 = a.since.load(Ordering::Relaxed);
        assert_eq!(a.verdict(&l, t1 + 100), Verdict::Fine);
        assert!(matches!(a.verdict(&l, t1 + 101), Verdict::Stalled(_)));
        a.enter(BODY);
        let t2 = a.since.load(Ordering::Relaxed);
        assert_eq!(a.verdict(&l, t2 + 150), Verdict::Fine);
        assert!(matches!(a.verdict(&l, t2 + 201), Verdict::Stalled(_)));
        a.advance(BODY, HANDLING);
        assert_eq!(a.verdict(&l, t2 + 1_000_000), Verdict::Fine);
        // Bytes read while a request is in progress are not a new request.
        a.advance(IDLE, HEAD);
        assert_eq!(a.phase.load(Ordering::Relaxed), HANDLING);
        a.enter(IDLE);
        assert_eq!(a.phase.load(Ordering::Relaxed), IDLE);
    }

    #[test]
    fn the_watchdog_ticks_often_enough_for_the_shortest_limit() {
        assert_eq!(limits().tick(), Duration::from_millis(25));
        assert_eq!(ConnectionLimits::default().tick(), Duration::from_secs(1));
    }
}
