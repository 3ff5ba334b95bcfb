//! Governance on both backends: teams, users and their roles, tokens,
//! ownership, approvals, trusted keys, signatures and the audit chain — and
//! the chain staying whole while four processes append to it at once.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeZone, Utc};
use hangar_core::governance::Role;
use hangar_core::{DeploymentSettings, ModelCard, ResolvedRoute, RevisionKind, RoutingTable};
use hangar_store::{
    ApprovalRecord, AuditFilter, Db, Missing, NewAuditEntry, StoreError, TokenRecord,
};

/// A whole number of microseconds (what both backends store) after a
/// fixed instant, so records round-trip exactly.
pub(crate) fn at(micros: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap() + chrono::Duration::microseconds(micros)
}

pub(crate) fn token(
    id: &str,
    kind: &str,
    user: Option<&str>,
    created_at: DateTime<Utc>,
) -> TokenRecord {
    TokenRecord {
        id: id.into(),
        kind: kind.into(),
        user: user.map(Into::into),
        secret_hash: format!("hash-of-{id}"),
        name: format!("{id} token"),
        deployments: vec![],
        purpose: String::new(),
        rate_limit: None,
        created_at,
        created_by: "root".into(),
        expires_at: None,
        revoked_at: None,
        last_used_at: None,
    }
}

pub(crate) fn entry(actor: &str, object: &str, teams: &[&str]) -> NewAuditEntry {
    NewAuditEntry {
        actor: actor.into(),
        address: "127.0.0.1".into(),
        action: "POST".into(),
        object: object.into(),
        outcome: "ok".into(),
        detail: "{}".into(),
        teams: teams.iter().map(|t| t.to_string()).collect(),
    }
}

pub(crate) fn filter(limit: u32) -> AuditFilter {
    AuditFilter {
        limit,
        ..AuditFilter::default()
    }
}

pub(crate) async fn seqs(db: &Db, f: &AuditFilter) -> Vec<i64> {
    db.list_audit(f)
        .await
        .unwrap()
        .iter()
        .map(|e| e.seq)
        .collect()
}

// ---- teams ----------------------------------------------------------------

crate::contract!(
    teams_start_with_default_and_sort_bytewise,
    |db: Db| async move {
        let teams = db.list_teams().await.unwrap();
        assert_eq!(teams.len(), 1);
        assert_eq!(teams[0].name, "default");
        assert_eq!(teams[0].created_by, "hangar");
        assert!(db.team_exists("default").await.unwrap());

        // Bytewise, as SQLite sorts: '-' (0x2d) before letters, whatever
        // PostgreSQL's collation would say.
        for name in ["teama", "team-b", "risk"] {
            let t = db.create_team(name, "alice").await.unwrap();
            assert_eq!(t.name, name);
            assert_eq!(t.created_by, "alice");
        }
        let names: Vec<String> = db
            .list_teams()
            .await
            .unwrap()
            .into_iter()
            .map(|t| t.name)
            .collect();
        assert_eq!(names, ["default", "risk", "team-b", "teama"]);
        assert!(db.team_exists("risk").await.unwrap());
        assert!(!db.team_exists("nope").await.unwrap());
    }
);

crate::contract!(a_team_name_is_taken_once, |db: Db| async move {
    let first = db.create_team("risk", "alice").await.unwrap();
    assert!(matches!(
        db.create_team("risk", "bob").await,
        Err(StoreError::Taken(m)) if m == "team 'risk' already exists"
    ));
    let teams = db.list_teams().await.unwrap();
    assert_eq!(teams.iter().find(|t| t.name == "risk"), Some(&first));
});

// ---- users ----------------------------------------------------------------

crate::contract!(
    users_carry_their_memberships_sorted_and_deduplicated,
    |db: Db| async move {
        db.create_team("risk", "root").await.unwrap();
        assert!(!db.has_superuser().await.unwrap());
        let u = db
            .create_user(
                "carol",
                Some("$argon2id$x"),
                false,
                &[
                    ("risk".into(), Role::Viewer),
                    ("default".into(), Role::Maintainer),
                    ("risk".into(), Role::Approver),
                    ("risk".into(), Role::Viewer),
                ],
                "root",
            )
            .await
            .unwrap();
        assert_eq!(u.name, "carol");
        assert_eq!(u.password_hash.as_deref(), Some("$argon2id$x"));
        assert!(!u.superuser);
        assert!(!u.disabled);
        assert_eq!(u.created_by, "root");
        assert_eq!(
            u.memberships,
            [
                ("default".to_string(), Role::Maintainer),
                ("risk".to_string(), Role::Approver),
                ("risk".to_string(), Role::Viewer),
            ]
        );
        assert_eq!(db.get_user("carol").await.unwrap(), u);
        assert!(!db.has_superuser().await.unwrap());

        let root = db
            .create_user("root", None, true, &[], "hangar")
            .await
            .unwrap();
        assert!(root.superuser);
        assert!(root.memberships.is_empty());
        assert_eq!(root.password_hash, None);
        assert!(db.has_superuser().await.unwrap());

        // Adding a role held already changes nothing.
        let again = db
            .add_membership("carol", "risk", Role::Viewer)
            .await
            .unwrap();
        assert_eq!(again, u);
        let more = db
            .add_membership("root", "risk", Role::Admin)
            .await
            .unwrap();
        assert_eq!(more.memberships, [("risk".to_string(), Role::Admin)]);

        db.create_user("bob", None, false, &[], "root")
            .await
            .unwrap();
        let users = db.list_users().await.unwrap();
        let names: Vec<&str> = users.iter().map(|u| u.name.as_str()).collect();
        assert_eq!(names, ["bob", "carol", "root"]);
        assert_eq!(users[1], u);
        assert_eq!(users[2], more);
        assert!(users[0].memberships.is_empty());
    }
);

crate::contract!(
    a_user_name_is_taken_once_and_a_missing_team_creates_nothing,
    |db: Db| async move {
        db.create_user("carol", None, false, &[], "root")
            .await
            .unwrap();
        assert!(matches!(
            db.create_user("carol", None, true, &[], "root").await,
            Err(StoreError::Taken(m)) if m == "user 'carol' already exists"
        ));
        assert!(!db.get_user("carol").await.unwrap().superuser);

        // The user and its roles are one transaction: a role in a team
        // that does not exist leaves no user behind.
        assert!(matches!(
            db.create_user("dave", None, false, &[("ghosts".into(), Role::Viewer)], "root").await,
            Err(StoreError::NotFound(Missing::TeamOrUser(m))) if m == "user 'dave' in team 'ghosts'"
        ));
        assert!(matches!(
            db.get_user("dave").await,
            Err(StoreError::NotFound(Missing::User(n))) if n == "dave"
        ));

        assert!(matches!(
            db.add_membership("carol", "ghosts", Role::Viewer).await,
            Err(StoreError::NotFound(Missing::TeamOrUser(m))) if m == "user 'carol' in team 'ghosts'"
        ));
        assert!(matches!(
            db.add_membership("nobody", "default", Role::Viewer).await,
            Err(StoreError::NotFound(Missing::TeamOrUser(m))) if m == "user 'nobody' in team 'default'"
        ));
    }
);

crate::contract!(
    passwords_are_set_on_existing_users_only,
    |db: Db| async move {
        db.create_user("carol", None, false, &[], "root")
            .await
            .unwrap();
        db.set_password("carol", "$argon2id$new").await.unwrap();
        assert_eq!(
            db.get_user("carol").await.unwrap().password_hash.as_deref(),
            Some("$argon2id$new")
        );
        assert!(matches!(
            db.set_password("nobody", "x").await,
            Err(StoreError::NotFound(Missing::User(n))) if n == "nobody"
        ));
    }
);

// ---- tokens ---------------------------------------------------------------

crate::contract!(tokens_round_trip_exactly, |db: Db| async move {
    db.create_user("carol", None, false, &[], "root")
        .await
        .unwrap();
    let consumer = TokenRecord {
        deployments: vec!["credit".into(), "fraud".into()],
        purpose: "loan decisions".into(),
        rate_limit: Some(12.5),
        expires_at: Some(at(86_400_000_001)),
        last_used_at: Some(at(7)),
        ..token("k1", "consumer", None, at(123_456))
    };
    db.create_token(&consumer).await.unwrap();
    assert_eq!(db.get_token("k1").await.unwrap(), consumer);
    let api = token("t1", "api", Some("carol"), at(1));
    db.create_token(&api).await.unwrap();
    assert_eq!(db.get_token("t1").await.unwrap(), api);
    let metrics = token("m1", "metrics", None, at(2));
    db.create_token(&metrics).await.unwrap();
    assert_eq!(db.get_token("m1").await.unwrap(), metrics);

    assert!(matches!(
        db.create_token(&token("t1", "api", Some("carol"), at(3))).await,
        Err(StoreError::Taken(m)) if m == "token 't1'"
    ));
    assert!(matches!(
        db.create_token(&token("t2", "api", Some("nobody"), at(3))).await,
        Err(StoreError::NotFound(Missing::TeamOrUser(m))) if m == "token 't2'"
    ));
    assert!(db
        .create_token(&token("t3", "telepathy", None, at(3)))
        .await
        .is_err());
    assert!(matches!(
        db.get_token("t2").await,
        Err(StoreError::NotFound(Missing::Token(id))) if id == "t2"
    ));
});

crate::contract!(
    tokens_list_by_kind_and_user_newest_first,
    |db: Db| async move {
        for u in ["carol", "dave"] {
            db.create_user(u, None, false, &[], "root").await.unwrap();
        }
        db.create_token(&token("a", "api", Some("carol"), at(10)))
            .await
            .unwrap();
        db.create_token(&token("b", "api", Some("dave"), at(30)))
            .await
            .unwrap();
        db.create_token(&token("c", "api", Some("carol"), at(20)))
            .await
            .unwrap();
        db.create_token(&token("s", "session", Some("carol"), at(40)))
            .await
            .unwrap();
        db.create_token(&token("k", "consumer", None, at(50)))
            .await
            .unwrap();
        let ids = |v: Vec<TokenRecord>| v.into_iter().map(|t| t.id).collect::<Vec<_>>();
        assert_eq!(
            ids(db.list_tokens("api", None).await.unwrap()),
            ["b", "c", "a"]
        );
        assert_eq!(
            ids(db.list_tokens("api", Some("carol")).await.unwrap()),
            ["c", "a"]
        );
        assert_eq!(
            ids(db.list_tokens("session", Some("carol")).await.unwrap()),
            ["s"]
        );
        assert_eq!(ids(db.list_tokens("consumer", None).await.unwrap()), ["k"]);
        assert!(db
            .list_tokens("consumer", Some("carol"))
            .await
            .unwrap()
            .is_empty());
        assert!(db.list_tokens("metrics", None).await.unwrap().is_empty());
    }
);

crate::contract!(
    revoking_keeps_the_first_time_and_touching_records_use,
    |db: Db| async move {
        db.create_token(&token("k", "consumer", None, at(0)))
            .await
            .unwrap();
        let before = Utc::now() - chrono::Duration::seconds(1);
        let revoked = db.revoke_token("k").await.unwrap();
        let first = revoked.revoked_at.unwrap();
        assert!(first >= before && first <= Utc::now());
        assert_eq!(revoked, db.get_token("k").await.unwrap());
        let again = db.revoke_token("k").await.unwrap();
        assert_eq!(again.revoked_at, Some(first));
        assert!(matches!(
            db.revoke_token("nope").await,
            Err(StoreError::NotFound(Missing::Token(id))) if id == "nope"
        ));

        db.touch_token("k", at(5)).await.unwrap();
        assert_eq!(db.get_token("k").await.unwrap().last_used_at, Some(at(5)));
        db.touch_token("k", at(9)).await.unwrap();
        assert_eq!(db.get_token("k").await.unwrap().last_used_at, Some(at(9)));
        // Touching a token that is gone is not an error: the request it
        // authenticated is already answered.
        db.touch_token("nope", at(9)).await.unwrap();
    }
);

// ---- ownership ------------------------------------------------------------

fn route_to(model: &str) -> RoutingTable {
    RoutingTable {
        routes: vec![ResolvedRoute {
            target: format!("{model}:1").parse().unwrap(),
            weight: 100,
            version: 1,
        }],
        shadow: None,
    }
}

crate::contract!(
    models_and_deployments_belong_to_teams,
    |db: Db| async move {
        db.create_team("risk", "root").await.unwrap();
        let card = ModelCard {
            owner_team: Some("risk".into()),
            ..ModelCard::default()
        };
        db.create_model("credit", &card, "alice").await.unwrap();
        db.create_model("churn", &ModelCard::default(), "alice")
            .await
            .unwrap();
        assert_eq!(
            db.model_team("credit").await.unwrap().as_deref(),
            Some("risk")
        );
        assert_eq!(
            db.model_team("churn").await.unwrap().as_deref(),
            Some("default")
        );
        assert_eq!(db.model_team("nope").await.unwrap(), None);

        for (deployment, model) in [("scoring", "credit"), ("retention", "churn")] {
            db.create_revision(
                deployment,
                &route_to(model),
                &DeploymentSettings::default(),
                &RevisionKind::Deploy,
                "",
                "alice",
            )
            .await
            .unwrap();
        }
        assert_eq!(
            db.deployment_team("scoring").await.unwrap().as_deref(),
            Some("risk")
        );
        assert_eq!(db.deployment_team("nope").await.unwrap(), None);
        assert_eq!(
            db.deployment_teams().await.unwrap(),
            BTreeMap::from([
                ("retention".to_string(), "default".to_string()),
                ("scoring".to_string(), "risk".to_string()),
            ])
        );
    }
);

// ---- approvals and signing ------------------------------------------------

crate::contract!(
    decisions_come_back_in_the_order_they_were_made,
    |db: Db| async move {
        let decision = |approved: bool, by: &str, when: i64| ApprovalRecord {
            model: "credit".into(),
            version: 3,
            digest: "sha256:ab".into(),
            approved,
            comment: format!("{by} says so"),
            by: by.into(),
            at: at(when),
        };
        // Written in this order, with times that do not follow it: the
        // order is the order of writing.
        let made = [
            decision(false, "bob", 50),
            decision(true, "carol", 10),
            decision(true, "dave", 30),
        ];
        for d in &made {
            db.add_decision(d).await.unwrap();
        }
        db.add_decision(&ApprovalRecord {
            version: 4,
            ..decision(true, "erin", 0)
        })
        .await
        .unwrap();
        assert_eq!(db.decisions("credit", 3).await.unwrap(), made);
        assert_eq!(db.decisions("credit", 4).await.unwrap().len(), 1);
        assert!(db.decisions("credit", 5).await.unwrap().is_empty());
        assert!(db.decisions("other", 3).await.unwrap().is_empty());
    }
);

crate::contract!(
    trusted_keys_are_unique_by_name_and_by_key,
    |db: Db| async move {
        let k = db.add_trusted_key("release", "aa11", "root").await.unwrap();
        assert_eq!(k.name, "release");
        assert_eq!(k.public_key, "aa11");
        assert_eq!(k.created_by, "root");
        db.add_trusted_key("ci-2", "bb22", "root").await.unwrap();
        db.add_trusted_key("ci-10", "cc33", "root").await.unwrap();
        for (name, key) in [("release", "dd44"), ("other", "aa11")] {
            assert!(matches!(
                db.add_trusted_key(name, key, "root").await,
                Err(StoreError::Taken(m))
                    if m == format!("trusted key '{name}' (or its public key) already exists")
            ));
        }
        let keys = db.list_trusted_keys().await.unwrap();
        let names: Vec<&str> = keys.iter().map(|k| k.name.as_str()).collect();
        assert_eq!(names, ["ci-10", "ci-2", "release"]);
        // Stored with microseconds: the listing may differ from the
        // returned record by less than one.
        let listed = &keys[2];
        assert_eq!(
            (&listed.name, &listed.public_key, &listed.created_by),
            (&k.name, &k.public_key, &k.created_by)
        );
        assert_eq!(
            (listed.created_at - k.created_at).num_microseconds(),
            Some(0)
        );
    }
);

crate::contract!(
    signing_again_replaces_a_keys_signature,
    |db: Db| async move {
        db.add_signature("credit", 1, "bb", "sig-b").await.unwrap();
        db.add_signature("credit", 1, "aa", "sig-a").await.unwrap();
        db.add_signature("credit", 2, "aa", "sig-a2").await.unwrap();
        let sigs = db.signatures("credit", 1).await.unwrap();
        let pairs: Vec<(&str, &str)> = sigs
            .iter()
            .map(|s| (s.public_key.as_str(), s.signature.as_str()))
            .collect();
        assert_eq!(pairs, [("aa", "sig-a"), ("bb", "sig-b")]);

        db.add_signature("credit", 1, "bb", "sig-b-again")
            .await
            .unwrap();
        let again = db.signatures("credit", 1).await.unwrap();
        assert_eq!(again.len(), 2);
        assert_eq!(again[1].signature, "sig-b-again");
        assert!(again[1].created_at >= sigs[1].created_at);
        assert_eq!(again[0], sigs[0]);
        assert_eq!(db.signatures("credit", 2).await.unwrap().len(), 1);
        assert!(db.signatures("credit", 3).await.unwrap().is_empty());
    }
);
