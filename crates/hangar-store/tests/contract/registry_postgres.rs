//! The registry on PostgreSQL only: what the trait cannot show (several
//! processes on one database, the schema's own refusals, teams).

use super::registry::*;
use hangar_core::ModelCard;
use hangar_store::Db;

// ---- PostgreSQL only: what the trait cannot show ----------------------------

/// Three handles on one database, each with its own pool, stand for three
/// Hangar processes: their concurrent pushes and deployment changes get
/// distinct, consecutive numbers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_sharing_one_postgres_database_get_distinct_consecutive_numbers() {
    let pg = hangar_testkit::TestDatabase::create().await;
    let mut handles = Vec::new();
    for _ in 0..3 {
        handles.push(Db::connect(pg.url()).await.unwrap());
    }
    handles[0]
        .create_model("a", &ModelCard::default(), "x")
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..30u8 {
        let db = handles[usize::from(i) % 3].clone();
        tasks.push(tokio::spawn(async move {
            let v = db.add_version("a", &new_version(i), "x").await.unwrap();
            let r = deploy(&db, "credit", &table(&[(v.version, 100)]), "x").await;
            (v.version, r)
        }));
    }
    let (mut versions, mut revisions): (Vec<u32>, Vec<u32>) = (Vec::new(), Vec::new());
    for t in tasks {
        let (v, r) = t.await.unwrap();
        versions.push(v);
        revisions.push(r);
    }
    versions.sort();
    revisions.sort();
    assert_eq!(versions, (1..=30).collect::<Vec<_>>());
    assert_eq!(revisions, (1..=30).collect::<Vec<_>>());
    for db in &handles {
        assert_eq!(db.get_model("a").await.unwrap().latest_version, Some(30));
        db.close().await;
    }
}

/// Versions and revisions are immutable in the schema itself, as on SQLite.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_refuses_edits_of_versions_and_revisions() {
    let pg = hangar_testkit::TestDatabase::create().await;
    let db = Db::connect(pg.url()).await.unwrap();
    db.create_model("a", &ModelCard::default(), "x")
        .await
        .unwrap();
    db.add_version("a", &new_version(1), "x").await.unwrap();
    deploy(&db, "d", &table(&[(1, 100)]), "x").await;
    db.close().await;
    // Go around the store: the schema itself refuses.
    let pool = sqlx::PgPool::connect(pg.url()).await.unwrap();
    for (sql, says) in [
        (
            "UPDATE model_versions SET digest = 'x'",
            "model versions are immutable",
        ),
        (
            "DELETE FROM model_versions",
            "model versions cannot be deleted",
        ),
        (
            "UPDATE deployment_revisions SET actor = 'mallory'",
            "deployment revisions are immutable",
        ),
    ] {
        let err = sqlx::query(sql).execute(&pool).await.unwrap_err();
        assert!(err.to_string().contains(says), "{sql}: {err}");
    }
    pool.close().await;
}

/// A new deployment belongs to its first route's model's team, and moves
/// with the model when its card names another team and takes it along.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_deployments_follow_their_models_team() {
    let pg = hangar_testkit::TestDatabase::create().await;
    let db = Db::connect(pg.url()).await.unwrap();
    let risk = ModelCard {
        owner_team: Some("risk".into()),
        ..ModelCard::default()
    };
    db.add_version_creating("a", Some(&risk), &new_version(1), "x")
        .await
        .unwrap();
    deploy(&db, "credit", &table(&[(1, 100)]), "x").await;
    let mut other = table(&[(1, 100)]);
    other.routes[0].target = "unknown:1".parse().unwrap();
    deploy(&db, "orphan", &other, "x").await;
    let pool = sqlx::PgPool::connect(pg.url()).await.unwrap();
    let teams = || async {
        sqlx::query_as::<_, (String, String)>("SELECT name, team FROM deployments ORDER BY name")
            .fetch_all(&pool)
            .await
            .unwrap()
    };
    let pair = |a: &str, b: &str| (a.to_string(), b.to_string());
    assert_eq!(
        teams().await,
        [pair("credit", "risk"), pair("orphan", "default")]
    );
    // A later revision does not change the team; a card update moving it does.
    deploy(&db, "credit", &table(&[(1, 100)]), "x").await;
    let fraud = ModelCard {
        owner_team: Some("fraud".into()),
        ..ModelCard::default()
    };
    db.update_card_moving("a", &fraud, &["credit".into()])
        .await
        .unwrap();
    assert_eq!(
        teams().await,
        [pair("credit", "fraud"), pair("orphan", "default")]
    );
    db.update_card_moving("a", &ModelCard::default(), &["credit".into()])
        .await
        .unwrap();
    assert_eq!(teams().await[0], pair("credit", "default"));
    pool.close().await;
    db.close().await;
}
