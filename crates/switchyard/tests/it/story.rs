//! The store "story": what any store must do, run on both; and the check that the
//! two migration folders build the same schema.

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

use switchyard_store::prelude::*;
use switchyard_store::{
    Agent, AgentMode, AnswerCandidate, DbErrorKind, DeliveryQuery, DeliveryStatus, Destination,
    DestinationKind, Effect, EventQuery, NewEvent, NewOutbox, NewQuestion, NewRejection, NewTask,
    OutboxKind, PgStore, QuestionStatus, SqliteStore, StoreError, TaskFinish, TaskQuery,
    TaskStatus, TaskUpdate, WebhookRecord, WriteOp, WriteOutcome,
};

use crate::both_stores;
use crate::support::{fresh_store, pg_url, test_audit, Kind};

pub(crate) fn event(id: &str, webhook: &str, delivery: Option<&str>, ty: &str) -> NewEvent {
    NewEvent {
        event_id: id.into(),
        webhook_id: webhook.into(),
        provider: "github".into(),
        event_type: ty.into(),
        delivery_id: delivery.map(str::to_owned),
        received_at: 1_700_000_000_000_000,
        headers: r#"{"x-github-event":"issues"}"#.into(),
        payload: r#"{"action":"opened"}"#.into(),
        source: Some("acme/app".into()),
        subject: None,
        actor: Some("octocat".into()),
        thread_key: Some("github:acme/app#1".into()),
        ..NewEvent::plain(String::new(), String::new(), String::new(), String::new())
    }
}

both_stores!(
    batch_dedups_and_keeps_order,
    listing_filters_and_pages,
    webhooks_and_settings,
    rejections_are_logged,
    every_state_round_trips,
    constraint_violations_are_not_transient
);

async fn batch_dedups_and_keeps_order(kind: Kind) {
    let dir = tempfile::tempdir().unwrap();
    let store = fresh_store(kind, dir.path()).await;
    let ops = vec![
        WriteOp::Event(event("evt_01", "gh", Some("d1"), "issues.opened")),
        WriteOp::Event(event("evt_02", "gh", Some("d1"), "issues.opened")), // same delivery, same batch
        WriteOp::Event(event("evt_03", "other", Some("d1"), "issues.opened")), // same delivery, other webhook
        WriteOp::Event(event("evt_04", "gh", None, "push")),
        WriteOp::Event(event("evt_05", "gh", None, "push")), // no delivery id: never a duplicate
    ];
    let out = store.write_batch(&ops).await.unwrap();
    let ev = |id: &str, dup| WriteOutcome::Event {
        event_id: id.into(),
        duplicate: dup,
        matched: "[]".into(),
    };
    assert_eq!(
        out,
        vec![
            ev("evt_01", false),
            ev("evt_01", true),
            ev("evt_03", false),
            ev("evt_04", false),
            ev("evt_05", false)
        ]
    );
    // A later redelivery names the original.
    let out = store
        .write_batch(&[WriteOp::Event(event(
            "evt_06",
            "gh",
            Some("d1"),
            "issues.opened",
        ))])
        .await
        .unwrap();
    assert_eq!(out, vec![ev("evt_01", true)]);
    assert_eq!(store.count_events().await.unwrap(), 4);
    let e = store.get_event("evt_01").await.unwrap().unwrap();
    assert_eq!(e.payload, r#"{"action":"opened"}"#);
    assert_eq!(e.thread_key.as_deref(), Some("github:acme/app#1"));
    assert!(store.get_event("evt_02").await.unwrap().is_none());
}

async fn listing_filters_and_pages(kind: Kind) {
    let dir = tempfile::tempdir().unwrap();
    let store = fresh_store(kind, dir.path()).await;
    let ops: Vec<_> = (0..25)
        .map(|i| {
            let ty = if i % 2 == 0 { "issues.opened" } else { "push" };
            WriteOp::Event(event(
                &format!("evt_{i:03}"),
                "gh",
                Some(&format!("d{i}")),
                ty,
            ))
        })
        .collect();
    store.write_batch(&ops).await.unwrap();
    let mut q = EventQuery {
        limit: 10,
        ..Default::default()
    };
    let page = store.list_events(&q).await.unwrap();
    assert_eq!(page.first().unwrap().event_id, "evt_024", "newest first");
    let mut seen: Vec<String> = page.iter().map(|e| e.event_id.clone()).collect();
    while let Some(last) = seen.last().cloned() {
        q.before = Some(last);
        let page = store.list_events(&q).await.unwrap();
        if page.is_empty() {
            break;
        }
        seen.extend(page.into_iter().map(|e| e.event_id));
    }
    assert_eq!(seen.len(), 25);
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.reverse();
    assert_eq!(seen, sorted);

    let q = EventQuery {
        event_type: Some("push".into()),
        limit: 100,
        ..Default::default()
    };
    assert_eq!(store.list_events(&q).await.unwrap().len(), 12);
    let q = EventQuery {
        delivery_id: Some("d7".into()),
        limit: 100,
        ..Default::default()
    };
    let hits = store.list_events(&q).await.unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].event_id, "evt_007");
    let q = EventQuery {
        provider: Some("stripe".into()),
        limit: 100,
        ..Default::default()
    };
    assert!(store.list_events(&q).await.unwrap().is_empty());
    received_and_text_filters(&*store).await;
}

/// `since`/`until` bound the received time (inclusive); `text` finds a substring of
/// the payload ignoring case, with `%`, `_` and `\` matching only themselves.
async fn received_and_text_filters(store: &dyn switchyard_store::Store) {
    let t0 = 1_800_000_000_000_000_i64;
    let payloads = [
        r#"{"title":"Disk FULL on web-1"}"#,
        r#"{"title":"disk full on web-2"}"#,
        r#"{"title":"100% done"}"#,
        r#"{"title":"a_b and a\\b"}"#,
        r#"{"title":"axb"}"#,
    ];
    let ops: Vec<_> = payloads
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let mut e = event(&format!("evt_1{i:02}"), "tf", Some(&format!("t{i}")), "x");
            e.received_at = t0 + i as i64 * 1_000_000;
            e.payload = (*p).into();
            WriteOp::Event(e)
        })
        .collect();
    store.write_batch(&ops).await.unwrap();
    let ids = |q: EventQuery| async move {
        let rows = store.list_events(&q).await.unwrap();
        rows.into_iter().map(|e| e.event_id).collect::<Vec<_>>()
    };
    let base = || EventQuery {
        webhook_id: Some("tf".into()),
        limit: 100,
        ..Default::default()
    };
    assert_eq!(
        ids(EventQuery {
            since: Some(t0 + 1_000_000),
            until: Some(t0 + 3_000_000),
            ..base()
        })
        .await,
        ["evt_103", "evt_102", "evt_101"],
        "both bounds inclusive"
    );
    assert_eq!(
        ids(EventQuery {
            since: Some(t0 + 4_000_001),
            ..base()
        })
        .await,
        Vec::<String>::new()
    );
    assert_eq!(
        ids(EventQuery {
            text: Some("DISK full".into()),
            ..base()
        })
        .await,
        ["evt_101", "evt_100"],
        "case is ignored"
    );
    assert_eq!(
        ids(EventQuery {
            text: Some("0%".into()),
            ..base()
        })
        .await,
        ["evt_102"]
    );
    assert_eq!(
        ids(EventQuery {
            text: Some("a_b".into()),
            ..base()
        })
        .await,
        ["evt_103"],
        "_ is not a wildcard"
    );
    assert_eq!(
        ids(EventQuery {
            text: Some(r"a\\b".into()),
            ..base()
        })
        .await,
        ["evt_103"]
    );
    assert_eq!(
        ids(EventQuery {
            text: Some("%".into()),
            ..base()
        })
        .await,
        ["evt_102"],
        "% is not a wildcard"
    );
    assert_eq!(
        ids(EventQuery {
            text: Some("disk".into()),
            until: Some(t0),
            ..base()
        })
        .await,
        ["evt_100"],
        "filters combine"
    );
}

async fn webhooks_and_settings(kind: Kind) {
    let dir = tempfile::tempdir().unwrap();
    let store = fresh_store(kind, dir.path()).await;
    let mut w = WebhookRecord {
        webhook_id: "github-issues-001".into(),
        name: "GitHub Issue Tracker".into(),
        provider: "github".into(),
        enabled: true,
        secrets: r#"["sealed"]"#.into(),
        config_json: "{}".into(),
        created_at: 1,
        created_by: "user".into(),
        updated_at: 1,
        api_token: None,
    };
    store.put_webhook(&w, &test_audit()).await.unwrap();
    assert_eq!(
        store
            .get_webhook("github-issues-001")
            .await
            .unwrap()
            .as_ref(),
        Some(&w)
    );
    w.enabled = false;
    w.updated_at = 2;
    store.put_webhook(&w, &test_audit()).await.unwrap();
    let got = store
        .get_webhook("github-issues-001")
        .await
        .unwrap()
        .unwrap();
    assert!(!got.enabled);
    assert_eq!(got.created_at, 1, "created_at survives an update");
    assert_eq!(store.list_webhooks().await.unwrap().len(), 1);
    assert!(store
        .delete_webhook("github-issues-001", &test_audit())
        .await
        .unwrap());
    assert!(!store
        .delete_webhook("github-issues-001", &test_audit())
        .await
        .unwrap());

    assert_eq!(
        store.put_setting_if_absent("k", "first").await.unwrap(),
        "first"
    );
    assert_eq!(
        store.put_setting_if_absent("k", "second").await.unwrap(),
        "first"
    );
    store.put_setting("k", "third").await.unwrap();
    assert_eq!(
        store.get_setting("k").await.unwrap().as_deref(),
        Some("third")
    );
}

async fn rejections_are_logged(kind: Kind) {
    let dir = tempfile::tempdir().unwrap();
    let store = fresh_store(kind, dir.path()).await;
    let r = NewRejection {
        at: 5,
        webhook_id: Some("github".into()),
        provider: Some("github".into()),
        remote_addr: Some("127.0.0.1".into()),
        status: 401,
        reason: "signature_mismatch".into(),
        detail: "signature does not match".into(),
    };
    let out = store
        .write_batch(&[
            WriteOp::Rejection(r.clone()),
            WriteOp::Event(event("evt_1", "gh", None, "push")),
        ])
        .await
        .unwrap();
    assert_eq!(out[0], WriteOutcome::Rejection);
    let rows = store.list_rejections(10).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].reason, "signature_mismatch");
    assert_eq!(rows[0].status, 401);
}

/// Every status and kind is written and read back as the same variant, and the
/// filters that take one find exactly its rows.
async fn every_state_round_trips(kind: Kind) {
    let dir = tempfile::tempdir().unwrap();
    let store = fresh_store(kind, dir.path()).await;

    for mode in AgentMode::ALL {
        let a = Agent {
            name: format!("agent-{mode}"),
            description: String::new(),
            mode: *mode,
            url: Some("http://127.0.0.1:9/".into()),
            secret: None,
            created_at: 1,
            updated_at: 1,
        };
        store.put_agent(&a, &test_audit()).await.unwrap();
        assert_eq!(store.get_agent(&a.name).await.unwrap(), Some(a));
    }

    for dk in DestinationKind::ALL {
        let d = Destination {
            destination_id: format!("dst_{dk}"),
            url: format!("{dk}:somewhere"),
            kind: *dk,
            max_concurrency: Some(2),
            rate_per_second: Some(1.5),
            burst: None,
            fifo: true,
            secret: None,
            previous_secret: None,
            previous_expires_at: None,
            disabled_at: None,
            disabled_reason: None,
            created_at: 1,
            updated_at: 1,
        };
        store.put_destination(&d, &test_audit()).await.unwrap();
        assert_eq!(
            store.get_destination(&d.destination_id).await.unwrap(),
            Some(d)
        );
    }

    // One message of each kind, one queued task, one open question.
    let mut effects: Vec<Effect> = OutboxKind::ALL
        .iter()
        .map(|k| {
            Effect::Outbox(NewOutbox {
                outbox_id: format!("msg_{k}"),
                kind: *k,
                webhook_id: Some("gh".into()),
                event_id: None,
                command_id: None,
                payload: "{}".into(),
                idempotency_key: format!("key-{k}"),
                created_at: 10,
                destination_id: "dst_http".into(),
                ordering_key: None,
            })
        })
        .collect();
    for t in ["task_a", "task_b"] {
        effects.push(Effect::Task(NewTask {
            task_id: t.into(),
            agent: "agent-pull".into(),
            message: "do it".into(),
            event_id: Some(format!("evt_{t}")),
            command_id: Some("c".into()),
            webhook_id: None,
            created_at: 10,
            pushed_lease: None,
        }));
    }
    effects.push(Effect::Question(NewQuestion {
        question_id: "q_1".into(),
        event_id: Some("evt_q".into()),
        webhook_id: "gh".into(),
        command_id: None,
        thread_key: Some("github:acme/app#9".into()),
        asker: Some("switchyard-bot".into()),
        question: "Which release?".into(),
        created_at: 10,
        posted_by: None,
        agent: None,
    }));
    store
        .write_batch(&[WriteOp::Effects(effects)])
        .await
        .unwrap();

    for k in OutboxKind::ALL {
        let q = DeliveryQuery {
            kind: Some(*k),
            status: Some(DeliveryStatus::Pending),
            limit: 100,
            ..Default::default()
        };
        let rows = store.list_deliveries(&q).await.unwrap();
        assert_eq!(rows.len(), 1, "{k}");
        assert_eq!(
            (rows[0].kind, rows[0].status),
            (*k, DeliveryStatus::Pending)
        );
    }
    let delivered = DeliveryQuery {
        status: Some(DeliveryStatus::Delivered),
        limit: 100,
        ..Default::default()
    };
    assert!(store.list_deliveries(&delivered).await.unwrap().is_empty());

    let by_status = |status| TaskQuery {
        status: Some(status),
        limit: 100,
        ..Default::default()
    };
    assert_eq!(
        store
            .list_tasks(&by_status(TaskStatus::Queued))
            .await
            .unwrap()
            .len(),
        2
    );
    let leased = store
        .lease_tasks("agent-pull", 2, 60_000_000)
        .await
        .unwrap();
    assert!(leased.iter().all(|t| t.status == TaskStatus::Leased));
    let lease = leased[0].lease_id.clone().unwrap();
    let done = store
        .finish_task(
            "task_a",
            &lease,
            &TaskFinish::Complete { result: None },
            &[],
        )
        .await
        .unwrap();
    assert!(matches!(done, TaskUpdate::Done(t) if t.status == TaskStatus::Completed));
    let fail = TaskFinish::Fail {
        error: "no".into(),
        retry: false,
    };
    let failed = store
        .finish_task("task_b", &lease, &fail, &[])
        .await
        .unwrap();
    assert!(matches!(failed, TaskUpdate::Done(t) if t.status == TaskStatus::Failed));
    for st in [TaskStatus::Completed, TaskStatus::Failed] {
        assert_eq!(
            store.list_tasks(&by_status(st)).await.unwrap().len(),
            1,
            "{st}"
        );
    }
    assert!(store
        .list_tasks(&by_status(TaskStatus::Leased))
        .await
        .unwrap()
        .is_empty());

    let q = store.get_question("q_1").await.unwrap().unwrap();
    assert_eq!(q.status, QuestionStatus::Open);
    let mut reply = event("evt_reply", "gh", Some("d-reply"), "issue_comment.created");
    reply.thread_key = Some("github:acme/app#9".into());
    reply.answers = Some(AnswerCandidate {
        actor: Some("octocat".into()),
        text: "1.2".into(),
    });
    store.write_batch(&[WriteOp::Event(reply)]).await.unwrap();
    let q = store.get_question("q_1").await.unwrap().unwrap();
    assert_eq!(q.status, QuestionStatus::Answered);
    assert_eq!(q.answer.as_deref(), Some("1.2"));
}

/// A write a constraint refuses says so, and is not worth retrying; the batch
/// changes nothing.
async fn constraint_violations_are_not_transient(kind: Kind) {
    let dir = tempfile::tempdir().unwrap();
    let store = fresh_store(kind, dir.path()).await;
    // The same event id twice under different delivery ids: the primary key refuses.
    let err = store
        .write_batch(&[
            WriteOp::Event(event("evt_same", "gh", Some("d1"), "push")),
            WriteOp::Event(event("evt_same", "gh", Some("d2"), "push")),
        ])
        .await
        .unwrap_err();
    assert_eq!(err.db_kind(), Some(DbErrorKind::Constraint), "{err}");
    assert!(!err.is_transient());
    assert_eq!(store.count_events().await.unwrap(), 0);
}

/// The columns of every table a migrated database has, apart from sqlx's own.
type Schema = BTreeMap<String, BTreeSet<String>>;

fn migration_names(backend: &str) -> Vec<String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../switchyard-store/migrations")
        .join(backend);
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Both migration folders hold the same files, and a fresh SQLite and a fresh
/// PostgreSQL database migrated with them have the same tables with the same
/// columns. A change to one folder without the other fails here. PostgreSQL comes
/// from `SWITCHYARD_TEST_PG_URL`; without it (or without a server) this fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_stay_in_step() {
    let sqlite_files = migration_names("sqlite");
    assert!(!sqlite_files.is_empty());
    assert_eq!(sqlite_files, migration_names("postgres"));

    let dir = tempfile::tempdir().unwrap();
    let (sqlite, sqlite_pool) = raw_sqlite(dir.path()).await;
    sqlite.migrate().await.unwrap();
    let mut sqlite_schema = Schema::new();
    let tables: Vec<(String,)> = sqlx::query_as(
        "SELECT name FROM sqlite_master WHERE type = 'table' \
         AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_sqlx%'",
    )
    .fetch_all(&sqlite_pool)
    .await
    .unwrap();
    for (table,) in tables {
        let cols: Vec<(String,)> = sqlx::query_as("SELECT name FROM pragma_table_info($1)")
            .bind(&table)
            .fetch_all(&sqlite_pool)
            .await
            .unwrap();
        sqlite_schema.insert(table, cols.into_iter().map(|(c,)| c).collect());
    }

    let (pg, pg_pool, schema) = raw_postgres().await;
    pg.migrate().await.unwrap();
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT table_name::text, column_name::text FROM information_schema.columns \
         WHERE table_schema = $1 AND table_name NOT LIKE '\\_sqlx%'",
    )
    .bind(&schema)
    .fetch_all(&pg_pool)
    .await
    .unwrap();
    let mut pg_schema = Schema::new();
    for (table, column) in rows {
        pg_schema.entry(table).or_default().insert(column);
    }

    assert!(sqlite_schema.contains_key("outbox"), "{sqlite_schema:?}");
    assert_eq!(sqlite_schema, pg_schema);
}

/// A status text the enums do not know is a corrupt row, on both databases, never
/// a default.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_state_text_is_corrupt() {
    let agent = Agent {
        name: "a".into(),
        description: String::new(),
        mode: AgentMode::Pull,
        url: None,
        secret: None,
        created_at: 1,
        updated_at: 1,
    };
    let corrupt = "UPDATE agents SET mode = 'carrier_pigeon'";

    let dir = tempfile::tempdir().unwrap();
    let (sqlite, pool) = raw_sqlite(dir.path()).await;
    sqlite.migrate().await.unwrap();
    sqlite.put_agent(&agent, &test_audit()).await.unwrap();
    sqlx::query(corrupt).execute(&pool).await.unwrap();
    let err = sqlite.get_agent("a").await.unwrap_err();
    assert!(
        matches!(&err, StoreError::Corrupt(m) if m.contains("carrier_pigeon")),
        "{err}"
    );
    assert!(!err.is_transient());

    let (pg, pool, _) = raw_postgres().await;
    pg.migrate().await.unwrap();
    pg.put_agent(&agent, &test_audit()).await.unwrap();
    sqlx::query(corrupt).execute(&pool).await.unwrap();
    let err = pg.list_agents().await.unwrap_err();
    assert!(
        matches!(&err, StoreError::Corrupt(m) if m.contains("carrier_pigeon")),
        "{err}"
    );
}

/// A SQLite store in `dir` and a pool of its own on the same file.
async fn raw_sqlite(dir: &std::path::Path) -> (SqliteStore, sqlx::SqlitePool) {
    let url = format!("sqlite://{}", dir.join("raw.db").display());
    let store = SqliteStore::open(&url).await.unwrap();
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    (store, pool)
}

/// A PostgreSQL store in a fresh schema, a pool of its own on that schema, and the
/// schema's name.
async fn raw_postgres() -> (PgStore, sqlx::PgPool, String) {
    let url = pg_url();
    let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
    let opts = sqlx::postgres::PgConnectOptions::from_str(&url).expect("pg url");
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect_with(opts.options([("search_path", schema.as_str())]))
        .await
        .unwrap_or_else(|e| panic!("cannot connect to PostgreSQL at {url}: {e}"));
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&pool)
        .await
        .unwrap();
    let store = PgStore::open_in_schema(&url, Some(&schema)).await.unwrap();
    (store, pool, schema)
}
