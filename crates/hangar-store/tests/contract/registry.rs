//! The registry on both backends: models and their versions, aliases with
//! their history, deployments with their revisions. Numbers are allocated
//! by the store, so concurrent writers get distinct, consecutive ones.

use std::collections::BTreeMap;

use chrono::{Duration, Utc};
use hangar_core::{
    ArtifactFormat, DeploymentSettings, ModelCard, ResolvedRoute, ResolvedShadow, RevisionKind,
    RiskTier, RoutingTable, Signature, VersionRef,
};
use hangar_store::{Db, Missing, NewVersion, StoreError, StoredArtifact};

pub(crate) fn new_version(n: u8) -> NewVersion {
    NewVersion {
        artifact: StoredArtifact {
            digest: format!("sha256:{}", format!("{n:02x}").repeat(32)),
            size_bytes: 10 + u64::from(n),
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

/// A routing table over versions of model `a`: `(version, weight)` each.
pub(crate) fn table(versions: &[(u32, u8)]) -> RoutingTable {
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

pub(crate) async fn deploy(db: &Db, name: &str, t: &RoutingTable, actor: &str) -> u32 {
    db.create_revision(
        name,
        t,
        &DeploymentSettings::default(),
        &RevisionKind::Deploy,
        "",
        actor,
    )
    .await
    .unwrap()
    .number
}

// ---- models and versions ---------------------------------------------------

crate::contract!(
    versions_are_numbered_per_model_even_when_pushed_concurrently,
    |db: Db| async move {
        db.create_model("a", &ModelCard::default(), "alice")
            .await
            .unwrap();
        db.create_model("b", &ModelCard::default(), "alice")
            .await
            .unwrap();
        let mut tasks = Vec::new();
        for i in 0..24u8 {
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
        assert_eq!(numbers, (1..=24).collect::<Vec<_>>());
        // Numbering is per model.
        let first_of_b = db.add_version("b", &new_version(1), "bob").await.unwrap();
        assert_eq!((first_of_b.model.as_str(), first_of_b.version), ("b", 1));

        let listed: Vec<u32> = db
            .list_versions("a")
            .await
            .unwrap()
            .iter()
            .map(|v| v.version)
            .collect();
        assert_eq!(listed, (1..=24).collect::<Vec<_>>());
        assert_eq!(db.get_model("a").await.unwrap().latest_version, Some(24));
    }
);

crate::contract!(a_version_reads_back_as_it_was_pushed, |db: Db| async move {
    db.create_model("a", &ModelCard::default(), "x")
        .await
        .unwrap();
    let pushed = db.add_version("a", &new_version(7), "bob").await.unwrap();
    let v = db.get_version("a", 1).await.unwrap();
    assert_eq!(v, pushed);
    assert_eq!(v.model, "a");
    assert_eq!(v.digest, format!("sha256:{}", "07".repeat(32)));
    assert_eq!(v.size_bytes, 17);
    assert_eq!(v.format, ArtifactFormat::Onnx);
    assert_eq!(v.signature, Signature::default());
    assert_eq!(
        v.feature_names.as_deref(),
        Some(&["a".to_string(), "b".to_string()][..])
    );
    assert_eq!(v.description, "v7");
    assert_eq!(v.source_commit.as_deref(), Some("abc123"));
    assert_eq!(v.training_run, None);
    assert_eq!(v.metrics["auc"], 0.88);
    assert_eq!(v.metadata["k"], "v");
    assert_eq!(v.created_by, "bob");
    let m = db.get_model("a").await.unwrap();
    assert!(m.updated_at >= m.created_at);
    assert!(m.updated_at >= v.created_at);

    // No feature names stays no feature names (not an empty list).
    let mut bare = new_version(8);
    bare.feature_names = None;
    bare.metrics.clear();
    bare.metadata.clear();
    let v2 = db.add_version("a", &bare, "bob").await.unwrap();
    assert_eq!(v2.version, 2);
    assert_eq!(v2.feature_names, None);
    assert!(v2.metrics.is_empty() && v2.metadata.is_empty());
});

crate::contract!(
    duplicate_models_are_taken_and_unknown_ones_are_not_found,
    |db: Db| async move {
        let m = db
            .create_model("a", &ModelCard::default(), "x")
            .await
            .unwrap();
        assert_eq!(
            (m.name.as_str(), m.latest_version, m.created_by.as_str()),
            ("a", None, "x")
        );
        assert!(matches!(
            db.create_model("a", &ModelCard::default(), "y").await,
            Err(StoreError::Taken(_))
        ));
        assert_eq!(db.get_model("a").await.unwrap().created_by, "x");
        assert!(matches!(
            db.get_model("nope").await,
            Err(StoreError::NotFound(Missing::Model(m))) if m == "nope"
        ));
        assert!(matches!(
            db.add_version("nope", &new_version(1), "x").await,
            Err(StoreError::NotFound(Missing::Model(m))) if m == "nope"
        ));
        assert!(matches!(
            db.list_versions("nope").await,
            Err(StoreError::NotFound(Missing::Model(m))) if m == "nope"
        ));
        assert!(matches!(
            db.get_version("nope", 1).await,
            Err(StoreError::NotFound(Missing::Model(m))) if m == "nope"
        ));
        assert!(matches!(
            db.get_version("a", 1).await,
            Err(StoreError::NotFound(Missing::Version { model, version: 1 })) if model == "a"
        ));
        assert!(matches!(
            db.update_card("nope", &ModelCard::default()).await,
            Err(StoreError::NotFound(Missing::Model(m))) if m == "nope"
        ));
        assert!(db.list_versions("a").await.unwrap().is_empty());
    }
);

crate::contract!(
    models_are_listed_in_byte_order_of_their_names,
    |db: Db| async move {
        // Byte order, as SQLite compares text, whatever the PostgreSQL
        // database's locale ('-' < '.' < '_' < letters).
        for name in ["b", "ab", "a_b", "a.b", "a-c", "a9"] {
            db.create_model(name, &ModelCard::default(), "x")
                .await
                .unwrap();
        }
        db.add_version("ab", &new_version(1), "x").await.unwrap();
        let models = db.list_models().await.unwrap();
        let names: Vec<_> = models.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["a-c", "a.b", "a9", "a_b", "ab", "b"]);
        let latest: Vec<_> = models.iter().map(|m| m.latest_version).collect();
        assert_eq!(latest, [None, None, None, None, Some(1), None]);
    }
);

crate::contract!(model_card_updates_persist, |db: Db| async move {
    let created = db
        .create_model("a", &ModelCard::default(), "x")
        .await
        .unwrap();
    assert_eq!(created.card, ModelCard::default());
    let card = ModelCard {
        description: "credit risk".into(),
        owner_team: Some("risk".into()),
        intended_use: Some("pre-screening".into()),
        out_of_scope_uses: vec!["hiring".into()],
        risk_tier: RiskTier::High,
        tags: vec!["tabular".into(), "gbdt".into()],
    };
    let updated = db.update_card("a", &card).await.unwrap();
    assert_eq!(updated.card, card);
    assert!(updated.updated_at >= created.updated_at);
    assert_eq!(updated.created_at, created.created_at);
    assert_eq!(db.get_model("a").await.unwrap().card, card);
});

crate::contract!(
    a_card_update_that_moves_an_unknown_deployment_changes_nothing,
    |db: Db| async move {
        db.create_model("a", &ModelCard::default(), "x")
            .await
            .unwrap();
        db.add_version("a", &new_version(1), "x").await.unwrap();
        deploy(&db, "credit", &table(&[(1, 100)]), "x").await;
        let card = ModelCard {
            owner_team: Some("risk".into()),
            description: "moved".into(),
            ..ModelCard::default()
        };
        assert!(matches!(
            db.update_card_moving("a", &card, &["credit".into(), "nope".into()]).await,
            Err(StoreError::NotFound(Missing::Deployment(d))) if d == "nope"
        ));
        // One transaction: the card did not change either.
        assert_eq!(db.get_model("a").await.unwrap().card, ModelCard::default());
        let moved = db
            .update_card_moving("a", &card, &["credit".into()])
            .await
            .unwrap();
        assert_eq!(moved.card, card);
    }
);

crate::contract!(
    a_first_version_can_create_its_model_in_one_step,
    |db: Db| async move {
        let card = ModelCard {
            owner_team: Some("risk".into()),
            ..ModelCard::default()
        };
        let (v, created) = db
            .add_version_creating("fresh", Some(&card), &new_version(1), "ada")
            .await
            .unwrap();
        assert!(created);
        assert_eq!((v.model.as_str(), v.version), ("fresh", 1));
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
        assert_eq!(db.list_versions("fresh").await.unwrap().len(), 1);
        let (v, created) = db
            .add_version_creating("fresh", None, &new_version(2), "bob")
            .await
            .unwrap();
        assert_eq!((v.version, created), (2, false));
        assert!(matches!(
            db.add_version_creating("other", None, &new_version(1), "bob").await,
            Err(StoreError::NotFound(Missing::Model(m))) if m == "other"
        ));
    }
);

crate::contract!(
    concurrent_first_pushes_create_the_model_once,
    |db: Db| async move {
        let mut tasks = Vec::new();
        for i in 0..8u8 {
            let db = db.clone();
            tasks.push(tokio::spawn(async move {
                let card = ModelCard {
                    description: format!("by {i}"),
                    ..ModelCard::default()
                };
                db.add_version_creating("race", Some(&card), &new_version(i), &format!("u{i}"))
                    .await
            }));
        }
        let mut winners = Vec::new();
        for t in tasks {
            match t.await.unwrap() {
                Ok((v, created)) => winners.push((v, created)),
                Err(StoreError::Conflict(_)) => {}
                Err(e) => panic!("unexpected {e:?}"),
            }
        }
        assert_eq!(winners.len(), 1, "exactly one push creates the model");
        let (v, created) = &winners[0];
        assert!(*created);
        assert_eq!(v.version, 1);
        // The model is the winner's, with its card, and nothing of the others.
        let m = db.get_model("race").await.unwrap();
        assert_eq!(m.created_by, v.created_by);
        assert_eq!(m.card.description, format!("by {}", &v.created_by[1..]));
        assert_eq!(db.list_versions("race").await.unwrap().len(), 1);
        assert_eq!(db.list_models().await.unwrap().len(), 1);
    }
);

// ---- aliases ---------------------------------------------------------------

crate::contract!(
    alias_history_answers_which_version_was_in_production_when,
    |db: Db| async move {
        db.create_model("a", &ModelCard::default(), "x")
            .await
            .unwrap();
        for i in 1..=3 {
            db.add_version("a", &new_version(i), "x").await.unwrap();
        }
        let e1 = db.set_alias("a", "production", 1, "alice").await.unwrap();
        assert_eq!((e1.from_version, e1.to_version), (None, Some(1)));
        assert_eq!((e1.model.as_str(), e1.alias.as_str()), ("a", "production"));
        let e2 = db.set_alias("a", "production", 2, "bob").await.unwrap();
        assert_eq!((e2.from_version, e2.to_version), (Some(1), Some(2)));
        let e3 = db.delete_alias("a", "production", "carol").await.unwrap();
        assert_eq!((e3.from_version, e3.to_version), (Some(2), None));
        assert!(e1.at < e2.at && e2.at < e3.at, "{e1:?} {e2:?} {e3:?}");

        let micro = Duration::microseconds(1);
        let at = |t| db.alias_at("a", "production", t);
        assert_eq!(at(e1.at - micro).await.unwrap(), None);
        assert_eq!(at(e1.at).await.unwrap(), Some(1));
        assert_eq!(at(e2.at - micro).await.unwrap(), Some(1));
        assert_eq!(at(e2.at).await.unwrap(), Some(2));
        assert_eq!(at(e3.at - micro).await.unwrap(), Some(2));
        assert_eq!(at(e3.at).await.unwrap(), None);
        assert_eq!(at(Utc::now()).await.unwrap(), None);
        assert_eq!(db.alias_at("a", "staging", Utc::now()).await.unwrap(), None);

        let history = db.alias_history("a", Some("production")).await.unwrap();
        assert_eq!(history, [e1.clone(), e2.clone(), e3.clone()]);
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
        assert!(matches!(
            db.set_alias("nope", "staging", 1, "x").await,
            Err(StoreError::NotFound(Missing::Model(m))) if m == "nope"
        ));
        assert!(matches!(
            db.alias_at("nope", "staging", Utc::now()).await,
            Err(StoreError::NotFound(Missing::Model(m))) if m == "nope"
        ));
        assert!(matches!(
            db.alias_history("nope", None).await,
            Err(StoreError::NotFound(Missing::Model(m))) if m == "nope"
        ));
        // Refused changes leave no trace in the history.
        assert_eq!(db.alias_history("a", None).await.unwrap().len(), 3);
    }
);

crate::contract!(aliases_are_listed_and_resolved, |db: Db| async move {
    db.create_model("a", &ModelCard::default(), "x")
        .await
        .unwrap();
    db.create_model("b", &ModelCard::default(), "x")
        .await
        .unwrap();
    for i in 1..=3 {
        db.add_version("a", &new_version(i), "x").await.unwrap();
    }
    db.add_version("b", &new_version(9), "x").await.unwrap();
    db.set_alias("a", "staging", 3, "sam").await.unwrap();
    db.set_alias("a", "production", 1, "pat").await.unwrap();
    db.set_alias("a", "production", 2, "pat").await.unwrap();
    db.set_alias("a", "canary", 2, "cat").await.unwrap();
    db.set_alias("b", "production", 1, "bo").await.unwrap();

    let listed: Vec<_> = db
        .list_aliases("a")
        .await
        .unwrap()
        .into_iter()
        .map(|s| (s.alias, s.version, s.updated_by))
        .collect();
    assert_eq!(
        listed,
        [
            ("canary".to_string(), 2, "cat".to_string()),
            ("production".to_string(), 2, "pat".to_string()),
            ("staging".to_string(), 3, "sam".to_string()),
        ]
    );
    let prod = db.get_alias("a", "production").await.unwrap();
    assert_eq!((prod.version, prod.updated_by.as_str()), (2, "pat"));
    // Setting an alias to where it is still records the move.
    let same = db.set_alias("a", "production", 2, "pat").await.unwrap();
    assert_eq!((same.from_version, same.to_version), (Some(2), Some(2)));
    assert!(db.get_alias("a", "production").await.unwrap().updated_at >= prod.updated_at);

    // The whole model's history, oldest first; another model's is its own.
    let history: Vec<_> = db
        .alias_history("a", None)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.alias, e.from_version, e.to_version))
        .collect();
    assert_eq!(
        history,
        [
            ("staging".to_string(), None, Some(3)),
            ("production".to_string(), None, Some(1)),
            ("production".to_string(), Some(1), Some(2)),
            ("canary".to_string(), None, Some(2)),
            ("production".to_string(), Some(2), Some(2)),
        ]
    );
    assert_eq!(db.alias_history("b", None).await.unwrap().len(), 1);
    assert_eq!(
        db.alias_history("a", Some("canary")).await.unwrap().len(),
        1
    );
    assert!(db
        .alias_history("a", Some("none"))
        .await
        .unwrap()
        .is_empty());
    assert!(db.list_aliases("b").await.unwrap().len() == 1);

    let by_alias: VersionRef = "a@staging".parse().unwrap();
    assert_eq!(db.resolve(&by_alias).await.unwrap().version, 3);
    let by_number: VersionRef = "a:1".parse().unwrap();
    assert_eq!(db.resolve(&by_number).await.unwrap().description, "v1");
    assert!(matches!(
        db.resolve(&"a@gone".parse().unwrap()).await,
        Err(StoreError::NotFound(Missing::Alias { alias, .. })) if alias == "gone"
    ));
    assert!(matches!(
        db.resolve(&"a:7".parse().unwrap()).await,
        Err(StoreError::NotFound(Missing::Version { version: 7, .. }))
    ));
});

crate::contract!(
    concurrent_alias_moves_leave_one_unbroken_history,
    |db: Db| async move {
        db.create_model("a", &ModelCard::default(), "x")
            .await
            .unwrap();
        for i in 1..=4 {
            db.add_version("a", &new_version(i), "x").await.unwrap();
        }
        let mut tasks = Vec::new();
        for i in 0..16u32 {
            let db = db.clone();
            tasks.push(tokio::spawn(async move {
                db.set_alias("a", "production", i % 4 + 1, &format!("u{i}"))
                    .await
                    .unwrap()
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        // Each move starts where the one before it ended, in time order.
        let history = db.alias_history("a", Some("production")).await.unwrap();
        assert_eq!(history.len(), 16);
        assert_eq!(history[0].from_version, None);
        for pair in history.windows(2) {
            assert_eq!(pair[1].from_version, pair[0].to_version, "{history:#?}");
            assert!(pair[1].at >= pair[0].at, "{history:#?}");
        }
        let last = history.last().unwrap();
        let now = db.get_alias("a", "production").await.unwrap();
        assert_eq!(Some(now.version), last.to_version);
        assert_eq!(now.updated_by, last.actor);
        assert_eq!(
            db.alias_at("a", "production", Utc::now()).await.unwrap(),
            last.to_version
        );
    }
);

// ---- deployments and revisions -----------------------------------------------

crate::contract!(deployments_are_numbered_revisions, |db: Db| async move {
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
    assert_eq!((r1.deployment.as_str(), r1.number), ("credit", 1));
    assert_eq!(r1.message, "first");
    let mut t = table(&[(1, 90), (2, 10)]);
    t.shadow = Some(ResolvedShadow {
        target: "a@shadow".parse().unwrap(),
        version: 3,
    });
    let settings = DeploymentSettings {
        max_batch_size: 8,
        timeout_ms: Some(250),
        segments: vec!["region".into()],
        row_id: Some("loan_id".into()),
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
    let kinds = [
        RevisionKind::Guardrail {
            from: 2,
            reason: "p99 40 ms > 20 ms".into(),
        },
        RevisionKind::Rollback { to: 2 },
        RevisionKind::Promote,
        RevisionKind::AliasMoved {
            model: "a".into(),
            alias: "production".into(),
        },
    ];
    for (i, kind) in kinds.iter().enumerate() {
        let r = db
            .create_revision("credit", &table(&[(1, 100)]), &settings, kind, "", "hangar")
            .await
            .unwrap();
        assert_eq!(r.number, 3 + i as u32);
        assert_eq!(&r.kind, kind);
    }
    let d = db.get_deployment("credit").await.unwrap();
    assert_eq!(d.name, "credit");
    assert_eq!(d.current.number, 6);
    assert_eq!(d.current.kind, kinds[3]);
    assert_eq!(d.created_at, r1.at);
    assert_eq!(db.get_revision("credit", 2).await.unwrap(), r2);
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
            (3, "hangar", "guardrail_rollback"),
            (4, "hangar", "rollback"),
            (5, "hangar", "promote"),
            (6, "hangar", "alias_moved"),
        ]
    );
    assert_eq!(history[0], r1);
    assert!(matches!(
        db.get_revision("credit", 7).await,
        Err(StoreError::NotFound(Missing::Revision { deployment, revision: 7 })) if deployment == "credit"
    ));
    assert!(matches!(
        db.get_revision("nope", 1).await,
        Err(StoreError::NotFound(Missing::Revision { deployment, revision: 1 })) if deployment == "nope"
    ));
    assert!(matches!(
        db.list_revisions("nope").await,
        Err(StoreError::NotFound(Missing::Deployment(d))) if d == "nope"
    ));
    assert!(matches!(
        db.get_deployment("nope").await,
        Err(StoreError::NotFound(Missing::Deployment(d))) if d == "nope"
    ));
});

crate::contract!(
    deleted_deployments_keep_their_revisions_and_a_new_one_continues_the_numbering,
    |db: Db| async move {
        for _ in 0..3 {
            deploy(&db, "credit", &table(&[(1, 100)]), "alice").await;
        }
        deploy(&db, "fraud", &table(&[(2, 100)]), "alice").await;
        db.delete_deployment("credit").await.unwrap();
        assert!(matches!(
            db.get_deployment("credit").await,
            Err(StoreError::NotFound(Missing::Deployment(d))) if d == "credit"
        ));
        assert!(matches!(
            db.delete_deployment("credit").await,
            Err(StoreError::NotFound(Missing::Deployment(d))) if d == "credit"
        ));
        assert_eq!(
            db.list_revisions("credit").await.unwrap().len(),
            3,
            "history outlives the deployment"
        );
        let names: Vec<_> = db
            .list_deployments()
            .await
            .unwrap()
            .into_iter()
            .map(|d| d.name)
            .collect();
        assert_eq!(names, ["fraud"]);

        let again = deploy(&db, "credit", &table(&[(2, 100)]), "x").await;
        assert_eq!(again, 4);
        let d = db.get_deployment("credit").await.unwrap();
        assert_eq!(d.current.number, 4);
        // A deployment created again is a new one: created when it came back.
        assert_eq!(d.created_at, d.current.at);
        assert_eq!(db.list_revisions("credit").await.unwrap().len(), 4);
    }
);

crate::contract!(
    deployments_are_listed_by_name_with_their_current_revision,
    |db: Db| async move {
        deploy(&db, "b", &table(&[(1, 100)]), "x").await;
        deploy(&db, "a-1", &table(&[(1, 100)]), "x").await;
        deploy(&db, "a1", &table(&[(1, 100)]), "x").await;
        deploy(&db, "b", &table(&[(1, 50), (2, 50)]), "y").await;
        let listed: Vec<_> = db
            .list_deployments()
            .await
            .unwrap()
            .into_iter()
            .map(|d| (d.name, d.current.number, d.current.actor))
            .collect();
        assert_eq!(
            listed,
            [
                ("a-1".to_string(), 1, "x".to_string()),
                ("a1".to_string(), 1, "x".to_string()),
                ("b".to_string(), 2, "y".to_string()),
            ]
        );
        let b = db.get_deployment("b").await.unwrap();
        assert_eq!(b.current.table, table(&[(1, 50), (2, 50)]));
        assert_eq!(db.list_deployments().await.unwrap()[2], b);
    }
);

crate::contract!(
    concurrent_changes_to_one_deployment_get_distinct_consecutive_revisions,
    |db: Db| async move {
        let mut tasks = Vec::new();
        for i in 0..20u32 {
            let db = db.clone();
            tasks.push(tokio::spawn(async move {
                deploy(&db, "credit", &table(&[(i + 1, 100)]), &format!("u{i}")).await
            }));
        }
        let mut numbers = Vec::new();
        for t in tasks {
            numbers.push(t.await.unwrap());
        }
        numbers.sort();
        assert_eq!(numbers, (1..=20).collect::<Vec<_>>());
        let d = db.get_deployment("credit").await.unwrap();
        assert_eq!(d.current.number, 20);
        let history = db.list_revisions("credit").await.unwrap();
        assert_eq!(history.len(), 20);
        assert_eq!(history.last().unwrap(), &d.current);
    }
);
