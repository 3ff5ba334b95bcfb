//! Window reports: the monitoring figures of a deployment over a time
//! range — exact from the raw prediction log when the window is small
//! enough and complete, else from the minute/hour/day aggregates — and the
//! baseline profiles they compare against. The API, the dashboard and the
//! alert loop all read reports through here.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use hangar_core::monitor::aggregate::{
    aggregate_report, plan_range, plan_range_inside, Aggregate, REPORT_SAMPLE,
};
use hangar_core::monitor::{BaselineProfile, WindowReport};
use hangar_store::BaselineRecord;

use crate::service::baselines::baseline_profile;
use crate::service::error::Error;
use crate::service::monitoring;
use crate::state::AppState;

/// Most rows a window may hold for its report to be computed exactly from
/// the raw rows; larger windows are reported from the aggregates. Also the
/// most labelled rows performance and fairness read (a uniform sample of
/// the window's when it holds more).
pub const EXACT_ROWS: u64 = 100_000;

/// The figures of one window for one version, and how they were computed.
pub struct Figures {
    pub model: String,
    pub version: u32,
    /// Rows per (model, version) in the window.
    pub versions: Vec<((String, u32), u64)>,
    pub report: WindowReport,
    /// The baseline record and whether it was found.
    pub baseline: Result<(BaselineRecord, Arc<BaselineProfile>), Error>,
    pub how: How,
}

/// How a report was computed.
pub enum How {
    /// From every raw row of the window.
    Exact,
    /// From the minute, hour and day aggregates covering `[from, to)`.
    Aggregated {
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        sample_rows: usize,
        binned_rows: u64,
        labelled_rows_read: usize,
        labelled_rows: u64,
    },
    /// From a uniform random sample of the raw rows (a window past the
    /// exact cap with no aggregates, e.g. rows logged before aggregates
    /// existed).
    Sampled { rows: usize },
}

fn choose(
    by_version: &BTreeMap<(String, u32), u64>,
    version: Option<u32>,
) -> Option<(String, u32)> {
    match version {
        Some(v) => by_version.keys().find(|(_, ver)| *ver == v).cloned(),
        None => by_version
            .iter()
            .max_by_key(|(_, n)| **n)
            .map(|(k, _)| k.clone()),
    }
}

pub(crate) async fn profile_or_empty(
    state: &AppState,
    model: &str,
    version: u32,
) -> Result<
    (
        Arc<BaselineProfile>,
        Result<(BaselineRecord, Arc<BaselineProfile>), Error>,
    ),
    Error,
> {
    match baseline_profile(state, model, version).await {
        Ok((record, p)) => Ok((p.clone(), Ok((record, p)))),
        Err(e) if e.code().is_not_found() => Ok((Arc::new(empty_profile()), Err(e))),
        Err(e) => Err(e),
    }
}

/// The report of `[from, to)` from raw rows (all of them, or the newest
/// `limit`).
pub(crate) async fn raw_figures(
    state: &AppState,
    deployment: &str,
    records: Vec<hangar_store::PredictionRecord>,
    version: Option<u32>,
    how: How,
) -> Result<Option<Figures>, Error> {
    let mut by_version: BTreeMap<(String, u32), u64> = BTreeMap::new();
    for r in &records {
        *by_version.entry((r.model.clone(), r.version)).or_default() += 1;
    }
    let Some((model, version)) = choose(&by_version, version) else {
        return Ok(None);
    };
    let d = state.db.get_deployment(deployment).await?;
    let v = state.db.get_version(&model, version).await?;
    let segments = d.current.settings.segments.clone();
    let records: Vec<_> = records
        .into_iter()
        .filter(|r| r.model == model && r.version == version)
        .collect();
    // A version pushed without names: its columns are named by position.
    let features = v.feature_names.clone().unwrap_or_else(|| {
        hangar_core::features::positional_names(records.first().map_or(0, |r| r.inputs.len()))
    });
    let rows =
        tokio::task::spawn_blocking(move || monitoring::rows_for(&records, &features, &segments))
            .await
            .map_err(Error::internal)?;
    let (profile, baseline) = profile_or_empty(state, &model, version).await?;
    let report = monitoring::report(profile, rows).await?;
    Ok(Some(Figures {
        model,
        version,
        versions: by_version.into_iter().collect(),
        report,
        baseline,
        how,
    }))
}

/// The report of `[from, to)` from the aggregates (unlabelled figures) and
/// a uniform sample of at most [`EXACT_ROWS`] of the window's labelled rows
/// (performance, fairness). `None` when no aggregate covers the window.
pub(crate) async fn aggregated_figures(
    state: &AppState,
    deployment: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    version: Option<u32>,
) -> Result<Option<Figures>, Error> {
    let end = to.timestamp() + i64::from(to.timestamp_subsec_nanos() > 0);
    let plan = plan_range(from.timestamp(), end);
    let mut by_version: BTreeMap<(String, u32), u64> = BTreeMap::new();
    for (res, a, b) in &plan {
        for (m, v, n) in state.db.aggregate_rows(deployment, *res, *a, *b).await? {
            *by_version.entry((m, v)).or_default() += n;
        }
    }
    let Some((model, version)) = choose(&by_version, version) else {
        return Ok(None);
    };
    let mut bodies = Vec::new();
    for (res, a, b) in &plan {
        bodies.extend(
            state
                .db
                .aggregate_bodies(deployment, &model, version, *res, *a, *b)
                .await?,
        );
    }
    let d = state.db.get_deployment(deployment).await?;
    let segments = d.current.settings.segments.clone();
    let (labelled_total, labelled) = state
        .db
        .labelled_sample(deployment, &model, version, from, to, EXACT_ROWS)
        .await?;
    let (profile, baseline) = profile_or_empty(state, &model, version).await?;
    let digest = baseline
        .as_ref()
        .map(|(r, _)| r.digest.clone())
        .unwrap_or_default();
    let labelled_rows_read = labelled.len();
    let report = tokio::task::spawn_blocking(move || {
        let parts: Vec<Aggregate> = bodies
            .iter()
            .filter_map(|body| match Aggregate::decode(body) {
                Ok(a) => Some(a),
                Err(e) => {
                    tracing::warn!(error = %e, "unreadable monitoring aggregate left out of a report");
                    None
                }
            })
            .collect();
        let merged = Aggregate::merge_all_for(parts, &digest, REPORT_SAMPLE).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "monitoring aggregates that do not match: counts left out");
            Aggregate::new(REPORT_SAMPLE, None)
        });
        let rows = monitoring::labelled_rows(&labelled, &segments);
        let mut report = aggregate_report(&profile, Some(&digest), &merged, &rows);
        // Performance and fairness come from the sample; the count is the
        // window's.
        report.report.labeled_rows = labelled_total as usize;
        report
    })
    .await
    .map_err(Error::internal)?;
    let covered = |t: i64| DateTime::<Utc>::from_timestamp(t, 0).unwrap_or(from);
    Ok(Some(Figures {
        model,
        version,
        versions: by_version.into_iter().collect(),
        how: How::Aggregated {
            from: plan.first().map_or(from, |p| covered(p.1)),
            to: plan.last().map_or(to, |p| covered(p.2)),
            sample_rows: report.sample_rows,
            binned_rows: report.binned_rows,
            labelled_rows_read,
            labelled_rows: labelled_total,
        },
        report: report.report,
        baseline,
    }))
}

/// Rows the aggregates of the whole minutes inside `[from, to)` hold.
pub(crate) async fn aggregated_rows_inside(
    state: &AppState,
    deployment: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<u64, Error> {
    let mut n = 0;
    for (res, a, b) in plan_range_inside(from.timestamp(), to.timestamp()) {
        for (_, _, rows) in state.db.aggregate_rows(deployment, res, a, b).await? {
            n += rows;
        }
    }
    Ok(n)
}

/// The figures of a deployment's window `[from, to)`: exact from the raw rows
/// when it holds at most [`EXACT_ROWS`] and they are all still there, else
/// from the aggregates.
pub async fn window_figures(
    state: &AppState,
    deployment: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    version: Option<u32>,
) -> Result<Option<Figures>, Error> {
    let raw = state
        .db
        .count_predictions(deployment, from, to, EXACT_ROWS + 1)
        .await?;
    // Rows past retention are gone from the log but not from the aggregates.
    let complete =
        raw <= EXACT_ROWS && aggregated_rows_inside(state, deployment, from, to).await? <= raw;
    if complete {
        let records = state
            .db
            .predictions(deployment, from, to, EXACT_ROWS)
            .await?;
        return raw_figures(state, deployment, records, version, How::Exact).await;
    }
    if let Some(f) = aggregated_figures(state, deployment, from, to, version).await? {
        return Ok(Some(f));
    }
    let records = state
        .db
        .sample_predictions(deployment, from, to, EXACT_ROWS)
        .await?;
    let rows = records.len();
    raw_figures(state, deployment, records, version, How::Sampled { rows }).await
}

/// The window report of a deployment's predictions over the last `secs`
/// seconds, for one version (given, or the one that answered most rows).
/// `None` when there were no predictions. Without a baseline the report
/// still has performance and fairness, but no drift. The log is flushed
/// first (open minutes included), so a window past the exact cap is read
/// from aggregates that cover it, not from its newest raw rows.
pub async fn recent_report(
    state: &AppState,
    deployment: &str,
    secs: u64,
    version: Option<u32>,
) -> Result<Option<WindowReport>, Error> {
    state.log.flush().await;
    let to = Utc::now() + Duration::seconds(1);
    let from = to - Duration::seconds(secs as i64 + 1);
    Ok(window_figures(state, deployment, from, to, version)
        .await?
        .map(|f| f.report))
}

fn empty_profile() -> BaselineProfile {
    BaselineProfile {
        rows: 0,
        features: Vec::new(),
        score: None,
        label_rate: None,
        performance: None,
        cbpe: None,
        calibrated: false,
    }
}
