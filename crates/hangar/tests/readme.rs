//! The README runs as written (issue 18).
//!
//! Every fenced shell block of `README.md` (info string `sh`, `bash` or
//! `shell`) is run in order, as a newcomer would paste it into a terminal at
//! the repository's root, against a server this test starts the way
//! `make run` does: `hangar serve --example` on a free loopback port with a
//! fresh data directory, no administrator token chosen in advance. A fenced
//! `text` or `json` block that directly follows a shell block is that
//! block's output as the README shows it, and is compared with what the block
//! printed (stdout and stderr together, as a terminal shows them), allowing
//! `…` for what varies:
//!
//! - in a text line, `…` matches any run of characters; a line that is only
//!   `…` matches any number of lines;
//! - in JSON, `…` stands for any value (an array holding only `…` for any
//!   array), and a string containing `…` matches as a text line does;
//!   numbers agree to 1e-5 relative.
//!
//! A block is run by bash with `set -eo pipefail`, so the first failing
//! command fails it (or gives the exit code its directive expects). Variables
//! a block defines carry over to the blocks after it, as in one terminal.
//! What this test does differently from a person, knowingly:
//!
//! - `hangar` is the binary cargo built for this test (a shell function, so
//!   whatever `PATH` the README sets does not matter), and `HANGAR_SERVER`
//!   names this test's server; `localhost:8080` and `127.0.0.1:8080` in the
//!   blocks and in their shown output are replaced by its address;
//! - `curl` gets `--fail-with-body`, so an HTTP error fails the block (with
//!   `-s` alone, curl exits 0 on a 409 and the README would "pass");
//! - the blocks run in a temporary directory holding links to the
//!   repository's `examples` and `testdata` (files the README writes, such as
//!   `release.key`, land there), with `HOME` in it too (so `hangar login`
//!   stores credentials there).
//!
//! A block can carry a directive, an HTML comment on the line just above its
//! fence (invisible on the rendered page):
//!
//! - `<!-- readme-test: skip: REASON -->`: not run (this test reports it, with
//!   the reason);
//! - `<!-- readme-test: from-server: REASON -->`: a block of `export NAME=…`
//!   lines whose values the server prints on start (`export NAME=VALUE`);
//!   this test sets them from its own server's output;
//! - `<!-- readme-test: exit N -->`: the block must exit with N, and must show
//!   its output.
//!
//! The test is bounded in time (each block, and the whole run), and stops the
//! server it started by its PID: SIGTERM, then SIGKILL if it lingers. It
//! prints which blocks it ran and which it skipped, and why
//! (`cargo test -p hangar --test readme -- --nocapture`; with
//! `HANGAR_README_SHOW=1`, also what each block printed).

mod common;

use std::fs::File;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{free_addrs, http_status, repo, HANGAR, READY_TIMEOUT};
use serde_json::Value;

/// Longest a block may take (a push loads a model; a debug build is slow).
const BLOCK_TIMEOUT: Duration = Duration::from_secs(120);
/// Longest the whole README may take.
const TOTAL_TIMEOUT: Duration = Duration::from_secs(600);
/// The address the README assumes (`make run`'s).
const README_ADDRS: [&str; 2] = ["localhost:8080", "127.0.0.1:8080"];

#[derive(Debug, Clone, PartialEq)]
enum Directive {
    Skip(String),
    FromServer,
    Exit(i32),
}

#[derive(Debug, Clone)]
struct Fence {
    /// 1-based line of the opening fence.
    line: usize,
    /// 1-based line of the closing fence.
    end: usize,
    info: String,
    text: String,
    directive: Option<Directive>,
}

#[derive(Debug)]
struct Block {
    line: usize,
    text: String,
    directive: Option<Directive>,
    /// The shown output: its kind (`text` or `json`), text and line.
    output: Option<(String, String, usize)>,
}

fn parse_directive(comment: &str, line: usize) -> Directive {
    let body = comment
        .trim()
        .strip_prefix("<!-- readme-test:")
        .and_then(|s| s.strip_suffix("-->"))
        .unwrap_or_else(|| {
            panic!("README.md:{line}: a readme-test directive is one line: <!-- readme-test: … -->")
        })
        .trim();
    if let Some(reason) = body.strip_prefix("skip:") {
        let reason = reason.trim();
        assert!(!reason.is_empty(), "README.md:{line}: a skip says why");
        return Directive::Skip(reason.to_string());
    }
    if body.starts_with("from-server:") {
        return Directive::FromServer;
    }
    if let Some(code) = body.strip_prefix("exit ") {
        return Directive::Exit(
            code.trim()
                .parse()
                .unwrap_or_else(|_| panic!("README.md:{line}: `exit N` takes a number")),
        );
    }
    panic!("README.md:{line}: unknown readme-test directive {body:?} (skip: REASON, from-server: REASON, exit N)")
}

/// Every fenced block of a Markdown text, with the directive on the line
/// just above its fence.
fn fences(markdown: &str) -> Vec<Fence> {
    let lines: Vec<&str> = markdown.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let Some(info) = lines[i].strip_prefix("```") else {
            assert!(
                !lines[i].contains("<!-- readme-test:")
                    || lines.get(i + 1).is_some_and(|l| l.starts_with("```")),
                "README.md:{}: a readme-test directive goes on the line just above a fence",
                i + 1
            );
            i += 1;
            continue;
        };
        let directive = i
            .checked_sub(1)
            .map(|p| lines[p])
            .filter(|l| l.contains("<!-- readme-test:"))
            .map(|l| parse_directive(l, i));
        let start = i;
        i += 1;
        let mut text = String::new();
        while i < lines.len() && !lines[i].starts_with("```") {
            text.push_str(lines[i]);
            text.push('\n');
            i += 1;
        }
        assert!(i < lines.len(), "README.md:{}: unclosed fence", start + 1);
        out.push(Fence {
            line: start + 1,
            end: i + 1,
            info: info.trim().to_string(),
            text,
            directive,
        });
        i += 1;
    }
    out
}

fn is_shell(info: &str) -> bool {
    matches!(
        info.split_whitespace().next(),
        Some("sh" | "bash" | "shell")
    )
}

/// The shell blocks, each with the output block that directly follows it
/// (nothing but blank lines between).
fn blocks(markdown: &str) -> Vec<Block> {
    let lines: Vec<&str> = markdown.lines().collect();
    let fences = fences(markdown);
    let mut out = Vec::new();
    for (k, f) in fences.iter().enumerate() {
        if !is_shell(&f.info) {
            assert!(
                f.directive.is_none(),
                "README.md:{}: readme-test directives go on shell blocks",
                f.line
            );
            continue;
        }
        let output = fences.get(k + 1).filter(|next| {
            matches!(next.info.as_str(), "text" | "json")
                && lines[f.end..next.line - 1]
                    .iter()
                    .all(|l| l.trim().is_empty())
        });
        out.push(Block {
            line: f.line,
            text: f.text.clone(),
            directive: f.directive.clone(),
            output: output.map(|o| (o.info.clone(), o.text.clone(), o.line)),
        });
    }
    out
}

// ---- matching shown output -------------------------------------------------

/// A line against a pattern where `…` matches any run of characters.
fn line_matches(pattern: &str, line: &str) -> bool {
    let parts: Vec<&str> = pattern.split('…').collect();
    if parts.len() == 1 {
        return pattern == line;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !line.starts_with(first) || line.len() < first.len() + last.len() || !line.ends_with(last) {
        return false;
    }
    let mut rest = &line[first.len()..line.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    true
}

/// Lines against pattern lines; a pattern line that is only `…` matches any
/// number of lines.
fn lines_match(pattern: &[&str], lines: &[&str]) -> bool {
    match pattern.split_first() {
        None => lines.is_empty(),
        Some((p, rest)) if p.trim() == "…" => {
            (0..=lines.len()).any(|skip| lines_match(rest, &lines[skip..]))
        }
        Some((p, rest)) => {
            !lines.is_empty() && line_matches(p, lines[0]) && lines_match(rest, &lines[1..])
        }
    }
}

fn normalized(text: &str) -> Vec<&str> {
    let mut lines: Vec<&str> = text.lines().map(str::trim_end).collect();
    while lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    lines
}

fn text_matches(pattern: &str, actual: &str) -> bool {
    lines_match(&normalized(pattern), &normalized(actual))
}

/// Quotes every bare `…` of a JSON pattern, so that it parses.
fn quote_ellipses(pattern: &str) -> String {
    let mut out = String::new();
    let (mut in_string, mut escaped) = (false, false);
    for c in pattern.chars() {
        if in_string {
            out.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
        } else if c == '…' {
            out.push_str("\"…\"");
        } else {
            if c == '"' {
                in_string = true;
            }
            out.push(c);
        }
    }
    out
}

fn json_matches(pattern: &Value, actual: &Value) -> bool {
    match (pattern, actual) {
        (Value::String(p), _) if p == "…" => true,
        (Value::String(p), Value::String(a)) => line_matches(p, a),
        (Value::Number(p), Value::Number(a)) => {
            let (p, a) = (
                p.as_f64().unwrap_or(f64::NAN),
                a.as_f64().unwrap_or(f64::NAN),
            );
            (p - a).abs() <= 1e-5 * p.abs().max(a.abs()).max(1e-6)
        }
        (Value::Array(p), Value::Array(_)) if p.len() == 1 && p[0] == "…" => true,
        (Value::Array(p), Value::Array(a)) => {
            p.len() == a.len() && p.iter().zip(a).all(|(p, a)| json_matches(p, a))
        }
        (Value::Object(p), Value::Object(a)) => {
            p.len() == a.len()
                && p.iter()
                    .all(|(k, p)| a.get(k).is_some_and(|a| json_matches(p, a)))
        }
        (p, a) => p == a,
    }
}

fn output_matches(kind: &str, pattern: &str, actual: &str) -> Result<(), String> {
    if kind == "json" {
        let p: Value = serde_json::from_str(&quote_ellipses(pattern))
            .map_err(|e| format!("the README's JSON does not parse ({e})"))?;
        let a: Value = serde_json::from_str(actual)
            .map_err(|e| format!("the block did not print one JSON value ({e})"))?;
        return if json_matches(&p, &a) {
            Ok(())
        } else {
            Err("the JSON differs".into())
        };
    }
    if text_matches(pattern, actual) {
        Ok(())
    } else {
        Err("the text differs".into())
    }
}

// ---- the server and the shell -----------------------------------------------

/// `hangar serve --example` as `make run` starts it; stopped by PID on drop.
struct Server {
    child: Child,
    addr: std::net::SocketAddr,
    log: PathBuf,
}

impl Server {
    fn start(dir: &Path, work: &Path) -> Server {
        let ort = std::env::var_os("ORT_DYLIB_PATH")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo().join("vendor/onnxruntime/libonnxruntime.so"));
        assert!(
            ort.is_file(),
            "{} is missing; run scripts/fetch-onnxruntime.sh",
            ort.display()
        );
        let addr = free_addrs(1)[0];
        let log = dir.join("server.log");
        let out = File::create(&log).unwrap();
        let mut cmd = Command::new(HANGAR);
        cmd.args([
            "serve",
            "--example",
            "--addr",
            &addr.to_string(),
            "--data-dir",
        ])
        .arg(dir.join("data"))
        .current_dir(work)
        .env("ORT_DYLIB_PATH", &ort)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out);
        // No token chosen in advance: the server makes one and prints it, as
        // on anyone's first start.
        for var in [
            "HANGAR_ADMIN_TOKEN",
            "HANGAR_CONFIG",
            "HANGAR_DATA_DIR",
            "HANGAR_ADDR",
            "HANGAR_GRPC_ADDR",
        ] {
            cmd.env_remove(var);
        }
        let mut server = Server {
            child: cmd.spawn().expect("start hangar serve"),
            addr,
            log,
        };
        let deadline = Instant::now() + READY_TIMEOUT;
        while http_status(addr, "/v2/health/ready") != Some(200) {
            if let Some(status) = server.child.try_wait().unwrap() {
                panic!("the server exited ({status}):\n{}", server.log_text());
            }
            assert!(
                Instant::now() < deadline,
                "the server was not ready within {READY_TIMEOUT:?}:\n{}",
                server.log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        server
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `NAME` from an `export NAME=VALUE` line the server printed.
    fn printed(&self, name: &str) -> Option<String> {
        let prefix = format!("export {name}=");
        self.log_text()
            .lines()
            .find_map(|l| l.trim().strip_prefix(&prefix).map(str::to_string))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // SIGTERM by PID (a graceful stop), SIGKILL if it lingers.
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What runs before and after each block: the variables earlier blocks
/// defined, `hangar` and `curl` as described above, and on exit the
/// variables this block defined, for the next.
const PREAMBLE: &str = r#"set -eo pipefail
__readme_base=$(compgen -v | LC_ALL=C sort)
source "$README_STATE"
hangar() { "$README_HANGAR" "$@"; }
curl() { command curl --fail-with-body --max-time 60 "$@"; }
__readme_save() {
  local __readme_v
  for __readme_v in $(LC_ALL=C comm -13 <(echo "$__readme_base") <(compgen -v | LC_ALL=C sort)); do
    case "$__readme_v" in
      __readme*|BASH*|FUNCNAME|PIPESTATUS|_|COLUMNS|LINES|OPTIND|OPTARG) ;;
      *) declare -p "$__readme_v" ;;
    esac
  done > "$README_STATE.next"
}
trap __readme_save EXIT
"#;

struct Shell {
    work: PathBuf,
    home: PathBuf,
    state: PathBuf,
    url: String,
}

struct Ran {
    code: Option<i32>,
    output: String,
}

impl Shell {
    /// Runs one block's text; `None` when it timed out.
    fn run(&self, line: usize, text: &str) -> Option<Ran> {
        let script = self.work.join(format!(".readme-block-{line}.sh"));
        std::fs::write(&script, format!("{PREAMBLE}# README.md:{line}\n{text}")).unwrap();
        let out_path = self.work.join(format!(".readme-block-{line}.out"));
        let out = File::create(&out_path).unwrap();
        let mut cmd = Command::new("bash");
        cmd.arg("--noprofile")
            .arg("--norc")
            .arg(&script)
            .current_dir(&self.work)
            .env("README_STATE", &self.state)
            .env("README_HANGAR", HANGAR)
            .env("HANGAR_SERVER", &self.url)
            .env("HOME", &self.home)
            .env("NO_COLOR", "1")
            .env("NO_PROXY", "127.0.0.1,localhost")
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            // Its own process group, so that a timeout stops all of it.
            .process_group(0);
        for var in [
            "HANGAR_TOKEN",
            "HANGAR_CONFIG_DIR",
            "XDG_CONFIG_HOME",
            "HANGAR_ADMIN_TOKEN",
            "http_proxy",
            "HTTP_PROXY",
            "https_proxy",
            "HTTPS_PROXY",
            "all_proxy",
            "ALL_PROXY",
        ] {
            cmd.env_remove(var);
        }
        let mut child = cmd.spawn().expect("run bash");
        let deadline = Instant::now() + BLOCK_TIMEOUT;
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break Some(status);
            }
            if Instant::now() > deadline {
                let group = format!("-{}", child.id());
                let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let output = std::fs::read_to_string(&out_path).unwrap_or_default();
        status.map(|s| Ran {
            code: s.code(),
            output,
        })
    }

    /// Keeps the variables the block defined.
    fn keep_state(&self) {
        let next = self.state.with_extension("sh.next");
        if next.exists() {
            std::fs::rename(&next, &self.state).unwrap();
        }
    }
}

/// The README's address replaced by the test server's.
fn at(text: &str, addr: &str) -> String {
    README_ADDRS
        .iter()
        .fold(text.to_string(), |t, a| t.replace(a, addr))
}

fn first_line(text: &str) -> &str {
    text.lines()
        .find(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .unwrap_or("")
        .trim()
}

#[test]
fn the_readme_runs_as_written() {
    // What the README's prerequisites promise: bash and a curl that knows
    // --fail-with-body (7.76 or later).
    let help = Command::new("curl").args(["--help", "all"]).output();
    assert!(
        help.is_ok_and(|h| String::from_utf8_lossy(&h.stdout).contains("--fail-with-body")),
        "the README's steps need curl 7.76 or later (apt-get install curl)"
    );
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let blocks = blocks(&readme);
    assert!(
        blocks.len() > 20,
        "{} shell blocks in README.md?",
        blocks.len()
    );

    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    let home = dir.path().join("home");
    std::fs::create_dir_all(&work).unwrap();
    std::fs::create_dir_all(&home).unwrap();
    for linked in ["examples", "testdata"] {
        std::os::unix::fs::symlink(repo().join(linked), work.join(linked)).unwrap();
    }
    let server = Server::start(dir.path(), &work);
    let addr = server.addr.to_string();
    let state = dir.path().join("state.sh");
    std::fs::write(&state, "").unwrap();
    let shell = Shell {
        work,
        home,
        state,
        url: format!("http://{addr}"),
    };

    let started = Instant::now();
    let mut report: Vec<String> = Vec::new();
    let (mut ran, mut skipped) = (0, 0);
    for b in &blocks {
        let what = first_line(&b.text);
        let fail = |why: String, report: &[String]| -> ! {
            panic!(
                "README.md:{}: {why}\n\nblocks so far:\n{}\n\nserver log (tail):\n{}",
                b.line,
                report.join("\n"),
                server
                    .log_text()
                    .lines()
                    .rev()
                    .take(40)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect::<Vec<_>>()
                    .join("\n")
            )
        };
        assert!(
            started.elapsed() < TOTAL_TIMEOUT,
            "the README took longer than {TOTAL_TIMEOUT:?}"
        );
        match &b.directive {
            Some(Directive::Skip(reason)) => {
                skipped += 1;
                report.push(format!("skipped README.md:{}  {what}  — {reason}", b.line));
                continue;
            }
            Some(Directive::FromServer) => {
                let mut defs = String::new();
                for l in b.text.lines().filter(|l| !l.trim().is_empty()) {
                    let name = l
                        .trim()
                        .strip_prefix("export ")
                        .and_then(|r| r.split_once('='))
                        .map(|(n, _)| n)
                        .unwrap_or_else(|| {
                            fail(format!("a from-server block holds only `export NAME=…` lines, not {l:?}"), &report)
                        });
                    let value = server.printed(name).unwrap_or_else(|| {
                        fail(
                            format!(
                                "the server printed no `export {name}=…` line:\n{}",
                                server.log_text()
                            ),
                            &report,
                        )
                    });
                    defs.push_str(&format!("export {name}='{value}'\n"));
                }
                let mut f = std::fs::OpenOptions::new()
                    .append(true)
                    .open(&shell.state)
                    .unwrap();
                f.write_all(defs.as_bytes()).unwrap();
                ran += 1;
                report.push(format!(
                    "set     README.md:{}  {what}  (values from the server's output)",
                    b.line
                ));
                continue;
            }
            _ => {}
        }
        let expected_code = match b.directive {
            Some(Directive::Exit(code)) => {
                if b.output.is_none() {
                    fail("a block expected to fail shows its output".into(), &report);
                }
                code
            }
            _ => 0,
        };
        let Some(result) = shell.run(b.line, &at(&b.text, &addr)) else {
            fail(format!("timed out after {BLOCK_TIMEOUT:?}"), &report)
        };
        if result.code != Some(expected_code) {
            fail(
                format!(
                    "exit code {:?}, expected {expected_code}; it printed:\n{}",
                    result.code, result.output
                ),
                &report,
            );
        }
        if let Some((kind, shown, line)) = &b.output {
            if let Err(why) = output_matches(kind, &at(shown, &addr), &result.output) {
                fail(
                    format!(
                        "{why} from the output shown at README.md:{line}.\n--- shown:\n{shown}--- printed:\n{}",
                        result.output
                    ),
                    &report,
                );
            }
        }
        if std::env::var_os("HANGAR_README_SHOW").is_some() {
            println!("--- README.md:{}\n{}", b.line, result.output);
        }
        shell.keep_state();
        ran += 1;
        report.push(format!(
            "ran     README.md:{}  {what}{}",
            b.line,
            if b.output.is_some() {
                "  (output compared)"
            } else {
                ""
            }
        ));
    }
    println!(
        "README.md: {ran} blocks run, {skipped} skipped, in {:.1} s:\n{}",
        started.elapsed().as_secs_f64(),
        report.join("\n")
    );
    drop(server);
}

#[test]
fn shown_output_matches_with_placeholders() {
    assert!(line_matches(
        "pushed x version 2 (sha256:…, onnx)",
        "pushed x version 2 (sha256:ab12, onnx)"
    ));
    assert!(!line_matches(
        "pushed x version 2 (sha256:…, onnx)",
        "pushed x version 3 (sha256:ab12, onnx)"
    ));
    assert!(line_matches("a…b…c", "abc"));
    assert!(!line_matches("a…a", "a"));
    assert!(text_matches("first\n…\nlast\n", "first\nx\ny\nlast\n\n"));
    assert!(text_matches("first\n…\n", "first\n"));
    assert!(!text_matches("first\nlast\n", "first\nmiddle\nlast\n"));
    let p: Value = serde_json::from_str(&quote_ellipses(
        r#"{"id":"…","a":[…],"b":[1,…],"c":"x…","d":0.45941597}"#,
    ))
    .unwrap();
    let a = serde_json::json!({"id": "01ab", "a": [1, 2, 3], "b": [1, {"k": 2}], "c": "xyz", "d": 0.459416});
    assert!(json_matches(&p, &a));
    let a = serde_json::json!({"id": "01ab", "a": [], "b": [2, 2], "c": "xyz", "d": 0.459416});
    assert!(!json_matches(&p, &a));
}

#[test]
fn directives_and_output_blocks_are_found() {
    let md = "text\n\n<!-- readme-test: skip: not here -->\n```sh\nmake run\n```\n\n```sh\necho hi\n```\n\n```text\nhi\n```\n\nprose\n\n```json\n{}\n```\n<!-- readme-test: exit 1 -->\n```bash\nfalse\n```\n\n```text\n```\n";
    let b = blocks(md);
    assert_eq!(b.len(), 3);
    assert_eq!(b[0].directive, Some(Directive::Skip("not here".into())));
    assert_eq!(b[0].output, None);
    assert_eq!(b[1].output.as_ref().map(|o| o.1.as_str()), Some("hi\n"));
    assert_eq!(b[2].directive, Some(Directive::Exit(1)));
    assert!(b[2].output.is_some());
}
