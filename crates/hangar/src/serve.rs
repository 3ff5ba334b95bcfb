//! `hangar serve`: configuration in layers (defaults < config file <
//! `HANGAR_*` environment < flags), validated at start, then the server.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use hangar_core::{ModelCard, RiskTier};
use hangar_runtime::{locate_onnxruntime, OrtLocation};
use hangar_server::{ConnectionLimits, ExampleModel, Limits, ServerConfig};
use serde::Deserialize;

const EXAMPLE_MODEL: &[u8] = include_bytes!("../../../examples/credit-risk/model.onnx");
const EXAMPLE_FEATURES: &str = include_str!("../../../examples/credit-risk/features.txt");

/// Declares `hangar serve`'s options once: each field is a flag (most with a
/// `HANGAR_*` environment variable) and, unless skipped, a config-file key of the
/// same name; `over` layers flags and environment over the file.
macro_rules! serve_options {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $( $(#[$field_meta:meta])* pub $field:ident: $ty:ty, )*
        }
    ) => {
        $(#[$meta])*
        pub struct $name {
            $( $(#[$field_meta])* pub $field: $ty, )*
        }

        impl $name {
            /// These options over `lower`'s: a value given here wins.
            fn over(self, lower: Self) -> Self {
                Self {
                    $( $field: Layer::over(self.$field, lower.$field), )*
                }
            }
        }
    };
}

/// How one option's layers combine: the upper layer's value, if it has one.
trait Layer {
    fn over(self, lower: Self) -> Self;
}

impl<T> Layer for Option<T> {
    fn over(self, lower: Self) -> Self {
        self.or(lower)
    }
}

impl Layer for bool {
    fn over(self, lower: Self) -> Self {
        self || lower
    }
}

serve_options! {
/// Runs the Hangar server: the V2 inference API (REST and gRPC), the management API and the dashboard.
#[derive(clap::Args, Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
#[command(
    after_long_help = "Precedence: built-in defaults < config file < environment < flags.\n\n\
Example:\n  hangar serve --example                   # serve with the bundled credit-risk model deployed\n  \
hangar serve --data-dir /var/lib/hangar --addr 0.0.0.0:8080\n  \
hangar serve --database postgres://hangar@db.internal:5432/hangar   # metadata in PostgreSQL"
)]
pub struct ServeArgs {
    /// Directory holding the server's state: the SQLite metadata and artifact files, unless
    /// --database and --artifacts put them elsewhere (object storage's local cache is kept
    /// here) [default: ./hangar-data]
    #[arg(long, env = "HANGAR_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// The metadata database: sqlite://PATH, or postgres://USER[:PASS]@HOST:PORT/DB (any
    /// sslmode the URL names) for several replicas sharing one database. While PostgreSQL is
    /// down, loaded versions keep serving and management calls answer 503 database_unavailable
    /// [default: the data directory's hangar.db]
    // The value is not shown in --help: it may hold a password.
    #[arg(long, env = "HANGAR_DATABASE_URL", value_name = "URL", hide_env_values = true)]
    pub database: Option<String>,
    /// Where model and baseline artifacts are kept: a directory, file://PATH or
    /// s3://BUCKET/PREFIX (S3 settings from AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID,
    /// AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION, AWS_ALLOW_HTTP; cached in the data
    /// directory) [default: the data directory's artifacts/]
    #[arg(long, env = "HANGAR_ARTIFACTS", value_name = "URL")]
    pub artifacts: Option<String>,
    /// Address to listen on [default: 127.0.0.1:8080]
    #[arg(long, env = "HANGAR_ADDR", value_name = "HOST:PORT")]
    pub addr: Option<String>,
    /// Address for the Open Inference Protocol's gRPC service (inference.GRPCInferenceService,
    /// as Triton and tritonclient.grpc speak it) [default: off]
    #[arg(long, env = "HANGAR_GRPC_ADDR", value_name = "HOST:PORT")]
    pub grpc_addr: Option<String>,
    /// TOML configuration file (keys: data_dir, database, artifacts, addr, grpc_addr, ort_dylib, max_request_bytes,
    /// max_upload_bytes, max_tensor_elements, max_feedback_bytes, inference_threads, inference_queue, model_memory, prediction_retention_days,
    /// aggregate_retention_days, key_rate_limit, header_timeout, body_timeout, idle_timeout,
    /// max_connections, model_check_timeout, log_format, public_url)
    #[arg(long, env = "HANGAR_CONFIG", value_name = "FILE")]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// Path to libonnxruntime.so [default: $ORT_DYLIB_PATH, then vendor/onnxruntime/libonnxruntime.so,
    /// next to the binary, /usr/local/lib, /usr/lib]
    #[arg(long, value_name = "FILE")]
    pub ort_dylib: Option<PathBuf>,
    /// Largest inference request body in bytes [default: 33554432]
    #[arg(long, env = "HANGAR_MAX_REQUEST_BYTES", value_name = "BYTES")]
    pub max_request_bytes: Option<usize>,
    /// Largest model upload in bytes [default: 2147483648]
    #[arg(long, env = "HANGAR_MAX_UPLOAD_BYTES", value_name = "BYTES")]
    pub max_upload_bytes: Option<u64>,
    /// Most elements one input tensor may hold [default: 16777216]
    #[arg(long, env = "HANGAR_MAX_TENSOR_ELEMENTS", value_name = "N")]
    pub max_tensor_elements: Option<usize>,
    /// Largest feedback upload (true outcomes, CSV or JSON) in bytes; CSV is applied
    /// as it streams, in short batches [default: 67108864]
    #[arg(long, env = "HANGAR_MAX_FEEDBACK_BYTES", value_name = "BYTES")]
    pub max_feedback_bytes: Option<u64>,
    /// Inference worker threads [default: one per core]
    #[arg(long, env = "HANGAR_INFERENCE_THREADS", value_name = "N")]
    pub inference_threads: Option<usize>,
    /// Inference jobs that may wait for a worker; beyond it requests get 503 + Retry-After [default: 1024]
    #[arg(long, env = "HANGAR_INFERENCE_QUEUE", value_name = "N")]
    pub inference_queue: Option<usize>,
    /// Memory budget for loaded model versions, in bytes (approximate); idle versions are
    /// unloaded least recently used first to stay within it [default: 1073741824]
    #[arg(long, env = "HANGAR_MODEL_MEMORY", value_name = "BYTES")]
    pub model_memory: Option<u64>,
    /// Days the prediction log keeps rows; older ones are deleted hourly [default: 30]
    #[arg(long, env = "HANGAR_PREDICTION_RETENTION_DAYS", value_name = "DAYS")]
    pub prediction_retention_days: Option<u32>,
    /// Days monitoring keeps its hour and day aggregates (the long-range
    /// statistics); at least the prediction retention [default: 400]
    #[arg(long, env = "HANGAR_AGGREGATE_RETENTION_DAYS", value_name = "DAYS")]
    pub aggregate_retention_days: Option<u32>,
    /// Log format: text or json [default: text]; the level comes from HANGAR_LOG (e.g. "info,hangar_server=debug")
    #[arg(long, env = "HANGAR_LOG_FORMAT", value_name = "FORMAT")]
    pub log_format: Option<String>,
    /// Requests per second a consumer key may make when it was issued without a limit of
    /// its own; over it, 429 with Retry-After. 0 = no default limit [default: 1000]
    #[arg(long, env = "HANGAR_KEY_RATE_LIMIT", value_name = "PER_SECOND")]
    pub key_rate_limit: Option<f64>,
    /// Seconds a client has to send a request's headers, from its first byte; a stalled
    /// connection is closed [default: 10]
    #[arg(long, env = "HANGAR_HEADER_TIMEOUT", value_name = "SECONDS")]
    pub header_timeout: Option<f64>,
    /// Seconds a client has to send a request's body, from the end of its headers; past it the
    /// connection is closed. Large model uploads need it long enough [default: 300]
    #[arg(long, env = "HANGAR_BODY_TIMEOUT", value_name = "SECONDS")]
    pub body_timeout: Option<f64>,
    /// Seconds a keep-alive connection may stay open with no request in progress; behind a
    /// load balancer, make it longer than the balancer's own idle timeout [default: 30]
    #[arg(long, env = "HANGAR_IDLE_TIMEOUT", value_name = "SECONDS")]
    pub idle_timeout: Option<f64>,
    /// HTTP connections open at once; past it, new ones wait in the listen backlog until one
    /// closes [default: 4096]
    #[arg(long, env = "HANGAR_MAX_CONNECTIONS", value_name = "N")]
    pub max_connections: Option<usize>,
    /// Seconds a new model may take to load and warm up in the child process that checks
    /// every pushed model before the server loads it (a model that crashes ONNX Runtime
    /// or runs forever is refused instead of taking the server down) [default: 120]
    #[arg(long, env = "HANGAR_MODEL_CHECK_TIMEOUT", value_name = "SECONDS")]
    pub model_check_timeout: Option<f64>,
    /// The URL people and clients reach this server at, when a reverse proxy or load balancer
    /// stands in front of it (e.g. https://hangar.example.com). An https:// URL marks the
    /// dashboard's cookies Secure, so browsers send them over HTTPS only [default: none]
    #[arg(long, env = "HANGAR_PUBLIC_URL", value_name = "URL")]
    pub public_url: Option<String>,
    /// Register and deploy the bundled example model (credit-risk) if it is not there yet
    #[arg(long)]
    #[serde(skip)]
    pub example: bool,
}
}

/// Validated settings.
#[derive(Debug)]
struct Settings {
    addr: SocketAddr,
    /// The gRPC service's address; `None`: no gRPC.
    grpc_addr: Option<SocketAddr>,
    json_logs: bool,
    server: ServerConfig,
    /// `HANGAR_ADMIN_TOKEN`: the first administrator's token, chosen by the
    /// operator instead of generated.
    admin_token: Option<String>,
}

/// The config file: the same keys as the flags, every one optional.
fn load_file(path: &Path) -> anyhow::Result<ServeArgs> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("invalid config file {}", path.display()))
}

fn settings(args: ServeArgs) -> anyhow::Result<Settings> {
    let args = match args.config.clone() {
        Some(p) => args.over(load_file(&p)?),
        None => args,
    };
    let addr_text = args.addr.unwrap_or_else(|| "127.0.0.1:8080".into());
    let addr: SocketAddr = addr_text.parse().with_context(|| {
        format!("invalid --addr {addr_text:?}: expected HOST:PORT, e.g. 127.0.0.1:8080")
    })?;
    let grpc_addr = match args.grpc_addr {
        Some(text) => Some(text.parse::<SocketAddr>().with_context(|| {
            format!("invalid --grpc-addr {text:?}: expected HOST:PORT, e.g. 127.0.0.1:8081")
        })?),
        None => None,
    };
    if grpc_addr.is_some_and(|g| g == addr && g.port() != 0) {
        bail!("--grpc-addr must differ from --addr ({addr}): gRPC is served on its own port");
    }
    #[cfg(not(feature = "grpc"))]
    if grpc_addr.is_some() {
        bail!("--grpc-addr needs a hangar built with the `grpc` feature (on by default)");
    }
    let data_dir = args
        .data_dir
        .unwrap_or_else(|| PathBuf::from("hangar-data"));
    let database = match args.database.filter(|u| !u.trim().is_empty()) {
        Some(url) => Some(database_url(url)?),
        None => None,
    };
    let artifacts = args.artifacts.filter(|u| !u.trim().is_empty());
    let log_format = args.log_format.unwrap_or_else(|| "text".into());
    let json_logs = match log_format.as_str() {
        "text" => false,
        "json" => true,
        other => bail!("invalid --log-format {other:?}: expected text or json"),
    };
    let defaults = Limits::default();
    let timeout = |name: &str, value: Option<f64>, default: Duration| -> anyhow::Result<Duration> {
        match value {
            None => Ok(default),
            Some(v) if v.is_finite() && v > 0.0 && v <= 86_400.0 => Ok(Duration::from_secs_f64(v)),
            Some(v) => bail!(
                "invalid --{name} {v}: expected a number of seconds greater than 0 (at most 86400)"
            ),
        }
    };
    let connections = ConnectionLimits {
        header_timeout: timeout(
            "header-timeout",
            args.header_timeout,
            defaults.connections.header_timeout,
        )?,
        body_timeout: timeout(
            "body-timeout",
            args.body_timeout,
            defaults.connections.body_timeout,
        )?,
        idle_timeout: timeout(
            "idle-timeout",
            args.idle_timeout,
            defaults.connections.idle_timeout,
        )?,
        max_connections: args
            .max_connections
            .unwrap_or(defaults.connections.max_connections),
    };
    if connections.max_connections == 0 {
        bail!("--max-connections must be at least 1");
    }
    let limits = Limits {
        connections,
        max_request_bytes: args.max_request_bytes.unwrap_or(defaults.max_request_bytes),
        max_upload_bytes: args.max_upload_bytes.unwrap_or(defaults.max_upload_bytes),
        max_tensor_elements: args
            .max_tensor_elements
            .unwrap_or(defaults.max_tensor_elements),
        max_feedback_bytes: args
            .max_feedback_bytes
            .unwrap_or(defaults.max_feedback_bytes),
    };
    if limits.max_request_bytes == 0
        || limits.max_upload_bytes == 0
        || limits.max_tensor_elements == 0
        || limits.max_feedback_bytes == 0
    {
        bail!("size limits must be greater than zero");
    }
    let inference_threads = args.inference_threads;
    if inference_threads == Some(0) {
        bail!("--inference-threads must be at least 1");
    }
    let inference_queue = args.inference_queue.unwrap_or(1024);
    if inference_queue == 0 {
        bail!("--inference-queue must be at least 1");
    }
    let model_memory = args.model_memory.unwrap_or(1 << 30);
    if model_memory == 0 {
        bail!("--model-memory must be greater than zero");
    }
    let key_rate_limit = args.key_rate_limit.unwrap_or(1000.0);
    if !(key_rate_limit.is_finite() && key_rate_limit >= 0.0) {
        anyhow::bail!("invalid --key-rate-limit {key_rate_limit}: expected a number of requests per second, 0 or more");
    }
    let admin_token = std::env::var("HANGAR_ADMIN_TOKEN")
        .ok()
        .filter(|t| !t.trim().is_empty());
    if admin_token.as_ref().is_some_and(|t| t.len() < 16) {
        anyhow::bail!("HANGAR_ADMIN_TOKEN must be at least 16 characters long");
    }
    let prediction_retention_days = args.prediction_retention_days.unwrap_or(30);
    if prediction_retention_days == 0 {
        bail!("--prediction-retention-days must be at least 1");
    }
    let aggregate_retention_days = args.aggregate_retention_days.unwrap_or(400);
    if aggregate_retention_days < prediction_retention_days {
        bail!(
            "--aggregate-retention-days ({aggregate_retention_days}) must be at least --prediction-retention-days ({prediction_retention_days}): aggregates are what is left of a day once its rows are gone"
        );
    }
    let public_url = match args.public_url {
        Some(u) => Some(public_url(&u)?),
        None => None,
    };
    let configured = args.ort_dylib;
    let env = std::env::var_os("ORT_DYLIB_PATH")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from);
    let exe_dir = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf));
    let ort_dylib = match locate_onnxruntime(configured.as_deref(), env.as_deref(), exe_dir.as_deref()) {
        OrtLocation::Found(p) => p,
        OrtLocation::Missing(tried) => bail!(
            "the ONNX Runtime library (libonnxruntime.so) was not found (looked at: {}). \
             Fetch it with `make setup` (scripts/fetch-onnxruntime.sh, which takes it from the onnxruntime wheel on PyPI), \
             or point ORT_DYLIB_PATH or --ort-dylib at the libonnxruntime.so of an installed onnxruntime wheel \
             (site-packages/onnxruntime/capi/)",
            tried.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
        ),
    };
    let model_check_timeout = timeout(
        "model-check-timeout",
        args.model_check_timeout,
        Duration::from_secs(120),
    )?;
    let model_check =
        hangar_server::model_check::ModelCheck::this_binary(&ort_dylib, model_check_timeout)
            .context("cannot find the running binary to check new models with")?;
    Ok(Settings {
        addr,
        grpc_addr,
        json_logs,
        server: ServerConfig {
            data_dir,
            database,
            artifacts,
            artifact_settings: Vec::new(),
            ort_dylib,
            limits,
            inference_threads,
            inference_queue,
            guardrail_interval: std::time::Duration::from_secs(1),
            model_memory,
            prediction_retention_days,
            aggregate_retention_days,
            alert_interval: std::time::Duration::from_secs(10),
            key_rate_limit,
            model_check: Some(model_check),
            public_url,
        },
        admin_token,
    })
}

/// `--database`: a URL of a backend Hangar has (checked here so that a
/// typo is refused before anything starts; the password is never repeated).
fn database_url(url: String) -> anyhow::Result<String> {
    let known = ["sqlite://", "postgres://", "postgresql://"];
    if known.iter().any(|k| url.starts_with(k)) {
        return Ok(url);
    }
    bail!(
        "invalid --database {:?}: expected sqlite://PATH or postgres://USER[:PASS]@HOST:PORT/DB",
        hangar_store::redact_url(&url)
            .chars()
            .take(200)
            .collect::<String>()
    )
}

/// `--public-url`: an absolute http:// or https:// URL with a host, kept
/// without a trailing `/`.
fn public_url(raw: &str) -> anyhow::Result<String> {
    let u = raw.trim().trim_end_matches('/');
    let lower = u.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"));
    let host = rest.map(|r| r.split(['/', '?', '#']).next().unwrap_or_default());
    match host {
        Some(h) if !h.is_empty() && !h.contains(char::is_whitespace) && !u.contains(char::is_control) => {
            Ok(u.to_string())
        }
        _ => bail!(
            "invalid --public-url {:?}: expected the URL people reach Hangar at, e.g. https://hangar.example.com",
            raw.chars().take(100).collect::<String>()
        ),
    }
}

fn init_logging(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("HANGAR_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("info,tower_http=warn,sqlx=warn,ort=warn")
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn example() -> ExampleModel {
    ExampleModel {
        model: "credit-risk",
        deployment: "credit-risk",
        bytes: EXAMPLE_MODEL,
        features: EXAMPLE_FEATURES.trim().split(',').map(str::to_string).collect(),
        card: ModelCard {
            description: "Example: gradient-boosted trees (scikit-learn, exported to ONNX) that score synthetic credit applications".into(),
            owner_team: Some("examples".into()),
            intended_use: Some("Trying Hangar: predictions on synthetic credit applications".into()),
            out_of_scope_uses: vec!["Real lending decisions".into()],
            risk_tier: RiskTier::Medium,
            tags: vec!["example".into(), "tabular".into()],
        },
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}

pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let with_example = args.example;
    let settings = settings(args)?;
    init_logging(settings.json_logs);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(settings.addr)
            .await
            .with_context(|| format!("cannot listen on {}", settings.addr))?;
        let grpc_listener = match settings.grpc_addr {
            Some(addr) => Some(
                tokio::net::TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("cannot listen on {addr} (--grpc-addr)"))?,
            ),
            None => None,
        };
        let storage = storage_line(&settings.server);
        let state = hangar_server::open(&settings.server)
            .await
            .with_context(|| {
                if settings.server.database.is_none() && settings.server.artifacts.is_none() {
                    format!("cannot open the data directory {}", settings.server.data_dir.display())
                } else {
                    format!("cannot open the storage ({storage})")
                }
            })?;
        let admin_token = hangar_server::bootstrap_admin(&state, settings.admin_token.as_deref())
            .await
            .map_err(|e| anyhow::anyhow!("cannot create the first administrator: {}", e.message))?;
        let example_key = if with_example {
            hangar_server::ensure_example(&state, example())
                .await
                .context("cannot deploy the bundled example")?;
            Some(
                hangar_server::example_key(&state, "credit-risk")
                    .await
                    .context("cannot issue a key for the bundled example")?,
            )
        } else {
            None
        };
        let local = listener.local_addr()?;
        tracing::info!(addr = %local, data_dir = %settings.server.data_dir.display(), ort = %settings.server.ort_dylib.display(), "Hangar is serving");
        eprintln!("Hangar is serving on http://{local} ({storage})");
        if let Some(grpc) = &grpc_listener {
            let grpc_local = grpc.local_addr()?;
            tracing::info!(addr = %grpc_local, "gRPC (inference.GRPCInferenceService) is serving");
            eprintln!("gRPC (Open Inference Protocol) is serving on {grpc_local}");
        }
        if let Some(token) = &admin_token {
            // Printed once, on the first start; only its hash is stored.
            eprintln!(
                "\nThe first administrator, 'admin', was created. Its token is shown this once; keep it safe.\n\
                 Set it in the shell where you run `hangar` or `curl`:\n\n  \
                 export HANGAR_ADMIN_TOKEN={token}\n\n\
                 then `hangar login --token \"$HANGAR_ADMIN_TOKEN\"` stores it for the CLI. \
                 (Set HANGAR_ADMIN_TOKEN before the first start to choose it instead.)\n\
                 The dashboard (http://{local}/) signs people in with a password of at least 12 characters; \
                 create yourself a user:\n  \
                 printf '%s' \"$PASSWORD\" | hangar user create YOUR-NAME --superuser --password-stdin --token \"$HANGAR_ADMIN_TOKEN\" --server http://{local}\n"
            );
        }
        if let Some(key) = &example_key {
            eprintln!(
                "The example deployment 'credit-risk' is ready. Its consumer key (purpose: trying out the bundled example; \
                 a new one is issued at every start) is:\n\n  \
                 export KEY={key}\n\n\
                 Try:\n  \
                 curl -s http://{local}/v2/models/credit-risk/infer -H \"authorization: Bearer $KEY\" -H 'content-type: application/json' -d @examples/credit-risk/request.json\n  \
                 curl -s http://{local}/v2/models/credit-risk/infer -H \"authorization: Bearer $KEY\" -H 'content-type: application/json' -d @examples/credit-risk/instances.json\n  \
                 HANGAR_TOKEN=$KEY hangar predict credit-risk --csv examples/credit-risk/applicants.csv --server http://{local}"
            );
        }
        // One signal stops both servers; each lets its in-flight calls finish.
        let stop = tokio_util::sync::CancellationToken::new();
        tokio::spawn({
            let stop = stop.clone();
            async move {
                shutdown_signal().await;
                stop.cancel();
            }
        });
        let log_state = state.clone();
        tokio::try_join!(
            hangar_server::serve(listener, state.clone(), stop.clone().cancelled_owned()),
            serve_grpc(grpc_listener, state, stop.cancelled_owned()),
        )?;
        // The prediction log's buffer and its open minutes' aggregates.
        log_state.log.flush().await;
        // Denials still being counted go into the audit log.
        hangar_server::auth::flush_denials(&log_state, true).await;
        Ok(())
    })
}

/// Where the server keeps its data, as its start-up line says it: the data
/// directory, or the database and artifact store named instead (a database
/// password shown as `***`).
fn storage_line(server: &ServerConfig) -> String {
    let data_dir = server.data_dir.display();
    match (&server.database, &server.artifacts) {
        (None, None) => format!("data in {data_dir}"),
        (database, artifacts) => format!(
            "metadata in {}, artifacts in {}",
            database.as_deref().map_or_else(
                || format!("{}", server.data_dir.join("hangar.db").display()),
                hangar_store::redact_url
            ),
            artifacts.as_deref().map_or_else(
                || format!("{}", server.data_dir.join("artifacts").display()),
                hangar_store::redact_url
            ),
        ),
    }
}

/// The gRPC server when `--grpc-addr` is set; done at once when it is not.
async fn serve_grpc(
    listener: Option<tokio::net::TcpListener>,
    state: hangar_server::AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    match listener {
        #[cfg(feature = "grpc")]
        Some(listener) => hangar_server::serve_grpc(listener, state, shutdown).await,
        #[cfg(not(feature = "grpc"))]
        Some(_) => {
            drop((state, shutdown));
            Err(std::io::Error::other(
                "this hangar was built without the `grpc` feature",
            ))
        }
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests;
