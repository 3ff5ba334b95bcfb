//! New artifacts are first loaded in a child process.
//!
//! ONNX Runtime is C++: a hostile or broken file that makes it abort,
//! segfault or loop forever while loading would take every deployment of
//! the server down with it, or hold an inference thread for good. So before
//! the server loads a pushed model itself, a child process (`hangar
//! validate-model`, the binary re-executing itself) loads and warms it up.
//! Only a model the child loaded cleanly is loaded by the server; a child
//! that dies by a signal or overruns its time refuses the push.
//!
//! The protocol: the model's bytes on the child's stdin; one JSON line on its
//! stdout, `{"ok": true}` or `{"error": "..."}` (exit status 0 or 1).

use std::ffi::OsString;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use hangar_runtime::{OnnxRuntime, Runtime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How to run the check: `program args…`, reading the model on stdin.
#[derive(Debug, Clone)]
pub struct ModelCheck {
    pub program: PathBuf,
    pub args: Vec<OsString>,
    /// Longest the child may take to load and warm up a model.
    pub timeout: Duration,
}

impl ModelCheck {
    /// The running binary as the checker: `EXE validate-model --ort-dylib DYLIB`.
    pub fn this_binary(ort_dylib: &Path, timeout: Duration) -> std::io::Result<Self> {
        Ok(ModelCheck {
            program: std::env::current_exe()?,
            args: vec![
                "validate-model".into(),
                "--ort-dylib".into(),
                ort_dylib.as_os_str().to_owned(),
            ],
            timeout,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// The child loaded the file and refused it, with ONNX Runtime's reason.
    #[error("{0}")]
    Refused(String),
    #[error("loading this model killed the process that checks new models ({0}); it cannot be served safely")]
    Crashed(String),
    #[error("the model did not finish loading and warming up within {0:?} (--model-check-timeout); it cannot be served")]
    TimedOut(Duration),
    /// The checker could not be run at all: the server's problem.
    #[error("the model check could not run: {0}")]
    Unavailable(String),
}

/// The most of the child's answer that is read.
const MAX_ANSWER: u64 = 64 * 1024;

/// Runs the check on `bytes`.
pub async fn check(config: &ModelCheck, bytes: &[u8]) -> Result<(), CheckError> {
    let unavailable = |e: std::io::Error| CheckError::Unavailable(e.to_string());
    let mut child = tokio::process::Command::new(&config.program)
        .args(&config.args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(unavailable)?;
    let mut stdin = child
        .stdin
        .take()
        .ok_or_else(|| CheckError::Unavailable("no stdin".into()))?;
    let mut stdout = child
        .stdout
        .take()
        .ok_or_else(|| CheckError::Unavailable("no stdout".into()))?;
    let run = async {
        // A child that dies early closes its stdin: a write error is not
        // the verdict, the exit status is.
        let feed = async {
            let _ = stdin.write_all(bytes).await;
            drop(stdin);
        };
        let mut answer = Vec::new();
        let read = async {
            let _ = (&mut stdout)
                .take(MAX_ANSWER)
                .read_to_end(&mut answer)
                .await;
        };
        tokio::join!(feed, read);
        let status = child.wait().await.map_err(unavailable)?;
        Ok::<_, CheckError>((status, answer))
    };
    let (status, answer) = match tokio::time::timeout(config.timeout, run).await {
        Ok(result) => result?,
        // Dropping `run` drops the child, which kills it (kill_on_drop).
        Err(_) => return Err(CheckError::TimedOut(config.timeout)),
    };
    if status.success() {
        return Ok(());
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return Err(CheckError::Crashed(signal_name(signal)));
        }
    }
    match serde_json::from_slice::<serde_json::Value>(&answer)
        .ok()
        .and_then(|v| v["error"].as_str().map(str::to_string))
    {
        Some(reason) => Err(CheckError::Refused(reason)),
        None => Err(CheckError::Crashed(format!("exit status {status}"))),
    }
}

fn signal_name(signal: i32) -> String {
    let name = match signal {
        4 => "SIGILL",
        6 => "SIGABRT",
        7 => "SIGBUS",
        8 => "SIGFPE",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        _ => return format!("signal {signal}"),
    };
    format!("signal {signal}, {name}")
}

/// The child's side: reads a model from stdin, loads and warms it up with
/// ONNX Runtime, prints the verdict. Returns the exit status.
pub fn child_main(ort_dylib: &Path) -> i32 {
    let mut bytes = Vec::new();
    let outcome = std::io::stdin()
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read the model: {e}"))
        .and_then(|_| OnnxRuntime::init(ort_dylib, 1).map_err(|e| e.to_string()))
        .and_then(|runtime| runtime.load(&bytes).map(drop).map_err(|e| e.to_string()));
    let (line, status) = match outcome {
        Ok(()) => (serde_json::json!({"ok": true}), 0),
        Err(e) => (serde_json::json!({"error": e}), 1),
    };
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
    status
}
