//! The registry against a real SQLite file.

use std::collections::BTreeMap;

use chrono::Utc;
use hangar_core::{
    ArtifactFormat, DeploymentSettings, ModelCard, ResolvedRoute, ResolvedShadow, RevisionKind,
    RiskTier, RoutingTable, Signature,
};
use hangar_store::{Db, Missing, NewVersion, StoreError, StoredArtifact};

fn new_version(n: u8) -> NewVersion {
    NewVersion {
        artifact: StoredArtifact {
            digest: format!("sha256:{}", format!("{n:02x}").repeat(32)),
            size_bytes: 10,
        },
        format: ArtifactFormat::Onnx,
        signature: Signature::default(),
        feature_names: Some(vec!["a".into(), "b".into()]),
        description: format!("v{n}"),
        source_commit: Some("abc123".into()),
        training_run: None,
        metrics: BTreeMap::from([("auc".to_string(), 0.88)]),
        metadata: BTreeMap::from([("k".to_string(), "v".to_string())]),
    }
}

async fn open() -> (tempfile::TempDir, Db) {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(&dir.path().join("hangar.db")).await.unwrap();
    (dir, db)
}

#[tokio::test]
async fn versions_are_numbered_per_model_even_when_pushed_concurrently() {
    let (_dir, db) = open().await;
    db.create_model("a", &ModelCard::default(), "alice")
        .await
        .unwrap();
    db.create_model("b", &ModelCard::default(), "alice")
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..10u8 {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            db.add_version("a", &new_version(i), "bob")
                .await
                .unwrap()
                .version
        }));
    }
    let mut numbers: Vec<u32> = Vec::new();
    for t in tasks {
        numbers.push(t.await.unwrap());
    }
    numbers.sort();
    assert_eq!(numbers, (1..=10).collect::<Vec<_>>());
    assert_eq!(
        db.add_version("b", &new_version(1), "bob")
            .await
            .unwrap()
            .version,
        1
    );
    let v = db.get_version("a", 3).await.unwrap();
    assert_eq!(
        v.feature_names.as_deref(),
        Some(&["a".to_string(), "b".to_string()][..])
    );
    assert_eq!(v.metrics["auc"], 0.88);
    assert_eq!(db.get_model("a").await.unwrap().latest_version, Some(10));
}

#[tokio::test]
async fn duplicate_models_conflict_and_unknown_ones_are_not_found() {
    let (_dir, db) = open().await;
    db.create_model("a", &ModelCard::default(), "x")
        .await
        .unwrap();
    assert!(matches!(
        db.create_model("a", &ModelCard::default(), "x").await,
        Err(StoreError::Taken(_))
    ));
    assert!(matches!(
        db.get_model("nope").await,
        Err(StoreError::NotFound(Missing::Model(m))) if m == "nope"
    ));
    assert!(matches!(
        db.add_version("nope", &new_version(1), "x").await,
        Err(StoreError::NotFound(Missing::Model(m))) if m == "nope"
    ));
}

#[tokio::test]
async fn model_card_updates_persist() {
    let (_dir, db) = open().await;
    db.create_model("a", &ModelCard::default(), "x")
        .await
        .unwrap();
    let card = ModelCard {
        description: "credit risk".into(),
        owner_team: Some("risk".into()),
        intended_use: Some("pre-screening".into()),
        out_of_scope_uses: vec!["hiring".into()],
        risk_tier: RiskTier::High,
        tags: vec!["tabular".into()],
    };
    db.update_card("a", &card).await.unwrap();
    assert_eq!(db.get_model("a").await.unwrap().card, card);
}

#[tokio::test]
async fn a_first_version_can_create_its_model_in_one_step() {
    let (_dir, db) = open().await;
    let card = ModelCard {
        owner_team: Some("risk".into()),
        ..ModelCard::default()
    };
    let (v, created) = db
        .add_version_creating("fresh", Some(&card), &new_version(1), "ada")
        .await
        .unwrap();
    assert!(created);
    assert_eq!(v.version, 1);
    let m = db.get_model("fresh").await.unwrap();
    assert_eq!(m.card.owner_team.as_deref(), Some("risk"));
    assert_eq!(m.created_by, "ada");
    assert_eq!(m.latest_version, Some(1));
    // A model that exists by then was made by someone else: a conflict.
    assert!(matches!(
        db.add_version_creating("fresh", Some(&card), &new_version(2), "bob")
            .await,
        Err(StoreError::Conflict(_))
    ));
    let (v, created) = db
        .add_version_creating("fresh", None, &new_version(2), "bob")
        .await
        .unwrap();
    assert_eq!((v.version, created), (2, false));
}

#[tokio::test]
async fn versions_are_immutable_in_the_database() {
    let (dir, db) = open().await;
    db.create_model("a", &ModelCard::default(), "x")
        .await
        .unwrap();
    db.add_version("a", &new_version(1), "x").await.unwrap();
    db.close().await;
    // Go around the store: the schema itself refuses.
    let pool = sqlx::SqlitePool::connect(&format!(
        "sqlite://{}",
        dir.path().join("hangar.db").display()
    ))
    .await
    .unwrap();
    let err = sqlx::query("UPDATE model_versions SET digest = 'x'")
        .execute(&pool)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("immutable"), "{err}");
    assert!(sqlx::query("DELETE FROM model_versions")
        .execute(&pool)
        .await
        .is_err());
}

#[tokio::test]
async fn alias_history_answers_which_version_was_in_production_when() {
    let (_dir, db) = open().await;
    db.create_model("a", &ModelCard::default(), "x")
        .await
        .unwrap();
    for i in 1..=3 {
        db.add_version("a", &new_version(i), "x").await.unwrap();
    }
    let before = Utc::now();
    let e1 = db.set_alias("a", "production", 1, "alice").await.unwrap();
    assert_eq!((e1.from_version, e1.to_version), (None, Some(1)));
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let t1 = Utc::now();
    let e2 = db.set_alias("a", "production", 2, "bob").await.unwrap();
    assert_eq!((e2.from_version, e2.to_version), (Some(1), Some(2)));
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let t2 = Utc::now();
    let e3 = db.delete_alias("a", "production", "carol").await.unwrap();
    assert_eq!((e3.from_version, e3.to_version), (Some(2), None));

    assert_eq!(db.alias_at("a", "production", before).await.unwrap(), None);
    assert_eq!(db.alias_at("a", "production", t1).await.unwrap(), Some(1));
    assert_eq!(db.alias_at("a", "production", t2).await.unwrap(), Some(2));
    assert_eq!(
        db.alias_at("a", "production", Utc::now()).await.unwrap(),
        None
    );

    let history = db.alias_history("a", Some("production")).await.unwrap();
    let actors: Vec<_> = history.iter().map(|e| e.actor.as_str()).collect();
    assert_eq!(actors, ["alice", "bob", "carol"]);
    assert!(matches!(
        db.get_alias("a", "production").await,
        Err(StoreError::NotFound(Missing::Alias { model, alias })) if model == "a" && alias == "production"
    ));
    assert!(matches!(
        db.set_alias("a", "staging", 9, "x").await,
        Err(StoreError::NotFound(Missing::Version { model, version: 9 })) if model == "a"
    ));
    assert!(matches!(
        db.delete_alias("a", "staging", "x").await,
        Err(StoreError::NotFound(Missing::Alias { model, alias })) if model == "a" && alias == "staging"
    ));
}

fn table(versions: &[(u32, u8)]) -> RoutingTable {
    RoutingTable {
        routes: versions
            .iter()
            .map(|&(v, w)| ResolvedRoute {
                target: format!("a:{v}").parse().unwrap(),
                weight: w,
                version: v,
            })
            .collect(),
        shadow: None,
    }
}

#[tokio::test]
async fn deployments_are_numbered_revisions_that_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hangar.db");
    {
        let db = Db::open(&path).await.unwrap();
        let r1 = db
            .create_revision(
                "credit",
                &table(&[(1, 100)]),
                &DeploymentSettings::default(),
                &RevisionKind::Deploy,
                "first",
                "alice",
            )
            .await
            .unwrap();
        assert_eq!(r1.number, 1);
        let mut t = table(&[(1, 90), (2, 10)]);
        t.shadow = Some(ResolvedShadow {
            target: "a@shadow".parse().unwrap(),
            version: 3,
        });
        let settings = DeploymentSettings {
            max_batch_size: 8,
            timeout_ms: Some(250),
            ..Default::default()
        };
        let r2 = db
            .create_revision(
                "credit",
                &t,
                &settings,
                &RevisionKind::Deploy,
                "canary",
                "bob",
            )
            .await
            .unwrap();
        assert_eq!(r2.number, 2);
        assert_eq!(r2.table, t);
        assert_eq!(r2.settings, settings);
        let r3 = db
            .create_revision(
                "credit",
                &table(&[(1, 100)]),
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
        assert_eq!(
            r3.kind,
            RevisionKind::Guardrail {
                from: 2,
                reason: "p99 40 ms > 20 ms".into()
            }
        );
        db.close().await;
    }
    let db = Db::open(&path).await.unwrap();
    let d = db.get_deployment("credit").await.unwrap();
    assert_eq!(d.current.number, 3);
    let history = db.list_revisions("credit").await.unwrap();
    let summary: Vec<_> = history
        .iter()
        .map(|r| (r.number, r.actor.as_str(), r.kind.name()))
        .collect();
    assert_eq!(
        summary,
        [
            (1, "alice", "deploy"),
            (2, "bob", "deploy"),
            (3, "hangar", "guardrail_rollback")
        ]
    );
    assert_eq!(db.list_deployments().await.unwrap().len(), 1);

    db.delete_deployment("credit").await.unwrap();
    assert!(matches!(
        db.get_deployment("credit").await,
        Err(StoreError::NotFound(Missing::Deployment(d))) if d == "credit"
    ));
    assert_eq!(
        db.list_revisions("credit").await.unwrap().len(),
        3,
        "history outlives the deployment"
    );
    let again = db
        .create_revision(
            "credit",
            &table(&[(2, 100)]),
            &DeploymentSettings::default(),
            &RevisionKind::Deploy,
            "",
            "x",
        )
        .await
        .unwrap();
    assert_eq!(again.number, 4);
}

#[tokio::test]
async fn revisions_are_immutable_in_the_database() {
    let (dir, db) = open().await;
    db.create_revision(
        "d",
        &table(&[(1, 100)]),
        &DeploymentSettings::default(),
        &RevisionKind::Deploy,
        "",
        "x",
    )
    .await
    .unwrap();
    db.close().await;
    let pool = sqlx::SqlitePool::connect(&format!(
        "sqlite://{}",
        dir.path().join("hangar.db").display()
    ))
    .await
    .unwrap();
    let err = sqlx::query("UPDATE deployment_revisions SET actor = 'mallory'")
        .execute(&pool)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("immutable"), "{err}");
}

#[tokio::test]
async fn first_form_deployments_are_migrated_to_revision_one() {
    // A data directory written by the first schema (one target per deployment).
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("hangar.db").display()
    );
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    sqlx::raw_sql(include_str!("../migrations/sqlite/0001_registry.sql"))
        .execute(&pool)
        .await
        .unwrap();
    sqlx::raw_sql(
        "INSERT INTO models (id, name, created_at, updated_at, created_by) VALUES (1, 'a', '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z', 'x');
         INSERT INTO model_versions (model_id, version, digest, size_bytes, format, signature, created_at, created_by)
           VALUES (1, 1, 'sha256:00', 1, 'onnx', '{\"inputs\":[],\"outputs\":[]}', '2026-01-01T00:00:00.000000Z', 'x');
         INSERT INTO deployments (name, model_id, target_alias, version, created_at, updated_at, updated_by)
           VALUES ('credit', 1, 'production', 1, '2026-01-02T00:00:00.000000Z', '2026-01-02T00:00:00.000000Z', 'carol');
         CREATE TABLE _sqlx_migrations (version BIGINT PRIMARY KEY, description TEXT NOT NULL, installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP, success BOOLEAN NOT NULL, checksum BLOB NOT NULL, execution_time BIGINT NOT NULL);",
    )
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
    // Mark 0001 as applied with the checksum sqlx expects, then migrate.
    let migrator = sqlx::migrate!("./migrations/sqlite");
    let first = migrator.iter().next().unwrap();
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    sqlx::query("INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES (?, ?, 1, ?, 0)")
        .bind(first.version)
        .bind(&*first.description)
        .bind(&*first.checksum)
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let db = Db::open(&dir.path().join("hangar.db")).await.unwrap();
    let d = db.get_deployment("credit").await.unwrap();
    assert_eq!(d.current.number, 1);
    assert_eq!(d.current.actor, "carol");
    assert_eq!(d.current.table.routes[0].target.to_string(), "a@production");
    assert_eq!(
        (
            d.current.table.routes[0].weight,
            d.current.table.routes[0].version
        ),
        (100, 1)
    );
}
