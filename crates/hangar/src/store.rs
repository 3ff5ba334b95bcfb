//! `hangar store copy`: moves an embedded install (a data directory's SQLite
//! file and artifact files) into PostgreSQL and another artifact store. The
//! copy itself is `hangar_store::copy`; this is its command line and its
//! progress bars.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use hangar_store::copy::{self, ArtifactProgress, Progress};
use indicatif::{HumanBytes, ProgressBar, ProgressStyle};

pub const STORE_ABOUT: &str = "\
Move an embedded install into shared storage, so that several Hangar servers can serve it.

`hangar store copy` reads a data directory (its SQLite file and its artifact files) and \
writes everything into an empty PostgreSQL database and an artifact store: models, versions \
and their artifacts, aliases with their history, deployments with their revisions, baselines, \
teams, users, tokens and consumer keys, approvals and signatures, the audit log with its hash \
chain intact, alert rules, events, channels and deliveries, the prediction log with its \
feedback, and the monitoring aggregates.";

#[derive(Args, Debug)]
pub struct StoreArgs {
    #[command(subcommand)]
    pub command: StoreCommand,
}

#[derive(Subcommand, Debug)]
pub enum StoreCommand {
    /// Copy a data directory into an empty PostgreSQL database and an artifact store
    #[command(
        long_about = "Copy a data directory into an empty PostgreSQL database and an artifact \
            store, with a progress bar.\n\n\
            Stop the server using the data directory first; the directory is only read. The \
            database is migrated first and must hold no data (a target with data is refused, \
            naming a table that has some). Artifacts are copied first, each checked against \
            its digest, then every row in one transaction: a copy that fails leaves the \
            database as it was, and running it again is safe.\n\n\
            Afterwards start the servers with --database and --artifacts naming the targets, \
            and check the audit chain with `hangar audit verify`.",
        after_help = "Examples:\n  \
            hangar store copy --data-dir /var/lib/hangar \\\n      \
            --to-database postgres://hangar@db.internal:5432/hangar \\\n      \
            --to-artifacts s3://models/hangar\n  \
            hangar store copy --data-dir ./hangar-data \\\n      \
            --to-database postgres://hangar@127.0.0.1:5432/hangar --to-artifacts /srv/hangar/artifacts"
    )]
    Copy(CopyArgs),
}

#[derive(Args, Debug)]
pub struct CopyArgs {
    /// The data directory to copy (the server's --data-dir) [default: ./hangar-data]
    #[arg(long, env = "HANGAR_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// The PostgreSQL database to copy into: postgres://USER[:PASS]@HOST:PORT/DB (empty)
    #[arg(long, value_name = "URL", value_parser = postgres_url)]
    pub to_database: String,

    /// The artifact store to copy into: a directory, file://PATH or s3://BUCKET/PREFIX
    #[arg(long, value_name = "URL")]
    pub to_artifacts: String,
}

/// Only PostgreSQL is a target: the embedded database is what is copied.
fn postgres_url(s: &str) -> Result<String, String> {
    if s.starts_with("postgres://") || s.starts_with("postgresql://") {
        Ok(s.to_string())
    } else {
        Err("expected postgres://USER[:PASS]@HOST:PORT/DB".into())
    }
}

pub async fn run(args: StoreArgs) -> anyhow::Result<()> {
    match args.command {
        StoreCommand::Copy(args) => copy(args).await,
    }
}

async fn copy(args: CopyArgs) -> anyhow::Result<()> {
    let data_dir = args
        .data_dir
        .unwrap_or_else(|| PathBuf::from("hangar-data"));
    let database = hangar_store::redact_url(&args.to_database);

    let plan = copy::plan(&data_dir.join("hangar.db"), &args.to_database)
        .await
        .with_context(|| format!("cannot copy {} into {database}", data_dir.display()))?;
    // With object storage the copy keeps a local cache of its own, removed
    // when the copy ends (the servers that take over keep theirs).
    let cache = tempfile::Builder::new()
        .prefix("hangar-store-copy-")
        .tempdir()
        .context("creating the copy's artifact cache")?;
    let target = copy::open_artifact_target(&args.to_artifacts, cache.path()).await?;

    // Artifacts first: a row never names an artifact the target lacks.
    let digests = plan.digests();
    let bar = progress_bar(
        "artifacts [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
        0,
    );
    let artifacts = copy::copy_artifacts(
        &data_dir.join("artifacts"),
        &target,
        &digests,
        |p: ArtifactProgress| {
            bar.set_length(p.total_bytes);
            bar.set_position(p.bytes);
        },
    )
    .await
    .context("copying the artifacts")?;
    bar.finish_and_clear();

    let total: u64 = plan.tables().map(|(_, rows)| rows).sum();
    let tables = plan.tables().count();
    let bar = progress_bar(
        "rows [{bar:30}] {pos}/{len} ({per_sec}, {eta}) {msg}",
        total,
    );
    // Rows of the tables finished before the current one.
    let mut before = 0;
    let mut current = (String::new(), 0);
    plan.copy_rows(|p: Progress<'_>| {
        if p.table != current.0 {
            before += current.1;
            current = (p.table.to_string(), p.total);
            bar.set_message(p.table.to_string());
        }
        bar.set_position(before + p.done);
    })
    .await
    .with_context(|| format!("copying the rows into {database}"))?;
    bar.finish_and_clear();

    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "copied {} artifact(s) ({}) to {}",
        artifacts.files,
        HumanBytes(artifacts.bytes),
        args.to_artifacts
    )?;
    writeln!(
        out,
        "copied {total} row(s) of {tables} tables to {database}"
    )?;
    writeln!(
        out,
        "next: start the servers with --database and --artifacts naming these, \
         then check the audit chain with `hangar audit verify`"
    )?;
    Ok(())
}

/// A progress bar on stderr; hidden when stderr is not a terminal.
fn progress_bar(template: &str, length: u64) -> ProgressBar {
    let bar = ProgressBar::new(length);
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}
