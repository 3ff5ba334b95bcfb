//! `hangar`: parse the command line, dispatch to a command, and turn the outcome
//! into an exit code. Exit codes are decided here and nowhere else.

mod alerts;
mod alias;
mod approvals;
mod audit;
mod cli;
mod client;
mod consumer_keys;
mod credentials;
mod deploy;
mod deployments;
mod export;
mod feedback;
mod login;
mod model;
mod monitor;
mod output;
mod predict;
mod principals;
mod revision;
mod rollout;
mod serve;
mod signing;
mod status;
mod store;

use std::io::Write;

/// mimalloc instead of glibc's malloc: under load the server allocates per
/// request on many threads, and glibc's arenas (malloc, free, consolidation)
/// took about a fifth of its CPU in a profile (docs/benchmarks.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};

/// The command did what was asked (also `--help` and `--version`).
const SUCCESS: u8 = 0;
/// The command failed; the reason is the one `error:` line on stderr.
const FAILURE: u8 = 1;
/// The command line itself was wrong (clap's usage errors).
const USAGE: u8 = 2;

fn main() -> ExitCode {
    let code = match run() {
        Ok(()) => SUCCESS,
        Err(err) => report(&err),
    };
    ExitCode::from(code)
}

fn run() -> anyhow::Result<()> {
    let cli = Cli::try_parse()?;
    match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::ValidateModel(args) => {
            std::process::exit(hangar_server::model_check::child_main(&args.ort_dylib))
        }
        Command::Model(args) => block_on(model::run(args)),
        Command::Alias(args) => block_on(alias::run(args)),
        Command::Deploy(args) => block_on(deploy::run(args)),
        Command::Promote(args) => block_on(rollout::promote(args)),
        Command::Rollback(args) => block_on(rollout::rollback(args)),
        Command::Deployments(args) => block_on(deployments::run(args)),
        Command::Predict(args) => block_on(predict::run(args)),
        Command::Feedback(args) => block_on(feedback::run(args)),
        Command::Monitor(args) => block_on(monitor::run(args)),
        Command::Export(args) => block_on(export::run(args)),
        Command::Alerts(args) => block_on(alerts::run(args)),
        Command::Status(args) => block_on(status::run(args)),
        Command::Login(args) => block_on(login::login(args)),
        Command::Logout(args) => block_on(login::logout(args)),
        Command::Whoami(args) => block_on(login::whoami(args)),
        Command::Team(args) => block_on(principals::team(args)),
        Command::User(args) => block_on(principals::user(args)),
        Command::Token(args) => block_on(login::token(args)),
        Command::ConsumerKey(args) => block_on(consumer_keys::run(args)),
        Command::Approve(args) => block_on(approvals::decide(args, true)),
        Command::Reject(args) => block_on(approvals::decide(args, false)),
        Command::Approvals(args) => block_on(approvals::show(args)),
        Command::Audit(args) => block_on(audit::run(args)),
        Command::Keys(args) => block_on(signing::run(args)),
        Command::Store(args) => block_on(store::run(args)),
    }
}

/// Client commands make a handful of sequential requests: one thread is plenty.
fn block_on(command: impl std::future::Future<Output = anyhow::Result<()>>) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(command)
}

/// Prints the failure and picks its exit code.
fn report(err: &anyhow::Error) -> u8 {
    if let Some(clap_err) = err.downcast_ref::<clap::Error>() {
        // Help and version requests arrive as "errors" that print to stdout.
        let _ = clap_err.print();
        return if clap_err.use_stderr() {
            USAGE
        } else {
            SUCCESS
        };
    }
    // One line, whatever the causes contain, so scripts can `grep '^error:'`.
    let message = format!("{err:#}")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let _ = writeln!(std::io::stderr(), "error: {message}");
    FAILURE
}
