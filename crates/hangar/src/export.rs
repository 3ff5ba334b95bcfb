//! `hangar export predictions`: download a deployment's prediction log as CSV,
//! to stdout or a file, or convert it to Parquet.
//!
//! A file appears only when the export is complete: the download goes to a
//! `.part` file beside it, renamed at the end and removed on failure.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};
use indicatif::{HumanBytes, ProgressBar, ProgressStyle};
use parquet::basic::{Compression, LogicalType, Repetition, TimeUnit, Type as PhysicalType};
use parquet::data_type::{ByteArray, ByteArrayType, DoubleType, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::Type;
use serde_json::json;
use tokio::io::AsyncWriteExt;

use crate::cli::values::deployment_name;
use crate::cli::{ClientArgs, WindowArgs};
use crate::client::Client;
use crate::output::{self, OutputFormat};
use clap::{Args, Subcommand};

#[derive(Args, Debug)]
pub struct ExportArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    #[command(subcommand)]
    pub command: ExportCommand,
}

#[derive(Subcommand, Debug)]
pub enum ExportCommand {
    /// Write a deployment's logged predictions over a window to CSV or Parquet
    #[command(
        long_about = "Write a deployment's logged predictions over a window to a file: one row \
            per predicted row, with columns at, request_id, row, row_id, revision, model, \
            version, inputs (the features as a JSON array), outputs (JSON), score, predicted, \
            segments (JSON), latency_us and label (the feedback, when it came).\n\n\
            -o FILE ending in .parquet writes Parquet (snappy-compressed; at as a UTC \
            timestamp, numbers typed, empty cells null); any other name writes the server's \
            CSV unchanged; without -o the CSV goes to stdout. The file appears only once the \
            export is complete. The window is as for `hangar monitor` (default: the last 24 \
            hours). Prints where the rows went: rows, file, format and size (--output json: \
            as a JSON object).",
        after_help = "Examples:\n  \
            hangar export predictions credit-api -o today.csv\n  \
            hangar export predictions credit-api --from 2025-03-01 --to 2025-03-31 -o march.parquet\n  \
            hangar export predictions credit-api --from 2h | grep ',1$'"
    )]
    Predictions(ExportPredictionsArgs),
}

#[derive(Args, Debug)]
pub struct ExportPredictionsArgs {
    /// Name of the deployment whose predictions to export
    #[arg(value_name = "DEPLOYMENT", value_parser = deployment_name)]
    pub deployment: String,

    #[command(flatten)]
    pub window: WindowArgs,

    /// Write to FILE: Parquet when it ends in .parquet, CSV otherwise ("-" or none:
    /// CSV to stdout)
    #[arg(short = 'o', long = "out", value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// Rows per Parquet row group: large enough for good compression, small
/// enough that a group's columns fit comfortably in memory.
const ROW_GROUP_ROWS: usize = 65_536;

pub async fn run(args: ExportArgs) -> anyhow::Result<()> {
    let client = Client::connect(&args.client)?;
    match args.command {
        ExportCommand::Predictions(p) => predictions(&client, args.client.output, p).await,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    Csv,
    Parquet,
}

impl FileFormat {
    /// Parquet for `.parquet` (any case), CSV for anything else.
    pub fn of(path: &Path) -> FileFormat {
        match path.extension().and_then(|e| e.to_str()) {
            Some(ext) if ext.eq_ignore_ascii_case("parquet") => FileFormat::Parquet,
            _ => FileFormat::Csv,
        }
    }

    fn name(self) -> &'static str {
        match self {
            FileFormat::Csv => "csv",
            FileFormat::Parquet => "parquet",
        }
    }
}

async fn predictions(
    client: &Client,
    format: OutputFormat,
    args: ExportPredictionsArgs,
) -> anyhow::Result<()> {
    let window = args.window.window();
    let out = match args.out {
        Some(out) if out.as_os_str() != "-" => out,
        _ => return to_stdout(client, &args.deployment, &window).await,
    };
    let file_format = FileFormat::of(&out);
    // The destination is checked before the first request.
    let csv_suffix = match file_format {
        FileFormat::Csv => "part",
        FileFormat::Parquet => "csv.part",
    };
    let (csv_part, mut file) = Part::create(part_path(&out, csv_suffix)).await?;
    let mut response = client.predictions_csv(&args.deployment, &window).await?;
    let bar = download_bar(response.content_length());
    let mut counter = RecordCounter::default();
    let downloaded = async {
        while let Some(chunk) = response
            .chunk()
            .await
            .context("the download was interrupted")?
        {
            counter.feed(&chunk);
            file.write_all(&chunk)
                .await
                .with_context(|| format!("cannot write {}", csv_part.path.display()))?;
            bar.inc(chunk.len() as u64);
        }
        file.flush().await?;
        anyhow::Ok(())
    }
    .await;
    bar.finish_and_clear();
    downloaded?;
    drop(file);

    let rows = match file_format {
        FileFormat::Csv => {
            csv_part.finish(&out)?;
            counter.data_records()
        }
        FileFormat::Parquet => {
            let (parquet_part, _) = Part::create(part_path(&out, "part")).await?;
            let (csv_path, parquet_path) = (csv_part.path.clone(), parquet_part.path.clone());
            let rows =
                tokio::task::spawn_blocking(move || csv_to_parquet(&csv_path, &parquet_path))
                    .await
                    .context("the Parquet conversion stopped")??;
            parquet_part.finish(&out)?;
            drop(csv_part);
            rows
        }
    };
    let bytes = std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
    output::print(&match format {
        OutputFormat::Json => output::json(&json!({
            "deployment": args.deployment,
            "file": out.display().to_string(),
            "format": file_format.name(),
            "rows": rows,
            "bytes": bytes,
        })),
        OutputFormat::Table => export_summary(rows, &out, file_format, bytes),
    })
}

/// `wrote 300 predictions to x.parquet (Parquet, 41.20 KiB)`
pub fn export_summary(rows: u64, out: &Path, format: FileFormat, bytes: u64) -> String {
    let kind = match format {
        FileFormat::Csv => "CSV",
        FileFormat::Parquet => "Parquet",
    };
    let what = if rows == 1 {
        "prediction"
    } else {
        "predictions"
    };
    let mut line = format!(
        "wrote {rows} {what} to {} ({kind}, {})",
        out.display(),
        HumanBytes(bytes)
    );
    if rows == 0 {
        line.push_str("; none were logged in this window");
    }
    line.push('\n');
    line
}

/// The CSV as it arrives, straight to stdout; a closed pipe ends it quietly.
async fn to_stdout(
    client: &Client,
    deployment: &str,
    window: &crate::client::Window,
) -> anyhow::Result<()> {
    let mut response = client.predictions_csv(deployment, window).await?;
    let bar = download_bar(response.content_length());
    let mut stdout = std::io::stdout().lock();
    let result = async {
        while let Some(chunk) = response
            .chunk()
            .await
            .context("the download was interrupted")?
        {
            match stdout.write_all(&chunk) {
                // `| head` has all it wants.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
                other => other?,
            }
            bar.inc(chunk.len() as u64);
        }
        match stdout.flush() {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
            other => Ok(other?),
        }
    }
    .await;
    bar.finish_and_clear();
    result
}

/// Bytes received on stderr; hidden when stderr is not a terminal.
fn download_bar(length: Option<u64>) -> ProgressBar {
    let (bar, template) = match length {
        Some(length) => (
            ProgressBar::new(length),
            "downloading predictions [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
        ),
        None => (
            ProgressBar::no_length(),
            "downloading predictions {spinner} {bytes} ({bytes_per_sec})",
        ),
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// `x.parquet` → `x.parquet.SUFFIX`, beside it so the rename stays on one
/// file system.
fn part_path(out: &Path, suffix: &str) -> PathBuf {
    let mut name = out.as_os_str().to_owned();
    name.push(".");
    name.push(suffix);
    PathBuf::from(name)
}

/// A file being written; removed when dropped unless [`Part::finish`]ed.
struct Part {
    path: PathBuf,
    kept: bool,
}

impl Part {
    async fn create(path: PathBuf) -> anyhow::Result<(Part, tokio::fs::File)> {
        let file = tokio::fs::File::create(&path)
            .await
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok((Part { path, kept: false }, file))
    }

    /// Moves the finished file to its name.
    fn finish(mut self, to: &Path) -> anyhow::Result<()> {
        std::fs::rename(&self.path, to)
            .with_context(|| format!("cannot move {} to {}", self.path.display(), to.display()))?;
        self.kept = true;
        Ok(())
    }
}

impl Drop for Part {
    fn drop(&mut self) {
        if !self.kept {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Counts CSV records in a byte stream: line breaks outside quoted fields.
#[derive(Debug, Default)]
struct RecordCounter {
    in_quotes: bool,
    records: u64,
    /// Bytes since the last record ended (a last line without a line break).
    pending: bool,
}

impl RecordCounter {
    fn feed(&mut self, bytes: &[u8]) {
        for &b in bytes {
            match b {
                // A doubled quote inside a field toggles twice: no change.
                b'"' => self.in_quotes = !self.in_quotes,
                b'\n' if !self.in_quotes => {
                    self.records += 1;
                    self.pending = false;
                    continue;
                }
                _ => {}
            }
            self.pending = true;
        }
    }

    /// Records after the header.
    fn data_records(&self) -> u64 {
        (self.records + u64::from(self.pending)).saturating_sub(1)
    }
}

/// How a column of the prediction log is typed in Parquet. Columns the CLI
/// does not know (from a newer server) are kept as text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ColumnType {
    /// RFC 3339 text → microseconds since the epoch, UTC.
    Timestamp,
    Int64,
    Double,
    Text,
}

fn column_type(name: &str) -> ColumnType {
    match name {
        "at" => ColumnType::Timestamp,
        "row" | "revision" | "version" | "latency_us" => ColumnType::Int64,
        "score" | "predicted" | "label" => ColumnType::Double,
        // request_id, row_id, model, and the JSON of inputs, outputs and segments.
        _ => ColumnType::Text,
    }
}

/// One column's values for the row group being built; every column is
/// optional, an empty CSV cell being null.
enum ColumnBuffer {
    Int64(Vec<i64>, Vec<i16>),
    Double(Vec<f64>, Vec<i16>),
    Text(Vec<ByteArray>, Vec<i16>),
}

impl ColumnBuffer {
    fn new(t: ColumnType) -> ColumnBuffer {
        match t {
            ColumnType::Timestamp | ColumnType::Int64 => {
                ColumnBuffer::Int64(Vec::new(), Vec::new())
            }
            ColumnType::Double => ColumnBuffer::Double(Vec::new(), Vec::new()),
            ColumnType::Text => ColumnBuffer::Text(Vec::new(), Vec::new()),
        }
    }

    fn push(&mut self, t: ColumnType, cell: &str) -> Result<(), String> {
        let levels = match self {
            ColumnBuffer::Int64(_, d) | ColumnBuffer::Double(_, d) | ColumnBuffer::Text(_, d) => d,
        };
        if cell.is_empty() {
            levels.push(0);
            return Ok(());
        }
        levels.push(1);
        match (self, t) {
            (ColumnBuffer::Int64(v, _), ColumnType::Timestamp) => {
                let time = chrono::DateTime::parse_from_rfc3339(cell)
                    .map_err(|_| format!("{cell:?} is not an RFC 3339 time"))?;
                v.push(time.timestamp_micros());
            }
            (ColumnBuffer::Int64(v, _), _) => v.push(
                cell.parse()
                    .map_err(|_| format!("{cell:?} is not an integer"))?,
            ),
            (ColumnBuffer::Double(v, _), _) => v.push(
                cell.parse()
                    .map_err(|_| format!("{cell:?} is not a number"))?,
            ),
            (ColumnBuffer::Text(v, _), _) => v.push(ByteArray::from(cell)),
        }
        Ok(())
    }

    fn write(
        &mut self,
        column: &mut parquet::file::writer::SerializedColumnWriter<'_>,
    ) -> parquet::errors::Result<()> {
        match self {
            ColumnBuffer::Int64(v, d) => {
                column.typed::<Int64Type>().write_batch(v, Some(d), None)?;
                v.clear();
                d.clear();
            }
            ColumnBuffer::Double(v, d) => {
                column.typed::<DoubleType>().write_batch(v, Some(d), None)?;
                v.clear();
                d.clear();
            }
            ColumnBuffer::Text(v, d) => {
                column
                    .typed::<ByteArrayType>()
                    .write_batch(v, Some(d), None)?;
                v.clear();
                d.clear();
            }
        }
        Ok(())
    }
}

fn parquet_schema(names: &[String], types: &[ColumnType]) -> parquet::errors::Result<Type> {
    let fields = names
        .iter()
        .zip(types)
        .map(|(name, t)| {
            let (physical, logical) = match t {
                ColumnType::Timestamp => (
                    PhysicalType::INT64,
                    Some(LogicalType::timestamp(true, TimeUnit::MICROS)),
                ),
                ColumnType::Int64 => (PhysicalType::INT64, None),
                ColumnType::Double => (PhysicalType::DOUBLE, None),
                ColumnType::Text => (PhysicalType::BYTE_ARRAY, Some(LogicalType::String)),
            };
            Type::primitive_type_builder(name, physical)
                .with_repetition(Repetition::OPTIONAL)
                .with_logical_type(logical)
                .build()
                .map(Arc::new)
        })
        .collect::<parquet::errors::Result<Vec<_>>>()?;
    Type::group_type_builder("prediction")
        .with_fields(fields)
        .build()
}

/// Converts the server's CSV to Parquet, a row group at a time; returns the rows.
pub fn csv_to_parquet(csv_path: &Path, out: &Path) -> anyhow::Result<u64> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_path(csv_path)
        .with_context(|| format!("cannot read {}", csv_path.display()))?;
    let names: Vec<String> = reader
        .headers()
        .context("the server's CSV has no header")?
        .iter()
        .map(str::to_owned)
        .collect();
    if names.is_empty() || names.iter().all(String::is_empty) {
        bail!("the server's CSV has no header");
    }
    let types: Vec<ColumnType> = names.iter().map(|n| column_type(n)).collect();
    let schema = Arc::new(parquet_schema(&names, &types)?);
    let properties = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_created_by(concat!("hangar ", env!("CARGO_PKG_VERSION")).to_owned())
        .build();
    let file =
        std::fs::File::create(out).with_context(|| format!("cannot write {}", out.display()))?;
    let mut writer = SerializedFileWriter::new(file, schema, Arc::new(properties))?;
    let mut columns: Vec<ColumnBuffer> = types.iter().map(|t| ColumnBuffer::new(*t)).collect();
    let mut buffered = 0;
    let mut rows = 0u64;
    for record in reader.records() {
        let record = record.context("the server's CSV is malformed")?;
        let line = record.position().map_or(0, |p| p.line());
        if record.len() != names.len() {
            bail!(
                "line {line} of the server's CSV has {} fields, the header {}",
                record.len(),
                names.len()
            );
        }
        for ((column, t), (cell, name)) in columns
            .iter_mut()
            .zip(&types)
            .zip(record.iter().zip(&names))
        {
            column
                .push(*t, cell)
                .map_err(|e| anyhow::anyhow!("line {line} of the server's CSV: {name}: {e}"))?;
        }
        buffered += 1;
        rows += 1;
        if buffered == ROW_GROUP_ROWS {
            write_row_group(&mut writer, &mut columns)?;
            buffered = 0;
        }
    }
    if buffered > 0 {
        write_row_group(&mut writer, &mut columns)?;
    }
    writer.close()?;
    Ok(rows)
}

fn write_row_group(
    writer: &mut SerializedFileWriter<std::fs::File>,
    columns: &mut [ColumnBuffer],
) -> anyhow::Result<()> {
    let mut group = writer.next_row_group()?;
    for buffer in columns.iter_mut() {
        let mut column = group
            .next_column()?
            .context("the Parquet schema has fewer columns than the CSV")?;
        buffer.write(&mut column)?;
        column.close()?;
    }
    group.close()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::record::Field;

    #[test]
    fn the_file_name_picks_the_format() {
        for (name, format) in [
            ("x.parquet", FileFormat::Parquet),
            ("dir/x.PARQUET", FileFormat::Parquet),
            ("x.csv", FileFormat::Csv),
            ("x", FileFormat::Csv),
            ("x.parquet.csv", FileFormat::Csv),
        ] {
            assert_eq!(FileFormat::of(Path::new(name)), format, "{name}");
        }
    }

    #[test]
    fn records_are_counted_outside_quotes_only() {
        let mut c = RecordCounter::default();
        c.feed(b"a,b\n1,\"x\ny\"\n2,\"say \"\"hi");
        c.feed(b"\"\"\"\n");
        assert_eq!(c.data_records(), 2);
        let mut c = RecordCounter::default();
        c.feed(b"a,b\n1,2");
        assert_eq!(c.data_records(), 1);
        let mut c = RecordCounter::default();
        c.feed(b"a,b\n");
        assert_eq!(c.data_records(), 0);
    }

    #[test]
    fn summaries_say_rows_file_format_and_size() {
        assert_eq!(
            export_summary(300, Path::new("x.csv"), FileFormat::Csv, 2048),
            "wrote 300 predictions to x.csv (CSV, 2.00 KiB)\n"
        );
        assert_eq!(
            export_summary(0, Path::new("x.parquet"), FileFormat::Parquet, 100),
            "wrote 0 predictions to x.parquet (Parquet, 100 B); none were logged in this window\n"
        );
    }

    #[test]
    fn csv_becomes_typed_parquet_with_nulls_for_empty_cells() {
        let dir = tempfile::tempdir().unwrap();
        let csv_path = dir.path().join("p.csv");
        std::fs::write(
            &csv_path,
            "at,request_id,row,row_id,revision,model,version,inputs,outputs,score,predicted,segments,latency_us,label,extra\n\
             2025-03-14T09:26:53.000001+00:00,r1,0,A-1,1,credit,1,\"[1.0,2.0]\",\"{\"\"label\"\":1}\",0.75,1,\"{\"\"group\"\":\"\"1\"\"}\",1200,1,x\n\
             2025-03-14T09:26:54+00:00,r1,1,,1,credit,1,[],{},,,{},1300,,\n",
        )
        .unwrap();
        let out = dir.path().join("p.parquet");
        assert_eq!(csv_to_parquet(&csv_path, &out).unwrap(), 2);

        let reader = SerializedFileReader::new(std::fs::File::open(&out).unwrap()).unwrap();
        assert_eq!(reader.metadata().file_metadata().num_rows(), 2);
        let rows: Vec<Vec<(String, Field)>> = reader
            .get_row_iter(None)
            .unwrap()
            .map(|r| r.unwrap().into_columns())
            .collect();
        let get = |row: usize, name: &str| {
            rows[row]
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, f)| f.clone())
                .unwrap()
        };
        assert_eq!(get(0, "at"), Field::TimestampMicros(1_741_944_413_000_001));
        assert_eq!(get(0, "row_id"), Field::Str("A-1".into()));
        assert_eq!(get(0, "row"), Field::Long(0));
        assert_eq!(get(0, "score"), Field::Double(0.75));
        assert_eq!(get(0, "outputs"), Field::Str("{\"label\":1}".into()));
        assert_eq!(get(0, "extra"), Field::Str("x".into()));
        assert_eq!(get(1, "row_id"), Field::Null);
        assert_eq!(get(1, "score"), Field::Null);
        assert_eq!(get(1, "label"), Field::Null);
        assert_eq!(get(1, "latency_us"), Field::Long(1300));
    }

    #[test]
    fn a_header_alone_makes_an_empty_file() {
        let dir = tempfile::tempdir().unwrap();
        let csv_path = dir.path().join("p.csv");
        std::fs::write(&csv_path, "at,request_id,row\n").unwrap();
        let out = dir.path().join("p.parquet");
        assert_eq!(csv_to_parquet(&csv_path, &out).unwrap(), 0);
        let reader = SerializedFileReader::new(std::fs::File::open(&out).unwrap()).unwrap();
        assert_eq!(reader.metadata().file_metadata().num_rows(), 0);
    }

    #[test]
    fn values_of_the_wrong_type_name_line_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let csv_path = dir.path().join("p.csv");
        std::fs::write(&csv_path, "at,row\n2025-03-14T09:26:53Z,zero\n").unwrap();
        let err = csv_to_parquet(&csv_path, &dir.path().join("p.parquet"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("line 2") && err.contains("row: \"zero\" is not an integer"),
            "{err}"
        );
    }
}
