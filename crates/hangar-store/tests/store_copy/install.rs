//! The embedded install the copy tests start from: rows in every table,
//! made through the store's own methods, as the server makes them.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, Duration, TimeZone, Utc};
use hangar_core::alerts::{AlertRule, Comparison, Severity};
use hangar_core::governance::Role;
use hangar_core::monitor::aggregate::{Aggregate, Resolution, RowValues};
use hangar_core::{
    ArtifactFormat, DeploymentSettings, ModelCard, ResolvedRoute, ResolvedShadow, RevisionKind,
    RiskTier, RoutingTable, Signature,
};
use hangar_store::{
    AggregateKey, AlertEventRecord, ApprovalRecord, ArtifactStore, BaselineRecord, ChannelRecord,
    Db, DeliveryRecord, FeedbackKey, LogRow, NewAuditEntry, NewVersion, StoredArtifact,
    TokenRecord,
};

pub fn t(s: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_790_000_000 + s, 0).unwrap() + Duration::microseconds(250)
}

async fn artifact(store: &ArtifactStore, bytes: &[u8]) -> StoredArtifact {
    let mut upload = store.begin(1 << 20).await.unwrap();
    upload.write(bytes).await.unwrap();
    upload.finish().await.unwrap().commit().await.unwrap()
}

pub fn version(artifact: StoredArtifact, n: u32) -> NewVersion {
    NewVersion {
        artifact,
        format: ArtifactFormat::Onnx,
        signature: Signature::default(),
        feature_names: Some(vec!["age".into(), "income".into()]),
        description: format!("v{n}"),
        source_commit: Some(format!("c0ffee{n}")),
        training_run: None,
        metrics: BTreeMap::from([("auc".to_string(), 0.8 + f64::from(n) / 100.0)]),
        metadata: BTreeMap::from([("owner".to_string(), "risk".to_string())]),
    }
}

fn routes(model: &str, versions: &[(u32, u8)]) -> RoutingTable {
    RoutingTable {
        routes: versions
            .iter()
            .map(|&(v, w)| ResolvedRoute {
                target: format!("{model}:{v}").parse().unwrap(),
                weight: w,
                version: v,
            })
            .collect(),
        shadow: None,
    }
}

/// Times between the alias moves, for `alias_at`.
pub struct Moments {
    pub before_any: DateTime<Utc>,
    pub after_first: DateTime<Utc>,
    pub after_second: DateTime<Utc>,
}

/// An embedded install with rows in every table.
async fn fill(db: &Db, data_dir: &Path) -> Moments {
    let artifacts = ArtifactStore::open(data_dir.join("artifacts"))
        .await
        .unwrap();
    let a1 = artifact(&artifacts, b"model one").await;
    let a2 = artifact(&artifacts, b"model two").await;
    let a3 = artifact(&artifacts, b"model three").await;
    let csv = artifact(&artifacts, b"age,income,label\n30,1000,1\n").await;
    // Not named by any row: not copied.
    artifact(&artifacts, b"orphan").await;

    // Governance first: the model belongs to a team.
    db.create_team("risk", "root").await.unwrap();
    db.create_user("root", None, true, &[], "hangar")
        .await
        .unwrap();
    db.create_user(
        "ada",
        Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA"),
        false,
        &[
            ("risk".to_string(), Role::DataScientist),
            ("default".to_string(), Role::Viewer),
        ],
        "root",
    )
    .await
    .unwrap();
    db.create_user(
        "bob",
        None,
        false,
        &[("risk".to_string(), Role::Approver)],
        "root",
    )
    .await
    .unwrap();
    let token = |id: &str, kind: &str, user: Option<&str>| TokenRecord {
        id: id.into(),
        kind: kind.into(),
        user: user.map(str::to_string),
        secret_hash: format!("{id}-hash"),
        name: format!("{id} name"),
        deployments: if kind == "consumer" {
            vec!["credit-api".into()]
        } else {
            Vec::new()
        },
        purpose: if kind == "consumer" {
            "loan origination".into()
        } else {
            String::new()
        },
        rate_limit: (kind == "consumer").then_some(12.5),
        created_at: t(1),
        created_by: "root".into(),
        expires_at: Some(t(86_400)),
        revoked_at: None,
        last_used_at: None,
    };
    db.create_token(&token("tok1", "api", Some("ada")))
        .await
        .unwrap();
    db.create_token(&token("tok2", "consumer", None))
        .await
        .unwrap();
    db.create_token(&token("tok3", "api", Some("bob")))
        .await
        .unwrap();
    db.revoke_token("tok3").await.unwrap();
    db.touch_token("tok1", t(5)).await.unwrap();

    // Models, versions, aliases (production moved twice, staging deleted).
    let card = ModelCard {
        description: "credit risk".into(),
        owner_team: Some("risk".into()),
        intended_use: Some("pre-screening".into()),
        out_of_scope_uses: vec!["hiring".into()],
        risk_tier: RiskTier::High,
        tags: vec!["tabular".into()],
    };
    db.create_model("credit", &card, "ada").await.unwrap();
    for (n, a) in [(1, &a1), (2, &a2), (3, &a3)] {
        db.add_version("credit", &version(a.clone(), n), "ada")
            .await
            .unwrap();
    }
    db.add_version_creating(
        "fraud",
        Some(&ModelCard::default()),
        &version(a1.clone(), 1),
        "ada",
    )
    .await
    .unwrap();
    let before_any = Utc::now();
    db.set_alias("credit", "production", 1, "ada")
        .await
        .unwrap();
    db.set_alias("credit", "staging", 3, "ada").await.unwrap();
    let after_first = Utc::now();
    db.set_alias("credit", "production", 2, "bob")
        .await
        .unwrap();
    let after_second = Utc::now();
    db.set_alias("credit", "production", 3, "bob")
        .await
        .unwrap();
    db.delete_alias("credit", "staging", "ada").await.unwrap();

    // Deployments with revisions.
    db.create_revision(
        "credit-api",
        &routes("credit", &[(1, 100)]),
        &DeploymentSettings::default(),
        &RevisionKind::Deploy,
        "first",
        "ada",
    )
    .await
    .unwrap();
    let mut canary = routes("credit", &[(1, 90), (2, 10)]);
    canary.shadow = Some(ResolvedShadow {
        target: "credit:3".parse().unwrap(),
        version: 3,
    });
    let settings = DeploymentSettings {
        max_batch_size: 8,
        timeout_ms: Some(250),
        ..Default::default()
    };
    db.create_revision(
        "credit-api",
        &canary,
        &settings,
        &RevisionKind::Deploy,
        "canary",
        "ada",
    )
    .await
    .unwrap();
    db.create_revision(
        "credit-api",
        &routes("credit", &[(1, 100)]),
        &settings,
        &RevisionKind::Guardrail {
            from: 2,
            reason: "p99 40 ms > 20 ms".into(),
        },
        "",
        "hangar",
    )
    .await
    .unwrap();
    db.create_revision(
        "fraud-api",
        &routes("fraud", &[(1, 100)]),
        &DeploymentSettings::default(),
        &RevisionKind::Deploy,
        "",
        "ada",
    )
    .await
    .unwrap();
    db.update_card_moving("credit", &card, &["credit-api".to_string()])
        .await
        .unwrap();

    // A baseline, approvals, a trusted key and a signature.
    db.put_baseline(&BaselineRecord {
        model: "credit".into(),
        version: 1,
        digest: csv.digest.clone(),
        label_column: Some("label".into()),
        categorical: vec!["age".into()],
        rows: 1,
        created_at: t(2),
        created_by: "ada".into(),
    })
    .await
    .unwrap();
    for (approved, by) in [(false, "bob"), (true, "bob")] {
        db.add_decision(&ApprovalRecord {
            model: "credit".into(),
            version: 2,
            digest: a2.digest.clone(),
            approved,
            comment: format!("{by} says {approved}"),
            by: by.into(),
            at: t(3),
        })
        .await
        .unwrap();
    }
    let public_key = "ab".repeat(32);
    db.add_trusted_key("release", &public_key, "root")
        .await
        .unwrap();
    db.add_signature("credit", 2, &public_key, &"cd".repeat(64))
        .await
        .unwrap();

    // The audit chain.
    for (i, (action, object, teams)) in [
        ("login", "users/ada", vec![]),
        ("push", "models/credit/versions/1", vec!["risk".to_string()]),
        ("deploy", "deployments/credit-api", vec!["risk".to_string()]),
        (
            "approve",
            "models/credit/versions/2",
            vec!["risk".to_string(), "default".to_string()],
        ),
        ("token.create", "tokens/tok1", vec![]),
    ]
    .into_iter()
    .enumerate()
    {
        db.append_audit(&NewAuditEntry {
            actor: if i % 2 == 0 { "ada" } else { "bob" }.into(),
            address: "127.0.0.1".into(),
            action: action.into(),
            object: object.into(),
            outcome: "ok".into(),
            detail: format!("{{\"n\":{i},\"note\":\"ünïcode\"}}"),
            teams,
        })
        .await
        .unwrap();
    }

    // Alerts.
    db.put_rule(
        &AlertRule {
            name: "errors".into(),
            deployment: "*".into(),
            metric: "traffic.error_rate".parse().unwrap(),
            comparison: Comparison::Gt,
            threshold: 0.02,
            window_secs: 600,
            for_secs: 120,
            severity: Severity::Critical,
            guardrail: true,
        },
        "root",
    )
    .await
    .unwrap();
    db.put_rule(
        &AlertRule {
            name: "drift".into(),
            deployment: "credit-api".into(),
            metric: "features.income.psi".parse().unwrap(),
            comparison: Comparison::Ge,
            threshold: 0.2,
            window_secs: 3600,
            for_secs: 0,
            severity: Severity::Warning,
            guardrail: false,
        },
        "ada",
    )
    .await
    .unwrap();
    let mut events = Vec::new();
    for (i, kind) in ["pending", "firing", "resolved"].into_iter().enumerate() {
        events.push(
            db.add_alert_event(&AlertEventRecord {
                id: 0,
                rule: "errors".into(),
                deployment: "credit-api".into(),
                kind: kind.into(),
                severity: "critical".into(),
                value: (i != 2).then_some(0.05),
                message: format!("errors {kind}"),
                at: t(10 + i as i64),
            })
            .await
            .unwrap(),
        );
    }
    db.put_channel(&ChannelRecord {
        name: "mail".into(),
        kind: "email".into(),
        url: "smtp://127.0.0.1:2525".into(),
        email_to: vec!["ops@example.com".into()],
        email_from: Some("hangar@example.com".into()),
        created_at: t(4),
        created_by: "root".into(),
    })
    .await
    .unwrap();
    db.put_channel(&ChannelRecord {
        name: "hook".into(),
        kind: "webhook".into(),
        url: "http://127.0.0.1:9/hook".into(),
        email_to: Vec::new(),
        email_from: None,
        created_at: t(4),
        created_by: "root".into(),
    })
    .await
    .unwrap();
    for (attempt, ok) in [(1, false), (2, true)] {
        db.add_delivery(&DeliveryRecord {
            event_id: events[1],
            channel: "hook".into(),
            attempt,
            ok,
            detail: if ok { "200 OK" } else { "refused" }.into(),
            at: t(11),
        })
        .await
        .unwrap();
    }

    // The prediction log (two requests, one of three rows), feedback on two
    // rows, and aggregates (minute, hour and day rows).
    {
        let mut writer = db.prediction_writer().unwrap();
        let mut features = Vec::new();
        hangar_store::encode_features_into(&[31.0, 1250.5], &mut features);
        writer
            .append(&mut |sink| {
                for (request, rows, at) in [("req-a", 3u32, t(20)), ("req-b", 1, t(80))] {
                    for row in 0..rows {
                        let row_id = format!("app-{request}-{row}");
                        sink.push(&LogRow {
                            deployment: "credit-api",
                            at,
                            request_id: request,
                            row,
                            row_id: Some(&row_id),
                            revision: 3,
                            model: "credit",
                            version: 1,
                            features: &features,
                            outputs: "{\"label\":[1]}",
                            score: Some(0.75),
                            predicted: Some(1.0),
                            segments: "{\"region\":\"north\"}",
                            latency_us: 1200 + u64::from(row),
                            purpose: Some("loan origination"),
                        });
                    }
                }
            })
            .unwrap();
        let mut feedback = db.feedback_writer().unwrap();
        let (mut versions, mut found) = (Vec::new(), Vec::new());
        feedback
            .find(
                "credit-api",
                &[
                    FeedbackKey::RowId("app-req-a-1".into()),
                    FeedbackKey::Request {
                        request_id: "req-b".into(),
                        row: 0,
                    },
                ],
                &mut versions,
                &mut found,
            )
            .unwrap();
        assert_eq!(found.len(), 2);
        let labels: Vec<(i64, f64)> = found.iter().map(|f| (f.id, 1.0)).collect();
        assert_eq!(feedback.apply(&labels, t(100)).unwrap(), 2);
    }
    let mut minute = Aggregate::new(Resolution::Minute.sample_cap(), None);
    for key in 0..3u64 {
        minute.record(
            None,
            RowValues {
                features: &[31.0, 1250.5],
                score: Some(0.75),
                predicted: Some(1.0),
            },
            key * 7919,
        );
    }
    db.add_aggregate(
        &AggregateKey {
            deployment: "credit-api".into(),
            model: "credit".into(),
            version: 1,
            start: 1_790_000_000,
        },
        &minute,
    )
    .await
    .unwrap();

    Moments {
        before_any,
        after_first,
        after_second,
    }
}

/// An embedded install, filled and closed (as after `hangar serve` stops).
pub async fn embedded() -> (tempfile::TempDir, Moments) {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(&dir.path().join("hangar.db")).await.unwrap();
    let moments = fill(&db, dir.path()).await;
    db.close().await;
    (dir, moments)
}
