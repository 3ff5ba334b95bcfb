//! The monitoring API: baselines, feedback, window reports and the
//! prediction export.

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{post, put};
use axum::Json;
use chrono::{DateTime, Duration, Utc};
use futures_util::StreamExt;
use hangar_api as wire;
use hangar_core::monitor::{BaselineProfile, ColumnReport};
use hangar_core::stats::evidently::ColumnKind;
use hangar_store::BaselineRecord;
use serde::Deserialize;

use crate::auth::Routes;
use crate::http::api::{parse_time, version_number, Caller};
use crate::http::error::{ApiError, ErrorCode};
use crate::service::baselines::{self, baseline_profile};
use crate::service::feedback;
use crate::service::reports::{window_figures, How, EXACT_ROWS};
use crate::state::AppState;

pub(crate) fn routes(r: Routes) -> Routes {
    r.add(
        "GET",
        "/api/v1/models/{model}/versions/{version}/baseline",
        get_baseline,
    )
    .add_with(
        "PUT",
        "/api/v1/models/{model}/versions/{version}/baseline",
        put(put_baseline).layer(DefaultBodyLimit::disable()),
    )
    // Feedback has its own limit (--max-feedback-bytes), applied as it
    // streams.
    .add_with(
        "POST",
        "/api/v1/deployments/{name}/feedback",
        post(feedback).layer(DefaultBodyLimit::disable()),
    )
    .add(
        "GET",
        "/api/v1/deployments/{name}/monitoring",
        monitoring_report,
    )
    .add("GET", "/api/v1/deployments/{name}/predictions", export)
}

#[derive(Deserialize)]
struct BaselineQuery {
    label_column: Option<String>,
    /// Comma-separated names of categorical features.
    categorical: Option<String>,
}

fn baseline_out(b: &BaselineRecord, profile: &BaselineProfile) -> wire::Baseline {
    wire::Baseline {
        model: b.model.clone(),
        version: b.version,
        digest: b.digest.clone(),
        rows: b.rows,
        label_column: b.label_column.clone(),
        features: profile
            .features
            .iter()
            .map(|f| wire::BaselineFeature {
                name: f.name.clone(),
                kind: kind_name(f.kind).to_owned(),
                bin_cuts: f.numeric.edges.cuts().to_vec(),
                mean: finite(f.numeric.mean),
            })
            .collect(),
        label_rate: profile.label_rate,
        calibrated: profile.calibrated,
        performance: profile.performance.as_ref().map(performance_out),
        created_at: b.created_at,
        created_by: b.created_by.clone(),
    }
}

/// A figure as the wire carries it: a number, or `null` when undefined.
fn finite(x: f64) -> Option<f64> {
    Some(x).filter(|x| x.is_finite())
}

fn kind_name(k: ColumnKind) -> &'static str {
    match k {
        ColumnKind::Numerical => "numeric",
        ColumnKind::Categorical => "categorical",
    }
}

/// Uploads a version's baseline (its training data as CSV; streamed,
/// size-limited), profiles it and keeps it.
async fn put_baseline(
    State(state): State<AppState>,
    Path((model, version)): Path<(String, String)>,
    Query(q): Query<BaselineQuery>,
    caller: Caller,
    body: Body,
) -> Result<(StatusCode, Json<wire::Baseline>), ApiError> {
    let how = baselines::BaselineUpload {
        categorical: q
            .categorical
            .as_deref()
            .map(|c| {
                c.split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default(),
        label_column: q.label_column,
    };
    let chunks = body
        .into_data_stream()
        .map(|c| c.map_err(std::io::Error::other));
    let (record, profile) = baselines::put(
        &state,
        &model,
        version_number(&version)?,
        how,
        &caller.actor(),
        chunks,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(baseline_out(&record, &profile))))
}

async fn get_baseline(
    State(state): State<AppState>,
    Path((model, version)): Path<(String, String)>,
) -> Result<Json<wire::Baseline>, ApiError> {
    let (record, profile) = baseline_profile(&state, &model, version_number(&version)?).await?;
    Ok(Json(baseline_out(&record, &profile)))
}

// ---- feedback -------------------------------------------------------------------

/// True outcomes by row id or by request id and row, singly or in bulk;
/// JSON (`{"feedback": [...]}`) or CSV (`row_id,label` or
/// `request_id,row,label`), applied in short batches ([`crate::service::feedback`]).
async fn feedback(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    state.db.get_deployment(&name).await?;
    let limit = state.limits.max_feedback_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(feedback::too_large(limit).into());
    }
    let is_csv = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("text/csv"));
    let chunks = body
        .into_data_stream()
        .map(|c| c.map_err(std::io::Error::other));
    let receipt = if is_csv {
        feedback::apply_csv_upload(state, name, chunks, limit).await?
    } else {
        feedback::apply_json_upload(state, name, chunks, limit).await?
    };
    if receipt.rejected_count == receipt.received {
        let mut reasons: Vec<String> = receipt
            .rejected
            .iter()
            .take(3)
            .map(wire::Rejected::describe)
            .collect();
        if receipt.rejected_count > 3 {
            reasons.push(format!("and {} more", receipt.rejected_count - 3));
        }
        let body = wire::FeedbackRefused {
            receipt,
            error: format!(
                "no feedback applied: every line was rejected ({})",
                reasons.join("; ")
            ),
            code: ErrorCode::InvalidFeedback.as_str().to_owned(),
        };
        return Ok((StatusCode::BAD_REQUEST, Json(body)).into_response());
    }
    Ok(Json(receipt).into_response())
}

// ---- reports --------------------------------------------------------------------

#[derive(Deserialize)]
struct RangeQuery {
    from: Option<String>,
    to: Option<String>,
    /// The version to report on (default: the one that answered most rows).
    version: Option<u32>,
}

fn range(q: &RangeQuery) -> Result<(DateTime<Utc>, DateTime<Utc>), ApiError> {
    let to = match &q.to {
        Some(t) => parse_time(t)?,
        None => Utc::now() + Duration::seconds(1),
    };
    let from = match &q.from {
        Some(f) => parse_time(f)?,
        None => to - Duration::hours(24),
    };
    if from >= to {
        return Err(ApiError::new(
            ErrorCode::InvalidTime,
            "'from' must be before 'to'",
        ));
    }
    Ok((from, to))
}

/// Most rows an export reads.
const MAX_ROWS: u64 = 5_000_000;

fn opt(v: Option<f64>) -> Option<f64> {
    v.filter(|x| x.is_finite())
}

fn column_out(c: &ColumnReport) -> wire::ColumnDrift {
    let tests = match c.kind {
        ColumnKind::Numerical => wire::KindTests {
            ks_statistic: Some(opt(c.ks_statistic)),
            ks_pvalue: Some(opt(c.ks_pvalue)),
            wasserstein: Some(opt(c.wasserstein)),
            ..wire::KindTests::default()
        },
        ColumnKind::Categorical => wire::KindTests {
            chi2_statistic: Some(opt(c.chi2_statistic)),
            chi2_pvalue: Some(opt(c.chi2_pvalue)),
            ..wire::KindTests::default()
        },
    };
    wire::ColumnDrift {
        kind: kind_name(c.kind).to_owned(),
        psi: finite(c.psi),
        js_distance: finite(c.js_distance),
        drifted: c.verdict.drifted,
        test: c.verdict.test.name().to_owned(),
        test_score: finite(c.verdict.score),
        test_threshold: finite(c.verdict.threshold),
        tests,
    }
}

fn performance_out(p: &hangar_core::stats::ClassificationMetrics) -> wire::Performance {
    wire::Performance {
        n: p.n,
        accuracy: finite(p.accuracy),
        precision: finite(p.precision),
        recall: finite(p.recall),
        f1: finite(p.f1),
        roc_auc: p.roc_auc.and_then(finite),
        log_loss: finite(p.log_loss),
        brier: finite(p.brier),
        positive_rate_true: finite(p.positive_rate_true),
        positive_rate_pred: finite(p.positive_rate_pred),
        confusion: wire::Confusion {
            tn: p.confusion.tn,
            fp: p.confusion.fp,
            fn_: p.confusion.fn_,
            tp: p.confusion.tp,
        },
    }
}

fn columns_out(
    columns: &std::collections::BTreeMap<String, ColumnReport>,
) -> std::collections::BTreeMap<String, wire::ColumnDrift> {
    columns
        .iter()
        .map(|(k, c)| (k.clone(), column_out(c)))
        .collect()
}

fn fairness_out(f: &hangar_core::stats::FairnessReport<String>) -> wire::Fairness {
    wire::Fairness {
        groups: f
            .by_group
            .iter()
            .map(|(g, rates)| {
                let rates = wire::GroupRates {
                    count: rates.count,
                    selection_rate: finite(rates.selection_rate),
                    tpr: finite(rates.tpr),
                    fpr: finite(rates.fpr),
                };
                (g.clone(), rates)
            })
            .collect(),
        demographic_parity_difference: finite(f.demographic_parity_difference),
        demographic_parity_ratio: finite(f.demographic_parity_ratio),
        equalized_odds_difference: finite(f.equalized_odds_difference),
        equalized_odds_ratio: finite(f.equalized_odds_ratio),
    }
}

/// Every monitoring figure of a deployment over `[from, to)`.
async fn monitoring_report(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<RangeQuery>,
) -> Result<Json<wire::MonitoringReport>, ApiError> {
    let (from, to) = range(&q)?;
    Ok(Json(report(&state, &name, from, to, q.version).await?))
}

/// The monitoring report over `[from, to)`.
pub(crate) async fn report(
    state: &AppState,
    name: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    version: Option<u32>,
) -> Result<wire::MonitoringReport, ApiError> {
    state.db.get_deployment(name).await?;
    state.log.flush().await;
    let figures = window_figures(state, name, from, to, version).await?;
    let mut body = wire::MonitoringReport {
        deployment: name.to_owned(),
        from,
        to,
        versions: Vec::new(),
        rows: 0,
        labeled_rows: 0,
        figures: None,
        message: None,
    };
    let Some(f) = figures else {
        body.message = Some("no predictions in this range yet".to_owned());
        return Ok(body);
    };
    body.versions = f
        .versions
        .iter()
        .map(|((m, v), n)| wire::VersionRows {
            model: m.clone(),
            version: *v,
            rows: *n,
        })
        .collect();
    let r = &f.report;
    body.rows = r.rows as u64;
    body.labeled_rows = r.labeled_rows as u64;
    let mut figures = wire::Figures {
        model: f.model.clone(),
        version: f.version,
        features: columns_out(&r.features),
        outputs: columns_out(&r.outputs),
        drift_share: r.drift_share,
        dataset_drifted: r.dataset_drifted,
        performance: r.performance.as_ref().map(performance_out),
        fairness: r
            .fairness
            .iter()
            .map(|(attr, f)| (attr.clone(), fairness_out(f)))
            .collect(),
        estimated_performance: r.estimated_performance.map(|e| wire::EstimatedPerformance {
            accuracy: finite(e.accuracy),
            precision: finite(e.precision),
            recall: finite(e.recall),
            f1: finite(e.f1),
            roc_auc: e.roc_auc.and_then(finite),
        }),
        exact: true,
        sample_size: r.rows as u64,
        aggregates: None,
        baseline: None,
    };
    match &f.how {
        How::Exact => {}
        How::Aggregated {
            from,
            to,
            sample_rows,
            binned_rows,
            labelled_rows_read,
            labelled_rows,
        } => {
            figures.exact = false;
            figures.sample_size = *sample_rows as u64;
            figures.aggregates = Some(wire::Aggregates {
                from: *from,
                to: *to,
                binned_rows: *binned_rows,
                labelled_rows_read: *labelled_rows_read as u64,
                labelled_rows: *labelled_rows,
                labelled_sampled: *labelled_rows > *labelled_rows_read as u64,
                labelled_rows_cap: EXACT_ROWS,
            });
        }
        How::Sampled { rows } => {
            figures.exact = false;
            figures.sample_size = *rows as u64;
            body.message = Some(format!(
                "this range holds more than {EXACT_ROWS} rows and no aggregates: figures are from a uniform random sample of {rows} of them"
            ));
        }
    }
    match f.baseline {
        Ok((record, profile)) => {
            figures.baseline = Some(wire::BaselineSummary {
                rows: record.rows,
                calibrated: profile.calibrated,
                label_rate: profile.label_rate,
            });
        }
        Err(e) => body.message = Some(e.message().to_owned()),
    }
    body.figures = Some(figures);
    Ok(body)
}

/// A text cell a client chose (request and row ids) that a spreadsheet
/// would run as a formula gets a leading `'`, as OWASP recommends against
/// CSV injection: cells starting with `=`, `+`, `-`, `@`, a tab or a
/// carriage return. Numeric columns are the server's own and left as they
/// are.
fn spreadsheet_safe(cell: String) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}")
    } else {
        cell
    }
}

#[derive(Deserialize)]
struct ExportQuery {
    from: Option<String>,
    to: Option<String>,
}

/// The prediction log of a range as CSV: one row per prediction row.
async fn export(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<ExportQuery>,
) -> Result<Response, ApiError> {
    state.db.get_deployment(&name).await?;
    let (from, to) = range(&RangeQuery {
        from: q.from,
        to: q.to,
        version: None,
    })?;
    state.log.flush().await;
    let records = state.db.predictions(&name, from, to, MAX_ROWS).await?;
    let csv_bytes = tokio::task::spawn_blocking(move || {
        let mut w = csv::Writer::from_writer(Vec::new());
        let _ = w.write_record([
            "at",
            "request_id",
            "row",
            "row_id",
            "revision",
            "model",
            "version",
            "inputs",
            "outputs",
            "score",
            "predicted",
            "segments",
            "latency_us",
            "label",
        ]);
        for r in records {
            let _ = w.write_record([
                r.at.to_rfc3339(),
                spreadsheet_safe(r.request_id),
                r.row.to_string(),
                spreadsheet_safe(r.row_id.unwrap_or_default()),
                r.revision.to_string(),
                r.model,
                r.version.to_string(),
                serde_json::to_string(&r.inputs).unwrap_or_default(),
                r.outputs,
                r.score.map(|s| s.to_string()).unwrap_or_default(),
                r.predicted.map(|s| s.to_string()).unwrap_or_default(),
                r.segments,
                r.latency_us.to_string(),
                r.label.map(|s| s.to_string()).unwrap_or_default(),
            ]);
        }
        w.into_inner().unwrap_or_default()
    })
    .await
    .map_err(ApiError::internal)?;
    let mut response = Response::new(Body::from(csv_bytes));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    Ok(response)
}
