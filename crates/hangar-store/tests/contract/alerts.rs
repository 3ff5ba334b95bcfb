//! Alerts: rules (replaced by name and deployment), events and deliveries
//! newest first, channels with their e-mail fields and the table's checks on
//! them, and the errors of deleting what is not there.

use chrono::{DateTime, Utc};
use hangar_core::alerts::{AlertRule, Comparison, Severity};
use hangar_store::{AlertEventRecord, ChannelRecord, Db, DeliveryRecord, Missing, StoreError};

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn rule(name: &str, deployment: &str, metric: &str, threshold: f64) -> AlertRule {
    AlertRule {
        name: name.into(),
        deployment: deployment.into(),
        metric: metric.parse().unwrap(),
        comparison: Comparison::Gt,
        threshold,
        window_secs: 300,
        for_secs: 60,
        severity: Severity::Warning,
        guardrail: false,
    }
}

fn event(
    rule: &str,
    deployment: &str,
    kind: &str,
    value: Option<f64>,
    t: &str,
) -> AlertEventRecord {
    AlertEventRecord {
        id: 0,
        rule: rule.into(),
        deployment: deployment.into(),
        kind: kind.into(),
        severity: "warning".into(),
        value,
        message: format!("{rule} is {kind}"),
        at: at(t),
    }
}

fn channel(name: &str, kind: &str, to: &[&str], from: Option<&str>) -> ChannelRecord {
    ChannelRecord {
        name: name.into(),
        kind: kind.into(),
        url: "smtp://127.0.0.1:2525".into(),
        email_to: to.iter().map(|s| s.to_string()).collect(),
        email_from: from.map(str::to_string),
        created_at: at("2025-01-01T00:00:00.000000Z"),
        created_by: "alice".into(),
    }
}

crate::contract!(
    rules_list_by_deployment_then_name_in_byte_order,
    |db: Db| async move {
        // Byte order: '*' < 'B' < 'a' < 'b', '-' < '_' (SQLite's BINARY); a
        // linguistic collation would order these differently.
        for (name, deployment) in [
            ("latency", "credit"),
            ("errors", "credit"),
            ("drift", "*"),
            ("z", "Credit"),
            ("a_b", "credit-2"),
            ("a-b", "credit-2"),
        ] {
            db.put_rule(&rule(name, deployment, "traffic.error_rate", 5.0), "alice")
                .await
                .unwrap();
        }
        let listed: Vec<(String, String)> = db
            .list_rules()
            .await
            .unwrap()
            .into_iter()
            .map(|r| (r.deployment, r.name))
            .collect();
        let expected = [
            ("*", "drift"),
            ("Credit", "z"),
            ("credit", "errors"),
            ("credit", "latency"),
            ("credit-2", "a-b"),
            ("credit-2", "a_b"),
        ];
        assert_eq!(
            listed,
            expected
                .iter()
                .map(|(d, n)| (d.to_string(), n.to_string()))
                .collect::<Vec<_>>()
        );
    }
);

crate::contract!(
    a_rule_round_trips_and_is_replaced_by_name_and_deployment,
    |db: Db| async move {
        let mut r = rule("drift", "credit", "features.income.psi", 0.2);
        r.comparison = Comparison::Ge;
        r.severity = Severity::Critical;
        r.guardrail = true;
        r.window_secs = 3600;
        r.for_secs = 0;
        db.put_rule(&r, "alice").await.unwrap();
        assert_eq!(db.list_rules().await.unwrap(), vec![r.clone()]);

        // The same name on another deployment is another rule; on the same
        // deployment it replaces the first.
        let other = rule("drift", "*", "drift.share", 50.0);
        db.put_rule(&other, "bob").await.unwrap();
        let mut replaced = r.clone();
        replaced.threshold = 0.25;
        replaced.guardrail = false;
        replaced.comparison = Comparison::Lt;
        db.put_rule(&replaced, "bob").await.unwrap();
        assert_eq!(db.list_rules().await.unwrap(), vec![other, replaced]);
    }
);

crate::contract!(
    deleting_a_rule_that_is_not_there_names_it,
    |db: Db| async move {
        db.put_rule(
            &rule("errors", "credit", "traffic.error_rate", 5.0),
            "alice",
        )
        .await
        .unwrap();
        // Same name, other deployment: not found.
        match db.delete_rule("errors", "fraud").await {
            Err(StoreError::NotFound(Missing::AlertRule { name, deployment })) => {
                assert_eq!((name.as_str(), deployment.as_str()), ("errors", "fraud"));
            }
            other => panic!("expected NotFound(AlertRule), got {other:?}"),
        }
        db.delete_rule("errors", "credit").await.unwrap();
        assert!(db.list_rules().await.unwrap().is_empty());
        assert!(matches!(
            db.delete_rule("errors", "credit").await,
            Err(StoreError::NotFound(Missing::AlertRule { .. }))
        ));
    }
);

crate::contract!(
    events_are_numbered_from_one_and_listed_newest_first,
    |db: Db| async move {
        let first = db
            .add_alert_event(&event(
                "errors",
                "credit",
                "pending",
                Some(7.5),
                "2025-03-01T10:00:00.000001Z",
            ))
            .await
            .unwrap();
        let second = db
            .add_alert_event(&event(
                "drift",
                "fraud",
                "firing",
                None,
                "2025-03-01T10:01:00Z",
            ))
            .await
            .unwrap();
        let third = db
            .add_alert_event(&event(
                "errors",
                "credit",
                "firing",
                Some(9.0),
                "2025-03-01T10:02:00Z",
            ))
            .await
            .unwrap();
        assert_eq!((first, second, third), (1, 2, 3));

        let all = db.alert_events(None, 10).await.unwrap();
        assert_eq!(all.iter().map(|e| e.id).collect::<Vec<_>>(), vec![3, 2, 1]);
        let mut expected = event(
            "errors",
            "credit",
            "pending",
            Some(7.5),
            "2025-03-01T10:00:00.000001Z",
        );
        expected.id = 1;
        assert_eq!(all[2], expected);
        assert_eq!(all[1].value, None);

        let credit = db.alert_events(Some("credit"), 10).await.unwrap();
        assert_eq!(credit.iter().map(|e| e.id).collect::<Vec<_>>(), vec![3, 1]);
        let limited = db.alert_events(None, 2).await.unwrap();
        assert_eq!(limited.iter().map(|e| e.id).collect::<Vec<_>>(), vec![3, 2]);
        assert!(db.alert_events(Some("nope"), 10).await.unwrap().is_empty());
        assert!(db.alert_events(None, 0).await.unwrap().is_empty());
    }
);

crate::contract!(
    deliveries_are_listed_newest_first_and_need_their_event,
    |db: Db| async move {
        let id = db
            .add_alert_event(&event(
                "errors",
                "credit",
                "firing",
                Some(9.0),
                "2025-03-01T10:02:00Z",
            ))
            .await
            .unwrap();
        let delivery = |attempt: u32, ok: bool, detail: &str| DeliveryRecord {
            event_id: id,
            channel: "ops".into(),
            attempt,
            ok,
            detail: detail.into(),
            at: at("2025-03-01T10:02:01.5Z"),
        };
        db.add_delivery(&delivery(1, false, "connection refused"))
            .await
            .unwrap();
        db.add_delivery(&delivery(2, true, "200 OK")).await.unwrap();
        assert_eq!(
            db.deliveries(10).await.unwrap(),
            vec![
                delivery(2, true, "200 OK"),
                delivery(1, false, "connection refused")
            ]
        );
        assert_eq!(
            db.deliveries(1).await.unwrap(),
            vec![delivery(2, true, "200 OK")]
        );

        // A delivery of an event that does not exist is refused (foreign key).
        let mut orphan = delivery(1, true, "200 OK");
        orphan.event_id = id + 100;
        assert!(matches!(
            db.add_delivery(&orphan).await,
            Err(StoreError::Db(_))
        ));
        assert_eq!(db.deliveries(10).await.unwrap().len(), 2);
    }
);

crate::contract!(
    an_email_channel_keeps_its_recipients_until_replaced_by_a_webhook,
    |db: Db| async move {
        let email = channel(
            "ops",
            "email",
            &["ops@example.com", "oncall@example.com"],
            Some("Hangar <hangar@example.com>"),
        );
        db.put_channel(&email).await.unwrap();
        assert_eq!(db.list_channels().await.unwrap(), vec![email]);

        let mut hook = channel("ops", "webhook", &[], None);
        hook.url = "http://127.0.0.1:9/hook".into();
        db.put_channel(&hook).await.unwrap();
        assert_eq!(db.list_channels().await.unwrap(), vec![hook]);
    }
);

crate::contract!(
    replacing_a_channel_keeps_its_creation,
    |db: Db| async move {
        let mut slack = channel("ops", "slack", &[], None);
        slack.url = "http://127.0.0.1:9/slack".into();
        db.put_channel(&slack).await.unwrap();
        let mut later = channel("ops", "webhook", &[], None);
        later.url = "http://127.0.0.1:9/hook".into();
        later.created_at = at("2026-01-01T00:00:00Z");
        later.created_by = "bob".into();
        db.put_channel(&later).await.unwrap();
        // Kind and URL change; who created it and when do not.
        let mut expected = later.clone();
        expected.created_at = slack.created_at;
        expected.created_by = slack.created_by.clone();
        assert_eq!(db.list_channels().await.unwrap(), vec![expected]);
    }
);

crate::contract!(channels_list_by_name_in_byte_order, |db: Db| async move {
    for name in ["ops", "Ops", "ops-2", "ops_2", "*"] {
        let mut c = channel(name, "webhook", &[], None);
        c.url = "http://127.0.0.1:9/hook".into();
        db.put_channel(&c).await.unwrap();
    }
    let names: Vec<String> = db
        .list_channels()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(names, vec!["*", "Ops", "ops", "ops-2", "ops_2"]);
});

crate::contract!(
    the_table_refuses_email_fields_on_the_wrong_kind,
    |db: Db| async move {
        for c in [
            // An e-mail channel without a sender (so without recipients).
            channel("a", "email", &["ops@example.com"], None),
            // A webhook with e-mail fields.
            channel(
                "b",
                "webhook",
                &["ops@example.com"],
                Some("hangar@example.com"),
            ),
            // A kind the table does not know.
            channel("c", "sms", &[], None),
            channel("d", "sms", &["ops@example.com"], Some("hangar@example.com")),
        ] {
            assert!(
                matches!(db.put_channel(&c).await, Err(StoreError::Db(_))),
                "{c:?}"
            );
        }
        assert!(db.list_channels().await.unwrap().is_empty());
    }
);

crate::contract!(
    an_email_channel_with_no_recipients_is_an_empty_array,
    |db: Db| async move {
        // The sender decides whether the e-mail columns are written; an empty
        // recipient list is still a JSON array and passes the check.
        let c = channel("mail", "email", &[], Some("hangar@example.com"));
        db.put_channel(&c).await.unwrap();
        assert_eq!(db.list_channels().await.unwrap(), vec![c]);
    }
);

crate::contract!(
    deleting_a_channel_that_is_not_there_names_it,
    |db: Db| async move {
        match db.delete_channel("ops").await {
            Err(StoreError::NotFound(Missing::Channel(name))) => assert_eq!(name, "ops"),
            other => panic!("expected NotFound(Channel), got {other:?}"),
        }
        let mut c = channel("ops", "slack", &[], None);
        c.url = "http://127.0.0.1:9/slack".into();
        db.put_channel(&c).await.unwrap();
        db.delete_channel("ops").await.unwrap();
        assert!(db.list_channels().await.unwrap().is_empty());
    }
);

/// What the trait never writes but the table still refuses: `email_to` that
/// is not a JSON array. Raw SQL on each backend, since `put_channel` always
/// writes an array.
const RAW_EMAIL_TO: [(&str, bool); 5] = [
    ("[\"ops@example.com\"]", true),
    ("[]", true),
    ("{\"to\": \"ops@example.com\"}", false),
    ("\"ops@example.com\"", false),
    ("[not json", false),
];

fn raw_insert(n: usize) -> String {
    format!(
        "INSERT INTO alert_channels (name, kind, url, email_to, email_from, created_at, created_by) \
         VALUES ('c{n}', 'email', 'smtp://127.0.0.1:25', $1, 'hangar@example.com', \
         '2025-01-01T00:00:00.000000Z', 'alice')"
    )
}

#[tokio::test]
async fn email_to_must_be_a_json_array_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hangar.db");
    Db::open(&path).await.unwrap().close().await;
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    for (n, (email_to, accepted)) in RAW_EMAIL_TO.iter().enumerate() {
        let done = sqlx::query(&raw_insert(n).replace("$1", "?"))
            .bind(email_to)
            .execute(&pool)
            .await;
        assert_eq!(done.is_ok(), *accepted, "{email_to}: {done:?}");
    }
}

#[tokio::test]
async fn email_to_must_be_a_json_array_on_postgres() {
    let pg = hangar_testkit::TestDatabase::create().await;
    Db::connect(pg.url()).await.unwrap().close().await;
    let pool = sqlx::PgPool::connect(pg.url()).await.unwrap();
    for (n, (email_to, accepted)) in RAW_EMAIL_TO.iter().enumerate() {
        let done = sqlx::query(&raw_insert(n))
            .bind(email_to)
            .execute(&pool)
            .await;
        match done {
            Ok(_) => assert!(accepted, "{email_to} was accepted"),
            // Refused by the CHECK (23514), not by a cast error.
            Err(sqlx::Error::Database(e)) => {
                assert!(!accepted, "{email_to}: {e}");
                assert_eq!(e.code().as_deref(), Some("23514"), "{email_to}: {e}");
            }
            Err(e) => panic!("{email_to}: {e}"),
        }
    }
    pool.close().await;
}
