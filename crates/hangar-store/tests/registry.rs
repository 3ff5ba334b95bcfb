//! The registry against a real SQLite file.

use std::collections::BTreeMap;

use chrono::Utc;
use hangar_core::{ArtifactFormat, ModelCard, RiskTier, Signature, VersionRef};
use hangar_store::{Db, NewVersion, StoreError, StoredArtifact};

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
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        db.get_model("nope").await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        db.add_version("nope", &new_version(1), "x").await,
        Err(StoreError::NotFound(_))
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
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        db.set_alias("a", "staging", 9, "x").await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        db.delete_alias("a", "staging", "x").await,
        Err(StoreError::NotFound(_))
    ));
}

#[tokio::test]
async fn deployments_survive_reopening_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hangar.db");
    {
        let db = Db::open(&path).await.unwrap();
        db.create_model("a", &ModelCard::default(), "x")
            .await
            .unwrap();
        db.add_version("a", &new_version(1), "x").await.unwrap();
        db.set_alias("a", "production", 1, "x").await.unwrap();
        let target: VersionRef = "a@production".parse().unwrap();
        db.put_deployment("credit", &target, 1, "x").await.unwrap();
        db.close().await;
    }
    let db = Db::open(&path).await.unwrap();
    let d = db.get_deployment("credit").await.unwrap();
    assert_eq!(d.target.to_string(), "a@production");
    assert_eq!(d.version, 1);
    assert_eq!(db.list_deployments().await.unwrap().len(), 1);
    db.delete_deployment("credit").await.unwrap();
    assert!(matches!(
        db.get_deployment("credit").await,
        Err(StoreError::NotFound(_))
    ));
}
