//! A typed HTTP client for Hangar's management API (`/api/v1`) and inference
//! API (`/v2`).
//!
//! The wire types here mirror the server's JSON. They are deliberately separate
//! from `hangar_core`'s domain types and only as strict as the CLI needs:
//! unknown fields are ignored and missing optional ones default, so a newer
//! server does not break an older CLI. Every response also keeps its raw JSON
//! for `--output json`.

mod alerts;
mod deployments;
mod governance;
mod models;
mod monitoring;

pub use alerts::*;
pub use deployments::*;
pub use governance::*;
pub use models::*;
pub use monitoring::*;

use std::error::Error as _;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION};
use reqwest::{StatusCode, Url};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;

/// What a 401 tells the user to do.
pub const LOGIN_HINT: &str =
    "run `hangar login` (or pass --token / set HANGAR_TOKEN) with a valid token";

/// Why a request did not produce the expected response.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with a non-2xx status.
    #[error("{message} (HTTP {})", status.as_u16())]
    Api {
        status: StatusCode,
        /// The server's stable error code, when it sent one.
        code: Option<String>,
        message: String,
    },
    #[error(
        "cannot reach the Hangar server at {server}: {cause} \
         (start one with `hangar serve`, or point --server / HANGAR_SERVER at a running server)"
    )]
    Unreachable { server: String, cause: String },
    #[error("request to {url} failed: {cause}")]
    Transport { url: String, cause: String },
    /// The server hung up while the request body was still being sent; it
    /// usually answered first (e.g. 413), but that answer is lost.
    #[error("the server closed the connection while {url} was being sent ({cause})")]
    ConnectionClosed { url: String, cause: String },
    #[error("unexpected response from {url}: {cause}")]
    Decode { url: String, cause: String },
}

impl ClientError {
    /// Did the server refuse with this stable error code (docs/errors.md)?
    pub fn has_code(&self, code: &str) -> bool {
        matches!(self, ClientError::Api { code: Some(c), .. } if c == code)
    }

    pub fn is_unauthenticated(&self) -> bool {
        matches!(self, ClientError::Api { status, .. } if *status == StatusCode::UNAUTHORIZED)
    }
}

/// A decoded response body together with the JSON it came from.
#[derive(Debug)]
pub struct Fetched<T> {
    pub raw: Value,
    pub body: T,
}

#[derive(Debug)]
pub struct Client {
    http: reqwest::Client,
    base: Url,
    /// The server as the user gave it, for messages.
    server: String,
}

impl Client {
    /// A client for the server and token of a command's global options: the
    /// token is --token / HANGAR_TOKEN, else the one `hangar login` stored
    /// for this server, else none (every route but health then answers 401).
    pub fn connect(args: &crate::cli::ClientArgs) -> anyhow::Result<Client> {
        let token = match &args.token {
            Some(t) if !t.trim().is_empty() => Some(t.trim().to_owned()),
            _ => crate::credentials::Store::open()
                .ok()
                .and_then(|store| store.token(&args.server)),
        };
        Client::with_token(&args.server, token.as_deref())
    }

    /// Checks `server` and prepares a client without a credential.
    #[cfg(test)]
    pub fn new(server: &str) -> anyhow::Result<Client> {
        Client::with_token(server, None)
    }

    /// Checks `server` and prepares a client sending `token` as a bearer
    /// credential; nothing is sent yet.
    pub fn with_token(server: &str, token: Option<&str>) -> anyhow::Result<Client> {
        let mut base = Url::parse(server).map_err(|e| {
            anyhow::anyhow!(
                "invalid --server {server:?}: {e}; expected a URL like {}",
                crate::cli::DEFAULT_SERVER
            )
        })?;
        match base.scheme() {
            "http" => {}
            "https" => anyhow::bail!(
                "invalid --server {server:?}: this build of hangar speaks plain HTTP only; \
                 put TLS in front of it at a proxy and use an http:// URL from inside"
            ),
            other => anyhow::bail!("invalid --server {server:?}: unsupported scheme {other:?}; expected http://HOST:PORT"),
        }
        if base.host_str().is_none() {
            anyhow::bail!("invalid --server {server:?}: no host; expected http://HOST:PORT");
        }
        // A server mounted under a path prefix keeps it for every request.
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        base.set_query(None);
        base.set_fragment(None);

        let mut headers = HeaderMap::new();
        if let Some(token) = token {
            let mut value = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
                anyhow::anyhow!("the token contains characters a header cannot carry")
            })?;
            // Kept out of reqwest's debug output.
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }
        let http = reqwest::Client::builder()
            .user_agent(concat!("hangar/", env!("CARGO_PKG_VERSION")))
            .default_headers(headers)
            .connect_timeout(Duration::from_secs(10))
            .build()?;
        Ok(Client {
            http,
            base,
            server: server.trim_end_matches('/').to_owned(),
        })
    }

    /// An absolute URL for `segments` under the server's base; each segment is
    /// percent-encoded, so names can never change the path's shape.
    pub fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .expect("http URLs have path segments")
            .pop_if_empty()
            .extend(segments);
        url
    }

    /// The server's base URL joined with a server-given absolute path.
    pub fn absolute(&self, path: &str) -> String {
        match self.base.join(path.trim_start_matches('/')) {
            Ok(url) => url.to_string(),
            Err(_) => path.to_owned(),
        }
    }

    async fn call<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
        url: &Url,
    ) -> Result<Fetched<T>, ClientError> {
        let response = self.send(request, url).await?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| transport(url, &e))?;
        if !status.is_success() {
            return Err(api_error(status, &bytes));
        }
        let raw: Value = serde_json::from_slice(&bytes).map_err(|e| ClientError::Decode {
            url: url.to_string(),
            cause: format!("not JSON ({e})"),
        })?;
        decode(url, raw)
    }

    /// For requests answered with no body (`204 No Content`).
    async fn call_no_content(
        &self,
        request: reqwest::RequestBuilder,
        url: &Url,
    ) -> Result<(), ClientError> {
        let response = self.send(request, url).await?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| transport(url, &e))?;
        if !status.is_success() {
            return Err(api_error(status, &bytes));
        }
        Ok(())
    }

    /// Sends the request; any status is a response, only transport failures are errors.
    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        url: &Url,
    ) -> Result<reqwest::Response, ClientError> {
        request.send().await.map_err(|e| {
            if e.is_connect() {
                ClientError::Unreachable {
                    server: self.server.clone(),
                    cause: root_cause(&e),
                }
            } else if connection_closed(&e) {
                ClientError::ConnectionClosed {
                    url: url.to_string(),
                    cause: root_cause(&e),
                }
            } else {
                transport(url, &e)
            }
        })
    }
}

/// A list's items, each with its raw JSON (the list is under `key` in `raw`).
fn items<T>(mut raw: Value, key: &str, decoded: Vec<T>) -> Vec<Fetched<T>> {
    let raws = match raw.get_mut(key).map(Value::take) {
        Some(Value::Array(raws)) => raws,
        _ => Vec::new(),
    };
    decoded
        .into_iter()
        .zip(raws.into_iter().chain(std::iter::repeat(Value::Null)))
        .map(|(body, raw)| Fetched { raw, body })
        .collect()
}

fn decode<T: DeserializeOwned>(url: &Url, raw: Value) -> Result<Fetched<T>, ClientError> {
    match T::deserialize(&raw) {
        Ok(body) => Ok(Fetched { raw, body }),
        Err(e) => Err(ClientError::Decode {
            url: url.to_string(),
            cause: e.to_string(),
        }),
    }
}

/// The server's `{"error": "..."}` message, or the start of whatever it sent;
/// a 401 also says how to get a valid token.
fn api_error(status: StatusCode, body: &[u8]) -> ClientError {
    #[derive(Deserialize)]
    struct ErrorBody {
        error: String,
        #[serde(default)]
        code: Option<String>,
    }
    let (code, message) = match serde_json::from_slice::<ErrorBody>(body) {
        Ok(e) => (e.code, e.error),
        Err(_) => {
            let text = String::from_utf8_lossy(body);
            let first_line = text.lines().map(str::trim).find(|l| !l.is_empty());
            let message = match first_line {
                Some(line) => line.chars().take(200).collect(),
                None => status
                    .canonical_reason()
                    .unwrap_or("request failed")
                    .to_owned(),
            };
            (None, message)
        }
    };
    let message = if status == StatusCode::UNAUTHORIZED && !message.contains("hangar login") {
        format!("{}; {LOGIN_HINT}", message.trim_end_matches('.'))
    } else {
        message
    };
    ClientError::Api {
        status,
        code,
        message,
    }
}

fn transport(url: &Url, err: &reqwest::Error) -> ClientError {
    let cause = if err.is_timeout() {
        "timed out".to_owned()
    } else {
        causes(err)
    };
    ClientError::Transport {
        url: url.to_string(),
        cause,
    }
}

/// Whether the peer reset or closed the connection under us.
fn connection_closed(err: &reqwest::Error) -> bool {
    let mut next = err.source();
    while let Some(cause) = next {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            return matches!(
                io.kind(),
                std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset
            );
        }
        next = cause.source();
    }
    false
}

/// The innermost cause, e.g. `Connection refused (os error 111)`.
fn root_cause(err: &reqwest::Error) -> String {
    let mut cause: &dyn std::error::Error = err;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// The causes below reqwest's own "error sending request" line, joined.
fn causes(err: &reqwest::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = err.source();
    while let Some(cause) = next {
        let text = cause.to_string();
        if !parts.contains(&text) {
            parts.push(text);
        }
        next = cause.source();
    }
    if parts.is_empty() {
        err.to_string()
    } else {
        parts.join(": ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_errors_carry_the_servers_message_and_status() {
        let e = api_error(
            StatusCode::NOT_FOUND,
            br#"{"error": "model 'x' not found", "code": "model_not_found"}"#,
        );
        assert_eq!(e.to_string(), "model 'x' not found (HTTP 404)");
        assert!(matches!(
            e,
            ClientError::Api {
                status: StatusCode::NOT_FOUND,
                ..
            }
        ));
        assert!(e.has_code("model_not_found"));
        assert!(!e.has_code("deployment_not_found"));

        let e = api_error(
            StatusCode::BAD_GATEWAY,
            b"\n<html>upstream down</html>\nmore",
        );
        assert_eq!(e.to_string(), "<html>upstream down</html> (HTTP 502)");

        let e = api_error(StatusCode::CONFLICT, b"");
        assert_eq!(e.to_string(), "Conflict (HTTP 409)");
        assert!(!matches!(
            e,
            ClientError::Api {
                status: StatusCode::NOT_FOUND,
                ..
            }
        ));
        assert!(!e.has_code("conflict"));
    }

    #[test]
    fn unauthenticated_errors_say_how_to_log_in() {
        for body in [
            &br#"{"error": "this token has been revoked.", "code": "unauthenticated"}"#[..],
            b"",
        ] {
            let e = api_error(StatusCode::UNAUTHORIZED, body);
            assert!(e.is_unauthenticated());
            let text = e.to_string();
            assert!(
                text.ends_with(
                    "; run `hangar login` (or pass --token / set HANGAR_TOKEN) with a valid token (HTTP 401)"
                ),
                "{text}"
            );
        }
        let e = api_error(
            StatusCode::UNAUTHORIZED,
            br#"{"error": "this token has been revoked."}"#,
        );
        assert!(
            e.to_string()
                .starts_with("this token has been revoked; run"),
            "{e}"
        );
    }

    #[test]
    fn urls_keep_the_base_path_and_encode_segments() {
        let c = Client::new("http://h:1/hangar").unwrap();
        assert_eq!(
            c.url(&["api", "v1", "models", "a b"]).as_str(),
            "http://h:1/hangar/api/v1/models/a%20b"
        );
        assert_eq!(
            c.absolute("/v2/models/d/infer"),
            "http://h:1/hangar/v2/models/d/infer"
        );
        let c = Client::new("http://127.0.0.1:8080/").unwrap();
        assert_eq!(
            c.url(&["v2", "models", "d", "infer"]).as_str(),
            "http://127.0.0.1:8080/v2/models/d/infer"
        );
    }

    #[test]
    fn servers_must_be_plain_http_urls() {
        for bad in ["127.0.0.1:8080", "https://h", "ftp://h", "not a url"] {
            assert!(Client::new(bad).is_err(), "{bad}");
        }
    }
}
