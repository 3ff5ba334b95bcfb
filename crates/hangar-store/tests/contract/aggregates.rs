//! Monitoring aggregates and baselines on both backends: minutes merge into
//! their hour and day, rows are stored, replaced and pruned, and a baseline
//! is kept per version.

use std::collections::BTreeMap;

use chrono::{TimeZone, Utc};
use hangar_core::monitor::aggregate::{Aggregate, Resolution, RowValues};
use hangar_core::{ArtifactFormat, ModelCard, Signature};
use hangar_store::{
    AggregateKey, BaselineRecord, Db, Missing, NewVersion, StoreError, StoredArtifact,
};

fn aggregate(cap: usize, seconds: std::ops::Range<u64>) -> Aggregate {
    let mut a = Aggregate::new(cap, None);
    for s in seconds {
        let features = [s as f64, 1.0];
        a.record(
            None,
            RowValues {
                features: &features,
                score: Some(0.5),
                predicted: Some(1.0),
            },
            s.wrapping_mul(0x9e37_79b9_7f4a_7c15),
        );
    }
    a
}

fn agg_key(deployment: &str, model: &str, version: u32, start: i64) -> AggregateKey {
    AggregateKey {
        deployment: deployment.into(),
        model: model.into(),
        version,
        start,
    }
}

async fn bodies(db: &Db, k: &AggregateKey, res: Resolution, from: i64, to: i64) -> Vec<Aggregate> {
    db.aggregate_bodies(&k.deployment, &k.model, k.version, res, from, to)
        .await
        .unwrap()
        .iter()
        .map(|b| Aggregate::decode(b).unwrap())
        .collect()
}

/// A day's start (Unix seconds) and its first hour's.
const DAY: i64 = 1_790_035_200;

crate::contract!(minutes_merge_into_their_hour_and_day, |db: Db| async move {
    let m1 = aggregate(Resolution::Minute.sample_cap(), 0..300);
    let m2 = aggregate(Resolution::Minute.sample_cap(), 300..400);
    let m3 = aggregate(Resolution::Minute.sample_cap(), 400..450);
    let k1 = agg_key("d", "m", 1, DAY + 65); // minute 1 of hour 0
    let k2 = agg_key("d", "m", 1, DAY + 125); // minute 2 of hour 0
    let k3 = agg_key("d", "m", 1, DAY + 3_600); // hour 1
    db.add_aggregate(&k1, &m1).await.unwrap();
    db.add_aggregate(&k2, &m2).await.unwrap();
    db.add_aggregate(&k3, &m3).await.unwrap();
    // Another version and another deployment stay apart.
    db.add_aggregate(&agg_key("d", "m", 2, DAY), &m3)
        .await
        .unwrap();
    db.add_aggregate(&agg_key("e", "m", 1, DAY), &m3)
        .await
        .unwrap();

    // Minutes are stored at their minute's start, as written.
    let minutes = bodies(&db, &k1, Resolution::Minute, DAY, DAY + 86_400).await;
    assert_eq!(minutes.len(), 3);
    assert_eq!(
        minutes.iter().map(|a| a.rows).collect::<Vec<_>>(),
        vec![300, 100, 50]
    );
    assert_eq!(minutes[0].sample, m1.sample);
    let only = bodies(&db, &k1, Resolution::Minute, DAY + 60, DAY + 120).await;
    assert_eq!(only.len(), 1);

    // Hours and the day are merges of their minutes.
    let mut hour0 = Aggregate::new(Resolution::Hour.sample_cap(), None);
    hour0.merge(&m1).unwrap();
    hour0.merge(&m2).unwrap();
    let hours = bodies(&db, &k1, Resolution::Hour, DAY, DAY + 86_400).await;
    assert_eq!(hours.len(), 2);
    assert_eq!(hours[0], hour0);
    assert_eq!(hours[1].rows, 50);
    let days = bodies(&db, &k1, Resolution::Day, DAY, DAY + 86_400).await;
    assert_eq!(days.len(), 1);
    let mut day = Aggregate::new(Resolution::Day.sample_cap(), None);
    for m in [&m1, &m2, &m3] {
        day.merge(m).unwrap();
    }
    assert_eq!(days[0].rows, 450);
    assert_eq!(days[0], day);

    // Rows per version, ordered by model and version; bounds are
    // [from, to) on the period's start.
    assert_eq!(
        db.aggregate_rows("d", Resolution::Hour, DAY, DAY + 86_400)
            .await
            .unwrap(),
        vec![("m".to_string(), 1, 450), ("m".to_string(), 2, 50)]
    );
    assert_eq!(
        db.aggregate_rows("d", Resolution::Hour, DAY, DAY + 3_600)
            .await
            .unwrap(),
        vec![("m".to_string(), 1, 400), ("m".to_string(), 2, 50)]
    );
    assert_eq!(
        db.aggregate_rows("d", Resolution::Minute, DAY + 60, DAY + 121)
            .await
            .unwrap(),
        vec![("m".to_string(), 1, 400)]
    );
    assert!(db
        .aggregate_rows("x", Resolution::Day, DAY, DAY + 86_400)
        .await
        .unwrap()
        .is_empty());
});

crate::contract!(
    aggregates_are_stored_replaced_and_pruned,
    |db: Db| async move {
        let a = aggregate(64, 0..10);
        let b = aggregate(64, 10..30);
        // put_aggregate stores a row as it is, at its period's start, and
        // replaces the row there.
        for (model, version) in [("b-model", 1), ("a-model", 3), ("a-model", 2)] {
            db.put_aggregate(
                &agg_key("d", model, version, DAY + 30),
                Resolution::Minute,
                &a,
            )
            .await
            .unwrap();
        }
        db.put_aggregate(
            &agg_key("d", "b-model", 1, DAY + 59),
            Resolution::Minute,
            &b,
        )
        .await
        .unwrap();
        db.put_aggregate(
            &agg_key("d", "b-model", 1, DAY + 7_300),
            Resolution::Hour,
            &a,
        )
        .await
        .unwrap();
        db.put_aggregate(
            &agg_key("d", "b-model", 1, DAY + 86_399),
            Resolution::Day,
            &a,
        )
        .await
        .unwrap();
        let k = agg_key("d", "b-model", 1, DAY);
        assert_eq!(
            bodies(&db, &k, Resolution::Minute, DAY, DAY + 60).await,
            vec![b.clone()]
        );
        assert_eq!(
            bodies(&db, &k, Resolution::Hour, DAY + 7_200, DAY + 7_201).await,
            vec![a.clone()]
        );
        assert_eq!(
            db.aggregate_rows("d", Resolution::Minute, DAY, DAY + 60)
                .await
                .unwrap(),
            vec![
                ("a-model".to_string(), 2, 10),
                ("a-model".to_string(), 3, 10),
                ("b-model".to_string(), 1, 20)
            ]
        );
        // add_aggregate merges onto a row that put_aggregate stored.
        db.add_aggregate(&agg_key("d", "b-model", 1, DAY + 1), &a)
            .await
            .unwrap();
        assert_eq!(
            bodies(&db, &k, Resolution::Minute, DAY, DAY + 60).await[0].rows,
            30
        );
        assert_eq!(
            bodies(&db, &k, Resolution::Day, DAY, DAY + 1).await[0].rows,
            20
        );

        // Minutes before their bound go, hours and days before theirs.
        let at = |s: i64| Utc.timestamp_opt(s, 0).unwrap();
        assert_eq!(db.prune_aggregates(at(DAY), at(DAY)).await.unwrap(), 0);
        assert_eq!(
            db.prune_aggregates(at(DAY + 60), at(DAY + 3_600))
                .await
                .unwrap(),
            5,
            "three minutes, and the hour and the day that started before hour 1"
        );
        assert!(bodies(&db, &k, Resolution::Minute, 0, i64::MAX)
            .await
            .is_empty());
        assert_eq!(
            bodies(&db, &k, Resolution::Hour, 0, i64::MAX).await.len(),
            1
        );
        assert_eq!(
            db.prune_aggregates(at(0), at(DAY + 86_400)).await.unwrap(),
            1
        );
        assert!(db
            .aggregate_rows("d", Resolution::Day, 0, i64::MAX)
            .await
            .unwrap()
            .is_empty());
    }
);

crate::contract!(
    minutes_added_at_once_all_count_in_their_hour,
    |db: Db| async move {
        // Sixteen minutes of one hour merged concurrently: none is lost.
        let mut tasks = Vec::new();
        for m in 0..16i64 {
            let db = db.clone();
            tasks.push(tokio::spawn(async move {
                let a = aggregate(
                    Resolution::Minute.sample_cap(),
                    (m as u64 * 10)..(m as u64 * 10 + 10),
                );
                db.add_aggregate(&agg_key("d", "m", 1, DAY + m * 60), &a)
                    .await
                    .unwrap();
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(
            db.aggregate_rows("d", Resolution::Hour, DAY, DAY + 3_600)
                .await
                .unwrap(),
            vec![("m".to_string(), 1, 160)]
        );
        let k = agg_key("d", "m", 1, DAY);
        assert_eq!(
            bodies(&db, &k, Resolution::Day, DAY, DAY + 1).await[0]
                .sample
                .len(),
            160
        );
    }
);

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
        source_commit: None,
        training_run: None,
        metrics: BTreeMap::new(),
        metadata: BTreeMap::new(),
    }
}

crate::contract!(
    a_baseline_is_kept_per_version_and_replaced,
    |db: Db| async move {
        db.create_model("credit", &ModelCard::default(), "alice")
            .await
            .unwrap();
        db.add_version("credit", &new_version(1), "alice")
            .await
            .unwrap();
        db.add_version("credit", &new_version(2), "alice")
            .await
            .unwrap();
        let at = Utc.timestamp_opt(1_790_000_000, 123_456_000).unwrap();
        let mut b = BaselineRecord {
            model: "credit".into(),
            version: 2,
            digest: "sha256:ab".into(),
            label_column: Some("label".into()),
            categorical: vec!["region".into(), "plan".into()],
            rows: 5_000,
            created_at: at,
            created_by: "alice".into(),
        };
        db.put_baseline(&b).await.unwrap();
        assert_eq!(db.get_baseline("credit", 2).await.unwrap(), b);
        assert!(matches!(
            db.get_baseline("credit", 1).await,
            Err(StoreError::NotFound(Missing::Baseline { ref model, version: 1 })) if model == "credit"
        ));
        assert!(matches!(
            db.get_baseline("nope", 2).await,
            Err(StoreError::NotFound(Missing::Baseline { .. }))
        ));

        // A second baseline for the version replaces the first.
        b.digest = "sha256:cd".into();
        b.label_column = None;
        b.categorical.clear();
        b.rows = 10;
        b.created_by = "bob".into();
        db.put_baseline(&b).await.unwrap();
        assert_eq!(db.get_baseline("credit", 2).await.unwrap(), b);

        // Only for a model that exists, and a version of it.
        let missing = BaselineRecord {
            model: "nope".into(),
            ..b.clone()
        };
        assert!(matches!(
            db.put_baseline(&missing).await,
            Err(StoreError::NotFound(Missing::Model(ref m))) if m == "nope"
        ));
        let no_version = BaselineRecord {
            version: 3,
            ..b.clone()
        };
        assert!(db.put_baseline(&no_version).await.is_err());
        assert!(db.get_baseline("credit", 3).await.is_err());
    }
);
