//! Replicas on one database. What one commits reaches the others without a poll on
//! PostgreSQL (LISTEN/NOTIFY) — webhook changes, task wake-ups — also after the
//! listening connection is lost; SQLite replicas poll a change counter instead. And
//! a replica whose clock is ten minutes wrong neither sends a message twice nor
//! takes a lease another holds, because the database's clock decides (real
//! processes, one started with the test-only clock skew).
//!
//! The skew and reconnect tests run on PostgreSQL only: SQLite serves one host,
//! where replicas share one clock and nothing listens.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};

use crate::both_stores;
use crate::receiver::{Receiver, Reply};
use crate::support::{
    fresh_pg_database, github_signature, issue_body, Kind, Server, StoreAt, TestApp, ADMIN_KEY,
};

const SECRET: &str = "replica-secret";

both_stores!(
    webhook_changes_reach_other_replicas,
    new_tasks_wake_long_polls_on_other_replicas,
    checkpoint_waits_wake_on_decisions_made_elsewhere,
    a_stale_reload_does_not_undo_a_local_change,
);

/// A stored webhook row `id` (as another replica or the CLI writes it).
fn record(app: &TestApp, id: &str) -> switchyard_store::WebhookRecord {
    let now = switchyard_store::now_micros();
    switchyard_store::WebhookRecord {
        webhook_id: id.into(),
        name: id.into(),
        provider: "github".into(),
        enabled: true,
        secrets: serde_json::to_string(&[app.state.engine.sealer.seal(SECRET.as_bytes())]).unwrap(),
        config_json: "{}".into(),
        created_at: now,
        created_by: "test".into(),
        updated_at: now,
        api_token: None,
    }
}

/// A registry reload reads the store, then installs what it read. When this replica
/// changes a webhook in between (its own API call: committed, then put in the
/// registry), the read predates that change and installing it would hide the new
/// webhook until the next reload (a 404 for a webhook the API just created). Such a
/// read is not installed; the next reload brings both. The registry here is one of
/// the test's own, so no background reload can interleave.
async fn a_stale_reload_does_not_undo_a_local_change(kind: Kind) {
    use switchyard_engine::registry::{entry_from_record, Registry};
    let app = TestApp::spawn(kind).await;
    let (store, sealer) = (app.store.as_ref(), &app.state.engine.sealer);
    let audit = crate::support::test_audit;
    let registry = Registry::default();
    assert!(registry.refresh_stored(store, sealer).await.unwrap());
    // Another replica adds "theirs": the version moves; a reload reads it...
    store
        .put_webhook(&record(&app, "theirs"), &audit())
        .await
        .unwrap();
    let read = registry
        .read_stored(store, sealer)
        .await
        .unwrap()
        .expect("the version moved");
    // ...while this replica creates "ours": committed, then put in its registry.
    let ours = record(&app, "ours");
    store.put_webhook(&ours, &audit()).await.unwrap();
    registry.put_stored(entry_from_record(&ours, sealer).unwrap());
    assert!(!registry.install(read), "a read older than a local change");
    assert!(registry.get("ours").is_some(), "the local change stays");
    // The next reload installs both.
    assert!(registry.refresh_stored(store, sealer).await.unwrap());
    assert!(registry.get("ours").is_some() && registry.get("theirs").is_some());
    assert!(
        !registry.refresh_stored(store, sealer).await.unwrap(),
        "nothing moved"
    );
    app.stop().await;
}

/// A checkpoint wait on replica B answers when replica A decides (the replica
/// exchange wakes every checkpoint watcher on B), with B's fallback look far away
/// on PostgreSQL.
async fn checkpoint_waits_wake_on_decisions_made_elsewhere(kind: Kind) {
    let fallback = match kind {
        Kind::Postgres => Duration::from_secs(60),
        Kind::Sqlite => Duration::from_millis(250),
    };
    let a = TestApp::spawn_with(kind, |c| c.wait_fallback = fallback).await;
    let b = TestApp::replica_with(&a, |c| c.wait_fallback = fallback).await;
    for id in ["x1", "other"] {
        let (s, v) = api(
            &a.client,
            &a.base,
            Method::POST,
            "/api/checkpoints",
            Some(json!({"checkpoint_id": id, "name": "n", "notify": [{"channel": "websocket"}]})),
        )
        .await;
        assert_eq!(s, 201, "{v}");
    }
    let (client, base) = (b.client.clone(), b.base.clone());
    let poll = tokio::spawn(async move {
        let r = api(
            &client,
            &base,
            Method::GET,
            "/api/checkpoints/x1/wait?timeout=30",
            None,
        )
        .await;
        (r, Instant::now())
    });
    // As above: if the wait has not made its first look yet, that look finds the
    // decision (easier, never flaky).
    tokio::time::sleep(Duration::from_millis(300)).await;
    // A decision on another checkpoint does not answer this wait.
    let (s, _) = api(
        &a.client,
        &a.base,
        Method::POST,
        "/api/checkpoints/other/decision",
        Some(json!({"decision": "reject"})),
    )
    .await;
    assert_eq!(s, 200);
    let (s, _) = api(
        &a.client,
        &a.base,
        Method::POST,
        "/api/checkpoints/x1/decision",
        Some(json!({"decision": "approve"})),
    )
    .await;
    assert_eq!(s, 200);
    let committed = Instant::now();
    let ((s, got), answered) = poll.await.expect("long-poll");
    assert_eq!(s, 200, "{got}");
    assert_eq!(got["status"], "approved", "{got}");
    let waited = answered.saturating_duration_since(committed);
    assert!(
        waited < Duration::from_secs(5),
        "B's wait answered {waited:?} after the decision on A"
    );
    b.stop().await;
    a.stop().await;
}

/// A webhook whose `issues.opened` makes a task for `planning`, or forwards to
/// `forward_to`.
fn webhook(id: &str, forward_to: Option<&str>) -> Value {
    let command = match forward_to {
        Some(url) => json!({"trigger": "issues.opened", "action": "forward", "url": url}),
        None => json!({"trigger": "issues.opened", "action": "create_task", "agent": "planning",
                       "template": "{{issue.title}}"}),
    };
    json!({"webhook_id": id, "name": id, "provider": "github", "secret": SECRET,
           "commands": [command]})
}

/// Polls `look` until it answers `Some`, failing after `within`.
async fn within<T, F, Fut>(within: Duration, what: &str, mut look: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = look().await {
            return v;
        }
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// An issue opened on `base`'s `/webhooks/github/{webhook}`, signed.
async fn open_issue(client: &reqwest::Client, base: &str, webhook: &str, n: u64) -> (u16, Value) {
    let body = issue_body(n, "opened", &[]);
    let r = client
        .post(format!("{base}/webhooks/github/{webhook}"))
        .header("content-type", "application/json")
        .header("x-github-event", "issues")
        .header("x-github-delivery", format!("{webhook}-{n}"))
        .header(
            "x-hub-signature-256",
            github_signature(SECRET, body.as_bytes()),
        )
        .body(body)
        .send()
        .await
        .expect("send");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// An admin API call on `base`.
async fn api(
    client: &reqwest::Client,
    base: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut r = client
        .request(method, format!("{base}{path}"))
        .bearer_auth(ADMIN_KEY);
    if let Some(b) = body {
        r = r.json(&b);
    }
    let r = r.send().await.expect("send");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Webhooks created, disabled and deleted through replica A are served that way
/// by replica B. On PostgreSQL B is told at A's commit: six rounds must each
/// arrive within a second (a 2-second poll, as before, would pass all six about
/// once in 64 runs). SQLite replicas read the change counter every
/// `replicas::POLL`.
async fn webhook_changes_reach_other_replicas(kind: Kind) {
    let a = TestApp::spawn(kind).await;
    let b = TestApp::replica_of(&a).await;
    let (rounds, bound) = match kind {
        Kind::Postgres => (6, Duration::from_secs(1)),
        Kind::Sqlite => (
            2,
            switchyard_engine::replicas::POLL + Duration::from_secs(4),
        ),
    };
    for round in 0..rounds {
        let id = format!("wh-{round}");
        let (s, v) = api(
            &a.client,
            &a.base,
            Method::POST,
            "/api/webhooks",
            Some(webhook(&id, None)),
        )
        .await;
        assert_eq!(s, 201, "{v}");
        within(bound, &format!("replica B knows {id}"), || async {
            (b.api_get(&format!("/api/webhooks/{id}")).await.0 == 200).then_some(())
        })
        .await;
        let (s, v) = open_issue(&b.client, &b.base, &id, round).await;
        assert_eq!(s, 202, "{v}");
        assert!(v["matched"][0]["task_id"].is_string(), "routed on B: {v}");
    }
    let (s, v) = api(
        &a.client,
        &a.base,
        Method::POST,
        "/api/webhooks/wh-0/disable",
        None,
    )
    .await;
    assert_eq!(s, 200, "{v}");
    within(bound, "replica B sees wh-0 disabled", || async {
        let (_, v) = b.api_get("/api/webhooks/wh-0").await;
        (v["enabled"] == false).then_some(())
    })
    .await;
    let (s, v) = api(
        &a.client,
        &a.base,
        Method::DELETE,
        "/api/webhooks/wh-1",
        None,
    )
    .await;
    assert_eq!(s, 204, "{v}");
    within(bound, "replica B forgets wh-1", || async {
        (b.api_get("/api/webhooks/wh-1").await.0 == 404).then_some(())
    })
    .await;
    let (s, _) = open_issue(&b.client, &b.base, "wh-1", 99).await;
    assert_eq!(s, 404, "a deleted webhook is not served by B");
    b.stop().await;
    a.stop().await;
}

/// An agent long-polling replica B gets a task committed through replica A at
/// once. On PostgreSQL B's fallback look is a minute away, so only A's
/// notification can answer in time; SQLite replicas see it on that look.
async fn new_tasks_wake_long_polls_on_other_replicas(kind: Kind) {
    let fallback = match kind {
        Kind::Postgres => Duration::from_secs(60),
        Kind::Sqlite => Duration::from_millis(250),
    };
    let a = TestApp::spawn_with(kind, |c| c.wait_fallback = fallback).await;
    let b = TestApp::replica_with(&a, |c| c.wait_fallback = fallback).await;
    let (s, v) = api(
        &a.client,
        &a.base,
        Method::POST,
        "/api/webhooks",
        Some(webhook("tasks", None)),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    let (client, base) = (b.client.clone(), b.base.clone());
    let poll = tokio::spawn(async move {
        let r = api(
            &client,
            &base,
            Method::POST,
            "/api/agents/planning/tasks/lease",
            Some(json!({"wait_seconds": 30, "lease_seconds": 60})),
        )
        .await;
        (r, Instant::now())
    });
    // Let the long-poll make its first, empty look; if it has not yet, the task is
    // simply found by that look (the test gets easier, never flaky).
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (s, v) = open_issue(&a.client, &a.base, "tasks", 1).await;
    assert_eq!(s, 202, "{v}");
    let committed = Instant::now();
    let task_id = v["matched"][0]["task_id"]
        .as_str()
        .expect("a task")
        .to_owned();
    let ((s, got), answered) = poll.await.expect("long-poll");
    assert_eq!(s, 200, "{got}");
    assert_eq!(got["tasks"][0]["task_id"], task_id.as_str(), "{got}");
    let waited = answered.saturating_duration_since(committed);
    assert!(
        waited < Duration::from_secs(5),
        "B's long-poll answered {waited:?} after the commit on A"
    );
    b.stop().await;
    a.stop().await;
}

/// The connections replicas listen on for this schema.
async fn listeners(admin: &sqlx::PgPool, schema: &str) -> HashSet<i32> {
    let rows: Vec<(i32,)> = sqlx::query_as(
        "SELECT pid FROM pg_stat_activity WHERE query LIKE $1 AND pid <> pg_backend_pid()",
    )
    .bind(format!("LISTEN \"switchyard_{schema}\"%"))
    .fetch_all(admin)
    .await
    .expect("pg_stat_activity");
    rows.into_iter().map(|(p,)| p).collect()
}

/// A change whose announcement was lost (made with triggers off, bumping the
/// registry's version by hand) is picked up once the listening connections are cut
/// (as a failover or a proxy would): the replicas listen again and catch up, and
/// later changes are announced again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_listener_listens_again_and_catches_up() {
    let a = TestApp::spawn(Kind::Postgres).await;
    let b = TestApp::replica_of(&a).await;
    let StoreAt::Postgres { url, schema } = a.store_at.clone() else {
        panic!("a PostgreSQL test");
    };
    let admin = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(&url)
        .await
        .expect("connect");
    let (s, v) = api(
        &a.client,
        &a.base,
        Method::POST,
        "/api/webhooks",
        Some(webhook("cut", None)),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    within(Duration::from_secs(10), "replica B knows cut", || async {
        (b.api_get("/api/webhooks/cut").await.0 == 200).then_some(())
    })
    .await;
    let before = within(Duration::from_secs(10), "both replicas listen", || async {
        let l = listeners(&admin, &schema).await;
        (l.len() == 2).then_some(l)
    })
    .await;
    // Unannounced: no trigger runs in the replica role, so nothing is sent.
    let mut tx = admin.begin().await.expect("begin");
    for sql in [
        "SET LOCAL session_replication_role = replica".to_owned(),
        format!("UPDATE {schema}.webhooks SET enabled = FALSE WHERE webhook_id = 'cut'"),
        format!(
            "UPDATE {schema}.change_counters SET version = version + 1 WHERE name = 'registry'"
        ),
    ] {
        sqlx::query(&sql).execute(&mut *tx).await.expect(&sql);
    }
    tx.commit().await.expect("commit");
    let (_, v) = b.api_get("/api/webhooks/cut").await;
    assert_eq!(v["enabled"], true, "nothing told B yet: {v}");
    for pid in &before {
        let (done,): (bool,) = sqlx::query_as("SELECT pg_terminate_backend($1)")
            .bind(pid)
            .fetch_one(&admin)
            .await
            .expect("terminate");
        assert!(done);
    }
    within(
        Duration::from_secs(10),
        "replica B sees cut disabled",
        || async {
            let (_, v) = b.api_get("/api/webhooks/cut").await;
            (v["enabled"] == false).then_some(())
        },
    )
    .await;
    within(
        Duration::from_secs(10),
        "both replicas listen again",
        || async {
            let l = listeners(&admin, &schema).await;
            (l.len() == 2 && l.is_disjoint(&before)).then_some(())
        },
    )
    .await;
    let (s, v) = api(
        &a.client,
        &a.base,
        Method::POST,
        "/api/webhooks",
        Some(webhook("later", None)),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    within(Duration::from_secs(1), "replica B knows later", || async {
        (b.api_get("/api/webhooks/later").await.0 == 200).then_some(())
    })
    .await;
    admin.close().await;
    b.stop().await;
    a.stop().await;
}

/// Ten minutes, the skewed replica's clock error.
const SKEW: &str = "600";

/// Replica A (a true clock) and replica B (ten minutes fast) on one fresh
/// PostgreSQL database, sharing a data folder (the master key).
async fn skewed_pair(
    dir: &std::path::Path,
    db_url: &str,
    extra: &[(&str, &str)],
) -> (Server, Server) {
    let config_dir = dir.join("config");
    let config_dir = config_dir.to_str().expect("utf-8 path");
    let mut env = vec![("SWITCHYARD_CONFIG_DIR", config_dir)];
    env.extend_from_slice(extra);
    let a = Server::start_with(db_url, dir, &env);
    env.push(("SWITCHYARD_TEST_CLOCK_SKEW_SECONDS", SKEW));
    let b = Server::start_with(db_url, dir, &env);
    (a, b)
}

/// Forwards ingested through both replicas, while B is ten minutes fast: every
/// message reaches the receiver exactly once, in one attempt. With each replica's
/// own clock deciding, B would take over A's claims (they look long expired to
/// it) and send A's messages again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_skewed_replica_sends_no_message_twice() {
    let rx = Receiver::start().await;
    // Slow enough that A holds claims while B looks for work.
    rx.set_default(Reply::status(200).delay(Duration::from_millis(300)));
    let dir = tempfile::tempdir().expect("tempdir");
    let db = fresh_pg_database().await;
    let (a, b) = skewed_pair(
        dir.path(),
        &db.url,
        &[
            ("SWITCHYARD_DELIVERY_ALLOW", "127.0.0.1"),
            ("SWITCHYARD_DELIVERY_TIMEOUT", "2s"),
            ("SWITCHYARD_DELIVERY_CLAIM_TIMEOUT", "5s"),
            ("SWITCHYARD_DELIVERY_CONCURRENCY", "4"),
            ("SWITCHYARD_RETRY_SCHEDULE", "0,100ms,100ms,100ms"),
        ],
    )
    .await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    let hook = format!("{}/hook", rx.url);
    let (s, v) = api(
        &client,
        &a.base,
        Method::POST,
        "/api/webhooks",
        Some(webhook("fwd", Some(&hook))),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    within(Duration::from_secs(10), "replica B knows fwd", || async {
        (api(&client, &b.base, Method::GET, "/api/webhooks/fwd", None)
            .await
            .0
            == 200)
            .then_some(())
    })
    .await;
    let n = 40;
    let mut ids = Vec::new();
    for i in 0..n {
        let base = if i % 2 == 0 { &a.base } else { &b.base };
        let (s, v) = open_issue(&client, base, "fwd", i).await;
        assert_eq!(s, 202, "{v}");
        ids.push(
            v["matched"][0]["delivery_id"]
                .as_str()
                .expect("a delivery")
                .to_owned(),
        );
    }
    for id in &ids {
        let d = within(
            Duration::from_secs(60),
            &format!("{id} delivered"),
            || async {
                let (s, d) = api(
                    &client,
                    &a.base,
                    Method::GET,
                    &format!("/api/deliveries/{id}"),
                    None,
                )
                .await;
                assert_eq!(s, 200, "{d}");
                (d["status"] == "delivered").then_some(d)
            },
        )
        .await;
        assert_eq!(d["attempts"], 1, "claimed more than once: {d}");
    }
    let mut sent: HashMap<String, usize> = HashMap::new();
    for r in rx.requests() {
        *sent
            .entry(r.header("webhook-id").expect("webhook-id").to_owned())
            .or_default() += 1;
    }
    let twice: Vec<_> = sent.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "sent more than once: {twice:?}");
    let expected: HashSet<String> = ids.into_iter().collect();
    assert_eq!(sent.keys().cloned().collect::<HashSet<_>>(), expected);
    drop((a, b));
    db.drop_now().await;
}

/// A task leased through A cannot be leased through B, ten minutes fast, before
/// its lease runs out by the database's clock, and A's heartbeat and completion
/// keep working; a lease taken through B runs out on time for A.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_skewed_replica_takes_no_live_lease() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = fresh_pg_database().await;
    let (a, b) = skewed_pair(dir.path(), &db.url, &[]).await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    let (s, v) = api(
        &client,
        &a.base,
        Method::POST,
        "/api/webhooks",
        Some(webhook("work", None)),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    let mut tasks = Vec::new();
    for i in 0..2 {
        let (s, v) = open_issue(&client, &a.base, "work", i).await;
        assert_eq!(s, 202, "{v}");
        tasks.push(
            v["matched"][0]["task_id"]
                .as_str()
                .expect("a task")
                .to_owned(),
        );
    }
    let lease = |base: String, body: Value| {
        let client = client.clone();
        async move {
            let (s, v) = api(
                &client,
                &base,
                Method::POST,
                "/api/agents/planning/tasks/lease",
                Some(body),
            )
            .await;
            assert_eq!(s, 200, "{v}");
            v["tasks"].as_array().expect("tasks").clone()
        }
    };
    let got = lease(a.base.clone(), json!({"max": 1, "lease_seconds": 5})).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["task_id"], tasks[0].as_str());
    let held = got[0]["lease_id"].as_str().expect("lease").to_owned();

    // B, ten minutes fast, gets only the free task, not A's.
    let got = lease(b.base.clone(), json!({"max": 2, "lease_seconds": 60})).await;
    let ids: Vec<_> = got.iter().map(|t| t["task_id"].clone()).collect();
    assert_eq!(
        ids,
        vec![Value::from(tasks[1].as_str())],
        "B took A's live lease"
    );
    let (s, v) = api(
        &client,
        &a.base,
        Method::POST,
        &format!("/api/tasks/{}/heartbeat", tasks[0]),
        Some(json!({"lease_id": held, "lease_seconds": 5})),
    )
    .await;
    assert_eq!(s, 200, "A's heartbeat: {v}");
    let got = lease(b.base.clone(), json!({"max": 2, "lease_seconds": 60})).await;
    assert!(got.is_empty(), "B took a lease after a heartbeat: {got:?}");
    let (s, v) = api(
        &client,
        &a.base,
        Method::POST,
        &format!("/api/tasks/{}/complete", tasks[0]),
        Some(json!({"lease_id": held})),
    )
    .await;
    assert_eq!(s, 200, "A's completion: {v}");
    assert_eq!(v["status"], "completed", "{v}");

    // A lease B takes for two seconds is A's to take once they have passed.
    let (s, v) = open_issue(&client, &a.base, "work", 2).await;
    assert_eq!(s, 202, "{v}");
    let third = v["matched"][0]["task_id"]
        .as_str()
        .expect("a task")
        .to_owned();
    let got = lease(b.base.clone(), json!({"max": 1, "lease_seconds": 2})).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["task_id"], third.as_str());
    let leased_by_b = Instant::now();
    let got = lease(a.base.clone(), json!({"max": 1, "lease_seconds": 60})).await;
    assert!(got.is_empty(), "A took B's live lease: {got:?}");
    let got = within(Duration::from_secs(20), "A leases the expired task", || {
        let l = lease(a.base.clone(), json!({"max": 1, "lease_seconds": 60}));
        async move {
            let got = l.await;
            (!got.is_empty()).then_some(got)
        }
    })
    .await;
    assert_eq!(got[0]["task_id"], third.as_str());
    assert!(
        leased_by_b.elapsed() >= Duration::from_millis(1500),
        "expired early: {:?}",
        leased_by_b.elapsed()
    );
    drop((a, b));
    db.drop_now().await;
}
