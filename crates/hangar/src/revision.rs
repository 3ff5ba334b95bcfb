//! How deployments and their revisions read: routes, shadows, kinds of change,
//! shadow agreement, settings and guardrails as table cells and cards.
//!
//! Pure functions over the client's wire types, shared by `deploy`, `promote`,
//! `rollback` and `deployments`; nothing here talks to the server or prints.

use crate::client::{Agreement, Deployment, Guardrails, Revision, Route, Settings, Shadow};
use crate::output::{self, indent, percent};

/// `credit:3 90% → v3, credit:4 10% → v4`
pub fn routes_cell(routes: &[Route]) -> String {
    if routes.is_empty() {
        return "-".to_owned();
    }
    routes
        .iter()
        .map(|r| format!("{} {}% → v{}", r.target, r.weight, r.version))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `credit:5 → v5`, or `-` without a shadow.
pub fn shadow_cell(shadow: Option<&Shadow>) -> String {
    shadow.map_or_else(
        || "-".to_owned(),
        |s| format!("{} → v{}", s.target, s.version),
    )
}

/// Why the revision was made, as the KIND column reads it: `deploy`,
/// `promote`, `rollback → 2`, `guardrail rollback of 3: REASON`,
/// `alias moved (credit@production)`.
pub fn kind_cell(r: &Revision) -> String {
    match r.kind.as_str() {
        "rollback" => match r.rolled_back_to {
            Some(to) => format!("rollback → {to}"),
            None => "rollback".to_owned(),
        },
        "guardrail_rollback" => {
            let mut cell = "guardrail rollback".to_owned();
            if let Some(from) = r.guardrail_from {
                cell.push_str(&format!(" of {from}"));
            }
            if let Some(reason) = r.reason.as_deref().filter(|s| !s.is_empty()) {
                cell.push_str(&format!(": {reason}"));
            }
            cell
        }
        "alias_moved" => match &r.alias {
            Some(alias) => format!("alias moved ({alias})"),
            None => "alias moved".to_owned(),
        },
        "" => "-".to_owned(),
        // deploy, promote, and whatever a newer server adds.
        other => other.replace('_', " "),
    }
}

/// The message, or `-`; a guardrail's message repeats its reason, already in KIND.
fn message_cell(r: &Revision) -> String {
    if r.message.is_empty() || r.reason.as_deref() == Some(r.message.as_str()) {
        "-".to_owned()
    } else {
        r.message.clone()
    }
}

/// `hangar deployments list`: one row per deployment.
pub fn deployments_table(deployments: &[Deployment]) -> output::Table {
    let mut table =
        output::Table::new(["NAME", "REVISION", "ROUTES", "SHADOW", "READY", "UPDATED"]);
    for d in deployments {
        let revision = d.current.as_ref();
        table.row(vec![
            d.name.clone(),
            revision.map_or_else(|| "-".to_owned(), |r| r.revision.to_string()),
            routes_cell(&routes(d)),
            shadow_cell(revision.and_then(|r| r.shadow.as_ref())),
            yes_no(d.ready),
            output::when(&d.updated_at),
        ]);
    }
    table
}

/// `hangar deployments history`: one row per revision, in the order given
/// (the server's: oldest first).
pub fn history_table(revisions: &[Revision]) -> output::Table {
    let mut table =
        output::Table::new(["REV", "WHEN", "WHO", "KIND", "ROUTES", "SHADOW", "MESSAGE"]);
    for r in revisions {
        table.row(vec![
            r.revision.to_string(),
            output::when(&r.at),
            if r.actor.is_empty() {
                "-".to_owned()
            } else {
                r.actor.clone()
            },
            kind_cell(r),
            routes_cell(&r.routes),
            shadow_cell(r.shadow.as_ref()),
            message_cell(r),
        ]);
    }
    table
}

/// What `deploy`, `promote` and `rollback` print: the deployment at its new
/// revision. `url` is the endpoint as an absolute URL.
pub fn change_card(d: &Deployment, url: &str) -> String {
    let mut fields = vec![("deployment", d.name.clone())];
    if let Some(r) = &d.current {
        fields.push(("revision", format!("{} ({})", r.revision, kind_cell(r))));
    }
    fields.push(("routes", routes_cell(&routes(d))));
    fields.push((
        "shadow",
        shadow_cell(d.current.as_ref().and_then(|r| r.shadow.as_ref())),
    ));
    if let Some(r) = d.current.as_ref().filter(|r| !r.message.is_empty()) {
        fields.push(("message", r.message.clone()));
    }
    fields.push(("ready", readiness(d)));
    fields.push(("endpoint", format!("POST {url}")));
    output::card(&fields)
}

/// `hangar deployments show`: the deployment, then its current revision's
/// shadow agreement, settings and guardrails.
pub fn deployment_page(d: &Deployment, url: &str) -> String {
    let mut fields = vec![("deployment", d.name.clone())];
    if let Some(r) = &d.current {
        fields.extend(revision_fields(r));
    } else {
        fields.push(("routes", routes_cell(&routes(d))));
    }
    fields.push(("ready", readiness(d)));
    fields.push(("endpoint", format!("POST {url}")));
    fields.push(("created", output::when(&d.created_at)));
    let mut page = output::card(&fields);
    if let Some(r) = &d.current {
        page.push_str(&revision_sections(r));
    }
    page
}

/// `hangar deployments show --revision N`: one revision on its own.
pub fn revision_page(r: &Revision) -> String {
    let mut fields = vec![("deployment", r.deployment.clone())];
    fields.extend(revision_fields(r));
    let mut page = output::card(&fields);
    page.push_str(&revision_sections(r));
    page
}

fn revision_fields(r: &Revision) -> Vec<(&'static str, String)> {
    let mut fields = vec![
        ("revision", format!("{} ({})", r.revision, kind_cell(r))),
        ("changed", changed(r)),
    ];
    if !r.message.is_empty() {
        fields.push(("message", r.message.clone()));
    }
    fields.push(("routes", routes_cell(&r.routes)));
    fields.push(("shadow", shadow_cell(r.shadow.as_ref())));
    fields
}

/// `2025-03-14 09:26 UTC by ana`
fn changed(r: &Revision) -> String {
    if r.actor.is_empty() {
        output::when(&r.at)
    } else {
        format!("{} by {}", output::when(&r.at), r.actor)
    }
}

/// Shadow agreement (with a shadow), settings and guardrails, each a titled block.
fn revision_sections(r: &Revision) -> String {
    let mut out = String::new();
    if let Some(shadow) = &r.shadow {
        out.push_str(&format!(
            "\nshadow {} agreement:\n",
            shadow_cell(Some(shadow))
        ));
        out.push_str(&indent(&agreement_card(r.shadow_agreement.as_ref())));
    }
    out.push_str("\nsettings:\n");
    out.push_str(&indent(&settings_card(&r.settings)));
    out.push_str("\nguardrails:\n");
    let guardrails = r.settings.guardrails.clone().unwrap_or_default();
    out.push_str(&indent(&guardrails_card(&guardrails)));
    out
}

/// Compared requests, same-label rate, mean |Δ score| and dropped copies.
pub fn agreement_card(a: Option<&Agreement>) -> String {
    let Some(a) = a else {
        return "no requests compared yet\n".to_owned();
    };
    let mut compared = format!("{} requests", a.compared_requests);
    if a.failed_requests > 0 {
        compared.push_str(&format!(" ({} failed in the shadow)", a.failed_requests));
    }
    let same_label = match a.same_label_rate {
        Some(rate) => format!("{} of {} rows", percent(rate), a.label_rows),
        None => "-".to_owned(),
    };
    let score_diff = match a.mean_abs_score_diff {
        Some(diff) => format!("{} over {} scores", output::number(diff), a.score_values),
        None => "-".to_owned(),
    };
    let dropped = if a.dropped_requests == 0 {
        "0".to_owned()
    } else {
        format!("{} requests (the shadow fell behind)", a.dropped_requests)
    };
    output::card(&[
        ("compared", compared),
        ("same label", same_label),
        ("mean |Δ score|", score_diff),
        ("dropped", dropped),
    ])
}

pub fn settings_card(s: &Settings) -> String {
    let or_dash = |v: Option<String>| v.unwrap_or_else(|| "-".to_owned());
    let mut fields = vec![
        (
            "max batch size",
            or_dash(s.max_batch_size.map(|n| n.to_string())),
        ),
        (
            "max queue delay",
            or_dash(s.max_queue_delay_us.map(|n| format!("{n} µs"))),
        ),
        (
            "queue capacity",
            or_dash(s.queue_capacity.map(|n| format!("{n} requests"))),
        ),
        (
            "timeout",
            s.timeout_ms
                .map_or_else(|| "none".to_owned(), |n| format!("{n} ms")),
        ),
        (
            "max concurrency",
            s.max_concurrency
                .map_or_else(|| "unlimited".to_owned(), |n| n.to_string()),
        ),
    ];
    // Servers before monitoring send none of these.
    if s.segments.is_some() || s.log_predictions.is_some() {
        let segments = s.segments.as_deref().unwrap_or_default();
        fields.push((
            "segments",
            if segments.is_empty() {
                "-".to_owned()
            } else {
                segments.join(", ")
            },
        ));
        fields.push(("row id", or_dash(s.row_id.clone())));
        fields.push((
            "prediction log",
            match s.log_predictions {
                Some(false) => "off",
                _ => "on",
            }
            .to_owned(),
        ));
    }
    output::card(&fields)
}

pub fn guardrails_card(g: &Guardrails) -> String {
    let or_dash = |v: Option<String>| v.unwrap_or_else(|| "-".to_owned());
    output::card(&[
        (
            "max error rate",
            g.max_error_rate.map_or_else(|| "off".to_owned(), percent),
        ),
        (
            "max p99",
            g.max_p99_ms.map_or_else(
                || "off".to_owned(),
                |ms| format!("{} ms", output::number(ms)),
            ),
        ),
        ("window", or_dash(g.window_secs.map(|s| format!("{s} s")))),
        (
            "min requests",
            or_dash(g.min_requests.map(|n| n.to_string())),
        ),
    ])
}

fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.to_owned()
}

/// `yes`, or `no` with the server's reason.
fn readiness(d: &Deployment) -> String {
    match (&d.ready, d.error.as_deref().filter(|e| !e.is_empty())) {
        (true, _) => "yes".to_owned(),
        (false, Some(error)) => format!("no: {error}"),
        (false, None) => "no".to_owned(),
    }
}

/// The deployment's routes; from its top-level fields when the server sent
/// no revision.
fn routes(d: &Deployment) -> Vec<Route> {
    match &d.current {
        Some(r) => r.routes.clone(),
        None => vec![Route {
            target: d.target.clone(),
            weight: 100,
            version: d.version,
        }],
    }
}

/// The endpoint path: the server names it; the route is fixed if it does not.
pub fn endpoint(d: &Deployment) -> String {
    if d.endpoint.is_empty() {
        format!("/v2/models/{}/infer", d.name)
    } else {
        d.endpoint.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const URL: &str = "http://127.0.0.1:8080/v2/models/credit-api/infer";

    fn revision(extra: serde_json::Value) -> Revision {
        let mut r = json!({
            "deployment": "credit-api", "revision": 1, "kind": "deploy",
            "rolled_back_to": null, "guardrail_from": null, "reason": null, "alias": null,
            "routes": [
                {"target": "credit:3", "weight": 90, "version": 3},
                {"target": "credit@staging", "weight": 10, "version": 4},
            ],
            "shadow": {"target": "credit:5", "version": 5},
            "settings": {
                "max_batch_size": 64, "max_queue_delay_us": 500, "queue_capacity": 512,
                "timeout_ms": null, "max_concurrency": 4,
                "guardrails": {"max_error_rate": 0.05, "max_p99_ms": null, "window_secs": 60, "min_requests": 20},
            },
            "message": "try v4", "actor": "ana", "at": "2025-03-14T09:26:53Z",
            "shadow_agreement": {
                "compared_requests": 12, "dropped_requests": 0, "failed_requests": 0,
                "label_rows": 240, "same_label_rate": 0.9166666, "score_values": 480,
                "mean_abs_score_diff": 0.01234,
            },
        });
        for (k, v) in extra.as_object().unwrap() {
            r[k] = v.clone();
        }
        serde_json::from_value(r).unwrap()
    }

    fn deployment(current: Option<Revision>) -> Deployment {
        let mut d: Deployment = serde_json::from_value(json!({
            "name": "credit-api", "model": "credit", "target": "credit:3", "version": 3,
            "ready": true, "error": null, "endpoint": "/v2/models/credit-api/infer",
            "created_at": "2025-03-14T09:00:00Z", "updated_at": "2025-03-14T09:26:53Z",
            "updated_by": "ana",
        }))
        .unwrap();
        d.current = current;
        d
    }

    fn check_kind(extra: serde_json::Value, expected: &str) {
        assert_eq!(kind_cell(&revision(extra.clone())), expected, "{extra}");
    }

    #[test]
    fn kinds_mark_rollbacks_and_where_they_went() {
        check_kind(json!({}), "deploy");
        check_kind(json!({"kind": "promote"}), "promote");
        check_kind(
            json!({"kind": "rollback", "rolled_back_to": 2}),
            "rollback → 2",
        );
        check_kind(
            json!({"kind": "guardrail_rollback", "guardrail_from": 3, "reason": "error rate 0.4 > 0.05"}),
            "guardrail rollback of 3: error rate 0.4 > 0.05",
        );
        check_kind(
            json!({"kind": "alias_moved", "alias": "credit@production"}),
            "alias moved (credit@production)",
        );
        check_kind(json!({"kind": "traffic_mirror"}), "traffic mirror");
    }

    #[test]
    fn routes_read_as_target_share_and_version() {
        let r = revision(json!({}));
        assert_eq!(
            routes_cell(&r.routes),
            "credit:3 90% → v3, credit@staging 10% → v4"
        );
        assert_eq!(shadow_cell(r.shadow.as_ref()), "credit:5 → v5");
        assert_eq!(shadow_cell(None), "-");
        assert_eq!(routes_cell(&[]), "-");
    }

    #[test]
    fn a_change_prints_the_new_revision_routes_shadow_and_endpoint() {
        let d = deployment(None);
        // Without a revision (an older server) the top-level fields still say what is served.
        assert_eq!(
            change_card(&d, URL),
            "deployment:  credit-api\n\
             routes:      credit:3 100% → v3\n\
             shadow:      -\n\
             ready:       yes\n\
             endpoint:    POST http://127.0.0.1:8080/v2/models/credit-api/infer\n"
        );
        let rollback = json!({
            "revision": 3, "kind": "rollback", "rolled_back_to": 1, "message": "",
            "routes": [{"target": "credit:3", "weight": 90, "version": 3},
                       {"target": "credit:4", "weight": 10, "version": 4}],
            "shadow": null,
        });
        let d = deployment(Some(revision(rollback.clone())));
        assert_eq!(
            change_card(&d, URL),
            "deployment:  credit-api\n\
             revision:    3 (rollback → 1)\n\
             routes:      credit:3 90% → v3, credit:4 10% → v4\n\
             shadow:      -\n\
             ready:       yes\n\
             endpoint:    POST http://127.0.0.1:8080/v2/models/credit-api/infer\n"
        );
        let mut d = deployment(Some(revision(rollback)));
        d.current.as_mut().unwrap().message = "v4 misbehaves".into();
        d.ready = false;
        d.error = Some("model credit:4 failed to load".into());
        let card = change_card(&d, URL);
        assert!(card.contains("message:     v4 misbehaves\n"), "{card}");
        assert!(
            card.contains("ready:       no: model credit:4 failed to load\n"),
            "{card}"
        );
    }

    #[test]
    fn show_adds_agreement_settings_and_guardrails() {
        assert_eq!(
            deployment_page(&deployment(Some(revision(json!({})))), URL),
            "deployment:  credit-api\n\
             revision:    1 (deploy)\n\
             changed:     2025-03-14 09:26 UTC by ana\n\
             message:     try v4\n\
             routes:      credit:3 90% → v3, credit@staging 10% → v4\n\
             shadow:      credit:5 → v5\n\
             ready:       yes\n\
             endpoint:    POST http://127.0.0.1:8080/v2/models/credit-api/infer\n\
             created:     2025-03-14 09:00 UTC\n\
             \n\
             shadow credit:5 → v5 agreement:\n  \
               compared:        12 requests\n  \
               same label:      91.7% of 240 rows\n  \
               mean |Δ score|:  0.0123 over 480 scores\n  \
               dropped:         0\n\
             \n\
             settings:\n  \
               max batch size:   64\n  \
               max queue delay:  500 µs\n  \
               queue capacity:   512 requests\n  \
               timeout:          none\n  \
               max concurrency:  4\n\
             \n\
             guardrails:\n  \
               max error rate:  5%\n  \
               max p99:         off\n  \
               window:          60 s\n  \
               min requests:    20\n"
        );
    }

    #[test]
    fn settings_show_segments_row_id_and_prediction_log_when_the_server_sends_them() {
        let mut s = revision(json!({})).settings;
        assert!(!settings_card(&s).contains("segments"));
        s.segments = Some(vec!["group".into(), "region".into()]);
        s.row_id = Some("row_id".into());
        s.log_predictions = Some(false);
        let card = settings_card(&s);
        assert!(
            card.ends_with(
                "segments:         group, region\n\
                 row id:           row_id\n\
                 prediction log:   off\n"
            ),
            "{card}"
        );
        s.segments = Some(Vec::new());
        s.row_id = None;
        s.log_predictions = Some(true);
        let card = settings_card(&s);
        assert!(
            card.ends_with(
                "segments:         -\n\
                 row id:           -\n\
                 prediction log:   on\n"
            ),
            "{card}"
        );
    }

    #[test]
    fn agreement_says_when_nothing_was_compared_and_what_went_wrong() {
        assert_eq!(agreement_card(None), "no requests compared yet\n");
        let a = Agreement {
            compared_requests: 10,
            failed_requests: 2,
            dropped_requests: 5,
            ..Agreement::default()
        };
        assert_eq!(
            agreement_card(Some(&a)),
            "compared:        10 requests (2 failed in the shadow)\n\
             same label:      -\n\
             mean |Δ score|:  -\n\
             dropped:         5 requests (the shadow fell behind)\n"
        );
    }

    #[test]
    fn a_past_revision_reads_on_its_own() {
        let page = revision_page(&revision(json!({"revision": 2, "shadow": null})));
        assert!(
            page.starts_with("deployment:  credit-api\nrevision:    2 (deploy)\n"),
            "{page}"
        );
        assert!(!page.contains("agreement"), "{page}");
        assert!(
            page.contains("\nsettings:\n") && page.contains("\nguardrails:\n"),
            "{page}"
        );
    }

    #[test]
    fn history_lists_revisions_with_kind_routes_and_message() {
        let revisions = [
            revision(json!({"shadow": null})),
            revision(json!({"revision": 2, "kind": "promote", "message": "",
                "routes": [{"target": "credit@staging", "weight": 100, "version": 4}], "shadow": null})),
            revision(
                json!({"revision": 3, "kind": "guardrail_rollback", "guardrail_from": 2,
                "reason": "p99 900 ms > 250 ms", "message": "p99 900 ms > 250 ms", "actor": "hangar",
                "routes": [{"target": "credit:3", "weight": 100, "version": 3}], "shadow": null}),
            ),
            revision(
                json!({"revision": 4, "kind": "rollback", "rolled_back_to": 1, "message": "again"}),
            ),
        ];
        assert_eq!(
            history_table(&revisions).render(),
            "REV  WHEN                  WHO     KIND                                          ROUTES                                      SHADOW         MESSAGE\n\
             1    2025-03-14 09:26 UTC  ana     deploy                                        credit:3 90% → v3, credit@staging 10% → v4  -              try v4\n\
             2    2025-03-14 09:26 UTC  ana     promote                                       credit@staging 100% → v4                    -              -\n\
             3    2025-03-14 09:26 UTC  hangar  guardrail rollback of 2: p99 900 ms > 250 ms  credit:3 100% → v3                          -              -\n\
             4    2025-03-14 09:26 UTC  ana     rollback → 1                                  credit:3 90% → v3, credit@staging 10% → v4  credit:5 → v5  again\n"
        );
    }

    #[test]
    fn list_shows_current_revision_routes_and_readiness() {
        let d = deployment(Some(revision(json!({"revision": 7}))));
        let mut down = deployment(None);
        down.name = "fraud".into();
        down.ready = false;
        assert_eq!(
            deployments_table(&[d, down]).render(),
            "NAME        REVISION  ROUTES                                      SHADOW         READY  UPDATED\n\
             credit-api  7         credit:3 90% → v3, credit@staging 10% → v4  credit:5 → v5  yes    2025-03-14 09:26 UTC\n\
             fraud       -         credit:3 100% → v3                          -              no     2025-03-14 09:26 UTC\n"
        );
    }
}
